"""Every GPU check in one go: `python scripts/gpu_check.py` on a machine with one CUDA GPU.

Runs, each as a user would, in a temporary folder with the built-in corpus:
  1. a tiny run with samples at each evaluation in bfloat16, then in float16, each resumed once;
  2. `--compile auto` on a run long enough for auto to compile;
  3. scripts/sample.py from the bfloat16 run's checkpoint;
  4. scripts/bench.py at a GPT-2-small-like config (12 layers, 12 heads, 768 wide, block 1024),
     with tokens/s and the fraction of the measured matmul peak (MFU);
  5. a 1-GPU torchrun run.
and prints one JSON line: {"device": ..., "ok": true|false, "checks": {name: {...}}, "bench": {...}}.
Meant to finish in under 8 minutes on one H100/H200. `--device cpu --quick` runs the same checks
with tiny sizes on a CPU, which is how the test suite keeps this script working without a GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = REPO / "scripts"
TINY = ["--n_layer", "2", "--n_head", "2", "--n_embd", "64", "--block_size", "64", "--batch_size", "8",
        "--eval_iters", "4", "--log_interval", "10", "--sample_max_new_tokens", "40"]
EVAL_LINE = re.compile(r"step (\d+) train_loss=([\d.]+) val_loss=([\d.]+)")


def run(command: list[str], folder: Path, timeout: float) -> tuple[subprocess.CompletedProcess | None, float]:
    started = time.perf_counter()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8"}
    try:
        result = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        result = None
    return result, round(time.perf_counter() - started, 1)


def outcome(result: subprocess.CompletedProcess | None, seconds: float, **facts) -> dict:
    if result is None:
        return {"ok": False, "seconds": seconds, "error": "timed out"}
    ok = result.returncode == 0 and all(value is not False for value in facts.values())
    found = {"ok": ok, "seconds": seconds, **facts}
    if not ok:
        found["error"] = (result.stderr.strip().splitlines() or ["(no output)"])[-1][:300]
    return found


def train_script(*flags: str) -> list[str]:
    return [sys.executable, str(SCRIPTS / "train_gpt.py"), *flags]


def check_training(folder: Path, device: str, dtype: str, steps: int) -> dict:
    """A tiny run with samples at each evaluation, then resumed for another evaluation."""
    flags = [*TINY, "--device", device, "--dtype", dtype, "--run_name", dtype, "--eval_interval", str(steps // 2)]
    first, seconds = run(train_script(*flags, "--max_steps", str(steps)), folder, 300)
    if first is None or first.returncode != 0:
        return outcome(first, seconds)
    resumed, more_seconds = run(train_script(*flags, "--max_steps", str(steps + steps // 2)), folder, 300)
    losses = {int(step): float(val) for step, _, val in EVAL_LINE.findall(first.stdout + (resumed.stdout if resumed else ""))}
    return outcome(resumed, seconds + more_seconds,
                   announced=f", {dtype} (as requested)" in first.stdout,
                   samples=first.stdout.count("--- sample at step") == 3,  # step 0 and two evaluations
                   resumed=bool(resumed) and f"resuming from step {steps}" in resumed.stdout,
                   learned=len(losses) == 4 and losses[max(losses)] < losses[min(losses)],
                   val_losses=losses)


def check_compile_auto(folder: Path, device: str, steps: int) -> dict:
    result, seconds = run(train_script(*TINY, "--device", device, "--compile", "auto", "--max_steps", str(steps),
                                       "--eval_interval", str(steps), "--run_name", "compile-auto",
                                       "--sample_every_eval", "false"), folder, 420)
    line = next((line for line in (result.stdout if result else "").splitlines() if line.startswith("device: ")), "")
    # On CUDA auto compiles a run this long; on a CPU it decides against it (see gpt.device.should_compile).
    return outcome(result, seconds, device_line=line, compiled=(", compiled" in line) == (device == "cuda"))


def check_sample(folder: Path, device: str) -> dict:
    result, seconds = run([sys.executable, str(SCRIPTS / "sample.py"), "--run_name", "bfloat16", "--device", device,
                           "--prompt", "[채용]", "--max_new_tokens", "60", "--seed", "1"], folder, 120)
    return outcome(result, seconds, text=bool(result) and len(result.stdout.strip()) > len("[채용]"))


def check_bench(folder: Path, device: str, quick: bool) -> tuple[dict, dict]:
    size = (["--n_layer", "2", "--n_head", "2", "--n_embd", "64", "--block_size", "64", "--batch_size", "4",
             "--vocab_size", "1000", "--steps", "2"] if quick else
            ["--n_layer", "12", "--n_head", "12", "--n_embd", "768", "--block_size", "1024", "--batch_size", "16",
             "--vocab_size", "50257", "--steps", "10", "--warmup", "3"])
    result, seconds = run([sys.executable, str(SCRIPTS / "bench.py"), *size, "--device", device, "--json",
                           "--modes", "bf16,auto", "--skip_sampling"], folder, 420)
    if result is None or result.returncode != 0:
        return outcome(result, seconds), {}
    figures = json.loads(result.stdout)
    summary = {"config": figures["config"], "auto_dtype": figures["auto_dtype"],
               "auto_dtype_reason": figures["auto_dtype_reason"], "cpu_features": figures["cpu_features"],
               "modes": {row["mode"]: {key: round(row[key], 3) for key in ("ms_per_step", "tokens_per_s", "mfu",
                                                                            "peak_gflops")}
                         | {"compiled": row["compiled"]} for row in figures["modes"]}}
    return outcome(result, seconds), summary


def check_torchrun(folder: Path, device: str, steps: int) -> dict:
    result, seconds = run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1",
                           str(SCRIPTS / "train_gpt.py"), *TINY, "--device", device, "--max_steps", str(steps),
                           "--eval_interval", str(steps), "--run_name", "torchrun"], folder, 300)
    return outcome(result, seconds, finished=bool(result) and f"reached max_steps ({steps})" in result.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cuda (the point of this script), or cpu with --quick")
    parser.add_argument("--quick", action="store_true", help="tiny sizes everywhere (a CPU can run it in a minute)")
    args = parser.parse_args()
    steps = 20 if args.quick else 200
    sys.path.insert(0, str(REPO))
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print(json.dumps({"device": "none", "ok": False, "error": "no CUDA GPU is available"}))
        return 1
    device_name = torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu"
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as scratch:
        folder = Path(scratch)
        prepared, seconds = run([sys.executable, str(SCRIPTS / "prepare_data.py"), "--vocab_size", "2000"], folder, 300)
        checks = {"prepare_data": outcome(prepared, seconds)}
        if checks["prepare_data"]["ok"]:
            checks["train_bfloat16"] = check_training(folder, args.device, "bfloat16", steps)
            checks["train_float16"] = check_training(folder, args.device, "float16", steps)
            checks["compile_auto"] = check_compile_auto(folder, args.device, 40 if args.quick else 600)
            checks["sample"] = check_sample(folder, args.device)
            checks["torchrun_1_gpu"] = check_torchrun(folder, args.device, steps)
        checks["bench"], bench = check_bench(folder, args.device, args.quick)
    report = {"device": device_name, "torch": torch.__version__, "ok": all(c["ok"] for c in checks.values()),
              "seconds": round(time.perf_counter() - started, 1), "checks": checks, "bench": bench}
    print(json.dumps(report, ensure_ascii=False))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
