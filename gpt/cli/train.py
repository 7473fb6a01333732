"""Train a GPT from the command line: `python scripts/train_gpt.py [--max_steps 300 --n_layer 4 ...]` (or `gpt-train`).

With no data present it prepares the built-in Korean job-posting corpus first. With a
checkpoint present it resumes from it. Ctrl-C (or SIGTERM) stops after the current step and
saves a checkpoint; a second Ctrl-C quits at once.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from tqdm import tqdm

from ..data import Progress
from ..distributed import leave_world
from ..locales import in_language
from ..plan import Plan
from ..train import USER_ERRORS, Advice, CheckpointSaved, Evaluated, Finished, Sampled, Started, StepDone, train
from . import LANGUAGE, PreparationBar, add_config_flags, config_from_args, fail, parse_config_args, said, say


def stop_on_signals(stop: threading.Event) -> None:
    def handle(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print("\n" + say("cli.stopping", signal=signal.Signals(signum).name), file=sys.stderr)

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_flags(parser)
    parser.add_argument("--fresh", action="store_true",
                        help="start a new run even if a checkpoint exists (the old one is kept under a new name)")
    parser.add_argument("--keep_checkpoint_architecture", action="store_true",
                        help="resume a checkpoint whose architecture differs from the flags, using its architecture")
    args = parse_config_args(parser, argv)
    cfg = config_from_args(args)
    stop = threading.Event()
    stop_on_signals(stop)

    events = train(cfg, stop, fresh=args.fresh, keep_checkpoint_architecture=args.keep_checkpoint_architecture)
    finished_cleanly = False
    try:
        if int(os.environ.get("RANK", "0")) == 0:
            show(events)
        else:  # under torchrun only rank 0 speaks
            for event in events:
                if isinstance(event, Finished) and event.reason in ("diverged", "out_of_memory", "failed"):
                    return 1
        finished_cleanly = True
    except USER_ERRORS as error:
        fail(error)
    except KeyboardInterrupt:
        fail(say("cli.interrupted"), code=130)
    finally:
        leave_world(finished_cleanly)
    return 0


def show(events) -> None:
    """Print the training events: a progress bar, evaluations, samples and checkpoints."""
    bar = None
    preparing = PreparationBar()
    try:
        for event in events:
            if isinstance(event, Progress):
                preparing.show(event)
            elif isinstance(event, Started):
                print(say("cli.device", device=event.device, dtype=event.dtype,
                          reason=say("dtype_reason." + event.dtype_reason)))
                print(say("cli.cpu_features", features=event.cpu_features))
                print(say("cli.vocab_size", vocab_size=event.vocab_size))
                print(say("cli.train_tokens", tokens=event.train_tokens))
                print(say("cli.val_tokens", tokens=event.val_tokens))
                print(say("cli.parameters", parameters=event.parameters))
                print(say("cli.tokens_per_step", tokens=event.tokens_per_step))
                plan = Plan(event.max_steps * event.tokens_per_step, event.parameters, event.train_tokens)
                print(said(plan.describe()))
                if event.archived_checkpoint:
                    print(say("cli.archived", path=event.archived_checkpoint))
                print(say("cli.resuming", step=event.step) if event.resumed else say("cli.starting"))
                bar = tqdm(total=event.max_steps, initial=event.step, dynamic_ncols=True)
            elif isinstance(event, StepDone):
                bar.update(event.step - bar.n)
                bar.set_description(f"step {event.step} loss {event.loss:.4f}")
                bar.set_postfix_str(f"{event.tokens_per_second:,.0f} tok/s")
            elif isinstance(event, Evaluated):
                # The same in every language: scripts parse this line.
                bpb = f" val_bpb={event.val_bpb:.3f}" if event.val_bpb is not None else ""
                tqdm.write(f"step {event.step} train_loss={event.train_loss:.4f} val_loss={event.val_loss:.4f}{bpb}")
            elif isinstance(event, Sampled):
                tqdm.write(say("cli.sample", step=event.step, text=event.text))
            elif isinstance(event, CheckpointSaved):
                tqdm.write(say("cli.saved_best" if event.best_path else "cli.saved", path=event.path,
                              best=event.best_path))
            elif isinstance(event, Advice):
                tqdm.write(say("cli.advice", message=in_language(event.message, LANGUAGE)))
            elif isinstance(event, Finished):
                if bar is not None:
                    bar.close()
                    bar = None
                if event.reason in ("diverged", "out_of_memory", "failed"):
                    if event.detail:
                        print(say("cli.error_detail", detail=event.detail), file=sys.stderr)
                    fail(event.message, code=1)
                print(say("cli.finished", message=in_language(event.message, LANGUAGE), checkpoint=event.checkpoint))
    finally:
        if bar is not None:
            bar.close()
