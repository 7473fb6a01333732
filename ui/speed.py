"""How long a training step of a config will take here, before it is trained.

Two configs are timed once on this device (a tiny one and the CPU preset): a fixed cost per step
plus FLOPs at the measured rate. The Train tab's summary uses it for every config a visitor
shapes with the sliders; "Measure step time" times the exact config instead.
"""

from __future__ import annotations

import threading

from gpt import Config, PRESETS, time_training_step, training_flops_per_token

from .page_cost import on_all_cores

CALIBRATION_PRESET = "cpu_quick"


class StepTimeModel:
    def __init__(self):
        self._lock = threading.Lock()
        self._fit: tuple[float, float] | None = None  # (seconds per step regardless of size, seconds per FLOP)

    @property
    def ready(self) -> bool:
        return self._fit is not None

    def calibrate(self, base: Config) -> None:
        """Time the calibration configs once (later calls return at once)."""
        with self._lock:
            if self._fit is not None:
                return
            big = base.replace(**PRESETS[CALIBRATION_PRESET])
            small = big.replace(n_layer=1, n_embd=32, n_head=2, block_size=32, batch_size=4)
            # On the cores training gets, in a thread that ends (see ui.page_cost.on_all_cores).
            (flops_small, seconds_small), (flops_big, seconds_big) = [
                (step_flops(cfg), on_all_cores(time_training_step, cfg, 3)) for cfg in (small, big)]
            seconds_per_flop = max((seconds_big - seconds_small) / (flops_big - flops_small), 1e-15)
            self._fit = (max(seconds_small - flops_small * seconds_per_flop, 0.0), seconds_per_flop)

    def estimate(self, cfg: Config) -> float | None:
        if self._fit is None:
            return None
        overhead, seconds_per_flop = self._fit
        return overhead + step_flops(cfg) * seconds_per_flop


def step_flops(cfg: Config) -> float:
    return training_flops_per_token(cfg) * cfg.tokens_per_step
