"""A checkpoint loaded for writing text: its weights in the fastest precision, its tokenizer checked.

`load_model` refuses a tokenizer the checkpoint was not trained with (its text would be garbage),
stores the weights for generating (see `pick_inference_precision`: int8 on most CPUs, a quarter
of float32's bytes to read per token) and returns a `LoadedModel` that streams text.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import torch
from tokenizers import Tokenizer

from .checkpoint import check_tokenizer, checkpoint_config, load_checkpoint, load_weights
from .device import INFERENCE_PRECISIONS, pick_inference_precision
from .generate import generate
from .model import GPT
from .sampling import SamplingOptions
from .text import TextStream
from .tokenizer import end_of_text_id, fingerprint, load_tokenizer


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


def for_inference(model: GPT, precision: str) -> GPT:
    """The model in evaluation mode with its weights stored in `precision` (see pick_inference_precision).

    "int8" replaces every linear layer by PyTorch's dynamically quantized one; embeddings, LayerNorms
    and the KV cache stay float32. The output layer gets its own int8 copy of the tied embedding.
    """
    if precision not in INFERENCE_PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(INFERENCE_PRECISIONS)}, got {precision!r}")
    model.eval()
    if precision != "int8":
        return model.to(dtype=getattr(torch, precision))
    with warnings.catch_warnings():
        # torch.ao.quantization announces its move to the torchao package; it works in every torch we support.
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model.float(), {torch.nn.Linear}, dtype=torch.qint8, inplace=True)


def load_model(checkpoint_file: str | os.PathLike, tok_path: str | os.PathLike | None = None,
               device: torch.device | str = "cpu", precision: str | None = None) -> LoadedModel:
    """Load a checkpoint and its tokenizer for sampling; refuse a tokenizer it was not trained with.

    The weights are stored in `precision`, by default the fastest for generating on the device
    (int8 on most CPUs, see pick_inference_precision); pass "float32" for exact results.
    """
    checkpoint = load_checkpoint(checkpoint_file, map_location=device)
    cfg = checkpoint_config(checkpoint)
    tok_path = Path(tok_path or cfg.tok_path)
    tokenizer = load_tokenizer(tok_path)
    check_tokenizer(checkpoint, fingerprint(tokenizer), tok_path)
    model = GPT(cfg.replace(dropout=0.0))
    load_weights(model, checkpoint, checkpoint_file)
    device = torch.device(device)
    precision = precision or pick_inference_precision(device)
    model = for_inference(model.to(device), precision)
    info = {key: checkpoint.get(key) for key in ("step", "val_loss", "val_bpb", "saved_at")}
    info["cfg"] = checkpoint["cfg"]
    info["reproducibility"] = checkpoint.get("reproducibility")  # None in checkpoints of older versions
    info["precision"] = precision
    info["path"] = str(checkpoint_file)
    return LoadedModel(model, tokenizer, info)
