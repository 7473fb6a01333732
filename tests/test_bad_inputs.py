"""Every bad input a user can give, on the command line and in the app, in one table.

Each `Case` names a bad input, how to provoke it on the CLI (`Cli`: a script and its flags)
and in the app's handlers (`App`: a call on `TrainerApp`), and the words the user must see.
Each case runs in two fresh folders ("worlds") holding the small prepared dataset and a
checkpoint trained on it (1 layer, 32 wide, block 32, step 20): one for the CLI, run as a
user runs it (cwd = the world, default paths), one for `TrainerApp(Storage(world))`.

For an error the CLI must print exactly one `error: ...` line on stderr (besides progress
bars), no traceback, and exit non-zero; the app must show the message in what the handler
returns. For every case, error or not, every file that existed before (train.bin, val.bin,
tokenizer.json, ckpt.pt, the user's own input files) is byte-identical afterwards, no
temporary file is left, and a malicious checkpoint's payload never runs.

The scripts take a second or two each just to import torch, so the selected cases' CLI runs
start in the background when the module starts, two at a time, and each test collects its
own results after driving the app (the module stays under a minute on 2 cores).

To add a case: append a `Case` to CASES. Inputs the case needs go into the world's
`inputs/` folder (write them in `setup`); CLI paths are relative to the world.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import random
import re
import shutil
import subprocess
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

from gpt.config import Config  # noqa: E402
from gpt.run import MEMORY_TIPS  # noqa: E402
from ui.storage import Storage  # noqa: E402
from ui.trainer import TrainerApp  # noqa: E402

from conftest import DATA_FILES, REPO_ROOT, TEST_VOCAB_SIZE, make_text, run_training  # noqa: E402

OWNER = "owner-token"
MARKER = "PWNED"  # the file a malicious checkpoint would write into the world
LONG_PROMPT = "we build small fast service for the customer " * 12  # far more than 32 tokens

# The checkpoint's architecture and a short run; a case adds its own flags after these (the last wins).
TINY = ("--block_size", "32", "--n_layer", "1", "--n_head", "2", "--n_embd", "32", "--batch_size", "4",
        "--eval_iters", "2", "--max_steps", "40", "--eval_interval", "20", "--sample_every_eval", "false",
        "--device", "cpu", "--dtype", "float32")
SAMPLE = ("--device", "cpu", "--max_new_tokens", "20")
# Lines a progress bar (tqdm) writes to stderr: "...  0%|   | 0/40 [00:00<?, ?it/s]" or "... [00:01, 5.1it/s]".
PROGRESS_LINE = re.compile(r"\d+%\||\[\d+:\d\d")


def controls(**changes) -> dict:
    """Train-tab values (sliders send floats) matching the checkpoint's architecture."""
    values = dict(block_size=32.0, n_layer=1.0, n_head=2.0, n_embd=32.0, dropout=0.0, batch_size=4.0, lr=1e-3,
                  max_steps=40.0, grad_clip=1.0, lr_schedule="constant", eval_interval=20.0, eval_iters=2.0,
                  sample_every_eval=False, sample_max_new_tokens=8.0, temperature=0.9, top_k=50.0)
    values.update(changes)
    return values


# -- what a case does in the app ------------------------------------------------------------------


def train_in_app(app: TrainerApp, resume_mode: str = "ask", **changes) -> str:
    """Press Train; the refusal, or the status once the run ended."""
    refusal = app.start_training(controls(**changes), TEST_VOCAB_SIZE, resume_mode, OWNER, "en")
    if refusal is not None:
        return refusal
    assert app.job.wait(60), "the run did not end within 60 s"
    state = app.job.snapshot()
    assert state.error_kind != "crash", state.message
    return app.job_view(state, OWNER, "en")[0]


def sample_in_app(app: TrainerApp, prompt: str = "the team", temperature: float = 0.9, top_k: int = 50,
                  max_new_tokens: int = 20, seed: int = 1) -> tuple[str, str]:
    """Press Generate; (final text, note)."""
    return list(app.sample(prompt, temperature, top_k, 1.0, max_new_tokens, seed, "en"))[-1]


def prepare_in_app(name: str, vocab_size: int = 300) -> Callable[[TrainerApp, Path], str]:
    def call(app: TrainerApp, world: Path) -> str:
        status, preview = app.prepare_data("upload", [str(world / "inputs" / name)], vocab_size, OWNER, "en")
        assert preview == [], "a refused upload shows no token preview"
        return status
    return call


def sample_note(app: TrainerApp, world: Path) -> str:
    text, note = sample_in_app(app)
    assert text == "", "nothing is generated from a checkpoint that cannot be used"
    return note


def checkpoint_info(app: TrainerApp, world: Path) -> str:
    return app.checkpoint_info("en")


def run_name_case(name: str, run_name: str, wrong: str) -> Case:
    """A run name that is not one folder inside checkpoints/: Train, the summary, Generate, the Sample tab's
    checkpoint line (the API's /sample takes any string), train_gpt.py and sample.py all refuse it."""
    shown = f"'{run_name}'" if len(run_name) <= 64 else f"'{run_name[:20]}…'"

    def sample_run(app: TrainerApp, world: Path) -> str:
        [(text, note)] = list(app.sample("the team", 0.9, 50, 1.0, 20, 1, "en", run_name))
        assert text == ""
        return note

    return Case(name, (f"run name {shown} {wrong}: a run name may only use letters, digits, '-', '_', '.' and "
                       f"spaces", "(it names a folder inside checkpoints/)"),
                cli=(Cli("train_gpt.py", (*TINY, "--run_name", run_name)),
                     Cli("sample.py", (*SAMPLE, "--run_name", run_name))),
                app=(App(lambda app, world: train_in_app(app, run_name=run_name), ("**Fix these first:**",)),
                     App(lambda app, world: app.describe_config(controls(run_name=run_name), 600)[1]),
                     App(sample_run, ("**Fix this first:**",)),
                     App(lambda app, world: app.checkpoint_info("en", run_name))))


# -- the cases that are not errors: what "works" means ----------------------------------------------


def app_top_k_above_vocabulary(app: TrainerApp, world: Path) -> None:
    text, note = sample_in_app(app, "the team", top_k=1000)
    assert text.startswith("the team") and len(text) > len("the team")
    assert f"top_k 1000 is larger than the vocabulary ({TEST_VOCAB_SIZE})" in note


def app_temperature_zero(app: TrainerApp, world: Path) -> None:
    first = sample_in_app(app, "서울", temperature=0.0, seed=-1)
    second = sample_in_app(app, "서울", temperature=0.0, seed=-1)
    assert first == second and len(first[0]) > len("서울"), (first, second)
    assert first[1] == ""


def app_empty_prompt(app: TrainerApp, world: Path) -> None:
    for prompt in ("", None):
        text, note = sample_in_app(app, prompt)
        assert text and note == "", (text, note)


def app_long_prompt(app: TrainerApp, world: Path) -> None:
    text, note = sample_in_app(app, LONG_PROMPT, temperature=0.0)
    assert text.startswith(LONG_PROMPT) and len(text) > len(LONG_PROMPT)
    assert "the prompt is longer than block_size (32 tokens)" in note


def generated(result: subprocess.CompletedProcess) -> str:
    """What sample.py wrote: the prompt and the text after it (without the final newline)."""
    return result.stdout.removesuffix("\n")


def cli_generated(prompt: str) -> Callable[[list], None]:
    def check(results: list) -> None:
        [result] = results
        # Something was generated after the prompt (a tiny greedy model may well write only spaces).
        assert result.stdout.startswith(prompt) and len(generated(result)) > len(prompt), result.stdout
    return check


def cli_same_text_twice(results: list) -> None:
    first, second = results
    assert first.stdout == second.stdout and len(generated(first)) > len("서울"), (first.stdout, second.stdout)


def cli_notes_long_prompt(results: list) -> None:
    [result] = results
    cli_generated(LONG_PROMPT)(results)
    assert "longer than block_size" in result.stderr, result.stderr


# -- setting up a bad input in a world ---------------------------------------------------------------


def write_input(name: str, content: bytes) -> Callable[[Path], None]:
    def setup(world: Path) -> None:
        (world / "inputs" / name).write_bytes(content)
    return setup


class Payload:
    """Unpickling this runs code: it writes the marker file."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


def malicious_checkpoint(world: Path) -> None:
    """The real checkpoint with one more entry that runs code when unpickled without weights_only."""
    path = world / "checkpoints" / "ckpt.pt"
    contents = torch.load(path, weights_only=True)
    torch.save({**contents, "extra": Payload(world / MARKER)}, path)


def raw_pickle_checkpoint(world: Path) -> None:
    with open(world / "checkpoints" / "ckpt.pt", "wb") as file:
        pickle.dump({"format_version": 1, "step": 20, "extra": Payload(world / MARKER)}, file)


def truncated_checkpoint(world: Path) -> None:
    path = world / "checkpoints" / "ckpt.pt"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def random_bytes_checkpoint(world: Path) -> None:
    (world / "checkpoints" / "ckpt.pt").write_bytes(random.Random(0).randbytes(50_000))


def remove_tokenizer(world: Path) -> None:
    (world / "data" / "tokenizer.json").unlink()


def corrupt_tokenizer(world: Path) -> None:
    (world / "data" / "tokenizer.json").write_text('{"version": "1.0", "model": {"type": "BPE", "voc', encoding="utf-8")


# -- the table -----------------------------------------------------------------------------------------


@dataclass
class Cli:
    script: str
    args: tuple = ()
    expect: tuple = ()  # more words this invocation's error line must hold (besides the case's)
    exit_code: int | None = None  # the exact code, when it matters (else any non-zero for an error)
    works: Callable[[list], None] | None = None  # not an error: checks the results (exit 0 is checked too)
    runs: int = 1  # run it this many times (a check of determinism)


@dataclass
class App:
    call: Callable[[TrainerApp, Path], object]  # returns the text the user sees (for an error)
    expect: tuple = ()
    works: bool = False  # not an error: `call` asserts what must happen itself


@dataclass
class Case:
    name: str
    expect: tuple = ()  # words every message of the case holds (CLI error line, app text)
    setup: Callable[[Path], None] | None = None
    cli: tuple = ()
    app: tuple = ()
    checkpoint: bool = True  # the world holds the trained ckpt.pt
    small_data: bool = False  # the world's data is a dataset too short for block_size 32
    env: dict = field(default_factory=dict)
    marks: tuple = ()


GOOD_TEXT = make_text(20_000, seed=5).encode("utf-8")

CASES = [
    # Text files that cannot become a dataset.
    Case("empty_file", ("empty.txt: the file is empty",), write_input("empty.txt", b""),
         cli=(Cli("prepare_data.py", ("--input", "inputs/empty.txt", "--vocab_size", "300")),),
         app=(App(prepare_in_app("empty.txt")),)),
    Case("binary_file", ("image.txt: this looks like a binary file", "first at byte 8"),
         write_input("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00"),
         cli=(Cli("prepare_data.py", ("--input", "inputs/image.txt", "--vocab_size", "300")),),
         app=(App(prepare_in_app("image.txt")),)),
    Case("non_utf8_text", ("latin1.txt: not valid UTF-8 at byte 39", "UTF-8"),
         write_input("latin1.txt", b"hello world\n" * 3 + "caf\u00e9 au lait\n".encode("latin-1")),
         cli=(Cli("prepare_data.py", ("--input", "inputs/latin1.txt", "--vocab_size", "300")),),
         app=(App(prepare_in_app("latin1.txt")),)),
    Case("text_too_short_for_the_validation_split", ("the text is too short", "validation split"),
         write_input("short.txt", b"hello world\n"),
         cli=(Cli("prepare_data.py", ("--input", "inputs/short.txt", "--vocab_size", "300")),),
         app=(App(prepare_in_app("short.txt")),)),
    Case("text_too_short_for_block_size", ("block_size (32) needs more than 32 validation tokens",
                                           "use a smaller block_size or more text"),
         small_data=True, checkpoint=False,
         cli=(Cli("train_gpt.py", TINY),),
         app=(App(lambda app, world: train_in_app(app)),)),
    Case("upload_over_the_size_limit", ("big.txt: ", "is over the 1,000 bytes upload limit"),
         write_input("big.txt", GOOD_TEXT), env={"GPT_MAX_UPLOAD_MB": "0.001"},
         cli=(Cli("prepare_data.py", ("--input", "inputs/big.txt", "--vocab_size", "300", "--max_mb", "0.001")),),
         app=(App(prepare_in_app("big.txt")),)),
    # Settings that cannot work.
    Case("n_embd_not_divisible_by_n_head", ("n_embd (30) must be divisible by n_head (4)",),
         cli=(Cli("train_gpt.py", (*TINY, "--n_embd", "30", "--n_head", "4")),),
         app=(App(lambda app, world: train_in_app(app, n_embd=30.0, n_head=4.0), ("**Fix these first:**",)),
              App(lambda app, world: app.describe_config(controls(n_embd=30.0, n_head=4.0), 600)[1]))),
    Case("vocab_size_above_65535", ("vocab_size must be between 257", "and 65535", "got 70000"),
         write_input("good.txt", GOOD_TEXT),
         cli=(Cli("prepare_data.py", ("--input", "inputs/good.txt", "--vocab_size", "70000")),
              Cli("train_gpt.py", (*TINY, "--vocab_size", "70000"))),
         app=(App(prepare_in_app("good.txt", 70000)),)),
    Case("vocab_size_below_257", ("vocab_size must be between 257", "got 100"),
         write_input("good.txt", GOOD_TEXT),
         cli=(Cli("prepare_data.py", ("--input", "inputs/good.txt", "--vocab_size", "100")),),
         app=(App(prepare_in_app("good.txt", 100)),)),
    Case("batch_too_large_for_memory", ("GiB for a training step", "is free; try " + MEMORY_TIPS),
         cli=(Cli("train_gpt.py", (*TINY, "--batch_size", "100000000")),),
         app=(App(lambda app, world: train_in_app(app, batch_size=1e8)),)),
    Case("block_and_batch_too_large_for_memory", ("GiB for a training step", "is free; try " + MEMORY_TIPS),
         checkpoint=False,
         cli=(Cli("train_gpt.py", (*TINY, "--block_size", "512", "--batch_size", "1000000")),),
         app=(App(lambda app, world: train_in_app(app, block_size=512.0, batch_size=1e6)),)),
    Case("too_large_for_memory_with_start_fresh", ("GiB for a training step", "is free; try " + MEMORY_TIPS),
         cli=(Cli("train_gpt.py", (*TINY, "--batch_size", "100000000", "--fresh")),),
         app=(App(lambda app, world: train_in_app(app, resume_mode="fresh", batch_size=1e8)),)),
    Case("lr_so_high_the_loss_diverges", ("the loss became", "is too high; lower lr", "last good checkpoint"),
         cli=(Cli("train_gpt.py", (*TINY, "--lr", "1.0", "--grad_clip", "0", "--log_interval", "1", "--max_steps",
                                   "400", "--eval_interval", "400"),
                  ("(checkpoints/ckpt.pt) is kept",), exit_code=1),),
         app=(App(lambda app, world: train_in_app(app, lr=1.0, grad_clip=0.0, log_interval=1, max_steps=400.0,
                                                  eval_interval=400.0),
                  ("**Training stopped:**", "checkpoints/ckpt.pt) is kept")),)),
    Case("eval_interval_larger_than_max_steps", ("eval_interval (50) is larger than max_steps (20)",),
         cli=(Cli("train_gpt.py", (*TINY, "--max_steps", "20", "--eval_interval", "50")),),
         app=(App(lambda app, world: train_in_app(app, max_steps=20.0, eval_interval=50.0)),)),
    Case("checkpoint_of_another_architecture", ("has a different architecture",
                                                "n_layer 1 in the checkpoint vs 2 requested"),
         cli=(Cli("train_gpt.py", (*TINY, "--n_layer", "2"), ("--keep_checkpoint_architecture", "--fresh")),),
         app=(App(lambda app, world: train_in_app(app, n_layer=2.0),
                  ("**The checkpoint has another architecture.**",)),)),
    # Run names that would put checkpoints outside checkpoints/ (or are not a folder name anywhere).
    run_name_case("run_name_climbing_out", "../escape", "contains '/'"),
    run_name_case("run_name_absolute_path", "/abs/path", "contains '/'"),
    run_name_case("run_name_with_a_subfolder", "a/b", "contains '/'"),
    run_name_case("run_name_dot_dot", "..", "contains '..'"),
    run_name_case("run_name_windows_style", "..\\x", "contains '\\'"),
    run_name_case("run_name_over_64_characters", "x" * 65, "is 65 characters long"),
    # Files that went missing or bad.
    Case("missing_tokenizer", ("tokenizer.json",), remove_tokenizer,
         cli=(Cli("sample.py", SAMPLE, ("tokenizer file data/tokenizer.json does not exist",)),
              Cli("train_gpt.py", TINY, ("the data is incomplete", "missing"))),
         app=(App(sample_note, ("**Cannot sample:**", "does not exist")),
              App(checkpoint_info, ("does not exist",)),
              App(lambda app, world: train_in_app(app), ("the data is incomplete",)))),
    Case("corrupt_tokenizer", ("tokenizer.json is corrupt or not a tokenizer.json",), corrupt_tokenizer,
         cli=(Cli("sample.py", SAMPLE),),
         app=(App(sample_note, ("**Cannot sample:**",)), App(checkpoint_info),
              App(lambda app, world: train_in_app(app)))),
    Case("malicious_pickle_checkpoint", ("refused to load", "ckpt.pt", "could run code"), malicious_checkpoint,
         cli=(Cli("sample.py", SAMPLE, ("exec",)), Cli("train_gpt.py", TINY)),
         app=(App(sample_note, ("**Cannot sample:**",)), App(checkpoint_info),
              App(lambda app, world: train_in_app(app)))),
    Case("raw_pickle_checkpoint", ("refused to load", "raw Python pickle", "could run code"), raw_pickle_checkpoint,
         app=(App(sample_note), App(checkpoint_info)),
         marks=(pytest.mark.filterwarnings("ignore:Detected pickle protocol"),)),
    Case("raw_pickle_checkpoint_on_the_cli", ("refused to load", "raw Python pickle", "could run code"),
         raw_pickle_checkpoint,
         cli=(Cli("sample.py", SAMPLE),)),
    Case("truncated_checkpoint", ("ckpt.pt is not a readable checkpoint (truncated or corrupt",),
         truncated_checkpoint,
         cli=(Cli("sample.py", SAMPLE),),
         app=(App(sample_note), App(checkpoint_info), App(lambda app, world: train_in_app(app)))),
    Case("random_bytes_checkpoint", ("ckpt.pt is not a readable checkpoint",), random_bytes_checkpoint,
         cli=(Cli("sample.py", SAMPLE),),
         app=(App(sample_note), App(checkpoint_info))),
    # Unusual but valid sampling settings: they work.
    Case("top_k_above_the_vocabulary",
         cli=(Cli("sample.py", (*SAMPLE, "--prompt", "the team", "--top_k", "5000", "--seed", "1"),
                  works=cli_generated("the team")),),
         app=(App(app_top_k_above_vocabulary, works=True),)),
    Case("temperature_zero_is_greedy",
         cli=(Cli("sample.py", (*SAMPLE, "--prompt", "서울", "--temperature", "0"), works=cli_same_text_twice,
                  runs=2),),
         app=(App(app_temperature_zero, works=True),)),
    Case("empty_prompt_starts_a_new_document",
         cli=(Cli("sample.py", (*SAMPLE, "--prompt", "", "--seed", "3"), works=lambda results: None),),
         app=(App(app_empty_prompt, works=True),)),
    Case("prompt_longer_than_block_size",
         cli=(Cli("sample.py", (*SAMPLE, "--prompt", LONG_PROMPT, "--temperature", "0"),
                  works=cli_generated(LONG_PROMPT)),),
         app=(App(app_long_prompt, works=True),)),
    Case("prompt_longer_than_block_size_noted_on_the_cli",
         cli=(Cli("sample.py", (*SAMPLE, "--prompt", LONG_PROMPT, "--temperature", "0"), works=cli_notes_long_prompt),)),
]


# -- running a case ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checkpoint_bytes(tmp_path_factory, prepared) -> bytes:
    """ckpt.pt of a 20-step run trained as the CLI trains it: relative paths, so it works in any world."""
    folder = tmp_path_factory.mktemp("bad_inputs_checkpoint")
    (folder / "data").mkdir()
    for name in DATA_FILES:
        shutil.copyfile(prepared[0] / name, folder / "data" / name)
    cfg = Config(vocab_size=TEST_VOCAB_SIZE, block_size=32, n_layer=1, n_head=2, n_embd=32, dropout=0.0,
                 batch_size=4, lr=1e-3, max_steps=20, eval_interval=10, eval_iters=2, sample_every_eval=False,
                 device="cpu", dtype="float32", seed=1234)
    previous = os.getcwd()
    os.chdir(folder)
    try:
        events = run_training(cfg)
    finally:
        os.chdir(previous)
    assert events[-1].reason == "done", events[-1]
    return (folder / "checkpoints" / "ckpt.pt").read_bytes()


@pytest.fixture(scope="module")
def small_data(tmp_path_factory) -> Path:
    """A dataset whose validation split is shorter than block_size 32 (the training split is longer)."""
    from gpt.data import prepare_files

    folder = tmp_path_factory.mktemp("small_data")
    (folder / "small.txt").write_text(make_text(4000), encoding="utf-8")
    steps = prepare_files([folder / "small.txt"], folder / "train.bin", folder / "val.bin",
                          folder / "tokenizer.json", 300)
    try:
        while True:
            next(steps)
    except StopIteration as finished:
        info = finished.value
    assert info.val_tokens < 32 < info.train_tokens, info
    return folder


def make_world(root: Path, case: Case, prepared, small_data: Path, checkpoint_bytes: bytes) -> Path:
    source = small_data if case.small_data else prepared[0]
    (root / "data").mkdir(parents=True)
    (root / "inputs").mkdir()
    for name in DATA_FILES:
        shutil.copyfile(source / name, root / "data" / name)
    if case.checkpoint:
        (root / "checkpoints").mkdir()
        (root / "checkpoints" / "ckpt.pt").write_bytes(checkpoint_bytes)
    if case.setup:
        case.setup(root)
    return root


def digest(folder: Path) -> dict[str, str]:
    """sha256 of every file under folder, by relative path."""
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def assert_untouched(world: Path, before: dict[str, str]) -> None:
    after = digest(world)
    changed = [name for name in before if after.get(name) != before[name]]
    assert not changed, f"files changed or went missing: {changed}; now there are {sorted(after)}"
    leftovers = [name for name in after if name not in before and name.endswith(".tmp")]
    assert not leftovers, f"temporary files left behind: {leftovers}"
    assert not list(world.rglob(MARKER)), "the malicious checkpoint's payload ran"


def script_env(extra: dict) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONIOENCODING": "utf-8",
           "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false", **extra}
    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    return env


def run_cli(cli: Cli, world: Path, env: dict) -> list[subprocess.CompletedProcess]:
    """Run the script (cli.runs times at once) in the world, as a user would, and wait for it."""
    processes = [subprocess.Popen([sys.executable, str(REPO_ROOT / "scripts" / cli.script), *cli.args], cwd=world,
                                  env=script_env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  encoding="utf-8", errors="replace")
                 for _ in range(cli.runs)]
    try:
        return [finish(process) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.communicate()


def finish(process: subprocess.Popen) -> subprocess.CompletedProcess:
    try:
        out, err = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        raise AssertionError(f"{process.args} did not finish within 120 s: {err[-500:]}")
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


@dataclass
class CliOutcome:
    world: Path
    before: dict  # the world's digest before the scripts ran
    results: list  # per Cli of the case: its CompletedProcess(es)


class BackgroundCli:
    """The selected cases' scripts, run from the start of the module two at a time (a script spends most
    of its second or two importing torch), while the tests drive the app; each test collects its own."""

    def __init__(self, root: Path, make: Callable[[Path, Case], Path]):
        self.root, self.make = root, make
        self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="bad-inputs-cli")
        self.futures: dict[str, Future] = {}

    def submit(self, case: Case) -> None:
        self.futures[case.name] = self.pool.submit(self._run, case)

    def _run(self, case: Case) -> CliOutcome:
        world = self.make(self.root / case.name, case)
        before = digest(world)
        return CliOutcome(world, before, [run_cli(cli, world, case.env) for cli in case.cli])

    def outcome(self, case: Case) -> CliOutcome:
        if case.name not in self.futures:
            self.submit(case)
        return self.futures[case.name].result(timeout=600)

    def close(self) -> None:
        for future in self.futures.values():
            future.cancel()
        self.pool.shutdown(wait=True)


def assert_cli_error(result: subprocess.CompletedProcess, expected: tuple, exit_code: int | None) -> None:
    where = f"{' '.join(map(str, result.args[1:]))}\nstdout: {result.stdout[-800:]}\nstderr: {result.stderr[-1500:]}"
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout, where
    assert result.returncode != 0, where
    if exit_code is not None:
        assert result.returncode == exit_code, where
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], where
    assert all(PROGRESS_LINE.search(line) for line in lines[:-1]), where
    for text in expected:
        assert text in errors[0], f"{text!r} not in the error line\n{where}"


def assert_cli_works(results: list, check: Callable[[list], None]) -> None:
    for result in results:
        where = f"{' '.join(map(str, result.args[1:]))}\nstderr: {result.stderr[-1500:]}"
        assert result.returncode == 0, where
        assert "Traceback" not in result.stderr and "error:" not in result.stderr, where
        assert generated(result), where
    check(results)


def case_params(cases: list[Case]) -> list:
    return [pytest.param(case, id=case.name, marks=case.marks) for case in cases]


def test_the_table_covers_cli_and_app():
    names = [case.name for case in CASES]
    assert len(names) == len(set(names))
    for case in CASES:
        assert case.cli or case.app, case.name
        errors = [part for part in (*case.cli, *case.app) if not part.works]
        assert not errors or case.expect or all(part.expect for part in errors), case.name


@pytest.fixture(scope="module")
def background_cli(request, tmp_path_factory, prepared, small_data, checkpoint_bytes):
    runner = BackgroundCli(tmp_path_factory.mktemp("cli_worlds"),
                           lambda root, case: make_world(root, case, prepared, small_data, checkpoint_bytes))
    for item in request.session.items:  # the cases this session runs, in order
        case = getattr(item, "callspec", None) and item.callspec.params.get("case")
        if isinstance(case, Case) and item.module is request.module and case.cli:
            runner.submit(case)
    yield runner
    runner.close()


@pytest.mark.parametrize("case", case_params(CASES))
def test_bad_input(case: Case, tmp_path, monkeypatch, prepared, small_data, checkpoint_bytes, background_cli):
    # The app, in its own world.
    app_world = make_world(tmp_path / "app", case, prepared, small_data, checkpoint_bytes)
    before = digest(app_world)
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    app = TrainerApp(Storage(app_world))
    try:
        for part in case.app:
            shown = part.call(app, app_world)
            if part.works:
                continue
            assert isinstance(shown, str) and "Traceback" not in shown, shown
            for text in (*case.expect, *part.expect):
                assert text in shown, f"{text!r} not in what the app showed:\n{shown}"
    finally:
        app.job.stop(app.job.snapshot().owner)
        assert app.job.wait(60)
    assert_untouched(app_world, before)

    # The scripts, run in the background in a world of their own.
    if not case.cli:
        return
    outcome = background_cli.outcome(case)
    for cli, results in zip(case.cli, outcome.results):
        if cli.works:
            assert_cli_works(results, cli.works)
        else:
            for result in results:
                assert_cli_error(result, (*case.expect, *cli.expect), cli.exit_code)
    assert_untouched(outcome.world, outcome.before)


def test_the_malicious_checkpoint_really_runs_code_when_trusted(tmp_path, prepared, small_data, checkpoint_bytes):
    """Proof that the malicious cases mean something: unpickled without weights_only, the payload runs."""
    world = make_world(tmp_path / "trusting", Case("trusting", setup=malicious_checkpoint), prepared, small_data,
                       checkpoint_bytes)
    assert not (world / MARKER).exists()
    torch.load(world / "checkpoints" / "ckpt.pt", weights_only=False)
    assert (world / MARKER).read_text() == "pwned"


# -- beyond the table: a fixed seed or temperature 0 must give the same text on every run --------------


def test_the_same_seed_gives_the_same_text_on_every_load(tmp_path, prepared, small_data, checkpoint_bytes):
    """The sampling precision follows the CPU's features, never a timing: two loads agree on it and on the text."""
    from gpt.device import pick_inference_precision

    choices = {pick_inference_precision(torch.device("cpu")) for _ in range(20)}
    assert len(choices) == 1
    texts = []
    for attempt in range(2):
        world = make_world(tmp_path / str(attempt), Case("repeat"), prepared, small_data, checkpoint_bytes)
        app = TrainerApp(Storage(world))
        texts.append([sample_in_app(app, "서울", max_new_tokens=100, seed=seed)[0] for seed in range(3)])
        assert app.loaded_model().checkpoint_info["precision"] in choices
    assert texts[0] == texts[1]
