"""The static site (python -m export.site) in headless Chromium, served by a plain `python -m http.server`:
tokens and attention equal to the Python Translator for every shipped pair (greedy and beam 5), the same
input messages, translation after the server is gone, axe-core at 1400 and 390 px. Needs `npm ci`."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT

from inference import Translator
from inference.document import translation_json
from inference.examples import examples_for

pytestmark = pytest.mark.slow
PAIRS = ("en-de", "de-en", "en-fr", "fr-en")
BAD = ["", "   ", "Привет мир", "a\x00b", "x" * 301, "漢字 and words", "tab\u200bhere", "word " * 120]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    if not (ROOT / "node_modules" / "onnxruntime-web").is_dir():
        pytest.fail("node_modules is missing: run `npm ci` in the repository root")
    out = tmp_path_factory.mktemp("built") / "site"
    subprocess.run([sys.executable, "-m", "export.site", "assets", "--out", str(out)], cwd=ROOT, check=True)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "-d", str(out), "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1)
    yield out, f"http://127.0.0.1:{port}/", server
    server.terminate()


@pytest.fixture(scope="module")
def page(site):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(site[1])
        page.wait_for_function("() => document.body.dataset.translated", timeout=120_000)
        yield page
        browser.close()


def test_every_file_is_small_but_the_documented_wasm(site):
    big = [p.name for p in site[0].rglob("*") if p.is_file() and p.stat().st_size >= 10_000_000]
    assert big == ["ort-wasm-simd-threaded.wasm"]
    assert "sdk: static" in (site[0] / "README.md").read_text(encoding="utf-8")
    html = (site[0] / "index.html").read_text(encoding="utf-8")
    assert "non-commercial" in html and "Tatoeba Project (tatoeba.org, CC BY 2.0 FR)" in html


@pytest.mark.parametrize("pair", PAIRS)
def test_browser_translations_equal_python(page, pair):
    translator = Translator(ROOT / "assets" / pair, device="cpu", threads=1)
    for text in examples_for(translator.src_lang)[:6]:
        for beam in (1, 5):
            js = page.evaluate("([p, t, b]) => window.bmmSite.translate(p, t, b)", [pair, text, beam])
            result = translator.translate(text, beam_size=beam, n_best=beam, top_k=5)
            py = translation_json(result, pair, text, translator.config, tensors=True)
            assert js["target_ids"] == py["target_ids"] and js["translation"] == py["translation"], text
            assert np.abs(np.array(js["attention"]) - np.array(py["attention"])).max() <= 1e-5
            assert [h["target_ids"] for h in js["nbest"]] == [h["target_ids"] for h in py["nbest"]]
            assert js["decoding"] == py["decoding"] and js["source_tokens"] == py["source_tokens"]


def test_bad_inputs_get_the_servers_messages(page):
    translator = Translator(ROOT / "assets" / "en-de", device="cpu", threads=1)
    for text in BAD:
        try:
            translator.source_ids(text)
            expected = None
        except ValueError as error:
            expected = str(error)
        assert page.evaluate("(t) => window.bmmSite.check('en-de', t)", text) == expected, repr(text)


def test_screens_are_accessible_and_saved(page):
    axe = ROOT / "node_modules" / "axe-core" / "axe.min.js"
    folder = Path(os.environ.get("TEST_ARTIFACTS") or "/tmp")
    for width in (1400, 390):
        page.set_viewport_size({"width": width, "height": 1000})
        page.screenshot(path=str(folder / f"site-{width}.png"), full_page=True)
        page.add_script_tag(path=str(axe))
        found = page.evaluate(
            "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
            ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))"
        )
        bad = [v for v in found if v["impact"] in ("serious", "critical")]
        assert not bad, (width, bad)


def test_translation_goes_on_after_the_server_stops(page, site):
    site[2].terminate()
    site[2].wait(10)
    doc = page.evaluate("() => window.bmmSite.translate('en-de', 'A cat sleeps on the sofa.', 5)")
    assert doc["translation"]
