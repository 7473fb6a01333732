"""A run's plan before it starts: how much data it sees for its size, and how often it sees it.

Two rules of thumb a learner can check before pressing Train:
- tokens per parameter: compute-optimal training sees about 20 tokens per parameter (Hoffmann
  et al. 2022, "Chinchilla"); far fewer leaves the model undertrained for its size, far more
  would have been better spent on a bigger model;
- passes over the training data (epochs): beyond a few the model starts to memorise the text,
  and the validation loss stops falling while the training loss still does (overfitting).
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import Config
from .locales import Text
from .model import count_parameters

COMPUTE_OPTIMAL_TOKENS_PER_PARAMETER = 20
# More passes than this and overfitting is likely on a small corpus: the summary warns.
MANY_PASSES = 10


@dataclass(frozen=True)
class Plan:
    tokens: int  # seen by the whole run: max_steps x tokens per step
    parameters: int
    train_tokens: int | None  # in train.bin, when data is prepared

    @classmethod
    def of(cls, cfg: Config, train_tokens: int | None) -> "Plan":
        return cls(cfg.max_steps * cfg.tokens_per_step, count_parameters(cfg), train_tokens)

    @property
    def tokens_per_parameter(self) -> float:
        return self.tokens / max(self.parameters, 1)

    @property
    def passes(self) -> float | None:
        """How many times the run reads the training data over (None while no data is prepared)."""
        return self.tokens / self.train_tokens if self.train_tokens else None

    @property
    def sees_the_data_many_times(self) -> bool:
        return self.passes is not None and self.passes > MANY_PASSES

    def describe(self) -> Text:
        ratio = self.tokens_per_parameter
        verdict = ("plan.under" if ratio < COMPUTE_OPTIMAL_TOKENS_PER_PARAMETER / 2 else
                   "plan.over" if ratio > COMPUTE_OPTIMAL_TOKENS_PER_PARAMETER * 2 else "plan.about")
        passes = (Text("plan.passes", passes=self.passes, train_tokens=self.train_tokens) if self.passes is not None
                  else Text("plan.no_data"))
        warning = Text("plan.overfitting", limit=MANY_PASSES) if self.sees_the_data_many_times else ""
        return Text("plan.summary", tokens=self.tokens, ratio=ratio, optimal=COMPUTE_OPTIMAL_TOKENS_PER_PARAMETER,
                    verdict=Text(verdict), passes=passes, warning=warning)
