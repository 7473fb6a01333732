"""Prepare training data: `python scripts/prepare_data.py --input my.txt [more.txt ...] [--vocab_size N]` (or `gpt-prepare`).

Trains a byte-level BPE tokenizer on your UTF-8 text and writes data/train.bin, data/val.bin
and data/tokenizer.json (paths can be changed). Without --input it prepares the built-in
job-posting corpus (--builtin ko or en). Existing files are replaced only when everything
succeeded.
"""

from __future__ import annotations

import argparse

from ..config import Config, ConfigError
from ..corpus import corpus_names
from ..data import DataError, prepare_builtin, prepare_files
from . import PreparationBar, fail, say


def main(argv: list[str] | None = None) -> int:
    defaults = Config()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", nargs="+", help="UTF-8 text file(s); each file is one document")
    parser.add_argument("--builtin", choices=corpus_names(), default=defaults.builtin_corpus,
                        help="built-in corpus to generate when no --input is given")
    parser.add_argument("--vocab_size", type=int, default=defaults.vocab_size)
    parser.add_argument("--val_fraction", type=float, default=defaults.val_fraction)
    parser.add_argument("--train_bin", default=defaults.train_bin)
    parser.add_argument("--val_bin", default=defaults.val_bin)
    parser.add_argument("--tok_path", default=defaults.tok_path)
    parser.add_argument("--max_mb", type=float, default=0, help="refuse inputs larger than this (0: no limit)")
    args = parser.parse_args(argv)

    problems = Config(vocab_size=args.vocab_size, val_fraction=args.val_fraction).problems()
    if problems := [(name, message) for name, message in problems if name in ("vocab_size", "val_fraction")]:
        fail(ConfigError(problems))
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
        fail(error)
    megabytes = info.text_bytes / 1e6
    print(say("cli.prepared", source=info.source, megabytes=megabytes, train_tokens=info.train_tokens,
              val_tokens=info.val_tokens, vocab_size=info.vocab_size, tokens_per_byte=info.tokens_per_byte,
              seconds=info.seconds, speed=megabytes / max(info.seconds, 1e-9)))
    print(say("cli.wrote", files=", ".join(outputs)))
    return 0
