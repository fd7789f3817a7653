"""The app in a real headless Chromium (Playwright, the system's chromium; never a downloaded browser).

Outside CI these tests skip when chromium is missing; in CI (CI=true) a missing chromium is a failure.
The screenshot goes to a temp folder, and to $TEST_ARTIFACTS when that is set.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from test_app import assets_with, running_app, sentence_for

from inference import InputError

BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
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


def selected_step(page) -> int:
    return int(page.evaluate("() => document.querySelector('#heatmap .bmm-hm-root').dataset.step"))


def test_translate_inspect_and_continue(page, served_app, tmp_path):
    _, demo_app, _ = served_app
    translator = demo_app.translators[demo_app.default]
    loaded = page.locator("#source textarea").input_value()
    example = sentence_for(translator, skip=loaded)
    two_h = 2 * translator.config["hidden_dim"]
    source_len = len(translator.source_ids(example))

    # The worked example is a beam search; greedy is one click. An example fills the box; Enter translates.
    assert page.get_by_role("radio", name="beam search").is_checked()
    page.get_by_role("radio", name="greedy").check()
    page.get_by_text(example, exact=True).first.click()
    page.wait_for_function("text => document.querySelector('#source textarea').value === text", arg=example)
    page.locator("#source textarea").press("Enter")  # the box says Enter translates
    page.locator("#status").get_by_text("greedy decoding").wait_for()
    page.locator("#heatmap .bmm-hm-cell").first.wait_for()
    expected = translator.translate(example, top_k=5)
    assert page.locator("#heatmap .bmm-hm-x").all_text_contents() == expected.source_tokens
    first = page.locator("#heatmap .bmm-hm-cell[data-row='0'][data-col='0']").get_attribute("title")
    assert first == f"{expected.target_tokens[0]} → {expected.source_tokens[0]}: {expected.attention[0][0]:.3f}"

    # Clicking a cell selects its step: the source strip at once, then the server's bmm walkthrough follows.
    step = 1 if len(expected.target_tokens) > 1 else 0
    page.locator(f"#heatmap .bmm-hm-cell[data-row='{step}'][data-col='0']").click()
    assert selected_step(page) == step and page.locator("#heatmap .bmm-hm-chip").count() == source_len
    bmm = page.locator("#bmm-panel")
    bmm.get_by_text(f"Step {step}:").wait_for()
    text = bmm.inner_text()
    assert f"(1, 1, {source_len}) bmm (1, {source_len}, {two_h})" in text and "B = 1" in text
    assert "torch.bmm(attn_weights.unsqueeze(0), encoder_outputs.unsqueeze(0))" in text
    if len(expected.target_tokens) > 2:  # arrow keys on the focused map move the step, and the panel follows
        page.locator("#heatmap .bmm-hm-map").focus()
        page.keyboard.press("ArrowRight")
        assert selected_step(page) == step + 1
        bmm.get_by_text(f"Step {step + 1}:").wait_for()
        page.keyboard.press("ArrowLeft")
        bmm.get_by_text(f"Step {step}:").wait_for()

    # The alternatives: none picked for the user, the decoder's own choice labelled; continue from another one.
    alternatives = page.locator("#alternatives label")
    assert alternatives.count() >= 2 and page.locator("#alternatives input:checked").count() == 0
    assert "(decoder's choice)" in alternatives.filter(has_text=expected.target_tokens[step]).first.inner_text()
    page.locator("#continue").click()
    page.locator("#status").get_by_text("Pick one").wait_for()
    other = alternatives.filter(has_not_text="decoder's choice").first
    alternative_token = other.inner_text().strip().rsplit(" ", 1)[0].strip()
    other.click()
    page.locator("#continue").click()
    page.locator("#status").get_by_text("Continued from").wait_for()
    checked = page.locator("#heatmap .bmm-hm-step[aria-checked=true]")
    assert checked.inner_text().strip() == f"{step}: {alternative_token}"
    bmm.get_by_text(f"Step {step}: forced to (you picked it) {alternative_token}").wait_for()
    assert translation_text(page)

    # Downloads are written when asked for, and hold this result.
    page.locator("#prepare-downloads").click()
    page.locator("#json-file").wait_for()
    with page.expect_download() as download:
        page.locator("#json-file").click()
    saved = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert saved["translation"] == translation_text(page)
    assert len(saved["attention"]) == page.locator("#heatmap .bmm-hm-step").count()

    page.wait_for_timeout(300)
    shot = save_screenshot(page, tmp_path, "app-translate-inspect-continue.png")
    assert shot.stat().st_size > 10_000


def step_labels(page) -> list[str]:
    return [text.strip() for text in page.locator("#heatmap .bmm-hm-step").all_inner_texts()]


def heatmap_shows(page, hypothesis):
    """Wait until the page's heatmap has this n-best hypothesis' steps, then compare their labels."""
    page.wait_for_function(
        "n => document.querySelectorAll('#heatmap .bmm-hm-step').length === n", arg=len(hypothesis.target_tokens)
    )
    assert step_labels(page) == [f"{i}: {token}" for i, token in enumerate(hypothesis.target_tokens)]


def test_nbest_rows_show_their_own_hypothesis(page, served_app):
    _, demo_app, _ = served_app
    translator = demo_app.translators[demo_app.default]
    example = sentence_for(translator)
    page.locator("#source textarea").fill(example)
    page.get_by_role("radio", name="beam search").check()
    page.locator("#translate").click()
    page.locator("#status").get_by_text("beam decoding").wait_for()
    expected = translator.translate(example, beam_size=5, n_best=5, length_penalty=translator.length_penalty)
    best, second = expected.nbest[0], expected.nbest[1]
    assert second.target_tokens != best.target_tokens
    heatmap_shows(page, best)

    # The second row: its own tokens in the page's heatmap, the status says which, the bmm panel follows it.
    page.locator("#nbest [role=gridcell][data-row='1'][data-col='1']").click()
    page.locator("#status").get_by_text("Showing hypothesis 2 of").wait_for()
    heatmap_shows(page, second)
    assert translation_text(page) == second.text
    last = len(second.target_tokens) - 1
    page.locator("#heatmap .bmm-hm-step").nth(last).click()
    page.locator("#bmm-panel").get_by_text(f"Step {last}:").wait_for()
    assert f"(p = {second.token_probs[last]:.3f})" in page.locator("#bmm-panel").inner_text()

    # Row 1 is the best again.
    page.locator("#nbest [role=gridcell][data-row='0'][data-col='1']").click()
    page.locator("#status").get_by_text("Showing the best hypothesis").wait_for()
    heatmap_shows(page, best)
    assert translation_text(page) == best.text


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
        # the page opens on a worked example's heatmap: wait until this input's heatmap has replaced it
        chips_js = "[...document.querySelectorAll('#heatmap .bmm-hm-chip')].map(c => c.firstChild.textContent)"
        page.wait_for_function(
            f"expected => JSON.stringify({chips_js}) === JSON.stringify(expected)", arg=tokens, timeout=30000
        )
        assert page.evaluate(f"() => {chips_js}") == tokens
        assert page.locator("#heatmap .bmm-hm-x").all_text_contents() == tokens
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
    page.get_by_text("The numbers: src_ids, mask, enc_out, B per step").click()  # the detail level, folded
    shapes = page.locator("#batch-shapes").inner_text()
    B, S = 2, max(len(translator.source_ids(t)) for t in texts)
    two_h = 2 * translator.config["hidden_dim"]
    assert f"B = {B} sentences, padded to S = {S}" in shapes and "·pad·" in shapes and "src_mask" in shapes
    assert f"enc_out ({B}, {S}, {two_h})" in shapes
    picture = page.locator("#batch-picture")
    page.wait_for_function("b => document.querySelector('#batch-picture .bmm-pic')?.dataset.b === String(b)", arg=B)
    assert f"(B, 1, S) = ({B}, 1, {S})" in picture.inner_text() and f"({B}, {S}, {two_h})" in picture.inner_text()
    assert page.locator("#batch-heatmaps .bmm-hm-one").count() == B  # the page's own heatmap, one per sentence
    picture.get_by_role("button", name="Next step").click()
    page.wait_for_function("() => document.querySelector('#batch-picture .bmm-pic').dataset.step === '1'")
    page.get_by_text("Measured on this server").click()
    page.locator("#batch-measure").click()
    page.locator("#batch-timing-summary").get_by_text("same context vectors").wait_for()
    page.wait_for_timeout(500)
    save_screenshot(page, tmp_path, "app-batch-desktop.png")
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(500)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390 + 1  # no sideways page scroll
    save_screenshot(page, tmp_path, "app-batch-390x844.png")


# ---- the real app on the shipped bundles: words, pairs, share links, phones, accessibility ------------------
@pytest.fixture(scope="module")
def shipped_app():
    from conftest import ROOT

    if not (ROOT / "assets" / "en-de" / "manifest.json").is_file():
        pytest.fail("assets/en-de is missing: these tests run the app on the shipped bundles")
    with running_app(ROOT / "assets") as served:
        yield served


def open_page(browser, url: str, width: int = 1280, height: int = 900):
    context = browser.new_context(viewport={"width": width, "height": height})
    opened = context.new_page()
    opened.set_default_timeout(TIMEOUT_MS)
    opened.goto(url)
    opened.locator("body[data-loaded]").wait_for(state="attached")  # the load event (a share link) is done
    opened.locator("#heatmap .bmm-hm-cell").first.wait_for()
    return opened


def axe_serious(page) -> list[dict]:
    from test_heatmap_browser import axe_violations

    return [v for v in axe_violations(page) if v["impact"] in ("serious", "critical")]


def test_words_pairs_and_share_links_on_the_real_app(browser, shipped_app):
    from page.heatmap import word_groups, word_labels

    url, demo_app, _ = shipped_app
    page = open_page(browser, url)
    text = "A dog's owner runs on the beach, doesn't he?"
    page.locator("#source textarea").fill(text)
    page.get_by_role("radio", name="beam search").check()
    page.locator("#translate").click()
    page.locator("#status").get_by_text("beam decoding").wait_for()
    expected = demo_app.translators["en-de"].translate(
        text, beam_size=5, n_best=5, length_penalty=demo_app.translators["en-de"].length_penalty
    )
    page.wait_for_function(
        "n => document.querySelectorAll('#heatmap .bmm-hm-y').length === n", arg=len(expected.target_tokens)
    )
    page.locator("#heatmap .bmm-hm-y[data-row='2']").click()
    page.locator("#bmm-panel").get_by_text("Step 2:").wait_for()
    page.locator("#heatmap .bmm-hm-words input").check()  # words: the page merges pieces by the Python rule
    groups = word_groups(expected.source_tokens)
    assert len(groups) < len(expected.source_tokens)
    assert page.locator("#heatmap .bmm-hm-x").all_text_contents() == word_labels(expected.source_tokens, groups)

    link = page.url  # the address always holds the shown state; a fresh visit restores it
    assert "mode=beam" in link and "step=2" in link and "words=1" in link
    restored = open_page(browser, link)
    assert restored.locator("#source textarea").input_value() == text
    assert restored.get_by_role("radio", name="beam search").is_checked() and selected_step(restored) == 2
    assert restored.locator("#heatmap .bmm-hm-words input").is_checked()
    assert restored.locator("#heatmap .bmm-hm-x").all_text_contents() == word_labels(expected.source_tokens, groups)
    restored.locator("#bmm-panel").get_by_text("Step 2:").wait_for()
    assert translation_text(restored) == expected.text
    restored.goto(url + "?pair=xx-yy&step=abc")
    restored.locator("#status").get_by_text("Ignored pair=").wait_for()
    assert "Ignored step='abc'" in restored.locator("#status").inner_text()

    # Switching the pair keeps the sentence and translates it again on the new pair.
    page.locator("#pair input").click()
    page.get_by_role("option", name="de-en").click()
    page.wait_for_function("() => document.querySelector('#pair input').value === 'de-en'")
    page.locator("#status").get_by_text("decoding").wait_for()
    assert page.locator("#source textarea").input_value() == text
    expected = demo_app.translators["de-en"].translate(text, beam_size=5, n_best=5).text
    page.wait_for_function("t => document.querySelector('#translation textarea').value === t", arg=expected)
    page.wait_for_function("() => window.location.search.includes('pair=de-en')")  # the address follows
    restored.context.close()
    page.context.close()


def test_phone_and_desktop_layout_and_axe(browser, shipped_app, tmp_path):
    url, _, _ = shipped_app
    page = open_page(browser, url)
    assert axe_serious(page) == []  # the opening page
    page.locator("#heatmap .bmm-hm-map").focus()
    ring = page.evaluate("() => getComputedStyle(document.activeElement).outlineWidth")
    assert ring == "3px"  # a visible focus ring
    page.get_by_role("radio", name="beam search").check()
    page.locator("#translate").click()
    page.locator("#status").get_by_text("beam decoding").wait_for()
    page.locator("#nbest").get_by_text("normalised").wait_for()
    bad = axe_serious(page)
    assert bad == [], bad  # after a beam translation
    header = page.locator("#nbest th").filter(has_text="normalised").first.bounding_box()
    table = page.locator("#nbest").bounding_box()
    assert header["x"] + header["width"] <= table["x"] + table["width"] + 1  # the last column is not cut off
    save_screenshot(page, tmp_path, "app-desktop.png")

    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(500)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390 + 1  # no sideways page scroll
    top = {
        name: page.locator(f"#{name}").bounding_box()["y"]
        for name in ("translate", "translation", "heatmap", "examples")
    }
    assert top["translate"] < top["translation"] < top["heatmap"] < top["examples"]  # result before the examples
    widths = page.evaluate(
        "() => [...document.querySelectorAll('#bmm-panel table')]"
        ".map(t => [t.clientWidth, t.scrollWidth, getComputedStyle(t).overflowX])"
    )
    assert widths and all(client <= 390 and overflow == "auto" for client, _, overflow in widths)
    assert any(scroll > client for client, scroll, _ in widths)  # wide tables scroll inside themselves
    bad = axe_serious(page)
    assert bad == [], bad
    save_screenshot(page, tmp_path, "app-390x844.png")
    page.context.close()

    # A phone's first screen: the header's explanation folded, then the sentence box and Translate.
    phone = open_page(browser, url, 390, 844)
    assert phone.evaluate("() => document.querySelector('#header-more').open") is False
    for name in ("source", "translate"):
        box = phone.locator(f"#{name}").bounding_box()
        assert box["y"] + box["height"] <= 844, (name, box)
    assert phone.locator("#source").bounding_box()["y"] < phone.locator("#translate").bounding_box()["y"]
    phone.locator("#header-more summary").click()  # the explanation is one tap away
    phone.locator("#header-more").get_by_text("one slab per beam").wait_for()
    phone.context.close()
    desktop = open_page(browser, url, 1400, 900)  # on a desktop it is open
    assert desktop.evaluate("() => document.querySelector('#header-more').open") is True
    desktop.context.close()
