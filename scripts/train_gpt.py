"""Train a GPT from the command line: `python scripts/train_gpt.py [--max_steps 300 --n_layer 4 ...]`.

With no data present it prepares the built-in Korean job-posting corpus first. With a
checkpoint present it resumes from it. Ctrl-C (or SIGTERM) stops after the current step and
saves a checkpoint; a second Ctrl-C quits at once.
"""

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tqdm import tqdm  # noqa: E402

from gpt.cli import PreparationBar, add_config_flags, config_from_args, fail, parse_config_args  # noqa: E402
from gpt.data import Progress  # noqa: E402
from gpt.distributed import leave_world  # noqa: E402
from gpt.locales import text  # noqa: E402
from gpt.train import (USER_ERRORS, Advice, CheckpointSaved, Evaluated, Finished, Sampled, Started,  # noqa: E402
                       StepDone, train)


def stop_on_signals(stop: threading.Event) -> None:
    def handle(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print(f"\n{signal.Signals(signum).name}: stopping after this step and saving a checkpoint "
              f"(press Ctrl-C again to quit at once)", file=sys.stderr)

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_flags(parser)
    parser.add_argument("--fresh", action="store_true",
                        help="start a new run even if a checkpoint exists (the old one is kept under a new name)")
    parser.add_argument("--keep_checkpoint_architecture", action="store_true",
                        help="resume a checkpoint whose architecture differs from the flags, using its architecture")
    args = parse_config_args(parser)
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
        fail(str(error))
    except KeyboardInterrupt:
        fail("interrupted; the last checkpoint saved is kept", code=130)
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
                print(f"device: {event.device}, {event.dtype} ({text('dtype_reason.' + event.dtype_reason)})")
                print(f"CPU features: {event.cpu_features}")
                print(f"vocab size: {event.vocab_size:,}")
                print(f"train tokens: {event.train_tokens:,}  val tokens: {event.val_tokens:,}")
                print(f"parameters: {event.parameters:,}  tokens per step: {event.tokens_per_step:,}")
                if event.archived_checkpoint:
                    print(f"started fresh; the previous checkpoint was kept as {event.archived_checkpoint}")
                if event.resumed:
                    print(f"resuming from step {event.step:,}")
                bar = tqdm(total=event.max_steps, initial=event.step, dynamic_ncols=True)
            elif isinstance(event, StepDone):
                bar.update(event.step - bar.n)
                bar.set_description(f"step {event.step} loss {event.loss:.4f}")
                bar.set_postfix_str(f"{event.tokens_per_second:,.0f} tok/s")
            elif isinstance(event, Evaluated):
                bpb = f" val_bpb={event.val_bpb:.3f}" if event.val_bpb is not None else ""
                bar.write(f"step {event.step} train_loss={event.train_loss:.4f} val_loss={event.val_loss:.4f}{bpb}")
            elif isinstance(event, Sampled):
                bar.write(f"--- sample at step {event.step} ---\n{event.text}\n---")
            elif isinstance(event, CheckpointSaved):
                best = f" (best so far, also {event.best_path})" if event.best_path else ""
                bar.write(f"saved checkpoint {event.path}{best}")
            elif isinstance(event, Advice):
                bar.write(f"advice: {event.message}")
            elif isinstance(event, Finished):
                if bar is not None:
                    bar.close()
                    bar = None
                if event.reason in ("diverged", "out_of_memory", "failed"):
                    if event.detail:
                        print(f"error detail: {event.detail}", file=sys.stderr)
                    fail(event.message, code=1)
                print(f"{event.message}; checkpoint: {event.checkpoint}")
    finally:
        if bar is not None:
            bar.close()


if __name__ == "__main__":
    sys.exit(main())
