"""The Train tab: presets, a control for every setting, what the config means, Train and Stop, the live run.

`TrainTab` holds the tab's handlers (plain methods, testable without a browser); `build` lays
the tab out as it appears, `wire` connects its events. The controls are made from the
`setting(...)` descriptions in gpt/config.py, so a new config field gets its control, its API
parameter and its lock-while-training by itself.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid

import gradio as gr

from gpt import (CheckpointError, choose_dtype, Config, ConfigError, count_parameters, estimate_training_memory,
                 memory_problems, pick_device, PRESETS as PRESETS_BY_NAME, read_meta, settings, time_training_step)
from gpt.checkpoint import load_checkpoint
from gpt.locales import explain, text
from gpt.plan import Plan

from .controls import control_for
from .i18n import duration, label, language_of, message, say
from .job import JobBusy, JobState
from .page import Page, api, view
from .page_cost import on_all_cores
from .plots import loss_figure

# The Train tab's controls: the settings of these groups, in the order gpt/config.py declares them.
TRAIN_GROUPS = ("model", "optimisation", "evaluation", "device", "run")
TRAIN_SETTINGS = [s for s in settings(Config) if s.control.group in TRAIN_GROUPS]
CONTROL_FIELDS = tuple(s.name for s in TRAIN_SETTINGS)
# A preset sets these; the run name (where the checkpoints go) stays as the visitor typed it.
SETTING_FIELDS = tuple(s.name for s in TRAIN_SETTINGS if s.control.in_presets)
PRESETS = {key: {name: getattr(Config(**changes), name) for name in SETTING_FIELDS}
           for key, changes in PRESETS_BY_NAME.items()}
DEFAULT_PRESET = "cpu_quick"
RESUME_MODES = ("ask", "checkpoint_architecture", "fresh")
FOLLOW_INTERVAL_SECONDS = 1.0
# While a run goes on the loss plot is redrawn 1 s after it starts, then after 2, 4, 8 ... s, at most
# every PLOT_SECONDS: a redraw took 0.2-0.35 s of a browser's CPU, 60% of what a watching page cost
# at one every 10 s. The status line shows each step in between.
FIRST_PLOT_GAP_SECONDS = 1.0
PLOT_SECONDS = 30.0

JobView = view("JobView", ["train.status", "train.progress", "train.plot", "train.latest_sample", "train.log",
                           "train.train_button", "train.stop_button", "train.resume_button", "train.fresh_button"])
# What following a run updates: the job's view, the controls (locked while it trains, showing the
# config that really trains), and the Sample tab's run picker (a first checkpoint adds a run).
HistoryView = view("HistoryView", ["train.history_step", "train.history_sample"])
# A checkpoint saved changes sample.saved_marker, which has the Sample tab show it. The plot is
# not among them: the page redraws a plot whenever the event that outputs it sends anything,
# even for other outputs (a headless Chromium spent 1.6 of 12 s doing so), so it has its own
# stream (`follow_plot`), started by train.plot_marker, which changes when a new run shows up.
FollowView = view("FollowView", [*(name for name in JobView.names if name != "train.plot"), "train.plot_marker",
                                 *(f"train.{name}" for name in CONTROL_FIELDS), "train.preset",
                                 "data.vocab_size", "sample.run_picker", *HistoryView.names, "sample.saved_marker"])
SummaryView = view("SummaryView", ["train.summary", "train.problems"])
UNCHANGED_IS_SKIPPED = ("train__latest_sample", "train__log", "train__train_button", "train__stop_button",
                        "train__resume_button", "train__fresh_button")


def state_figure(state: JobState, language: str):
    """The loss plot of the run a job state describes."""
    return loss_figure(state.train_losses, state.evaluations, state.vocab_size, state.max_steps, language)


def human_count(number: int) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if number >= size:
            return f"{number / size:.1f}{unit}"
    return str(number)


def human_bytes(number: float) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20)):
        if number >= size:
            return f"{number / size:.1f} {unit}"
    return f"{number / 2**10:.0f} KiB"


def invalid_message(problems: list, language: str) -> str:
    return message("invalid", language, problems="\n".join(f"- {say(text, language)}" for _, text in problems))


class TrainTab:
    """The Train tab's handlers; `TrainerApp` provides storage, job, speed and the other tabs."""

    def config_from_controls(self, values: dict) -> Config:
        """A Config from control values (sliders send floats), paths from the storage."""
        by_name = {s.name: s for s in settings(Config)}
        typed = {name: by_name[name].convert(value) if name in by_name else value for name, value in values.items()}
        return self.storage.config(**typed)

    def calibrate_speed(self) -> None:
        self.speed.calibrate(self.storage.config(vocab_size=self.data_vocab_size(Config.vocab_size)))

    def describe_config(self, values: dict, vocab_size: int, measured_seconds: float | None = None,
                        language: str = "en") -> SummaryView:
        """What the config means (parameters, tokens, memory, time, precision) and the problems to fix, as Markdown."""
        cfg = self.config_from_controls({**values, "vocab_size": self.data_vocab_size(vocab_size)})
        problems = cfg.problems()
        if any(name in ("n_embd", "n_head", "n_layer", "block_size", "batch_size") for name, _ in problems):
            return SummaryView("", invalid_message(problems, language))
        try:
            device = pick_device(cfg.device)
        except ConfigError as error:  # a GPU asked for that this machine does not have
            return SummaryView("", invalid_message(error.problems, language))
        precision = choose_dtype(device, cfg.dtype)
        # A config too big for memory still gets its summary: the memory figure is the point.
        problems = problems or memory_problems(cfg, device)
        if measured_seconds is not None:
            step_seconds, how = measured_seconds, message("measured", language)
        elif self.speed.ready:
            step_seconds, how = self.speed.estimate(cfg), message("estimated", language)
        else:
            step_seconds, how = None, message("measuring", language)
        step_text = "—" if step_seconds is None else (f"{step_seconds * 1000:,.0f} ms" if step_seconds < 10
                                                     else duration(step_seconds))
        summary = message("summary", language, parameters=human_count(count_parameters(cfg)),
                          tokens_per_step=cfg.tokens_per_step, memory=human_bytes(estimate_training_memory(cfg)),
                          step_time=step_text, device=device.type, how=how, steps=cfg.max_steps,
                          total=duration(step_seconds * cfg.max_steps) if step_seconds else "—",
                          dtype=precision.name, dtype_reason=text(f"dtype_reason.{precision.reason}", language))
        data = read_meta(cfg.train_bin)
        plan = say(Plan.of(cfg, data.train_tokens if data else None).describe(), language)
        return SummaryView(summary + "\n\n" + plan, invalid_message(problems, language) if problems else "")

    def measure_step_time(self, values: dict, vocab_size: int, language: str = "en") -> SummaryView:
        cfg = self.config_from_controls({**values, "vocab_size": self.data_vocab_size(vocab_size)})
        if cfg.problems():
            return self.describe_config(values, vocab_size, language=language)
        if self.job.snapshot().active:
            return SummaryView(message("busy", language), "")
        seconds = on_all_cores(time_training_step, cfg, 2)  # the cores training gets (ui.page_cost)
        return self.describe_config(values, vocab_size, measured_seconds=seconds, language=language)

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

    def job_view(self, state: JobState, viewer: str, language: str, notice: str | None = None) -> JobView:
        """The run as a page shows it: status, progress, plot, latest sample, log, and the buttons' states."""
        is_owner = not state.owner or state.owner == viewer
        status = notice or self._status(state, language)
        if state.advice and not notice:
            latest = state.advice[-1]
            status += "\n\n" + ("💡 " if latest.kind == "plateau" else "⚠️ ") + say(latest.message, language)
        if state.active and not is_owner and not notice:
            status = message("watching", language) + "\n\n" + status
        # A refusal replaces the status, and with it an earlier resume-or-fresh question.
        choosing = state.status == "failed" and state.error_kind in ("architecture", "tokenizer") and not notice
        return JobView(
            status, self._progress_html(state, language),
            state_figure(state, language),
            f"[step {state.samples[-1][0]:,}]\n{state.samples[-1][1]}" if state.samples else "",
            "\n".join(say(line, language) for line in state.log),
            gr.update(interactive=not state.active),
            gr.update(interactive=state.active and is_owner),
            gr.update(visible=choosing and state.error_kind == "architecture"),
            gr.update(visible=choosing))

    def _status(self, state: JobState, language: str) -> str:
        if state.status == "idle":
            return message("idle", language)
        if state.status == "preparing_data" or state.preparing is not None:
            return message("preparing", language, message=say(state.preparing.message, language)
                           if state.preparing else "…")
        if state.status == "running":
            return message("running", language, step=state.step, max_steps=state.max_steps)
        if state.status == "stopping":
            return message("stopping", language)
        if state.status == "finished" and state.finish_reason == "stopped":
            return message("stopped", language, step=state.step, checkpoint=state.checkpoint)
        if state.status == "finished" and state.finish_reason == "done" and state.step == state.max_steps:
            return message("finished_done", language, step=state.step, checkpoint=state.checkpoint)
        if state.status == "finished":
            return message("finished", language, message=say(state.message, language), checkpoint=state.checkpoint)
        if state.error_kind in ("architecture", "tokenizer"):
            return message(state.error_kind, language, message=say(state.error_detail or state.message, language))
        return message("failed", language, message=explain(state.message, language))

    def _progress_html(self, state: JobState, language: str) -> str:
        if state.preparing is not None and state.preparing.total:
            fraction = min(1.0, state.preparing.done / state.preparing.total)
            text = say(state.preparing.message, language)
        elif state.max_steps and not (state.status == "failed" and not state.train_losses):
            fraction = state.step / state.max_steps
            text = message("progress", language, step=state.step, max_steps=state.max_steps,
                           tokens_per_second=state.tokens_per_second, elapsed=duration(state.elapsed),
                           eta=duration(state.eta_seconds) if state.active else "—")
        else:
            return ""
        return (f'<div id="train-progress"><progress value="{fraction:.4f}" max="1" style="width:100%"></progress>'
                f'<div>{text}</div></div>')

    def control_updates(self, state: JobState) -> dict:
        """Lock the controls (showing the running config) while a run is active: {field of FollowView: update}."""
        names = [f"train__{name}" for name in CONTROL_FIELDS] + ["train__preset", "data__vocab_size"]
        if not state.active:
            return {name: gr.update(interactive=True) for name in names}
        cfg = state.cfg or Config()
        locks = {f"train__{name}": gr.update(value=getattr(cfg, name), interactive=False) for name in CONTROL_FIELDS}
        return {**locks, "train__preset": gr.update(interactive=False), "data__vocab_size": gr.update(interactive=False)}

    async def follow(self, viewer: str, language: str):
        """Yield the run's FollowView once a second while it changes, until it is no longer active.

        What did not change is not sent again (gr.skip()); the plot comes from `follow_plot`: every
        update costs the server, and the browser that redraws it, CPU time that training (often on
        the same two cores) would otherwise have.
        """
        seen_version, sent_controls, sent_runs, sent = -1, None, None, {}
        sent_history, sent_saved, sent_run = None, None, None
        while True:
            state = self.job.snapshot()
            if state.version != seen_version:
                # The controls show the config that really trains (a resume may adopt the checkpoint's).
                controls_key = (state.active, state.cfg.architecture() if state.cfg and state.active else None)
                locks = self.control_updates(state) if controls_key != sent_controls else {}
                runs = self.storage.runs()
                picker = ({"sample__run_picker": gr.update(choices=self.run_choices(language, runs))}
                          if runs != sent_runs else {})
                frame = self.job_view(state, viewer, language)._asdict()
                for name in UNCHANGED_IS_SKIPPED:
                    if name in sent and sent[name] == frame[name]:
                        del frame[name]
                    else:
                        sent[name] = frame[name]
                del frame["train__plot"]
                # The samples by step follow the run (the newest shown), and each save is announced once.
                history_key = (state.cfg.run_name if state.cfg else None, len(state.evaluations),
                               state.evaluations[-1].get("sample") is not None if state.evaluations else False)
                history = (self.history_view(state.cfg.run_name, None, language, follow_latest=True)._asdict()
                           if state.cfg is not None and history_key != sent_history else {})
                saved_key = f"{state.checkpoint}@{state.saved_step}"
                saved = {"sample__saved_marker": saved_key} if state.saved_step is not None and \
                    saved_key != sent_saved else {}
                run = {"train__plot_marker": f"{state.started_at}"} if state.started_at != sent_run else {}
                yield FollowView.of(**frame, **locks, **picker, **history, **saved, **run)
                seen_version, sent_controls, sent_runs = state.version, controls_key, runs
                sent_history, sent_saved, sent_run = history_key, saved_key, state.started_at
            if not state.active:
                return
            await asyncio.sleep(FOLLOW_INTERVAL_SECONDS)

    def plot_view(self, language: str):
        return state_figure(self.job.snapshot(), language)

    async def follow_plot(self, language: str):
        """Yield the loss plot when it has new points, less and less often (see PLOT_SECONDS), until the run ends."""
        sent_key, sent_at, gap = None, -math.inf, FIRST_PLOT_GAP_SECONDS
        while True:
            state = self.job.snapshot()
            key = (state.started_at, len(state.train_losses), len(state.evaluations), state.max_steps)
            now = time.monotonic()
            if key != sent_key and (not state.active or now - sent_at >= gap):
                yield state_figure(state, language)
                if sent_key is not None:
                    gap = min(2 * gap, PLOT_SECONDS)
                sent_key, sent_at = key, now
            if not state.active:
                return
            await asyncio.sleep(FOLLOW_INTERVAL_SECONDS)

    def history(self, run_name: str | None) -> list[dict]:
        """The evaluations of the run that kept a sample: from the run training now, else from its checkpoint."""
        state = self.job.snapshot()
        if state.cfg is not None and state.cfg.run_name == (run_name or "") and state.evaluations:
            entries = state.evaluations
        else:
            try:
                entries = load_checkpoint(self.storage.run(run_name or "").checkpoint, mmap=True).get("history") or []
            except (CheckpointError, ConfigError):  # no checkpoint yet, or a name that is not a run
                entries = []
        return [entry for entry in entries if entry.get("sample") is not None]

    def history_view(self, run_name: str | None, step: float | None, language: str,
                     follow_latest: bool = False) -> HistoryView:
        """The step slider's range, and the sample kept at the evaluation at or before `step`."""
        kept = self.history(run_name)
        if not kept:
            return HistoryView(gr.update(maximum=1, value=0, interactive=False), message("history_none", language))
        last = kept[-1]["step"]
        step = last if step is None or follow_latest else step
        chosen = max((entry for entry in kept if entry["step"] <= step), key=lambda entry: entry["step"],
                     default=kept[0])
        bpb = chosen.get("val_bpb")
        text = message("history_entry", language, step=chosen["step"], val_loss=chosen["val_loss"],
                       val_bpb=f"{bpb:.3f}" if bpb is not None else "—", sample=chosen["sample"])
        slider = gr.update(maximum=max(last, 1), interactive=True, **({"value": last} if follow_latest else {}))
        return HistoryView(slider, text)

    def refusal_view(self, notice: str, viewer: str, language: str) -> FollowView:
        """The job's view with a refusal message in place of the status; the controls stay as they are."""
        return FollowView.of(**self.job_view(self.job.snapshot(), viewer, language, notice)._asdict())


# ---------------------------------------------------------------------------------------------
# Layout and wiring


def build(page: Page, app) -> None:
    preset_values = PRESETS[DEFAULT_PRESET]
    page.add("train.preset", gr.Dropdown([(label(f"preset_{key}"), key) for key in PRESETS], value=DEFAULT_PRESET,
                                         label=label("preset"), info=label("preset_info"), elem_id="preset"))
    page.add("train.summary", gr.Markdown(elem_id="config-summary"))
    page.add("train.problems", gr.Markdown(elem_id="config-problems"))

    def controls_of(group: str) -> None:
        for setting in TRAIN_SETTINGS:
            if setting.control.group == group:
                page.add(f"train.{setting.name}", control_for(setting, preset_values.get(setting.name, setting.default),
                                                              elem_id=setting.name))

    with gr.Row():
        for group in ("model", "optimisation", "evaluation"):
            with gr.Column():
                gr.Markdown(label(f"group_{group}"))
                with gr.Group():
                    controls_of(group)
    gr.Markdown(label("group_device"))
    with gr.Row():
        controls_of("device")
    controls_of("run")
    with gr.Row():
        page.add("train.train_button", gr.Button(label("train"), variant="primary", elem_id="train-button"))
        page.add("train.stop_button", gr.Button(label("stop"), variant="stop", interactive=False, elem_id="stop-button"))
        page.add("train.measure_button", gr.Button(label("measure"), elem_id="measure-button"))
    with gr.Row():
        page.add("train.resume_button", gr.Button(label("resume_checkpoint"), visible=False, elem_id="resume-button"))
        page.add("train.fresh_button", gr.Button(label("start_fresh"), visible=False, elem_id="fresh-button"))
    page.add("train.status", gr.Markdown(elem_id="train-status"))
    page.add("train.progress", gr.HTML(elem_id="train-progress-box"))
    gr.Markdown(label("plot"))
    page.add("train.plot", gr.Plot(show_label=False, elem_id="loss-plot"))
    page.add("train.plot_marker", gr.Textbox(visible=False))  # see FollowView
    page.add("train.latest_sample", gr.Textbox(label=label("latest_sample"), lines=10, max_lines=20, interactive=False,
                                               elem_id="latest-sample"))
    with gr.Accordion(label("history_title"), open=True, elem_id="history-section"):
        page.add("train.history_step", gr.Slider(minimum=0, maximum=1, value=0, step=1, label=label("history_step"),
                                                 info=label("history_step_info"), interactive=False,
                                                 elem_id="history-step"))
        page.add("train.history_sample", gr.Textbox(label=label("history_sample"), lines=8, max_lines=16,
                                                    interactive=False, elem_id="history-sample"))
    page.add("train.log", gr.Textbox(label=label("log"), lines=8, max_lines=8, interactive=False, autoscroll=True,
                                     elem_id="train-log"))


def wire(page: Page, app, owner, demo: gr.Blocks) -> None:
    controls = [page[f"train.{name}"] for name in CONTROL_FIELDS]
    inputs = [*controls, page["data.vocab_size"]]
    api_names = [*CONTROL_FIELDS, "vocab_size"]
    follow_outputs = page.components_of(FollowView)
    summary_outputs = page.components_of(SummaryView)

    def values_of(args) -> dict:
        return dict(zip(CONTROL_FIELDS, args))

    def describe(*args, request: gr.Request = None):
        return app.describe_config(values_of(args[:-1]), args[-1], language=language_of(request))

    def describe_once_measured(*args, request: gr.Request = None):
        """The summary again once this device's speed is measured (a few seconds after start-up)."""
        app.calibrate_speed()
        return describe(*args, request=request)

    def measure(*args, request: gr.Request = None):
        return app.measure_step_time(values_of(args[:-1]), args[-1], language=language_of(request))

    def apply_preset(name):
        chosen = PRESETS.get(name, PRESETS[DEFAULT_PRESET])
        return [gr.update(value=chosen[field]) if field in chosen else gr.skip() for field in CONTROL_FIELDS]

    async def start_train(*args, request: gr.Request = None):
        *config_values, vocab, resume_mode, token = args
        language = language_of(request)
        refusal = app.start_training(values_of(config_values), vocab, resume_mode, token or "", language)
        if refusal:
            yield app.refusal_view(refusal, token or "", language)
            return
        async for frame in app.follow(token or "", language):
            yield frame

    async def follow(token, request: gr.Request = None):
        async for frame in app.follow(token or "", language_of(request)):
            yield frame

    async def follow_plot(marker, request: gr.Request = None):
        async for figure in app.follow_plot(language_of(request)):
            yield figure

    def plot_now(request: gr.Request = None):
        return app.plot_view(language_of(request))

    def stop(token, request: gr.Request = None):
        return app.stop_training(token or "", language_of(request))

    for component in inputs:
        component.change(api(describe, api_names), inputs, summary_outputs, api_visibility="private",
                         show_progress="hidden", queue=False)
    page["train.preset"].change(apply_preset, page["train.preset"], controls, api_visibility="private", queue=False)
    page["train.measure_button"].click(api(measure, api_names), inputs, summary_outputs, api_visibility="private",
                                       concurrency_id="measure")
    # The API's /train takes resume_mode as a parameter; the page's three buttons fix it.
    resume_mode = gr.Dropdown(list(RESUME_MODES), value="ask", visible=False)
    for button, mode in (("train_button", None), ("resume_button", "checkpoint_architecture"),
                         ("fresh_button", "fresh")):
        page[f"train.{button}"].click(api(start_train, [*api_names, "resume_mode", "owner"]),
                                      [*inputs, resume_mode if mode is None else gr.State(mode), owner],
                                      follow_outputs, concurrency_limit=None,
                                      api_name="train" if mode is None else False, show_progress="hidden")
    page["train.plot_marker"].change(follow_plot, page["train.plot_marker"], page["train.plot"],
                                     concurrency_limit=None, api_visibility="private", show_progress="hidden")
    page["train.stop_button"].click(api(stop, ["owner"]), owner, page["train.status"], api_name="stop",
                                    concurrency_limit=None)

    def remember_owner(token):
        return token or uuid.uuid4().hex

    # The plot as the page opens (also the /plot API: the loss plot of the run going on, or of the last one).
    demo.load(plot_now, None, page["train.plot"], api_name="plot", show_progress="hidden")

    def show_latest_history(run_name, step, request: gr.Request = None):
        """On opening the page or naming another run: that run's newest sample by step."""
        return app.history_view(run_name, None, language_of(request), follow_latest=True)

    def show_history_at(run_name, step, request: gr.Request = None):
        return app.history_view(run_name, step, language_of(request)).train__history_sample

    history_inputs = [page["train.run_name"], page["train.history_step"]]
    # "always_last": a release while the previous one is answered is not dropped (Gradio's default for
    # release is "once"); the step the visitor let go at last is the one shown.
    page["train.history_step"].release(show_history_at, history_inputs, page["train.history_sample"],
                                       api_visibility="private", trigger_mode="always_last")
    page["train.run_name"].change(show_latest_history, history_inputs, page.components_of(HistoryView),
                                  api_visibility="private", show_progress="hidden")
    # The page's samples by step come before the run's stream starts: once the run's status shows,
    # nothing from the page's opening can overwrite a step the visitor has chosen.
    demo.load(remember_owner, owner, owner, api_visibility="private", queue=False).then(
        show_latest_history, history_inputs, page.components_of(HistoryView), api_visibility="private",
        show_progress="hidden").then(
        api(follow, ["owner"]), owner, follow_outputs, concurrency_limit=None, api_visibility="private",
        show_progress="hidden")
    demo.load(api(describe, api_names), inputs, summary_outputs, api_visibility="private", queue=False).then(
        api(describe_once_measured, api_names), inputs, summary_outputs, api_visibility="private",
        show_progress="hidden")
