"""The Sample tab: pick a run, see its checkpoint and how it was trained, write text with it, export it.

The sampling controls are made from `gpt.sampling.SamplingOptions`, so a new option shows up
here, in the `/sample` API and on the CLI by itself. Sampling works while a run trains: the tab
describes each checkpoint the run saves from the file's small entries (the weights stay on disk,
so training keeps its cores), and loads the latest one on the CPU when text is asked for.
"""

from __future__ import annotations

import stat
import tempfile
import threading
import time
import traceback
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

import gradio as gr

from gpt import (ARCHITECTURE_FIELDS, CheckpointError, ConfigError, INFERENCE_PRECISIONS, LoadedModel,
                 PrecisionUnavailable, run_name_problem, SamplingOptions, settings, TokenizerError)
from gpt.export import ExportError, export_hf_zip
from gpt.locales import Text
from gpt.reproducibility import describe, retrain_command

from . import inside_view
from .controls import control_for
from .i18n import label, label_text, language_of, message, say
from .page import Page, api, view

SAMPLING_SETTINGS = settings(SamplingOptions)
SAMPLING_FIELDS = tuple(s.name for s in SAMPLING_SETTINGS)
RANDOM_SEED = -1  # what the seed box shows for "a new text every time" (SamplingOptions.seed None)
STREAM_UPDATES_PER_SECOND = 20

SampleTabView = view("SampleTabView", ["sample.run_picker", "sample.checkpoint_info", "sample.download_button",
                                       "sample.reproducibility", "sample.export_file", "sample.export_note"])
RunView = view("RunView", ["sample.checkpoint_info", "sample.download_button", "sample.reproducibility",
                           "sample.export_file", "sample.export_note"])
ExportView = view("ExportView", ["sample.export_file", "sample.export_note"])
SampleView = view("SampleView", ["sample.output", "sample.note"])


class CachedModel(NamedTuple):
    path: str
    stamp: tuple  # the checkpoint's and tokenizer's modification times and the precision it was loaded in
    model: LoadedModel


class CachedInfo(NamedTuple):
    path: str
    stamp: tuple  # the checkpoint's and tokenizer's modification times
    info: dict


class SampleTab:
    """The Sample tab's handlers."""

    def __init__(self):
        self._loaded: CachedModel | None = None
        self._described: CachedInfo | None = None
        self._describe_lock = threading.Lock()  # a description does not wait for a model being loaded
        self._load_lock = threading.Lock()
        self._exports = tempfile.TemporaryDirectory(prefix="gpt-export-")  # removed with the server

    def _export_folder(self) -> Path:
        """A new folder for one export's zip; older zips go (Gradio has its own copy of what it served)."""
        for old in Path(self._exports.name).glob("*/*.zip"):
            old.unlink(missing_ok=True)
        return Path(tempfile.mkdtemp(dir=self._exports.name))

    def run_choices(self, language: str, runs: list[str] | None = None) -> list[tuple[str, str]]:
        """(label, run name) for the run picker: the runs with a checkpoint, the default run by its label."""
        runs = self.storage.runs() if runs is None else runs
        return [(name or label_text("default_run", language), name) for name in runs]

    def sample_tab_view(self, run_name: str | None, language: str) -> SampleTabView:
        """The run picker (the runs on disk now; the chosen one kept while it has a checkpoint), then run_view's."""
        runs = self.storage.runs()
        chosen = run_name if run_name in runs else ("" if "" in runs or not runs else runs[0])
        return SampleTabView(gr.update(choices=self.run_choices(language, runs), value=chosen),
                             *self.run_view(chosen, language))

    def run_view(self, run_name: str | None, language: str) -> RunView:
        """The run's checkpoint described, and the file for the download button (copied only on request).

        The file is offered only once it has passed load's checks: never a download of a refused (e.g. malicious) file.
        """
        info, loaded = self._describe(language, run_name)
        card = self.reproducibility(language, run_name) if loaded else ""
        # An export made for another run (or an older checkpoint) is not offered any more.
        return RunView(info, gr.update(value=str(loaded) if loaded else None, visible=loaded is not None), card,
                       gr.update(value=None, visible=False), "")

    def reproducibility(self, language: str, run_name: str | None = "") -> str:
        """How the run's checkpoint was trained (see gpt.reproducibility), and the command that trains it again."""
        card = self.described_checkpoint(run_name or "").get("reproducibility")
        if not card:
            return say(Text("repro.none"), language)
        lines = [f"- {say(line, language)}" for line in describe(card)]
        return "\n".join(lines + ["", say(Text("repro.retrain"), language), "", "```", retrain_command(card), "```"])

    def export(self, run_name: str | None, language: str) -> ExportView:
        """The run's checkpoint as a zip of a Hugging Face transformers folder (see gpt.export), or why not."""
        run_name = "" if run_name is None else run_name
        try:
            run = self.storage.run(run_name)
            folder = self._export_folder()
            name = f"{run_name or 'gpt'}-step{self.described_checkpoint(run_name)['step']}-transformers.zip"
            zip_path = export_hf_zip(run.checkpoint, folder / name, self.storage.config().tok_path)
        except ConfigError as error:
            return ExportView(gr.update(value=None, visible=False),
                              message("sample_problem", language, message=say(error.problems[0][1], language)))
        except (CheckpointError, TokenizerError, ExportError) as error:
            return ExportView(gr.update(value=None, visible=False),
                              message("export_failed", language, message=say(error.args[0], language)))
        return ExportView(gr.update(value=str(zip_path), visible=True), message("exported", language))

    def loaded_model(self, run_name: str = "", precision: str = "auto") -> LoadedModel:
        """The run's latest checkpoint in `precision`, reloaded when the file changed (training saves a new one).

        ConfigError for a run name that is not a folder inside checkpoints/: nothing outside is read.
        """
        if precision not in ("auto", *INFERENCE_PRECISIONS):
            raise ConfigError([("precision", f"precision must be one of auto, {', '.join(INFERENCE_PRECISIONS)}, "
                                             f"got {precision!r}")])
        run = self.storage.run(run_name)
        path = run.checkpoint
        with self._load_lock:
            try:
                stamp = (*self._file_stamp(path), precision)
            except CheckpointError:
                if self._loaded is not None and self._loaded.path == str(path):
                    return self._loaded.model  # a fresh run moved the old one away and has not saved yet
                raise
            if self._loaded is None or (self._loaded.path, self._loaded.stamp) != (str(path), stamp):
                model = run.load(self.storage.config().tok_path, "cpu", None if precision == "auto" else precision)
                self._loaded = CachedModel(str(path), stamp, model)
            return self._loaded.model

    def described_checkpoint(self, run_name: str = "") -> dict:
        """The run's latest checkpoint_info (see LoadedModel), checked as loaded_model checks it, weights unread.

        Read again when the file changed; CheckpointError or TokenizerError as loaded_model raises them.
        """
        run = self.storage.run(run_name)
        path = run.checkpoint
        with self._describe_lock:
            stamp = self._file_stamp(path)
            if self._described is None or (self._described.path, self._described.stamp) != (str(path), stamp):
                self._described = CachedInfo(str(path), stamp, run.checkpoint_info(self.storage.config().tok_path))
            return self._described.info

    def _file_stamp(self, checkpoint: Path) -> tuple:
        """When the checkpoint was saved; CheckpointError if there is none. The one stat is the check, so a
        file moved aside by a fresh run meanwhile is "no checkpoint", never a FileNotFoundError.

        The tokenizer file counts too: one deleted, corrupted or prepared anew is noticed, as on a restart.
        """
        try:
            checkpoint_stat = checkpoint.stat()
        except FileNotFoundError:
            checkpoint_stat = None
        if checkpoint_stat is None or not stat.S_ISREG(checkpoint_stat.st_mode):
            raise CheckpointError(f"no checkpoint at {checkpoint}; train first")
        checkpoint_time = checkpoint_stat.st_mtime
        try:
            return checkpoint_time, Path(self.storage.config().tok_path).stat().st_mtime
        except FileNotFoundError:
            return checkpoint_time, None

    def checkpoint_info(self, language: str, run_name: str | None = "") -> str:
        """The run's checkpoint described as Markdown: step, val loss, shape, when saved, the sampling precision."""
        return self._describe(language, run_name)[0]

    def _describe(self, language: str, run_name: str | None) -> tuple[str, Path | None]:
        """The description, and the checkpoint file when it loaded (None when there is none or it was refused)."""
        run_name = "" if run_name is None else run_name
        try:
            path = self.storage.run(run_name).checkpoint
        except ConfigError as error:
            return message("sample_problem", language, message=say(error.problems[0][1], language)), None
        if not path.is_file():
            return message("no_checkpoint", language), None
        try:
            info = self.described_checkpoint(run_name)
        except (CheckpointError, TokenizerError) as error:
            return message("checkpoint_error", language, message=say(error.args[0], language)), None
        cfg = info["cfg"]
        val_loss = f"{info['val_loss']:.4f}" if info.get("val_loss") is not None else "—"
        val_bpb = f"{info['val_bpb']:.3f}" if info.get("val_bpb") is not None else "—"
        saved = datetime.fromtimestamp(info["saved_at"]).strftime("%Y-%m-%d %H:%M:%S") if info.get("saved_at") else "—"
        return message("checkpoint_info", language, path=info["path"], step=info["step"], val_loss=val_loss,
                       val_bpb=val_bpb, saved=saved, precision=info["precision"],
                       **{name: cfg[name] for name in ARCHITECTURE_FIELDS}), path

    def sample(self, prompt: str, temperature: float, top_k: int, top_p: float, max_new_tokens: int, seed: int,
               language: str, run_name: str | None = "", precision: str | None = "auto", **more_options):
        """Yield SampleView(text so far, note) as tokens arrive, from the run's checkpoint ("": the default run).

        `more_options` are SamplingOptions fields beyond the ones named here: the page passes every field by name.
        """
        run_name = "" if run_name is None else run_name
        precision = precision or "auto"
        options = sampling_options(temperature=temperature, top_k=top_k, top_p=top_p, max_new_tokens=max_new_tokens,
                                   seed=seed, **more_options)
        problems = [say(text, language) for _, text in options.problems()]
        if problem := run_name_problem(run_name, self.storage.config().out_dir):
            problems.insert(0, say(problem, language))
        if precision not in ("auto", *INFERENCE_PRECISIONS):
            problems.insert(0, f"precision must be one of auto, {', '.join(INFERENCE_PRECISIONS)}, got {precision!r}")
        if problems:
            yield SampleView("", message("sample_problem", language, message="; ".join(problems)))
            return
        try:
            loaded = self.loaded_model(run_name, precision)
        except (CheckpointError, TokenizerError) as error:
            yield SampleView("", message("checkpoint_error", language, message=say(error.args[0], language)))
            return
        except PrecisionUnavailable as error:  # int4 on a torch without its kernel, say
            yield SampleView("", message("sample_problem", language, message=str(error)))
            return
        prompt = prompt or ""
        note = "; ".join(self.sampling_notes(loaded, prompt, options, language))
        text, last_update = prompt, 0.0
        try:
            for piece in loaded.stream(prompt, options):
                text += piece
                now = time.monotonic()
                if now - last_update > 1 / STREAM_UPDATES_PER_SECOND:
                    yield SampleView(text, note)
                    last_update = now
        except Exception:  # noqa: BLE001 (the visitor gets a sentence; the server's log the traceback)
            traceback.print_exc()
            used = loaded.checkpoint_info["precision"]
            yield SampleView(text, message("sample_failed", language, precision=used,
                                           suggestion="float32" if used != "float32" else "a shorter text"))
            return
        yield SampleView(text, note)

    def sampling_notes(self, loaded: LoadedModel, prompt: str, options: SamplingOptions, language: str) -> list[str]:
        """What the visitor should know about these settings for this model."""
        notes = []
        block_size, vocab_size = loaded.model.cfg.block_size, loaded.model.cfg.vocab_size
        if len(loaded.prompt_ids(prompt)) > block_size:
            notes.append(message("note_long_prompt", language, block_size=block_size))
        if options.top_k > vocab_size:
            notes.append(message("note_top_k", language, top_k=options.top_k, vocab_size=vocab_size))
        return notes


def sampling_options(**values) -> SamplingOptions:
    """SamplingOptions from the controls' values (sliders send floats; the seed box -1 for a random one)."""
    by_name = {s.name: s for s in SAMPLING_SETTINGS}
    # A value left out stays None: the checks say so (and a seed of None means a new text every time).
    typed = {name: None if value is None else by_name[name].convert(value) for name, value in values.items()}
    if typed.get("seed") is not None and (not isinstance(typed["seed"], (int, float)) or typed["seed"] < 0):
        typed["seed"] = None
    elif typed.get("seed") is not None:
        typed["seed"] = int(typed["seed"])
    return SamplingOptions(**typed)


# ---------------------------------------------------------------------------------------------
# Layout and wiring


def build(page: Page, app) -> None:
    # Any typed name is checked on the server (the API can send anything anyway).
    page.add("sample.run_picker", gr.Dropdown([(name or label("default_run"), name) for name in app.storage.runs()],
                                              value="", allow_custom_value=True, label=label("sample_run"),
                                              info=label("sample_run_info"), elem_id="sample-run"))
    page.add("sample.checkpoint_info", gr.Markdown(elem_id="checkpoint-info"))
    # Changed by the Train tab's stream each time the run saves (see ui.train_tab.FollowView).
    page.add("sample.saved_marker", gr.Textbox(visible=False))
    with gr.Row():
        page.add("sample.refresh_button", gr.Button(label("refresh"), size="sm", elem_id="refresh-button"))
        page.add("sample.download_button", gr.DownloadButton(label("download"), size="sm", visible=False,
                                                             elem_id="download-checkpoint"))
    with gr.Accordion(label("reproducibility"), open=False):
        page.add("sample.reproducibility", gr.Markdown(elem_id="reproducibility"))
    with gr.Row():
        page.add("sample.export_button", gr.Button(label("export"), size="sm", elem_id="export-button"))
        page.add("sample.export_note", gr.Markdown(elem_id="export-note"))
    page.add("sample.export_file", gr.File(label=label("export_file"), visible=False, interactive=False,
                                           elem_id="export-file"))
    page.add("sample.prompt", gr.Textbox(label=label("prompt"), info=label("prompt_info"), lines=2, elem_id="prompt"))
    defaults = SamplingOptions()
    with gr.Row():
        for setting in SAMPLING_SETTINGS:
            value = RANDOM_SEED if setting.name == "seed" else getattr(defaults, setting.name)
            page.add(f"sample.{setting.name}", control_for(setting, value,
                                                           elem_id="sample-" + setting.name.replace("_", "-")))
        page.add("sample.precision", gr.Dropdown(["auto", *INFERENCE_PRECISIONS], value="auto",
                                                 label=label("sample_precision"), info=label("sample_precision_info"),
                                                 elem_id="sample-precision"))
    page.add("sample.generate_button", gr.Button(label("generate"), variant="primary", elem_id="generate-button"))
    page.add("sample.note", gr.Markdown(elem_id="sample-note"))
    page.add("sample.output", gr.Textbox(label=label("output"), lines=14, interactive=False, elem_id="sample-output"))
    inside_view.build(page)


def wire(page: Page, app, owner, demo: gr.Blocks) -> None:
    def sample(prompt_text, *values, request: gr.Request = None):
        *options, run_name, precision = values
        yield from app.sample(prompt_text, language=language_of(request), run_name=run_name, precision=precision,
                              **dict(zip(SAMPLING_FIELDS, options)))

    def refresh_sample_tab(run_name, request: gr.Request = None):
        return app.sample_tab_view(run_name, language_of(request))

    def show_run(run_name, request: gr.Request = None):
        return app.run_view(run_name, language_of(request))

    def export(run_name, request: gr.Request = None):
        return app.export(run_name, language_of(request))

    picker = page["sample.run_picker"]
    tab_outputs = page.components_of(SampleTabView)
    page["sample.refresh_button"].click(refresh_sample_tab, picker, tab_outputs, api_visibility="private")
    picker.change(show_run, picker, page.components_of(RunView), api_visibility="private")
    page["sample.saved_marker"].change(show_run, picker, page.components_of(RunView), api_visibility="private",
                                       show_progress="hidden")
    page["sample.generate_button"].click(
        api(sample, ["prompt", *SAMPLING_FIELDS, "run_name", "precision"]),
        [page["sample.prompt"], *(page[f"sample.{name}"] for name in SAMPLING_FIELDS), picker,
         page["sample.precision"]],
        page.components_of(SampleView), api_name="sample", concurrency_limit=8)
    page["sample.export_button"].click(export, picker, page.components_of(ExportView), api_visibility="private")
    # Opening the tab shows the checkpoint on disk now (a run may have saved since the page loaded).
    page["tab.sample"].select(refresh_sample_tab, picker, tab_outputs, api_visibility="private")
    demo.load(refresh_sample_tab, picker, tab_outputs, api_visibility="private")
    inside_view.wire(page, app, SAMPLING_FIELDS, sampling_options)
