"""Checkpoints: atomic saving, safe loading (no code runs), clear errors, archiving, tokenizer checks."""

from __future__ import annotations

import os
import pickle
import random
import time
from pathlib import Path

import pytest
import torch

from gpt.checkpoint import (FORMAT_VERSION, REQUIRED_KEYS, ArchitectureMismatch, CheckpointError, TokenizerMismatch,
                            architecture_differences, archive_checkpoint, check_tokenizer, checkpoint_config,
                            load_checkpoint, model_state, save_checkpoint)
from gpt.run import CHECKPOINT_NAME, list_runs
from gpt.config import Config
from gpt.model import GPT
from gpt.inference import load_model, read_checkpoint_info
from gpt.tokenizer import fingerprint, load_tokenizer, save_tokenizer, train_tokenizer

from conftest import make_text


class WritesAFile:
    """Unpickling this runs code: it writes the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


def contents(step=5):
    torch.manual_seed(0)
    cfg = Config(vocab_size=300, block_size=16, n_layer=1, n_head=2, n_embd=16)
    model = GPT(cfg)
    optimizer = model.optimizer(1e-3, 0.01, torch.device("cpu"))
    _, loss = model(torch.randint(300, (2, 16)), torch.randint(300, (2, 16)))
    loss.backward()
    optimizer.step()
    return dict(model=model_state(model), optim=optimizer.state_dict(), step=step, cfg=cfg.to_dict(),
                tokenizer={"fingerprint": "0123456789abcdef", "vocab_size": 300},
                history=[{"step": step, "train_loss": 5.0, "val_loss": 5.1, "val_bpb": None}], best_val_loss=5.1)


def test_round_trip(tmp_path):
    saved = contents()
    path = save_checkpoint(tmp_path / "run" / CHECKPOINT_NAME, **saved)
    assert path == tmp_path / "run" / CHECKPOINT_NAME
    loaded = load_checkpoint(path)
    assert set(REQUIRED_KEYS) <= set(loaded)
    assert set(REQUIRED_KEYS) == {"model", "optim", "step", "cfg", "tokenizer", "format_version"}
    assert loaded["format_version"] == FORMAT_VERSION
    assert loaded["step"] == 5 and loaded["cfg"] == saved["cfg"] and loaded["tokenizer"] == saved["tokenizer"]
    assert loaded["history"] == saved["history"] and loaded["best_val_loss"] == 5.1
    assert isinstance(loaded["saved_at"], float) and abs(loaded["saved_at"] - time.time()) < 60
    assert loaded["model"].keys() == saved["model"].keys()
    for key, value in saved["model"].items():
        assert torch.equal(loaded["model"][key], value), key
    assert loaded["optim"]["param_groups"] == saved["optim"]["param_groups"]
    for index, state in saved["optim"]["state"].items():
        assert torch.equal(loaded["optim"]["state"][index]["exp_avg"], state["exp_avg"])
    assert checkpoint_config(loaded) == Config.from_dict(saved["cfg"])


def test_loads_with_weights_only(tmp_path, trained):
    _, checkpoint = trained
    for path in (checkpoint, save_checkpoint(tmp_path / "ckpt.pt", **contents())):
        raw = torch.load(path, weights_only=True)
        assert raw["format_version"] == FORMAT_VERSION


def test_saving_leaves_no_temporary_files_and_replaces_the_old_one(tmp_path):
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, **contents(step=1))
    save_checkpoint(path, **contents(step=2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pt"]
    assert load_checkpoint(path)["step"] == 2


def test_a_failed_save_keeps_the_previous_checkpoint(tmp_path):
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, **contents(step=1))
    before = path.read_bytes()
    with pytest.raises(Exception):
        save_checkpoint(path, **contents(step=2), unpicklable=lambda: None)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pt"]


def test_list_runs_finds_the_runs_with_a_checkpoint(tmp_path):
    out = tmp_path / "checkpoints"
    assert list_runs(out) == []  # no folder yet
    for folder in ("b run", "a", "실험-1", "empty", ".hidden", "ckpt-20240101-000000.pt"):
        (out / folder).mkdir(parents=True)
    for run in ("b run", "a", "실험-1", ".hidden"):
        (out / run / CHECKPOINT_NAME).write_bytes(b"x")
    (out / "ckpt-20240101-000000.pt" / CHECKPOINT_NAME).write_bytes(b"x")  # not a run name: not listed
    assert list_runs(out) == ["a", "b run", "실험-1"]
    (out / CHECKPOINT_NAME).write_bytes(b"x")
    assert list_runs(out) == ["", "a", "b run", "실험-1"]  # the default run first


# ---------------------------------------------------------------------------------------------
# Files that must be refused


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("form", ["torch.save", "raw pickle"])
def test_a_pickle_that_runs_code_is_refused(tmp_path, form):
    marker = tmp_path / "MARKER"
    path = tmp_path / "evil.pt"
    payload = {**contents(), "extra": WritesAFile(marker)}
    if form == "torch.save":
        torch.save(payload, path)
    else:
        with open(path, "wb") as file:
            pickle.dump(payload, file)
    with pytest.raises(CheckpointError) as raised:
        load_checkpoint(path)
    assert "could run code" in str(raised.value) and str(path) in str(raised.value)
    assert not marker.exists()
    with pytest.raises(CheckpointError):
        load_model(path)
    assert not marker.exists()


def test_the_malicious_payload_really_runs_when_trusted(tmp_path):
    """Proof that the test above is meaningful: unpickled without weights_only the file writes the marker."""
    marker = tmp_path / "MARKER"
    torch.save({"x": WritesAFile(marker)}, tmp_path / "evil.pt")
    torch.load(tmp_path / "evil.pt", weights_only=False)
    assert marker.read_text() == "pwned"


def test_refusal_names_what_the_file_wanted_to_run(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"x": WritesAFile(tmp_path / "MARKER")}, path)
    with pytest.raises(CheckpointError) as raised:
        load_checkpoint(path)
    assert "\x1b" not in str(raised.value)
    assert "exec" in str(raised.value)


def test_a_truncated_checkpoint_is_refused(tmp_path):
    good = save_checkpoint(tmp_path / "good.pt", **contents()).read_bytes()
    for cut in (len(good) // 2, 200, len(good) - 1):
        path = tmp_path / f"cut{cut}.pt"
        path.write_bytes(good[:cut])
        with pytest.raises(CheckpointError) as raised:
            load_checkpoint(path)
        assert "truncated or corrupt" in str(raised.value) and str(path) in str(raised.value)


def test_random_bytes_are_refused(tmp_path):
    path = tmp_path / "random.pt"
    path.write_bytes(random.Random(0).randbytes(10_000))
    with pytest.raises(CheckpointError):
        load_checkpoint(path)


def test_random_bytes_are_not_called_dangerous(tmp_path):
    path = tmp_path / "random.pt"
    path.write_bytes(random.Random(0).randbytes(10_000))
    with pytest.raises(CheckpointError) as raised:
        load_checkpoint(path)
    assert "could run code" not in str(raised.value)


@pytest.mark.parametrize("content", [b"", b"hello world\n", bytes([0x80, 0x02, 0x7D])], ids=["empty", "text", "pickle-header"])
def test_empty_and_text_files_are_refused(tmp_path, content):
    path = tmp_path / "ckpt.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError):
        load_checkpoint(path)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint at .*train a model first"):
        load_checkpoint(tmp_path / "ckpt.pt")


@pytest.mark.parametrize("mmap", [False, True])
def test_a_checkpoint_that_vanishes_while_it_is_read_is_missing_not_a_crash(tmp_path, monkeypatch, mmap):
    # The app reads a run's checkpoint while a fresh run may move it aside: between the check and the read.
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, **contents())
    real_load = torch.load

    def load_after_the_file_went(*args, **kwargs):
        path.unlink()
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", load_after_the_file_went)
    with pytest.raises(CheckpointError, match="no checkpoint at .*train a model first"):
        load_checkpoint(path, mmap=mmap)


def test_a_dict_missing_keys_is_refused(tmp_path):
    path = tmp_path / "partial.pt"
    torch.save({"model": {}, "step": 3}, path)
    with pytest.raises(CheckpointError) as raised:
        load_checkpoint(path)
    message = str(raised.value)
    assert "not a checkpoint of this project" in message
    for key in ("format_version", "optim", "cfg", "tokenizer"):
        assert key in message
    assert "step" not in message.split("missing")[1]


def test_something_else_than_a_dict_is_refused(tmp_path):
    path = tmp_path / "list.pt"
    torch.save([torch.zeros(3)], path)
    with pytest.raises(CheckpointError, match="not a checkpoint of this project"):
        load_checkpoint(path)


def test_a_newer_format_is_refused(tmp_path):
    path = save_checkpoint(tmp_path / "ckpt.pt", **contents())
    payload = torch.load(path, weights_only=True)
    payload["format_version"] = FORMAT_VERSION + 1
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="newer version"):
        load_checkpoint(path)


# ---------------------------------------------------------------------------------------------
# Architecture and tokenizer checks


def test_architecture_differences_and_message(tmp_path):
    saved = Config(n_embd=32, n_head=2)
    requested = Config(n_embd=64, n_head=2, lr=1.0)
    differences = architecture_differences(saved, requested)
    assert differences == {"n_embd": (32, 64)}  # lr is not architecture
    error = ArchitectureMismatch(tmp_path / "ckpt.pt", differences)
    assert isinstance(error, CheckpointError)
    message = str(error)
    assert "n_embd 32 in the checkpoint vs 64 requested" in message
    assert "--keep_checkpoint_architecture" in message and "--fresh" in message
    assert architecture_differences(saved, saved) == {}


def test_check_tokenizer():
    checkpoint = {"tokenizer": {"fingerprint": "abc", "vocab_size": 300}}
    check_tokenizer(checkpoint, "abc", "tok.json")
    with pytest.raises(TokenizerMismatch) as raised:
        check_tokenizer(checkpoint, "def", "tok.json")
    assert "abc" in str(raised.value) and "def" in str(raised.value) and "tok.json" in str(raised.value)


def test_load_model_refuses_another_tokenizer(tmp_path, trained):
    config, checkpoint = trained
    other = train_tokenizer([make_text(30_000, seed=42)], 600)
    assert other.get_vocab_size() == 600  # same size, different merges
    other_path = tmp_path / "other.json"
    save_tokenizer(other, other_path)
    assert fingerprint(other) != fingerprint(load_tokenizer(config.tok_path))
    for attempt in (load_model, read_checkpoint_info):
        with pytest.raises(TokenizerMismatch) as raised:
            attempt(checkpoint, other_path)
        assert "different tokenizer" in str(raised.value) and str(other_path) in str(raised.value)
    load_model(checkpoint, config.tok_path)  # its own one is fine


def test_a_checkpoint_is_described_as_loaded_without_reading_its_weights(trained, monkeypatch):
    config, checkpoint = trained
    loaded = load_model(checkpoint, config.tok_path)
    described = read_checkpoint_info(checkpoint, config.tok_path)
    assert described == loaded.checkpoint_info and described["step"] > 0

    mapped = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *args, **kwargs: mapped.append(kwargs.get("mmap")) or
                        real_load(*args, **kwargs))
    read_checkpoint_info(checkpoint, config.tok_path)
    assert mapped == [True], "the file is mapped, its tensors left on disk"


def test_load_model_uses_the_tokenizer_path_in_the_checkpoint(trained):
    config, checkpoint = trained
    loaded = load_model(checkpoint)
    assert fingerprint(loaded.tokenizer) == fingerprint(load_tokenizer(config.tok_path))


def test_model_state_strips_the_compile_prefix():
    model = GPT(Config(vocab_size=300, block_size=8, n_layer=1, n_head=1, n_embd=8))

    class Wrapper(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self._orig_mod = model

    state = model_state(Wrapper())
    assert state.keys() == model.state_dict().keys()


# ---------------------------------------------------------------------------------------------
# Archiving


def test_archive_renames_and_never_deletes(tmp_path):
    path = tmp_path / "ckpt.pt"
    path.write_bytes(b"first run")
    first = archive_checkpoint(path)
    assert not path.exists() and first.read_bytes() == b"first run"
    assert first.parent == tmp_path and first.name.startswith("ckpt-") and first.suffix == ".pt"
    path.write_bytes(b"second run")
    os.utime(path, (first.stat().st_atime, first.stat().st_mtime))  # same timestamp: the names would clash
    second = archive_checkpoint(path)
    assert second != first and second.read_bytes() == b"second run" and first.read_bytes() == b"first run"
    path.write_bytes(b"third run")
    os.utime(path, (first.stat().st_atime, first.stat().st_mtime))
    third = archive_checkpoint(path)
    assert len({first, second, third}) == 3 and third.read_bytes() == b"third run"
    assert sorted(p.read_bytes() for p in tmp_path.iterdir()) == [b"first run", b"second run", b"third run"]


def test_archive_of_nothing(tmp_path):
    assert archive_checkpoint(tmp_path / "ckpt.pt") is None


def test_weights_that_do_not_fit_their_config_are_a_sentence_for_sampling_resuming_and_export(cfg, tmp_path):
    """A checkpoint edited by hand: its config says one shape, its tensors have another."""
    from conftest import run_training
    from gpt.export import export_hf
    from gpt.inference import load_model, read_checkpoint_info

    run_training(cfg.replace(max_steps=10, eval_interval=10))
    path = Path(cfg.out_dir) / "ckpt.pt"
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["model"] = {name: value[..., :1] if value.dim() else value for name, value in checkpoint["model"].items()}
    torch.save(checkpoint, path)
    for attempt in (lambda: load_model(path, cfg.tok_path), lambda: read_checkpoint_info(path, cfg.tok_path),
                    lambda: export_hf(path, tmp_path / "out"),
                    lambda: run_training(cfg.replace(max_steps=20, eval_interval=10))):
        with pytest.raises(CheckpointError, match="do not fit the model its config describes"):
            attempt()
    assert not (tmp_path / "out").exists()
