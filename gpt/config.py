"""The one training configuration: fields, defaults, how each appears in the app, and the checks.

Every field is a CLI flag of the same name (`gpt.cli`). A field declared with `setting(...)`
also gets a control in the app's Train tab (or the Data tab for `vocab_size`) and a parameter
of the `/train` API, with the widget and range written beside it here; its label and help text
are `field.<name>` and `field.<name>.info` in each locale. So a new control is one field here
(plus its check in `problems()`) and one label per language.

`problems()` lists every bad value in plain words; the app shows each next to its control, the
CLI prints them and exits.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

from .controls import setting
from .locales import Text
from .run_name import run_name_problem
from .sampling import SamplingOptions
from .schedules import SCHEDULES

# A uint16 token file cannot hold ids above this.
MAX_VOCAB_SIZE = 65535
# Byte-level BPE starts from all 256 byte values, plus our end-of-text token.
MIN_VOCAB_SIZE = 257

# Fields that fix the shape of the model's weights: a checkpoint can only resume if they match.
ARCHITECTURE_FIELDS = ("vocab_size", "block_size", "n_layer", "n_head", "n_embd")

DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("auto", "float32", "bfloat16", "float16")
COMPILE_MODES = ("auto", "on", "off")
POSITIVE_WHOLE_NUMBERS = ("block_size", "n_layer", "n_head", "n_embd", "batch_size", "grad_accum_steps", "max_steps",
                          "eval_interval", "eval_iters", "log_interval")


def _devices():
    from .device import available_devices  # the devices of this machine, asked when the page is built
    return available_devices()


def _dtypes():
    from .device import offered_dtypes
    return offered_dtypes()


def _schedules():
    return list(SCHEDULES)


@dataclass
class Config:
    # Model shape.
    block_size: int = setting(256, "model", low=8, high=1024, step=8)
    n_layer: int = setting(6, "model", low=1, high=24, step=1)
    n_head: int = setting(6, "model", low=1, high=16, step=1)
    n_embd: int = setting(384, "model", low=16, high=1024, step=16)
    dropout: float = setting(0.1, "model", low=0.0, high=0.5, step=0.05)
    # Optimisation.
    batch_size: int = setting(16, "optimisation", low=1, high=128, step=1)
    lr: float = setting(3e-4, "optimisation", widget="number", low=0.0, step=1e-4)
    max_steps: int = setting(20000, "optimisation", low=1, high=50000, step=1)
    grad_clip: float = setting(1.0, "optimisation", low=0.0, high=5.0, step=0.1)
    lr_schedule: str = setting("constant", "optimisation", widget="radio", choices=_schedules)  # see gpt.schedules
    # Evaluation, and the samples printed at each one.
    eval_interval: int = setting(500, "evaluation", low=1, high=5000, step=1)
    eval_iters: int = setting(100, "evaluation", low=1, high=500, step=1)
    sample_every_eval: bool = setting(True, "evaluation")
    # The same prompt and seed at every evaluation (kept in the run's history); empty: a new document.
    sample_prompt: str = setting("", "evaluation")
    sample_max_new_tokens: int = setting(250, "evaluation", low=1, high=1000, step=1)
    temperature: float = setting(0.9, "evaluation", low=0.0, high=2.0, step=0.05)
    top_k: int = setting(50, "evaluation", low=0, high=1000, step=1)
    # Where it runs: float16 is offered where a GPU has it; by name (the API, the CLI) it is accepted anywhere.
    device: str = setting("auto", "device", choices=_devices)
    dtype: str = setting("auto", "device", choices=_dtypes, custom_values=True)
    # Where results go: empty is the default run, checkpoints directly in out_dir; else out_dir/run_name.
    run_name: str = setting("", "run", in_presets=False)
    # A TensorBoard log in the run's folder (gpt.tensorboard_log): tensorboard --logdir checkpoints.
    tensorboard: bool = setting(True, "run", in_presets=False)
    # The tokenizer's size, used when data is prepared (a prepared tokenizer tells its own).
    vocab_size: int = setting(24000, "data", low=MIN_VOCAB_SIZE, high=MAX_VOCAB_SIZE, step=1)

    # Data and where results go (CLI flags only).
    train_bin: str = "data/train.bin"
    val_bin: str = "data/val.bin"
    tok_path: str = "data/tokenizer.json"
    out_dir: str = "checkpoints"
    # What a real trainer needs beyond the original recipe.
    grad_accum_steps: int = 1  # batches summed into one optimizer step (tokens per step x this)
    val_fraction: float = 0.01  # share of the tokens held out for validation
    builtin_corpus: str = "ko"  # job postings generated when no data exists yet (see gpt.corpus)
    weight_decay: float = 0.01  # torch's AdamW default, as in the original recipe
    warmup_steps: int = 0
    min_lr: float = 3e-5  # the floor of the cosine schedule
    log_interval: int = 10  # steps between loss reports (each one costs a device sync)
    seed: int = 1337
    compile: str = "auto"  # torch.compile: "auto" (long CUDA runs only), "on" or "off"

    def problems(self, train_tokens: int | None = None, val_tokens: int | None = None) -> list[tuple[str, Text]]:
        """Every bad value as (field, message). Token counts, when known, check block_size too."""
        found: list[tuple[str, Text]] = []

        def need(condition: bool, field_name: str, key: str, **values) -> None:
            if not condition:
                found.append((field_name, Text(key, **values)))

        for name in POSITIVE_WHOLE_NUMBERS:
            value = getattr(self, name)
            need(isinstance(value, int) and value > 0, name, "config.positive_whole_number", name=name, value=repr(value))
        sampling_problems = self.sampling().problems(names={"max_new_tokens": "sample_max_new_tokens"})
        found += [(name, message) for name, message in sampling_problems if name != "top_p"]
        need(self.warmup_steps >= 0, "warmup_steps", "config.warmup_negative", value=self.warmup_steps)
        if self.n_head > 0 and self.n_embd > 0:
            need(self.n_embd % self.n_head == 0, "n_embd", "config.n_embd_divisible", n_embd=self.n_embd,
                 n_head=self.n_head)
        need(0.0 <= self.dropout < 1.0, "dropout", "config.dropout", value=self.dropout)
        lr_is_positive = math.isfinite(self.lr) and self.lr > 0
        need(lr_is_positive, "lr", "config.lr_positive", value=self.lr)
        need(self.lr <= 1.0, "lr", "config.lr_too_high", value=self.lr)
        need(not lr_is_positive or (math.isfinite(self.min_lr) and 0 <= self.min_lr <= self.lr), "min_lr",
             "config.min_lr", lr=self.lr, value=self.min_lr)
        need(math.isfinite(self.grad_clip) and self.grad_clip >= 0, "grad_clip", "config.grad_clip", value=self.grad_clip)
        need(0 <= self.weight_decay <= 1, "weight_decay", "config.weight_decay", value=self.weight_decay)
        need(MIN_VOCAB_SIZE <= self.vocab_size <= MAX_VOCAB_SIZE, "vocab_size", "config.vocab_size",
             low=MIN_VOCAB_SIZE, high=MAX_VOCAB_SIZE, value=self.vocab_size)
        need(0.0 < self.val_fraction < 0.5, "val_fraction", "config.val_fraction", value=self.val_fraction)
        need(self.eval_interval <= self.max_steps, "eval_interval", "config.eval_interval_after_max_steps",
             eval_interval=self.eval_interval, max_steps=self.max_steps)
        need(self.warmup_steps < max(self.max_steps, 1) or self.lr_schedule == "constant", "warmup_steps",
             "config.warmup_too_long", warmup_steps=self.warmup_steps, max_steps=self.max_steps)
        for name, allowed in (("lr_schedule", tuple(SCHEDULES)), ("builtin_corpus", _corpus_names()),
                              ("compile", COMPILE_MODES), ("device", DEVICES), ("dtype", DTYPES)):
            need(getattr(self, name) in allowed, name, "config.one_of", name=name, allowed=", ".join(allowed),
                 value=repr(getattr(self, name)))
        for name in ("train_bin", "val_bin", "tok_path", "out_dir"):
            need(bool(str(getattr(self, name)).strip()), name, "config.empty_path", name=name)
        if (problem := run_name_problem(self.run_name, self.out_dir)) is not None:
            found.append(("run_name", problem))
        if self.block_size > 0:
            # A batch needs block_size + 1 consecutive tokens (inputs plus the shifted targets).
            for split, tokens in (("validation", val_tokens), ("training", train_tokens)):
                if tokens is not None:
                    need(tokens > self.block_size, "block_size", f"config.block_size_needs_{split}_tokens",
                         block_size=self.block_size, tokens=tokens)
        return found

    def validate(self, train_tokens: int | None = None, val_tokens: int | None = None) -> None:
        """Raise ConfigError listing every problem, or return quietly."""
        found = self.problems(train_tokens, val_tokens)
        if found:
            raise ConfigError(found)

    @property
    def run_dir(self) -> Path:
        """The folder of this run's checkpoints (out_dir itself for the default run); ConfigError for a bad name."""
        if problem := run_name_problem(self.run_name, self.out_dir):
            raise ConfigError([("run_name", problem)])
        return Path(self.out_dir) / self.run_name if self.run_name else Path(self.out_dir)

    @property
    def tokens_per_step(self) -> int:
        """Tokens in one optimizer step: batch_size windows of block_size, grad_accum_steps times."""
        return self.batch_size * self.block_size * self.grad_accum_steps

    def sampling(self) -> SamplingOptions:
        """The options of the samples written at each evaluation."""
        return SamplingOptions(temperature=self.temperature, top_k=self.top_k,
                               max_new_tokens=self.sample_max_new_tokens)

    def architecture(self) -> dict:
        return {name: getattr(self, name) for name in ARCHITECTURE_FIELDS}

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "Config":
        """Build from a dict, ignoring keys this version does not know (old checkpoints)."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    def replace(self, **changes) -> "Config":
        return dataclasses.replace(self, **changes)


def _corpus_names() -> tuple[str, ...]:
    from .corpus import corpus_names  # the built-in corpora registered in gpt/corpus/
    return corpus_names()


# Named starting points: changes to the defaults (the original recipe). "cpu_quick" was tuned by
# measurement on a 2-core CPU: samples of the built-in corpus read like job postings (headers,
# bullet lists, salaries) after about 300 steps, 2-3 minutes. The app labels them "preset.<name>".
PRESETS = {
    "cpu_quick": dict(block_size=128, n_layer=4, n_head=4, n_embd=128, dropout=0.0, batch_size=8, lr=2e-3,
                      max_steps=800, eval_interval=100, eval_iters=10, sample_max_new_tokens=200),
    "original_recipe": {},
}


class ConfigError(ValueError):
    """Bad configuration values; `problems` holds (field, message) pairs."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(message for _, message in problems))


__all__ = ["ARCHITECTURE_FIELDS", "Config", "ConfigError", "MAX_VOCAB_SIZE", "MIN_VOCAB_SIZE", "PRESETS",
           "run_name_problem"]
