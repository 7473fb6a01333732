"""What watching a run in the app costs: training tokens/s with and without a page following it.

    python scripts/bench_app.py [--steps 300] [--browser]

Trains the CPU preset on the built-in corpus three ways, one after the other, on the same data:
  1. the loop alone, as the CLI runs it (`gpt.train.train`, events consumed, nothing drawn);
  2. as the app's background job with nobody watching (the server running beside it);
  3. with --browser, the same with a real Chromium page open on the Train tab, following the run:
     the view built once a second, the stream sent, and the page drawing it (on a laptop the
     browser shares the CPU with training; on a Space it runs on the visitor's machine).
Prints the median tokens/s of each and the app's difference to the loop, as figures, not pass/fail.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import socket
import tempfile
import threading
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gpt import PRESETS, Config, StepDone, prepare_builtin  # noqa: E402
from gpt.train import train  # noqa: E402

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage"]


def config(root: Path, steps: int) -> Config:
    return Config(**PRESETS["cpu_quick"]).replace(
        train_bin=str(root / "data" / "train.bin"), val_bin=str(root / "data" / "val.bin"),
        tok_path=str(root / "data" / "tokenizer.json"), out_dir=str(root / "checkpoints"), max_steps=steps,
        dtype="float32", device="cpu")


def median_tokens_per_second(speeds: list[float]) -> float:
    return statistics.median(speeds[1:] if len(speeds) > 2 else speeds)  # the first log interval warms up


def loop_alone(cfg: Config) -> float:
    speeds = [event.tokens_per_second for event in train(cfg, fresh=True) if isinstance(event, StepDone)]
    return median_tokens_per_second(speeds)


def through_the_app(cfg: Config, root: Path, browser: bool) -> float:
    """The same run as the app's background job, with a Chromium page watching it (or nobody)."""
    import app as app_module
    from ui.storage import Storage
    from ui.train_tab import CONTROL_FIELDS

    trainer, demo = app_module.create_app(Storage(root), calibrate=False, train_on_caller_thread=True)
    speeds = []
    apply = trainer.job._apply

    def recording(event):
        if isinstance(event, StepDone):
            speeds.append(event.tokens_per_second)
        apply(event)
    trainer.job._apply = recording
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app_module.launch(demo, prevent_thread_lock=True, quiet=True, server_port=port)
    playwright = chromium = None
    browser_seconds = [0.0]

    def start_and_watch():
        nonlocal playwright, chromium
        refusal = trainer.start_training({name: getattr(cfg, name) for name in CONTROL_FIELDS}, cfg.vocab_size,
                                         "fresh", "bench", "en")
        assert refusal is None, refusal
        if browser:  # a page opened now picks the run up and follows it, as any visitor's page does
            from playwright.sync_api import sync_playwright
            playwright = sync_playwright().start()
            chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS)
            page = chromium.new_page()
            page.goto(f"http://127.0.0.1:{port}/")
            browser_seconds[0] = -chromium_cpu_seconds()
        trainer.job.wait(1200)
        if chromium is not None:
            browser_seconds[0] += chromium_cpu_seconds()
            chromium.close()
            playwright.stop()
        trainer.job.close()

    # As `python app.py` does: training on this (the main) thread, the page and the visitor on others.
    visitor = threading.Thread(target=start_and_watch)
    visitor.start()
    trainer.job.work_here(before=lambda: trainer.speed.calibrate(cfg))
    visitor.join()
    demo.close()
    if browser:
        print(f"the browser used {browser_seconds[0]:.1f} CPU seconds while the run took "
              f"{len(speeds) * cfg.log_interval * cfg.tokens_per_step / median_tokens_per_second(speeds):.0f} s",
              file=sys.stderr)
    return median_tokens_per_second(speeds)


def chromium_cpu_seconds() -> float:
    """CPU time used so far by every Chromium process (from /proc: user + system)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and "chrom" in (entry / "comm").read_text():
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            continue
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--browser", action="store_true", help="also measure with a Chromium page watching")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of the measurements, alternated")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_app_") as scratch:
        root = Path(scratch)
        cfg = config(root, args.steps)
        for _ in prepare_builtin(cfg.train_bin, cfg.val_bin, cfg.tok_path, cfg.vocab_size):
            pass
        cfg = cfg.replace(vocab_size=json.loads((root / "data" / "meta.json").read_text())["vocab_size"])
        # Alternated and repeated: on a shared 2-core machine one run's speed varies by 10% on its own.
        measured = {"loop": [], "app_unwatched": [], **({"app_watched": []} if args.browser else {})}
        for _ in range(args.repeat):
            measured["loop"].append(loop_alone(cfg))
            measured["app_unwatched"].append(through_the_app(cfg, root, browser=False))
            if args.browser:
                measured["app_watched"].append(through_the_app(cfg, root, browser=True))
        results = {name: statistics.median(values) for name, values in measured.items()}
    base = results["loop"]
    print(json.dumps({"steps": args.steps, "config": "cpu_quick, float32", "rounds": args.repeat,
                      "all": {k: [round(v) for v in values] for k, values in measured.items()},
                      **{k: round(v) for k, v in results.items()},
                      **{f"{k}_vs_loop": f"{v / base - 1:+.1%}" for k, v in results.items() if k != "loop"}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
