"""Shared fixtures: a small prepared dataset, a tiny config, a briefly trained checkpoint.

Tiny models on a couple of shared cores run much faster on one thread, so OMP_NUM_THREADS is
set before torch is imported (and `gpt.device.use_cpu_cores` then leaves the thread count alone).
Every test runs in its own temporary folder, so a default relative path such as
`data/train.bin` can never touch the repository.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
import sys
import threading
import time
from pathlib import Path

os.environ["OMP_NUM_THREADS"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

from gpt.config import Config  # noqa: E402

# Vocabulary of the shared test dataset (small: tokenizer training and the output layer stay cheap).
TEST_VOCAB_SIZE = 600

# int4 weights need torch's int4 CPU kernel (torch 2.6 and newer). On an older torch the tests of
# int4 itself are skipped and those of its refusal say what a user then sees.
from gpt.device import int4_kernel_works  # noqa: E402

HAS_INT4 = int4_kernel_works()
NEEDS_INT4 = pytest.mark.skipif(not HAS_INT4, reason=f"torch {torch.__version__} has no int4 CPU kernel (2.6 and newer)")


def precisions(*names: str) -> list:
    """Parameters for a test of each precision: int4 marked NEEDS_INT4."""
    return [pytest.param(name, marks=NEEDS_INT4) if name == "int4" else name for name in names]

_EN_WORDS = (
    "the a an engineer team build ship product data model train test deploy review code "
    "remote office salary benefits great small large fast careful python rust service "
    "customer support design research growth mobile web cloud security senior junior "
    "we you they are is will can must should have with for and or but on in at of to"
).split()
_KO_WORDS = (
    "채용 공고 회사 개발자 경력 신입 근무 서울 부산 연봉 복지 지원 자격 요건 우대 사항 "
    "담당 업무 기술 스택 백엔드 프론트엔드 데이터 분석 서비스 운영 고객 마케팅 디자인 "
    "팀 함께 성장 재택 유연 출근 면접 절차 서류 전형 합격 입사 정규직 계약직 인턴 "
    "우리는 여러분을 기다립니다 합니다 있습니다 필요합니다 환영합니다 가능 경험 이상"
).split()
_EXTRAS = ["🚀", "😀", "👩‍💻", "✨", "—", "…", "(주)", "#", "%", "&", "3년", "2024", "4.5", "✓"]


def make_text(target_bytes: int, seed: int = 0) -> str:
    """Deterministic English + Korean text with numbers, emoji, tabs and blank lines."""
    rng = random.Random(seed)
    lines: list[str] = []
    size = 0
    while size < target_bytes:
        words = _EN_WORDS if rng.random() < 0.5 else _KO_WORDS
        sentence = " ".join(rng.choice(words) for _ in range(rng.randint(4, 14)))
        if rng.random() < 0.3:
            sentence += " " + rng.choice(_EXTRAS)
        if rng.random() < 0.1:
            sentence = "\t" + sentence
        line = sentence.capitalize() + rng.choice([".", "!", "?", ".", "다."])
        if rng.random() < 0.15:
            line += "\n"
        lines.append(line)
        size += len(line.encode("utf-8")) + 1
    return "\n".join(lines) + "\n"


def tiny_config(folder: str | os.PathLike, **changes) -> Config:
    """A config small enough to train in a second or two, with every path inside `folder`."""
    folder = Path(folder)
    values = dict(
        train_bin=str(folder / "data" / "train.bin"),
        val_bin=str(folder / "data" / "val.bin"),
        tok_path=str(folder / "data" / "tokenizer.json"),
        out_dir=str(folder / "checkpoints"),
        vocab_size=TEST_VOCAB_SIZE,
        block_size=32,
        n_layer=2,
        n_head=2,
        n_embd=32,
        dropout=0.0,
        batch_size=8,
        lr=1e-3,
        max_steps=20,
        eval_interval=10,
        eval_iters=2,
        log_interval=5,
        sample_every_eval=False,
        sample_max_new_tokens=16,
        device="cpu",
        dtype="float32",  # "auto" would time bf16 against fp32 on some CPUs: not deterministic
        seed=1234,
    )
    values.update(changes)
    return Config(**values)


def run_training(cfg: Config, stop: threading.Event | None = None, **options) -> list:
    """All events of one training run."""
    from gpt.train import train

    return list(train(cfg, stop or threading.Event(), **options))


DATA_FILES = ("train.bin", "val.bin", "tokenizer.json", "meta.json")


@pytest.fixture(scope="session")
def text_file(tmp_path_factory) -> Path:
    """About 300 KB of mixed English and Korean text."""
    path = tmp_path_factory.mktemp("text") / "mixed.txt"
    path.write_text(make_text(300_000), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def prepared(tmp_path_factory, text_file):
    """The text file prepared once: (data folder, DataInfo). Treat it as read-only."""
    from gpt.data import prepare_files

    folder = tmp_path_factory.mktemp("prepared")
    steps = prepare_files([text_file], folder / "train.bin", folder / "val.bin", folder / "tokenizer.json",
                          TEST_VOCAB_SIZE)
    try:
        while True:
            next(steps)
    except StopIteration as finished:
        info = finished.value
    return folder, info


@pytest.fixture
def data_dir(prepared, tmp_path) -> Path:
    """A private copy of the prepared dataset under tmp_path/data (what tiny_config(tmp_path) points to)."""
    source, _ = prepared
    target = tmp_path / "data"
    target.mkdir(exist_ok=True)
    for name in DATA_FILES:
        shutil.copyfile(source / name, target / name)
    return target


@pytest.fixture
def cfg(data_dir, tmp_path) -> Config:
    """A tiny config whose data is ready in tmp_path/data and whose checkpoints go to tmp_path/checkpoints."""
    return tiny_config(tmp_path)


@pytest.fixture(scope="session")
def tokenizer(prepared):
    from gpt.tokenizer import load_tokenizer

    folder, _ = prepared
    return load_tokenizer(folder / "tokenizer.json")


@pytest.fixture(scope="session")
def trained(tmp_path_factory, prepared):
    """A tiny model trained for 60 steps: (config used, checkpoint path). Treat it as read-only."""
    folder = tmp_path_factory.mktemp("trained")
    source, _ = prepared
    (folder / "data").mkdir()
    for name in DATA_FILES:
        shutil.copyfile(source / name, folder / "data" / name)
    config = tiny_config(folder, max_steps=60, eval_interval=30, block_size=64)
    events = run_training(config)
    assert events[-1].reason == "done", events[-1]
    return config, Path(config.out_dir) / "ckpt.pt"


@pytest.fixture(autouse=True)
def _work_in_tmp(tmp_path, monkeypatch):
    """Run every test inside its own temporary folder."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session", autouse=True)
def _repository_untouched():
    """Fail loudly if the suite wrote data or checkpoints into the repository."""
    watched = [REPO_ROOT / "data", REPO_ROOT / "checkpoints"]

    def snapshot():
        return {str(p): p.stat().st_mtime_ns for folder in watched if folder.exists() for p in folder.rglob("*")}

    before = snapshot()
    yield
    after = snapshot()
    assert after == before, f"the tests changed files in the repository: {set(after) ^ set(before)}"


# ---------------------------------------------------------------------------------------------
# The app, launched in this process for gradio_client and browser tests


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def launched_app(root: Path, prepared, adjust=None):
    """The app on a free port, its storage at `root` holding the small prepared data: yields (trainer, url).

    `adjust(trainer)` may wrap handlers before the server starts. On exit the run is stopped, the
    server closed, and its port checked to be free again (the server really closed).
    """
    import app

    from ui.storage import Storage

    (root / "data").mkdir()
    for name in DATA_FILES:
        shutil.copyfile(prepared[0] / name, root / "data" / name)
    trainer, demo = app.create_app(Storage(root))
    if adjust is not None:
        adjust(trainer)
    port = free_port()
    app.launch(demo, prevent_thread_lock=True, quiet=True, server_port=port)
    try:
        yield trainer, f"http://127.0.0.1:{port}/"
    finally:
        trainer.job.stop(trainer.job.snapshot().owner)
        trainer.job.wait(30)
        demo.close()
        with socket.socket() as probe:
            # Closed connections may linger in TIME_WAIT; only a listener still there makes this bind fail.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", port))


RUNNING = "Training: step "


def step_of(status: str) -> int | None:
    """The step in "Training: step 1,230 of 20,000." (None for other statuses)."""
    if not status.startswith(RUNNING):
        return None
    return int(status[len(RUNNING):].split(" of ")[0].replace(",", ""))


def wait_for(condition, timeout: float = 30.0, what: str = "condition", interval: float = 0.01):
    """Poll until condition() is truthy and return its value; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout} s")
