"""The "look inside the model" views in a real browser, in English (en-US) and Korean (ko-KR).

Two tiny runs are trained once for the module, before any page opens, straight into the launched
app's storage: the default run (a sample kept at every evaluation) and the run "wide" (another
n_embd and lr). Then, for each language:

- Sample tab: generate token by token, select a token, see its alternatives, continue with one;
  score a pasted text; show the attention heatmap and pick a head.
- Train tab: the samples by step, the slider moved back to step 0.
- Runs tab: both runs in the table, their curves overlaid, the settings that differ, another x axis.

Screenshots of each view go to tests/screenshots/inside_<view>_<en|ko>.png (gitignored). Needs
/usr/bin/chromium and the playwright package, as tests/test_app_browser.py does.
"""

from __future__ import annotations

import os
import re

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"

import pytest  # noqa: E402

from conftest import TEST_VOCAB_SIZE, launched_app, run_training  # noqa: E402
import test_app_browser  # noqa: E402
from test_app_browser import SCREENSHOTS, open_page  # noqa: E402

LOCALES = ("en-US", "ko-KR")
STEPS = 30
# Tiny and quick; both runs share everything but n_embd and lr (and where they are saved).
SHAPE = dict(vocab_size=TEST_VOCAB_SIZE, block_size=32, n_layer=1, n_head=2, n_embd=32, batch_size=4, lr=3e-4,
             max_steps=STEPS, eval_interval=10, eval_iters=2, log_interval=10, sample_every_eval=True,
             sample_max_new_tokens=16, tensorboard=False, device="cpu", dtype="float32", seed=1234)
WIDE = dict(n_embd=64, lr=2e-3, run_name="wide")

TEXTS = {
    "en-US": dict(
        short="en", sample_tab="Sample", runs_tab="Runs", prompt="We build", seed_note="Seed 7",
        checkpoint_step=f"step **{STEPS}**", alternatives_header="after the settings",
        continued=r"Continued from token (\d+) with",
        score_title="How surprised is the model by a text", score_summary="bits per byte",
        attention_title="Attention: where each token looks", attention_note="tokens: each row is a token",
        head="head 2", history_last=f"step {STEPS} · val loss", history_first="step 0 ·",
        default_run="(default)", tokens_axis="tokens seen", step_axis="step"),
    "ko-KR": dict(
        short="ko", sample_tab="샘플", runs_tab="실행 비교", prompt="서울 근무", seed_note="시드 7",
        checkpoint_step=f"스텝 **{STEPS}**", alternatives_header="설정 적용 후",
        continued=r"(\d+)번째 토큰부터 .+ 이어 썼습니다",
        score_title="이 텍스트가 모델에게 얼마나 뜻밖인가", score_summary="바이트당",
        attention_title="어텐션: 각 토큰이 어디를 보는가", attention_note="각 행은 한 토큰이고",
        head="헤드 2", history_last=f"{STEPS} 스텝 · 검증 손실", history_first="0 스텝 ·",
        default_run="(기본)", tokens_axis="본 토큰 수", step_axis="스텝"),
}
SCORED_TEXT = ("우리는 서울에서 함께 성장할 개발자를 기다립니다. "
               "We build a fast web service with great benefits.")
WORD = re.compile(r"^ ?[A-Za-z가-힣]+$")  # an alternative whose text is a whole word: easy to find again


@pytest.fixture(scope="module")
def server(tmp_path_factory, prepared):
    """(TrainerApp, url): the app launched in this process, with the two runs trained into its storage."""
    with launched_app(tmp_path_factory.mktemp("inside_app"), prepared) as (trainer, url):
        for changes in ({}, WIDE):
            events = run_training(trainer.storage.config(**{**SHAPE, **changes}))
            assert events[-1].reason == "done", events[-1]
        assert trainer.storage.runs() == ["", "wide"]
        yield trainer, url


# Chromium launched once (a module fixture): skipped without it, a failure on CI, as in test_app_browser.py.
browser = test_app_browser.browser


@pytest.fixture(params=LOCALES)
def locale(request) -> str:
    return request.param


@pytest.fixture
def page(browser, server, locale):
    """A new visitor's page in that language, opened on the Train tab."""
    context, opened = open_page(browser, server[1], locale)
    yield opened
    context.close()


def shoot(page, locale: str, view: str, selector: str | None = None) -> None:
    """tests/screenshots/inside_<view>_<en|ko>.png: the element, or the whole page."""
    path = str(SCREENSHOTS / f"inside_{view}_{TEXTS[locale]['short']}.png")
    if selector is None:
        page.screenshot(path=path, full_page=True)
    else:
        page.locator(selector).screenshot(path=path)


def wait_text(page, selector: str, pattern: str, value: bool = False) -> str:
    """Wait until the element's text (or a textbox's value) matches the regex; return that text."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    read = "el.value" if value else "el.innerText"
    try:
        page.wait_for_function(
            f"([selector, pattern]) => {{ const el = document.querySelector(selector);"
            f" return el !== null && new RegExp(pattern).test({read}); }}", arg=[selector, pattern])
    except PlaywrightTimeout:
        shown = page.evaluate(f"(selector) => {{ const el = document.querySelector(selector);"
                              f" return el === null ? null : {read}; }}", selector)
        raise AssertionError(f"{selector} never matched {pattern!r}; it shows {shown!r}") from None
    return page.input_value(selector) if value else page.inner_text(selector)


def set_number(page, selector: str, value: int) -> None:
    box = page.locator(selector)
    box.fill(str(value))
    box.press("Enter")
    page.wait_for_function("([selector, value]) => document.querySelector(selector).value === String(value)",
                           arg=[selector, value])


def open_sample_tab(page, locale: str) -> None:
    """The Sample tab, once it shows the default run's checkpoint."""
    page.get_by_role("tab", name=TEXTS[locale]["sample_tab"]).click()
    wait_text(page, "#checkpoint-info", re.escape(TEXTS[locale]["checkpoint_step"].replace("**", "")))


def open_accordion(page, title: str, inside: str) -> None:
    page.get_by_role("button", name=title).click()
    page.locator(inside).wait_for(state="visible")


def shown_tokens(page, selector: str) -> list[str]:
    """The texts of the highlighted tokens, spaces kept."""
    return page.locator(f"{selector} .score-token .text").evaluate_all("spans => spans.map(s => s.textContent)")


def svg_texts(page, selector: str) -> list[str]:
    """The texts of a plot's SVG elements (which have no innerText)."""
    return page.locator(selector).evaluate_all("elements => elements.map(e => e.textContent)")


def test_tokens_with_alternatives_and_continue(page, locale):
    texts = TEXTS[locale]
    open_sample_tab(page, locale)
    page.fill("#prompt textarea", texts["prompt"])
    set_number(page, "#sample-max-new-tokens input[type=number]", 24)
    set_number(page, "#sample-seed input", 7)
    page.click("#inspect-button")
    wait_text(page, "#inspect-note", re.escape(texts["seed_note"]))
    tokens = page.locator("#inspect-tokens .score-token")
    assert tokens.count() >= 5
    assert tokens.first.get_attribute("role") == "button"
    colours = tokens.evaluate_all("spans => spans.map(s => getComputedStyle(s).backgroundColor)")
    assert all(colour not in ("", "transparent", "rgba(0, 0, 0, 0)") for colour in colours), colours
    before = shown_tokens(page, "#inspect-tokens")

    index = 2
    tokens.nth(index).click()
    alternatives = page.locator("#inspect-alternatives")
    alternatives.wait_for(state="visible")
    wait_text(page, "#inspect-alternatives", re.escape(texts["alternatives_header"]))
    table = alternatives.inner_text()
    assert table.count("%") >= 10, table  # the likeliest alternatives, each before and after the settings
    # The picker names the selected token by its position (counted from 1) among the generated tokens.
    page.wait_for_function("document.querySelector('#inspect-token input').value.startsWith('#')")
    position = int(re.match(r"#(\d+) ", page.input_value("#inspect-token input")).group(1))

    radios = page.locator("#inspect-alternative label")
    assert radios.count() >= 2
    offered = radios.evaluate_all("labels => labels.map(l => l.querySelector('span').textContent)")
    chosen = next((i for i, text in enumerate(offered) if WORD.match(text.rsplit(" · ", 1)[0])), 1)
    word = offered[chosen].rsplit(" · ", 1)[0]
    radios.nth(chosen).click()
    assert radios.nth(chosen).locator("input").is_checked()
    shoot(page, locale, "tokens", "#inspect-section")

    page.click("#inspect-continue")
    note = wait_text(page, "#inspect-note", texts["continued"])
    assert int(re.search(texts["continued"], note).group(1)) == position
    page.wait_for_function("(before) => [...document.querySelectorAll('#inspect-tokens .score-token .text')]"
                           ".map(s => s.textContent).join('\\u0001') !== before", arg="\u0001".join(before))
    after = shown_tokens(page, "#inspect-tokens")
    assert after[:index] == before[:index], (before, after)  # the text up to the chosen token is kept
    assert "".join(after[index:]) != "".join(before[index:]), (before, after)
    if WORD.match(word):
        assert after[index].startswith(word), (word, after)
        assert repr(word) in note, note
    alternatives.wait_for(state="hidden")  # the alternatives belonged to the text before
    shoot(page, locale, "tokens_continued", "#inspect-section")


def test_generate_token_by_token_answers_in_korean(browser, server):
    context, page = open_page(browser, server[1], "ko-KR")
    try:
        open_sample_tab(page, "ko-KR")
        set_number(page, "#sample-seed input", 7)
        page.click("#inspect-button")
        wait_text(page, "#inspect-note", "Seed 7|시드 7")
        assert page.inner_text("#inspect-note").startswith(TEXTS["ko-KR"]["seed_note"])
    finally:
        context.close()


def test_score_a_pasted_text(page, locale):
    texts = TEXTS[locale]
    open_sample_tab(page, locale)
    open_accordion(page, texts["score_title"], "#score-text textarea")
    page.fill("#score-text textarea", SCORED_TEXT)
    page.click("#score-button")
    summary = wait_text(page, "#score-summary", re.escape(texts["score_summary"]))
    assert re.search(r"\d\.\d{3}", summary), summary
    tokens = page.locator("#score-tokens .score-token")
    tokens.first.wait_for()
    assert tokens.count() >= 10
    shown = "".join(shown_tokens(page, "#score-tokens"))
    assert "서울" in shown and "web service" in shown, shown
    colours = tokens.evaluate_all("spans => spans.map(s => getComputedStyle(s).backgroundColor)")
    assert all(colour not in ("", "transparent", "rgba(0, 0, 0, 0)") for colour in colours), colours
    shoot(page, locale, "score", "#score-section")


def test_attention_heatmap_and_another_head(page, locale):
    texts = TEXTS[locale]
    open_sample_tab(page, locale)
    page.fill("#prompt textarea", texts["prompt"] + " " + texts["prompt"])
    open_accordion(page, texts["attention_title"], "#attention-button")
    page.click("#attention-button")
    wait_text(page, "#attention-note", re.escape(texts["attention_note"]))
    heatmap = page.locator("#attention-plot .js-plotly-plot .heatmaplayer .hm image")
    heatmap.wait_for()
    average = heatmap.get_attribute("href")
    assert average and average.startswith("data:image"), average
    assert page.locator("#attention-plot .xtick").count() >= 3  # a label per token

    page.locator("#attention-head input").click()
    page.get_by_role("option", name=texts["head"], exact=True).click()
    page.wait_for_function(
        "(before) => { const image = document.querySelector('#attention-plot .heatmaplayer .hm image');"
        " return image !== null && image.getAttribute('href') !== before; }", arg=average)
    assert page.input_value("#attention-head input") == texts["head"]
    assert page.locator("#attention-plot .js-plotly-plot .heatmaplayer .hm image").count() == 1
    shoot(page, locale, "attention", "#attention-section")


def test_samples_by_step_open_on_the_latest(browser, server):
    context, page = open_page(browser, server[1], "en-US")
    try:
        page.wait_for_function(f"document.querySelector('#history-step input[type=range]')?.max === '{STEPS}'")
        wait_text(page, "#history-sample textarea", "^step [0-9]+ ·", value=True)
        assert page.input_value("#history-sample textarea").startswith(TEXTS["en-US"]["history_last"])
    finally:
        context.close()


def history_text(page, pattern: str) -> str:
    return wait_text(page, "#history-sample textarea", pattern, value=True)


def test_samples_by_step_slider(page, locale):
    texts = TEXTS[locale]
    step = re.escape(texts["history_first"]).replace("0", "{}")
    # The run's view comes once the page opens (its status, and the newest sample by step with it);
    # only then is the slider the visitor's to move.
    page.wait_for_function("document.querySelector('#train-status')?.innerText.trim().length > 0")
    # A sample is kept at step 0 and at each evaluation: the slider spans the run.
    page.wait_for_function(f"document.querySelector('#history-step input[type=range]')?.max === '{STEPS}'")
    history_text(page, re.escape(texts["history_first"]).replace("0", r"\d+"))

    # The number box: the slider's release event fires when the box loses focus. Each move goes to a
    # step whose text differs from the one shown, so each wait proves its own release was answered.
    box = page.locator("#history-step input[type=number]")
    box.fill("15")
    box.press("Tab")
    history_text(page, "^" + step.format(10))  # the evaluation at or before the chosen step
    box.fill(str(STEPS))
    box.press("Tab")
    last = history_text(page, "^" + re.escape(texts["history_last"]))
    assert len(last.split("\n\n", 1)) == 2, last  # the heading, then the sample

    # The range itself: pressed at its left end and released (the mouse's way).
    slider = page.locator("#history-step input[type=range]")
    slider.scroll_into_view_if_needed()
    area = slider.bounding_box()
    page.mouse.click(area["x"] + 1, area["y"] + area["height"] / 2)
    first = history_text(page, "^" + step.format(0))
    assert slider.input_value() == "0" and box.input_value() == "0"
    assert first.split("\n\n", 1)[1] != last.split("\n\n", 1)[1]  # before any update it wrote something else
    shoot(page, locale, "history", "#history-section")


def test_runs_compared(page, locale):
    texts = TEXTS[locale]
    page.get_by_role("tab", name=texts["runs_tab"]).click()
    table = wait_text(page, "#runs-table", "wide")
    assert texts["default_run"] in table, table
    boxes = page.locator("#runs-compare input[type=checkbox]")
    assert boxes.count() == 2
    for i in range(2):
        if not boxes.nth(i).is_checked():
            boxes.nth(i).check()
    assert all(boxes.nth(i).is_checked() for i in range(2))
    page.wait_for_function("document.querySelectorAll('#runs-plot .scatterlayer .trace').length === 2")
    legend = svg_texts(page, "#runs-plot .legend .traces .legendtext")
    assert sorted(legend) == sorted([texts["default_run"], "wide"]), legend
    diff = wait_text(page, "#runs-diff", "n_embd")
    assert re.search(r"\blr\b", diff) and "n_layer" not in diff, diff
    assert "64" in diff and "0.002" in diff, diff
    assert svg_texts(page, "#runs-plot .xtitle") == [texts["step_axis"]]

    page.locator("#runs-x-axis label").filter(has_text=texts["tokens_axis"]).click()
    page.wait_for_function("(title) => document.querySelector('#runs-plot .xtitle')?.textContent === title",
                           arg=texts["tokens_axis"])
    assert page.locator("#runs-plot .scatterlayer .trace").count() == 2
    # Both runs saw 30 steps x 4 x 32 tokens: the last x tick is in the thousands, not 30.
    ticks = svg_texts(page, "#runs-plot .xtick")
    assert any(re.search(r"\dk|\d,?\d{3}", tick) for tick in ticks), ticks
    shoot(page, locale, "runs")
