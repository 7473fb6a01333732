"""Generating token ids from a model: the prompt once (prefill), then one token at a time.

Every layer's keys and values are kept in a `KVCache`, so a new token attends to the past
without recomputing it; greedy output is identical to the plain loop that re-runs the whole
window each token. The model only knows positions below block_size: when the cache is full it
restarts from the last half window (one prefill every block_size/2 tokens, not one every token).
How each next token is chosen is `gpt.sampling`'s business. `generate_steps` is the loop, and
also gives the logits each token was drawn from (what `gpt.probabilities` shows); `generate`
gives the ids alone.
"""

from __future__ import annotations

import contextlib
from typing import Iterator, NamedTuple

import torch

from .device import autocast
from .model import GPT
from .sampling import SamplingOptions, pick_next_token


class KVCache:
    """Keys and values of every layer for the tokens seen so far: (layers, B, nh, block_size, hs)."""

    def __init__(self, model: GPT, batch_size: int, device: torch.device, dtype: torch.dtype):
        cfg = model.cfg
        shape = (cfg.n_layer, batch_size, cfg.n_head, cfg.block_size, cfg.n_embd // cfg.n_head)
        self.keys = torch.zeros(shape, device=device, dtype=dtype)
        self.values = torch.zeros(shape, device=device, dtype=dtype)
        self.length = 0
        # Each layer's (B, nh, block_size, hs) view, made once: a token's update then slices only time.
        self._layers = list(zip(self.keys.unbind(0), self.values.unbind(0)))

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store the new keys and values of one layer; return all of them so far."""
        keys, values = self._layers[layer]
        start, new = self.length, k.size(2)
        keys.narrow(2, start, new).copy_(k)
        values.narrow(2, start, new).copy_(v)
        return keys.narrow(2, 0, start + new), values.narrow(2, 0, start + new)

    def advance(self, new_tokens: int) -> None:
        self.length += new_tokens

    def reset(self) -> None:
        self.length = 0


class GenerationStep(NamedTuple):
    """One new token and the logits (V,) it was chosen from, before any sampling setting acted on them."""

    token_id: int
    logits: torch.Tensor


def generate_steps(
    model: GPT,
    prompt_ids: list[int],
    options: SamplingOptions,
    generator: torch.Generator | None = None,
    use_cache: bool = True,
    dtype: torch.dtype = torch.float32,
) -> Iterator[GenerationStep]:
    """Yield options.max_new_tokens steps one at a time. Prompts longer than block_size keep their last window.

    `dtype` is an autocast type for a float32 model (as in training); a model already stored in a
    smaller type or in int8 (see `gpt.inference.for_inference`) runs as it is. The logits come as
    float32 whatever the model computed them in (bfloat16 values convert exactly).
    """
    if not prompt_ids:
        raise ValueError("generation needs at least one prompt token")
    was_training = model.training
    model.eval()
    block_size = model.cfg.block_size
    device = next(model.parameters()).device
    ids = list(prompt_ids[-block_size:])  # the window the model sees, as plain ints
    # Under autocast keys and values are kept in its type (attention runs in it anyway). Otherwise a
    # CPU keeps them in float32 whatever the weights' type: one query's attention over the cache
    # took 4-6x as long in bfloat16 (37 against 8 us a layer at 128 past tokens), a sixth of a token.
    if dtype != torch.float32:
        cache_dtype = dtype
    elif device.type == "cpu":
        cache_dtype = torch.float32
    else:
        cache_dtype = next(model.parameters()).dtype
    cache = KVCache(model, 1, device, cache_dtype) if use_cache else None
    forward_one_token = model.one_token_forward() if use_cache else None

    def next_logits(tokens: torch.Tensor, one_new_token: bool = False) -> torch.Tensor:
        # Every mode is entered and left within one call, never held across a `yield`: leaving
        # inference mode restores the thread's dispatch state, which silently switched off an
        # autocast entered inside it, and the caller may change modes between two tokens.
        with torch.inference_mode(), autocast(device, dtype):
            if one_new_token:
                return forward_one_token(tokens, cache).float()
            return model(tokens, cache=cache)[0][:, -1, :].float()

    def as_tensor(window: list[int]) -> torch.Tensor:
        return torch.tensor([window], dtype=torch.long, device=device)  # (1, T)

    try:
        logits = next_logits(as_tensor(ids))
        for produced in range(1, options.max_new_tokens + 1):
            next_id = pick_next_token(logits, options, generator)  # (1, 1)
            token_id = int(next_id)
            yield GenerationStep(token_id, logits[0])
            if produced == options.max_new_tokens:
                break
            ids.append(token_id)
            if cache is None:
                del ids[:-block_size]
                logits = next_logits(as_tensor(ids))
            elif cache.length == block_size:
                # Positions end at block_size: start again from the last half window.
                del ids[:-(block_size // 2)]
                cache.reset()
                logits = next_logits(as_tensor(ids))
            else:
                logits = next_logits(next_id, one_new_token=True)
    finally:
        model.train(was_training)


def generate(
    model: GPT,
    prompt_ids: list[int],
    options: SamplingOptions,
    generator: torch.Generator | None = None,
    use_cache: bool = True,
    dtype: torch.dtype = torch.float32,
) -> Iterator[int]:
    """Yield options.max_new_tokens new token ids one at a time (see `generate_steps`, which also gives the logits)."""
    # Closed at once when the caller stops early, so the model is back in its mode right away.
    with contextlib.closing(generate_steps(model, prompt_ids, options, generator, use_cache, dtype)) as steps:
        for step in steps:
            yield step.token_id
