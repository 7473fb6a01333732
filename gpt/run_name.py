"""What a run may be called: one folder name inside the checkpoints folder, never a path."""

from __future__ import annotations

import unicodedata
from pathlib import Path

from .locales import Text

MAX_LENGTH = 64
# Names Windows keeps for devices, with or without an extension: a folder cannot be called so there.
# The default run's TensorBoard log (and its archived ones) sit in out_dir under this name (gpt.tensorboard_log).
LOG_FOLDER = "tensorboard"
WINDOWS_DEVICE_NAMES = {"con", "prn", "aux", "nul", *(f"com{n}" for n in range(1, 10)),
                        *(f"lpt{n}" for n in range(1, 10))}


def run_name_problem(name: object, out_dir: str = "checkpoints") -> Text | None:
    """What is wrong with a run name, saying what a run name may be; None when it is fine ("" is the default run).

    A run name becomes one folder inside out_dir, so it must never be a path: no separators,
    no "..", no drive or absolute form, nothing a file system treats specially.
    """
    if name == "":
        return None
    if not isinstance(name, str):
        return Text("run_name.not_text", value=repr(name))
    shown = f"'{name}'" if name.isprintable() else repr(name)
    not_allowed = sorted({c for c in name if not (c in "-_. " or unicodedata.category(c)[0] in "LM"
                                                 or unicodedata.category(c) == "Nd")})
    if len(name) > MAX_LENGTH:
        wrong = Text("run_name.too_long", length=len(name))
        shown = f"'{name[:20]}…'" if name[:20].isprintable() else repr(name[:20]) + "…"
    elif not_allowed:
        wrong = Text("run_name.contains", characters=", ".join(f"'{c}'" if c.isprintable() else repr(c)
                                                                for c in not_allowed[:5]))
    elif ".." in name:
        wrong = Text("run_name.contains", characters="'..'")
    elif name[0] in ". ":
        wrong = Text("run_name.starts_with_dot" if name[0] == "." else "run_name.starts_with_space")
    elif name[-1] in ". ":
        wrong = Text("run_name.ends_with_dot" if name[-1] == "." else "run_name.ends_with_space")
    elif name.lower().endswith(".pt"):
        wrong = Text("run_name.ends_with_pt")
    elif name.split(".")[0].lower() in WINDOWS_DEVICE_NAMES:
        wrong = Text("run_name.windows_device")
    elif name.lower() == LOG_FOLDER or name.lower().startswith(LOG_FOLDER + "-"):
        wrong = Text("run_name.log_folder", name=LOG_FOLDER)
    else:
        # Defence in depth: whatever the rules above missed, the folder must stay inside out_dir.
        base = Path(out_dir).resolve()
        if (base / name).resolve().is_relative_to(base):
            return None
        wrong = Text("run_name.outside", out_dir=out_dir)
    rule = Text("run_name.rule", max_length=MAX_LENGTH, folder=Path(out_dir).name or out_dir)
    return Text("run_name.problem", shown=shown, wrong=wrong, rule=rule)
