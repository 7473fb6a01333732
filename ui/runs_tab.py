"""The Runs tab: every run in one table, their validation curves overlaid, their configs compared.

A run is deleted here after a confirmation; the run that is training cannot be. `/runs` gives
the table as JSON (see gpt.run.RunSummary.to_json).
"""

from __future__ import annotations

import html
from datetime import datetime

import gradio as gr
import plotly.graph_objects as go

from gpt import CheckpointError, ConfigError
from gpt.run import RunSummary, delete_run, summarize

from .i18n import duration, label, label_text, language_of, message, say
from .page import Page, view
from .train_tab import human_count

X_AXES = ("step", "tokens", "time")
# Fields that say where files are, not how the model trained: left out of the comparison.
NOT_COMPARED = ("train_bin", "val_bin", "tok_path", "out_dir", "run_name")
COLUMNS = ("run", "step", "val_loss", "val_bpb", "parameters", "tokens_seen", "wall_time", "precision", "saved")

RunsView = view("RunsView", ["runs.table", "runs.compare", "runs.delete_picker", "runs.plot", "runs.diff"])
CompareView = view("CompareView", ["runs.plot", "runs.diff"])
DeleteView = view("DeleteView", ["runs.confirm_row", "runs.confirm_text", "runs.delete_note"])


class RunsTab:
    """The Runs tab's handlers; `TrainerApp` provides storage and job."""

    def run_summaries(self) -> tuple[list[RunSummary], list[str]]:
        """Every run that has a checkpoint, summed up; and the names of those whose checkpoint cannot be read."""
        summaries, unreadable = [], []
        for name in self.storage.runs():
            try:
                summaries.append(summarize(self.storage.run(name)))
            except (CheckpointError, KeyError, TypeError, ValueError):
                unreadable.append(name)
        return summaries, unreadable

    def runs_json(self) -> list[dict]:
        return [summary.to_json() for summary in self.run_summaries()[0]]

    def runs_view(self, chosen: list[str] | None, x_axis: str, language: str) -> RunsView:
        summaries, _ = self.run_summaries()
        names = [s.name for s in summaries]
        chosen = [name for name in (chosen or []) if name in names] or names[:2]
        choices = [(name or label_text("default_run", language), name) for name in names]
        return RunsView(self.runs_table(summaries, language), gr.update(choices=choices, value=chosen),
                        gr.update(choices=choices, value=chosen[0] if chosen else None),
                        *self.compare(chosen, x_axis, language, summaries))

    def runs_table(self, summaries: list[RunSummary], language: str) -> dict:
        rows = []
        for s in summaries:
            saved = datetime.fromtimestamp(s.saved_at).strftime("%Y-%m-%d %H:%M") if s.saved_at else "—"
            rows.append([s.name or label_text("default_run", language), s.step,
                         round(s.val_loss, 4) if s.val_loss is not None else None,
                         round(s.val_bpb, 3) if s.val_bpb is not None else None, human_count(s.parameters),
                         human_count(s.tokens_seen), duration(s.wall_seconds), s.precision, saved])
        headers = [label_text(f"runs_column_{column}", language) for column in COLUMNS]
        return gr.update(value={"headers": headers, "data": rows})

    def compare(self, chosen: list[str] | None, x_axis: str, language: str,
                summaries: list[RunSummary] | None = None) -> CompareView:
        """The chosen runs' validation curves on one plot, and the settings in which they differ."""
        if summaries is None:
            summaries, _ = self.run_summaries()
        picked = [s for s in summaries if s.name in (chosen or [])]
        return CompareView(runs_figure(picked, x_axis if x_axis in X_AXES else "step", language),
                           config_diff(picked, language))

    def ask_to_delete(self, name: str | None, language: str) -> DeleteView:
        if name is None or name not in self.storage.runs():
            return DeleteView(gr.update(visible=False), "", message("runs_pick_one", language))
        if self._is_training(name):
            return DeleteView(gr.update(visible=False), "", message("runs_delete_training", language,
                                                                    run=self._shown(name, language)))
        return DeleteView(gr.update(visible=True), message("runs_delete_confirm", language,
                                                           run=self._shown(name, language)), "")

    def delete(self, name: str | None, language: str) -> str:
        """Delete the run (after the page asked for a confirmation); a sentence saying what happened."""
        if name is None or name not in self.storage.runs():
            return message("runs_pick_one", language)
        if self._is_training(name):
            return message("runs_delete_training", language, run=self._shown(name, language))
        try:
            removed = delete_run(self.storage.run(name))
        except ConfigError as error:
            return message("sample_problem", language, message=say(error.problems[0][1], language))
        except OSError as error:
            return message("runs_delete_failed", language, run=self._shown(name, language), reason=error.strerror)
        return message("runs_deleted", language, run=self._shown(name, language), count=len(removed))

    def _is_training(self, name: str) -> bool:
        state = self.job.snapshot()
        return state.active and state.cfg is not None and state.cfg.run_name == name

    @staticmethod
    def _shown(name: str, language: str) -> str:
        return name or label_text("default_run", language)


def runs_figure(summaries: list[RunSummary], x_axis: str, language: str) -> go.Figure:
    """Validation loss of each run against step, tokens seen or training time."""
    key = {"step": "step", "tokens": "tokens", "time": "elapsed"}[x_axis]
    traces = []
    for s in summaries:
        points = [(entry.get(key), entry["val_loss"]) for entry in s.history if entry.get(key) is not None]
        if x_axis == "tokens" and not points:  # checkpoints of older versions: tokens from steps
            tokens_per_step = s.tokens_seen / max(s.step, 1)
            points = [(entry["step"] * tokens_per_step, entry["val_loss"]) for entry in s.history]
        x = [point / 60 if x_axis == "time" else point for point, _ in points]
        traces.append(go.Scatter(x=x, y=[loss for _, loss in points], mode="lines+markers",
                                 name=s.name or label_text("default_run", language)))
    return go.Figure(traces, layout=dict(
        xaxis_title=label_text(f"runs_x_{x_axis}", language), yaxis_title=label_text("runs_val_loss", language),
        height=360, margin=dict(l=50, r=20, t=30, b=40), legend=dict(orientation="h", y=1.12),
        template="plotly_white", uirevision="runs"))


def config_diff(summaries: list[RunSummary], language: str) -> str:
    """An HTML table of the settings that differ between the runs, the differing values highlighted."""
    if len(summaries) < 2:
        return message("runs_pick_two", language)
    fields = [name for name in summaries[0].cfg if name not in NOT_COMPARED]
    differing = [name for name in fields if len({repr(s.cfg.get(name)) for s in summaries}) > 1]
    if not differing:
        return message("runs_same_config", language)
    header = "".join(f"<th>{html.escape(s.name or label_text('default_run', language))}</th>" for s in summaries)
    rows = []
    for name in differing:
        cells = "".join(f"<td><mark>{html.escape(str(s.cfg.get(name)))}</mark></td>" for s in summaries)
        rows.append(f"<tr><td><code>{name}</code></td>{cells}</tr>")
    return (f'<table id="config-diff-table"><thead><tr><th>{html.escape(label_text("runs_setting", language))}</th>'
            f'{header}</tr></thead><tbody>{"".join(rows)}</tbody></table>')


# ---------------------------------------------------------------------------------------------
# Layout and wiring


def build(page: Page, app) -> None:
    with gr.Row():
        page.add("runs.refresh_button", gr.Button(label("runs_refresh"), size="sm", elem_id="runs-refresh"))
    page.add("runs.table", gr.Dataframe(interactive=False, wrap=True, elem_id="runs-table"))
    with gr.Row():
        page.add("runs.compare", gr.CheckboxGroup([], label=label("runs_compare"), info=label("runs_compare_info"),
                                                  elem_id="runs-compare"))
        page.add("runs.x_axis", gr.Radio([(label("runs_x_step"), "step"), (label("runs_x_tokens"), "tokens"),
                                          (label("runs_x_time"), "time")], value="step", label=label("runs_x_axis"),
                                         elem_id="runs-x-axis"))
    page.add("runs.plot", gr.Plot(elem_id="runs-plot", show_label=False))
    page.add("runs.diff", gr.HTML(elem_id="runs-diff"))
    with gr.Accordion(label("runs_delete_title"), open=False):
        with gr.Row():
            page.add("runs.delete_picker", gr.Dropdown([], label=label("runs_delete_run"), elem_id="runs-delete-run"))
            page.add("runs.delete_button", gr.Button(label("runs_delete"), variant="stop", size="sm",
                                                     elem_id="runs-delete"))
        with page.add("runs.confirm_row", gr.Row(visible=False)):
            page.add("runs.confirm_text", gr.Markdown(elem_id="runs-confirm-text"))
            page.add("runs.confirm_button", gr.Button(label("runs_delete_yes"), variant="stop", size="sm",
                                                      elem_id="runs-delete-yes"))
            page.add("runs.cancel_button", gr.Button(label("runs_delete_no"), size="sm", elem_id="runs-delete-no"))
        page.add("runs.delete_note", gr.Markdown(elem_id="runs-delete-note"))


def wire(page: Page, app, owner, demo: gr.Blocks) -> None:
    chosen, x_axis = page["runs.compare"], page["runs.x_axis"]
    runs_outputs = page.components_of(RunsView)

    def refresh(names, axis, request: gr.Request = None):
        return app.runs_view(names, axis, language_of(request))

    def compare(names, axis, request: gr.Request = None):
        return app.compare(names, axis, language_of(request))

    def ask(name, request: gr.Request = None):
        return app.ask_to_delete(name, language_of(request))

    def delete(name, names, axis, request: gr.Request = None):
        language = language_of(request)
        note = app.delete(name, language)
        return (gr.update(visible=False), "", note, *app.runs_view(names, axis, language))

    page["runs.refresh_button"].click(refresh, [chosen, x_axis], runs_outputs, api_visibility="private")
    page["tab.runs"].select(refresh, [chosen, x_axis], runs_outputs, api_visibility="private")
    chosen.input(compare, [chosen, x_axis], page.components_of(CompareView), api_visibility="private")
    x_axis.input(compare, [chosen, x_axis], page.components_of(CompareView), api_visibility="private")
    picker = page["runs.delete_picker"]
    page["runs.delete_button"].click(ask, picker, page.components_of(DeleteView), api_visibility="private")
    page["runs.cancel_button"].click(lambda: (gr.update(visible=False), "", ""), None,
                                     page.components_of(DeleteView), api_visibility="private")
    page["runs.confirm_button"].click(delete, [picker, chosen, x_axis],
                                      [page["runs.confirm_row"], page["runs.confirm_text"], page["runs.delete_note"],
                                       *runs_outputs], api_visibility="private")
    gr.api(app.runs_json, api_name="runs", api_description="Every run with a checkpoint: name, step, val loss, "
                                                            "bits per byte, parameters, tokens seen, wall time, "
                                                            "precision, last saved, config and val-loss curve.")
