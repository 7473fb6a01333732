"""Where the app keeps data and checkpoints, and whether they survive a restart."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from gpt import Config, list_runs, Run


@dataclass
class Storage:
    root: Path
    temporary: bool = False

    @classmethod
    def for_this_machine(cls, app_dir: Path) -> "Storage":
        """`/data` on a Hugging Face Space with persistent storage; the app folder elsewhere."""
        if override := os.environ.get("GPT_STORAGE_DIR"):
            return cls(Path(override))
        on_space = bool(os.environ.get("SPACE_ID"))
        persistent = Path("/data")
        if on_space and persistent.is_dir() and os.access(persistent, os.W_OK):
            return cls(persistent)
        return cls(app_dir, temporary=on_space)

    def config(self, **values) -> Config:
        return Config(train_bin=str(self.root / "data" / "train.bin"), val_bin=str(self.root / "data" / "val.bin"),
                      tok_path=str(self.root / "data" / "tokenizer.json"), out_dir=str(self.root / "checkpoints"),
                      **values)

    def run(self, name: str = "") -> Run:
        """A run of this storage ("" the default run); its `folder` raises ConfigError for a bad name."""
        return Run(Path(self.config().out_dir), name)

    def runs(self) -> list[str]:
        """The runs that have a checkpoint: "" (the default run) first, then the named ones."""
        return list_runs(self.config().out_dir)
