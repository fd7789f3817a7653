"""The bmm picture in a real headless Chromium on the shipped bundles: B slabs for greedy, beam search and a batch,
the JSON's own numbers, hovering a score shows its product, steps switch without the server, the first desktop
screen, labels that never overlap, and axe-core on every tab at both widths."""

from __future__ import annotations

import numpy as np
import pytest
from test_browser import axe_serious, browser, chromium_path, save_screenshot, shipped_app  # noqa: F401  (fixtures)

from inference.document import translation_json

SENTENCE = "A dog runs on the beach."


def open_app(browser, url: str, width: int = 1400, height: int = 900):
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(60_000)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    page.locator("body[data-loaded]").wait_for(state="attached")  # the load event is done
    page.locator("#bmm-picture .bmm-pic-slab").first.wait_for()
    return page, errors


def slabs(page, tensor: str, root: str = "#bmm-picture") -> int:
    return page.locator(f"{root} [data-tensor='{tensor}'] .bmm-pic-slab").count()


def picture_step(page, root: str = "#bmm-picture") -> int:
    return int(page.locator(f"{root} .bmm-pic").get_attribute("data-step"))


def cell_values(page, kind: str, row: int, root: str = "#bmm-picture") -> list[float]:
    selector = f"{root} [data-tensor='{kind}'] .bmm-pic-slab[data-row='{row}'] .bmm-pic-cell"
    return [float(v) for v in page.eval_on_selector_all(selector, "cells => cells.map(c => c.dataset.value)")]


def label_overlaps(page, root: str) -> list:
    """Pairs of the picture's text labels whose boxes intersect (more than half a pixel)."""
    return page.evaluate(
        """root => {
        const labels = [...document.querySelectorAll(`${root} .bmm-pic-title, ${root} .bmm-pic-shape,
            ${root} .bmm-pic-letters, ${root} .bmm-pic-op, ${root} .bmm-pic-lane-title`)]
            .map(e => [e.textContent, e.getBoundingClientRect()]).filter(([, r]) => r.width > 0 && r.height > 0);
        const hit = [];
        labels.forEach(([a, p], i) => labels.slice(i + 1).forEach(([b, q]) => {
            const x = Math.min(p.right, q.right) - Math.max(p.left, q.left);
            const y = Math.min(p.bottom, q.bottom) - Math.max(p.top, q.top);
            if (x > 0.5 && y > 0.5) hit.push([a, b]);
        }));
        return hit;
    }""",
        root,
    )


def test_the_page_opens_on_a_batch_and_the_picture_shows_the_jsons_numbers(browser, shipped_app, tmp_path):
    url, demo_app, _ = shipped_app
    page, errors = open_app(browser, url)
    translator = demo_app.translators[demo_app.default]
    text = page.locator("#source textarea").input_value()
    result = translator.translate(text, beam_size=5, n_best=5, length_penalty=translator.length_penalty)
    doc = translation_json(result, translator.name, text, translator.config, tensors=True)
    step = picture_step(page)
    B = doc["step_calls"][step]["batch"]
    assert B > 1 and all(slabs(page, name) == B for name in ("query", "keysᵀ", "scores", "weights", "enc_out"))

    # The first desktop screen holds the one-line answer and the picture with B > 1.
    answer = page.get_by_text("attention is B independent small matrix products").first.bounding_box()
    flow = page.locator("#bmm-picture [data-tensor='weights']").bounding_box()
    assert answer["y"] + answer["height"] <= 900 and flow["y"] + flow["height"] <= 900

    # Every score and weight cell holds the JSON's number (scores: the real query · keys of its row).
    for row in range(B):
        np.testing.assert_allclose(
            cell_values(page, "weights", row), doc["step_calls"][step]["attention"][row], atol=1e-6
        )
        np.testing.assert_allclose(cell_values(page, "scores", row), doc["step_calls"][step]["scores"][row], atol=1e-6)
    query, keys = np.asarray(doc["step_calls"][step]["query"]), np.asarray(doc["tensors"]["enc_out"])
    np.testing.assert_allclose(doc["step_calls"][step]["scores"], query @ keys.T, atol=1e-3)

    # Hovering a score lights its query row and key column and writes the product with its value.
    page.locator("#bmm-picture [data-tensor='scores'] .bmm-pic-slab[data-row='1'] .bmm-pic-cell[data-s='2']").hover()
    detail = page.locator("#bmm-picture .bmm-pic-detail").inner_text()
    assert "scores[1, 0, 2] = query[1] · keys[1, 2]" in detail
    assert f"{doc['step_calls'][step]['scores'][1][2]:.4f}" in detail and "512 products" in detail
    assert page.locator("#bmm-picture [data-tensor='query'] .bmm-pic-slab[data-row='1'].is-lit").count() == 1
    assert page.locator("#bmm-picture [data-tensor='keysᵀ'] .bmm-pic-slab[data-row='1'].is-lit").count() == 1
    page.locator("#bmm-picture [data-tensor='weights'] .bmm-pic-slab[data-row='0'] .bmm-pic-cell[data-s='1']").hover()
    assert "scales enc_out[0, 1]" in page.locator("#bmm-picture .bmm-pic-detail").inner_text()

    # Switching the step redraws from the JSON alone: no request reaches the server.
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.get_by_role("button", name="Next step").click()
    page.wait_for_function(
        "s => document.querySelector('#bmm-picture .bmm-pic').dataset.step === String(s)", arg=step + 1
    )
    assert slabs(page, "scores") == doc["step_calls"][step + 1]["batch"]
    np.testing.assert_allclose(cell_values(page, "weights", 0), doc["step_calls"][step + 1]["attention"][0], atol=1e-6)
    page.wait_for_timeout(300)
    assert requests == []

    # A level deeper: a tensor's title opens its numbers for the highlighted row.
    page.locator("#bmm-picture [data-tensor='weights'] .bmm-pic-title").click()
    assert page.locator("#bmm-picture .bmm-pic-numbers").count() == 1
    assert label_overlaps(page, "#bmm-picture") == []
    save_screenshot(page, tmp_path, "picture-beam-1400x900.png")
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(400)
    assert label_overlaps(page, "#bmm-picture") == []
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 391  # wide parts scroll in their box
    save_screenshot(page, tmp_path, "picture-beam-390x844.png")
    page.context.close()
    assert not errors, errors


def test_greedy_is_one_slab_and_one_click_shows_it_in_a_batch(browser, shipped_app):
    url, demo_app, _ = shipped_app
    page, errors = open_app(browser, url)
    page.locator("#source textarea").fill(SENTENCE)
    page.get_by_role("radio", name="greedy").check()
    page.locator("#translate").click()
    page.locator("#status").get_by_text("greedy decoding").wait_for()
    page.wait_for_function("() => document.querySelector('#bmm-picture .bmm-pic').dataset.b === '1'")
    assert slabs(page, "query") == 1 and "B = 1" in page.locator("#bmm-picture .bmm-pic-head").inner_text()
    page.locator("#picture-in-batch").click()
    page.locator("#status").get_by_text("row 0 of a batch of 4").wait_for()
    page.wait_for_function("() => document.querySelector('#bmm-picture .bmm-pic').dataset.b === '4'")
    assert all(slabs(page, name) == 4 for name in ("query", "scores", "weights", "enc_out", "context"))
    # the heatmap's step selection drives the picture of a translation (in the page, no server round trip)
    page.locator("#translate").click()
    page.wait_for_function("() => document.querySelector('#bmm-picture .bmm-pic').dataset.b === '1'")
    page.locator("#heatmap .bmm-hm-step").nth(2).click()
    page.wait_for_function("() => document.querySelector('#bmm-picture .bmm-pic').dataset.step === '2'")
    page.context.close()
    assert not errors, errors


def test_the_batch_tab_draws_b_sentences_shrinking_as_they_finish(browser, shipped_app, tmp_path):
    from inference.batch_trace import trace_batch

    url, demo_app, _ = shipped_app
    page, errors = open_app(browser, url)
    translator = demo_app.translators[demo_app.default]
    texts = [
        "A cat sleeps.",
        "Two boys are playing football on a wet field.",
        "An old woman feeds the birds.",
        "Hello, how are you?",
    ]
    page.get_by_role("tab", name="Batch").click()
    page.locator("#batch-text textarea").fill("\n".join(texts))
    page.locator("#batch-run").click()
    page.locator("#batch-status").get_by_text("for 4 sentences").wait_for()
    page.wait_for_function("() => document.querySelector('#batch-picture .bmm-pic')?.dataset.b === '4'")
    trace = trace_batch(translator, texts)
    sizes = [call.batch for call in trace.calls]
    assert slabs(page, "weights", "#batch-picture") == 4 and sizes[0] == 4 and min(sizes) < 4
    # padded positions are drawn as padding with their weight, exactly 0
    shortest = int(np.argmin([len(tokens) for tokens in trace.source_tokens]))
    pads = page.locator(f"#batch-picture [data-tensor='weights'] .bmm-pic-slab[data-row='{shortest}'] .is-pad")
    assert pads.count() == trace.src_ids.shape[1] - len(trace.source_tokens[shortest])
    assert all(float(v) == 0.0 for v in pads.evaluate_all("cells => cells.map(c => c.dataset.value)"))
    shrinks = sizes.index(min(sizes))
    for _ in range(shrinks):
        page.locator("#batch-picture").get_by_role("button", name="Next step").click()
    page.wait_for_function(
        "s => document.querySelector('#batch-picture .bmm-pic').dataset.step === String(s)", arg=shrinks
    )
    assert slabs(page, "weights", "#batch-picture") == sizes[shrinks]
    rows = trace.calls[shrinks].rows
    for r, sentence in enumerate(rows):
        np.testing.assert_allclose(
            cell_values(page, "weights", r, "#batch-picture"), trace.calls[shrinks].attention[r], atol=1e-6
        )
        assert f"sentence {sentence}" in page.locator("#batch-picture select").inner_text()
    # the per-sentence heatmaps are the page's own heatmap, one per sentence, none overlapping
    boxes = page.locator("#batch-heatmaps .bmm-hm-one").evaluate_all(
        "s => s.map(e => e.getBoundingClientRect()).map(r => [r.top, r.bottom])"
    )
    assert len(boxes) == 4 and all(bottom <= next_top + 0.5 for (_, bottom), (next_top, _) in zip(boxes, boxes[1:]))
    assert label_overlaps(page, "#batch-picture") == []
    save_screenshot(page, tmp_path, "picture-batch-1400x900.png")
    page.context.close()
    assert not errors, errors


@pytest.mark.parametrize("width, height", [(1400, 900), (390, 844)])
def test_axe_finds_nothing_serious_on_any_tab(browser, shipped_app, width, height):
    url, _, _ = shipped_app
    page, errors = open_app(browser, url, width, height)
    found = {"Translate": axe_serious(page)}
    page.get_by_role("tab", name="Batch").click()
    page.locator("#batch-picture .bmm-pic-slab").first.wait_for()
    page.wait_for_timeout(600)  # the tab's fade-in is over
    found["Batch"] = axe_serious(page)
    page.get_by_role("tab", name="Model card").click()
    page.locator("#model-card").get_by_text("Licence").first.wait_for()
    page.wait_for_timeout(2000)  # the card is re-read when its tab opens, drawn faded until it is back
    found["Model card"] = axe_serious(page)
    page.context.close()
    assert found == {"Translate": [], "Batch": [], "Model card": []}, found
    assert not errors, errors
