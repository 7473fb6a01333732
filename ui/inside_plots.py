"""Pictures of what happens inside the model: attention heatmaps, readable token labels, how surprising a token is.

The numbers come from `gpt.attention_maps` and `gpt.probabilities`; this module only draws them.
A heatmap's rows are the query tokens (the one looking), its columns the key tokens (the ones
looked at), the first token on top, so a causal map is a lower triangle.
"""

from __future__ import annotations

import math
from typing import Sequence

import plotly.graph_objects as go
import torch

# Characters a label cannot show as themselves.
SHOWN_AS = str.maketrans({"\n": "↵", "\t": "⇥", "\r": "␍"})


def attention_figure(maps: torch.Tensor, token_labels: Sequence[str], layer: int, head: int | None,
                     title: str = "") -> go.Figure:
    """The attention of one head of `layer` (or the mean of its heads for head None) as a T x T heatmap.

    `maps` is (n_layer, n_head, T, T) from `gpt.attention_maps.attention_maps`, `token_labels` the
    T tokens' texts. Labels are prefixed by their position: plotly merges equal category labels,
    and a text repeats the same token often.
    """
    n_layer, n_head, T, _ = maps.shape
    if not 0 <= layer < n_layer:
        raise ValueError(f"layer {layer} is outside 0 .. {n_layer - 1}")
    if head is not None and not 0 <= head < n_head:
        raise ValueError(f"head {head} is outside 0 .. {n_head - 1}")
    if len(token_labels) != T:
        raise ValueError(f"{len(token_labels)} labels for {T} tokens")
    weights = maps[layer].mean(dim=0) if head is None else maps[layer, head]  # (T, T)
    labels = unique_labels(token_labels)
    heatmap = go.Heatmap(
        z=weights.float().tolist(), x=labels, y=labels, colorscale="Blues", zmin=0.0,
        hovertemplate="%{y} → %{x}<br>%{z:.3f}<extra></extra>",
    )
    side = min(260 + 14 * T, 900)  # room for every label of a short text, and a limit for a long one
    layout = go.Layout(
        title={"text": title}, height=side, margin={"l": 90, "r": 20, "t": 40 if title else 20, "b": 90},
        xaxis={"type": "category", "tickangle": -60, "constrain": "domain"},
        yaxis={"type": "category", "autorange": "reversed", "scaleanchor": "x"},
        template="plotly_white",
    )
    return go.Figure(data=[heatmap], layout=layout)


def unique_labels(token_labels: Sequence[str]) -> list[str]:
    """"position text" for each token, with newlines and tabs made visible."""
    return [f"{position} {label.translate(SHOWN_AS)}" for position, label in enumerate(token_labels)]


def surprise_strength(bits: float, vocab_size: int) -> float:
    """How surprising a token that cost `bits` is, from 0 (expected) to 1: what a random guess costs
    (log2 of the vocabulary size) and beyond."""
    random_guess_bits = math.log2(vocab_size) if vocab_size > 1 else 1.0
    return min(max(bits / random_guess_bits, 0.0), 1.0)
