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

from .config import ARCHITECTURE_FIELDS, Config
from .files import write_atomically
from .locales import Text

FORMAT_VERSION = 1
REQUIRED_KEYS = ("format_version", "model", "optim", "step", "cfg", "tokenizer")


class CheckpointError(ValueError):
    """A checkpoint that cannot be used, with the reason in plain words."""


class ArchitectureMismatch(CheckpointError):
    """The checkpoint's model shape differs from the requested config."""

    def __init__(self, path: Path, differences: dict[str, tuple]):
        self.path = path
        self.differences = differences
        super().__init__(Text("checkpoint.architecture_cli", differences=self.describe_differences()))

    def describe_differences(self) -> Text:
        listed = [Text("checkpoint.difference", name=name, saved=saved, requested=requested)
                  for name, (saved, requested) in self.differences.items()]
        return Text("checkpoint.architecture", path=str(self.path), listed=listed)


class TokenizerMismatch(CheckpointError):
    """The checkpoint was trained with another tokenizer than the one given."""


def save_checkpoint(path: str | os.PathLike, **contents) -> Path:
    """Write atomically (see gpt.files): a crash while saving leaves the previous checkpoint as it was."""
    payload = {"format_version": FORMAT_VERSION, "saved_at": time.time(), **contents}
    return write_atomically(path, lambda file: torch.save(payload, file))


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu", mmap: bool = False) -> dict:
    """Load and check a checkpoint; raise CheckpointError saying what is wrong with it.

    `mmap` maps the tensors instead of reading them: what lists or describes runs reads only the small entries.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(Text("checkpoint.missing", path=str(path)))
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols before refusing; the error says it all
            warnings.simplefilter("ignore")
            checkpoint = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except FileNotFoundError:  # gone since the check: deleted, or a fresh run moving the old one aside
        raise CheckpointError(Text("checkpoint.missing", path=str(path))) from None
    except pickle.UnpicklingError as error:
        text = _plain(str(error))
        if _is_raw_pickle(path):
            raise CheckpointError(Text("checkpoint.raw_pickle", path=str(path))) from None
        if "Unsupported global" in text:
            # weights_only refuses anything but tensors and plain data: this file wants to run code.
            # Without torch's next sentence, which says how to allowlist the global: not advice for this file.
            reason = next((line for line in text.splitlines() if "Unsupported" in line), "").split(" Please use")[0][:200]
            raise CheckpointError(Text("checkpoint.unsafe", path=str(path), reason=reason.strip())) from None
        raise CheckpointError(Text("checkpoint.corrupt", path=str(path), reason=text.splitlines()[0][:200])) from None
    except Exception as error:  # truncated zip, random bytes, an empty or text file: all just unreadable
        if _is_raw_pickle(path):  # what torch says of one when mapping (it refuses before unpickling)
            raise CheckpointError(Text("checkpoint.raw_pickle", path=str(path))) from None
        first_line = (_plain(str(error)).splitlines() or [type(error).__name__])[0][:200]
        raise CheckpointError(Text("checkpoint.unreadable", path=str(path), reason=first_line)) from None
    if not isinstance(checkpoint, dict) or any(key not in checkpoint for key in REQUIRED_KEYS):
        missing = ", ".join(k for k in REQUIRED_KEYS if not isinstance(checkpoint, dict) or k not in checkpoint)
        raise CheckpointError(Text("checkpoint.not_ours", path=str(path), missing=missing))
    if checkpoint["format_version"] > FORMAT_VERSION:
        raise CheckpointError(Text("checkpoint.newer_format", path=str(path), found=checkpoint["format_version"],
                                   reads=FORMAT_VERSION))
    return checkpoint


def _is_raw_pickle(path: Path) -> bool:
    """A pickle written without torch.save's zip container: it may run code when unpickled."""
    with open(path, "rb") as file:
        return file.read(2) in (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")


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
        raise TokenizerMismatch(Text("checkpoint.other_tokenizer", saved=saved.get("fingerprint"),
                                     vocab_size=saved.get("vocab_size", "?"), path=str(path), fingerprint=fingerprint))


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


def load_weights(model: torch.nn.Module, checkpoint: dict, path: str | os.PathLike, assign: bool = False) -> None:
    """Put the checkpoint's weights into the model; CheckpointError when they do not fit its config
    (a file edited or assembled by hand: the names or shapes of its tensors differ from the model's).

    `assign` makes the model's parameters the checkpoint's tensors instead of copying them.
    """
    try:
        model.load_state_dict(checkpoint["model"], assign=assign)
    except (RuntimeError, KeyError, TypeError, AttributeError) as error:
        reason = (_plain(str(error)).strip().splitlines() or [type(error).__name__])[0][:200]
        raise CheckpointError(Text("checkpoint.weights_do_not_fit", path=str(path), reason=reason)) from None


def model_state(model: torch.nn.Module) -> dict:
    """The state dict without the prefix torch.compile adds, so compiled and eager runs share files."""
    return {key.removeprefix("_orig_mod."): value for key, value in model.state_dict().items()}
