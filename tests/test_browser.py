"""The app in a real headless Chromium (Playwright, the system's chromium; never a downloaded browser).

Outside CI these tests skip when chromium is missing; in CI (CI=true) a missing chromium is a failure.
The screenshot goes to a temp folder, and to $TEST_ARTIFACTS when that is set.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from inference import InputError
from test_app import assets_with, running_app, sentence_for

BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run"]
HOSTILE = '<img src=x onerror="window.__xss=1"> <script>window.__xss=2</script> ${7*7} &amp; $$x$$'
TIMEOUT_MS = 30_000


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path:
        return path
    message = "chromium is not installed (apt-get install chromium); the browser tests need it"
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def served_app(app_bundle_dir, tmp_path_factory):
    with running_app(assets_with(app_bundle_dir, tmp_path_factory.mktemp("browser_assets"))) as served:
        yield served


@pytest.fixture(scope="module")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path, args=BROWSER_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser, served_app):
    url = served_app[0]
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    page.locator("#translate").wait_for()
    page.wait_for_function("() => (document.querySelector('#translation textarea')?.value || '').length > 0")
    page.locator("#status").get_by_text("worked example").wait_for()  # the page opens on a worked example
    yield page
    context.close()
    assert not errors, errors


def translation_text(page) -> str:
    return page.locator("#translation textarea").input_value()


def save_screenshot(page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get("TEST_ARTIFACTS"):
        target = Path(os.environ["TEST_ARTIFACTS"])
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target / name)
    return path


def test_translate_inspect_and_continue(page, served_app, tmp_path):
    _, demo_app, _ = served_app
    translator = demo_app.translators[demo_app.default]
    loaded = page.locator("#source textarea").input_value()
    example = sentence_for(translator, skip=loaded)
    two_h = 2 * translator.config["hidden_dim"]
    source_len = len(translator.source_ids(example))

    # An example fills the box; Translate fills the translation and draws the heatmap.
    page.get_by_text(example, exact=True).first.click()
    page.wait_for_function("text => document.querySelector('#source textarea').value === text", arg=example)
    page.locator("#source textarea").press("Enter")  # the box says Enter translates
    page.locator("#status").get_by_text("greedy decoding").wait_for()
    page.locator("#heatmap .js-plotly-plot .heatmaplayer").wait_for()
    assert page.locator("#status").inner_text().startswith("greedy decoding")

    # Hovering a cell shows both tokens and the weight.
    steps = page.locator("#steps label")
    box = page.locator("#heatmap .nsewdrag").first.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5 / source_len, box["y"] + box["height"] * 0.5 / steps.count())
    hover = page.locator("#heatmap .hoverlayer .hovertext")
    hover.wait_for()
    hover_text = hover.text_content()  # SVG text, one <tspan> per line
    assert re.search(r"target 0: .+source 0: .+weight \d\.\d{3}", hover_text), hover_text

    # Selecting a target token: its step's source colouring, alternatives and the bmm walkthrough.
    step = 1 if steps.count() > 1 else 0
    steps.nth(step).click()
    bmm = page.locator("#bmm-panel")
    bmm.get_by_text(f"Step {step}:").wait_for()
    text = bmm.inner_text()
    assert f"(1, 1, {source_len}) bmm (1, {source_len}, {two_h})" in text and "B = 1" in text
    assert "torch.bmm(attn_weights.unsqueeze(0), encoder_outputs.unsqueeze(0))" in text
    assert page.locator("#source-attention .token").count() == source_len
    alternatives = page.locator("#alternatives label")
    assert alternatives.count() >= 2 and "%" in alternatives.first.inner_text()

    # Continue from the pre-selected alternative (the most likely token the decoder did not choose).
    chosen = page.locator("#alternatives input:checked").locator("xpath=..").inner_text()
    alternative_token = chosen.rsplit(" ", 1)[0].strip()
    page.locator("#continue").click()
    page.locator("#status").get_by_text("Continued from").wait_for()
    assert page.locator("#steps input:checked").locator("xpath=..").inner_text().strip() == f"{step}: {alternative_token}"
    bmm.get_by_text(f"Step {step}: forced to (you picked it) {alternative_token}").wait_for()
    page.locator("#heatmap .js-plotly-plot .heatmaplayer").wait_for()
    assert translation_text(page)

    # Downloads are written when asked for, and hold this result.
    page.locator("#prepare-downloads").click()
    page.locator("#json-file").wait_for()
    with page.expect_download() as download:
        page.locator("#json-file").click()
    saved = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert saved["translation"] == translation_text(page) and len(saved["attention"]) == steps.count()

    page.wait_for_timeout(300)  # let the radio/plot transitions settle for a clean screenshot
    shot = save_screenshot(page, tmp_path, "app-translate-inspect-continue.png")
    assert shot.stat().st_size > 10_000


def test_hostile_input_is_shown_as_text_and_bad_input_is_explained(page, served_app, tmp_path):
    _, demo_app, _ = served_app
    translator = demo_app.translators[demo_app.default]
    page.locator("#source textarea").fill(HOSTILE)
    page.locator("#translate").click()
    try:
        tokens = translator.translate(HOSTILE).source_tokens
        expected_error = None
    except InputError as error:
        tokens, expected_error = None, str(error)
    if expected_error:  # the message quotes the characters the model has never seen: literally
        page.locator("#status").get_by_text("⚠️").wait_for()
        assert page.locator("#status").inner_text().strip() == f"⚠️ {expected_error}"
    else:  # the tokens themselves are shown: in the source row, the step buttons and the heatmap labels
        page.locator("#heatmap .js-plotly-plot .heatmaplayer").wait_for()
        shown = "".join(page.locator("#source-attention .token").all_inner_texts()).replace("\n", "")
        assert shown.replace(" ", "") == "".join(tokens).replace(" ", "")
        ticks = page.evaluate("() => [...document.querySelectorAll('#heatmap .xtick text')].map(t => t.textContent)")
        assert ticks == tokens
    assert page.evaluate("() => window.__xss === undefined")
    assert page.locator("img[src='x'], #bmm-panel script, #status script").count() == 0
    save_screenshot(page, tmp_path, "app-hostile-input.png")

    shown_before = translation_text(page)
    page.locator("#source textarea").fill("   ")
    page.locator("#translate").click()
    page.locator("#status").get_by_text("empty").wait_for()
    assert translation_text(page) == shown_before  # the message does not wipe the result on screen
    page.locator("#source textarea").fill(sentence_for(translator))  # and the app keeps serving
    page.locator("#translate").click()
    page.wait_for_function("() => document.querySelector('#translation textarea').value.length > 0")


def test_batch_tab_shows_the_padded_batch(page, served_app, tmp_path):
    _, demo_app, _ = served_app
    translator = demo_app.translators[demo_app.default]
    page.get_by_role("tab", name="Batch").click()
    texts = [sentence_for(translator), "The dog runs."]
    page.locator("#batch-text textarea").fill("\n".join(texts))
    page.locator("#batch-run").click()
    page.locator("#batch-status").get_by_text(f"for {len(texts)} sentences").wait_for()
    shapes = page.locator("#batch-shapes").inner_text()
    B, S = 2, max(len(translator.source_ids(t)) for t in texts)
    two_h = 2 * translator.config["hidden_dim"]
    assert f"B = {B} sentences, padded to S = {S}" in shapes and "·pad·" in shapes and "src_mask" in shapes
    assert f"enc_out ({B}, {S}, {two_h})" in shapes
    step_view = page.locator("#batch-step-view")
    assert f"B = {B}" in step_view.inner_text() and f"({B}, 1, {S}) bmm ({B}, {S}, {two_h})" in step_view.inner_text()
    assert page.locator("#batch-heatmaps .js-plotly-plot .heatmaplayer").count() >= 1
    last = page.locator("#batch-step input[type=number]")
    last.fill("1")
    last.press("Enter")
    step_view.get_by_text("Step 1:").wait_for()
    page.get_by_text("Measured on this server").click()
    page.locator("#batch-measure").click()
    page.locator("#batch-timing-summary").get_by_text("same context vectors").wait_for()
    page.wait_for_timeout(500)
    save_screenshot(page, tmp_path, "app-batch-desktop.png")
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(500)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390 + 1  # no sideways page scroll
    save_screenshot(page, tmp_path, "app-batch-390x844.png")
