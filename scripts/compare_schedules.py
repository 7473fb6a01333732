"""Which learning-rate schedule learns most in a fixed time?

    python scripts/compare_schedules.py --preset cpu_quick --seconds 120

Trains a config (flags as for train_gpt.py) once per schedule of gpt/schedules.py, each for the same
wall-clock budget on the same data, and prints the validation loss and bits per byte reached.
The number of steps is set from a measured step time, so a cosine schedule ends its decay
when the budget ends. Data: whatever the config's paths hold (prepared first if missing).
"""

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gpt.cli import add_config_flags, config_from_args, parse_config_args  # noqa: E402
from gpt.config import Config  # noqa: E402
from gpt.data import prepare_builtin, read_meta  # noqa: E402
from gpt.schedules import SCHEDULES  # noqa: E402
from gpt.train import Evaluated, Finished, time_training_step, train  # noqa: E402


def run(cfg: Config, seconds: float) -> dict:
    stop = threading.Event()
    timer = threading.Timer(seconds * 2, stop.set)  # a safety net; max_steps should end the run first
    timer.start()
    started = time.perf_counter()
    last = None
    try:
        for event in train(cfg, stop, fresh=True):
            if isinstance(event, Evaluated):
                last = event
            elif isinstance(event, Finished):
                finished = event
    finally:
        timer.cancel()
    if last is None:
        raise SystemExit(f"the run ended without an evaluation ({finished.message}); was the machine busy?")
    return {"steps": finished.step, "seconds": time.perf_counter() - started, "val_loss": last.val_loss,
            "val_bpb": last.val_bpb}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_flags(parser)
    parser.add_argument("--seconds", type=float, default=120, help="training time per schedule")
    args = parse_config_args(parser)
    cfg = config_from_args(args)
    if read_meta(cfg.train_bin) is None:
        for _ in prepare_builtin(cfg.train_bin, cfg.val_bin, cfg.tok_path, cfg.vocab_size, cfg.val_fraction):
            pass
    cfg = cfg.replace(vocab_size=read_meta(cfg.train_bin).vocab_size)
    step_seconds = time_training_step(cfg, steps=10)
    # Evaluations take time too: budget them at eval_iters batches of both splits without backward (~1/3).
    evaluation_seconds = 2 * cfg.eval_iters * step_seconds / 3
    steps = int(args.seconds / (step_seconds * (1 + 2 * cfg.eval_iters / 3 / cfg.eval_interval)))
    print(f"{Path(cfg.train_bin).parent}: {step_seconds * 1000:.0f} ms/step -> {steps} steps in {args.seconds:.0f} s "
          f"(evaluations about {evaluation_seconds:.1f} s each)")
    print("| schedule | steps | seconds | val loss | val bits/byte |\n|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as out_dir:
        for name, schedule in SCHEDULES.items():  # every registered schedule, with the settings it suggests
            result = run(cfg.replace(out_dir=out_dir, max_steps=steps, eval_interval=min(cfg.eval_interval, steps),
                                     sample_every_eval=False, lr_schedule=name, **schedule.suggested), args.seconds)
            print(f"| {name} | {result['steps']} | {result['seconds']:.0f} | {result['val_loss']:.3f} | "
                  f"{result['val_bpb']:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
