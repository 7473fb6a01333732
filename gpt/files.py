"""Writing a file so that a crash never leaves half of it: a temporary file, then a rename.

`write_atomically` writes to `.<name>.tmp` beside the target, flushes it to disk, renames it over
the target (atomic on every file system we run on) and flushes the folder too, so that the
rename itself survives a power cut. One fixed temporary name per target: a process killed while
writing leaves at most that file, replaced the next time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO, Callable


def temporary_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path.with_name(f".{path.name}.tmp")


def write_atomically(path: str | os.PathLike, content: bytes | str | Callable[[BinaryIO], None]) -> Path:
    """Write bytes, UTF-8 text or whatever `content(file)` writes to path, all of it or nothing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_path(path)
    try:
        with open(temporary, "wb") as file:
            if callable(content):
                content(file)
            else:
                file.write(content.encode("utf-8") if isinstance(content, str) else content)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    sync_folder(path.parent)
    return path


def sync_folder(folder: Path) -> None:
    """Make renames inside folder durable (POSIX; a no-op where folders cannot be opened)."""
    if hasattr(os, "O_DIRECTORY"):
        handle = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)
