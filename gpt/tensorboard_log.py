"""A run's training log in TensorBoard's format, written from the loop's events.

    checkpoints/<run>/tensorboard/events.out.tfevents...    (tensorboard --logdir checkpoints)

TensorBoard, the Hugging Face Hub's Metrics tab and most experiment trackers read these files.
`TensorBoardLog.record(event)` takes every event of `gpt.train.train`; the loop passes them all
when `cfg.tensorboard` is on (the default), so the CLI, the app and torchrun runs log alike.

Scalars: train/loss (a batch), train/lr, train/tokens_per_second, train/grad_norm, eval/train_loss,
eval/val_loss, eval/val_bpb. Text: each evaluation's sample, and the config once. The config also
goes to the hparams plugin, so runs can be compared by setting.

A resumed run appends to the same folder. Steps after the checkpoint that an earlier session had
logged (it was killed before its next save) are written again; the new session's first event
marks them purged ("purge_step"), which TensorBoard honours, so each step is read once. A fresh
start that archives the old checkpoint moves the old log beside it.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from .run_name import LOG_FOLDER as FOLDER_NAME  # no run may be called so
# The tensors the hparams plugin links to the config (tags of scalars logged below).
HPARAM_METRICS = ("eval/val_loss", "eval/val_bpb")


def log_folder(run_folder: str | Path) -> Path:
    return Path(run_folder) / FOLDER_NAME


class TensorBoardLog:
    """Opened at the Started event of a session; records the events after it; closed at Finished."""

    def __init__(self, started):  # a gpt.train.Started event
        # tensorboardX takes about a second to import: only runs that log pay for it.
        from tensorboardX import SummaryWriter

        self.folder = log_folder(Path(started.checkpoint).parent)
        if started.archived_checkpoint and self.folder.is_dir():
            self.folder.rename(self.folder.with_name(f"{FOLDER_NAME}-{Path(started.archived_checkpoint).stem}"))
        is_new = not any(self.folder.glob("events.out.tfevents.*"))
        # tensorboardX names a file by the second it opened: a session resumed within that second
        # would overwrite it without a suffix of its own.
        self._writer = SummaryWriter(logdir=str(self.folder), purge_step=None if is_new else started.step + 1,
                                     flush_secs=30, filename_suffix=f".{time.time_ns()}")
        self.tokens_per_step = started.tokens_per_step
        if is_new:
            self._write_config(started.cfg)

    def _write_config(self, cfg) -> None:
        from tensorboardX.summary import hparams

        values = dataclasses.asdict(cfg)
        for summary in hparams(values, dict.fromkeys(HPARAM_METRICS, 0.0)):
            self._writer.file_writer.add_summary(summary)
        table = "\n".join(["| setting | value |", "|---|---|"] + [f"| {name} | `{value}` |" for name, value in values.items()])
        self._writer.add_text("config", table, 0)

    def record(self, event) -> None:
        from .train import CheckpointSaved, Evaluated, Finished, Sampled, StepDone  # the loop imports this module

        add_scalar = self._writer.add_scalar
        if isinstance(event, StepDone):
            add_scalar("train/loss", event.loss, event.step)
            add_scalar("train/lr", event.lr, event.step)
            add_scalar("train/tokens_per_second", event.tokens_per_second, event.step)
            if event.grad_norm is not None:
                add_scalar("train/grad_norm", event.grad_norm, event.step)
        elif isinstance(event, Evaluated):
            add_scalar("eval/train_loss", event.train_loss, event.step)
            add_scalar("eval/val_loss", event.val_loss, event.step)
            if event.val_bpb is not None:
                add_scalar("eval/val_bpb", event.val_bpb, event.step)
            add_scalar("eval/tokens_seen", event.step * self.tokens_per_step, event.step)
        elif isinstance(event, Sampled):
            # Markdown would eat the posting's line breaks and bullets: show it as written.
            self._writer.add_text("sample", "    " + event.text.replace("\n", "\n    "), event.step)
        elif isinstance(event, CheckpointSaved):
            self._writer.flush()  # what the checkpoint holds is on disk in the log too
        elif isinstance(event, Finished):
            self.close()

    def close(self) -> None:
        self._writer.close()
