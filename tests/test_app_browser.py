"""End to end in a real browser: Debian's chromium driven by Playwright against the app served in-process.

Two browser contexts, English (en-US) and Korean (ko-KR), each a separate visitor with its own
owner token. English: set small sliders, Train, watch the loss plot draw, Stop, sample. Korean:
ask for another n_layer, get the architecture choice, resume with the checkpoint's architecture,
watch, Stop, sample. Then a bad run name typed into the Train tab is refused, and a named run
appears in the Sample tab's run picker. Screenshots of every stage go to tests/screenshots/ (gitignored).

Needs /usr/bin/chromium and the playwright package (never `playwright install`); without them
the tests are skipped, except on CI (CI=true), where that is a failure.
"""

from __future__ import annotations

import importlib.util
import os
import re
import time
from pathlib import Path

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"

import pytest  # noqa: E402

from gpt.config import PRESETS  # noqa: E402
from ui.train_tab import DEFAULT_PRESET  # noqa: E402
from ui.train_tab import PRESETS as CONTROL_PRESETS  # noqa: E402
from conftest import TEST_VOCAB_SIZE, launched_app  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
TIMEOUT_MS = 30_000

# The tiny model both visitors train (n_layer differs for the Korean visitor at first).
SETTINGS = {"max_steps": 5000, "eval_interval": 100, "eval_iters": 2, "block_size": 32, "batch_size": 4,
            "n_embd": 32, "n_head": 2, "n_layer": 1, "sample_max_new_tokens": 16}

TEXTS = {
    "en-US": dict(train="Train", stop="Stop", sample_tab="Sample", generate="Generate", resume=None,
                  title="Train a small GPT in your browser", checkpoint_step="step ", prompt="We build"),
    "ko-KR": dict(train="학습 시작", stop="중지", sample_tab="샘플", generate="생성",
                  resume="체크포인트의 구조로 이어서 학습", title="브라우저에서 작은 GPT 학습하기",
                  checkpoint_step="스텝 ", prompt="서울 근무"),
}
STOPPED = re.compile(r"Stopped at step ([\d,]+); checkpoint saved|([\d,]+) 스텝에서 멈췄습니다")
ARCHITECTURE = re.compile(r"The checkpoint has another architecture|체크포인트의 모델 구조가 다릅니다")


def missing_browser(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser test cannot run on CI: {reason}", pytrace=False)
    pytest.skip(f"browser test skipped: {reason}")


@pytest.fixture(scope="module")
def server(tmp_path_factory, prepared):
    """(TrainerApp, url): the app launched in this process with the small prepared data."""
    with launched_app(tmp_path_factory.mktemp("browser_app"), prepared) as launched:
        yield launched


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).is_file():
        missing_browser(f"{CHROMIUM} is not installed (apt-get install chromium fonts-nanum)")
    if importlib.util.find_spec("playwright") is None:
        missing_browser("the playwright package is not installed (pip install playwright; no `playwright install`)")
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def open_page(browser, url: str, locale: str):
    context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("#train-button")
    # The page's load events fill the summary; wait for it before changing anything.
    preset = PRESETS["cpu_quick"]
    tokens_per_step = f"{preset['batch_size'] * preset['block_size']:,}"
    page.wait_for_function(f"document.querySelector('#config-summary')?.innerText.includes('{tokens_per_step}')")
    return context, page


def shoot(page, locale: str, stage: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{locale}-{stage}.png"), full_page=True)


def summary(page) -> str:
    return page.inner_text("#config-summary")


def set_slider(page, name: str, value: int) -> None:
    """Type into the number box beside the slider, press Enter, and check the slider took the value."""
    box = page.locator(f"#{name} input[type=number]")
    before = summary(page)
    box.fill(str(value))
    box.press("Enter")
    page.wait_for_function(
        "([name, value]) => document.querySelector(`#${name} input[type=range]`).value === String(value)",
        arg=[name, value])
    assert box.input_value() == str(value)
    # The change reaches the server: the config summary is recomputed (if this value changes it).
    if name in ("n_layer", "n_embd", "block_size", "batch_size", "max_steps"):
        page.wait_for_function("(before) => document.querySelector('#config-summary').innerText !== before",
                               arg=before)


def expected_parameters(**shape) -> str:
    from gpt.model import count_parameters
    from ui.storage import Storage
    from ui.train_tab import human_count as _human_count

    return _human_count(count_parameters(Storage(Path("/nonexistent")).config(vocab_size=TEST_VOCAB_SIZE, **shape)))


def configure(page, n_layer: int) -> None:
    for name, value in {**SETTINGS, "n_layer": n_layer}.items():
        set_slider(page, name, value)
    text = summary(page)
    assert "128" in text, text  # tokens per step: batch 4 x block 32
    assert expected_parameters(n_layer=n_layer, n_head=2, n_embd=32, block_size=32) in text, text
    assert "5,000" in text, text
    problems = page.inner_text("#config-problems")
    assert "Fix these first" not in problems and "먼저 고쳐 주세요" not in problems, problems


def wait_for_plot_points(page) -> int:
    """Wait until the loss plot has drawn a line with several points; return the number of line paths."""
    page.wait_for_function(
        """() => [...document.querySelectorAll('#loss-plot .scatterlayer .trace path.js-line')]
                 .some(path => (path.getAttribute('d') || '').split(/[LM]/).length > 3)
              || /Training stopped|학습이 멈췄습니다/.test(document.querySelector('#train-status').innerText)""")
    status = page.inner_text("#train-status")
    assert not re.search("Training stopped|학습이 멈췄습니다", status), f"the run failed: {status}"
    return page.locator("#loss-plot .scatterlayer .trace").count()


def stop_and_wait(page) -> int:
    page.wait_for_selector("#stop-button:not([disabled])")
    page.click("#stop-button")
    page.wait_for_function(
        "(pattern) => new RegExp(pattern).test(document.querySelector('#train-status').innerText)",
        arg=STOPPED.pattern)
    match = STOPPED.search(page.inner_text("#train-status"))
    page.wait_for_selector("#train-button:not([disabled])")
    page.wait_for_selector("#stop-button[disabled]")
    return int((match.group(1) or match.group(2)).replace(",", ""))


def sample_in_page(page, locale: str, stopped_step: int, stage: str) -> str:
    texts = TEXTS[locale]
    page.get_by_role("tab", name=texts["sample_tab"]).click()
    page.click("#refresh-button")
    page.wait_for_function(
        "(expected) => document.querySelector('#checkpoint-info').innerText.includes(expected)",
        arg=f"{texts['checkpoint_step']}{stopped_step:,}")
    page.fill("#prompt textarea", texts["prompt"])
    generate = page.locator("#generate-button")
    assert generate.inner_text().strip() == texts["generate"]
    generate.click()
    page.wait_for_function(
        "(prompt) => { const v = document.querySelector('#sample-output textarea').value;"
        " return v.startsWith(prompt) && v.length > prompt.length + 3; }", arg=texts["prompt"])
    time.sleep(0.3)  # let the stream finish before the screenshot
    shoot(page, locale, stage)
    return page.locator("#sample-output textarea").input_value()


def test_train_stop_and_sample_in_english_then_korean(server, browser):
    trainer, url = server

    # -- English visitor: a first run from scratch --------------------------------------------
    context, page = open_page(browser, url, "en-US")
    texts = TEXTS["en-US"]
    assert texts["title"] in page.inner_text("body")
    assert page.inner_text("#train-button").strip() == texts["train"]
    assert page.inner_text("#stop-button").strip() == texts["stop"]
    assert page.locator("#stop-button").is_disabled()
    assert "학습 시작" not in page.inner_text("body")
    configure(page, n_layer=1)
    shoot(page, "en-US", "1-configured")

    page.click("#train-button")
    traces = wait_for_plot_points(page)
    assert traces >= 1
    page.wait_for_function("document.querySelector('#train-status').innerText.startsWith('Training: step')")
    assert page.locator("#n_layer input[type=number]").is_disabled()  # locked while it runs
    assert "step" in page.inner_text("#train-progress-box")
    shoot(page, "en-US", "2-training")
    assert trainer.job.snapshot().status == "running"

    english_step = stop_and_wait(page)
    assert english_step >= 10
    state = trainer.job.snapshot()
    assert state.finish_reason == "stopped" and state.step == english_step
    assert trainer.storage.run().checkpoint.is_file()
    assert page.locator("#loss-plot .scatterlayer .trace").count() >= 1
    assert "saved" in page.locator("#train-log textarea").input_value()
    shoot(page, "en-US", "3-stopped")

    english_sample = sample_in_page(page, "en-US", english_step, "4-sample")
    assert english_sample.startswith(texts["prompt"])
    context.close()

    # -- Korean visitor: another n_layer, then resume with the checkpoint's architecture ----------
    context, page = open_page(browser, url, "ko-KR")
    texts = TEXTS["ko-KR"]
    body = page.inner_text("body")
    assert texts["title"] in body and "Train a small GPT" not in body
    assert page.inner_text("#train-button").strip() == texts["train"]
    assert page.inner_text("#stop-button").strip() == texts["stop"]
    assert "n_layer (층 수)" in body and "모델" in body
    assert [tab.strip() for tab in page.get_by_role("tab").all_inner_texts()] == ["학습", "데이터", "샘플", "실행 비교"]
    configure(page, n_layer=2)
    shoot(page, "ko-KR", "1-configured")

    page.click("#train-button")
    page.wait_for_function(
        "(pattern) => new RegExp(pattern).test(document.querySelector('#train-status').innerText)",
        arg=ARCHITECTURE.pattern)
    resume = page.locator("#resume-button")
    resume.wait_for(state="visible")
    assert resume.inner_text().strip() == texts["resume"]
    assert page.locator("#fresh-button").inner_text().strip() == "새로 시작 (이전 학습은 보관)"
    assert trainer.job.snapshot().error_kind == "architecture"
    shoot(page, "ko-KR", "2-architecture-choice")

    resume.click()
    page.wait_for_selector("#stop-button:not([disabled])")
    # The run resumed from the English visitor's checkpoint with its architecture (1 layer). (The locked
    # (the n_layer control shows the checkpoint's architecture once the run has started)
    assert page.locator("#n_layer input[type=number]").is_disabled()
    resumed = trainer.job.snapshot()
    assert resumed.cfg.n_layer == 1 and resumed.start_step == english_step and resumed.status == "running"
    page.wait_for_function(
        "(step) => { const m = document.querySelector('#train-progress-box').innerText.match(/(?:step|스텝) ([\\d,]+) \\//);"
        " return m && Number(m[1].replace(/,/g, '')) > step; }", arg=english_step)
    wait_for_plot_points(page)
    # (English until the language bug is fixed; see test_korean_browser_gets_korean_messages.)
    assert re.search("tokens/s|초당", page.inner_text("#train-progress-box"))
    page.locator("#resume-button").wait_for(state="hidden")
    shoot(page, "ko-KR", "3-training")

    korean_step = stop_and_wait(page)
    assert korean_step > english_step
    assert trainer.job.snapshot().finish_reason == "stopped"
    shoot(page, "ko-KR", "4-stopped")

    korean_sample = sample_in_page(page, "ko-KR", korean_step, "5-sample")
    assert korean_sample.startswith(texts["prompt"])
    context.close()


def test_korean_browser_gets_korean_messages(server, browser):
    context, page = open_page(browser, server[1], "ko-KR")
    try:
        assert "파라미터" in summary(page)
        page.wait_for_function("document.querySelector('#train-status').innerText.trim().length > 0")
        assert page.inner_text("#train-status").strip() != "No training run yet."
    finally:
        context.close()


def test_presets_are_named_in_the_page_language_and_fill_the_sliders(server, browser):
    for locale, quick, original in (("en-US", "CPU quick", "Original recipe (GPU)"),
                                    ("ko-KR", "CPU 빠른 학습", "원래 레시피 (GPU)")):
        context, page = open_page(browser, server[1], locale)
        try:
            assert quick in page.locator("#preset input").input_value()
            page.locator("#preset input").click()
            page.get_by_role("option", name=original).click()
            page.wait_for_function("document.querySelector('#n_layer input[type=number]').value === '6'")
            assert page.locator("#n_embd input[type=number]").input_value() == "384"
        finally:
            context.close()


def test_plot_heading_is_translated(server, browser):
    for locale, heading in (("en-US", "Loss"), ("ko-KR", "손실")):
        context, page = open_page(browser, server[1], locale)
        try:
            page.get_by_role("heading", name=heading, exact=True).wait_for(timeout=10_000)
            assert "[object Object]" not in page.inner_text("body")
        finally:
            context.close()


def test_a_run_name_is_checked_as_typed_and_named_runs_are_offered_for_sampling(server, browser):
    trainer, url = server
    context, page = open_page(browser, url, "en-US")
    try:
        box = page.locator("#run_name textarea, #run_name input").first
        box.fill("../x")
        page.wait_for_function(
            "document.querySelector('#config-problems').innerText.includes(\"run name '../x' contains '/'\")")
        page.click("#train-button")
        page.wait_for_function("document.querySelector('#train-status').innerText.includes('Fix these first')")
        assert not trainer.job.snapshot().active
        assert not (trainer.storage.root / "x").exists()
        box.fill("실험-1")
        page.wait_for_function("!document.querySelector('#config-problems').innerText.includes('run name')")

        # A named run trained meanwhile (by another visitor, say) is offered once the Sample tab refreshes.
        values = {**CONTROL_PRESETS[DEFAULT_PRESET], **SETTINGS, "max_steps": 10, "eval_interval": 10,
                  "run_name": "실험-1"}
        assert trainer.start_training(values, TEST_VOCAB_SIZE, "ask", "someone", "en") is None
        assert trainer.job.wait(60) and trainer.job.snapshot().finish_reason == "done"
        page.get_by_role("tab", name=TEXTS["en-US"]["sample_tab"]).click()
        page.click("#refresh-button")
        page.locator("#sample-run input").click()
        page.get_by_role("option", name="실험-1").click()
        page.wait_for_function("document.querySelector('#checkpoint-info').innerText.includes('실험-1')")
        assert "step 10 " in page.inner_text("#checkpoint-info").replace("\n", " ")
        shoot(page, "en-US", "5-named-run")
    finally:
        context.close()


# Counts, before any of the page's scripts run, the animation frames that reach the browser and
# whether Gradio's status tracker asked for them (its module's name is in the call's stack).
COUNT_FRAMES = """(() => {
  const native = window.requestAnimationFrame.bind(window);
  window.__frames = {tracker: 0, other: 0};
  window.requestAnimationFrame = (callback) => {
    window.__frames[(new Error().stack || "").includes("statustracker") ? "tracker" : "other"] += 1;
    return native(callback);
  };
})();"""


def test_an_open_page_does_not_run_gradios_status_timer_every_frame(server, browser):
    """ui.page_cost: the page's first script slows the status trackers' frames (60 a second without it)."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.add_init_script(COUNT_FRAMES)
        page.goto(server[1])
        page.wait_for_selector("#train-button")
        assert "statustracker" in page.evaluate("document.head.firstElementChild.textContent")
        before = page.evaluate("window.__frames.tracker")
        page.wait_for_timeout(2000)
        assert page.evaluate("window.__frames.tracker") - before == 0
        # The trackers still run, at the slower pace: the loading status goes on being counted.
        assert page.evaluate("document.querySelector('.wrap') !== null")
    finally:
        context.close()
