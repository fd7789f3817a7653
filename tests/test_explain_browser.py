"""Attention as explanation on the real page (shipped bundles, headless Chromium): the coverage row, the
occlusion row of the selected step, the entropy badge, the stated method and cost, and the wrong-direction
swap. The page's numbers are compared with the app's own explanation of the same result (what /explain
returns): static/heatmap.js draws them from the translation JSON's `explanation` as is, so they agree to
float precision, not just to the 3 decimals shown. Screenshots go to $TEST_ARTIFACTS, else a temp folder.
"""

from __future__ import annotations

import numpy as np
from test_browser import (  # noqa: F401 (fixtures)
    browser,
    chromium_path,
    open_page,
    save_screenshot,
    selected_step,
    shipped_app,
    translation_text,
)

TEXT = "A little girl is jumping into a swimming pool."


def row_values(page, cls: str) -> list[float]:
    return page.evaluate(f"() => [...document.querySelectorAll('#heatmap .{cls}')].map(c => parseFloat(c.dataset.v))")


def test_coverage_occlusion_and_badge_follow_the_step(browser, shipped_app, tmp_path):
    url, demo_app, _ = shipped_app
    page = open_page(browser, url)
    page.locator("#source textarea").fill(TEXT)
    page.locator("#translate").click()
    page.locator("#status").get_by_text("confidence: mean token probability").wait_for()
    expected = demo_app.api_explain(TEXT, "en-de")
    ex, T = expected["explanation"], len(expected["target_tokens"])
    page.wait_for_function("n => document.querySelectorAll('#heatmap .bmm-hm-y').length === n", arg=T)
    np.testing.assert_allclose(row_values(page, "bmm-hm-cov"), ex["coverage"]["values"], atol=1e-6)
    flagged = page.evaluate(
        "() => [...document.querySelectorAll('#heatmap .bmm-hm-cov.is-flagged')].map(c => +c.dataset.cov)"
    )
    assert flagged == sorted(ex["coverage"]["dropped"] + ex["coverage"]["repeated"])

    for step in (T - 1, 1, 0):  # the occlusion row and the badge change in the page with the step
        page.locator(f"#heatmap .bmm-hm-cell[data-row='{step}'][data-col='0']").click()
        assert selected_step(page) == step
        np.testing.assert_allclose(row_values(page, "bmm-hm-occ"), ex["occlusion"]["drops"][step], atol=1e-6)
        top = page.evaluate("() => +document.querySelector('#heatmap .bmm-hm-occ.is-top').dataset.occ")
        assert top == int(np.argmax(ex["occlusion"]["drops"][step]))
        badge = page.locator("#heatmap .bmm-hm-badge").inner_text()
        assert badge.startswith(
            f"attention {ex['confidence']['badges'][step]}: "
            f"{ex['confidence']['effective_tokens'][step]:.2f} effective tokens"
        )
        assert "Occlusion: hiding" in page.locator("#heatmap .bmm-hm-detail").inner_text()
    note = page.locator("#heatmap .bmm-hm-explain-note").inner_text()
    cost = ex["occlusion"]["cost"]
    assert f"{cost['batch_rows']} rows × {T} steps in one batched forced decode" in note
    assert f"({cost['decoder_calls']} decoder calls" in note and "hidden from the decoder's attention mask" in note
    save_screenshot(page, tmp_path, "app-explain-desktop.png")

    page.locator("#heatmap .bmm-hm-words input").check()  # word mode: the per-token rows step aside, saying so
    assert page.locator("#heatmap .bmm-hm-occ").count() == 0
    assert "turn off word merging" in page.locator("#heatmap .bmm-hm-explain-note").inner_text()
    page.context.close()


def test_wrong_direction_hint_swaps_the_pair_in_one_click(browser, shipped_app):
    url, demo_app, _ = shipped_app
    assert "de-en" in demo_app.translators  # the hint needs the reverse model loaded; the shipped assets have both
    page = open_page(browser, url + "?pair=de-en&text=" + TEXT.replace(" ", "+"))
    page.locator("#swap-pair").wait_for()
    assert "This looks like" in page.locator("#status").inner_text()
    assert page.locator("#swap-pair").inner_text() == "Swap to en-de and translate"
    page.locator("#swap-pair").click()
    page.wait_for_function("() => document.querySelector('#pair input').value === 'en-de'")
    expected = demo_app.translators["en-de"].translate(TEXT).text
    page.wait_for_function("t => document.querySelector('#translation textarea').value === t", arg=expected)
    assert translation_text(page) == expected and page.locator("#swap-pair").is_hidden()
    assert "This looks like" not in page.locator("#status").inner_text()
    page.context.close()
