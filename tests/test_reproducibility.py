"""The reproducibility card: what every checkpoint records, and that its command retrains the same run."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import REPO_ROOT, run_training
from gpt.checkpoint import load_checkpoint
from gpt.cli.sample import main as sample_main
from gpt.reproducibility import file_fingerprint, retrain_command
from gpt.tokenizer import fingerprint, load_tokenizer
from gpt.train import Evaluated, StepDone


def test_every_checkpoint_carries_a_card_with_versions_device_data_and_config(cfg):
    cfg = cfg.replace(max_steps=10, eval_interval=5, run_name="carded")
    run_training(cfg)
    card = load_checkpoint(Path(cfg.out_dir) / "carded" / "ckpt.pt")["reproducibility"]
    assert card["seed"] == cfg.seed == card["config"]["seed"]
    assert card["config"]["n_embd"] == 32 and card["config"]["run_name"] == "carded"
    assert card["torch_version"] == str(torch.__version__) and card["package_version"]
    assert card["device"] == "cpu" and card["dtype"] == "float32" and "avx2" in card["cpu_features"]
    assert card["train_bin_sha256"] == file_fingerprint(cfg.train_bin) != file_fingerprint(cfg.val_bin)
    assert card["tokenizer_fingerprint"] == fingerprint(load_tokenizer(cfg.tok_path))
    assert card["resumed_from_step"] is None
    if (REPO_ROOT / ".git").exists():
        head = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
        assert card["git_commit"] == head.stdout.strip()


def test_a_resumed_session_says_where_it_resumed(cfg):
    run_training(cfg.replace(max_steps=10, eval_interval=5))
    run_training(cfg.replace(max_steps=20, eval_interval=5))
    assert load_checkpoint(Path(cfg.out_dir) / "ckpt.pt")["reproducibility"]["resumed_from_step"] == 10


def test_the_retrain_command_names_what_differs_from_the_defaults_and_pins_what_auto_would_choose(cfg):
    run_training(cfg.replace(max_steps=10, eval_interval=5))
    command = shlex.split(retrain_command(load_checkpoint(Path(cfg.out_dir) / "ckpt.pt")["reproducibility"]))
    assert command[:2] == ["python", "scripts/train_gpt.py"] and command[-1] == "--fresh"
    flags = dict(zip(command[2:-1:2], command[3:-1:2]))
    assert flags["--n_embd"] == "32" and flags["--max_steps"] == "10" and flags["--train_bin"] == cfg.train_bin
    assert flags["--device"] == "cpu" and flags["--dtype"] == "float32" and flags["--compile"] == "off"
    assert flags["--seed"] == "1234" and "--lr_schedule" not in flags  # a default stays implicit


def test_running_the_retrain_command_twice_gives_the_same_losses_at_every_logged_step(cfg):
    """In float32 on a CPU, same config, seed and data: the same numbers, step by step."""
    cfg = cfg.replace(max_steps=30, eval_interval=10, log_interval=1, dropout=0.1, run_name="original")
    first = run_training(cfg)
    run_folder = Path(cfg.out_dir) / "original"
    command = shlex.split(retrain_command(load_checkpoint(run_folder / "ckpt.pt")["reproducibility"]))
    runs = []
    for _ in range(2):
        finished = subprocess.run([sys.executable, *command[1:]], cwd=REPO_ROOT, capture_output=True, text=True,
                                  timeout=300)
        assert finished.returncode == 0, finished.stderr
        log = EventAccumulator(str(run_folder / "tensorboard"))
        log.Reload()
        history = load_checkpoint(run_folder / "ckpt.pt")["history"]
        runs.append(([(s.step, s.value) for s in log.Scalars("train/loss")],
                     [(e["step"], e["train_loss"], e["val_loss"]) for e in history]))
    assert runs[0] == runs[1]
    step_losses, evaluations = runs[0]
    assert [step for step, _ in step_losses] == list(range(1, 31))
    # And the same as the run the card came from (the log keeps float32 values: compare at that precision).
    assert [(step, round(loss, 5)) for step, loss in step_losses] == [
        (e.step, round(e.loss, 5)) for e in first if isinstance(e, StepDone)]
    assert evaluations == [(e.step, e.train_loss, e.val_loss) for e in first if isinstance(e, Evaluated)]


def test_sample_info_prints_the_card_and_the_command(cfg, capsys):
    run_training(cfg.replace(max_steps=10, eval_interval=5))
    assert sample_main(["--checkpoint", str(Path(cfg.out_dir) / "ckpt.pt"), "--info"]) == 0
    out = capsys.readouterr().out
    assert "step 10" in out and "seed 1234" in out and "float32" in out
    assert "scripts/train_gpt.py" in out and "--fresh" in out


def test_sample_info_on_a_checkpoint_without_a_card_says_so(cfg, capsys):
    run_training(cfg.replace(max_steps=10, eval_interval=5))
    path = Path(cfg.out_dir) / "ckpt.pt"
    checkpoint = torch.load(path, weights_only=True)
    del checkpoint["reproducibility"]
    torch.save(checkpoint, path)
    assert sample_main(["--checkpoint", str(path), "--info"]) == 0
    assert "no reproducibility card" in capsys.readouterr().out


def test_sample_history_prints_the_sample_of_every_evaluation_from_step_0(cfg, capsys):
    cfg = cfg.replace(max_steps=20, eval_interval=10, sample_every_eval=True, sample_prompt="[채용공고]")
    events = run_training(cfg)
    samples = {e.step: e.text for e in events if type(e).__name__ == "Sampled"}
    assert sorted(samples) == [0, 10, 20] and all(text.startswith("[채용공고]") for text in samples.values())
    assert sample_main(["--checkpoint", str(Path(cfg.out_dir) / "ckpt.pt"), "--history"]) == 0
    out = capsys.readouterr().out
    assert "'[채용공고]'" in out.splitlines()[0]
    for step, text in samples.items():
        assert f"=== step {step:,} · val loss" in out and text in out
    assert out.index("=== step 0 ") < out.index("=== step 10 ") < out.index("=== step 20 ")


def test_the_history_keeps_each_sample_with_tokens_seen_and_wall_time_and_runs_agree_on_shared_steps(cfg):
    cfg = cfg.replace(max_steps=10, eval_interval=10, sample_every_eval=True)
    first = {e.step: e.text for e in run_training(cfg) if type(e).__name__ == "Sampled"}
    history = load_checkpoint(Path(cfg.out_dir) / "ckpt.pt")["history"]
    assert [(h["step"], h["sample"]) for h in history] == sorted(first.items())
    assert [h["tokens"] for h in history] == [0, 10 * cfg.tokens_per_step]
    assert 0 <= history[0]["elapsed"] < history[1]["elapsed"]
    longer = {e.step: e.text for e in run_training(cfg.replace(max_steps=20, run_name="longer"))
              if type(e).__name__ == "Sampled"}
    assert longer[0] == first[0] and longer[10] == first[10] and sorted(longer) == [0, 10, 20]
