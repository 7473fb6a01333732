"""What happens when someone uses the app: plain Python, testable without a browser.

`TrainerApp` holds the server's storage paths, its one `TrainingJob` and the model loaded for
sampling; each public method is one event handler of `app.py`. Handlers return plain values
and `gr.update`s in the order `app.py` lists its outputs.
"""

from __future__ import annotations

import asyncio
import math
import os
import threading
import time
import traceback
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import gradio as gr

from gpt.checkpoint import CheckpointError, checkpoint_path, list_runs
from gpt.config import PRESETS as PRESETS_BY_NAME
from gpt.config import Config, ConfigError, run_name_problem
from gpt.data import DataError, prepare_builtin, prepare_files, read_meta
from gpt.device import INFERENCE_PRECISIONS, choose_dtype, pick_device
from gpt.locales import text
from gpt.model import count_parameters, estimate_training_memory, training_flops_per_token
from gpt.sample import LoadedModel, load_model, token_bytes_table
from gpt.tokenizer import TokenizerError, load_tokenizer
from gpt.train import memory_problems, time_training_step

from .job import JobBusy, JobState, TrainingJob
from .plots import loss_figure
from .strings import duration, label_text, message

# The config fields the Train tab has a control for, in the order app.py declares them. A preset
# sets the settings; the run name (where the checkpoints go) stays as the visitor typed it.
SETTING_FIELDS = ("block_size", "n_layer", "n_head", "n_embd", "dropout",
                  "batch_size", "lr", "max_steps", "grad_clip", "lr_schedule",
                  "eval_interval", "eval_iters", "sample_every_eval", "sample_max_new_tokens", "temperature", "top_k",
                  "device", "dtype")
CONTROL_FIELDS = (*SETTING_FIELDS, "run_name")
INTEGER_FIELDS = {"block_size", "n_layer", "n_head", "n_embd", "batch_size", "max_steps", "eval_interval",
                  "eval_iters", "sample_max_new_tokens", "top_k", "vocab_size"}

# The presets of gpt.config, as the Train tab lists them (labelled "preset_<name>" in ui/strings.py).
PRESETS = {key: {name: getattr(Config(**PRESETS_BY_NAME[key]), name) for name in SETTING_FIELDS}
           for key in ("cpu_quick", "original_recipe")}
DEFAULT_PRESET = "cpu_quick"
CORPUS_CHOICES = ("builtin_ko", "builtin_en", "upload")
RESUME_MODES = ("ask", "checkpoint_architecture", "fresh")
FOLLOW_INTERVAL_SECONDS = 1.0
PREVIEW_CHARACTERS = 600
DEFAULT_MAX_UPLOAD_MB = 50


@dataclass
class Storage:
    """Where data and checkpoints live, and whether they survive a restart."""

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

    @property
    def checkpoint(self) -> Path:
        """The default run's checkpoint."""
        return self.checkpoint_of("")

    def checkpoint_of(self, run_name: str) -> Path:
        """A run's checkpoint file, always inside checkpoints/; ConfigError for a bad run name."""
        return checkpoint_path(self.config(run_name=run_name).run_dir)

    def runs(self) -> list[str]:
        """The runs that have a checkpoint: "" (the default run) first, then the named ones."""
        return list_runs(self.config().out_dir)


def max_upload_bytes() -> int:
    return int(float(os.environ.get("GPT_MAX_UPLOAD_MB", DEFAULT_MAX_UPLOAD_MB)) * 1e6)


def _human_count(number: int) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if number >= size:
            return f"{number / size:.1f}{unit}"
    return str(number)


def _human_bytes(number: float) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20)):
        if number >= size:
            return f"{number / size:.1f} {unit}"
    return f"{number / 2**10:.0f} KiB"


def invalid_message(problems: list[tuple[str, str]], language: str) -> str:
    return message("invalid", language, problems="\n".join(f"- {text}" for _, text in problems))


class TrainerApp:
    def __init__(self, storage: Storage):
        self.storage = storage
        self.job = TrainingJob()
        self._speed_lock = threading.Lock()
        self._speed: tuple[float, float] | None = None  # (seconds per step, seconds per FLOP) measured here
        self._loaded: tuple[str, float, LoadedModel] | None = None
        self._load_lock = threading.Lock()

    # -- the config and what it means ----------------------------------------------------------

    def config_from_controls(self, values: dict) -> Config:
        """A Config from control values (sliders send floats), vocab from the prepared data if any."""
        typed = {name: int(round(value)) if name in INTEGER_FIELDS and value is not None else value
                 for name, value in values.items()}
        if typed.get("run_name", "") is None:  # an API call that left it out
            typed["run_name"] = ""
        return self.storage.config(**typed)

    def data_vocab_size(self, requested: int) -> int:
        info = read_meta(self.storage.config().train_bin)
        return info.vocab_size if info else requested

    def calibrate_speed(self) -> None:
        """Time a tiny and a preset-sized config once: a fixed cost per step plus FLOPs at a measured rate."""
        with self._speed_lock:
            if self._speed is not None:
                return
            vocab_size = self.data_vocab_size(Config.vocab_size)
            big = self.storage.config(**PRESETS[DEFAULT_PRESET], vocab_size=vocab_size)
            small = big.replace(n_layer=1, n_embd=32, n_head=2, block_size=32, batch_size=4)
            points = [(training_flops_per_token(cfg) * cfg.batch_size * cfg.block_size, time_training_step(cfg, steps=3))
                      for cfg in (small, big)]
            (flops_small, seconds_small), (flops_big, seconds_big) = points
            seconds_per_flop = max((seconds_big - seconds_small) / (flops_big - flops_small), 1e-15)
            overhead = max(seconds_small - flops_small * seconds_per_flop, 0.0)
            self._speed = (overhead, seconds_per_flop)

    def estimate_step_seconds(self, cfg: Config) -> float | None:
        if self._speed is None:
            return None
        overhead, seconds_per_flop = self._speed
        return overhead + training_flops_per_token(cfg) * cfg.batch_size * cfg.block_size * seconds_per_flop

    def describe_config(self, values: dict, vocab_size: int, measured_seconds: float | None = None,
                        language: str = "en") -> tuple[str, str]:
        """(summary of what the config means, problems to fix) as Markdown."""
        cfg = self.config_from_controls({**values, "vocab_size": self.data_vocab_size(vocab_size)})
        problems = cfg.problems()
        if any(name in ("n_embd", "n_head", "n_layer", "block_size", "batch_size") for name, _ in problems):
            return "", invalid_message(problems, language)
        try:
            device = pick_device(cfg.device)
        except ConfigError as error:  # a GPU asked for that this machine does not have
            return "", invalid_message(error.problems, language)
        precision = choose_dtype(device, cfg.dtype)
        # A config too big for memory still gets its summary: the memory figure is the point.
        problems = problems or memory_problems(cfg, device)
        problem_text = invalid_message(problems, language) if problems else ""
        tokens_per_step = cfg.batch_size * cfg.block_size
        if measured_seconds is not None:
            step_seconds, how = measured_seconds, message("measured", language)
        elif self._speed is not None:
            step_seconds, how = self.estimate_step_seconds(cfg), message("estimated", language)
        else:
            step_seconds, how = None, message("measuring", language)
        step_text = "—" if step_seconds is None else (f"{step_seconds * 1000:,.0f} ms" if step_seconds < 10 else duration(step_seconds))
        summary = message("summary", language, parameters=_human_count(count_parameters(cfg)),
                          tokens_per_step=tokens_per_step, memory=_human_bytes(estimate_training_memory(cfg)),
                          step_time=step_text, device=device.type, how=how, steps=cfg.max_steps,
                          dtype=precision.name, dtype_reason=text("dtype_reason." + precision.reason, language),
                          total=duration(step_seconds * cfg.max_steps) if step_seconds else "—")
        return summary, problem_text

    def measure_step_time(self, values: dict, vocab_size: int, language: str = "en") -> tuple[str, str]:
        cfg = self.config_from_controls({**values, "vocab_size": self.data_vocab_size(vocab_size)})
        if cfg.problems():
            return self.describe_config(values, vocab_size, language=language)
        if self.job.snapshot().active:
            return message("busy", language), ""
        seconds = time_training_step(cfg, steps=2)
        return self.describe_config(values, vocab_size, measured_seconds=seconds, language=language)

    # -- training ----------------------------------------------------------------------------

    def start_training(self, values: dict, vocab_size: int, resume_mode: str, owner: str, language: str) -> str | None:
        """Start the run; return a message if it was refused, None when it started."""
        if self.job.snapshot().active:
            return message("busy", language)
        cfg = self.config_from_controls({**values, "vocab_size": vocab_size})
        try:
            # Too big for memory is refused here, before the resume-or-fresh question: the settings must change.
            problems = cfg.problems() or memory_problems(cfg, pick_device(cfg.device))
        except ConfigError as error:  # a device that is not there
            problems = error.problems
        if problems:
            return invalid_message(problems, language)
        if resume_mode not in RESUME_MODES:
            return f"resume_mode must be one of {', '.join(RESUME_MODES)}"
        try:
            self.job.start(cfg, owner, fresh=resume_mode == "fresh",
                           keep_checkpoint_architecture=resume_mode == "checkpoint_architecture")
        except JobBusy:
            return message("busy", language)
        return None

    def stop_training(self, owner: str, language: str) -> str:
        state = self.job.snapshot()
        if not state.active:
            return message("nothing_to_stop", language)
        if not self.job.stop(owner):
            return message("not_owner", language)
        return message("stop_requested", language)

    def job_view(self, state: JobState, viewer: str, language: str, notice: str | None = None) -> tuple:
        """status, progress, plot, latest sample, log, and the buttons' states."""
        is_owner = not state.owner or state.owner == viewer
        if notice:
            status = notice
        elif state.status == "idle":
            status = message("idle", language)
        elif state.status == "preparing_data" or state.preparing is not None:
            status = message("preparing", language, message=state.preparing.message if state.preparing else "…")
        elif state.status == "running":
            status = message("running", language, step=state.step, max_steps=state.max_steps)
        elif state.status == "stopping":
            status = message("stopping", language)
        elif state.status == "finished" and state.finish_reason == "stopped":
            status = message("stopped", language, step=state.step, checkpoint=state.checkpoint)
        elif state.status == "finished" and state.finish_reason == "done" and state.step == state.max_steps:
            status = message("finished_done", language, step=state.step, checkpoint=state.checkpoint)
        elif state.status == "finished":
            status = message("finished", language, message=state.message, checkpoint=state.checkpoint)
        elif state.error_kind in ("architecture", "tokenizer"):
            status = message(state.error_kind, language, message=state.error_detail or state.message)
        else:
            status = message("failed", language, message=state.message)
        if state.advice and not notice:
            latest = state.advice[-1]
            status += "\n\n" + message(f"advice_{latest.kind}", language, **latest.values)
        if state.active and not is_owner and not notice:
            status = message("watching", language) + "\n\n" + status

        progress = self._progress_html(state, language)
        figure = loss_figure(state.train_losses, state.evaluations, state.vocab_size, state.max_steps, language)
        latest_sample = f"[step {state.samples[-1][0]:,}]\n{state.samples[-1][1]}" if state.samples else ""
        log = "\n".join(state.log)
        # A refusal replaces the status, and with it an earlier resume-or-fresh question.
        choosing = state.status == "failed" and state.error_kind in ("architecture", "tokenizer") and not notice
        return (status, progress, figure, latest_sample, log,
                gr.update(interactive=not state.active),
                gr.update(interactive=state.active and is_owner),
                gr.update(visible=choosing and state.error_kind == "architecture"),
                gr.update(visible=choosing))

    def _progress_html(self, state: JobState, language: str) -> str:
        if state.preparing is not None and state.preparing.total:
            fraction = min(1.0, state.preparing.done / state.preparing.total)
            text = state.preparing.message
        elif state.max_steps and not (state.status == "failed" and not state.train_losses):
            fraction = state.step / state.max_steps
            text = message("progress", language, step=state.step, max_steps=state.max_steps,
                           tokens_per_second=state.tokens_per_second, elapsed=duration(state.elapsed),
                           eta=duration(state.eta_seconds) if state.active else "—")
        else:
            return ""
        return (f'<div id="train-progress"><progress value="{fraction:.4f}" max="1" style="width:100%"></progress>'
                f'<div>{text}</div></div>')

    def control_updates(self, state: JobState) -> list:
        """Lock the controls (showing the running config) while a run is active."""
        if not state.active:
            return [gr.update(interactive=True) for _ in CONTROL_FIELDS] + [gr.update(interactive=True)] * 2
        cfg = state.cfg or Config()
        return ([gr.update(value=getattr(cfg, name), interactive=False) for name in CONTROL_FIELDS] +
                [gr.update(interactive=False)] * 2)

    async def follow(self, viewer: str, language: str):
        """Yield the job's view once a second while it changes, until it is no longer active.

        The last output is the Sample tab's run picker: its choices change when a run saves its first checkpoint.
        """
        seen_version, sent_controls, sent_runs = -1, None, None
        while True:
            state = self.job.snapshot()
            if state.version != seen_version:
                # The controls show the config that really trains (a resume may adopt the checkpoint's).
                controls_key = (state.active, state.cfg.architecture() if state.cfg and state.active else None)
                locks = (self.control_updates(state) if controls_key != sent_controls
                         else [gr.skip()] * (len(CONTROL_FIELDS) + 2))
                runs = self.storage.runs()
                picker = gr.update(choices=self.run_choices(language, runs)) if runs != sent_runs else gr.skip()
                yield (*self.job_view(state, viewer, language), *locks, picker)
                seen_version, sent_controls, sent_runs = state.version, controls_key, runs
            if not state.active:
                return
            await asyncio.sleep(FOLLOW_INTERVAL_SECONDS)

    def refusal_view(self, notice: str, viewer: str, language: str) -> tuple:
        """The job's view with a refusal message in place of the status; the controls stay as they are."""
        return (*self.job_view(self.job.snapshot(), viewer, language, notice),
                *[gr.skip()] * (len(CONTROL_FIELDS) + 2), gr.skip())

    # -- data --------------------------------------------------------------------------------

    def data_status(self, language: str) -> str:
        info = read_meta(self.storage.config().train_bin)
        if info is None:
            return message("no_data", language)
        return message("data_ready", language, source=info.source, train_tokens=info.train_tokens,
                       val_tokens=info.val_tokens, vocab_size=info.vocab_size, tokens_per_byte=info.tokens_per_byte)

    def prepare_data(self, corpus: str, files: list[str] | None, vocab_size: int, owner: str, language: str,
                     progress=None) -> tuple[str, list]:
        """Prepare bins from the chosen text; (status, token preview)."""
        cfg = self.storage.config(vocab_size=int(vocab_size))
        if problems := [text for name, text in cfg.problems() if name == "vocab_size"]:
            return message("data_error", language, message=problems[0]), []
        if corpus not in CORPUS_CHOICES:
            return message("data_error", language, message=f"unknown corpus {corpus!r}"), []
        if corpus == "upload" and not files:
            return message("data_error", language, message=message("need_upload", language)), []
        try:
            with self.job.hold_for_data_preparation(owner):
                if corpus == "upload":
                    steps = prepare_files(files, cfg.train_bin, cfg.val_bin, cfg.tok_path, cfg.vocab_size,
                                          cfg.val_fraction, max_bytes=max_upload_bytes())
                else:
                    steps = prepare_builtin(cfg.train_bin, cfg.val_bin, cfg.tok_path, cfg.vocab_size,
                                            cfg.val_fraction, language=corpus.removeprefix("builtin_"))
                while True:
                    try:
                        step = next(steps)
                    except StopIteration:
                        break
                    if progress is not None:
                        progress(step.done / step.total if step.total else None, desc=step.message)
        except JobBusy as error:
            return message("data_error", language, message=str(error)), []
        except (DataError, TokenizerError, OSError) as error:
            return message("data_error", language, message=str(error)), []
        preview_source = files[0] if corpus == "upload" else Path(cfg.train_bin).with_name(
            f"job_postings_{corpus.removeprefix('builtin_')}.txt")
        return self.data_status(language), self.token_preview(preview_source)

    def token_preview(self, text_file: str | Path) -> list[tuple[str, str]]:
        """The first lines of the text cut into tokens, for gr.HighlightedText (alternating colours)."""
        cfg = self.storage.config()
        try:
            tokenizer = load_tokenizer(cfg.tok_path)
            with open(text_file, encoding="utf-8", errors="replace") as file:
                text = file.read(PREVIEW_CHARACTERS)
        except (TokenizerError, OSError):
            return []
        table = token_bytes_table(tokenizer)
        pieces, pending = [], b""
        for token_id in tokenizer.encode(text).ids:
            pending += table[token_id]
            try:
                piece = pending.decode("utf-8")
            except UnicodeDecodeError:
                continue  # a character continues in the next token: show them together
            pieces.append((piece, str(len(pieces) % 4)))
            pending = b""
        return pieces

    # -- sampling ----------------------------------------------------------------------------

    def run_choices(self, language: str, runs: list[str] | None = None) -> list[tuple[str, str]]:
        """(label, run name) for the run picker: the runs with a checkpoint, the default run by its label."""
        runs = self.storage.runs() if runs is None else runs
        return [(name or label_text("default_run", language), name) for name in runs]

    def sample_tab_view(self, run_name: str | None, language: str) -> tuple:
        """The run picker (the runs on disk now; the chosen one kept while it has a checkpoint), then run_view's."""
        runs = self.storage.runs()
        chosen = run_name if run_name in runs else ("" if "" in runs or not runs else runs[0])
        return (gr.update(choices=self.run_choices(language, runs), value=chosen), *self.run_view(chosen, language))

    def run_view(self, run_name: str | None, language: str) -> tuple:
        """The run's checkpoint described, and the file for the download button (copied only on request).

        The file is offered only once it has loaded safely: never a download of a refused (e.g. malicious) file.
        """
        info, loaded_path = self._describe_checkpoint(language, run_name)
        return info, gr.update(value=str(loaded_path) if loaded_path else None, visible=loaded_path is not None)

    def loaded_model(self, run_name: str = "", precision: str = "auto") -> LoadedModel:
        """The run's latest checkpoint in `precision`, reloaded when the file changed (training saves a new one).

        ConfigError for a run name that is not a folder inside checkpoints/: nothing outside is read.
        """
        if precision not in ("auto", *INFERENCE_PRECISIONS):
            raise ConfigError([("precision", f"precision must be one of auto, {', '.join(INFERENCE_PRECISIONS)}, "
                                             f"got {precision!r}")])
        path = self.storage.checkpoint_of(run_name)
        with self._load_lock:
            if not path.is_file():
                if self._loaded is not None and self._loaded[0] == str(path):
                    return self._loaded[2]  # a fresh run moved the old one away and has not saved yet
                raise CheckpointError(f"no checkpoint at {path}; train first")
            # The tokenizer file counts too: one deleted, corrupted or prepared anew is noticed, as on a restart.
            tokenizer = Path(self.storage.config().tok_path)
            mtime = (path.stat().st_mtime, tokenizer.stat().st_mtime if tokenizer.exists() else None, precision)
            if self._loaded is None or self._loaded[:2] != (str(path), mtime):
                self._loaded = (str(path), mtime, load_model(path, tokenizer, "cpu",
                                                             None if precision == "auto" else precision))
            return self._loaded[2]

    def checkpoint_info(self, language: str, run_name: str | None = "") -> str:
        return self._describe_checkpoint(language, run_name)[0]

    def _describe_checkpoint(self, language: str, run_name: str | None) -> tuple[str, Path | None]:
        """The run's checkpoint described, and its file when it loaded (None when there is none or it was refused)."""
        run_name = "" if run_name is None else run_name
        try:
            path = self.storage.checkpoint_of(run_name)
        except ConfigError as error:
            return message("sample_problem", language, message=str(error)), None
        if not path.is_file():
            return message("no_checkpoint", language), None
        try:
            info = self.loaded_model(run_name).checkpoint_info
        except (CheckpointError, TokenizerError) as error:
            return message("checkpoint_error", language, message=str(error)), None
        cfg = info["cfg"]
        val_loss = f"{info['val_loss']:.4f}" if info.get("val_loss") is not None else "—"
        val_bpb = f"{info['val_bpb']:.3f}" if info.get("val_bpb") is not None else "—"
        saved = datetime.fromtimestamp(info["saved_at"]).strftime("%Y-%m-%d %H:%M:%S") if info.get("saved_at") else "—"
        return message("checkpoint_info", language, path=info["path"], step=info["step"], val_loss=val_loss,
                       val_bpb=val_bpb, saved=saved, precision=info["precision"],
                       **{k: cfg[k] for k in ("n_layer", "n_embd", "n_head", "block_size", "vocab_size")}), path

    def sample(self, prompt: str, temperature: float, top_k: int, top_p: float, max_new_tokens: int, seed: int,
               language: str, run_name: str | None = "", precision: str | None = "auto"):
        """Yield (text so far, note) as tokens arrive, from the run's checkpoint ("": the default run)."""
        run_name = "" if run_name is None else run_name
        precision = precision or "auto"
        problems = []
        if precision not in ("auto", *INFERENCE_PRECISIONS):
            problems.append(f"precision must be one of auto, {', '.join(INFERENCE_PRECISIONS)}, got {precision!r}")
        if problem := run_name_problem(run_name, self.storage.config().out_dir):
            problems.append(problem)
        if temperature is None or not math.isfinite(temperature) or temperature < 0:
            problems.append(f"temperature must be zero (greedy) or positive, got {temperature}")
        if top_k is None or top_k < 0:
            problems.append(f"top_k must be zero (off) or positive, got {top_k}")
        if top_p is None or not 0 < top_p <= 1:
            problems.append(f"top_p must be in (0, 1], got {top_p}")
        if max_new_tokens is None or max_new_tokens < 1:
            problems.append(f"max_new_tokens must be at least 1, got {max_new_tokens}")
        if problems:
            yield "", message("sample_problem", language, message="; ".join(problems))
            return
        try:
            loaded = self.loaded_model(run_name, precision)
        except (CheckpointError, TokenizerError) as error:
            yield "", message("checkpoint_error", language, message=str(error))
            return
        notes = []
        prompt = prompt or ""
        block_size = loaded.model.cfg.block_size
        if len(loaded.prompt_ids(prompt)) > block_size:
            notes.append(f"the prompt is longer than block_size ({block_size} tokens): the model sees its last "
                         f"{block_size} tokens")
        vocab = loaded.model.cfg.vocab_size
        if int(top_k) > vocab:
            notes.append(f"top_k {int(top_k)} is larger than the vocabulary ({vocab:,}): all tokens are candidates")
        note = "; ".join(notes)
        text = prompt
        last_yield = 0.0
        try:
            for piece in loaded.stream(prompt, int(max_new_tokens), float(temperature), int(top_k), float(top_p),
                                       None if seed is None or int(seed) < 0 else int(seed)):
                text += piece
                now = time.monotonic()
                if now - last_yield > 0.05:  # at most 20 updates a second
                    yield text, note
                    last_yield = now
        except Exception:  # noqa: BLE001 (the visitor gets a sentence; the server's log the traceback)
            traceback.print_exc()
            used = loaded.checkpoint_info["precision"]
            yield text, message("sample_failed", language, precision=used,
                                suggestion="float32" if used != "float32" else "a shorter text")
            return
        yield text, note
