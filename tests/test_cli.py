"""The command-line scripts, run as a user runs them: output, exit codes, one-line errors."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gpt.checkpoint import load_checkpoint
from gpt.cli import add_config_flags, config_from_args, parse_bool
from gpt.config import Config
from gpt.model import count_parameters

from conftest import DATA_FILES, REPO_ROOT, TEST_VOCAB_SIZE, make_text

SCRIPTS = REPO_ROOT / "scripts"
TINY_RUN = ["--max_steps", "20", "--eval_interval", "10", "--eval_iters", "2", "--n_layer", "1", "--n_head", "2",
            "--n_embd", "32", "--block_size", "32", "--batch_size", "4", "--sample_max_new_tokens", "20",
            "--device", "cpu", "--dtype", "float32"]


def script_env() -> dict:
    """One thread, no bytecode written into the repository, UTF-8 output, and never a torchrun rank."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONIOENCODING": "utf-8",
           "PYTHONUNBUFFERED": "1"}
    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    return env


def run_script(name: str, *args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPTS / name), *args], cwd=cwd, env=script_env(),
                          capture_output=True, text=True, encoding="utf-8", timeout=timeout)


def assert_one_line_error(result: subprocess.CompletedProcess, *expected: str) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for text in expected:
        assert text in lines[0]
    return lines[0]


def copy_data(prepared, folder: Path) -> None:
    source, _ = prepared
    (folder / "data").mkdir(parents=True, exist_ok=True)
    for name in DATA_FILES:
        shutil.copyfile(source / name, folder / "data" / name)


@pytest.fixture(scope="module")
def trained_by_cli(tmp_path_factory, prepared):
    """train_gpt.py run once for 20 steps in a folder with data/ ready: (folder, result)."""
    folder = tmp_path_factory.mktemp("cli_train")
    copy_data(prepared, folder)
    result = run_script("train_gpt.py", *TINY_RUN, cwd=folder)
    return folder, result


# ---------------------------------------------------------------------------------------------
# prepare_data.py


def test_prepare_data_from_a_file(tmp_path):
    (tmp_path / "mine.txt").write_text(make_text(40_000, seed=3), encoding="utf-8")
    result = run_script("prepare_data.py", "--input", "mine.txt", "--vocab_size", "300", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    meta = json.loads((tmp_path / "data" / "meta.json").read_text(encoding="utf-8"))
    assert f"{meta['train_tokens']:,} train and {meta['val_tokens']:,} val tokens" in result.stdout
    assert "vocab 300" in result.stdout and "mine.txt" in result.stdout
    assert "wrote data/train.bin, data/val.bin, data/tokenizer.json" in result.stdout
    assert (tmp_path / "data" / "train.bin").stat().st_size == 2 * meta["train_tokens"]
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.rglob("*.tmp"))


@pytest.mark.parametrize("content, expected", [
    (b"", "empty.txt: the file is empty"),
    (b"caf\xe9 au lait", "empty.txt: not valid UTF-8 at byte 3"),
], ids=["empty", "latin-1"])
def test_prepare_data_refuses_bad_input_with_one_line(tmp_path, content, expected):
    (tmp_path / "empty.txt").write_bytes(content)
    result = run_script("prepare_data.py", "--input", "empty.txt", "--vocab_size", "300", cwd=tmp_path)
    assert_one_line_error(result, expected)
    assert not (tmp_path / "data").exists()


def test_prepare_data_refuses_a_bad_vocab_size(tmp_path):
    (tmp_path / "mine.txt").write_text("text", encoding="utf-8")
    result = run_script("prepare_data.py", "--input", "mine.txt", "--vocab_size", "100", cwd=tmp_path)
    assert_one_line_error(result, "vocab_size must be between 257")


# ---------------------------------------------------------------------------------------------
# train_gpt.py


def test_train_prints_what_it_does(trained_by_cli):
    folder, result = trained_by_cli
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "device: cpu" in out
    assert f"vocab size: {TEST_VOCAB_SIZE:,}" in out
    expected_parameters = count_parameters(Config(vocab_size=TEST_VOCAB_SIZE, n_layer=1, n_head=2, n_embd=32,
                                                  block_size=32))
    assert f"parameters: {expected_parameters:,}" in out
    assert re.search(r"^step 10 train_loss=\d+\.\d+ val_loss=\d+\.\d+ val_bpb=\d+\.\d+$", out, re.MULTILINE)
    assert re.search(r"^step 20 train_loss=", out, re.MULTILINE)
    assert "--- sample at step 10 ---" in out
    assert "saved checkpoint checkpoints/ckpt.pt" in out
    assert "reached max_steps (20); checkpoint: checkpoints/ckpt.pt" in out
    assert "resuming" not in out
    assert (folder / "checkpoints" / "ckpt.pt").is_file()
    assert "Traceback" not in result.stderr


def test_train_resumes_with_more_steps(trained_by_cli, tmp_path):
    folder, first = trained_by_cli
    assert first.returncode == 0
    shutil.copytree(folder, tmp_path / "run")
    args = TINY_RUN + ["--max_steps", "30"]  # the last of a repeated flag wins
    result = run_script("train_gpt.py", *args, cwd=tmp_path / "run")
    assert result.returncode == 0, result.stderr
    assert "resuming from step 20" in result.stdout
    assert re.search(r"^step 30 train_loss=", result.stdout, re.MULTILINE)
    assert not re.search(r"^step 10 train_loss=", result.stdout, re.MULTILINE)


def test_a_named_run_trains_and_samples_in_its_own_folder(trained_by_cli, tmp_path):
    folder, first = trained_by_cli
    assert first.returncode == 0
    shutil.copytree(folder, tmp_path / "run")
    default_run = (tmp_path / "run" / "checkpoints" / "ckpt.pt").read_bytes()
    result = run_script("train_gpt.py", *TINY_RUN, "--run_name", "실험-1", "--sample_every_eval", "false",
                        cwd=tmp_path / "run")
    assert result.returncode == 0, result.stderr
    assert "resuming" not in result.stdout  # the default run's checkpoint is not this run's
    assert "reached max_steps (20); checkpoint: checkpoints/실험-1/ckpt.pt" in result.stdout
    assert (tmp_path / "run" / "checkpoints" / "ckpt.pt").read_bytes() == default_run

    sampled = run_script("sample.py", "--run_name", "실험-1", "--prompt", "채용", "--max_new_tokens", "10",
                         "--seed", "1", "--device", "cpu", cwd=tmp_path / "run")
    assert sampled.returncode == 0, sampled.stderr
    assert "# step 20 of checkpoints/실험-1/ckpt.pt" in sampled.stderr and sampled.stdout.startswith("채용")


def test_train_refuses_bad_flags_with_one_line(tmp_path):
    result = run_script("train_gpt.py", *TINY_RUN, "--n_embd", "100", "--n_head", "3", cwd=tmp_path)
    assert_one_line_error(result, "n_embd (100) must be divisible by n_head (3)")
    assert not (tmp_path / "data").exists() and not (tmp_path / "checkpoints").exists()


def test_train_refuses_incomplete_data_with_one_line(tmp_path, prepared):
    copy_data(prepared, tmp_path)
    (tmp_path / "data" / "val.bin").unlink()
    result = run_script("train_gpt.py", *TINY_RUN, cwd=tmp_path)
    assert_one_line_error(result, "the data is incomplete", "val.bin")


def test_train_reports_divergence_as_an_error(tmp_path, prepared):
    copy_data(prepared, tmp_path)
    result = run_script("train_gpt.py", *TINY_RUN, "--lr", "1.0", "--grad_clip", "0",
                        "--log_interval", "1", cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: the loss became") and "lower lr" in last


def test_ctrl_c_stops_and_saves(tmp_path, prepared):
    copy_data(prepared, tmp_path)
    env = script_env()
    args = list(TINY_RUN)
    args[args.index("--max_steps") + 1] = "100000"
    with open(tmp_path / "stderr.txt", "w") as stderr:
        process = subprocess.Popen([sys.executable, str(SCRIPTS / "train_gpt.py"), *args], cwd=tmp_path, env=env,
                                   stdout=subprocess.PIPE, stderr=stderr, text=True, encoding="utf-8")
        try:
            lines = []
            for line in process.stdout:
                lines.append(line)
                if line.startswith("step 10 train_loss="):
                    process.send_signal(signal.SIGINT)
                    break
            rest, _ = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
    out = "".join(lines) + rest
    assert process.returncode == 0, (tmp_path / "stderr.txt").read_text()
    stopped = re.search(r"stopped at step ([\d,]+); checkpoint: checkpoints/ckpt.pt", out)
    assert stopped, out
    assert "SIGINT: stopping after this step" in (tmp_path / "stderr.txt").read_text()
    assert load_checkpoint(tmp_path / "checkpoints" / "ckpt.pt")["step"] == int(stopped.group(1).replace(",", ""))


# ---------------------------------------------------------------------------------------------
# sample.py


def test_sample_prints_text(trained_by_cli):
    folder, trained = trained_by_cli
    assert trained.returncode == 0
    result = run_script("sample.py", "--prompt", "채용", "--max_new_tokens", "20", "--seed", "1", "--device", "cpu",
                        cwd=folder)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("채용")
    assert len(result.stdout.strip()) > len("채용")
    assert "\ufffd" not in result.stdout
    assert "# step 20 of checkpoints/ckpt.pt" in result.stderr
    assert "Traceback" not in result.stderr


def test_sample_without_a_checkpoint_is_one_line(tmp_path):
    result = run_script("sample.py", "--checkpoint", "nowhere/ckpt.pt", cwd=tmp_path)
    assert_one_line_error(result, "no checkpoint at nowhere/ckpt.pt")


def test_sample_refuses_bad_options(tmp_path):
    result = run_script("sample.py", "--top_p", "0", cwd=tmp_path)
    assert_one_line_error(result, "top_p must be in (0, 1]")


def test_sample_refuses_an_unknown_device_with_one_line(tmp_path):
    result = run_script("sample.py", "--device", "tpu", cwd=tmp_path)
    assert_one_line_error(result, "device")


# ---------------------------------------------------------------------------------------------
# gpt.cli: every config field is a flag


def test_every_config_field_is_a_flag_with_its_default():
    parser = argparse.ArgumentParser()
    add_config_flags(parser)
    args = parser.parse_args([])
    assert config_from_args(args) == Config()
    for field in dataclasses.fields(Config):
        assert hasattr(args, field.name)


def test_flags_are_parsed_to_the_field_types():
    parser = argparse.ArgumentParser()
    add_config_flags(parser)
    cfg = config_from_args(parser.parse_args(["--n_layer", "3", "--lr", "1e-3", "--out_dir", "runs/x",
                                              "--sample_every_eval", "false", "--compile", "off",
                                              "--run_name", "실험 1"]))
    assert cfg.n_layer == 3 and cfg.lr == 1e-3 and cfg.out_dir == "runs/x" and cfg.run_name == "실험 1"
    assert cfg.sample_every_eval is False and cfg.compile == "off"


@pytest.mark.parametrize("text, value", [("1", True), ("true", True), ("Yes", True), (" on ", True),
                                         ("0", False), ("false", False), ("NO", False), ("off", False)])
def test_parse_bool(text, value):
    assert parse_bool(text) is value


def test_parse_bool_refuses_other_words():
    with pytest.raises(argparse.ArgumentTypeError, match="expected true or false"):
        parse_bool("maybe")
