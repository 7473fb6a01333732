"""Where each head looks: the causal attention probabilities of every layer and head for one sequence.

The model computes attention in a fused kernel (`scaled_dot_product_attention`) that never holds
the probabilities, and its code stays as it is for that. Instead a forward hook on each layer's
`qkv` projection catches the queries and keys it puts out, and the probabilities are computed
again here: softmax(q k^T / sqrt(head size)) under the causal mask. The hook sees the output of
an int8 quantized projection (`gpt.inference.for_inference`) just as well, since that is float too.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

from .model import GPT


def attention_maps(model: GPT, ids: Sequence[int]) -> torch.Tensor:
    """(n_layer, n_head, T, T) float32 on the CPU: row i is how query token i shares its attention over tokens 0..i.

    Every row adds up to 1 and everything above the diagonal is 0. At most block_size ids.
    """
    cfg = model.cfg
    if not ids:
        raise ValueError("attention maps need at least one token")
    if len(ids) > cfg.block_size:
        raise ValueError(f"sequence of {len(ids)} tokens is longer than block_size ({cfg.block_size})")
    device = next(model.parameters()).device
    projections: dict[int, torch.Tensor] = {}

    def keep_output_of(layer: int):
        def hook(module, inputs, output):
            projections[layer] = output
        return hook

    handles = [block.attn.qkv.register_forward_hook(keep_output_of(layer)) for layer, block in enumerate(model.blocks)]
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            model(torch.tensor([list(ids)], dtype=torch.long, device=device))
            return torch.stack([_probabilities(projections[layer], cfg.n_head) for layer in range(cfg.n_layer)]).cpu()
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)


def _probabilities(qkv: torch.Tensor, n_head: int) -> torch.Tensor:
    """From one layer's qkv output (1, T, 3C) to its heads' attention probabilities (nh, T, T)."""
    _, T, three_c = qkv.shape
    C = three_c // 3
    head_size = C // n_head
    q, k, _ = qkv[0].float().split(C, dim=-1)  # (T, C) each
    q, k = (t.view(T, n_head, head_size).transpose(0, 1) for t in (q, k))  # (nh, T, hs)
    scores = q @ k.transpose(-2, -1) / math.sqrt(head_size)  # (nh, T, T)
    later = torch.ones(T, T, dtype=torch.bool, device=qkv.device).triu(diagonal=1)  # keys after the query
    return scores.masked_fill(later, float("-inf")).softmax(dim=-1)
