"""Learning-rate schedules: one function each, registered by name.

    @schedule("cosine", warmup_steps=50)
    def cosine(cfg, step): ...

The config accepts exactly the names registered here, the app offers them as choices, and
`scripts/compare_schedules.py` races them against each other (with the settings registered beside
each one). A new schedule is one function in this file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from .config import Config


@dataclass(frozen=True)
class Schedule:
    learning_rate: Callable[["Config", int], float]
    suggested: dict = field(default_factory=dict)  # settings it is meant to be tried with


SCHEDULES: dict[str, Schedule] = {}


def schedule(name: str, **suggested):
    def register(function):
        SCHEDULES[name] = Schedule(function, suggested)
        return function
    return register


def learning_rate(cfg: "Config", step: int) -> float:
    """The learning rate of the optimizer step that follows `step` steps."""
    return SCHEDULES[cfg.lr_schedule].learning_rate(cfg, step)


def _warmup(cfg: "Config", step: int) -> float:
    """The linear ramp over the first warmup_steps (1 once past it, or without warmup)."""
    return min(1.0, (step + 1) / cfg.warmup_steps) if cfg.warmup_steps else 1.0


@schedule("constant", warmup_steps=0)
def constant(cfg: "Config", step: int) -> float:
    """The original recipe: the same rate throughout (after an optional warmup)."""
    return cfg.lr * _warmup(cfg, step)


@schedule("cosine", warmup_steps=50)
def cosine(cfg: "Config", step: int) -> float:
    """Linear warmup, then half a cosine from lr down to min_lr at max_steps (and min_lr after)."""
    if step < cfg.warmup_steps:
        return cfg.lr * _warmup(cfg, step)
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps))
    return cfg.min_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (cfg.lr - cfg.min_lr)
