"""Comparing runs: their summaries, the Runs tab's table, overlay and config diff, and deleting a run."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import DATA_FILES, run_training
from gpt.run import Run, delete_run, list_runs, summarize
from ui.storage import Storage
from ui.trainer import TrainerApp


def train_run(app: TrainerApp, name: str, **changes) -> None:
    values = dict(block_size=32, n_layer=1, n_head=2, n_embd=32, batch_size=4, max_steps=20, eval_interval=10,
                  eval_iters=2, device="cpu", dtype="float32", run_name=name, vocab_size=600)
    events = run_training(app.storage.config(**{**values, **changes}))
    assert events[-1].reason == "done"


@pytest.fixture
def two_runs(prepared, tmp_path):
    source, _ = prepared
    (tmp_path / "data").mkdir()
    for name in DATA_FILES:
        (tmp_path / "data" / name).write_bytes((source / name).read_bytes())
    app = TrainerApp(Storage(tmp_path))
    train_run(app, "")
    train_run(app, "넓은", n_embd=64, lr=2e-3)
    return app


def test_a_summary_reads_step_losses_size_tokens_time_and_precision_from_the_checkpoint(two_runs):
    summary = summarize(two_runs.storage.run("넓은"))
    assert summary.name == "넓은" and summary.step == 20 and summary.precision == "float32"
    assert summary.tokens_seen == 20 * 4 * 32 and summary.parameters > 0
    assert [entry["step"] for entry in summary.history] == [0, 10, 20]
    assert summary.val_loss == summary.history[-1]["val_loss"] and summary.wall_seconds > 0
    as_json = summary.to_json()
    assert as_json["config"]["n_embd"] == 64 and [p["tokens"] for p in as_json["curve"]] == [0, 1280, 2560]


def test_the_table_lists_every_run_in_the_visitors_language(two_runs):
    for language, first_header, default in (("en", "run", "(default)"), ("ko", "실행", "(기본)")):
        table = two_runs.runs_view(None, "step", language).runs__table["value"]
        assert table["headers"][0] == first_header and len(table["headers"]) == 9
        assert [row[0] for row in table["data"]] == [default, "넓은"]
        assert all(row[1] == 20 for row in table["data"])


@pytest.mark.parametrize("x_axis, last_x", [("step", 20), ("tokens", 2560)])
def test_two_runs_overlay_their_validation_curves(two_runs, x_axis, last_x):
    plot, diff = two_runs.compare(["", "넓은"], x_axis, "en")
    assert [trace.name for trace in plot.data] == ["(default)", "넓은"]
    assert all(list(trace.x)[-1] == last_x and len(trace.y) == 3 for trace in plot.data)


def test_time_on_the_x_axis_is_training_minutes_growing(two_runs):
    plot, _ = two_runs.compare(["", "넓은"], "time", "en")
    for trace in plot.data:
        assert list(trace.x) == sorted(trace.x) and trace.x[-1] > 0
    assert plot.layout.xaxis.title.text == "training time (minutes)"


def test_the_config_diff_names_only_the_fields_that_differ_and_highlights_them(two_runs):
    _, diff = two_runs.compare(["", "넓은"], "step", "en")
    assert "<code>n_embd</code>" in diff and "<code>lr</code>" in diff and "<mark>64</mark>" in diff
    for same in ("n_layer", "block_size", "batch_size", "max_steps", "run_name", "out_dir"):
        assert f"<code>{same}</code>" not in diff
    assert "Pick two or more" in two_runs.compare([""], "step", "en")[1]
    assert "두 개 이상" in two_runs.compare([""], "step", "ko")[1]


def test_a_run_is_deleted_after_a_confirmation_and_only_its_own_files_go(two_runs, tmp_path):
    asked = two_runs.ask_to_delete("", "en")
    assert asked.runs__confirm_row["visible"] is True and "cannot be undone" in asked.runs__confirm_text
    assert "되돌릴 수 없습니다" in two_runs.ask_to_delete("", "ko").runs__confirm_text
    assert two_runs.storage.runs() == ["", "넓은"]  # asking deletes nothing
    note = two_runs.delete("", "en")
    assert note.startswith("Deleted the run (default)")
    assert list_runs(tmp_path / "checkpoints") == ["넓은"]
    assert (tmp_path / "checkpoints" / "넓은" / "ckpt.pt").is_file()  # another run's folder stays
    assert not (tmp_path / "checkpoints" / "tensorboard").exists()
    assert "Pick a run first" in two_runs.delete("", "en")


def test_the_run_that_trains_cannot_be_deleted(two_runs):
    two_runs.job.start(two_runs.storage.config(max_steps=20000, eval_interval=20000, block_size=32, n_layer=1,
                                               n_head=2, n_embd=32, batch_size=4, device="cpu", dtype="float32",
                                               run_name="넓은", vocab_size=600), "me")
    try:
        assert "is training" in two_runs.ask_to_delete("넓은", "en").runs__delete_note
        assert "학습 중" in two_runs.delete("넓은", "ko")
        assert (two_runs.storage.run("넓은").checkpoint).is_file()
        assert two_runs.delete("", "en").startswith("Deleted")  # another run can go meanwhile
    finally:
        two_runs.job.stop("me")
        assert two_runs.job.wait(30)


def test_a_named_run_goes_with_its_folder(two_runs, tmp_path):
    removed = delete_run(Run(tmp_path / "checkpoints", "넓은"))
    assert removed == [tmp_path / "checkpoints" / "넓은"] and not removed[0].exists()
    assert delete_run(Run(tmp_path / "checkpoints", "넓은")) == []


def test_runs_json_is_plain_data(two_runs):
    import json

    listed = json.loads(json.dumps(two_runs.runs_json()))
    assert [run["name"] for run in listed] == ["", "넓은"] and listed[1]["step"] == 20


def test_an_unreadable_checkpoint_is_left_out_of_the_table_not_a_crash(two_runs):
    checkpoint = Path(two_runs.storage.run("넓은").checkpoint)
    checkpoint.write_bytes(b"not a checkpoint")
    summaries, unreadable = two_runs.run_summaries()
    assert [s.name for s in summaries] == [""] and unreadable == ["넓은"]
