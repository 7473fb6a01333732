"""The one training configuration: fields, defaults and the checks that explain bad values.

The CLI turns every field into a flag of the same name and the app into a control, so a new
field added here shows up in both. `problems()` lists every bad value in plain words; the app
shows each next to its control, the CLI prints them and exits.
"""

from __future__ import annotations

import dataclasses
import math
import unicodedata
from dataclasses import dataclass
from pathlib import Path

# A uint16 token file cannot hold ids above this.
MAX_VOCAB_SIZE = 65535
# Byte-level BPE starts from all 256 byte values, plus our end-of-text token.
MIN_VOCAB_SIZE = 257

# Fields that fix the shape of the model's weights: a checkpoint can only resume if they match.
ARCHITECTURE_FIELDS = ("vocab_size", "block_size", "n_layer", "n_head", "n_embd")

DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("auto", "float32", "bfloat16", "float16")
LR_SCHEDULES = ("constant", "cosine")
COMPILE_MODES = ("auto", "on", "off")
BUILTIN_CORPORA = ("ko", "en")
RUN_NAME_MAX_LENGTH = 64
# Names Windows keeps for devices, with or without an extension: a folder cannot be called so there.
WINDOWS_DEVICE_NAMES = {"con", "prn", "aux", "nul", *(f"com{n}" for n in range(1, 10)),
                        *(f"lpt{n}" for n in range(1, 10))}


@dataclass
class Config:
    # Data and where results go.
    train_bin: str = "data/train.bin"
    val_bin: str = "data/val.bin"
    tok_path: str = "data/tokenizer.json"
    out_dir: str = "checkpoints"
    run_name: str = ""  # empty: the default run, checkpoints directly in out_dir; else out_dir/run_name
    # Model shape.
    block_size: int = 256
    n_layer: int = 6
    n_head: int = 6
    n_embd: int = 384
    dropout: float = 0.1
    # Optimisation.
    batch_size: int = 16
    grad_accum_steps: int = 1  # batches summed into one optimizer step (tokens per step x this)
    lr: float = 3e-4
    max_steps: int = 20000
    eval_interval: int = 500
    eval_iters: int = 100
    grad_clip: float = 1.0
    # Samples printed at each evaluation.
    sample_every_eval: bool = True
    sample_max_new_tokens: int = 250
    temperature: float = 0.9
    top_k: int = 50
    # What a real trainer needs beyond the original recipe.
    vocab_size: int = 24000  # used when a tokenizer is trained; a loaded one tells its own
    val_fraction: float = 0.01  # share of the tokens held out for validation
    builtin_corpus: str = "ko"  # job postings generated when no data exists yet: "ko" or "en"
    weight_decay: float = 0.01  # torch's AdamW default, as in the original recipe
    lr_schedule: str = "constant"  # "constant" (original recipe) or "cosine" (warmup + decay)
    warmup_steps: int = 0
    min_lr: float = 3e-5  # the floor of the cosine schedule
    log_interval: int = 10  # steps between loss reports (each one costs a device sync)
    seed: int = 1337
    device: str = "auto"
    dtype: str = "auto"
    compile: str = "auto"  # torch.compile: "auto" (long CUDA runs only), "on" or "off"

    def problems(self, train_tokens: int | None = None, val_tokens: int | None = None) -> list[tuple[str, str]]:
        """Every bad value as (field, message). Token counts, when known, check block_size too."""
        found: list[tuple[str, str]] = []

        def need(condition: bool, name: str, message: str) -> None:
            if not condition:
                found.append((name, message))

        for name in ("block_size", "n_layer", "n_head", "n_embd", "batch_size", "grad_accum_steps", "max_steps",
                     "eval_interval", "eval_iters", "log_interval"):
            value = getattr(self, name)
            need(isinstance(value, int) and value > 0, name, f"{name} must be a positive whole number, got {value!r}")
        need(self.sample_max_new_tokens >= 1, "sample_max_new_tokens",
             f"sample_max_new_tokens must be at least 1, got {self.sample_max_new_tokens}")
        need(self.warmup_steps >= 0, "warmup_steps", f"warmup_steps cannot be negative, got {self.warmup_steps}")
        if self.n_head > 0 and self.n_embd > 0:
            need(self.n_embd % self.n_head == 0, "n_embd",
                 f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head}): "
                 f"each head gets n_embd / n_head dimensions")
        need(0.0 <= self.dropout < 1.0, "dropout", f"dropout must be in [0, 1), got {self.dropout}")
        need(math.isfinite(self.lr) and self.lr > 0, "lr", f"lr must be a positive number, got {self.lr}")
        need(self.lr <= 1.0, "lr", f"lr {self.lr} is far too high for AdamW and will diverge; try 3e-4")
        need(not (math.isfinite(self.lr) and self.lr > 0) or (math.isfinite(self.min_lr) and 0 <= self.min_lr <= self.lr), "min_lr",
             f"min_lr must be between 0 and lr ({self.lr}), got {self.min_lr}")
        need(math.isfinite(self.grad_clip) and self.grad_clip >= 0, "grad_clip",
             f"grad_clip must be zero (off) or positive, got {self.grad_clip}")
        need(0 <= self.weight_decay <= 1, "weight_decay", f"weight_decay must be between 0 and 1, got {self.weight_decay}")
        need(math.isfinite(self.temperature) and self.temperature >= 0, "temperature",
             f"temperature must be zero (greedy) or positive, got {self.temperature}")
        need(self.top_k >= 0, "top_k", f"top_k must be zero (off) or positive, got {self.top_k}")
        need(MIN_VOCAB_SIZE <= self.vocab_size <= MAX_VOCAB_SIZE, "vocab_size",
             f"vocab_size must be between {MIN_VOCAB_SIZE} (the 256 byte values plus end-of-text) and "
             f"{MAX_VOCAB_SIZE} (the largest id a uint16 token file can hold), got {self.vocab_size}")
        need(0.0 < self.val_fraction < 0.5, "val_fraction",
             f"val_fraction must be between 0 and 0.5, got {self.val_fraction}")
        need(self.eval_interval <= self.max_steps, "eval_interval",
             f"eval_interval ({self.eval_interval}) is larger than max_steps ({self.max_steps}): "
             f"no evaluation would ever run; lower eval_interval or raise max_steps")
        need(self.warmup_steps < max(self.max_steps, 1) or self.lr_schedule == "constant", "warmup_steps",
             f"warmup_steps ({self.warmup_steps}) must be smaller than max_steps ({self.max_steps})")
        need(self.lr_schedule in LR_SCHEDULES, "lr_schedule",
             f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got {self.lr_schedule!r}")
        need(self.builtin_corpus in BUILTIN_CORPORA, "builtin_corpus",
             f"builtin_corpus must be one of {', '.join(BUILTIN_CORPORA)}, got {self.builtin_corpus!r}")
        need(self.compile in COMPILE_MODES, "compile",
             f"compile must be one of {', '.join(COMPILE_MODES)}, got {self.compile!r}")
        need(self.device in DEVICES, "device", f"device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        need(self.dtype in DTYPES, "dtype", f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        for name in ("train_bin", "val_bin", "tok_path", "out_dir"):
            need(bool(str(getattr(self, name)).strip()), name, f"{name} cannot be empty")
        if (problem := run_name_problem(self.run_name, self.out_dir)) is not None:
            found.append(("run_name", problem))
        if self.block_size > 0:
            # A batch needs block_size + 1 consecutive tokens (inputs plus the shifted targets).
            if val_tokens is not None:
                need(val_tokens > self.block_size, "block_size",
                     f"block_size ({self.block_size}) needs more than {self.block_size} validation tokens, "
                     f"but the validation split has {val_tokens:,}; use a smaller block_size or more text")
            if train_tokens is not None:
                need(train_tokens > self.block_size, "block_size",
                     f"block_size ({self.block_size}) needs more than {self.block_size} training tokens, "
                     f"but the training split has {train_tokens:,}; use a smaller block_size or more text")
        return found

    def validate(self, train_tokens: int | None = None, val_tokens: int | None = None) -> None:
        """Raise ConfigError listing every problem, or return quietly."""
        found = self.problems(train_tokens, val_tokens)
        if found:
            raise ConfigError(found)

    @property
    def run_dir(self) -> Path:
        """The folder of this run's checkpoints (out_dir itself for the default run); ConfigError for a bad name."""
        return run_folder(self.out_dir, self.run_name)

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


# Named starting points: changes to the defaults (the original recipe). "cpu_quick" was tuned by
# measurement on a 2-core CPU: samples of the built-in corpus read like job postings (headers,
# bullet lists, salaries) after about 300 steps, 2-3 minutes.
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


def run_name_problem(name: object, out_dir: str = "checkpoints") -> str | None:
    """What is wrong with a run name, saying what a run name may be; None when it is fine ("" is the default run).

    A run name becomes one folder inside out_dir, so it must never be a path: no separators,
    no "..", no drive or absolute form, nothing a file system treats specially.
    """
    if name == "":
        return None
    if not isinstance(name, str):
        return f"run name must be text, got {name!r}"
    folder = Path(out_dir).name or out_dir
    shown = f"'{name}'" if name.isprintable() else repr(name)
    rule = (f"a run name may only use letters, digits, '-', '_', '.' and spaces, cannot start with '.' or a space, "
            f"and has at most {RUN_NAME_MAX_LENGTH} characters (it names a folder inside {folder}/)")
    not_allowed = sorted({c for c in name if not (c in "-_. " or unicodedata.category(c)[0] in "LM"
                                                 or unicodedata.category(c) == "Nd")})
    if len(name) > RUN_NAME_MAX_LENGTH:
        wrong = f"is {len(name)} characters long"
        shown = f"'{name[:20]}…'" if name[:20].isprintable() else repr(name[:20]) + "…"
    elif not_allowed:
        wrong = "contains " + ", ".join(f"'{c}'" if c.isprintable() else repr(c) for c in not_allowed[:5])
    elif ".." in name:
        wrong = "contains '..'"
    elif name[0] in ". ":
        wrong = "starts with '.'" if name[0] == "." else "starts with a space"
    elif name[-1] in ". ":
        wrong = "ends with '.'" if name[-1] == "." else "ends with a space"
    elif name.lower().endswith(".pt"):
        wrong = "ends with '.pt', like the default run's checkpoint files"
    elif name.split(".")[0].lower() in WINDOWS_DEVICE_NAMES:
        wrong = "is a device name on Windows"
    else:
        # Defence in depth: whatever the rules above missed, the folder must stay inside out_dir.
        base = Path(out_dir).resolve()
        if (base / name).resolve().is_relative_to(base):
            return None
        wrong = f"leads outside {out_dir}"
    return f"run name {shown} {wrong}: {rule}"


def run_folder(out_dir: str, run_name: str = "") -> Path:
    """out_dir for the default run (""), else out_dir/run_name; ConfigError for a name that is not a run name."""
    if problem := run_name_problem(run_name, out_dir):
        raise ConfigError([("run_name", problem)])
    return Path(out_dir) / run_name if run_name else Path(out_dir)


def config_fields() -> list[dataclasses.Field]:
    return list(dataclasses.fields(Config))

