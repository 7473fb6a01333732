"""Reading the loss curve as the original tutorial advises, live, while training runs.

- The validation loss stops falling for several evaluations: suggest a lower learning rate.
- The validation loss rises while the training loss keeps falling: the model is memorising
  its training text (overfitting); point to `best.pt`, kept at the lowest validation loss.

`HealthMonitor.check` is given every evaluation and returns advice (plain sentences) when
one of these starts; each piece of advice is given once until the curve recovers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .locales import Text

PLATEAU_EVALUATIONS = 4  # evaluations without a 1% improvement before suggesting a lower lr
IMPROVEMENT = 0.01
OVERFIT_MARGIN = 0.03  # validation loss this far (3%) above its best counts as rising


@dataclass
class Advice:
    step: int
    kind: str  # "plateau" or "overfitting"
    message: Text  # in every language
    values: dict = field(default_factory=dict)  # the numbers in the message


@dataclass
class HealthMonitor:
    lr: float
    best_val_loss: float = float("inf")
    best_step: int = 0
    train_loss_at_best: float = float("inf")
    evaluations_since_best: int = 0
    given: set = field(default_factory=set)

    def check(self, step: int, train_loss: float, val_loss: float, best_path: str) -> list[Advice]:
        advice = []
        if val_loss < self.best_val_loss * (1 - IMPROVEMENT):
            self.evaluations_since_best = 0
            self.given.clear()  # the curve recovered: advice may be given again later
        else:
            self.evaluations_since_best += 1
        if val_loss < self.best_val_loss:
            self.best_val_loss, self.best_step, self.train_loss_at_best = val_loss, step, train_loss

        rising = val_loss > self.best_val_loss * (1 + OVERFIT_MARGIN)
        if rising and train_loss < self.train_loss_at_best and "overfitting" not in self.given:
            self.given.add("overfitting")
            values = dict(best=self.best_val_loss, best_step=self.best_step, val_loss=val_loss, best_path=best_path)
            advice.append(Advice(step, "overfitting", Text("health.overfitting", **values), values))
        elif self.evaluations_since_best >= PLATEAU_EVALUATIONS and "plateau" not in self.given:
            self.given.add("plateau")
            values = dict(evaluations=self.evaluations_since_best, best=self.best_val_loss, best_step=self.best_step,
                          suggested_lr=self.lr / 3, lr=self.lr)
            advice.append(Advice(step, "plateau", Text("health.plateau", **values), values))
        return advice
