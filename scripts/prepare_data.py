"""Prepare training data: `python scripts/prepare_data.py --input my.txt [more.txt ...] [--vocab_size N]`.

Trains a byte-level BPE tokenizer on your UTF-8 text and writes data/train.bin, data/val.bin
and data/tokenizer.json (paths can be changed). Without --input it prepares the built-in
job-posting corpus (--builtin ko or en). Existing files are replaced only when everything
succeeded.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gpt.config import BUILTIN_CORPORA, Config, ConfigError  # noqa: E402
from gpt.cli import PreparationBar, fail  # noqa: E402
from gpt.data import DataError, prepare_builtin, prepare_files  # noqa: E402


def main() -> int:
    defaults = Config()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", nargs="+", help="UTF-8 text file(s); each file is one document")
    parser.add_argument("--builtin", choices=BUILTIN_CORPORA, default=defaults.builtin_corpus,
                        help="built-in corpus to generate when no --input is given")
    parser.add_argument("--vocab_size", type=int, default=defaults.vocab_size)
    parser.add_argument("--val_fraction", type=float, default=defaults.val_fraction)
    parser.add_argument("--train_bin", default=defaults.train_bin)
    parser.add_argument("--val_bin", default=defaults.val_bin)
    parser.add_argument("--tok_path", default=defaults.tok_path)
    parser.add_argument("--max_mb", type=float, default=0, help="refuse inputs larger than this (0: no limit)")
    args = parser.parse_args()

    problems = Config(vocab_size=args.vocab_size, val_fraction=args.val_fraction).problems()
    problems = [(name, message) for name, message in problems if name in ("vocab_size", "val_fraction")]
    if problems:
        fail(str(ConfigError(problems)))
    outputs = (args.train_bin, args.val_bin, args.tok_path)
    if args.input:
        steps = prepare_files(args.input, *outputs, args.vocab_size, args.val_fraction, int(args.max_mb * 1e6))
    else:
        steps = prepare_builtin(*outputs, args.vocab_size, args.val_fraction, language=args.builtin)

    bar = PreparationBar()
    try:
        while True:
            bar.show(next(steps))
    except StopIteration as finished:
        info = finished.value
    except (DataError, OSError) as error:
        bar.close()
        fail(str(error))
    mb = info.text_bytes / 1e6
    print(f"{info.source}: {mb:,.1f} MB of text -> {info.train_tokens:,} train and {info.val_tokens:,} val tokens, "
          f"vocab {info.vocab_size:,}, {info.tokens_per_byte:.3f} tokens/byte, "
          f"{info.seconds:.1f} s ({mb / max(info.seconds, 1e-9):,.1f} MB/s)")
    print(f"wrote {args.train_bin}, {args.val_bin}, {args.tok_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
