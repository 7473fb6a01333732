"""Checkpoints: one versioned file holding everything needed to resume or sample.

`ckpt.pt` holds the model and optimizer state, the step, the config, the tokenizer it was
trained with (fingerprint and vocab size) and the loss history. It holds only tensors and
plain Python data, so it loads with `torch.load(weights_only=True)`: a file from the internet
cannot run code. Writing goes to a temporary file that is flushed to disk and then renamed
over the old one, so a crash while saving leaves the previous checkpoint intact.
"""

from __future__ import annotations

import os
import pickle
import re
import time
import warnings
from pathlib import Path

import torch

from .config import ARCHITECTURE_FIELDS, Config, run_name_problem

FORMAT_VERSION = 1
CHECKPOINT_NAME = "ckpt.pt"
BEST_NAME = "best.pt"
REQUIRED_KEYS = ("format_version", "model", "optim", "step", "cfg", "tokenizer")


class CheckpointError(ValueError):
    """A checkpoint that cannot be used, with the reason in plain words."""


class ArchitectureMismatch(CheckpointError):
    """The checkpoint's model shape differs from the requested config."""

    def __init__(self, path: Path, differences: dict[str, tuple]):
        self.path = path
        self.differences = differences
        super().__init__(
            f"{self.describe_differences()}. Resume it with its own architecture "
            f"(--keep_checkpoint_architecture) or start a new run (--fresh; the old checkpoint is kept "
            f"under a new name)")

    def describe_differences(self) -> str:
        listed = ", ".join(f"{name} {old} in the checkpoint vs {new} requested"
                           for name, (old, new) in self.differences.items())
        return f"the checkpoint {self.path} has a different architecture ({listed})"


class TokenizerMismatch(CheckpointError):
    """The checkpoint was trained with another tokenizer than the one given."""


def checkpoint_path(out_dir: str | os.PathLike, name: str = CHECKPOINT_NAME) -> Path:
    return Path(out_dir) / name


def list_runs(out_dir: str | os.PathLike) -> list[str]:
    """The runs with a checkpoint in out_dir: "" (the default run, out_dir/ckpt.pt) first, then named runs by name.

    A folder whose name is not a valid run name (or that leads outside out_dir) is not a run.
    """
    folder = Path(out_dir)
    runs = [""] if (folder / CHECKPOINT_NAME).is_file() else []
    if folder.is_dir():
        runs += sorted(entry.name for entry in folder.iterdir()
                       if run_name_problem(entry.name, str(folder)) is None and (entry / CHECKPOINT_NAME).is_file())
    return runs


def save_checkpoint(path: str | os.PathLike, **contents) -> Path:
    """Write atomically: temporary file, flush and fsync, rename over the old one, fsync the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format_version": FORMAT_VERSION, "saved_at": time.time(), **contents}
    # One fixed name: a process killed while saving leaves at most this file, replaced next time.
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        with open(temporary, "wb") as file:
            torch.save(payload, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable (POSIX)
        folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Load and check a checkpoint; raise CheckpointError saying what is wrong with it."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}; train a model first")
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols before refusing; the error says it all
            warnings.simplefilter("ignore")
            checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        text = _plain(str(error))
        with open(path, "rb") as file:
            is_raw_pickle = file.read(2) in (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")
        if is_raw_pickle:
            raise CheckpointError(f"refused to load {path}: it is a raw Python pickle, not a checkpoint of tensors "
                                  f"and plain data; such a file could run code") from None
        if "Unsupported global" in text:
            # weights_only refuses anything but tensors and plain data: this file wants to run code.
            # Without torch's next sentence, which says how to allowlist the global: not advice for this file.
            reason = next((line for line in text.splitlines() if "Unsupported" in line), "").split(" Please use")[0][:200]
            raise CheckpointError(f"refused to load {path}: it contains objects other than tensors and plain "
                                  f"data, which could run code ({reason.strip()})") from None
        raise CheckpointError(f"{path} is not a readable checkpoint (corrupt: {text.splitlines()[0][:200]})") from None
    except Exception as error:  # truncated zip, random bytes, an empty or text file: all just unreadable
        first_line = (_plain(str(error)).splitlines() or [type(error).__name__])[0][:200]
        raise CheckpointError(f"{path} is not a readable checkpoint (truncated or corrupt: {first_line})") from None
    if not isinstance(checkpoint, dict) or any(key not in checkpoint for key in REQUIRED_KEYS):
        raise CheckpointError(f"{path} is not a checkpoint of this project (missing "
                              f"{', '.join(k for k in REQUIRED_KEYS if not isinstance(checkpoint, dict) or k not in checkpoint)})")
    if checkpoint["format_version"] > FORMAT_VERSION:
        raise CheckpointError(f"{path} was written by a newer version of this project (format "
                              f"{checkpoint['format_version']}, this one reads {FORMAT_VERSION}); update the code")
    return checkpoint


def _plain(text: str) -> str:
    """Without the terminal colour codes torch puts in some messages."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def checkpoint_config(checkpoint: dict) -> Config:
    return Config.from_dict(checkpoint["cfg"])


def architecture_differences(saved: Config, requested: Config) -> dict[str, tuple]:
    return {name: (getattr(saved, name), getattr(requested, name))
            for name in ARCHITECTURE_FIELDS if getattr(saved, name) != getattr(requested, name)}


def check_tokenizer(checkpoint: dict, fingerprint: str, path: str | os.PathLike) -> None:
    saved = checkpoint["tokenizer"]
    if saved.get("fingerprint") != fingerprint:
        raise TokenizerMismatch(
            f"the checkpoint was trained with a different tokenizer (fingerprint {saved.get('fingerprint')}, "
            f"{saved.get('vocab_size', '?')} tokens) than {path} (fingerprint {fingerprint}); its output would be "
            f"garbage. Use the tokenizer it was trained with, or train a new model (--fresh)")


def archive_checkpoint(path: str | os.PathLike) -> Path | None:
    """Rename an old run's checkpoint out of the way (never delete it); return its new path."""
    path = Path(path)
    if not path.exists():
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(path.stat().st_mtime))
    target = path.with_name(f"{path.stem}-{stamp}{path.suffix}")
    counter = 1
    while target.exists():
        target = path.with_name(f"{path.stem}-{stamp}-{counter}{path.suffix}")
        counter += 1
    os.replace(path, target)
    return target


def model_state(model: torch.nn.Module) -> dict:
    """The state dict without the prefix torch.compile adds, so compiled and eager runs share files."""
    return {key.removeprefix("_orig_mod."): value for key, value in model.state_dict().items()}
