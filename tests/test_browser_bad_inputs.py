"""Every bad input of test_bad_inputs.py that the page can express, entered in Chromium as a new user would.

One app, launched in this process on storage holding the small prepared dataset and a checkpoint
trained on it (conftest's `trained`: 2 layers, 32 wide, 2 heads, block 64, step 60), and one
browser page that every row reloads, so each row starts from what a new visitor sees. A row
enters one bad input through the controls (upload a file, type into the number box beside a
slider, press a button) and reads the message where the user reads it: in the data status, the
config problems, the training status, the Sample tab's note or checkpoint line, or Gradio's own
error toast. For every row the data files and the checkpoint are byte-identical afterwards and no
temporary file is left; a row that breaks a file on purpose (a corrupt tokenizer, a malicious
checkpoint) compares against the broken file and puts the original back after.

The app's upload limit is 1,000 bytes here (GPT_MAX_UPLOAD_MB), as in test_bad_inputs.py.
What the page cannot express of that table: a vocab_size outside 257..65535 (the slider snaps a
typed value to its end; the rows check that) and a file over the limit reaching the handler (the
browser refuses it first, with Gradio's message; the row checks that); a batch too large for
memory with the checkpoint's own architecture (the batch_size slider stops at 128, so the row
uses the largest model instead); the CLI-only cases.
A screenshot of each row goes to tests/screenshots/bad_inputs/ (gitignored).

Needs /usr/bin/chromium and the playwright package (never `playwright install`); without them
the tests are skipped, except on CI (CI=true), where that is a failure (see test_app_browser.py).

To add a row: write a function `(Visit) -> str` that enters the input and returns what the page
shows, and append a `Row` to ROWS with the words that text must hold.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"

import pytest  # noqa: E402

from gpt.train import MEMORY_TIPS  # noqa: E402
from conftest import TEST_VOCAB_SIZE, launched_app, make_text, wait_for  # noqa: E402
import test_app_browser  # noqa: E402
from test_app_browser import SCREENSHOTS, TIMEOUT_MS  # noqa: E402
from test_bad_inputs import (LONG_PROMPT, MARKER, assert_untouched, corrupt_tokenizer, digest,  # noqa: E402
                             malicious_checkpoint, random_bytes_checkpoint, raw_pickle_checkpoint,
                             remove_tokenizer, truncated_checkpoint)

# Chromium launched once (a module fixture): skipped without it, a failure on CI, as in test_app_browser.py.
browser = test_app_browser.browser
ROW_SCREENSHOTS = SCREENSHOTS / "bad_inputs"
UPLOAD_LIMIT_MB = "0.001"  # 1,000 bytes
# The checkpoint's architecture (conftest's `trained`): a Train row that keeps it resumes that run.
CHECKPOINT_SHAPE = {"block_size": 64, "n_layer": 2, "n_head": 2, "n_embd": 32}
INPUT_FILES = {
    "empty.txt": b"",
    "image.txt": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00",
    "latin1.txt": b"hello world\n" * 3 + "caf\u00e9 au lait\n".encode("latin-1"),
    "short.txt": b"hello world\n",
    "big.txt": make_text(5_000, seed=5).encode("utf-8"),
}


@dataclass
class Visit:
    """What a row works with: the page, the app behind it and its storage folder."""

    page: object  # playwright Page
    url: str
    trainer: object  # ui.trainer.TrainerApp
    world: Path  # the app's storage: data/ and checkpoints/
    inputs: Path  # the user's own files, outside the storage
    samples: list  # the final (text, note) of each Generate, in order


@pytest.fixture(scope="module")
def visit(tmp_path_factory, prepared, trained, browser):
    root = tmp_path_factory.mktemp("browser_bad_inputs")
    (root / "checkpoints").mkdir()
    shutil.copyfile(trained[1], root / "checkpoints" / "ckpt.pt")
    inputs = tmp_path_factory.mktemp("user_files")
    for name, content in INPUT_FILES.items():
        (inputs / name).write_bytes(content)
    samples: list = []

    def record_samples(trainer):
        """Keep each Generate's final output, so a row knows when the page shows all of it."""
        sample = trainer.sample

        def recorded(*args, **kwargs):
            last = None
            for last in sample(*args, **kwargs):
                yield last
            samples.append(last)
        trainer.sample = recorded

    shutil.rmtree(ROW_SCREENSHOTS, ignore_errors=True)  # only this run's rows
    ROW_SCREENSHOTS.mkdir(parents=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GPT_MAX_UPLOAD_MB", UPLOAD_LIMIT_MB)
        with launched_app(root, prepared, record_samples) as (trainer, url):
            context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
            context.set_default_timeout(TIMEOUT_MS)
            try:
                yield Visit(context.new_page(), url, trainer, root, inputs, samples)
            finally:
                context.close()


# -- what a user does on the page -----------------------------------------------------------------


def open_tab(visit: Visit, tab: str) -> None:
    """Load the page afresh (a new visitor: default controls, no files chosen) and open a tab."""
    page = visit.page
    page.goto(visit.url)
    page.wait_for_selector("#train-button")
    # The load events fill the summary and the data status; wait for them before changing anything.
    page.wait_for_function("document.querySelector('#config-summary')?.innerText.includes('parameters')")
    page.wait_for_function("document.querySelector('#train-status')?.innerText.trim().length > 0")
    page.get_by_role("tab", name=tab).click()
    if tab == "Data":
        page.wait_for_function("document.querySelector('#data-status')?.innerText.includes('tokens per byte')")


def wait_for_text(visit: Visit, selector: str, *expected: str) -> str:
    """Wait until the element's text holds every expected string; return the text."""
    visit.page.wait_for_function(
        "([selector, expected]) => { const e = document.querySelector(selector);"
        " return e && expected.every(text => e.innerText.includes(text)); }", arg=[selector, list(expected)])
    return visit.page.inner_text(selector)


def set_number(visit: Visit, name: str, value) -> None:
    """Type into the number box beside a slider (or a number field) and press Enter, as a user does."""
    box = visit.page.locator(f"#{name} input[type=number]")
    box.fill(str(value))
    box.press("Enter")
    if visit.page.locator(f"#{name} input[type=range]").count():
        visit.page.wait_for_function(
            "([name, value]) => document.querySelector(`#${name} input[type=range]`).value === String(value)",
            arg=[name, value])


def set_controls(visit: Visit, **values) -> None:
    for name, value in values.items():
        set_number(visit, name, value)


def toasts(visit: Visit) -> str:
    visit.page.wait_for_selector(".toast-body")
    return "\n".join(visit.page.locator(".toast-body").all_inner_texts())


# -- Data tab -------------------------------------------------------------------------------------


def upload(visit: Visit, name: str) -> None:
    visit.page.locator("#uploads input[type=file]").set_input_files(str(visit.inputs / name))


def upload_and_prepare(name: str, *expected: str) -> Callable[[Visit], str]:
    """Upload the file (without choosing "My own .txt files" first, as a hurried user does) and prepare."""
    def enter(visit: Visit) -> str:
        open_tab(visit, "Data")
        upload(visit, name)
        wait_for_text(visit, "#uploads", Path(name).stem)
        # Uploading a file chooses it as the text to train on.
        visit.page.wait_for_selector("#corpus input[value=upload]:checked")
        visit.page.click("#prepare-button")
        return wait_for_text(visit, "#data-status", "Cannot use this data", *expected)
    return enter


def upload_over_the_limit(visit: Visit) -> str:
    open_tab(visit, "Data")
    visit.page.locator("#corpus").get_by_text("My own .txt files").click()
    upload(visit, "big.txt")
    refused = toasts(visit)
    # The file was not taken: preparing now asks for one.
    visit.page.click("#prepare-button")
    return refused + "\n" + wait_for_text(visit, "#data-status", "Upload at least one .txt file first")


def vocab_size_typed(value: int, clamped: int) -> Callable[[Visit], str]:
    """The slider takes no vocab_size outside 257..65535: the typed value snaps to the nearest end."""
    def enter(visit: Visit) -> str:
        open_tab(visit, "Data")
        box = visit.page.locator("#vocab_size input[type=number]")
        box.fill(str(value))
        box.press("Enter")
        visit.page.click("#data-status")  # leave the box
        visit.page.wait_for_function(
            "(value) => document.querySelector('#vocab_size input[type=number]').value === String(value)",
            arg=clamped)
        assert visit.page.locator("#vocab_size input[type=range]").input_value() == str(clamped)
        return visit.page.inner_text("#vocab_size")
    return enter


# -- Train tab ------------------------------------------------------------------------------------


def train_status_after(visit: Visit, *expected: str, button: str = "#train-button") -> str:
    """Press a Train button and wait for the status to hold the expected words (not there before)."""
    before = visit.page.inner_text("#train-status")
    assert not all(text in before for text in expected), f"the status already said it: {before}"
    visit.page.click(button)
    status = wait_for_text(visit, "#train-status", *expected)
    visit.page.wait_for_selector("#train-button:not([disabled])")
    assert not visit.trainer.job.snapshot().active
    return status


def config_problem(controls: dict, *expected: str) -> Callable[[Visit], str]:
    """Controls that cannot work: the problem shows above the controls at once, and again on Train."""
    def enter(visit: Visit) -> str:
        open_tab(visit, "Train")
        set_controls(visit, **controls)
        problems = wait_for_text(visit, "#config-problems", "Fix these first", *expected)
        return problems + "\n" + train_status_after(visit, "Fix these first", *expected)
    return enter


def lr_typed(value: float, *expected: str) -> Callable[[Visit], str]:
    def enter(visit: Visit) -> str:
        open_tab(visit, "Train")
        box = visit.page.locator("#lr input")
        box.fill(str(value))
        box.press("Enter")
        problems = wait_for_text(visit, "#config-problems", "Fix these first", *expected)
        return problems + "\n" + train_status_after(visit, "Fix these first", *expected)
    return enter


def another_architecture(visit: Visit) -> str:
    open_tab(visit, "Train")
    set_controls(visit, **{**CHECKPOINT_SHAPE, "n_layer": 1})
    status = train_status_after(visit, "The checkpoint has another architecture",
                                "n_layer 2 in the checkpoint vs 1 requested")
    visit.page.locator("#resume-button").wait_for(state="visible")
    visit.page.locator("#fresh-button").wait_for(state="visible")
    assert visit.trainer.job.snapshot().error_kind == "architecture"
    return status + "\n" + visit.page.inner_text("#resume-button") + "\n" + visit.page.inner_text("#fresh-button")


def too_big_for_memory(visit: Visit) -> str:
    """The largest model the sliders allow (block_size stays below the 926 validation tokens)."""
    open_tab(visit, "Train")
    set_controls(visit, n_embd=1024, n_head=16, n_layer=24, block_size=896, batch_size=128)
    summary = wait_for_text(visit, "#config-summary", "GiB of memory")
    problems = wait_for_text(visit, "#config-problems", "Fix these first", "GiB for a training step")
    # Refused at once, before the resume-or-fresh question its other architecture would raise.
    status = train_status_after(visit, "Fix these first", "GiB for a training step")
    assert not visit.page.locator("#fresh-button").is_visible()
    return summary + "\n" + problems + "\n" + status


def block_size_above_the_validation_split(visit: Visit) -> str:
    """block_size 1024 (the slider's top) needs more than the 926 validation tokens of the data."""
    open_tab(visit, "Train")
    set_controls(visit, block_size=1024)
    train_status_after(visit, "The checkpoint has another architecture", "block_size 64 in the checkpoint vs 1024")
    return train_status_after(visit, "needs more than 1024 validation tokens", button="#fresh-button")


def diverging_lr(visit: Visit) -> str:
    """lr 1 (the highest the config allows) resumes the checkpoint and diverges within 10 steps."""
    open_tab(visit, "Train")
    set_controls(visit, **CHECKPOINT_SHAPE, batch_size=4, max_steps=400, eval_interval=400)
    box = visit.page.locator("#lr input")
    box.fill("1")
    box.press("Enter")
    visit.page.wait_for_function("document.querySelector('#config-summary').innerText.includes('400 steps')")
    return train_status_after(visit, "Training stopped", "the loss became")


def run_name_typed(name: str, *expected: str) -> Callable[[Visit], str]:
    """A run name that is not one folder inside checkpoints/: refused as typed and on Train, no folder made."""
    def enter(visit: Visit) -> str:
        outside = [visit.world / "escape", visit.world.parent / "escape", Path(name)]
        existed = [path.exists() for path in outside]
        open_tab(visit, "Train")
        visit.page.locator("#run_name input, #run_name textarea").first.fill(name)
        problems = wait_for_text(visit, "#config-problems", "Fix these first", *expected)
        status = train_status_after(visit, "Fix these first", *expected)
        assert [path.exists() for path in outside] == existed, "a folder was made for the bad run name"
        return problems + "\n" + status
    return enter


def sample_run_typed(name: str, *expected: str) -> Callable[[Visit], str]:
    """The run picker takes a typed name too: the checkpoint line and Generate refuse a bad one."""
    def enter(visit: Visit) -> str:
        open_tab(visit, "Sample")
        wait_for_text(visit, "#checkpoint-info", "step 60")
        picker = visit.page.locator("#sample-run input")
        picker.fill(name)
        picker.press("Enter")
        info = wait_for_text(visit, "#checkpoint-info", "Fix this first", *expected)
        text, note = generate(visit, "the team")
        assert text == "", text
        for words in ("Fix this first", *expected):
            assert words in note, note
        return info + "\n" + note
    return enter


def train_with_broken_data(*expected: str) -> Callable[[Visit], str]:
    def enter(visit: Visit) -> str:
        open_tab(visit, "Train")
        set_controls(visit, **CHECKPOINT_SHAPE, max_steps=400, eval_interval=400)
        return train_status_after(visit, "Training stopped", *expected)
    return enter


# -- Sample tab -----------------------------------------------------------------------------------


def printable(text: str) -> str:
    """Text as a textarea keeps it: an undertrained model at top_k 1000 also writes control characters."""
    return re.sub(r"[\x00-\x08\x0b-\x1f]", "", re.sub(r"\r\n?", "\n", text))


def generate(visit: Visit, prompt: str, **controls) -> tuple[str, str]:
    """Press Generate; (the text shown, the note shown) once the page shows the final output."""
    page = visit.page
    page.fill("#prompt textarea", prompt)
    set_controls(visit, **controls)
    count = len(visit.samples)
    page.click("#generate-button")
    wait_for(lambda: len(visit.samples) > count, what="the sampling handler to finish")
    text, _ = visit.samples[-1]
    output = page.locator("#sample-output textarea")
    try:
        wait_for(lambda: printable(output.input_value()) == printable(text), timeout=TIMEOUT_MS / 1000)
    except AssertionError:
        raise AssertionError(f"the page shows {output.input_value()!r}, not the final output {text!r}") from None
    # The note's own progress timer is gone once the event has finished.
    page.wait_for_selector("#sample-note [data-testid=status-tracker].hide", state="attached")
    return text, page.inner_text("#sample-note [data-testid=markdown]").strip()


def sample_works(prompt: str, expected_note: str = "", **controls) -> Callable[[Visit], str]:
    def enter(visit: Visit) -> str:
        open_tab(visit, "Sample")
        text, note = generate(visit, prompt, **controls)
        assert text.startswith(prompt) and len(text) > len(prompt), text
        assert (expected_note in note) if expected_note else note == "", note
        return note or text
    return enter


def greedy_twice(visit: Visit) -> str:
    open_tab(visit, "Sample")
    first = generate(visit, "서울", **{"sample-temperature": 0})
    second = generate(visit, "서울")
    assert first == second and len(first[0]) > len("서울") and first[1] == "", (first, second)
    return first[0]


def sampling_refused(*expected: str) -> Callable[[Visit], str]:
    """Refresh shows why the checkpoint cannot be used; Generate shows it as its note and writes nothing."""
    def enter(visit: Visit) -> str:
        open_tab(visit, "Sample")
        visit.page.click("#refresh-button")
        info = wait_for_text(visit, "#checkpoint-info", "Cannot sample", *expected)
        text, note = generate(visit, "the team")
        assert text == "" and visit.page.locator("#sample-output textarea").input_value() == ""
        for words in ("Cannot sample", *expected):
            assert words in note, note
        return info + "\n" + note
    return enter


# -- the table ------------------------------------------------------------------------------------


@dataclass
class Row:
    name: str
    enter: Callable[[Visit], str]  # enters the input; returns what the page shows
    expect: tuple = ()  # words what the page shows must hold
    breaks: Callable[[Path], None] | None = None  # breaks a file of the storage first (put back after)
    never: tuple = ()  # words the page must not show


READ_ERROR = "is not a readable checkpoint"

ROWS = [
    # Data tab.
    Row("empty_file", upload_and_prepare("empty.txt", "empty.txt: the file is empty")),
    Row("binary_file", upload_and_prepare("image.txt", "image.txt: this looks like a binary file", "first at byte 8")),
    Row("non_utf8_text", upload_and_prepare("latin1.txt", "latin1.txt: not valid UTF-8 at byte 39")),
    Row("text_too_short_for_the_validation_split",
        upload_and_prepare("short.txt", "the text is too short", "validation split")),
    Row("upload_over_the_size_limit", upload_over_the_limit,
        ("File(s) exceed the maximum allowed size", "big.txt", "Upload at least one .txt file first")),
    Row("vocab_size_above_65535_snaps_to_65535", vocab_size_typed(70000, 65535), ("At most 65535",)),
    Row("vocab_size_below_257_snaps_to_257", vocab_size_typed(100, 257), ("vocab_size",)),
    # Train tab.
    Row("n_embd_not_divisible_by_n_head", config_problem({"n_embd": 48, "n_head": 5}),
        ("n_embd (48) must be divisible by n_head (5)",)),
    Row("eval_interval_larger_than_max_steps", config_problem({"max_steps": 20, "eval_interval": 50}),
        ("eval_interval (50) is larger than max_steps (20)",)),
    Row("lr_above_1", lr_typed(5, "lr 5 is far too high"), ("try 3e-4",)),
    Row("checkpoint_of_another_architecture", another_architecture,
        ("n_layer 2 in the checkpoint vs 1 requested", "Resume with the checkpoint's architecture",
         "Start fresh (keep the old run)")),
    Row("too_big_for_memory", too_big_for_memory,
        ("GiB for a training step", "is free; try " + MEMORY_TIPS)),
    Row("block_size_longer_than_the_validation_split", block_size_above_the_validation_split,
        ("block_size (1024) needs more than 1024 validation tokens", "use a smaller block_size or more text")),
    Row("lr_so_high_the_loss_diverges", diverging_lr,
        ("the loss became", "the learning rate 1 is too high", "ckpt.pt) is kept")),
    Row("run_name_climbing_out", run_name_typed("../escape", "run name '../escape' contains '/'"),
        ("a run name may only use letters, digits",)),
    Row("run_name_absolute_path", run_name_typed("/abs", "run name '/abs' contains '/'"),
        ("a run name may only use letters, digits",)),
    Row("train_with_the_tokenizer_missing", train_with_broken_data("the data is incomplete", "tokenizer.json"),
        breaks=remove_tokenizer),
    Row("train_with_a_corrupt_tokenizer", train_with_broken_data("tokenizer.json is corrupt"),
        breaks=corrupt_tokenizer),
    # Sample tab.
    Row("top_k_above_the_vocabulary", sample_works("the team", f"larger than the vocabulary ({TEST_VOCAB_SIZE})",
                                                   **{"sample-top-k": 1000}),
        ("top_k 1000 is larger than the vocabulary",)),
    Row("temperature_zero_is_greedy", greedy_twice),
    Row("empty_prompt_starts_a_new_document", sample_works("")),
    Row("prompt_longer_than_block_size", sample_works(LONG_PROMPT, "the prompt is longer than block_size (64 tokens)")),
    Row("sample_from_a_run_named_climbing_out", sample_run_typed("../escape", "run name '../escape' contains '/'")),
    Row("sample_with_the_tokenizer_missing", sampling_refused("tokenizer.json", "does not exist"),
        breaks=remove_tokenizer),
    Row("sample_with_a_corrupt_tokenizer", sampling_refused("tokenizer.json is corrupt"), breaks=corrupt_tokenizer),
    Row("malicious_pickle_checkpoint", sampling_refused("refused to load", "could run code", "exec was not an allowed global"),
        breaks=malicious_checkpoint, never=("add_safe_globals",)),
    Row("raw_pickle_checkpoint", sampling_refused("refused to load", "raw Python pickle"),
        breaks=raw_pickle_checkpoint),
    Row("truncated_checkpoint", sampling_refused(READ_ERROR), breaks=truncated_checkpoint),
    Row("random_bytes_checkpoint", sampling_refused(READ_ERROR), breaks=random_bytes_checkpoint),
]


def without_logs(files: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in files.items() if "tensorboard" not in Path(name).parts}


@pytest.mark.parametrize("row", [pytest.param(row, id=row.name) for row in ROWS])
def test_bad_input_in_the_browser(row: Row, visit: Visit):
    storage = [visit.world / "data", visit.world / "checkpoints"]
    originals = {path: path.read_bytes() for folder in storage for path in folder.iterdir() if path.is_file()}
    try:
        if row.breaks:
            row.breaks(visit.world)
        before, user_files = digest(visit.world), digest(visit.inputs)
        shown = row.enter(visit)
        assert "Traceback" not in shown, shown
        for text in row.expect:
            assert text in shown, f"{text!r} not on the page:\n{shown}"
        for text in row.never:
            assert text not in shown, f"{text!r} on the page:\n{shown}"
        visit.page.screenshot(path=str(ROW_SCREENSHOTS / f"{ROWS.index(row) + 1:02d}-{row.name}.png"), full_page=True)
        assert not visit.trainer.job.snapshot().active
        assert_untouched(visit.world, before)
        # A run that started and then diverged keeps its TensorBoard log: a record of what happened, not data.
        assert without_logs(digest(visit.world)) == without_logs(before), "a file appeared in the storage"
        assert digest(visit.inputs) == user_files, "the user's own files changed"
    finally:
        for folder in storage:  # put back what the row broke; nothing else may have changed
            for path in folder.iterdir():
                if path.is_file() and path not in originals:
                    path.unlink()
        for path, content in originals.items():
            if not path.is_file() or path.read_bytes() != content:
                path.write_bytes(content)
        (visit.world / MARKER).unlink(missing_ok=True)
