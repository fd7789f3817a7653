"""The heatmap component in a real headless Chromium, on heatmap_page.demo_blocks with the shipped bundles.

Clicks, keys, the word toggle (compared with page.heatmap's Python rule), share links, narrow screens and
axe-core accessibility checks. axe comes from npm (`npm ci`, pinned in package.json) or $AXE_CORE_JS;
without it the accessibility test fails. Screenshots go to $TEST_ARTIFACTS, else a temp folder.
Latencies are printed (run with -s to see them), never asserted.
"""

from __future__ import annotations

import os
import statistics
from pathlib import Path

import heatmap_page
import numpy as np
import pytest
from conftest import ROOT
from test_app import free_port
from test_browser import TIMEOUT_MS, browser, chromium_path  # noqa: F401 (fixtures: one Chromium per module)

import page.heatmap as hm
from inference import Translator, find_bundles

TEXT = "A dog's owner runs on the beach, doesn't he?"
PAIRS = ("en-de", "de-en")


@pytest.fixture(scope="module")
def served():
    bundles = find_bundles(ROOT / "assets")
    if "en-de" not in bundles:
        pytest.fail("assets/en-de is missing: the heatmap page tests run on the shipped bundles")
    translators = {pair: Translator(bundles[pair], device="cpu", threads=1) for pair in PAIRS if pair in bundles}
    demo = heatmap_page.demo_blocks(translators)
    _, url, _ = demo.launch(
        server_name="127.0.0.1",
        server_port=free_port(),
        prevent_thread_lock=True,
        quiet=True,
        ssr_mode=False,
        css=heatmap_page.DEMO_CSS,
    )
    yield url, translators
    demo.close()


@pytest.fixture
def page(browser, served):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=served[0].rstrip("/"))
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(served[0])
    page.locator("#translate").wait_for()
    yield page
    context.close()
    assert not errors, errors


def translate(page, text=TEXT) -> float:
    """Fills the text, clicks Translate; returns milliseconds from the click until the heatmap is drawn."""
    old = page.evaluate("() => document.querySelector('.bmm-hm-root')?.dataset.key || ''")
    page.locator("#source textarea").fill(text)
    page.evaluate("() => { window.__clicked = performance.now(); }")
    page.locator("#translate").click()
    page.wait_for_function(
        "old => { const r = document.querySelector('.bmm-hm-root');"
        " return r && r.dataset.key && r.dataset.key !== old && r.querySelector('.bmm-hm-cell'); }",
        arg=old,
    )
    return page.evaluate("() => performance.now() - window.__clicked")


def step(page) -> int:
    return int(page.evaluate("() => document.querySelector('.bmm-hm-root').dataset.step"))


def grid(page) -> dict:
    """What the map shows: labels and the weight of every cell, as the page holds them."""
    return page.evaluate("""() => {
        const cells = [...document.querySelectorAll('.bmm-hm-cell')];
        const rows = Math.max(...cells.map(c => +c.dataset.row)) + 1, cols = Math.max(...cells.map(c => +c.dataset.col)) + 1;
        const w = Array.from({length: rows}, () => new Array(cols));
        cells.forEach(c => { w[+c.dataset.row][+c.dataset.col] = parseFloat(c.dataset.w); });
        return {x: [...document.querySelectorAll('.bmm-hm-x')].map(e => e.textContent),
                y: [...document.querySelectorAll('.bmm-hm-y')].map(e => e.textContent), w};
    }""")


def expected(translators, text=TEXT, pair="en-de") -> dict:
    """The translation JSON the page draws for `text` (greedy, as the page opens)."""
    shown = heatmap_page._translate(translators, pair, text, "greedy", 5, 1.0, 0)
    return hm.heatmap_value(shown)["translation"]


def save(page, name: str) -> Path:
    folder = Path(os.environ.get("TEST_ARTIFACTS") or "/tmp/heatmap-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(200)
    page.screenshot(path=str(folder / name), full_page=True)
    return folder / name


def test_click_keys_play_and_the_server_follows(page, served):
    ms = translate(page)
    value = expected(served[1])
    shown = grid(page)
    assert shown["x"] == value["source_tokens"] and shown["y"] == value["target_tokens"]
    np.testing.assert_allclose(shown["w"], value["attention"], atol=1e-9)
    print(f"\nTranslate click -> heatmap drawn: {ms:.0f} ms")

    page.locator(".bmm-hm-cell[data-row='3'][data-col='1']").click()  # a cell selects its row's step
    assert step(page) == 3
    assert page.locator(".bmm-hm-y.is-selected").inner_text() == value["target_tokens"][3]
    detail = page.locator(".bmm-hm-detail").inner_text()
    first = value["alternatives"][3][0]
    assert detail.startswith(f'Step 3: "{value["target_tokens"][3]}"') and first["token"] in detail
    assert f"{first['token']} {100 * first['prob']:.1f}%" in detail and ", forced" not in detail
    chips = page.locator(".bmm-hm-chip .bmm-hm-n").all_inner_texts()
    assert chips == [f"{w:.2f}" for w in value["attention"][3]]  # the strip: absolute weights, not rescaled
    page.wait_for_function(
        "() => document.querySelector('#selected-step textarea, #selected-step input').value === '3'"
    )
    page.wait_for_function("() => document.querySelector('#server-step textarea').value === 'Server received step 3'")

    page.locator(".bmm-hm-y[data-row='1']").click()  # a target label selects too
    assert step(page) == 1
    page.locator(".bmm-hm-map").focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert step(page) == 3
    page.keyboard.press("ArrowLeft")
    assert step(page) == 2
    page.keyboard.press("End")
    assert step(page) == len(value["target_tokens"]) - 1

    radios = page.locator(".bmm-hm-step")  # the step row: one Tab stop, arrows move
    assert page.locator(".bmm-hm-step[tabindex='0']").count() == 1
    radios.nth(1).click()
    page.keyboard.press("ArrowRight")
    assert step(page) == 2 and page.evaluate("() => document.activeElement.getAttribute('aria-checked')") == "true"
    page.wait_for_function("() => document.querySelector('#server-step textarea').value === 'Server received step 2'")

    col = int(np.argmax(value["attention"][0]))  # a source column marks the steps that attended to it most
    page.locator(f".bmm-hm-x[data-col='{col}']").click()
    marked = page.evaluate("() => [...document.querySelectorAll('.bmm-hm-y.is-attending')].map(e => +e.dataset.row)")
    assert marked == [r for r, row in enumerate(value["attention"]) if int(np.argmax(row)) == col]
    assert step(page) == 2  # marking a column does not move the step

    page.locator(".bmm-hm-play").click()
    page.wait_for_function("() => +document.querySelector('.bmm-hm-root').dataset.step >= 4")
    page.locator(".bmm-hm-play").click()
    stopped = step(page)
    page.wait_for_timeout(900)
    assert step(page) == stopped and page.locator(".bmm-hm-play").inner_text() == "▶ Play"

    timings = page.evaluate("""async () => {
        const updated = [], painted = [], rows = document.querySelectorAll('.bmm-hm-y').length;
        for (let i = 0; i < 20; i++) {
            const row = (i * 7) % rows, start = performance.now();
            document.querySelector(`.bmm-hm-cell[data-row='${row}'][data-col='0']`).click();
            if (document.querySelector('.bmm-hm-y.is-selected').dataset.row !== String(row)) throw new Error('no update');
            updated.push(performance.now() - start);  // the click handler has updated the DOM
            await new Promise(r => requestAnimationFrame(r));
            painted.push(performance.now() - start);  // and the next frame is about to paint it
        }
        return {updated, painted};
    }""")
    for what, values in timings.items():
        print(
            f"Step switch, click -> DOM {what} (20 clicks): median {statistics.median(values):.1f} ms, "
            f"p90 {np.percentile(values, 90):.1f} ms"
        )


def test_word_toggle_follows_the_python_rule(page, served):
    translate(page)
    value = expected(served[1])
    page.locator(".bmm-hm-words input").check()
    source_groups, target_groups = hm.word_groups(value["source_tokens"]), hm.word_groups(value["target_tokens"])
    assert len(source_groups) < len(value["source_tokens"])  # the sentence has pieces to merge
    shown = grid(page)
    assert shown["x"] == hm.word_labels(value["source_tokens"], source_groups)
    assert shown["y"] == hm.word_labels(value["target_tokens"], target_groups)
    np.testing.assert_allclose(
        shown["w"], hm.merge_attention(value["attention"], source_groups, target_groups), atol=1e-9
    )
    assert "sum" in page.locator(".bmm-hm-rule").inner_text() and "mean" in page.locator(".bmm-hm-rule").inner_text()
    assert page.locator(".bmm-hm-step").count() == len(target_groups)
    page.locator(".bmm-hm-words input").uncheck()
    assert grid(page)["x"] == value["source_tokens"]


def test_share_link_restores_pair_text_settings_step_and_words(page, served, browser):
    page.get_by_label("beam search").check()
    translate(page)
    page.locator(".bmm-hm-y[data-row='2']").click()
    page.locator(".bmm-hm-words input").check()
    chosen, labels = step(page), grid(page)["y"]
    page.locator(".bmm-hm-copy").click()
    page.locator(".bmm-hm-copied").get_by_text("Link copied.").wait_for()
    link = page.evaluate("() => navigator.clipboard.readText()")
    assert link == page.url and "mode=beam" in link and f"step={chosen}" in link and "words=1" in link

    restored = page.context.new_page()
    restored.goto(link)
    restored.wait_for_function("() => document.querySelector('.bmm-hm-root')?.dataset.step !== undefined")
    assert step(restored) == chosen and grid(restored)["y"] == labels
    assert restored.locator(".bmm-hm-words input").is_checked()
    assert restored.locator("#source textarea").input_value() == TEXT
    assert restored.get_by_label("beam search").is_checked()

    restored.goto(link.split("?")[0] + "?pair=xx-yy&text=A%00dog&step=abc")
    restored.wait_for_function("() => document.querySelector('#status textarea')?.value.includes('Ignored')")
    status = restored.locator("#status textarea").input_value()
    assert "Ignored pair='xx-yy'" in status and "Ignored text=" in status and "Ignored step='abc'" in status
    assert restored.locator(".bmm-hm-empty").count() == 1


def test_hostile_tokens_are_text_in_both_views(page, served):
    hostile = '<img src=x onerror="window.__xss=1"> ${7*7} {{value}} `x`'
    translate(page, hostile)
    tokens = expected(served[1], hostile)["source_tokens"]
    assert grid(page)["x"] == tokens
    page.locator(".bmm-hm-words input").check()
    assert grid(page)["x"] == hm.word_labels(tokens, hm.word_groups(tokens))
    assert page.evaluate("() => window.__xss === undefined") and page.locator("#heatmap img").count() == 0


def axe_violations(page) -> list[dict]:
    path = os.environ.get("AXE_CORE_JS") or str(ROOT / "node_modules" / "axe-core" / "axe.min.js")
    if not Path(path).is_file():  # the older per-folder install
        path = str(ROOT / ".axe" / "node_modules" / "axe-core" / "axe.min.js")
    if not Path(path).is_file():
        pytest.fail(
            f"axe-core not found at {path}: run `npm ci` in the repository root, or point $AXE_CORE_JS at axe.min.js"
        )
    page.add_script_tag(path=path)
    return page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))"
    )


def test_desktop_and_narrow_screens_are_readable_and_accessible(page, served):
    translate(page)
    page.locator(".bmm-hm-cell[data-row='3'][data-col='0']").click()
    assert page.evaluate("() => document.querySelector('.bmm-hm-map').classList.contains('bmm-hm-numbers')")
    save(page, "heatmap-desktop.png")
    bad = [v for v in axe_violations(page) if v["impact"] in ("serious", "critical")]
    assert not bad, bad

    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_function("() => !document.querySelector('.bmm-hm-map').classList.contains('bmm-hm-numbers')")
    boxes = page.evaluate(
        "() => [...document.querySelectorAll('.bmm-hm-x')].map(e => e.getBoundingClientRect())"
        ".map(r => [r.left, r.right])"
    )
    assert all(right <= next_left + 0.5 for (_, right), (next_left, _) in zip(boxes, boxes[1:]))  # no overlap
    fits = page.evaluate(
        "() => { const m = document.querySelector('.bmm-hm-map'); "
        "return m.getBoundingClientRect().right <= window.innerWidth + 0.5; }"
    )
    assert fits  # wide maps scroll inside their box instead of widening the page
    save(page, "heatmap-390.png")
    bad = [v for v in axe_violations(page) if v["impact"] in ("serious", "critical")]
    assert not bad, bad
