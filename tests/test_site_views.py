"""The static site's views in headless Chromium, as a visitor uses them: step selection driving the bmm picture
and the alternatives, continuing from an alternative (prefix + greedy, equal to the Python Translator), the word
view, n-best, share links that restore the same translation (read with page/share.py's checks), the bmm
picture's timing measured in the browser, and the thread count the page reports. Needs `npm ci`."""

from __future__ import annotations

import numpy as np
import pytest
import site_page
from conftest import ROOT
from schema import validate_translation

from inference import Translator
from inference.document import translation_json
from page import limits
from page.share import state_from_query

pytestmark = pytest.mark.slow
PAIRS = ["de-en", "en-de", "en-fr", "fr-en"]
QUERIES = [
    {"pair": "en-de", "text": "A dog.", "mode": "beam", "beam": "5", "penalty": "1.5", "max_len": "0", "step": "2"},
    {"words": "1", "prefix": "12.408", "penalty": "3", "beam": "10", "max_len": "200", "step": "400"},
    {"pair": "xx-yy", "text": "a\x00b", "mode": "sideways", "beam": "11", "penalty": "3.5", "max_len": "201"},
    {"step": "401", "words": "2", "prefix": "1..2", "beam": "1", "penalty": "1e3", "text": "   "},
    {"text": "x" * 301, "mode": "it's", "pair": "en-de\n", "penalty": "0.6"},
    {"text": "é" * 1001, "prefix": ".".join(["7"] * 200)},
    {"prefix": ".".join(["7"] * 199), "text": 'It\'s "quoted".', "step": "0", "words": "0"},
]


@pytest.fixture(scope="module")
def browser():
    with site_page.chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def site(tmp_path_factory, browser):
    out = site_page.build(tmp_path_factory.mktemp("built") / "site")
    with site_page.served(out) as (url, _server):
        yield url


@pytest.fixture(scope="module")
def page(site, browser):
    return site_page.open_page(browser, site)


def shown(page) -> dict:
    """What is on screen: the translation, the heatmap's step and word view, the picture's step and B."""
    return page.evaluate(
        """() => ({translation: document.querySelector('#translation').textContent,
        status: document.querySelector('#status').textContent, note: document.querySelector('#note').textContent,
        step: document.querySelector('.bmm-hm-root').dataset.step, words: document.querySelector('.bmm-hm-root').dataset.words,
        picture_step: document.querySelector('.bmm-pic').dataset.step, B: document.querySelector('.bmm-pic').dataset.b,
        alternatives: document.querySelector('#alternatives-title').textContent})"""
    )


def test_opens_on_a_beam_search_whose_steps_drive_the_picture_and_alternatives(page):
    now = shown(page)
    assert "beam decoding" in now["status"] and now["step"] == now["picture_step"] == "0"
    assert "ms in your browser, WASM, 1 thread" in now["status"]  # plain http.server: not cross-origin isolated
    page.click(".bmm-hm-step >> nth=2")
    page.wait_for_function("() => document.querySelector('.bmm-pic').dataset.step === '2'")
    now = shown(page)
    assert now["step"] == "2" and int(now["B"]) > 1  # the real B of beam search: the live beams of step 2
    assert now["alternatives"] == "Top-5 tokens at step 2: pick one to continue from"
    assert page.locator("input[name=alternative]").count() == 5
    assert "step=2" in page.url and "mode=beam" in page.url and "beam=5" in page.url


def test_word_view_and_nbest(page):
    page.check("#heatmap input[type=checkbox]")
    assert shown(page)["words"] == "1" and "words=1" in page.url
    page.uncheck("#heatmap input[type=checkbox]")
    rows = page.locator("#nbest tbody tr")
    assert rows.count() == 5
    second = rows.nth(1).locator("td").nth(1).inner_text()
    page.click("#nbest tbody tr >> nth=1 >> button")
    now = shown(page)
    assert now["translation"] == second and now["note"].startswith("Showing hypothesis 2 of 5")
    page.click("#nbest tbody tr >> nth=0 >> button")
    assert shown(page)["note"].startswith("Showing the best hypothesis")


def test_continue_from_an_alternative_equals_python_and_its_link_restores_it(page, browser):
    page.click(".bmm-hm-step >> nth=1")
    page.check("input[name=alternative] >> nth=1")
    page.click("#continue")
    page.wait_for_function("() => document.querySelector('#note').textContent.startsWith('Continued from')")
    now = shown(page)
    assert "prefix+greedy decoding" in now["status"] and "prefix=" in page.url and "mode=greedy" in page.url
    doc = validate_translation(page.evaluate("() => window.bmmSite.lastDocument()"))
    translator = Translator(ROOT / "assets" / doc["pair"], device="cpu", threads=1)
    result = translator.translate(doc["source"], prefix=doc["decoding"]["prefix_ids"], top_k=5)
    py = translation_json(result, doc["pair"], doc["source"], translator.config)
    assert doc["target_ids"] == py["target_ids"] and doc["decoding"] == py["decoding"]
    assert np.abs(np.array(doc["attention"]) - np.array(py["attention"])).max() <= 3e-3  # see test_site's flips
    again = site_page.open_page(browser, page.url)
    assert shown(again)["translation"] == now["translation"] and shown(again)["step"] == "1"
    assert again.evaluate("() => window.bmmSite.lastDocument().target_ids") == doc["target_ids"]
    assert "Continued from the link's" in shown(again)["note"]
    again.close()


def test_a_share_link_restores_step_words_and_settings(page, browser, site):
    link = f"{site}?pair=fr-en&text=Le+chat+dort.&mode=beam&beam=3&penalty=0.8&max_len=12&step=1&words=1"
    other = site_page.open_page(browser, link)
    now = shown(other)
    doc = validate_translation(other.evaluate("() => window.bmmSite.lastDocument()"))
    assert doc["pair"] == "fr-en" and doc["decoding"]["beam_size"] == 3 and doc["decoding"]["length_penalty"] == 0.8
    assert doc["decoding"]["max_len"] == 12 and now["step"] == "1" and now["words"] == "1"
    assert other.input_value("#penalty") == "0.8" and other.input_value("#max-len") == "12"
    translator = Translator(ROOT / "assets" / "fr-en", device="cpu", threads=1)
    assert doc["target_ids"] == translator.translate("Le chat dort.", 3, 0.8, 3, max_len=12).target_ids
    other.close()


def test_share_links_are_read_with_the_servers_checks(page):
    assert page.evaluate("() => window.BmmShare.LIMITS") == {
        name: getattr(limits, name) for name in ("MAX_CHARS", "MAX_BEAM", "MAX_LEN", "MAX_PENALTY", "MAX_STEP")
    }
    for query in QUERIES:
        expected = state_from_query(query, PAIRS)
        assert page.evaluate("([q, p]) => window.bmmSite.shareState(q, p)", [query, PAIRS]) == expected, query


def test_bmm_picture_measures_in_the_browser(page):
    page.check("input[name=mode][value=beam]")  # greedy after the continuation; a beam step has B > 1
    page.click("#translate")
    page.wait_for_function("() => document.querySelector('#status').textContent.startsWith('beam')")
    page.click(".bmm-hm-step >> nth=2")
    page.wait_for_function("() => document.querySelector('.bmm-pic').dataset.step === '2'")
    B = int(shown(page)["B"])
    assert "on this server" not in page.inner_text("body")
    page.click(".bmm-pic-measure")
    page.wait_for_function("() => !document.querySelector('.bmm-pic-measure').disabled", timeout=60_000)
    lanes = page.inner_text(".bmm-pic-lanes")
    assert lanes.count("measured in your browser, WASM, 1 thread (onnxruntime-web)") == 2, lanes
    assert "JavaScript loop" in lanes and "One batched MatMul call" in lanes and B > 1
    assert "on this server" not in page.inner_text("body")


def test_the_page_reports_its_real_thread_count(tmp_path, browser):
    """Served with the cross-origin-isolation headers, onnxruntime-web runs on min(4, cores) threads (one
    web worker each besides the page's own); the page says so, and still translates as Python does."""
    out = site_page.build(tmp_path / "site")
    with site_page.served(out, isolated=True) as (url, _server):
        workers = []
        isolated = browser.new_page(viewport={"width": 1400, "height": 1000})
        isolated.on("worker", lambda worker: workers.append(worker.url))
        isolated.goto(url)
        isolated.wait_for_function("() => document.body.dataset.translated", timeout=120_000)
        cores = isolated.evaluate("navigator.hardwareConcurrency")
        threads = min(4, cores)
        assert (
            isolated.evaluate("self.crossOriginIsolated") and isolated.evaluate("window.bmmSite.threads()") == threads
        )
        said = f"WASM, {threads} thread{'s' if threads > 1 else ''}"
        assert said in isolated.inner_text("#runtime") and said in isolated.inner_text("#status")
        assert len(workers) == threads - 1
        translator = Translator(ROOT / "assets" / "en-de", device="cpu", threads=1)
        for text in ("A cat sleeps on the sofa.", "Two children are playing football in the park."):
            js = isolated.evaluate("(t) => window.bmmSite.translate('en-de', t, 5)", text)
            assert js["target_ids"] == translator.translate(text, beam_size=5).target_ids
        isolated.close()
