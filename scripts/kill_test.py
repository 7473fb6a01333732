"""Kill training at random moments and check that nothing is ever lost: `python scripts/kill_test.py --trials 100`.

Prepares a small dataset in a work folder, then over and over starts `scripts/train_gpt.py`
(a tiny model that evaluates and saves every few steps, max_steps far away) and stops it at a
random moment (seeded) 0.5-4 s into training:

- SIGKILL (most trials): afterwards `checkpoints/ckpt.pt` (and `best.pt`) must load with
  `weights_only`, its step must never go backwards, and it must be the step of an evaluation
  that this trial printed (or the previous checkpoint's);
- SIGTERM and SIGINT (Ctrl-C; every --graceful_every-th trial, alternating): the process must
  save a checkpoint at the step it reached and exit 0, leaving no temporary file behind.

Every start must print "resuming from step N" with N the checkpoint's step. After the last
trial one more start checks that. The data files must stay byte-identical throughout.
Temporary files a SIGKILL leaves in the middle of a save are counted; they must not keep the
next run from resuming. Prints one summary line:

    kill test: 100 trials, 0 failures, steps 0 -> 812

and exits non-zero if any trial failed (the work folder is then kept for inspection).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

TRAIN_SCRIPT = REPO_ROOT / "scripts" / "train_gpt.py"
DATA_FILES = ("train.bin", "val.bin", "tokenizer.json", "meta.json")
VOCAB_SIZE = 300
EVAL_INTERVAL = 3
# A tiny model that saves a checkpoint every EVAL_INTERVAL steps and never reaches max_steps.
TRAIN_ARGS = ["--n_layer", "1", "--n_head", "2", "--n_embd", "32", "--block_size", "32", "--batch_size", "4",
              "--dropout", "0", "--max_steps", "100000000", "--eval_interval", str(EVAL_INTERVAL), "--eval_iters", "1",
              "--log_interval", "1", "--sample_every_eval", "false", "--device", "cpu", "--dtype", "float32",
              "--compile", "off"]
START_TIMEOUT = 90.0  # seconds for a process to start training (imports take 2-3 s; much more on a busy machine)
GRACEFUL_TIMEOUT = 30.0  # seconds for SIGTERM / SIGINT to save and exit

_WORDS = ("the team builds small fast services for customers we hire engineers who review code and ship "
          "data models in the cloud with care salary benefits remote office senior junior python rust "
          "채용 공고 회사 개발자 경력 신입 근무 서울 연봉 복지 지원 자격 요건 우대 사항 담당 업무 기술").split()


def make_text(target_bytes: int, seed: int = 0) -> str:
    """Deterministic English and Korean word salad, in lines."""
    rng = random.Random(seed)
    lines, size = [], 0
    while size < target_bytes:
        line = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(4, 14))) + rng.choice([".", "!", "?", "다."])
        lines.append(line)
        size += len(line.encode("utf-8")) + 1
    return "\n".join(lines) + "\n"


def script_env() -> dict:
    """One thread per process, unbuffered UTF-8 output, never a torchrun rank."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONIOENCODING": "utf-8", "TOKENIZERS_PARALLELISM": "false"}
    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    return env


def prepare_workdir(workdir: str | os.PathLike, data_from: str | os.PathLike | None = None) -> Path:
    """workdir/data ready to train on: copied from `data_from`, or prepared from generated text."""
    workdir = Path(workdir)
    data = workdir / "data"
    if all((data / name).is_file() for name in DATA_FILES):
        return workdir
    data.mkdir(parents=True, exist_ok=True)
    if data_from is not None:
        for name in DATA_FILES:
            shutil.copyfile(Path(data_from) / name, data / name)
        return workdir
    from gpt.data import prepare_files

    text = workdir / "text.txt"
    text.write_text(make_text(120_000), encoding="utf-8")
    steps = prepare_files([text], data / "train.bin", data / "val.bin", data / "tokenizer.json", VOCAB_SIZE)
    for _ in steps:
        pass
    return workdir


def data_digest(workdir: Path) -> dict[str, str]:
    return {name: hashlib.sha256((workdir / "data" / name).read_bytes()).hexdigest() for name in DATA_FILES}


def run_folder(workdir: Path) -> Path:
    """Where train_gpt.py, started in workdir with the default run, writes its checkpoints."""
    from gpt.config import Config

    return workdir / Config().run_dir


def checkpoint_step(path: Path) -> int | None:
    """The step of a checkpoint loaded as training and sampling load it (weights_only); None if there is none.

    Raises gpt.checkpoint.CheckpointError when the file exists but cannot be loaded.
    """
    from gpt.checkpoint import load_checkpoint

    if not path.exists():
        return None
    return int(load_checkpoint(path)["step"])


def temporary_files(workdir: Path) -> list[Path]:
    return sorted(path for folder in (run_folder(workdir), workdir / "data") if folder.is_dir()
                  for path in folder.iterdir() if path.name.endswith(".tmp"))


@dataclass
class Trial:
    index: int
    signal: str  # SIGKILL, SIGTERM or SIGINT
    delay: float  # seconds of training before the signal
    before: int | None = None  # checkpoint step before the start (None: no checkpoint)
    after: int | None = None  # checkpoint step after the process ended
    resumed_from: int | None = None  # N of "resuming from step N"
    stopped_at: int | None = None  # N of "stopped at step N" (graceful stops)
    evaluations: list = field(default_factory=list)  # steps this trial printed an evaluation for
    returncode: int | None = None
    new_temporary_files: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    seconds: float = 0.0
    stdout: str = ""
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems

    def describe(self) -> str:
        where = f"trial {self.index} ({self.signal} after {self.delay:.2f} s, step {self.before} -> {self.after})"
        if self.ok:
            return f"{where}: ok"
        return f"{where}: FAILED: " + "; ".join(self.problems)


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def run_trial(workdir: str | os.PathLike, signal_name: str = "SIGKILL", delay: float = 1.0, index: int = 0,
              extra_args: tuple = (), data_digest_before: dict | None = None) -> Trial:
    """Start train_gpt.py in workdir, send `signal_name` `delay` s after training started, check everything."""
    from gpt.checkpoint import CheckpointError

    workdir = Path(workdir)
    checkpoint = run_folder(workdir) / "ckpt.pt"
    trial = Trial(index, signal_name, delay)
    started_at = time.monotonic()
    try:
        trial.before = checkpoint_step(checkpoint)
    except CheckpointError as error:
        trial.problems.append(f"the checkpoint did not load before the start: {error}")
        return trial
    temporary_before = set(temporary_files(workdir))

    process = subprocess.Popen([sys.executable, str(TRAIN_SCRIPT), *TRAIN_ARGS, *extra_args], cwd=workdir,
                               env=script_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               encoding="utf-8", errors="replace")
    out_lines: list[str] = []
    err_chunks: list[str] = []
    training = threading.Event()

    def read_stdout():
        for line in process.stdout:
            out_lines.append(line.rstrip("\n"))
            if line.startswith("parameters:"):  # printed when the Started event arrives
                training.set()

    def read_stderr():
        while chunk := process.stderr.read(4096):
            err_chunks.append(chunk)

    readers = [threading.Thread(target=read_stdout, daemon=True), threading.Thread(target=read_stderr, daemon=True)]
    for reader in readers:
        reader.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not training.wait(0.02):
            if process.poll() is not None or time.monotonic() > deadline:
                break
        if not training.is_set():
            trial.problems.append("the process exited before training started" if process.poll() is not None
                                  else f"training did not start within {START_TIMEOUT:.0f} s")
        else:
            time.sleep(delay)
            if process.poll() is not None:
                trial.problems.append(f"the process ended by itself before the signal (exit code {process.returncode})")
            else:
                process.send_signal(getattr(signal, signal_name))
        try:
            process.wait(timeout=10 if signal_name == "SIGKILL" else GRACEFUL_TIMEOUT)
        except subprocess.TimeoutExpired:
            trial.problems.append(f"the process did not exit within {GRACEFUL_TIMEOUT:.0f} s of {signal_name}")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for reader in readers:
            reader.join(10)
    trial.returncode = process.returncode
    trial.stdout = "\n".join(out_lines)
    trial.stderr = "".join(err_chunks)
    trial.seconds = time.monotonic() - started_at
    check_trial(trial, workdir, temporary_before, data_digest_before)
    return trial


def check_trial(trial: Trial, workdir: Path, temporary_before: set = frozenset(),
                data_digest_before: dict | None = None) -> None:
    """Add to trial.problems everything wrong with what the process printed and left in workdir."""
    from gpt.checkpoint import CheckpointError

    workdir = Path(workdir)
    checkpoint = run_folder(workdir) / "ckpt.pt"
    best = run_folder(workdir) / "best.pt"
    problems = trial.problems
    if trial.problems and not trial.stdout:
        problems.append(f"stderr: {trial.stderr.strip()[-500:]}")
    for line in trial.stdout.splitlines():
        if match := re.match(r"resuming from step ([\d,]+)$", line):
            trial.resumed_from = _number(match.group(1))
        elif match := re.match(r"step ([\d,]+) train_loss=", line):
            trial.evaluations.append(_number(match.group(1)))
        elif match := re.match(r"stopped at step ([\d,]+); checkpoint: ", line):
            trial.stopped_at = _number(match.group(1))
    if "Traceback" in trial.stderr or "Traceback" in trial.stdout:
        problems.append("a traceback was printed: " + trial.stderr[trial.stderr.find("Traceback"):][:800])

    # The start must resume exactly the checkpoint that was there (a step-0 checkpoint starts quietly).
    expected_resume = trial.before if trial.before else None
    if trial.resumed_from != expected_resume and "parameters:" in trial.stdout:
        problems.append(f"the start printed resuming from step {trial.resumed_from} but the checkpoint was at "
                        f"step {trial.before}")

    try:
        trial.after = checkpoint_step(checkpoint)
    except CheckpointError as error:
        problems.append(f"ckpt.pt does not load after {trial.signal}: {error}")
        return
    try:
        best_step = checkpoint_step(best)
    except CheckpointError as error:
        problems.append(f"best.pt does not load after {trial.signal}: {error}")
        best_step = None
    if best_step is not None and trial.after is not None and best_step > trial.after:
        problems.append(f"best.pt is at step {best_step}, beyond ckpt.pt's {trial.after}")

    if trial.before is not None and (trial.after is None or trial.after < trial.before):
        problems.append(f"the checkpoint went backwards: step {trial.before} before, {trial.after} after")
    reached = max([*trial.evaluations, trial.before or 0])
    if trial.signal == "SIGKILL":
        allowed = {trial.before, *trial.evaluations}
        if trial.after not in allowed:
            problems.append(f"after SIGKILL the checkpoint is at step {trial.after}, which is neither the previous "
                            f"checkpoint's step ({trial.before}) nor an evaluation this run printed")
        if trial.returncode != -signal.SIGKILL and not problems:
            problems.append(f"exit code {trial.returncode} after SIGKILL")
    else:
        if trial.returncode != 0:
            problems.append(f"exit code {trial.returncode} after {trial.signal} (expected 0); "
                            f"stderr: {trial.stderr.strip()[-300:]}")
        if f"{trial.signal}: stopping after this step" not in trial.stderr:
            problems.append(f"no '{trial.signal}: stopping after this step' message on stderr")
        if trial.stopped_at is None:
            problems.append("no 'stopped at step N' line")
        else:
            if trial.after != trial.stopped_at:
                problems.append(f"stopped at step {trial.stopped_at} but the checkpoint holds step {trial.after}")
            if trial.stopped_at < reached:
                problems.append(f"stopped at step {trial.stopped_at}, below the step {reached} already reached")
            shown = [_number(n) for n in re.findall(r"step ([\d,]+) loss", trial.stderr)]
            if shown and trial.stopped_at < max(shown):
                problems.append(f"stopped at step {trial.stopped_at}, below step {max(shown)} shown by the "
                                f"progress bar")
        # A clean exit leaves nothing half-written behind.
        leftovers = [path.name for path in temporary_files(workdir) if path not in temporary_before]
        if leftovers:
            problems.append(f"temporary files left after a clean exit: {', '.join(leftovers)}")

    trial.new_temporary_files = [path.name for path in temporary_files(workdir) if path not in temporary_before]
    if any(path.parent.name == "data" for path in temporary_files(workdir)):
        problems.append("temporary files in data/: training must never write there")
    if data_digest_before is not None and data_digest(workdir) != data_digest_before:
        problems.append("the data files changed")


@dataclass
class Report:
    trials: list
    first_step: int
    last_step: int | None
    final: Trial | None
    seconds: float

    @property
    def failures(self) -> list:
        return [trial for trial in [*self.trials, self.final] if trial is not None and not trial.ok]

    def summary(self) -> str:
        return (f"kill test: {len(self.trials)} trials, {len(self.failures)} failures, "
                f"steps {self.first_step} -> {self.last_step}")

    def details(self) -> str:
        counts = {name: sum(trial.signal == name for trial in self.trials) for name in ("SIGKILL", "SIGTERM", "SIGINT")}
        stale = sum(bool(trial.new_temporary_files) for trial in self.trials if trial.signal == "SIGKILL")
        return (f"({', '.join(f'{count} {name}' for name, count in counts.items())}; {stale} SIGKILLs landed in a save "
                f"and left a temporary file; {self.seconds:.0f} s)")


def plan(trials: int, seed: int, min_delay: float, max_delay: float, graceful_every: int) -> list[tuple[str, float]]:
    """(signal, delay) of each trial: seeded, so a failing sequence can be replayed."""
    rng = random.Random(seed)
    schedule, graceful = [], 0
    for index in range(1, trials + 1):
        delay = rng.uniform(min_delay, max_delay)
        if graceful_every and index % graceful_every == 0:
            schedule.append(("SIGTERM" if graceful % 2 == 0 else "SIGINT", delay))
            graceful += 1
        else:
            schedule.append(("SIGKILL", delay))
    return schedule


def run_trials(workdir: str | os.PathLike, trials: int = 100, seed: int = 0, min_delay: float = 0.5,
               max_delay: float = 4.0, graceful_every: int = 5, data_from: str | os.PathLike | None = None,
               verbose: bool = True) -> Report:
    """The whole test: prepare, run the trials, then one last start that must resume the final checkpoint."""
    workdir = prepare_workdir(workdir, data_from)
    digest = data_digest(workdir)
    checkpoint = run_folder(workdir) / "ckpt.pt"
    began = time.monotonic()
    first_step = checkpoint_step(checkpoint) or 0
    done = []
    for index, (signal_name, delay) in enumerate(plan(trials, seed, min_delay, max_delay, graceful_every), 1):
        trial = run_trial(workdir, signal_name, delay, index, data_digest_before=digest)
        done.append(trial)
        if verbose and (not trial.ok or index % 10 == 0 or index == trials):
            print(trial.describe(), flush=True)
    # The last trial's checkpoint must resume too.
    final = run_trial(workdir, "SIGTERM", 0.2, trials + 1, data_digest_before=digest)
    if verbose and not final.ok:
        print("final resume check: " + final.describe(), flush=True)
    last_step = final.after
    return Report(done, first_step, last_step, final, time.monotonic() - began)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--workdir", help="work folder (kept afterwards); default: a temporary folder, removed "
                                          "unless a trial failed")
    parser.add_argument("--data", help="a folder with train.bin, val.bin, tokenizer.json and meta.json to copy "
                                       "instead of preparing generated text")
    parser.add_argument("--seed", type=int, default=0, help="seeds the delays: the same seed replays the same kills")
    parser.add_argument("--min_delay", type=float, default=0.5, help="seconds of training before a signal, at least")
    parser.add_argument("--max_delay", type=float, default=4.0, help="and at most")
    parser.add_argument("--graceful_every", type=int, default=5,
                        help="every N-th trial sends SIGTERM or SIGINT (alternating) instead of SIGKILL; 0: never")
    args = parser.parse_args(argv)
    if args.trials < 1 or not 0 <= args.min_delay <= args.max_delay:
        parser.error("need --trials >= 1 and 0 <= --min_delay <= --max_delay")
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="kill_test_"))
    report = run_trials(workdir, args.trials, args.seed, args.min_delay, args.max_delay, args.graceful_every,
                        args.data)
    print(report.summary())
    print(report.details())
    if report.failures:
        print(f"work folder kept for inspection: {workdir}")
    elif not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
