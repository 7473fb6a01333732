"""The app's event handlers (`ui.trainer.TrainerApp`) called directly, without a server.

Every app here gets its own `Storage(tmp_path)`, so data and checkpoints never touch the
repository. Most tests start from a copy of the session's small prepared dataset (the
`data_dir` fixture of conftest.py puts it exactly where `Storage(tmp_path)` looks).
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

import gpt.device  # noqa: E402
from gpt.checkpoint import load_checkpoint  # noqa: E402
from gpt.config import ConfigError  # noqa: E402
from gpt.model import count_parameters  # noqa: E402
from ui.i18n import message  # noqa: E402
from ui.storage import Storage  # noqa: E402
from ui.train_tab import CONTROL_FIELDS  # noqa: E402
from ui.train_tab import human_count as _human_count  # noqa: E402
from ui.trainer import TrainerApp  # noqa: E402

from conftest import DATA_FILES, TEST_VOCAB_SIZE, make_text, precisions, wait_for  # noqa: E402

OWNER = "owner-token"
OTHER = "someone-else"


def controls(**changes) -> dict:
    """Values as the Train tab sends them: sliders send floats."""
    values = dict(block_size=32.0, n_layer=1.0, n_head=2.0, n_embd=32.0, dropout=0.0, batch_size=4.0, lr=1e-3,
                  max_steps=20.0, grad_clip=1.0, lr_schedule="constant", eval_interval=10.0, eval_iters=2.0,
                  sample_every_eval=False, sample_max_new_tokens=8.0, temperature=0.9, top_k=50.0, device="cpu",
                  dtype="float32", run_name="", tensorboard=True, sample_prompt="")  # a forced type: "auto" would differ from CPU to CPU
    assert set(values) == set(CONTROL_FIELDS)
    values.update(changes)
    return values


def run_to_end(app: TrainerApp, values: dict, resume_mode: str = "ask", owner: str = OWNER, language: str = "en"):
    refusal = app.start_training(values, TEST_VOCAB_SIZE, resume_mode, owner, language)
    assert refusal is None, refusal
    assert app.job.wait(60), "the run did not end within 60 s"
    return app.job.snapshot()


def file_bytes(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in DATA_FILES}


def update_of(value) -> dict:
    """gr.update(...) is a dict with __type__ 'update'."""
    assert isinstance(value, dict) and value.get("__type__") == "update", value
    return value


@pytest.fixture
def app(data_dir, tmp_path):
    trainer = TrainerApp(Storage(tmp_path))
    yield trainer
    trainer.job.stop(trainer.job.snapshot().owner)
    assert trainer.job.wait(30)


@pytest.fixture
def empty_app(tmp_path):
    """An app with neither data nor checkpoint."""
    trainer = TrainerApp(Storage(tmp_path / "empty"))
    yield trainer
    assert trainer.job.wait(30)


@pytest.fixture(scope="module")
def trained_app(tmp_path_factory, prepared):
    """An app whose storage holds a checkpoint at step 30 (1 layer, block 32). Read-only."""
    import shutil

    root = tmp_path_factory.mktemp("trained_app")
    (root / "data").mkdir()
    for name in DATA_FILES:
        shutil.copyfile(prepared[0] / name, root / "data" / name)
    trainer = TrainerApp(Storage(root))
    state = run_to_end(trainer, controls(max_steps=30, eval_interval=15))
    assert state.status == "finished" and state.step == 30, state
    return trainer


# -- the config and what it means --------------------------------------------------------------


def test_summary_shows_parameters_tokens_per_step_and_memory(app):
    summary, problems = app.describe_config(controls(batch_size=4.0, block_size=32.0), 24000)
    assert problems == ""
    # The prepared data's vocabulary (600), not the requested 24000, sizes the model.
    cfg = app.storage.config(block_size=32, n_layer=1, n_head=2, n_embd=32, vocab_size=TEST_VOCAB_SIZE)
    assert f"**{_human_count(count_parameters(cfg))}** parameters" in summary
    assert "**128** tokens per step" in summary  # 4 x 32
    assert "of memory" in summary and ("KiB" in summary or "MiB" in summary)
    assert "per step on cpu" in summary
    assert "20 steps" in summary
    # Not calibrated yet: says so instead of inventing a time.
    assert message("measuring", "en") in summary

    measured, _ = app.describe_config(controls(), 24000, measured_seconds=0.0123)
    assert "**12 ms** per step" in measured and message("measured", "en") in measured

    korean, _ = app.describe_config(controls(), 24000, language="ko")
    assert "파라미터" in korean and "스텝당 토큰 **128**개" in korean


@pytest.mark.parametrize("features, auto_type, reason", [
    ((True, True, True, True), "bfloat16", "this CPU has AMX-BF16 units"),
    ((True, True, True, False), "bfloat16", "this CPU computes bfloat16 natively (AVX-512 BF16)"),
    ((True, False, False, False), "float32", "this CPU has no native bfloat16"),
])
def test_the_summary_says_what_auto_picks_on_this_cpu_and_a_requested_type_as_requested(app, monkeypatch, features,
                                                                                        auto_type, reason):
    monkeypatch.setattr(gpt.device, "cpu_features", lambda: gpt.device.CpuFeatures(*features))
    summary, _ = app.describe_config(controls(dtype="auto"), 24000)
    assert f"precision **{auto_type}** ({reason}" in summary
    korean, _ = app.describe_config(controls(dtype="auto"), 24000, language="ko")
    assert f"정밀도 **{auto_type}** (" in korean and reason not in korean
    requested, _ = app.describe_config(controls(dtype="float16"), 24000)
    assert "precision **float16** (as requested)" in requested


def test_summary_gives_the_plan_tokens_per_parameter_and_passes_over_the_data(app, data_dir):
    from gpt.data import read_meta

    train_tokens = read_meta(data_dir / "train.bin").train_tokens
    summary, _ = app.describe_config(controls(batch_size=4.0, block_size=32.0, max_steps=20.0), 24000)
    assert "the run sees 2,560 tokens" in summary and "compute-optimal is about 20" in summary
    assert f"{2560 / train_tokens:,.1f} passes over the {train_tokens:,} training tokens" in summary
    many, _ = app.describe_config(controls(batch_size=64.0, block_size=256.0, max_steps=5000.0), 24000)
    assert "overfitting is likely" in many
    korean, _ = app.describe_config(controls(batch_size=64.0, block_size=256.0, max_steps=5000.0), 24000,
                                    language="ko")
    assert "과적합" in korean and "계산 최적" in korean


def test_summary_grows_with_the_model(app):
    small, _ = app.describe_config(controls(batch_size=4.0), 600)
    big, _ = app.describe_config(controls(batch_size=8.0, block_size=64.0), 600)
    assert "**128** tokens per step" in small and "**512** tokens per step" in big


def test_describe_config_lists_problems(app):
    summary, problems = app.describe_config(controls(n_embd=100.0, n_head=3.0), 600)
    assert summary == ""  # the shape is impossible: no parameter count to show
    assert problems.startswith("**Fix these first:**")
    assert "n_embd (100) must be divisible by n_head (3)" in problems

    # A problem that does not change the model's shape keeps the summary and lists the problem.
    summary, problems = app.describe_config(controls(eval_interval=50.0, max_steps=20.0), 600)
    assert "parameters" in summary
    assert "eval_interval (50) is larger than max_steps (20)" in problems

    # Several problems are all listed, one per line.
    _, problems = app.describe_config(controls(n_embd=100.0, n_head=3.0, dropout=1.0, lr=0.0), 600)
    assert problems.count("\n- ") >= 3, problems

    _, korean = app.describe_config(controls(n_embd=100.0, n_head=3.0), 600, language="ko")
    assert korean.startswith("**먼저 고쳐 주세요:**") and "n_embd(100)는 n_head(3)로 나누어 떨어져야" in korean


# -- training ----------------------------------------------------------------------------------


def test_start_training_refuses_an_invalid_config(app, tmp_path):
    refusal = app.start_training(controls(n_embd=100.0, n_head=3.0), TEST_VOCAB_SIZE, "ask", OWNER, "en")
    assert refusal is not None and "must be divisible by n_head" in refusal
    assert refusal.startswith("**Fix these first:**")
    assert app.job.snapshot().status == "idle"
    assert app.job._thread is None
    assert not (tmp_path / "checkpoints").exists()

    korean = app.start_training(controls(n_embd=100.0, n_head=3.0), TEST_VOCAB_SIZE, "ask", OWNER, "ko")
    assert korean.startswith("**먼저 고쳐 주세요:**")

    unknown = app.start_training(controls(), TEST_VOCAB_SIZE, "sometimes", OWNER, "en")
    assert "resume_mode must be one of" in unknown
    assert app.job.snapshot().status == "idle"


def test_tiny_run_finishes_and_the_view_shows_it(app, tmp_path):
    state = run_to_end(app, controls(max_steps=20.0, eval_interval=10.0, sample_every_eval=True))
    assert state.status == "finished" and state.finish_reason == "done", state.message
    assert state.step == 20 and state.owner == OWNER
    assert [step for step, _ in state.train_losses] == [10, 20]
    assert [e["step"] for e in state.evaluations] == [0, 10, 20]  # step 0: before any update
    assert (tmp_path / "checkpoints" / "ckpt.pt").is_file()

    status, progress, figure, latest_sample, log, train, stop, resume, fresh = app.job_view(state, OWNER, "en")
    assert status.startswith("Done: reached max_steps (20)") and "ckpt.pt" in status
    assert app.job_view(state, OWNER, "ko")[0].startswith("완료: max_steps(20)에 도달했습니다.")
    assert "step 20 / 20" in progress and "<progress" in progress
    traces = {trace.name: trace for trace in figure.data}
    assert set(traces) == {"train loss (batch)", "train loss (eval)", "val loss"}
    assert list(traces["train loss (batch)"].x) == [10, 20]
    assert all(0 < loss < 20 for loss in traces["val loss"].y)
    assert figure.layout.xaxis.range == (0, 20)
    assert latest_sample.startswith("[step 20]\n") and len(latest_sample) > len("[step 20]\n")
    assert "saved " in log and "reached max_steps (20)" in log
    assert update_of(train)["interactive"] is True
    assert update_of(stop)["interactive"] is False
    assert update_of(resume)["visible"] is False and update_of(fresh)["visible"] is False

    info = app.checkpoint_info("en")
    assert "step **20**" in info and "n_layer 1, n_embd 32" in info and "vocab 600" in info


def test_follow_yields_the_finished_view_once_and_returns(app):
    run_to_end(app, controls(max_steps=10.0, eval_interval=10.0, sample_every_eval=True))

    async def collect(**options):
        return [view async for view in app.follow(OWNER, "en", **options)]

    views = asyncio.run(collect())
    assert len(views) == 1
    # The job's view, the controls, preset, vocab size, run picker, step slider and its sample, saved marker.
    assert len(views[0]) == 9 + len(CONTROL_FIELDS) + 6  # the plot has its own stream (follow_plot), a marker here
    assert "Done: reached max_steps (10)" in views[0][0]
    assert all(update_of(lock)["interactive"] is True for lock in views[0][9:-4])
    assert update_of(views[0][-4])["choices"] == [("(default)", "")]  # the Sample tab's run picker
    assert views[0].train__history_sample.startswith("step 10 · val loss")  # the newest sample by step
    assert views[0].sample__saved_marker.endswith("ckpt.pt@10")

    refusal = app.refusal_view("a notice", OWNER, "en")
    assert refusal[0] == "a notice" and len(refusal) == len(views[0])


def test_stop_by_a_non_owner_is_refused_and_the_owner_stops_within_a_step_or_two(app, tmp_path):
    # log_interval 1 (not a control, but a Config field) makes the reported step exact.
    refusal = app.start_training(controls(max_steps=20000.0, eval_interval=20000.0, log_interval=1),
                                 TEST_VOCAB_SIZE, "ask", OWNER, "en")
    assert refusal is None
    wait_for(lambda: app.job.snapshot().step >= 3)

    assert app.stop_training(OTHER, "en") == message("not_owner", "en")
    assert app.stop_training(OTHER, "ko") == message("not_owner", "ko")
    assert app.stop_training("", "en") == message("not_owner", "en")
    time.sleep(0.1)
    state = app.job.snapshot()
    assert state.status == "running"

    # Someone else watching sees the run read-only; the owner may stop it.
    watcher_view = app.job_view(state, OTHER, "en")
    assert watcher_view[0].startswith(message("watching", "en"))
    assert update_of(watcher_view[6])["interactive"] is False
    assert update_of(watcher_view[5])["interactive"] is False
    owner_view = app.job_view(state, OWNER, "en")
    assert "Training: step" in owner_view[0]
    assert update_of(owner_view[6])["interactive"] is True

    assert app.stop_training(OWNER, "en") == message("stop_requested", "en")
    step_when_asked = app.job.snapshot().step
    asked = time.monotonic()
    assert app.job.wait(10)
    assert time.monotonic() - asked < 5
    state = app.job.snapshot()
    assert state.status == "finished" and state.finish_reason == "stopped"
    assert step_when_asked <= state.step <= step_when_asked + 2, (step_when_asked, state.step)
    checkpoint = tmp_path / "checkpoints" / "ckpt.pt"
    assert checkpoint.is_file()
    assert load_checkpoint(checkpoint)["step"] == state.step

    status = app.job_view(state, OWNER, "en")[0]
    assert status == message("stopped", "en", step=state.step, checkpoint=str(checkpoint))
    assert app.job_view(state, OWNER, "ko")[0].startswith(f"{state.step:,} 스텝에서 멈췄습니다")
    assert app.stop_training(OWNER, "en") == message("nothing_to_stop", "en")


def test_a_second_start_while_running_is_busy(app):
    assert app.start_training(controls(max_steps=20000.0, eval_interval=20000.0), TEST_VOCAB_SIZE, "ask",
                              OWNER, "en") is None
    first_config = app.job.snapshot().cfg
    assert app.start_training(controls(), TEST_VOCAB_SIZE, "ask", OTHER, "en") == message("busy", "en")
    assert app.start_training(controls(), TEST_VOCAB_SIZE, "ask", OWNER, "ko") == message("busy", "ko")
    # The refused start changed nothing.
    state = app.job.snapshot()
    assert state.owner == OWNER and state.cfg == first_config and state.active

    # Nothing else that needs the machine runs meanwhile either.
    summary, _ = app.measure_step_time(controls(), 600)
    assert summary == message("busy", "en")
    status, preview = app.prepare_data("builtin_en", None, 1000, OTHER, "en")
    assert "a training run is in progress" in status and preview == []

    assert app.stop_training(OWNER, "en") == message("stop_requested", "en")
    assert app.job.wait(10)
    assert app.job.snapshot().finish_reason == "stopped"


def test_architecture_mismatch_offers_resume_or_fresh(app, tmp_path):
    checkpoints = tmp_path / "checkpoints"
    first = run_to_end(app, controls(n_layer=1.0, max_steps=10.0, eval_interval=10.0))
    assert first.finish_reason == "done"

    # Another n_layer: the run refuses to load the checkpoint and says why.
    state = run_to_end(app, controls(n_layer=2.0, max_steps=20.0, eval_interval=10.0))
    assert state.status == "failed" and state.error_kind == "architecture"
    assert "n_layer 1 in the checkpoint vs 2 requested" in state.message
    status, *_, train, stop, resume, fresh = app.job_view(state, OWNER, "en")
    assert status.startswith("**The checkpoint has another architecture.**") and "n_layer 1" in status
    assert update_of(resume)["visible"] is True and update_of(fresh)["visible"] is True
    assert update_of(train)["interactive"] is True and update_of(stop)["interactive"] is False
    assert app.job_view(state, OWNER, "ko")[0].startswith("**체크포인트의 모델 구조가 다릅니다.**")
    assert [p.name for p in checkpoints.glob("*.pt")].count("ckpt.pt") == 1
    assert load_checkpoint(checkpoints / "ckpt.pt")["step"] == 10  # untouched

    # "Resume with the checkpoint's architecture": n_layer 1 again, on to step 20.
    state = run_to_end(app, controls(n_layer=2.0, max_steps=20.0, eval_interval=10.0),
                       resume_mode="checkpoint_architecture")
    assert state.status == "finished" and state.finish_reason == "done", state.message
    assert state.cfg.n_layer == 1 and state.start_step == 10 and state.step == 20
    assert "resuming from step 10" in state.log
    resume, fresh = app.job_view(state, OWNER, "en")[7:9]
    assert update_of(resume)["visible"] is False and update_of(fresh)["visible"] is False

    # "Start fresh": the old checkpoint is kept under another name, the new run has 2 layers.
    state = run_to_end(app, controls(n_layer=2.0, max_steps=10.0, eval_interval=10.0), resume_mode="fresh")
    assert state.status == "finished" and state.cfg.n_layer == 2 and state.start_step == 0
    kept = [p for p in checkpoints.glob("ckpt-*.pt")]
    assert len(kept) == 1, sorted(checkpoints.iterdir())
    assert any(line == f"previous run kept as {kept[0]}" for line in state.log), state.log
    old = load_checkpoint(kept[0])
    assert old["step"] == 20 and old["cfg"]["n_layer"] == 1
    new = load_checkpoint(checkpoints / "ckpt.pt")
    assert new["step"] == 10 and new["cfg"]["n_layer"] == 2
    assert "n_layer 2" in app.checkpoint_info("en")


def test_a_config_too_big_for_memory_is_flagged_in_the_summary_and_refused_before_any_question(app, tmp_path,
                                                                                                 monkeypatch):
    import gpt.run
    first = run_to_end(app, controls(max_steps=10.0, eval_interval=10.0))
    assert first.finish_reason == "done"
    saved = (tmp_path / "checkpoints" / "ckpt.pt").read_bytes()
    monkeypatch.setattr(gpt.run, "estimate_training_memory", lambda cfg: 1 << 60)
    bigger = controls(n_layer=2.0, max_steps=20.0)  # another architecture too: the memory message comes first
    summary, problems = app.describe_config(bigger, TEST_VOCAB_SIZE)
    assert "of memory" in summary
    assert "needs about 1073741824.0 GiB" in problems and "smaller batch_size, block_size 128" in problems
    refusal = app.start_training(bigger, TEST_VOCAB_SIZE, "ask", OWNER, "en")
    assert refusal is not None and "needs about" in refusal and "n_layer 4, n_embd 256" in refusal
    assert not app.job.snapshot().active
    assert (tmp_path / "checkpoints" / "ckpt.pt").read_bytes() == saved


def test_the_download_button_offers_only_a_checkpoint_that_loads(trained_app):
    info, download = trained_app.run_view("", "en")[:2]
    assert update_of(download)["visible"] is True and update_of(download)["value"].endswith("ckpt.pt")
    checkpoint = trained_app.storage.run("").checkpoint
    original = checkpoint.read_bytes()
    try:
        checkpoint.write_bytes(original[: len(original) // 2])  # truncated
        info, download = trained_app.run_view("", "en")[:2]
        assert "not a readable checkpoint" in info or "corrupt" in info, info
        assert update_of(download)["visible"] is False and update_of(download)["value"] is None
    finally:
        checkpoint.write_bytes(original)
    assert update_of(trained_app.run_view("", "en")[1])["visible"] is True



def test_the_sample_tab_shows_how_the_checkpoint_was_trained_and_the_command_that_retrains_it(trained_app):
    for language, words in (("en", "seed"), ("ko", "시드")):
        card = trained_app.run_view("", language).sample__reproducibility
        assert f"{words} 1337" in card and "float32" in card
        assert "scripts/train_gpt.py" in card and "--fresh" in card and "--max_steps 30" in card


def test_the_export_button_gives_a_transformers_zip_and_refuses_a_broken_checkpoint(trained_app):
    import zipfile

    exported = trained_app.export("", "en")
    zip_path = update_of(exported.sample__export_file)["value"]
    assert update_of(exported.sample__export_file)["visible"] is True and zip_path.endswith("-transformers.zip")
    assert "from_pretrained" in exported.sample__export_note
    names = set(zipfile.ZipFile(zip_path).namelist())
    assert {"config.json", "model.safetensors", "tokenizer.json", "README.md"} <= {Path(n).name for n in names}
    checkpoint = trained_app.storage.run("").checkpoint
    original = checkpoint.read_bytes()
    try:
        checkpoint.write_bytes(original[: len(original) // 2])
        for language, words in (("en", "Cannot export"), ("ko", "내보낼 수 없습니다")):
            refused = trained_app.export("", language)
            assert update_of(refused.sample__export_file)["visible"] is False
            assert words in refused.sample__export_note
    finally:
        checkpoint.write_bytes(original)
    assert "Fix this first" in trained_app.export("../outside", "en").sample__export_note


# -- data --------------------------------------------------------------------------------------


def test_prepare_data_from_an_uploaded_text_file(empty_app, tmp_path):
    upload = tmp_path / "postings.txt"
    upload.write_text(make_text(200_000, seed=7), encoding="utf-8")
    assert empty_app.data_status("en") == message("no_data", "en")

    status, preview = empty_app.prepare_data("upload", [str(upload)], 1000, OWNER, "en")
    assert status.startswith("**postings.txt**:"), status
    assert "train and" in status and "validation tokens" in status and "vocabulary 1,000" in status
    data = empty_app.storage.root / "data"
    assert all((data / name).is_file() for name in DATA_FILES)
    assert preview and all(category in "0123" for _, category in preview)
    assert "".join(piece for piece, _ in preview) == upload.read_text(encoding="utf-8")[:600]
    assert empty_app.data_status("en") == status
    assert empty_app.data_status("ko").startswith("**postings.txt**: 학습 토큰")
    # The summary now sizes the model with the data's vocabulary.
    cfg = empty_app.storage.config(block_size=32, n_layer=1, n_head=2, n_embd=32, vocab_size=1000)
    summary, _ = empty_app.describe_config(controls(), 24000)
    assert f"**{_human_count(count_parameters(cfg))}** parameters" in summary
    # The job is idle again afterwards, not stuck in "preparing data".
    assert empty_app.job.snapshot().status == "idle"


@pytest.mark.parametrize("name, content, expected", ids=["empty", "whitespace", "binary", "latin1", "cut-character"],
                         argvalues=[
    ("empty.txt", b"", "empty.txt: the file is empty"),
    ("blank.txt", b"  \n\t\n  ", "blank.txt: the file holds only whitespace"),
    ("image.txt", b"GIF89a\x01\x00\x00\x00\xff", "image.txt: this looks like a binary file (it contains NUL bytes, "
                                                  "first at byte 7"),
    ("latin1.txt", b"hello world\n" * 10 + "caf\u00e9 au lait\n".encode("latin-1"), "latin1.txt: not valid UTF-8 at "
                                                                                     "byte 123"),
    ("cut.txt", "채용 공고\n".encode("utf-8") + "서".encode("utf-8")[:2], "cut.txt: not valid UTF-8 at byte"),
])
def test_prepare_data_refuses_bad_uploads_and_keeps_the_data(app, tmp_path, name, content, expected):
    data = tmp_path / "data"
    before = file_bytes(data)
    upload = tmp_path / "uploads" / name
    upload.parent.mkdir()
    upload.write_bytes(content)
    status, preview = app.prepare_data("upload", [str(upload)], 1000, OWNER, "en")
    assert status.startswith("**Cannot use this data:**"), status
    assert expected in status, status
    assert preview == []
    assert file_bytes(data) == before
    assert not list(data.glob("*.tmp"))
    korean, _ = app.prepare_data("upload", [str(upload)], 1000, OWNER, "ko")
    assert korean.startswith("**이 데이터를 쓸 수 없습니다:**")
    assert app.job.snapshot().status == "idle"


def test_prepare_data_explains_missing_uploads_and_bad_settings(app, tmp_path):
    before = file_bytes(tmp_path / "data")
    status, preview = app.prepare_data("upload", [], 1000, OWNER, "en")
    assert message("need_upload", "en") in status and preview == []
    status, _ = app.prepare_data("upload", None, 1000, OWNER, "ko")
    assert message("need_upload", "ko") in status
    status, _ = app.prepare_data("upload", [str(tmp_path / "nope.txt")], 100, OWNER, "en")
    assert "vocab_size must be between 257" in status
    status, _ = app.prepare_data("wikipedia", None, 1000, OWNER, "en")
    assert "unknown corpus 'wikipedia'" in status
    assert file_bytes(tmp_path / "data") == before


def test_token_preview_pieces_join_back_to_the_text(app, text_file):
    pieces = app.token_preview(text_file)
    text = text_file.read_text(encoding="utf-8")
    assert len(pieces) > 20
    assert "".join(piece for piece, _ in pieces) == text[:600]
    assert [category for _, category in pieces[:8]] == ["0", "1", "2", "3", "0", "1", "2", "3"]
    assert all(piece for piece, _ in pieces)
    # Korean characters are never cut between two pieces.
    korean = Path(app.storage.root) / "korean.txt"
    korean.write_text("채용 공고: 백엔드 개발자를 모집합니다. 서울 근무 😀\n", encoding="utf-8")
    pieces = app.token_preview(korean)
    assert "".join(piece for piece, _ in pieces) == korean.read_text(encoding="utf-8")
    assert all("\ufffd" not in piece for piece, _ in pieces)
    assert app.token_preview(Path(app.storage.root) / "missing.txt") == []


# -- sampling ----------------------------------------------------------------------------------


def test_sample_streams_growing_text(trained_app):
    prompt = "채용 공고"
    views = list(trained_app.sample(prompt, 0.9, 50, 1.0, 80, 3, "en"))
    assert len(views) >= 2, "the first piece and the final text are yielded at least"
    texts = [text for text, _ in views]
    assert all(text.startswith(prompt) for text in texts)
    assert all(later.startswith(earlier) for earlier, later in zip(texts, texts[1:]))
    assert len(texts[-1]) > len(prompt) + 10
    assert all(note == "" for _, note in views)
    # The same seed gives the same text.
    assert list(trained_app.sample(prompt, 0.9, 50, 1.0, 80, 3, "en"))[-1][0] == texts[-1]


def test_sample_refuses_bad_settings(trained_app):
    assert list(trained_app.sample("hi", -0.5, 50, 1.0, 20, 1, "en")) == [
        ("", "**Fix this first:** temperature must be zero (greedy) or positive, got -0.5")]
    [(text, note)] = list(trained_app.sample("hi", float("nan"), -1, 0.0, 0, 1, "en"))
    assert text == "" and note.startswith("**Fix this first:**")
    for field in ("temperature", "top_k", "top_p", "max_new_tokens"):
        assert field in note
    [(_, korean)] = list(trained_app.sample("hi", -1.0, 50, 1.0, 20, 1, "ko"))
    assert korean.startswith("**먼저 고쳐 주세요:**")


def test_sample_with_an_empty_prompt_starts_a_new_document(trained_app):
    for prompt in ("", None):
        text, note = list(trained_app.sample(prompt, 0.9, 50, 1.0, 40, 5, "en"))[-1]
        assert text.strip() and note == ""


def test_sample_notes_top_k_above_the_vocabulary_and_long_prompts(trained_app):
    text, note = list(trained_app.sample("the team", 0.9, 1000, 1.0, 10, 1, "en"))[-1]
    assert text.startswith("the team")
    assert "top_k 1000 is larger than the vocabulary (600)" in note
    long_prompt = "we build small fast service " * 40
    text, note = list(trained_app.sample(long_prompt, 0.0, 0, 1.0, 5, 1, "en"))[-1]
    assert "longer than block_size (32 tokens)" in note
    assert text.startswith(long_prompt)


def test_greedy_sampling_is_deterministic(trained_app):
    first = list(trained_app.sample("서울", 0.0, 0, 1.0, 20, -1, "en"))[-1]
    second = list(trained_app.sample("서울", 0.0, 0, 1.0, 20, -1, "en"))[-1]
    assert first == second and len(first[0]) > len("서울")


def test_checkpoint_info_shows_the_step(trained_app):
    info = trained_app.checkpoint_info("en")
    assert info.startswith("**Checkpoint**") and "step **30**" in info
    assert "val loss **" in info and "val loss **—**" not in info
    assert "block_size 32" in info and "vocab 600" in info
    assert f"sampling with {trained_app.loaded_model().checkpoint_info['precision']} weights" in info
    korean = trained_app.checkpoint_info("ko")
    assert korean.startswith("**체크포인트**") and "스텝 **30**" in korean


def test_without_a_checkpoint_sampling_says_so(empty_app):
    assert empty_app.checkpoint_info("en") == message("no_checkpoint", "en")
    assert empty_app.checkpoint_info("ko") == "아직 체크포인트가 없습니다. 먼저 학습하세요."
    [(text, note)] = list(empty_app.sample("hello", 0.9, 50, 1.0, 20, 1, "en"))
    assert text == ""
    assert note.startswith("**Cannot sample:** no checkpoint at ") and "train first" in note
    [(_, korean)] = list(empty_app.sample("hello", 0.9, 50, 1.0, 20, 1, "ko"))
    assert korean.startswith("**샘플을 만들 수 없습니다:**")


def test_sampling_picks_up_a_new_checkpoint(app):
    run_to_end(app, controls(max_steps=10.0, eval_interval=10.0))
    assert "step **10**" in app.checkpoint_info("en")
    assert app._loaded is None, "described from the file's small entries: no model loaded until text is asked for"
    first_model = app.loaded_model()
    time.sleep(0.01)  # a new modification time
    run_to_end(app, controls(max_steps=20.0, eval_interval=10.0))
    assert "step **20**" in app.checkpoint_info("en")
    assert app.loaded_model() is not first_model


def test_a_checkpoint_moved_aside_between_the_check_and_the_read_is_said_to_be_gone(app, tmp_path, monkeypatch):
    # A fresh run moves the old checkpoint aside while a page may be describing it.
    run_to_end(app, controls(max_steps=10.0, eval_interval=10.0))
    (tmp_path / "checkpoints" / "ckpt.pt").unlink()
    monkeypatch.setattr(Path, "is_file", lambda self: True)  # the file was there when checked
    info = app.checkpoint_info("en")
    assert info == message("checkpoint_error", "en", message=f"no checkpoint at {tmp_path / 'checkpoints' / 'ckpt.pt'}; "
                                                          "train first")


# -- named runs --------------------------------------------------------------------------------


def test_a_named_run_trains_in_its_own_folder_and_the_sample_tab_samples_it(app, tmp_path):
    run_to_end(app, controls(max_steps=20.0, eval_interval=10.0))
    default_file = tmp_path / "checkpoints" / "ckpt.pt"
    named_file = tmp_path / "checkpoints" / "실험-1" / "ckpt.pt"
    assert default_file.is_file() and app.storage.runs() == [""]

    state = run_to_end(app, controls(run_name="실험-1", max_steps=10.0, eval_interval=10.0))
    assert state.finish_reason == "done" and state.checkpoint == str(named_file)
    assert load_checkpoint(named_file)["step"] == 10 and load_checkpoint(default_file)["step"] == 20
    assert app.storage.runs() == ["", "실험-1"]

    picker, info, download = app.sample_tab_view("실험-1", "en")[:3]
    assert update_of(picker)["choices"] == [("(default)", ""), ("실험-1", "실험-1")]
    assert picker["value"] == "실험-1"
    assert "step **10**" in info and "실험-1" in info
    assert update_of(download)["value"] == str(named_file) and download["visible"] is True
    assert "step **20**" in app.run_view("", "en")[0]
    # A run that is gone falls back to the default run; the default run's label follows the language.
    picker, info, _ = app.sample_tab_view("gone", "ko")[:3]
    assert picker["value"] == "" and picker["choices"][0] == ("(기본)", "") and "스텝 **20**" in info

    text, note = list(app.sample("채용", 0.0, 0, 1.0, 20, 1, "en", "실험-1"))[-1]
    assert text.startswith("채용") and len(text) > len("채용") and note == ""
    assert app.loaded_model("실험-1").checkpoint_info["path"] == str(named_file)
    assert app.loaded_model().checkpoint_info["step"] == 20  # the default run, as before run names

    # Training the named run again resumes it.
    state = run_to_end(app, controls(run_name="실험-1", max_steps=20.0, eval_interval=10.0))
    assert state.start_step == 10 and state.step == 20 and "resuming from step 10" in state.log


def test_a_bad_run_name_is_refused_and_nothing_outside_checkpoints_is_read(app, tmp_path):
    run_to_end(app, controls(max_steps=10.0, eval_interval=10.0))
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "ckpt.pt").write_bytes((tmp_path / "checkpoints" / "ckpt.pt").read_bytes())
    expected = "run name '../outside' contains '/': a run name may only use letters, digits"

    summary, problems = app.describe_config(controls(run_name="../outside"), 600)
    assert "parameters" in summary and problems.startswith("**Fix these first:**") and expected in problems
    refusal = app.start_training(controls(run_name="../outside"), TEST_VOCAB_SIZE, "ask", OWNER, "en")
    assert refusal.startswith("**Fix these first:**") and expected in refusal
    assert app.job.snapshot().status == "finished" and app.job.snapshot().step == 10  # nothing started

    assert list(app.sample("hi", 0.9, 50, 1.0, 20, 1, "en", "../outside")) == [
        ("", "**Fix this first:** " + app.storage.config(run_name="../outside").problems()[0][1])]
    assert app.checkpoint_info("en", "../outside").startswith("**Fix this first:** " + expected)
    info, download = app.run_view("/etc", "en")[:2]
    assert "run name '/etc' contains '/'" in info and update_of(download)["visible"] is False
    with pytest.raises(ConfigError, match="contains '/'"):
        app.loaded_model("../outside")
    assert app._loaded is None, "no checkpoint was loaded"
    assert app.sample_tab_view("../outside", "en")[0]["value"] == ""  # the picker falls back to a real run


# -- Korean ------------------------------------------------------------------------------------


def test_korean_messages_while_running(app):
    assert app.job_view(app.job.snapshot(), OWNER, "ko")[0] == "아직 학습을 시작하지 않았습니다."
    assert app.stop_training(OWNER, "ko") == "진행 중인 학습이 없습니다."
    assert app.start_training(controls(max_steps=20000.0, eval_interval=20000.0), TEST_VOCAB_SIZE, "ask",
                              OWNER, "ko") is None
    wait_for(lambda: app.job.snapshot().step > 0)
    status, progress, figure, *_ = app.job_view(app.job.snapshot(), OWNER, "ko")
    assert status.startswith("학습 중: 20,000 스텝 중")
    assert progress and "초당" in progress and "남은 시간" in progress
    assert figure.layout.xaxis.title.text == "스텝"
    # The evaluation at step 0 (before any update) is on the plot from the start.
    assert {trace.name for trace in figure.data} == {"학습 손실 (배치)", "학습 손실 (평가)", "검증 손실"}
    watcher = app.job_view(app.job.snapshot(), OTHER, "ko")[0]
    assert watcher.startswith("다른 방문자가 시작한 학습이 진행 중입니다")
    assert app.stop_training(OWNER, "ko") == "현재 스텝이 끝나면 멈추고 체크포인트를 저장합니다."
    assert app.job.wait(10)


# -- regressions of bugs found while writing these tests ------------------------------------------


def test_locked_controls_show_the_architecture_that_actually_trains(app, monkeypatch):
    import threading

    import ui.job
    import ui.train_tab

    run_to_end(app, controls(n_layer=1.0, max_steps=10.0, eval_interval=10.0))
    gate = threading.Event()
    real_train = ui.job.train

    def gated_train(*args, **options):  # hold the run until the page has drawn its first frame
        gate.wait(10)
        yield from real_train(*args, **options)

    monkeypatch.setattr(ui.job, "train", gated_train)
    monkeypatch.setattr(ui.train_tab, "FOLLOW_INTERVAL_SECONDS", 0.02)
    shown = []

    async def watch():
        async for view in app.follow(OWNER, "en"):
            lock = view[9 + CONTROL_FIELDS.index("n_layer")]
            if "value" in lock:
                shown.append(lock["value"])
            gate.set()
            state = app.job.snapshot()
            if state.status == "running" and state.step > 10:
                app.job.stop(OWNER)

    assert app.start_training(controls(n_layer=2.0, max_steps=20000.0, eval_interval=20000.0), TEST_VOCAB_SIZE,
                              "checkpoint_architecture", OWNER, "en") is None
    asyncio.run(asyncio.wait_for(watch(), 30))
    assert app.job.wait(10)
    assert app.job.snapshot().cfg.n_layer == 1  # what trained
    assert shown and shown[-1] == 1, f"n_layer values the page was sent: {shown}"


def test_a_cut_character_is_reported_where_it_starts(app, tmp_path):
    upload = tmp_path / "cut.txt"
    upload.write_bytes("채용 공고\n".encode("utf-8") + "서".encode("utf-8")[:2])  # the cut character starts at 14
    status, _ = app.prepare_data("upload", [str(upload)], 1000, OWNER, "en")
    assert "not valid UTF-8 at byte 14 " in status, status


# -- storage on a Hugging Face Space ------------------------------------------------------------


def test_storage_on_a_space_without_persistent_storage_is_temporary(tmp_path, monkeypatch):
    monkeypatch.delenv("GPT_STORAGE_DIR", raising=False)
    monkeypatch.setenv("SPACE_ID", "someone/small-gpt")
    storage = Storage.for_this_machine(tmp_path)
    if Path("/data").is_dir() and os.access("/data", os.W_OK):
        assert storage.root == Path("/data") and not storage.temporary
    else:
        assert storage.root == tmp_path and storage.temporary
    monkeypatch.delenv("SPACE_ID")
    local = Storage.for_this_machine(tmp_path)
    assert local.root == tmp_path and not local.temporary
    assert local.config().out_dir == str(tmp_path / "checkpoints")


def test_the_page_warns_about_temporary_storage_in_both_languages(tmp_path):
    import app as app_module
    from gpt.locales import TABLES

    def warnings(storage):
        components = app_module.build_ui(TrainerApp(storage)).get_config_file()["components"]
        return [c["props"].get("value") for c in components if c["props"].get("elem_id") == "temporary-storage"]

    shown = warnings(Storage(tmp_path, temporary=True))
    assert len(shown) == 1 and "temporary_storage" in str(shown[0])  # a translated label, not fixed text
    english, korean = (TABLES[language]["label.temporary_storage"] for language in ("en", "ko"))
    assert "lost when it restarts" in english and "영구 저장소" in korean
    assert warnings(Storage(tmp_path)) == []


@pytest.mark.parametrize("precision", precisions("float32", "bfloat16", "float16", "int8", "int4"))
def test_the_sample_tab_samples_in_each_precision_and_says_which(trained_app, precision):
    outputs = list(trained_app.sample("", 0.9, 50, 1.0, 12, 5, "en", "", precision))
    text, note = outputs[-1]
    assert text.strip() and note == ""
    assert trained_app.loaded_model("", precision).checkpoint_info["precision"] == precision


def test_int4_on_a_torch_without_its_kernel_is_a_sentence_in_the_sample_tab(trained_app, monkeypatch):
    monkeypatch.delattr(torch, "_weight_int4pack_mm_for_cpu", raising=False)  # as before torch 2.6
    trained_app._loaded = None  # an int4 model an earlier test loaded would be used as it is
    text, note = list(trained_app.sample("", 0.9, 50, 1.0, 12, 5, "en", "", "int4"))[-1]
    assert text == "" and note.startswith("**Fix this first:** precision int4 needs torch's int4 kernel"), note
    assert "use int8, float32 or bfloat16" in note
    text, note = list(trained_app.sample("", 0.9, 50, 1.0, 12, 5, "en", "", "auto"))[-1]
    assert text.strip() and note == ""  # auto takes what this torch has


def test_the_sample_tab_refuses_an_unknown_precision(trained_app):
    text, note = list(trained_app.sample("", 0.9, 50, 1.0, 12, 5, "en", "", "int3"))[-1]
    assert text == "" and "precision must be one of auto, float32, bfloat16, float16, int8, int4, got 'int3'" in note


def test_a_failure_while_sampling_is_a_sentence_that_keeps_the_text(trained_app, monkeypatch):
    import gpt.inference

    def broken(*args, **kwargs):
        yield 5
        raise RuntimeError("Expected query, key, and value to have the same dtype")
    monkeypatch.setattr(gpt.inference, "generate", broken)
    text, note = list(trained_app.sample("[채용]", 0.9, 50, 1.0, 12, 5, "en", "", "bfloat16"))[-1]
    assert text.startswith("[채용]")
    assert note == ("**Generating stopped:** the model failed while sampling with bfloat16 weights; the text so far is "
                    "kept above. Try precision float32.")
    assert "Error" not in note


def test_the_step_slider_shows_the_sample_kept_at_any_evaluation_also_after_a_restart(app, tmp_path):
    state = run_to_end(app, controls(max_steps=30.0, eval_interval=10.0, sample_every_eval=True))
    samples = dict(state.samples)
    assert sorted(samples) == [0, 10, 20, 30]
    for step, shown in ((0, 0), (10, 10), (19, 10), (30, 30)):
        view = app.history_view("", step, "en")
        assert view.train__history_sample.startswith(f"step {shown} · val loss")
        assert view.train__history_sample.endswith(samples[shown])
        assert update_of(view.train__history_step)["maximum"] == 30
    assert app.history_view("", 10, "ko").train__history_sample.startswith("10 스텝 · 검증 손실")
    restarted = TrainerApp(Storage(tmp_path))  # a new server: the history comes from the checkpoint
    assert restarted.history_view("", 20, "en").train__history_sample.endswith(samples[20])
    assert restarted.history_view("nothing-here", 20, "en").train__history_sample.startswith("No samples kept yet")


def test_the_loss_plot_is_redrawn_soon_after_a_run_starts_then_less_often(monkeypatch):
    """A new point every second: redraws 1, 2, 4, 8, 16 s apart, then every PLOT_SECONDS, and the last one at the end."""
    import types

    import ui.train_tab
    from ui.job import JobState
    from ui.train_tab import TrainTab

    clock = [0.0]

    async def tick(seconds):
        clock[0] += seconds

    monkeypatch.setattr(ui.train_tab.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(ui.train_tab.asyncio, "sleep", tick)
    monkeypatch.setattr(ui.train_tab, "PLOT_SECONDS", 30.0)
    end = 100

    def snapshot():  # one logged loss per simulated second, the run over at `end`
        second = int(clock[0])
        return JobState(status="running" if second < end else "finished", started_at=1.0, max_steps=1000,
                        vocab_size=TEST_VOCAB_SIZE, train_losses=[(step, 5.0) for step in range(second + 1)])

    tab = types.SimpleNamespace(job=types.SimpleNamespace(snapshot=snapshot))

    async def redraw_times():
        return [clock[0] async for _ in TrainTab.follow_plot(tab, "en")]

    times = asyncio.run(redraw_times())
    assert times == [0, 1, 3, 7, 15, 31, 61, 91, end], times
