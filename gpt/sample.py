"""Generating text from a trained model: KV cache, temperature / top-k / top-p, safe decoding.

Generation feeds the prompt once (prefill), then one token at a time, keeping every layer's
keys and values in a `KVCache` so a new token attends to the past without recomputing it.
Greedy output is identical to the plain loop that re-runs the whole window each token.
The model only knows positions below block_size: when the cache is full it restarts from the
last half window (one prefill every block_size/2 tokens instead of one every token).

Byte-level BPE can split a Korean syllable (3 bytes) across tokens; `TextStream` holds such
pieces back until the character is whole, so streamed text never shows a broken character.
"""

from __future__ import annotations

import codecs
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import torch
from tokenizers import Tokenizer

from .checkpoint import check_tokenizer, checkpoint_config, load_checkpoint
from .device import INFERENCE_PRECISIONS, autocast, pick_inference_precision
from .model import GPT
from .tokenizer import END_OF_TEXT, end_of_text_id, fingerprint, load_tokenizer

class KVCache:
    """Keys and values of every layer for the tokens seen so far: (layers, B, nh, block_size, hs)."""

    def __init__(self, model: GPT, batch_size: int, device: torch.device, dtype: torch.dtype):
        cfg = model.cfg
        shape = (cfg.n_layer, batch_size, cfg.n_head, cfg.block_size, cfg.n_embd // cfg.n_head)
        self.keys = torch.zeros(shape, device=device, dtype=dtype)
        self.values = torch.zeros(shape, device=device, dtype=dtype)
        self.length = 0

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store the new keys and values of one layer; return all of them so far."""
        end = self.length + k.size(2)
        self.keys[layer, :, :, self.length:end] = k
        self.values[layer, :, :, self.length:end] = v
        return self.keys[layer, :, :, :end], self.values[layer, :, :, :end]

    def advance(self, new_tokens: int) -> None:
        self.length += new_tokens

    def reset(self) -> None:
        self.length = 0


def pick_next_token(logits: torch.Tensor, temperature: float, top_k: int = 0, top_p: float = 1.0,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """From logits (B, V) to token ids (B, 1): greedy at temperature 0, else sampled.

    Sampling draws among the top_k candidates only: drawing from all 24000 probabilities cost
    more per token on a CPU than a layer of the model did.
    """
    if temperature <= 0:
        return logits.argmax(dim=-1, keepdim=True)
    logits = logits.float()
    if 0 < top_k < logits.size(-1):  # top_k at or above the vocabulary size means no cut
        candidates, candidate_ids = torch.topk(logits, top_k, dim=-1)  # best first
    elif top_p < 1.0:
        candidates, candidate_ids = torch.sort(logits, descending=True, dim=-1)
    else:
        candidates, candidate_ids = logits, None
    probabilities = (candidates / temperature).softmax(dim=-1)
    if top_p < 1.0:
        # Nucleus: the smallest set of best candidates whose probabilities add up to top_p.
        # The best one always stays (nothing comes before it).
        before = probabilities.cumsum(dim=-1) - probabilities
        probabilities = probabilities.masked_fill(before >= top_p, 0.0)
    choice = torch.multinomial(probabilities, num_samples=1, generator=generator)  # (B, 1)
    return choice if candidate_ids is None else candidate_ids.gather(-1, choice)


def generate(
    model: GPT,
    prompt_ids: list[int],
    max_new_tokens: int,
    temperature: float = 0.9,
    top_k: int = 50,
    top_p: float = 1.0,
    generator: torch.Generator | None = None,
    use_cache: bool = True,
    dtype: torch.dtype = torch.float32,
) -> Iterator[int]:
    """Yield new token ids one at a time. Prompts longer than block_size keep their last window.

    `dtype` is an autocast type for a float32 model (as in training); a model already stored in a
    smaller type or in int8 (see `for_inference`) runs as it is.
    """
    if not prompt_ids:
        raise ValueError("generation needs at least one prompt token")
    was_training = model.training
    model.eval()
    block_size = model.cfg.block_size
    device = next(model.parameters()).device
    context = torch.tensor([prompt_ids[-block_size:]], dtype=torch.long, device=device)  # (1, T)
    # Keys and values come out in the autocast type, or else in the weights' own type.
    cache_dtype = dtype if dtype != torch.float32 else next(model.parameters()).dtype
    cache = KVCache(model, 1, device, cache_dtype) if use_cache else None

    def next_logits(tokens: torch.Tensor) -> torch.Tensor:
        # Every mode is entered and left within one call, never held across a `yield`: leaving
        # inference mode restores the thread's dispatch state, which silently switched off an
        # autocast entered inside it, and the caller may change modes between two tokens.
        with torch.inference_mode(), autocast(device, dtype):
            return model(tokens, cache=cache)[0][:, -1, :]

    try:
        logits = next_logits(context)
        for produced in range(1, max_new_tokens + 1):
            next_id = pick_next_token(logits, temperature, top_k, top_p, generator)  # (1, 1)
            yield int(next_id)
            if produced == max_new_tokens:
                break
            context = torch.cat([context, next_id], dim=1)[:, -block_size:]
            if cache is None:
                logits = next_logits(context)
            elif cache.length == block_size:
                # Positions end at block_size: start again from the last half window.
                cache.reset()
                logits = next_logits(context[:, -(block_size // 2):])
            else:
                logits = next_logits(next_id)
    finally:
        model.train(was_training)


class TextStream:
    """Turn token ids into text pieces, never emitting half of a multi-byte character.

    Tokens are turned back into their bytes and fed to an incremental UTF-8 decoder, which holds
    an unfinished character until its last byte arrives. Bytes that can never form a character
    (an untrained model emits those) are dropped rather than shown as a replacement mark, and so
    are control characters other than newline and tab.
    """

    def __init__(self, tokenizer: Tokenizer):
        self.token_bytes = token_bytes_table(tokenizer)
        self.end_of_text = end_of_text_id(tokenizer)
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="ignore")

    def push(self, token_id: int) -> str:
        if token_id == self.end_of_text:
            return self.flush() + f"\n{END_OF_TEXT}\n"
        return self.decoder.decode(self.token_bytes[token_id]).translate(INVISIBLE_CONTROLS)

    def flush(self) -> str:
        return self.decoder.decode(b"", final=True).translate(INVISIBLE_CONTROLS)


# Control characters other than newline and tab (NUL, escape, carriage return, ...): an undertrained
# model emits them, and a terminal or text box would act on them instead of showing them.
INVISIBLE_CONTROLS = {code: None for code in [*range(0x00, 0x20), *range(0x7F, 0xA0)] if chr(code) not in "\n\t"}


def token_bytes_table(tokenizer: Tokenizer) -> list[bytes]:
    """The bytes each token id stands for, from byte-level BPE's printable stand-ins for bytes."""
    byte_of_character = {character: byte for byte, character in enumerate(_byte_level_alphabet())}
    table = [b""] * tokenizer.get_vocab_size()
    for token, token_id in tokenizer.get_vocab().items():
        if token_id != end_of_text_id(tokenizer):
            table[token_id] = bytes(byte_of_character[character] for character in token)
    return table


def _byte_level_alphabet() -> list[str]:
    """GPT-2's mapping: printable bytes stand for themselves, the other 68 are shifted past 255."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    characters, shifted = [], 0
    for byte in range(256):
        if byte in printable:
            characters.append(chr(byte))
        else:
            characters.append(chr(256 + shifted))
            shifted += 1
    return characters


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

    def stream(self, prompt: str, max_new_tokens: int = 250, temperature: float = 0.9, top_k: int = 50,
               top_p: float = 1.0, seed: int | None = None) -> Iterator[str]:
        """Yield text pieces as they are generated."""
        device = next(self.model.parameters()).device
        generator = torch.Generator(device=device)
        if seed is not None:
            generator.manual_seed(seed)
        else:
            generator.seed()
        text = TextStream(self.tokenizer)
        for token_id in generate(self.model, self.prompt_ids(prompt), max_new_tokens, temperature,
                                 top_k, top_p, generator):
            if piece := text.push(token_id):
                yield piece
        if rest := text.flush():
            yield rest

    def complete(self, prompt: str, **options) -> str:
        return "".join(self.stream(prompt, **options))


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
    model.load_state_dict(checkpoint["model"])
    device = torch.device(device)
    precision = precision or pick_inference_precision(device)
    model = for_inference(model.to(device), precision)
    info = {key: checkpoint.get(key) for key in ("step", "val_loss", "val_bpb", "saved_at")}
    info["cfg"] = checkpoint["cfg"]
    info["precision"] = precision
    info["path"] = str(checkpoint_file)
    return LoadedModel(model, tokenizer, info)
