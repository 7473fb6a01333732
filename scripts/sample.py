"""Sample from the latest checkpoint: `python scripts/sample.py --prompt "[채용공고]"`.

`--run_name NAME` samples the named run (checkpoints/NAME/ckpt.pt), `--checkpoint FILE` any file.

Streams the text as it is generated. Temperature 0 is greedy (always the most likely token).
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gpt.checkpoint import checkpoint_path  # noqa: E402
from gpt.cli import fail  # noqa: E402
from gpt.config import Config, ConfigError  # noqa: E402
from gpt.device import INFERENCE_PRECISIONS, pick_device  # noqa: E402
from gpt.train import USER_ERRORS  # noqa: E402
from gpt.sample import load_model  # noqa: E402


def main() -> int:
    defaults = Config()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prompt", default="", help="text to continue (empty: start a new document)")
    parser.add_argument("--max_new_tokens", type=int, default=defaults.sample_max_new_tokens)
    parser.add_argument("--temperature", type=float, default=defaults.temperature)
    parser.add_argument("--top_k", type=int, default=defaults.top_k, help="0 turns it off")
    parser.add_argument("--top_p", type=float, default=1.0, help="nucleus sampling; 1 turns it off")
    parser.add_argument("--seed", type=int, default=None, help="fix it to get the same text again")
    parser.add_argument("--run_name", default="",
                        help="the run to sample: checkpoints/RUN_NAME/ckpt.pt (default: checkpoints/ckpt.pt)")
    parser.add_argument("--checkpoint", default=None, help="a checkpoint file to sample instead of the run's")
    parser.add_argument("--tok_path", default=None, help="default: the tokenizer the checkpoint was trained with")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", choices=("auto", *INFERENCE_PRECISIONS), default="auto",
                        help="how the weights are stored while sampling: auto is int8 on most CPUs and "
                             "bfloat16 on GPUs, the fastest; float32 is exact")
    args = parser.parse_args()
    if args.max_new_tokens < 1:
        fail(f"max_new_tokens must be at least 1, got {args.max_new_tokens}")
    if args.temperature < 0:
        fail(f"temperature must be zero (greedy) or positive, got {args.temperature}")
    if args.top_k < 0:
        fail(f"top_k must be zero (off) or positive, got {args.top_k}")
    if not 0 < args.top_p <= 1:
        fail(f"top_p must be in (0, 1], got {args.top_p}")
    try:
        run_checkpoint = checkpoint_path(defaults.replace(run_name=args.run_name).run_dir)
    except ConfigError as error:  # a run name that is not a folder name inside checkpoints/
        fail(str(error))
    checkpoint = args.checkpoint or str(run_checkpoint)

    try:
        precision = None if args.precision == "auto" else args.precision
        loaded = load_model(checkpoint, args.tok_path, pick_device(args.device), precision)
    except USER_ERRORS as error:
        fail(str(error))
    print(f"# step {loaded.checkpoint_info['step']:,} of {checkpoint}", file=sys.stderr)
    block_size = loaded.model.cfg.block_size
    if len(loaded.prompt_ids(args.prompt)) > block_size:
        print(f"# the prompt is longer than block_size ({block_size} tokens): the model sees its last {block_size}",
              file=sys.stderr)
    print(args.prompt, end="", flush=True)
    for piece in loaded.stream(args.prompt, args.max_new_tokens, args.temperature, args.top_k, args.top_p, args.seed):
        print(piece, end="", flush=True)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
