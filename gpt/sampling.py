"""How the next token is chosen: the sampling options, their checks, and the choice itself.

`SamplingOptions` is the one place a sampling setting lives. Generation (`gpt.generate`), the
CLI's flags, the Sample tab's controls, the API's parameters, the samples at each evaluation and
the bench all take it whole, so a new option (say min_p) is a field and its check here, a few
lines in `next_token_distribution`, and its label in each locale.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch

from .controls import setting
from .locales import Text


@dataclass(frozen=True)
class SamplingOptions:
    temperature: float = setting(0.9, "sampling", low=0.0, high=2.0, step=0.05)
    top_k: int = setting(50, "sampling", low=0, high=1000, step=1)
    top_p: float = setting(1.0, "sampling", low=0.05, high=1.0, step=0.05)
    max_new_tokens: int = setting(250, "sampling", low=1, high=1000, step=1)
    seed: int | None = setting(None, "sampling", widget="number")  # None (the app's -1): a new text every time

    def problems(self, names: dict[str, str] | None = None) -> list[tuple[str, Text]]:
        """Every bad value as (field, message); `names` renames fields (the config calls max_new_tokens
        sample_max_new_tokens)."""
        names = names or {}
        found = []

        def need(condition: bool, field_name: str, key: str, **values) -> None:
            if not condition:
                shown = names.get(field_name, field_name)
                found.append((shown, Text(key, name=shown, **values)))

        temperature, top_k, top_p, length = self.temperature, self.top_k, self.top_p, self.max_new_tokens
        need(_is_number(temperature) and math.isfinite(temperature) and temperature >= 0, "temperature",
             "sampling.temperature", value=temperature)
        need(_is_number(top_k) and top_k >= 0, "top_k", "sampling.top_k", value=top_k)
        need(_is_number(top_p) and 0 < top_p <= 1, "top_p", "sampling.top_p", value=top_p)
        need(_is_number(length) and length >= 1, "max_new_tokens", "sampling.max_new_tokens", value=length)
        return found

    def replace(self, **changes) -> "SamplingOptions":
        return dataclasses.replace(self, **changes)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def next_token_distribution(logits: torch.Tensor, options: SamplingOptions) -> tuple[torch.Tensor, torch.Tensor | None]:
    """From logits (B, V) to what the sampler draws from: (probabilities (B, n), their token ids or None for all V).

    Temperature scales the logits; top-k keeps the k best (at or above the vocabulary: no cut);
    top-p then keeps the smallest set of best candidates whose probabilities add up to p (the best
    one always stays). Probabilities of the tokens cut are 0, the rest add up to 1 (renormalised by
    the draw). Only the kept candidates are sorted and normalised: drawing from all 24000
    probabilities cost more per token on a CPU than a layer of the model did.
    """
    logits = logits.float()
    if 0 < options.top_k < logits.size(-1):
        candidates, candidate_ids = torch.topk(logits, options.top_k, dim=-1)  # best first
    elif options.top_p < 1.0:
        candidates, candidate_ids = torch.sort(logits, descending=True, dim=-1)
    else:
        candidates, candidate_ids = logits, None
    probabilities = (candidates / options.temperature).softmax(dim=-1)
    if options.top_p < 1.0:
        before = probabilities.cumsum(dim=-1) - probabilities
        probabilities = probabilities.masked_fill(before >= options.top_p, 0.0)
        probabilities = probabilities / probabilities.sum(dim=-1, keepdim=True)
    return probabilities, candidate_ids


def pick_next_token(logits: torch.Tensor, options: SamplingOptions,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """From logits (B, V) to token ids (B, 1): greedy at temperature 0, else drawn from the distribution."""
    if options.temperature <= 0:
        return logits.argmax(dim=-1, keepdim=True)
    probabilities, candidate_ids = next_token_distribution(logits, options)
    choice = torch.multinomial(probabilities, num_samples=1, generator=generator)  # (B, 1)
    return choice if candidate_ids is None else candidate_ids.gather(-1, choice)
