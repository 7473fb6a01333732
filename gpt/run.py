"""A run: one training run's folder and the files in it, found, listed and loaded for sampling.

    checkpoints/ckpt.pt, best.pt                 the default run (run name "")
    checkpoints/<run name>/ckpt.pt, best.pt      a named run
    ckpt-20261201-201500.pt ...                  earlier runs of the same name, moved aside by --fresh

`ckpt.pt` is the latest checkpoint (model, optimizer, step, config, tokenizer, history), `best.pt`
a copy of it at the lowest validation loss. The app and the CLI find runs, their files and
their models through here, and ask here whether a config fits in memory before training it.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .checkpoint import load_checkpoint
from .config import Config, ConfigError
from .inference import LoadedModel, load_model, read_checkpoint_info
from .locales import Text
from .model import count_parameters, estimate_training_memory
from .run_name import LOG_FOLDER, run_name_problem

CHECKPOINT_NAME = "ckpt.pt"
BEST_NAME = "best.pt"
MEMORY_TIPS = "smaller batch_size, block_size 128, n_layer 4, n_embd 256"


@dataclass(frozen=True)
class Run:
    out_dir: Path
    name: str = ""  # "" is the default run, whose files sit directly in out_dir

    @classmethod
    def of(cls, cfg: Config) -> "Run":
        return cls(Path(cfg.out_dir), cfg.run_name)

    @property
    def folder(self) -> Path:
        """out_dir for the default run, else out_dir/name; ConfigError for a name that is not a run name."""
        if problem := run_name_problem(self.name, str(self.out_dir)):
            raise ConfigError([("run_name", problem)])
        return self.out_dir / self.name if self.name else self.out_dir

    @property
    def checkpoint(self) -> Path:
        return self.folder / CHECKPOINT_NAME

    @property
    def best(self) -> Path:
        return self.folder / BEST_NAME

    def has_checkpoint(self) -> bool:
        return self.checkpoint.is_file()

    def saved_step(self) -> int | None:
        """The step of the checkpoint on disk (None when there is none or it cannot be read)."""
        if not self.has_checkpoint():
            return None
        try:
            return int(load_checkpoint(self.checkpoint, mmap=True)["step"])  # mapped: after running out of memory too
        except (ValueError, KeyError):
            return None

    def load(self, tok_path: str | os.PathLike | None = None, device: torch.device | str = "cpu",
             precision: str | None = None) -> LoadedModel:
        """The latest checkpoint ready to sample (see gpt.inference.load_model)."""
        return load_model(self.checkpoint, tok_path, device, precision)

    def checkpoint_info(self, tok_path: str | os.PathLike | None = None) -> dict:
        """What load would say about the latest checkpoint, checked the same way, without reading its weights."""
        return read_checkpoint_info(self.checkpoint, tok_path)


@dataclass(frozen=True)
class RunSummary:
    """What the Runs tab and the /runs API show of a run, read from its latest checkpoint."""

    name: str
    step: int
    val_loss: float | None
    val_bpb: float | None
    parameters: int
    tokens_seen: int
    wall_seconds: float | None  # training time to the last evaluation, over every session
    precision: str
    saved_at: float | None
    cfg: dict
    history: list = field(default_factory=list)  # one dict per evaluation: step, losses, tokens, elapsed, sample

    def to_json(self) -> dict:
        """Plain data for the API: no config dict repeated per evaluation, no samples (they are long)."""
        curve = [{key: entry.get(key) for key in ("step", "train_loss", "val_loss", "val_bpb", "tokens", "elapsed")}
                 for entry in self.history]
        return {"name": self.name, "step": self.step, "val_loss": self.val_loss, "val_bpb": self.val_bpb,
                "parameters": self.parameters, "tokens_seen": self.tokens_seen, "wall_seconds": self.wall_seconds,
                "precision": self.precision, "saved_at": self.saved_at, "config": self.cfg, "curve": curve}


def summarize(run: Run) -> RunSummary:
    """The run's latest checkpoint summed up (CheckpointError when it cannot be read)."""
    checkpoint = load_checkpoint(run.checkpoint, mmap=True)
    cfg = Config.from_dict(checkpoint["cfg"])
    history = list(checkpoint.get("history") or [])
    card = checkpoint.get("reproducibility") or {}
    wall = history[-1].get("elapsed") if history else None
    return RunSummary(run.name, int(checkpoint["step"]), checkpoint.get("val_loss"), checkpoint.get("val_bpb"),
                      count_parameters(cfg), int(checkpoint["step"]) * cfg.tokens_per_step, wall,
                      card.get("dtype") or cfg.dtype, checkpoint.get("saved_at"), checkpoint["cfg"], history)


def delete_run(run: Run) -> list[Path]:
    """Remove a run's checkpoints, earlier ones moved aside, and logs; return what was removed.

    A named run is its folder. The default run shares out_dir with the named ones: only its own
    files go (ckpt*.pt, best*.pt, its TensorBoard logs), never another run's folder.
    """
    folder = run.folder
    if run.name:
        if not folder.is_dir():
            return []
        shutil.rmtree(folder)
        return [folder]
    removed = []
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        own_file = path.is_file() and path.suffix == ".pt" and path.stem.split("-")[0] in ("ckpt", "best")
        own_log = path.is_dir() and (path.name == LOG_FOLDER or path.name.startswith(LOG_FOLDER + "-"))
        if own_log:
            shutil.rmtree(path)
        elif own_file:
            path.unlink()
        else:
            continue
        removed.append(path)
    return removed


def list_runs(out_dir: str | os.PathLike) -> list[str]:
    """The names of the runs with a checkpoint in out_dir: "" (the default run) first, then named runs by name.

    A folder whose name is not a valid run name (or that leads outside out_dir) is not a run.
    """
    folder = Path(out_dir)
    runs = [""] if (folder / CHECKPOINT_NAME).is_file() else []
    if folder.is_dir():
        runs += sorted(entry.name for entry in folder.iterdir()
                       if run_name_problem(entry.name, str(folder)) is None and (entry / CHECKPOINT_NAME).is_file())
    return runs


def memory_problems(cfg: Config, device: torch.device) -> list[tuple[str, Text]]:
    """[("batch_size", why)] when a training step of cfg clearly cannot fit in the device's free memory, else []."""
    if device.type == "cuda":
        available = torch.cuda.mem_get_info(device)[0]
    elif hasattr(os, "sysconf") and "SC_AVPHYS_PAGES" in os.sysconf_names:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    else:
        return []
    needed = estimate_training_memory(cfg)
    if needed > 0.9 * available:
        return [("batch_size", Text("run.too_big_for_memory", needed=needed / 2**30, available=available / 2**30,
                                    tips=MEMORY_TIPS))]
    return []
