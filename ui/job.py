"""The one training run of this server, in a background thread that any page can watch.

Training must outlive the page that started it: closing or reloading the tab only stops
watching. So the Train button starts a `TrainingJob` and then follows its `snapshot()`; a page
opened later follows the same job. Only one run at a time, and only its owner (the browser
that started it) may stop it; everyone else sees it read-only. Messages are kept as `Text`, so
every page shows them in its own language.
"""

from __future__ import annotations

import queue
import threading
import time
import traceback
from dataclasses import dataclass, field, replace

from gpt import (Advice, ArchitectureMismatch, CheckpointSaved, Config, ConfigError, Evaluated, Finished, Progress,
                 Sampled, Started, StepDone, TokenizerMismatch, USER_ERRORS)
from gpt.locales import Text
from gpt.train import train

MAX_LOG_LINES = 300


class JobBusy(RuntimeError):
    """Another run (or a data preparation) holds the server."""


@dataclass
class JobState:
    """Everything a page needs to draw the run; copied out under the lock."""

    status: str = "idle"  # idle, preparing_data, running, stopping, finished, failed
    version: int = 0  # grows on every change, so a watcher can skip unchanged frames
    owner: str = ""
    cfg: Config | None = None
    started_at: float = 0.0  # when this run was started: which run a page is watching
    start_step: int = 0
    step: int = 0
    max_steps: int = 0
    vocab_size: int = 0
    tokens_per_second: float = 0.0
    elapsed: float = 0.0  # seconds of training in this run
    train_losses: list = field(default_factory=list)  # (step, loss) at each log step
    evaluations: list = field(default_factory=list)  # dicts: step, train_loss, val_loss, val_bpb, sample (or None)
    samples: list = field(default_factory=list)  # (step, text)
    advice: list = field(default_factory=list)  # gpt.health.Advice, newest last
    log: list = field(default_factory=list)  # Text or str lines
    preparing: Progress | None = None
    checkpoint: str = ""
    saved_step: int | None = None  # of the last checkpoint this run saved
    finish_reason: str = ""
    message: Text | str = ""
    error_kind: str = ""  # config, data, architecture, tokenizer, crash, diverged, out_of_memory, failed
    error_detail: Text | str = ""  # for a checkpoint mismatch: just what differs, without the CLI's flags

    @property
    def active(self) -> bool:
        return self.status in ("preparing_data", "running", "stopping")

    @property
    def eta_seconds(self) -> float | None:
        if self.tokens_per_second <= 0 or not self.cfg:
            return None
        return (self.max_steps - self.step) * self.cfg.tokens_per_step / self.tokens_per_second


class TrainingJob:
    """Runs one training at a time: in a thread of its own, or on the thread that calls `work_here()`.

    `python app.py` gives training its main thread and serves the page from the others: PyTorch's
    OpenMP workers wait for work spinning only behind the process's first thread, and behind any
    other thread each small operation paid a wake-up (a step of the CPU preset took 15-20% longer).
    """

    def __init__(self, on_caller_thread: bool = False):
        self._lock = threading.Lock()
        self._state = JobState()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # With on_caller_thread, runs wait here for the thread that calls work_here().
        self._work: queue.Queue | None = queue.Queue() if on_caller_thread else None
        self._closing = threading.Event()
        self._done = threading.Event()
        self._done.set()

    def snapshot(self) -> JobState:
        with self._lock:
            state = self._state
            return replace(state, train_losses=list(state.train_losses), evaluations=list(state.evaluations),
                           samples=list(state.samples), log=list(state.log), advice=list(state.advice))

    def start(self, cfg: Config, owner: str, fresh: bool = False, keep_checkpoint_architecture: bool = False) -> None:
        """Start training in the background; JobBusy if something else runs."""
        with self._lock:
            if self._state.active:
                raise JobBusy("a training run is already in progress")
            self._stop.clear()
            self._state = JobState(status="running", owner=owner, cfg=cfg, started_at=time.time(),
                                   max_steps=cfg.max_steps, version=self._state.version + 1)
        self._done.clear()
        if self._work is not None:
            self._work.put((cfg, fresh, keep_checkpoint_architecture))
            return
        self._thread = threading.Thread(target=self._run, args=(cfg, fresh, keep_checkpoint_architecture),
                                        name="training", daemon=True)
        self._thread.start()

    def work_here(self, before=None) -> None:
        """Run every training on the calling thread (`before()` first), until `close()` (on_caller_thread jobs)."""
        if self._work is None:
            raise RuntimeError("this job trains in threads of its own: make it with on_caller_thread=True")
        if before is not None:
            before()
        while not self._closing.is_set():
            try:
                self._run(*self._work.get(timeout=0.2))
            except queue.Empty:
                continue

    def close(self) -> None:
        """Stop the run in progress (it saves a checkpoint) and end `work_here` once it has."""
        self._closing.set()
        with self._lock:
            self._stop.set()
            if self._state.status == "running":
                self._update(status="stopping")

    def stop(self, requester: str) -> bool:
        """Ask the run to stop after the current step; False if the requester does not own it."""
        with self._lock:
            if not self._state.active:
                return True
            if self._state.owner and requester != self._state.owner:
                return False
            self._stop.set()
            if self._state.status == "running":
                self._update(status="stopping")
        return True

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run ends (tests and shutdown); True if it did."""
        return self._done.wait(timeout)

    def hold_for_data_preparation(self, owner: str) -> "_DataHold":
        """Keep training from starting while the data files are rewritten."""
        return _DataHold(self, owner)

    # -- the worker --------------------------------------------------------------------------

    def _run(self, cfg: Config, fresh: bool, keep_checkpoint_architecture: bool) -> None:
        try:
            self._train(cfg, fresh, keep_checkpoint_architecture)
        finally:
            self._done.set()

    def _train(self, cfg: Config, fresh: bool, keep_checkpoint_architecture: bool) -> None:
        try:
            for event in train(cfg, self._stop, fresh=fresh, keep_checkpoint_architecture=keep_checkpoint_architecture):
                with self._lock:
                    self._apply(event)
        except USER_ERRORS as error:
            kind = ("architecture" if isinstance(error, ArchitectureMismatch) else
                    "tokenizer" if isinstance(error, TokenizerMismatch) else
                    "config" if isinstance(error, ConfigError) else "data")
            detail = error.describe_differences() if isinstance(error, ArchitectureMismatch) else ""
            message = error if isinstance(error, ConfigError) else (error.args[0] if error.args else str(error))
            with self._lock:
                self._update(status="failed", message=message, error_kind=kind, error_detail=detail, preparing=None)
        except Exception as error:  # keep the server alive and say what happened, in words
            traceback.print_exc()
            with self._lock:
                self._log(Text("app.error_detail", detail=f"{type(error).__name__}: "
                                                          f"{(str(error).strip().splitlines() or [''])[0][:300]}"))
                self._update(status="failed", message=Text("app.could_not_start"), error_kind="crash", preparing=None)

    def _update(self, **changes) -> None:
        for name, value in changes.items():
            setattr(self._state, name, value)
        self._state.version += 1

    def _log(self, line: Text | str) -> None:
        self._state.log.append(line)
        del self._state.log[:-MAX_LOG_LINES]

    def _apply(self, event) -> None:
        state = self._state
        if isinstance(event, Progress):
            # The log gets each stage's first message (and the result), not every progress tick.
            if event.message and (state.preparing is None or state.preparing.stage != event.stage
                                  or event.stage == "done" or (not event.unit and event.done >= event.total)):
                self._log(event.message)
            self._update(preparing=event)
        elif isinstance(event, Started):
            self._update(preparing=None, cfg=event.cfg, step=event.step, start_step=event.step,
                         max_steps=event.max_steps, vocab_size=event.vocab_size, checkpoint=event.checkpoint,
                         evaluations=list(event.history))
            self._log(Text("app.log_started", device=event.device, dtype=event.dtype,
                           reason=Text("dtype_reason." + event.dtype_reason), parameters=event.parameters,
                           vocab_size=event.vocab_size, train_tokens=event.train_tokens, val_tokens=event.val_tokens))
            self._log(Text("app.log_cpu_features", features=event.cpu_features))
            if event.archived_checkpoint:
                self._log(Text("app.log_archived", path=event.archived_checkpoint))
            if event.resumed:
                self._log(Text("app.log_resuming", step=event.step))
        elif isinstance(event, StepDone):
            state.train_losses.append((event.step, event.loss))
            self._update(step=event.step, tokens_per_second=event.tokens_per_second, elapsed=event.elapsed)
        elif isinstance(event, Evaluated):
            state.evaluations.append({"step": event.step, "train_loss": event.train_loss,
                                      "val_loss": event.val_loss, "val_bpb": event.val_bpb})
            bpb = f" val_bpb={event.val_bpb:.3f}" if event.val_bpb is not None else ""
            self._log(f"step {event.step} train_loss={event.train_loss:.4f} val_loss={event.val_loss:.4f}{bpb}")
            self._update(step=event.step)
        elif isinstance(event, Sampled):
            state.samples.append((event.step, event.text))
            if state.evaluations and state.evaluations[-1]["step"] == event.step:  # the history keeps it
                state.evaluations[-1] = {**state.evaluations[-1], "sample": event.text}
            self._update()
        elif isinstance(event, Advice):
            state.advice.append(event)
            self._log(Text("app.log_advice", message=event.message))
            self._update()
        elif isinstance(event, CheckpointSaved):
            self._log(Text("app.log_saved_best", path=event.path, best=event.best_path) if event.best_path
                      else Text("app.log_saved", path=event.path))
            self._update(checkpoint=event.path, saved_step=event.step)
        elif isinstance(event, Finished):
            self._log(event.message)
            if event.detail:
                self._log(Text("app.error_detail", detail=event.detail))
            failed = event.reason in ("diverged", "out_of_memory", "failed")
            self._update(status="failed" if failed else "finished", step=event.step, finish_reason=event.reason,
                         message=event.message, error_kind=event.reason if failed else "")


class _DataHold:
    def __init__(self, job: TrainingJob, owner: str):
        self.job, self.owner = job, owner

    def __enter__(self):
        with self.job._lock:
            if self.job._state.active:
                raise JobBusy("a training run is in progress; stop it before preparing new data")
            self.previous = self.job._state
            self.job._state = replace(self.previous, status="preparing_data", owner=self.owner,
                                      version=self.previous.version + 1)
        return self

    def __exit__(self, *exc_info):
        with self.job._lock:
            self.job._state = replace(self.previous, version=self.job._state.version + 1)
        return False
