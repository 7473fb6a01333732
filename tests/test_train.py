"""The training loop: it learns, its events, resuming, stopping, diverging, data and checkpoint checks."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

import gpt.run
import gpt.run_setup
import gpt.train
from gpt.checkpoint import ArchitectureMismatch, CheckpointError, TokenizerMismatch, load_checkpoint
from gpt.run import list_runs
from gpt.config import Config, ConfigError
from gpt.data import DataError, DataInfo, Progress, prepare_builtin, read_meta
from gpt.model import count_parameters
from gpt.tokenizer import save_tokenizer, train_tokenizer
from gpt.schedules import learning_rate
from gpt.train import (CheckpointSaved, Evaluated, Finished, Sampled, Started, StepDone, bits_per_byte, has_diverged,
                       train)

from conftest import TEST_VOCAB_SIZE, make_text, run_training, tiny_config


def of(events, kind):
    return [e for e in events if isinstance(e, kind)]


def checkpoint_of(cfg: Config) -> Path:
    return Path(cfg.out_dir) / "ckpt.pt"


def optimizer_steps(checkpoint: dict) -> set[int]:
    """AdamW's step count of every parameter in a saved optimizer state."""
    return {int(state["step"]) for state in checkpoint["optim"]["state"].values()}


def drive(steps):
    try:
        while True:
            next(steps)
    except StopIteration as finished:
        return finished.value


# ---------------------------------------------------------------------------------------------
# The model learns


def test_a_tiny_model_learns_on_the_builtin_corpus(tmp_path):
    cfg = tiny_config(tmp_path, vocab_size=1000, n_embd=64, block_size=64, batch_size=16, lr=3e-3, max_steps=120,
                      eval_interval=20, eval_iters=4, log_interval=20)
    info = drive(prepare_builtin(cfg.train_bin, cfg.val_bin, cfg.tok_path, cfg.vocab_size, target_bytes=300_000))
    assert info.vocab_size == 1000 and info.source == "built-in job postings (ko)"
    assert 250_000 <= info.text_bytes <= 400_000
    assert (tmp_path / "data" / "job_postings_ko.txt").stat().st_size >= 250_000
    events = run_training(cfg)
    evaluations = of(events, Evaluated)
    assert [e.step for e in evaluations] == list(range(0, 121, 20))  # step 0: before any update
    first, last = evaluations[0], evaluations[-1]
    assert first.val_loss < math.log(1000) + 0.2
    assert last.val_loss < first.val_loss - 1.0, [round(e.val_loss, 3) for e in evaluations]
    assert last.val_loss == min(e.val_loss for e in evaluations)
    assert last.val_bpb is not None and last.val_bpb < first.val_bpb
    assert events[-1].reason == "done"


# ---------------------------------------------------------------------------------------------
# Events


def test_events_in_order(cfg, prepared):
    _, info = prepared
    cfg = cfg.replace(max_steps=25, eval_interval=10, log_interval=5, sample_every_eval=True)
    events = run_training(cfg)
    kinds = [type(e).__name__ for e in events]
    per_eval = ["Evaluated", "Sampled", "CheckpointSaved"]
    # Step 0 is evaluated and sampled (before any update) but not saved: nothing was learnt yet.
    assert kinds == (["Started", "Evaluated", "Sampled", "StepDone", "StepDone"] + per_eval + ["StepDone"] * 2 + per_eval
                     + ["StepDone"] + per_eval + ["Finished"])
    assert [e.step for e in of(events, StepDone)] == [5, 10, 15, 20, 25]
    assert [e.step for e in of(events, Evaluated)] == [0, 10, 20, 25]
    assert [e.step for e in of(events, Sampled)] == [0, 10, 20, 25]
    assert [e.step for e in of(events, CheckpointSaved)] == [10, 20, 25]

    started = events[0]
    assert started.step == 0 and not started.resumed and started.max_steps == 25
    assert started.device.startswith("cpu") and started.dtype == "float32"
    assert started.vocab_size == TEST_VOCAB_SIZE
    assert started.parameters == count_parameters(cfg.replace(vocab_size=TEST_VOCAB_SIZE))
    assert started.train_tokens == info.train_tokens and started.val_tokens == info.val_tokens
    assert started.tokens_per_step == cfg.batch_size * cfg.block_size
    assert started.checkpoint == str(checkpoint_of(cfg)) and started.archived_checkpoint is None
    assert started.history == [] and started.cfg.vocab_size == TEST_VOCAB_SIZE

    finished = events[-1]
    assert finished.reason == "done" and finished.step == 25 and finished.checkpoint == str(checkpoint_of(cfg))
    for event in of(events, StepDone):
        assert math.isfinite(event.loss) and event.lr == cfg.lr and event.tokens_per_second > 0
    for event in of(events, Evaluated):
        assert math.isfinite(event.train_loss) and math.isfinite(event.val_loss) and event.val_bpb is not None
        assert event.val_bpb == pytest.approx(bits_per_byte(event.val_loss, info))
    for event in of(events, Sampled):
        assert isinstance(event.text, str) and "\ufffd" not in event.text

    saved = load_checkpoint(checkpoint_of(cfg))
    assert saved["step"] == 25
    assert [h["step"] for h in saved["history"]] == [0, 10, 20, 25]
    assert saved["val_loss"] == of(events, Evaluated)[-1].val_loss
    assert saved["tokenizer"]["vocab_size"] == TEST_VOCAB_SIZE
    assert Config.from_dict(saved["cfg"]) == started.cfg


def test_best_checkpoint_follows_the_best_validation_loss(cfg):
    events = run_training(cfg.replace(max_steps=30, eval_interval=10, lr=3e-3))
    saves = of(events, CheckpointSaved)
    losses = [e.val_loss for e in of(events, Evaluated)]
    best_file = Path(cfg.out_dir) / "best.pt"
    assert saves[0].best_path == str(best_file)
    for index, (save, loss) in enumerate(zip(saves, losses)):
        assert (save.best_path is not None) == (loss < min(losses[:index], default=math.inf))
    best = load_checkpoint(best_file)
    assert best["val_loss"] == min(losses)


def test_no_samples_when_turned_off(cfg):
    events = run_training(cfg.replace(sample_every_eval=False))
    assert not of(events, Sampled) and of(events, Evaluated)


def test_training_is_reproducible(tmp_path, prepared):
    runs = []
    for name in ("a", "b"):
        folder = tmp_path / name
        (folder / "data").mkdir(parents=True)
        source, _ = prepared
        for file in ("train.bin", "val.bin", "tokenizer.json", "meta.json"):
            (folder / "data" / file).write_bytes((source / file).read_bytes())
        events = run_training(tiny_config(folder, max_steps=20))
        runs.append([(e.step, e.val_loss) for e in of(events, Evaluated)])
    assert runs[0] == runs[1]


def test_gradient_accumulation_equals_one_bigger_batch(tmp_path, prepared):
    """2 micro-batches of 8 make the same step as one batch of 16 (the generator draws the same windows)."""
    source, _ = prepared
    results = []
    for name, changes in (("accumulated", dict(batch_size=8, grad_accum_steps=2)),
                          ("big", dict(batch_size=16, grad_accum_steps=1))):
        folder = tmp_path / name
        (folder / "data").mkdir(parents=True)
        for file in ("train.bin", "val.bin", "tokenizer.json", "meta.json"):
            (folder / "data" / file).write_bytes((source / file).read_bytes())
        cfg = tiny_config(folder, max_steps=3, eval_interval=3, log_interval=1, **changes)
        events = run_training(cfg)
        assert events[0].tokens_per_step == 16 * cfg.block_size
        results.append(([e.loss for e in of(events, StepDone)], load_checkpoint(checkpoint_of(cfg))["model"]))
    (losses_a, model_a), (losses_b, model_b) = results
    assert losses_a == pytest.approx(losses_b, abs=1e-5)
    for key in model_a:
        torch.testing.assert_close(model_a[key], model_b[key], atol=1e-5, rtol=1e-4)


# ---------------------------------------------------------------------------------------------
# Resuming


def test_resume_continues_from_the_checkpoint(cfg):
    first = run_training(cfg.replace(max_steps=20, eval_interval=10))
    assert first[-1].step == 20
    saved = load_checkpoint(checkpoint_of(cfg))
    assert saved["step"] == 20 and optimizer_steps(saved) == {20}

    second = run_training(cfg.replace(max_steps=40, eval_interval=10))
    started = second[0]
    assert isinstance(started, Started)
    assert started.resumed and started.step == 20 and started.max_steps == 40
    assert [h["step"] for h in started.history] == [0, 10, 20]
    assert of(second, StepDone)[0].step == 25
    assert [e.step for e in of(second, Evaluated)] == [30, 40]
    assert second[-1].reason == "done" and second[-1].step == 40
    resumed = load_checkpoint(checkpoint_of(cfg))
    assert resumed["step"] == 40
    # AdamW counted on from 20: its state was restored, not started over (which would give 20).
    assert optimizer_steps(resumed) == {40}
    assert [h["step"] for h in resumed["history"]] == [0, 10, 20, 30, 40]


def test_resume_restores_model_and_optimizer_exactly(cfg):
    """Resume and stop before the first step: the checkpoint written is the one that was read."""
    run_training(cfg.replace(max_steps=10, eval_interval=10))
    before = load_checkpoint(checkpoint_of(cfg))
    stop = threading.Event()
    stop.set()
    events = run_training(cfg.replace(max_steps=30, eval_interval=10), stop)
    assert events[0].resumed and events[-1].reason == "stopped" and events[-1].step == 10
    after = load_checkpoint(checkpoint_of(cfg))
    assert after["step"] == 10
    for key, value in before["model"].items():
        assert torch.equal(after["model"][key], value), key
    for index, state in before["optim"]["state"].items():
        for name in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(after["optim"]["state"][index][name], state[name]), (index, name)


def test_resume_at_max_steps_does_nothing(cfg):
    run_training(cfg)
    before = checkpoint_of(cfg).read_bytes()
    events = run_training(cfg)
    assert [type(e) for e in events] == [Started, Finished]
    assert events[-1].reason == "done" and "raise max_steps" in events[-1].message
    assert checkpoint_of(cfg).read_bytes() == before


def test_architecture_mismatch_is_refused(cfg):
    run_training(cfg.replace(max_steps=10))
    before = checkpoint_of(cfg).read_bytes()
    with pytest.raises(ArchitectureMismatch) as raised:
        run_training(cfg.replace(max_steps=20, n_embd=64, n_layer=3))
    message = str(raised.value)
    assert "n_embd 32 in the checkpoint vs 64 requested" in message
    assert "n_layer 2 in the checkpoint vs 3 requested" in message
    assert "--keep_checkpoint_architecture" in message and "--fresh" in message
    assert raised.value.differences == {"n_layer": (2, 3), "n_embd": (32, 64)}
    assert checkpoint_of(cfg).read_bytes() == before


def test_keep_checkpoint_architecture_resumes_with_its_shape(cfg):
    first = run_training(cfg.replace(max_steps=10))
    events = run_training(cfg.replace(max_steps=20, n_embd=64, n_layer=3, block_size=16),
                          keep_checkpoint_architecture=True)
    started = events[0]
    assert started.resumed and started.step == 10
    assert (started.cfg.n_embd, started.cfg.n_layer, started.cfg.block_size) == (32, 2, 32)
    assert started.parameters == first[0].parameters
    assert started.tokens_per_step == cfg.batch_size * 32
    assert events[-1].reason == "done" and events[-1].step == 20


def test_fresh_archives_the_old_checkpoint(cfg):
    run_training(cfg.replace(max_steps=10))
    old = checkpoint_of(cfg).read_bytes()
    old_best = (Path(cfg.out_dir) / "best.pt").read_bytes()
    events = run_training(cfg.replace(max_steps=10), fresh=True)
    started = events[0]
    assert not started.resumed and started.step == 0
    archived = Path(started.archived_checkpoint)
    assert archived.exists() and archived.read_bytes() == old and archived != checkpoint_of(cfg)
    files = {p.name: p.read_bytes() for p in Path(cfg.out_dir).iterdir() if p.is_file()}
    assert old_best in [content for name, content in files.items() if name.startswith("best-")]
    assert load_checkpoint(checkpoint_of(cfg))["step"] == 10
    assert events[-1].reason == "done"


def test_fresh_without_a_checkpoint(cfg):
    events = run_training(cfg, fresh=True)
    assert events[0].archived_checkpoint is None and events[-1].reason == "done"


def test_a_named_run_keeps_its_checkpoints_in_its_own_folder_and_resumes_there(cfg):
    default = run_training(cfg.replace(max_steps=10, eval_interval=10))
    assert default[0].checkpoint == str(Path(cfg.out_dir) / "ckpt.pt")  # the default run: as before run names
    default_bytes = checkpoint_of(cfg).read_bytes()

    named = cfg.replace(run_name="실험-1", max_steps=20, eval_interval=10)
    folder = Path(cfg.out_dir) / "실험-1"
    events = run_training(named)
    assert not events[0].resumed and events[0].step == 0  # the default run's checkpoint is not this run's
    assert events[0].checkpoint == str(folder / "ckpt.pt")
    assert {event.path for event in of(events, CheckpointSaved)} == {str(folder / "ckpt.pt")}
    assert load_checkpoint(folder / "ckpt.pt")["step"] == 20 and (folder / "best.pt").is_file()

    again = run_training(named.replace(max_steps=30))
    assert again[0].resumed and again[0].step == 20 and again[-1].step == 30
    assert load_checkpoint(folder / "ckpt.pt")["step"] == 30
    assert checkpoint_of(cfg).read_bytes() == default_bytes
    assert sorted(path.name for path in Path(cfg.out_dir).iterdir()) == ["best.pt", "ckpt.pt", "tensorboard", "실험-1"]
    assert list_runs(cfg.out_dir) == ["", "실험-1"]


def test_checkpoint_from_another_tokenizer_is_refused(cfg, data_dir):
    run_training(cfg.replace(max_steps=10))
    other = train_tokenizer([make_text(30_000, seed=5)], TEST_VOCAB_SIZE)
    save_tokenizer(other, data_dir / "tokenizer.json")
    with pytest.raises(TokenizerMismatch):
        run_training(cfg.replace(max_steps=20))


def test_a_corrupt_checkpoint_is_refused_before_training(cfg):
    checkpoint_of(cfg).parent.mkdir(parents=True)
    checkpoint_of(cfg).write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    with pytest.raises(CheckpointError):
        run_training(cfg)


# ---------------------------------------------------------------------------------------------
# Stopping and diverging


def train_stopping(cfg: Config, at_step: int, request_stop) -> list:
    """All events of a run whose stop event is handed to request_stop once step at_step is logged."""
    stop = threading.Event()
    events = []
    for event in train(cfg, stop):
        events.append(event)
        if isinstance(event, StepDone) and event.step == at_step:
            request_stop(stop)
    return events


def test_stop_saves_and_finishes(cfg):
    events = train_stopping(cfg.replace(max_steps=50, eval_interval=50, log_interval=1), 3, threading.Event.set)
    assert events[-1].reason == "stopped" and events[-1].step == 3
    assert "stopped at step 3" in events[-1].message
    assert isinstance(events[-2], CheckpointSaved) and events[-2].step == 3
    assert of(events, StepDone)[-1].step == 3
    assert load_checkpoint(checkpoint_of(cfg))["step"] == 3
    resumed = run_training(cfg.replace(max_steps=6, eval_interval=6))
    assert resumed[0].step == 3 and resumed[-1].step == 6


def test_stop_from_another_thread(cfg):
    events = train_stopping(cfg.replace(max_steps=10_000, eval_interval=10_000, log_interval=1), 2,
                            lambda stop: threading.Thread(target=stop.set).start())
    assert events[-1].reason == "stopped" and events[-1].step < 10_000


DIVERGING = dict(lr=1.0, grad_clip=0.0)  # the loss jumps to ~50, far above ln(vocab): a diverged run


def test_a_diverging_run_finishes_with_advice(cfg):
    events = run_training(cfg.replace(max_steps=100, eval_interval=100, log_interval=1, **DIVERGING))
    finished = events[-1]
    assert finished.reason == "diverged" and finished.step < 100
    assert "lower lr" in finished.message and finished.checkpoint is None
    assert "loss became" in finished.message
    assert not of(events, CheckpointSaved)
    assert not checkpoint_of(cfg).exists()


def test_divergence_found_at_evaluation_keeps_the_last_good_checkpoint(cfg):
    good = run_training(cfg.replace(max_steps=10, eval_interval=10))
    assert good[-1].reason == "done"
    events = run_training(cfg.replace(max_steps=40, eval_interval=5, log_interval=40, **DIVERGING))
    finished = events[-1]
    assert finished.reason == "diverged" and "lower lr" in finished.message
    assert "last good checkpoint" in finished.message
    assert not of(events, CheckpointSaved)
    assert load_checkpoint(checkpoint_of(cfg))["step"] == 10


OUT_OF_MEMORY = [
    torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
    RuntimeError("MPS backend out of memory (MPS allocated: 8.89 GB, other allocations: 172.98 MB, max allowed: "
                 "9.07 GB). Tried to allocate 6.25 MB on private pool."),
    RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: you tried "
                 "to allocate 4294967296 bytes."),
]


def failing_at(call_number: int, error: BaseException, function):
    """`function`, except that its call_number-th call raises `error` (GPU memory cannot be exhausted in CI)."""
    calls = []

    def wrapper(*args, **kwargs):
        calls.append(1)
        if len(calls) == call_number:
            raise error
        return function(*args, **kwargs)
    return wrapper


@pytest.mark.parametrize("error", OUT_OF_MEMORY, ids=["cuda", "mps", "cpu"])
@pytest.mark.parametrize("where", ["train_step", "estimate_loss"])
def test_running_out_of_memory_ends_the_run_and_keeps_the_checkpoint(cfg, monkeypatch, error, where):
    good = run_training(cfg.replace(max_steps=10, eval_interval=10))
    assert good[-1].reason == "done"
    saved = checkpoint_of(cfg).read_bytes()
    # The 5th training step, or the 2nd evaluation (step 20) of the resumed run.
    call_number = 5 if where == "train_step" else 2
    monkeypatch.setattr(gpt.train, where, failing_at(call_number, error, getattr(gpt.train, where)))
    events = run_training(cfg.replace(max_steps=30, eval_interval=5))
    finished = events[-1]
    assert finished.reason == "out_of_memory" and finished.checkpoint is None
    assert "ran out of memory" in finished.message and "is kept" in finished.message
    assert "smaller batch_size, block_size 128, n_layer 4, n_embd 256" in finished.message
    if where == "train_step":  # during step 15: nothing saved since step 10, and that file is untouched
        assert finished.step == 14 and checkpoint_of(cfg).read_bytes() == saved
    else:  # during the evaluation at step 20: step 15's checkpoint stays
        assert finished.step == 20 and load_checkpoint(checkpoint_of(cfg))["step"] == 15


def test_an_error_that_is_not_out_of_memory_ends_the_run_with_a_sentence_and_its_detail(cfg, monkeypatch, capsys):
    monkeypatch.setattr(gpt.train, "train_step", failing_at(1, RuntimeError("shape mismatch"), gpt.train.train_step))
    finished = run_training(cfg.replace(max_steps=5, eval_interval=5))[-1]
    assert finished.reason == "failed" and finished.checkpoint is None
    assert finished.message == ("the training step failed at step 0 (float32 on cpu); no checkpoint was saved yet. "
                                "Try a smaller config")
    assert "Error" not in finished.message
    assert finished.detail == "RuntimeError: shape mismatch"  # for the log and bug reports
    assert "shape mismatch" in capsys.readouterr().err  # the traceback, for whoever runs the server


@pytest.mark.parametrize("where, phase", [("estimate_loss", "the loss evaluation"), ("sample_text", "the sample"),
                                          ("_save", "saving the checkpoint")])
def test_a_failure_in_an_evaluation_a_sample_or_a_save_names_it_and_keeps_the_last_checkpoint(cfg, monkeypatch, where,
                                                                                                phase):
    cfg = cfg.replace(max_steps=20, eval_interval=10, sample_every_eval=True, dtype="bfloat16")
    # The call at step 20: evaluations and samples also run at step 0, saves only from step 10 on.
    call_number = 2 if where == "_save" else 3
    monkeypatch.setattr(gpt.train, where, failing_at(call_number, ValueError("boom"), getattr(gpt.train, where)))
    finished = run_training(cfg)[-1]
    assert finished.reason == "failed"
    assert finished.message == (f"{phase} failed at step 20 (bfloat16 on cpu); the last checkpoint "
                                f"({checkpoint_of(cfg)}, step 10) is kept. Try precision float32")
    assert load_checkpoint(checkpoint_of(cfg))["step"] == 10


def test_a_sensible_learning_rate_does_not_count_as_divergence(cfg):
    events = run_training(cfg.replace(lr=1e-2, max_steps=30, eval_interval=30, log_interval=1))
    assert events[-1].reason == "done"
    assert all(not has_diverged(e.loss, events[0].vocab_size) for e in of(events, StepDone))


# ---------------------------------------------------------------------------------------------
# Data and config checks before training


def test_no_data_prepares_the_builtin_corpus(tmp_path, monkeypatch):
    calls = []
    real = prepare_builtin

    def small_builtin(*args, **kwargs):
        calls.append((args, kwargs))
        return real(*args, **kwargs, target_bytes=150_000)

    monkeypatch.setattr(gpt.run_setup, "prepare_builtin", small_builtin)
    cfg = tiny_config(tmp_path, vocab_size=400, max_steps=10, builtin_corpus="ko")
    assert not (tmp_path / "data").exists()
    events = run_training(cfg)
    assert len(calls) == 1
    args, kwargs = calls[0]
    assert args[:4] == (cfg.train_bin, cfg.val_bin, cfg.tok_path, 400)
    assert kwargs["language"] == "ko" and kwargs["seed"] == cfg.seed
    progress = [e for e in events if isinstance(e, Progress)]
    first_started = next(i for i, e in enumerate(events) if isinstance(e, Started))
    assert progress and all(isinstance(e, Progress) for e in events[:first_started])
    assert progress[-1].stage == "done"
    for name in ("train.bin", "val.bin", "tokenizer.json", "meta.json", "job_postings_ko.txt"):
        assert (tmp_path / "data" / name).is_file(), name
    assert read_meta(cfg.train_bin).source == "built-in job postings (ko)"
    assert events[first_started].vocab_size == 400
    assert events[-1].reason == "done"
    # Prepared once: the next run finds the data.
    calls.clear()
    run_training(cfg.replace(max_steps=20))
    assert calls == []


@pytest.mark.parametrize("missing", ["train.bin", "val.bin", "tokenizer.json"])
def test_incomplete_data_is_refused(cfg, data_dir, missing):
    (data_dir / missing).unlink()
    with pytest.raises(DataError) as raised:
        run_training(cfg)
    message = str(raised.value)
    assert "incomplete" in message and str(data_dir / missing) in message
    assert "prepare_data.py" in message
    assert not (data_dir / missing).exists()  # nothing was prepared behind the user's back


def test_bins_from_another_tokenizer_are_refused(cfg, data_dir):
    np.array([1, 2, 60_000, 3] * 100, dtype=np.uint16).tofile(data_dir / "train.bin")
    with pytest.raises(DataError, match="do not belong together"):
        run_training(cfg)


def test_val_bin_from_another_tokenizer_is_refused_before_training(cfg, data_dir):
    np.array([1, 2, 60_000, 3] * 100, dtype=np.uint16).tofile(data_dir / "val.bin")
    with pytest.raises(DataError, match="do not belong together"):
        run_training(cfg)


def test_bad_config_is_refused_before_touching_anything(tmp_path):
    cfg = tiny_config(tmp_path, n_embd=32, n_head=3)
    with pytest.raises(ConfigError, match=r"n_embd \(32\) must be divisible by n_head \(3\)"):
        run_training(cfg)
    assert not (tmp_path / "data").exists() and not (tmp_path / "checkpoints").exists()

    with pytest.raises(ConfigError, match=r"run name '\.\./x' contains '/'"):
        run_training(tiny_config(tmp_path, run_name="../x"))
    assert sorted(path.name for path in tmp_path.iterdir()) == []


def test_block_size_larger_than_the_validation_split(cfg, prepared):
    _, info = prepared
    with pytest.raises(ConfigError) as raised:
        run_training(cfg.replace(block_size=info.val_tokens))
    assert f"the validation split has {info.val_tokens:,}" in str(raised.value)


def test_a_config_that_cannot_fit_in_memory_is_refused(cfg, monkeypatch):
    monkeypatch.setattr(gpt.run, "estimate_training_memory", lambda cfg: 1 << 60)
    with pytest.raises(ConfigError, match="needs about .* GiB"):
        run_training(cfg)
    assert not checkpoint_of(cfg).exists()


# ---------------------------------------------------------------------------------------------
# Learning rate schedule and bits per byte


def test_constant_schedule():
    cfg = Config(lr=3e-4, max_steps=100, eval_interval=10)
    assert {learning_rate(cfg, step) for step in range(0, 101)} == {3e-4}


def test_constant_schedule_with_warmup():
    cfg = Config(lr=1e-3, warmup_steps=10, max_steps=100, eval_interval=10)
    rates = [learning_rate(cfg, step) for step in range(100)]
    assert rates[0] == pytest.approx(1e-4)
    assert rates[4] == pytest.approx(5e-4)
    assert rates[9] == pytest.approx(1e-3)
    assert all(a < b for a, b in zip(rates[:10], rates[1:10]))
    assert all(r == pytest.approx(1e-3) for r in rates[9:])


def test_cosine_schedule():
    cfg = Config(lr=1e-3, min_lr=1e-4, lr_schedule="cosine", warmup_steps=10, max_steps=110, eval_interval=10)
    rates = [learning_rate(cfg, step) for step in range(111)]
    assert rates[0] == pytest.approx(1e-4)  # warmup starts small
    assert rates[9] == pytest.approx(1e-3)
    assert rates[10] == pytest.approx(1e-3)  # the peak
    assert rates[60] == pytest.approx((1e-3 + 1e-4) / 2)  # half way down
    assert rates[110] == pytest.approx(1e-4)  # ends at min_lr
    assert all(a >= b for a, b in zip(rates[10:], rates[11:]))  # never rises after warmup
    assert min(rates) >= 1e-4 - 1e-12
    assert learning_rate(cfg, 500) == pytest.approx(1e-4)  # past max_steps it stays at the floor


def test_cosine_schedule_without_warmup():
    cfg = Config(lr=2e-3, min_lr=0.0, lr_schedule="cosine", max_steps=100, eval_interval=10)
    assert learning_rate(cfg, 0) == pytest.approx(2e-3)
    assert learning_rate(cfg, 50) == pytest.approx(1e-3)
    assert learning_rate(cfg, 100) == pytest.approx(0.0, abs=1e-12)


def test_cosine_schedule_is_used_by_training(cfg):
    events = run_training(cfg.replace(lr_schedule="cosine", warmup_steps=5, max_steps=20, log_interval=5,
                                      min_lr=1e-4))
    rates = [e.lr for e in of(events, StepDone)]
    expected = [learning_rate(events[0].cfg, step - 1) for step in (5, 10, 15, 20)]
    assert rates == pytest.approx(expected)


def test_bits_per_byte():
    info = DataInfo(train_tokens=900, val_tokens=100, text_bytes=4000, vocab_size=500, tokenizer_fingerprint="x",
                    source="t")
    assert bits_per_byte(2.0, info) == pytest.approx(2.0 * 0.25 / math.log(2))
    assert bits_per_byte(math.log(2), info) == pytest.approx(0.25)
    assert bits_per_byte(2.0, None) is None
    assert bits_per_byte(math.nan, info) is None and bits_per_byte(math.inf, info) is None
