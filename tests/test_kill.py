"""Training killed at random moments never loses or corrupts its checkpoint (scripts/kill_test.py, shortened).

Ten SIGKILLs at seeded random moments, then a SIGTERM and a Ctrl-C (SIGINT), all in one work
folder so each start resumes what the previous process left. The checks themselves live in
scripts/kill_test.py (`check_trial`); the last tests make sure those checks do catch a
corrupt or rewound checkpoint, so a green run means something.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

from gpt.checkpoint import load_checkpoint

from conftest import REPO_ROOT, run_training


def _load_kill_test():
    spec = importlib.util.spec_from_file_location("kill_test", REPO_ROOT / "scripts" / "kill_test.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["kill_test"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


kill_test = _load_kill_test()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, prepared):
    """One work folder for the module: the kills, then the graceful stops, resume one another."""
    folder = tmp_path_factory.mktemp("kill")
    kill_test.prepare_workdir(folder, data_from=prepared[0])
    return folder


def with_checkpoint(workdir: Path) -> Path:
    """The module's work folder holding a checkpoint (a short graceful run makes one when run alone)."""
    if not (workdir / "checkpoints" / "ckpt.pt").exists():
        assert kill_test.run_trial(workdir, "SIGTERM", delay=0.5).ok
    return workdir


def failures_of(trials) -> str:
    return "\n".join(trial.describe() + "\n" + trial.stderr[-400:] for trial in trials if not trial.ok)


def test_ten_random_sigkills_never_lose_the_checkpoint(workdir, monkeypatch, capsys):
    reports = []
    run_trials = kill_test.run_trials
    monkeypatch.setattr(kill_test, "run_trials", lambda *args, **kwargs: reports.append(run_trials(*args, **kwargs))
                        or reports[-1])
    code = kill_test.main(["--trials", "10", "--workdir", str(workdir), "--seed", "7", "--min_delay", "0.2",
                           "--max_delay", "0.8", "--graceful_every", "0"])
    [report] = reports
    assert not report.failures, failures_of(report.failures)
    assert code == 0
    assert [trial.signal for trial in report.trials] == ["SIGKILL"] * 10
    steps = [trial.after for trial in report.trials]
    assert None not in steps, steps  # every trial trained long enough to save at least once
    assert steps == sorted(steps), steps
    assert report.last_step >= steps[-1] > report.first_step
    # The resume check really ran: every start after the first resumed the previous checkpoint.
    assert [trial.resumed_from for trial in report.trials[1:]] == steps[:-1]
    assert report.final.resumed_from == steps[-1] and report.final.ok
    out = capsys.readouterr().out
    assert f"kill test: 10 trials, 0 failures, steps {report.first_step} -> {report.last_step}\n" in out
    assert "(10 SIGKILL, 0 SIGTERM, 0 SIGINT; " in out
    assert load_checkpoint(workdir / "checkpoints" / "ckpt.pt")["step"] == report.last_step


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGINT"])
def test_a_graceful_signal_saves_the_step_reached_and_exits_0(workdir, signal_name):
    trial = kill_test.run_trial(workdir, signal_name, delay=0.5, index=1,
                                data_digest_before=kill_test.data_digest(workdir))
    assert trial.ok, failures_of([trial])
    assert trial.returncode == 0
    assert f"{signal_name}: stopping after this step and saving a checkpoint" in trial.stderr
    assert trial.stopped_at is not None and trial.stopped_at > (trial.before or 0)
    assert load_checkpoint(workdir / "checkpoints" / "ckpt.pt")["step"] == trial.stopped_at == trial.after
    assert not trial.new_temporary_files


# -- the checks must be able to fail -------------------------------------------------------------


def test_a_checkpoint_that_does_not_load_fails_the_trial_before_starting(workdir, tmp_path):
    folder = tmp_path / "broken"
    shutil.copytree(with_checkpoint(workdir), folder)
    checkpoint = folder / "checkpoints" / "ckpt.pt"
    checkpoint.write_bytes(checkpoint.read_bytes()[: checkpoint.stat().st_size // 2])
    trial = kill_test.run_trial(folder, "SIGKILL", delay=0.1)
    assert not trial.ok and "did not load" in trial.problems[0]
    assert trial.returncode is None  # refused before starting anything


def test_the_checks_catch_a_rewound_checkpoint_and_a_wrong_resume(workdir, tmp_path):
    folder = tmp_path / "rewound"
    shutil.copytree(with_checkpoint(workdir), folder)
    step = load_checkpoint(folder / "checkpoints" / "ckpt.pt")["step"]
    trial = kill_test.Trial(1, "SIGKILL", 0.5, before=step + 3)
    trial.stdout = f"parameters: 1\nresuming from step {step + 1:,}\nstep {step + 3} train_loss=1.0 val_loss=1.0"
    trial.returncode = -9
    kill_test.check_trial(trial, folder)
    text = "; ".join(trial.problems)
    assert "went backwards" in text and f"resuming from step {step + 1}" in text
    assert "neither the previous checkpoint's step" in text

    # A graceful stop that claims a step the checkpoint does not hold.
    trial = kill_test.Trial(2, "SIGTERM", 0.5, before=step)
    trial.stdout = f"parameters: 1\nresuming from step {step:,}\nstopped at step {step + 2:,}; checkpoint: x"
    trial.stderr = "SIGTERM: stopping after this step"
    trial.returncode = 0
    kill_test.check_trial(trial, folder)
    assert any("but the checkpoint holds step" in problem for problem in trial.problems), trial.problems


# -- temporary files a SIGKILL leaves in the middle of a save --------------------------------------


def test_a_later_save_replaces_the_temporary_file_of_a_killed_process(cfg, tmp_path):
    folder = Path(cfg.out_dir)
    folder.mkdir(parents=True)
    stale = folder / ".ckpt.pt.tmp"  # what a process killed while saving leaves behind
    stale.write_bytes(b"half of a checkpoint")
    events = run_training(cfg.replace(max_steps=10, eval_interval=5))
    assert events[-1].reason == "done"
    assert load_checkpoint(folder / "ckpt.pt")["step"] == 10
    assert not stale.exists(), sorted(path.name for path in folder.iterdir())
