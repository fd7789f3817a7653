"""The What if? tab in a real headless Chromium on the shipped en-de bundle: clicking a source token changes the
step's top 5, a tree node draws its prefix's heatmap, a comparison shows both maps and marks what changed; axe-core
finds nothing serious or critical at 1400 and 390 px. Screenshots go to $TEST_ARTIFACTS when it is set."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import ROOT
from test_app import assets_with, running_app
from test_browser import BROWSER_ARGS, TIMEOUT_MS, axe_serious, browser, chromium_path  # noqa: F401  (fixtures)

THE = 4  # "▁the" in ['▁The', '▁dog', '▁bit', 'es', '▁the', '▁man.', '</s>']


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with running_app(assets_with(ROOT / "assets" / "en-de", tmp_path_factory.mktemp("what_if_browser"))) as app:
        yield app


def shot(page, tmp_path: Path, name: str) -> Path:
    folder = Path(os.environ.get("TEST_ARTIFACTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / name), full_page=True)
    return folder / name


def settled(page):
    """No component waits for the server any more (Gradio dims pending outputs, which axe reads as low contrast)."""
    page.wait_for_function("() => !document.querySelector('.progress-text, .translucent:not(.hide), .pending')")
    page.wait_for_function(  # and the fade back from the dimmed state has ended
        "() => [...document.querySelectorAll('.block, .html-container, .prose')].every((b) => getComputedStyle(b).opacity === '1')"
    )
    return page


def open_tab(browser, url: str, width: int = 1400, height: int = 900):  # noqa: F811
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    page.locator("#heatmap .bmm-hm-cell").first.wait_for()
    if page.get_by_role("tab", name="What if?").is_visible():
        page.get_by_role("tab", name="What if?").click()
    else:  # a phone: the tab bar's overflow menu holds it
        page.locator("button.overflow-menu, .overflow-menu button, button[aria-label*='more' i]").first.click()
        page.get_by_role("tab", name="What if?").or_(page.get_by_text("What if?", exact=True)).last.click()
    page.locator("#whatif-editor .bmm-wi-token").first.wait_for()  # the tab fills its three views when opened
    page.locator("#whatif-tree .bmm-tree-node").first.wait_for()
    page.locator("#compare-maps .bmm-hm-one").nth(1).wait_for()
    return context, page, errors


def test_click_a_source_token_then_continue(browser, served, tmp_path):  # noqa: F811
    context, page, errors = open_tab(browser, served[0])
    top, link = page.locator("#whatif-top"), page.url  # the Translate tab's share link
    assert "the model chose ▁Hund" in top.inner_text()
    page.locator(f"#whatif-editor .bmm-wi-token[data-col='{THE}']").click()
    top.get_by_text("would choose ▁Mann").wait_for()
    assert "instead of ▁Hund" in top.inner_text()
    sliders = page.locator("#whatif-editor .bmm-wi-slider")
    assert [float(sliders.nth(j).input_value()) for j in range(sliders.count())] == [
        1.0 if j == THE else 0.0 for j in range(7)
    ]
    page.locator("#whatif-continue").click()
    page.locator("#whatif-continued .bmm-hm-one-title").get_by_text("Der Mann beißt den Mann.").wait_for()
    assert page.locator("#whatif-continued .bmm-hm-y").nth(1).inner_text() == "▁Mann"
    # another step: pick it in the map, drag its row back to the model's own weights
    page.locator("#whatif-heatmap .bmm-hm-step").nth(6).click()
    page.locator("#whatif-editor .bmm-wi-title").get_by_text("Step 6").wait_for()
    page.locator("#whatif-editor .bmm-wi-reset").click()
    top.get_by_text("Step 6 still chooses").wait_for()
    assert page.url == link  # the tab's map writes no share link over the Translate tab's
    context.close()
    assert not errors, errors


def test_a_tree_node_shows_its_prefix(browser, served):  # noqa: F811
    context, page, errors = open_tab(browser, served[0])
    heads = page.locator("#whatif-tree .bmm-tree-head").all_inner_texts()
    assert heads[0] == "t = 0 · B = 1" and heads[1] == "t = 1 · B = 5"
    node = page.locator("#whatif-tree .bmm-tree-node[data-depth='2'][data-status='pruned']").first
    token = node.locator(".bmm-tree-token").inner_text()
    node.click()
    page.locator("#tree-prefix .bmm-hm-one-title").get_by_text("Prefix at t = 2 (pruned").wait_for()
    labels = page.locator("#tree-prefix .bmm-hm-y").all_inner_texts()
    assert len(labels) == 3 and labels[2] == token
    assert page.locator("#whatif-tree .bmm-tree-node.on-path").count() == 3
    ended = page.locator("#whatif-tree .bmm-tree-node[data-status='ended']")
    assert "#1" in page.locator("#whatif-tree").inner_text() and ended.count() >= 1
    context.close()
    assert not errors, errors


def test_compare_shows_both_and_marks_changes(browser, served):  # noqa: F811
    context, page, errors = open_tab(browser, served[0])
    maps = page.locator("#compare-maps .bmm-hm-one")
    assert maps.count() == 2
    titles = page.locator("#compare-maps .bmm-hm-one-title").all_inner_texts()
    assert titles == [
        "A: The dog bites the man. → Der Hund beißt den Mann.",
        "B: The man bites the dog. → Der Mann beißt den Hund.",
    ]
    boxes = [maps.nth(i).bounding_box() for i in range(2)]
    assert abs(boxes[0]["y"] - boxes[1]["y"]) < 2 and boxes[0]["x"] < boxes[1]["x"]  # side by side, aligned
    changed = page.locator("#compare-maps .bmm-hm-one").first.locator(".bmm-hm-y.is-token-changed")
    assert changed.all_inner_texts() == ["▁Hund", "▁Mann."]
    assert "changed" in page.locator("#compare-diff").inner_text()
    page.locator("#compare-b textarea").fill("The dog bites the man.")
    page.locator("#compare-run").click()
    page.locator("#compare-diff").get_by_text("No difference").wait_for()
    assert page.locator("#compare-maps .bmm-hm-y.is-token-changed, #compare-maps .bmm-hm-y.is-changed").count() == 0
    context.close()
    assert not errors, errors


def test_the_tab_at_1400_and_390_passes_axe(browser, served, tmp_path):  # noqa: F811
    context, page, errors = open_tab(browser, served[0])
    page.locator(f"#whatif-editor .bmm-wi-token[data-col='{THE}']").click()
    page.locator("#whatif-top").get_by_text("would choose").wait_for()
    page.locator("#whatif-editor .bmm-wi-note").wait_for()
    page.locator("#whatif-tree .bmm-tree-node").nth(3).click()
    page.locator("#tree-prefix .bmm-hm-one").wait_for()
    assert axe_serious(settled(page)) == []
    shot(page, tmp_path, "what-if-1400.png")
    context.close()
    context, page, errors2 = open_tab(browser, served[0], 390, 844)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390 + 1  # no sideways page scroll
    boxes = [page.locator("#compare-maps .bmm-hm-one").nth(i).bounding_box() for i in range(2)]
    assert boxes[1]["y"] > boxes[0]["y"] + boxes[0]["height"] - 1  # stacked on a phone
    page.locator(f"#whatif-editor .bmm-wi-token[data-col='{THE}']").click()
    page.locator("#whatif-top").get_by_text("would choose").wait_for()
    page.locator("#whatif-editor .bmm-wi-note").wait_for()  # the editor redrawn with the renormalised weights
    assert axe_serious(settled(page)) == []
    shot(page, tmp_path, "what-if-390.png")
    context.close()
    assert not errors and not errors2, errors + errors2
