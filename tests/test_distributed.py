"""torchrun with 2 CPU processes (gloo) trains the same model as 1 process with the same global batch.

Every process draws the same batch and trains on its half; DDP averages the gradients, so with
dropout off the two runs follow the same curve up to float rounding. The checkpoint written
by rank 0 resumes, under torchrun and without it.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from gpt.checkpoint import load_checkpoint

from conftest import REPO_ROOT
from test_cli import copy_data, script_env

RUN = ["--max_steps", "30", "--eval_interval", "10", "--eval_iters", "4", "--n_layer", "1", "--n_head", "2",
       "--n_embd", "32", "--block_size", "32", "--batch_size", "8", "--dropout", "0", "--log_interval", "5",
       "--sample_every_eval", "false", "--device", "cpu", "--dtype", "float32"]
EVAL_LINE = re.compile(r"step (\d+) train_loss=([\d.]+) val_loss=([\d.]+)")


def train(folder, *extra, processes: int = 1) -> subprocess.CompletedProcess:
    launcher = ([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
                if processes > 1 else [sys.executable])
    return subprocess.run([*launcher, str(REPO_ROOT / "scripts" / "train_gpt.py"), *RUN, *extra], cwd=folder,
                          env=script_env(), capture_output=True, text=True, timeout=300)


def evaluations(result: subprocess.CompletedProcess) -> dict[int, tuple[float, float]]:
    assert result.returncode == 0, result.stderr[-3000:]
    return {int(step): (float(train_loss), float(val_loss))
            for step, train_loss, val_loss in EVAL_LINE.findall(result.stdout)}


def test_two_processes_match_one_and_resume(tmp_path, prepared):
    single, double = tmp_path / "one", tmp_path / "two"
    for folder in (single, double):
        copy_data(prepared, folder)

    alone = evaluations(train(single))
    together_result = train(double, processes=2)
    together = evaluations(together_result)
    assert sorted(alone) == sorted(together) == [0, 10, 20, 30]  # step 0: before any update
    for step in alone:
        for one, two in zip(alone[step], together[step]):
            assert abs(one - two) < 2e-3, (step, alone[step], together[step])
    assert alone[30][1] < alone[10][1]  # it learned
    assert "x 2 processes" in together_result.stdout
    assert together_result.stdout.count("step 30 train_loss=") == 1  # only rank 0 prints

    checkpoint = load_checkpoint(double / "checkpoints" / "ckpt.pt")
    assert checkpoint["step"] == 30
    resumed = train(double, "--max_steps", "40", processes=2)
    assert "resuming from step 30" in resumed.stdout
    assert sorted(evaluations(resumed)) == [40]
    assert load_checkpoint(double / "checkpoints" / "ckpt.pt")["step"] == 40


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_two_processes_train_sample_and_resume_in_a_smaller_type(tmp_path, prepared, dtype):
    copy_data(prepared, tmp_path)
    first = train(tmp_path, "--dtype", dtype, "--sample_every_eval", "true", "--max_steps", "20", processes=2)
    assert sorted(evaluations(first)) == [0, 10, 20]
    assert f", {dtype} (as requested)" in first.stdout and "x 2 processes" in first.stdout
    assert first.stdout.count("--- sample at step") == 3  # rank 0 samples, in that type (at 0, 10 and 20)
    resumed = train(tmp_path, "--dtype", dtype, "--sample_every_eval", "true", "--max_steps", "30", processes=2)
    assert "resuming from step 20" in resumed.stdout and sorted(evaluations(resumed)) == [30]
