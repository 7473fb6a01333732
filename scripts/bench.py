"""Benchmark training and sampling speed on this device: `python scripts/bench.py [config flags] [--json]`.

Trains the config (default: the default recipe, vocabulary 24000) on random tokens in each
execution mode and reports the median ms/step, tokens/s, achieved GFLOP/s and the fraction of
the matmul peak measured in the same run; then samples 250 tokens at batch 1 from a 1-token
and a 200-token prompt, with and without the KV cache, at the app's default temperature 0.9
and top-k 50 (with the cache, the median of --sample_runs texts). The "reference" mode is the
same model written the textbook way (scripts/reference_model.py), measured in the same run.
Figures, not pass/fail.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from gpt.cli import add_config_flags, config_from_args, parse_config_args  # noqa: E402
from gpt.device import (choose_dtype, cpu_features, describe, pick_device, pick_inference_precision,  # noqa: E402
                        should_compile, use_cpu_cores)
from gpt.locales import text  # noqa: E402
from gpt.model import GPT, training_flops_per_token  # noqa: E402
from gpt.generate import generate  # noqa: E402
from gpt.host_memory import freed_memory_kept, keep_freed_memory  # noqa: E402
from gpt.inference import for_inference  # noqa: E402
from gpt.sampling import SamplingOptions  # noqa: E402
from gpt.train import train_step  # noqa: E402
from reference_model import ReferenceGPT  # noqa: E402
from reference_model import train_step as reference_train_step  # noqa: E402


def matmul_peak(device: torch.device, dtype: torch.dtype, size: int = 2048, seconds: float = 1.0) -> float:
    """FLOP/s of a large square matmul: the ceiling training can approach.

    The size doubles from 256 up to `size` while one matmul stays short: a type the device has no
    native support for (bfloat16 on an AVX2 CPU, 0.3 GFLOP/s) would take a minute a matmul at 2048.
    """
    trial = 256
    while trial < size and one_matmul_seconds(device, dtype, trial) < 0.05:
        trial *= 2
    size = min(trial, size)
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    a @ b
    synchronize(device)
    runs, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds or runs < 2:
        a @ b
        runs += 1
    synchronize(device)
    return 2 * size**3 * runs / (time.perf_counter() - started)


def one_matmul_seconds(device: torch.device, dtype: torch.dtype, size: int) -> float:
    a = torch.randn(size, size, device=device, dtype=dtype)
    a @ a  # warm-up
    synchronize(device)
    started = time.perf_counter()
    a @ a
    synchronize(device)
    return time.perf_counter() - started


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def step_timings(step, warmup: int, steps: int) -> list[float]:
    """Seconds of each call of `step` after `warmup` untimed ones."""
    timings = []
    for index in range(warmup + steps):
        started = time.perf_counter()
        step()
        if index >= warmup:
            timings.append(time.perf_counter() - started)
    return timings


def random_batch(cfg, device) -> tuple[torch.Tensor, torch.Tensor]:
    return tuple(torch.randint(cfg.vocab_size, (cfg.batch_size, cfg.block_size), device=device) for _ in range(2))


def time_training(cfg, device, dtype, compiled: bool, warmup: int, steps: int) -> list[float]:
    torch.manual_seed(0)
    model = GPT(cfg).to(device)
    runnable = torch.compile(model) if compiled else model
    optimizer = model.optimizer(cfg.lr, cfg.weight_decay, device)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    x, y = random_batch(cfg, device)
    return step_timings(lambda: train_step(runnable, optimizer, scaler, [(x, y)] * cfg.grad_accum_steps,
                                           cfg.grad_clip, device, dtype).loss.item(), warmup, steps)


def time_reference_training(cfg, device, warmup: int, steps: int) -> list[float]:
    torch.manual_seed(0)
    model = ReferenceGPT(cfg).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    x, y = random_batch(cfg, device)

    def step():
        for _ in range(cfg.grad_accum_steps):
            reference_train_step(model, optimizer, x, y, cfg.grad_clip)
    return step_timings(step, warmup, steps)


SAMPLING = SamplingOptions()  # the app's and CLI's defaults: temperature 0.9, top-k 50


def time_sampling(cfg, device, precision: str, prompt_tokens: int, use_cache: bool, runs: int,
                  new_tokens: int = 250) -> float:
    """Tokens/s of the median of `runs` texts at batch 1, the weights stored in `precision` (as load_model does).

    A median because one text is a fraction of a second: on a shared 2-core CPU, identical runs of
    one text ranged 626-1,020 tokens/s. Each text has exactly `new_tokens` tokens (see `generate`),
    and taking each token's id waits for the device.
    """
    torch.manual_seed(0)
    model = for_inference(GPT(cfg.replace(dropout=0.0)).to(device), precision)
    prompt = torch.randint(cfg.vocab_size, (prompt_tokens,)).tolist()
    list(generate(model, prompt, SAMPLING.replace(max_new_tokens=5), use_cache=use_cache))  # warm-up
    options = SAMPLING.replace(max_new_tokens=new_tokens)
    seconds = step_timings(lambda: list(generate(model, prompt, options, use_cache=use_cache)), 0, runs)
    return new_tokens / statistics.median(seconds)


def time_reference_sampling(cfg, device, prompt_tokens: int, new_tokens: int = 250) -> float:
    torch.manual_seed(0)
    model = ReferenceGPT(cfg.replace(dropout=0.0)).to(device).eval()
    prompt = torch.randint(cfg.vocab_size, (1, prompt_tokens), device=device)
    model.generate(prompt, 5, SAMPLING.temperature, SAMPLING.top_k)  # warm-up
    synchronize(device)
    started = time.perf_counter()
    model.generate(prompt, new_tokens, SAMPLING.temperature, SAMPLING.top_k)
    synchronize(device)
    return new_tokens / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_flags(parser)
    parser.add_argument("--modes", default="reference,fp32-eager,auto",
                        help="comma-separated: reference (textbook implementation, fp32), fp32-eager, auto, "
                             "bf16, fp16, compiled (auto dtype + torch.compile)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--skip_sampling", action="store_true")
    parser.add_argument("--sample_runs", type=int, default=5,
                        help="texts of 250 tokens per sampling figure with the KV cache (the median is reported)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parse_config_args(parser)
    if args.sample_runs < 1:
        parser.error(f"--sample_runs must be at least 1, got {args.sample_runs}")
    cfg = config_from_args(args)
    device = pick_device(cfg.device)
    if device.type == "cpu":
        use_cpu_cores()
    auto_choice = choose_dtype(device, cfg.dtype)
    auto_dtype = auto_choice.dtype
    flops_per_step = training_flops_per_token(cfg) * cfg.batch_size * cfg.block_size * cfg.grad_accum_steps
    tokens_per_step = cfg.batch_size * cfg.block_size * cfg.grad_accum_steps

    peaks = {}
    rows = []
    for mode in args.modes.split(","):
        dtype = {"reference": torch.float32, "fp32-eager": torch.float32, "bf16": torch.bfloat16,
                 "fp16": torch.float16}.get(mode, auto_dtype)
        compiled = mode == "compiled" or (mode == "auto" and should_compile(cfg.compile, device, cfg.max_steps))
        if dtype not in peaks:
            peaks[dtype] = matmul_peak(device, dtype)
        if mode == "reference":
            timings = time_reference_training(cfg, device, args.warmup, args.steps)
        else:
            if device.type == "cpu":  # as training does; the textbook, first by default, runs as a plain script would
                keep_freed_memory()
            timings = time_training(cfg, device, dtype, compiled, args.warmup, args.steps)
        seconds = statistics.median(timings)
        rows.append({"mode": mode, "dtype": str(dtype).removeprefix("torch."), "compiled": compiled,
                     "ms_per_step": seconds * 1000, "tokens_per_s": tokens_per_step / seconds,
                     "gflops": flops_per_step / seconds / 1e9, "peak_gflops": peaks[dtype] / 1e9,
                     "mfu": flops_per_step / seconds / peaks[dtype],
                     "freed_memory_kept": freed_memory_kept()})

    sampling = {}
    if not args.skip_sampling:
        fast = pick_inference_precision(device)
        sampling["sample_precision"] = fast
        for name, prompt_tokens, use_cache, precision in (
                ("sample_tokens_per_s", 1, True, fast),
                ("sample_tokens_per_s_long_prompt", 200, True, fast),
                ("sample_tokens_per_s_float32", 1, True, "float32"),
                ("sample_tokens_per_s_long_prompt_float32", 200, True, "float32"),
                ("sample_tokens_per_s_no_cache", 1, False, "float32"),
                ("sample_tokens_per_s_long_prompt_no_cache", 200, False, "float32")):
            # Without the cache a text takes 10 s or more on a CPU: one is enough to show the gap.
            sampling[name] = time_sampling(cfg, device, precision, min(prompt_tokens, cfg.block_size), use_cache,
                                           runs=args.sample_runs if use_cache else 1)
        if "reference" in args.modes.split(","):
            sampling["reference_sample_tokens_per_s"] = time_reference_sampling(cfg, device, 1)
            sampling["reference_sample_tokens_per_s_long_prompt"] = time_reference_sampling(
                cfg, device, min(200, cfg.block_size))

    by_mode = {row["mode"]: row for row in rows}
    default = by_mode.get("auto", rows[-1])
    result = {
        "device": describe(device), "cpu_features": str(cpu_features()), "auto_dtype": auto_choice.name,
        "auto_dtype_reason": text("dtype_reason." + auto_choice.reason),
        "config": {k: getattr(cfg, k) for k in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd", "batch_size")},
        "train_tokens_per_s": default["tokens_per_s"],
        "train_tokens_per_s_fp32_eager": by_mode["fp32-eager"]["tokens_per_s"] if "fp32-eager" in by_mode else None,
        "reference_train_tokens_per_s": by_mode["reference"]["tokens_per_s"] if "reference" in by_mode else None,
        "mfu": default["mfu"], "modes": rows, **sampling,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"device: {result['device']}, CPU features: {result['cpu_features']}")
    print(f"automatic dtype: {result['auto_dtype']} ({result['auto_dtype_reason']}), config: {result['config']}\n")
    print("| mode | dtype | ms/step | tokens/s | GFLOP/s | matmul peak GFLOP/s | fraction of peak |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['mode']} | {row['dtype']} | {row['ms_per_step']:,.0f} | {row['tokens_per_s']:,.0f} | "
              f"{row['gflops']:,.1f} | {row['peak_gflops']:,.1f} | {row['mfu']:.0%} |")
    if sampling:
        print(f"\n| sampling, batch 1, 250 new tokens, temperature 0.9, top-k 50 "
              f"(automatic precision: {sampling['sample_precision']}; with the cache, median of "
              f"{args.sample_runs} texts) | tokens/s |\n|---|---:|")
        for name, value in sampling.items():
            if name != "sample_precision":
                print(f"| {name} | {value:,.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
