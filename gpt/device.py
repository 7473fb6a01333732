"""Which device and number type training runs on, picked for speed and told to the user.

cuda first, then Apple's mps, then the CPU. On a Mac, ops that mps lacks fall back to the CPU
instead of failing, which needs the variable set before torch is imported: `gpt/__init__.py`
imports this module first for that reason.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
from dataclasses import dataclass

if platform.system() == "Darwin":
    os.environ.setdefault("PYTORCH_ENABLE_MPS_FALLBACK", "1")

import torch  # noqa: E402

from .config import DTYPES, ConfigError  # noqa: E402


def pick_device(requested: str = "auto") -> torch.device:
    """The requested device, or the fastest one present for "auto"."""
    if requested not in ("auto", "cpu", "cuda", "mps"):
        raise ConfigError([("device", f"device must be one of auto, cpu, cuda, mps, got {requested!r}")])
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise ConfigError([("device", "device 'cuda' was requested but no CUDA GPU is available; use device auto")])
    if requested == "mps" and not torch.backends.mps.is_available():
        raise ConfigError([("device", "device 'mps' was requested but Apple's MPS is not available; use device auto")])
    return torch.device(requested)


def available_devices() -> list[str]:
    """The device choices this machine can honour: auto, cpu, and any GPU present."""
    return ["auto", "cpu", *(["cuda"] if torch.cuda.is_available() else []),
            *(["mps"] if torch.backends.mps.is_available() else [])]


def offered_dtypes() -> list[str]:
    """The number types worth offering here: float16 only where a GPU computes it fast (on a CPU it
    runs, slowly, and is still accepted when asked for by name)."""
    has_gpu = len(available_devices()) > 2
    return ["auto", "float32", "bfloat16", *(["float16"] if has_gpu else [])]


def use_cpu_cores(share: int = 1) -> int:
    """Use this process's share of the cores for intra-op work, unless OMP_NUM_THREADS says otherwise."""
    if "OMP_NUM_THREADS" in os.environ:
        return torch.get_num_threads()
    threads = max(1, (os.cpu_count() or 1) // share)
    torch.set_num_threads(threads)
    return threads


@dataclass(frozen=True)
class CpuFeatures:
    """The instruction sets that decide how fast each number type runs on this CPU."""

    avx2: bool
    avx512: bool
    avx512_bf16: bool
    amx: bool

    @property
    def native_bfloat16(self) -> bool:
        return self.avx512_bf16 or self.amx

    def __str__(self) -> str:
        return ", ".join(f"{name} {'yes' if getattr(self, name) else 'no'}"
                         for name in ("avx2", "avx512", "avx512_bf16", "amx"))


def cpu_features() -> CpuFeatures:
    return CpuFeatures(avx2=_cpu_has("avx2", "avx2"), avx512=_cpu_has("avx512", "avx512f"),
                       avx512_bf16=_cpu_has("avx512_bf16", "avx512_bf16"), amx=_cpu_has("amx_tile", "amx_tile"))


def _cpu_has(probe: str, linux_flag: str) -> bool:
    """torch's own probe (torch.cpu._is_<probe>_supported, torch 2.5 and newer), else the kernel's CPU flags.

    torch 2.4 has only `_is_cpu_support_avx2` / `_avx512`; where no probe answers, Linux's
    /proc/cpuinfo does, and elsewhere the feature counts as absent (float32 is then chosen).
    """
    for name in (f"_is_{probe}_supported", f"_is_cpu_support_{probe}"):
        if callable(check := getattr(torch.cpu, name, None)):
            return bool(check())
    return linux_flag in _linux_cpu_flags()


@functools.cache
def _linux_cpu_flags() -> frozenset[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as file:
            line = next((line for line in file if line.startswith("flags")), "")
    except OSError:
        return frozenset()
    return frozenset(line.partition(":")[2].split())


@dataclass(frozen=True)
class DtypeChoice:
    """The number type of the matmuls and why: `reason` is a key of the locale tables, so every
    language can say it (e.g. "cpu_amx": this CPU has AMX-BF16 units)."""

    dtype: torch.dtype
    reason: str

    @property
    def name(self) -> str:
        return str(self.dtype).removeprefix("torch.")


def choose_dtype(device: torch.device, requested: str = "auto") -> DtypeChoice:
    """The number type matmuls run in under autocast (weights and optimizer stay float32), and why.

    `auto` is decided by what the hardware has, never by a timing, so the same machine always
    trains the same way. On CPUs bfloat16 pays only with native support: without it a bfloat16
    matmul ran at 0.3-18 GFLOP/s against about 160 for float32.
    """
    if requested not in DTYPES:
        raise ConfigError([("dtype", f"dtype must be one of {', '.join(DTYPES)}, got {requested!r}")])
    if requested != "auto":
        return DtypeChoice(getattr(torch, requested), "requested")
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return DtypeChoice(torch.bfloat16, "cuda_bf16")
        return DtypeChoice(torch.float16, "cuda_fp16")
    if device.type == "cpu":
        features = cpu_features()
        if features.amx:
            return DtypeChoice(torch.bfloat16, "cpu_amx")
        if features.avx512_bf16:
            return DtypeChoice(torch.bfloat16, "cpu_avx512_bf16")
        return DtypeChoice(torch.float32, "cpu_no_bf16")
    return DtypeChoice(torch.float32, "other_device")


def pick_dtype(device: torch.device, requested: str = "auto") -> torch.dtype:
    """The number type matmuls run in under autocast; weights and optimizer stay float32."""
    return choose_dtype(device, requested).dtype


def should_compile(requested: str, device: torch.device, steps_to_run: int) -> bool:
    """torch.compile costs 25-60 s up front here; on a 2-core CPU it then saved only 5-14% a step,
    paying back after hundreds of steps and needing a C++ compiler. On CUDA it pays back fast."""
    if requested != "auto":
        return requested == "on"
    return device.type == "cuda" and steps_to_run >= 500


INFERENCE_PRECISIONS = ("float32", "bfloat16", "float16", "int8", "int4")


def pick_inference_precision(device: torch.device) -> str:
    """How the weights are stored for generating text, where one token at a time reads every weight once.

    On a CPU that is memory traffic, so smaller weights win. int4 linear layers
    (`gpt.inference.Int4Linear`: 4-bit weights in groups of 32, bfloat16 activations) read half of
    int8's bytes and an eighth of float32's; int8 (`Int8Linear`) where the int4 kernel is missing.
    At the default recipe, on a 2-core AMD EPYC Zen 4, 250 tokens from a 1-token prompt came at
    1.5-1.9x int8's tokens/s (1.3-1.4x with AVX2 kernels forced), and on that recipe trained for
    365 steps (validation loss 2.148) int4 moved the validation loss by 0.001 nats and int8 by
    0.0002. Both kernels are vectorized for AVX2 and AVX-512; other CPUs keep float32. Decided by
    what the CPU supports, not by a timing, so a seed gives the same text every run.
    """
    if device.type == "cuda":
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    if device.type == "cpu" and cpu_has_vector_int_kernels():
        if int4_kernel_works():
            return "int4"
        if int8_kernel_exists():
            return "int8"
    return "float32"


def int8_kernel_exists() -> bool:
    """Whether this torch has the CPU int8-weight matmul."""
    return hasattr(torch, "_weight_int8pack_mm")


def int4_kernel_works() -> bool:
    """Whether this torch has the CPU int4-weight matmul (torch 2.6 and newer) and it takes our packing."""
    return hasattr(torch, "_weight_int4pack_mm_for_cpu") and _int4_kernel_takes_our_packing()


@functools.cache
def _int4_kernel_takes_our_packing() -> bool:
    # Private ops can change their form between releases: one tiny layer, once, tells (not a timing).
    try:
        packed = torch._convert_weight_to_int4pack_for_cpu(torch.zeros(16, 32, dtype=torch.int32), 1)
        scales_and_offsets = torch.zeros(1, 16, 2, dtype=torch.bfloat16)
        out = torch._weight_int4pack_mm_for_cpu(torch.ones(1, 32, dtype=torch.bfloat16), packed, 32, scales_and_offsets)
        return tuple(out.shape) == (1, 16)
    except (RuntimeError, TypeError, AttributeError):
        return False


def cpu_has_vector_int_kernels() -> bool:
    """Whether this CPU runs the int8 / int4 weight matmuls vectorized (AVX2 or AVX-512): without, they crawl."""
    features = cpu_features()
    return features.avx2 or features.avx512


def autocast(device: torch.device, dtype: torch.dtype):
    """Mixed precision for the forward pass, or nothing for float32."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def enable_fast_matmul(device: torch.device) -> None:
    """TF32 tensor cores on CUDA: float32 matmuls at a fraction of the cost, loss unchanged in practice."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        threads = torch.get_num_threads()
        return f"cpu ({threads} thread{'s' if threads != 1 else ''})"
    return device.type
