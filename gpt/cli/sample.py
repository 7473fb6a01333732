"""Sample from the latest checkpoint: `python scripts/sample.py --prompt "[채용공고]"` (or `gpt-sample`).

`--run_name NAME` samples the named run (checkpoints/NAME/ckpt.pt), `--checkpoint FILE` any file.
`--info` prints the checkpoint's reproducibility card and the command that trains it again, and exits.
`--history` prints the sample kept at each evaluation (same prompt, same seed), and exits.
Streams the text as it is generated. Temperature 0 is greedy (always the most likely token).
"""

from __future__ import annotations

import argparse
import sys

from ..checkpoint import load_checkpoint
from ..config import Config, ConfigError
from ..device import INFERENCE_PRECISIONS, pick_device
from ..inference import PrecisionUnavailable, load_model
from ..locales import Text
from ..reproducibility import describe, retrain_command
from ..run import Run
from ..run_setup import USER_ERRORS
from ..sampling import SamplingOptions
from . import add_flags, fail, said, say, settings_from_args


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prompt", default="", help="text to continue (empty: start a new document)")
    add_flags(parser, SamplingOptions, "sampling")
    parser.add_argument("--run_name", default="",
                        help="the run to sample: checkpoints/RUN_NAME/ckpt.pt (default: checkpoints/ckpt.pt)")
    parser.add_argument("--checkpoint", default=None, help="a checkpoint file to sample instead of the run's")
    parser.add_argument("--info", action="store_true",
                        help="print how the checkpoint was trained and the command that retrains it, then exit")
    parser.add_argument("--history", action="store_true",
                        help="print the sample kept at each evaluation, with its step and losses, then exit")
    parser.add_argument("--tok_path", default=None, help="default: the tokenizer the checkpoint was trained with")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", choices=("auto", *INFERENCE_PRECISIONS), default="auto",
                        help="how the weights are stored while sampling: auto is int4 on most CPUs (int8 where "
                             "torch lacks the int4 kernel) and bfloat16 on GPUs, the fastest; int8 is closer "
                             "to float32; float32 is exact")
    args = parser.parse_args(argv)
    options = settings_from_args(args, SamplingOptions)
    if problems := options.problems():
        fail(ConfigError(problems))
    try:
        checkpoint = args.checkpoint or str(Run.of(Config(run_name=args.run_name)).checkpoint)
        if args.info:
            print_card(load_checkpoint(checkpoint))
            return 0
        if args.history:
            print_history(load_checkpoint(checkpoint))
            return 0
        loaded = load_model(checkpoint, args.tok_path, pick_device(args.device),
                            None if args.precision == "auto" else args.precision)
    except (*USER_ERRORS, PrecisionUnavailable) as error:  # a bad run name or checkpoint, int4 on an old torch
        fail(error)
    print(say("cli.sampling_from", step=loaded.checkpoint_info["step"], checkpoint=checkpoint), file=sys.stderr)
    block_size = loaded.model.cfg.block_size
    if len(loaded.prompt_ids(args.prompt)) > block_size:
        print(say("cli.long_prompt", block_size=block_size), file=sys.stderr)
    print(args.prompt, end="", flush=True)
    for piece in loaded.stream(args.prompt, options):
        print(piece, end="", flush=True)
    print()
    return 0


def print_history(checkpoint: dict) -> None:
    """Each evaluation's sample: characters, then words, then the format of the text appear."""
    kept = [entry for entry in checkpoint.get("history", []) if entry.get("sample") is not None]
    if not kept:
        print(say("cli.no_history"))
        return
    prompt = checkpoint["cfg"].get("sample_prompt", "")
    print(say("cli.history_prompt", prompt=prompt) if prompt else say("cli.history_new_document"))
    for entry in kept:
        bpb = entry.get("val_bpb")
        print(say("cli.history_entry", step=entry["step"], val_loss=entry["val_loss"],
                  val_bpb=f"{bpb:.3f}" if bpb is not None else "—"))
        print(entry["sample"])
    print(say("cli.history_end"))


def print_card(checkpoint: dict) -> None:
    print(say("cli.checkpoint_summary", step=checkpoint["step"], val_loss=checkpoint.get("val_loss") or float("nan"),
              val_bpb=checkpoint.get("val_bpb") or float("nan")))
    card = checkpoint.get("reproducibility")
    if not card:
        print(said(Text("repro.none")))
        return
    for line in describe(card):
        print(said(line))
    print(said(Text("repro.retrain")))
    print("  " + retrain_command(card))
