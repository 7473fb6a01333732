"""A checkpoint loaded for writing text: its weights in the fastest precision, its tokenizer checked.

`load_model` refuses a tokenizer the checkpoint was not trained with (its text would be garbage),
stores the weights for generating (see `pick_inference_precision`: int4 on most CPUs, an eighth
of float32's bytes to read per token) and returns a `LoadedModel` that streams text.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import torch
from tokenizers import Tokenizer

from .checkpoint import check_tokenizer, checkpoint_config, load_checkpoint, load_weights
from .device import INFERENCE_PRECISIONS, int4_kernel_works, int8_kernel_exists, pick_inference_precision
from .generate import generate
from .model import GPT
from .sampling import SamplingOptions
from .text import TextStream
from .tokenizer import end_of_text_id, file_fingerprint, load_tokenizer


class PrecisionUnavailable(ValueError):
    """A precision that this torch or device cannot run; the message says what to use instead."""


@dataclass
class LoadedModel:
    """A model ready to sample, with what the Sample tab and CLI show about it."""

    model: GPT
    tokenizer: Tokenizer
    checkpoint_info: dict = field(default_factory=dict)

    def prompt_ids(self, prompt: str) -> list[int]:
        """An empty prompt starts a new document (the end-of-text token precedes every document)."""
        ids = self.tokenizer.encode(prompt).ids if prompt else []
        return ids or [end_of_text_id(self.tokenizer)]

    def generator(self, seed: int | None) -> torch.Generator:
        """The random draws of one text: fixed by a seed, else new every time."""
        generator = torch.Generator(device=next(self.model.parameters()).device)
        if seed is None:
            generator.seed()
        else:
            generator.manual_seed(seed)
        return generator

    def stream(self, prompt: str, options: SamplingOptions = SamplingOptions()) -> Iterator[str]:
        """Yield text pieces as they are generated."""
        text = TextStream(self.tokenizer)
        for token_id in generate(self.model, self.prompt_ids(prompt), options, self.generator(options.seed)):
            if piece := text.push(token_id):
                yield piece
        if rest := text.flush():
            yield rest


class PackedLinear(torch.nn.Module):
    """A linear layer whose weights are packed integers; it reads and writes bfloat16.

    A subclass stores `weight`, its scales and `bias` in __init__ and gives `_matmul`, the kernel
    call on (B, in) bfloat16 rows without the bias.
    """

    bits: int

    def _store_shape_and_bias(self, linear: torch.nn.Linear) -> None:
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().to(torch.bfloat16))

    def _matmul(self):
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, self.in_features).to(torch.bfloat16)
        return self.as_function()(rows).view(*x.shape[:-1], self.out_features)

    def as_function(self):
        """The layer on (B, in) bfloat16 rows, as a plain function (what GPT.one_token_forward calls)."""
        matmul, bias = self._matmul(), self.bias
        if bias is None:
            return matmul
        return lambda rows: matmul(rows).add_(bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int{self.bits} weights"


class Int8Linear(PackedLinear):
    """A linear layer whose weights are int8, one scale per output row; it reads and writes bfloat16.

    Weight-only quantization: the activations are never rounded to int8, only the weights (the
    largest absolute value of each row maps to 127). `torch._weight_int8pack_mm` multiplies
    bfloat16 activations by int8 weights directly; PyTorch's dynamic quantization (int8 activations
    too) cost about 25 us a call of fixed overhead, more than a 384 x 1152 layer's own work.
    """

    bits = 8

    def __init__(self, linear: torch.nn.Linear):
        super().__init__()
        self._store_shape_and_bias(linear)
        weight = linear.weight.detach().float()
        # The kernel takes its scales in the activations' type. Rounded to bfloat16 a shade upwards,
        # a row's largest value still fits in 127 levels, and every weight is within half a level.
        scales = (weight.abs().amax(dim=1).clamp(min=1e-12) / 127 * (1 + 2 ** -8)).to(torch.bfloat16)
        levels = (weight / scales.float()[:, None]).round().clamp(-127, 127)
        self.register_buffer("weight", levels.to(torch.int8))
        self.register_buffer("scales", scales)

    def _matmul(self):
        weight, scales = self.weight, self.scales
        return lambda rows: torch._weight_int8pack_mm(rows, weight, scales)


class Int4Linear(PackedLinear):
    """A linear layer whose weights are 4-bit, in groups of 32 along each row; it reads and writes bfloat16.

    Each group of 32 weights maps its range onto 16 levels, with a bfloat16 scale and offset of
    its own (half a byte a weight plus 4 bytes per 32). One token reads every weight once, so half
    of int8's bytes made the matmuls about twice as fast on a memory-bound 2-core CPU. The kernel
    (`torch._weight_int4pack_mm_for_cpu`) wants a multiple of 16 outputs and of 32 inputs:
    `fits` says whether a layer has them.
    """

    bits = 4
    GROUP = 32

    @classmethod
    def fits(cls, linear: torch.nn.Linear) -> bool:
        return linear.out_features % 16 == 0 and linear.in_features % cls.GROUP == 0

    def __init__(self, linear: torch.nn.Linear):
        super().__init__()
        if not self.fits(linear):
            raise ValueError(f"int4 weights need a multiple of 16 outputs and {self.GROUP} inputs, "
                             f"not {linear.out_features} x {linear.in_features}")
        self._store_shape_and_bias(linear)
        weight = linear.weight.detach().float()
        groups = weight.view(self.out_features, -1, self.GROUP)
        low, high = groups.amin(dim=-1, keepdim=True), groups.amax(dim=-1, keepdim=True)
        # Rounded to bfloat16 (the kernel's type) first, so the levels are chosen for the scale and
        # offset it will use. The kernel computes (level - 8) * scale + offset.
        scale = ((high - low) / 15).clamp(min=1e-12).to(torch.bfloat16).float()
        offset = (low + 8 * scale).to(torch.bfloat16).float()
        levels = ((groups - offset) / scale + 8).round().clamp(0, 15)
        self.register_buffer("weight", torch._convert_weight_to_int4pack_for_cpu(
            levels.view(self.out_features, self.in_features).to(torch.int32), 1))
        # (in / 32, out, 2): each group's scale and offset, the layout the kernel reads.
        self.register_buffer("scales_and_offsets",
                             torch.stack([scale, offset], dim=-1).squeeze(2).transpose(0, 1).contiguous().to(torch.bfloat16))

    def _matmul(self):
        weight, scales_and_offsets, group = self.weight, self.scales_and_offsets, self.GROUP
        return lambda rows: torch._weight_int4pack_mm_for_cpu(rows, weight, group, scales_and_offsets)


def for_inference(model: GPT, precision: str) -> GPT:
    """The model in evaluation mode with its weights stored in `precision` (see pick_inference_precision).

    "int8" replaces every linear layer by an `Int8Linear` (the output layer gets its own int8 copy
    of the tied embedding) and stores everything else, the KV cache with it, in bfloat16. "int4"
    does the same with `Int4Linear`, keeping int8 for a layer whose shape the int4 kernel does not
    take. Both only on a CPU: they are the CPU's fast forms, and a GPU has bfloat16 / float16 for that.
    """
    if precision not in INFERENCE_PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(INFERENCE_PRECISIONS)}, got {precision!r}")
    model.eval()
    if precision not in ("int8", "int4"):
        return model.to(dtype=getattr(torch, precision))
    if next(model.parameters()).device.type != "cpu":
        raise PrecisionUnavailable(f"precision {precision} runs on a CPU only; on this device use bfloat16 or float16")
    if precision == "int8" and not int8_kernel_exists():
        raise PrecisionUnavailable(f"precision int8 needs a newer torch than {torch.__version__}; use float32 or bfloat16")
    if precision == "int4" and not int4_kernel_works():
        raise PrecisionUnavailable(f"precision int4 needs torch's int4 kernel for CPUs (torch 2.6 and newer), which this torch "
                         f"({torch.__version__}) lacks or takes in another form; use int8, float32 or bfloat16")
    _replace_linear_layers(model, precision)
    return model.to(dtype=torch.bfloat16)  # the packed weights are integers and stay as they are


def _replace_linear_layers(module: torch.nn.Module, precision: str) -> None:
    for name, child in module.named_children():
        if isinstance(child, torch.nn.Linear):
            use_int4 = precision == "int4" and Int4Linear.fits(child)
            setattr(module, name, Int4Linear(child) if use_int4 else Int8Linear(child))
        else:
            _replace_linear_layers(child, precision)


def load_model(checkpoint_file: str | os.PathLike, tok_path: str | os.PathLike | None = None,
               device: torch.device | str = "cpu", precision: str | None = None) -> LoadedModel:
    """Load a checkpoint and its tokenizer for sampling; refuse a tokenizer it was not trained with.

    The weights are stored in `precision`, by default the fastest for generating on the device
    (int4 on most CPUs, see pick_inference_precision); pass "float32" for exact results.
    """
    checkpoint = load_checkpoint(checkpoint_file, map_location=device)
    cfg = checkpoint_config(checkpoint)
    tok_path = Path(tok_path or cfg.tok_path)
    tokenizer = load_tokenizer(tok_path)
    check_tokenizer(checkpoint, file_fingerprint(tok_path), tok_path)
    model = GPT(cfg.replace(dropout=0.0))
    load_weights(model, checkpoint, checkpoint_file)
    device = torch.device(device)
    precision = precision or pick_inference_precision(device)
    model = for_inference(model.to(device), precision)
    return LoadedModel(model, tokenizer, _checkpoint_info(checkpoint, checkpoint_file, precision))


def read_checkpoint_info(checkpoint_file: str | os.PathLike, tok_path: str | os.PathLike | None = None,
                         device: torch.device | str = "cpu") -> dict:
    """The `checkpoint_info` that load_model would give, after the same checks, without reading the weights.

    The file is mapped, not read, and its tensors are checked against the model's names and shapes
    on the meta device: 0.06 s for the default recipe's 240 MB checkpoint on a Zen 5, against
    0.4-1.8 s of a core to load and pack it. So the app describes each checkpoint a run saves
    without taking the cores the run trains on, and reads the weights when it is asked for text.
    """
    checkpoint = load_checkpoint(checkpoint_file, mmap=True)
    cfg = checkpoint_config(checkpoint)
    tok_path = Path(tok_path or cfg.tok_path)
    check_tokenizer(checkpoint, file_fingerprint(tok_path), tok_path)
    with torch.device("meta"):
        shapes_only = GPT(cfg.replace(dropout=0.0))
    load_weights(shapes_only, checkpoint, checkpoint_file, assign=True)  # assigned, not copied: nothing is read
    return _checkpoint_info(checkpoint, checkpoint_file, pick_inference_precision(torch.device(device)))


def _checkpoint_info(checkpoint: dict, checkpoint_file: str | os.PathLike, precision: str) -> dict:
    info = {key: checkpoint.get(key) for key in ("step", "val_loss", "val_bpb", "saved_at")}
    info["cfg"] = checkpoint["cfg"]
    info["reproducibility"] = checkpoint.get("reproducibility")  # None in checkpoints of older versions
    info["precision"] = precision
    info["path"] = str(checkpoint_file)
    return info
