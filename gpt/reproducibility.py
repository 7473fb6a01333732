"""The reproducibility card: what it takes to train the same run again, saved in every checkpoint.

    card = reproducibility_card(setup)        # a dict of plain data (checkpoint["reproducibility"])
    retrain_command(card)                     # python scripts/train_gpt.py ... --fresh
    describe(card)                            # the lines the Sample tab and `sample.py --info` show

Same config, same seed, same data (the fingerprints tell) and same number type on the same kind
of device give the same losses at every step in float32 on a CPU (tests/test_reproducibility.py).
Other number types, other CPUs or GPUs, or other torch versions round differently, so the card
names them too.
"""

from __future__ import annotations

import dataclasses
import hashlib
import platform
import shlex
import subprocess
from pathlib import Path

import torch

from .config import Config
from .device import cpu_features
from .locales import Text

PROJECT_FOLDER = Path(__file__).resolve().parent.parent
RETRAIN_SCRIPT = "scripts/train_gpt.py"
# What a retrain must not leave to "auto": it would pick again, maybe otherwise on another machine.
PINNED_FIELDS = ("device", "dtype", "compile", "seed")


def file_fingerprint(path: str | Path) -> str | None:
    """The first 16 hex digits of the file's SHA-256 (None when it does not exist)."""
    path = Path(path)
    if not path.is_file():
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def git_commit(folder: Path = PROJECT_FOLDER) -> tuple[str | None, bool]:
    """The project's commit and whether files differ from it; (None, False) outside a git clone."""
    if not (folder / ".git").exists():
        return None, False
    try:
        commit = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        changes = subprocess.run(["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
                                 capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):  # no git program, or a broken clone: nothing to record
        return None, False
    return commit or None, bool(changes)


def cpu_name() -> str:
    """The processor's model name where the system tells it (Linux, macOS), else its architecture."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def package_version() -> str:
    from . import __version__
    return __version__


def reproducibility_card(cfg: Config, device: torch.device, dtype_name: str, compiled: bool,
                         tokenizer_fingerprint: str, resumed_from: int | None) -> dict:
    commit, changed = git_commit()
    return {
        "seed": cfg.seed,
        "package_version": package_version(),
        "git_commit": commit,
        "git_uncommitted_changes": changed,
        "torch_version": str(torch.__version__),  # a TorchVersion would not load with weights_only
        "python_version": platform.python_version(),
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name(),
        "cpu_features": str(cpu_features()),
        "dtype": dtype_name,
        "compiled": compiled,
        "train_bin_sha256": file_fingerprint(cfg.train_bin),
        "val_bin_sha256": file_fingerprint(cfg.val_bin),
        "tokenizer_fingerprint": tokenizer_fingerprint,
        "resumed_from_step": resumed_from,  # None: this session trained from step 0
        "config": dataclasses.asdict(cfg),
    }


def retrain_command(card: dict) -> str:
    """One command line that trains this run again from scratch (the old checkpoint is archived, not lost).

    Flags for the settings that differ from the defaults, plus the pinned ones, whatever they are.
    """
    cfg = Config.from_dict(card["config"])
    pinned = {"device": card["device"].split(":")[0], "dtype": card["dtype"],
              "compile": "on" if card.get("compiled") else "off", "seed": cfg.seed}
    default = Config()
    words = ["python", RETRAIN_SCRIPT]
    for field in dataclasses.fields(Config):
        value = pinned.get(field.name, getattr(cfg, field.name))
        if field.name in PINNED_FIELDS or value != getattr(default, field.name):
            text = ("on" if value else "off") if isinstance(value, bool) else str(value)
            words += [f"--{field.name}", text]
    return shlex.join(words + ["--fresh"])


def describe(card: dict) -> list[Text]:
    """The card as lines for a person, in any language (see gpt.locales)."""
    commit = card.get("git_commit")
    source = (Text("repro.git", commit=commit[:12], changed=Text("repro.git_changed") if card.get(
        "git_uncommitted_changes") else "") if commit else Text("repro.no_git"))
    lines = [
        Text("repro.versions", package=card["package_version"], torch=card["torch_version"],
             python=card.get("python_version", "?"), source=source),
        Text("repro.device", device=card["device"], name=card.get("device_name") or "?", dtype=card["dtype"],
             features=card["cpu_features"]),
        Text("repro.seed", seed=card["seed"]),
        Text("repro.data", train=card["train_bin_sha256"] or "?", val=card["val_bin_sha256"] or "?",
             tokenizer=card["tokenizer_fingerprint"]),
    ]
    if card.get("resumed_from_step") is not None:
        lines.append(Text("repro.resumed", step=card["resumed_from_step"]))
    return lines
