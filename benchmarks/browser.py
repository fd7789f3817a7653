"""The page as a person sees it: headless Chromium (Playwright, the system's chromium) on the served app.

Each interaction is timed inside the page (performance.now()): from the click until a MutationObserver
sees the result drawn. A translation is done when the heatmap's image (Plotly draws a heatmap as one
<image>) differs from the one before and the translation box is filled; a step switch (another target
token in the step row) is done when the step panel's text and the heatmap's marked row have changed.
First heatmap: the first translation on a freshly loaded page (the plot's code loads then), once per load.
"""
from __future__ import annotations

import shutil

from benchmarks.measure import summary_ms

TIMED_CLICK = """async ({selector, index, kind, timeout}) => {
  const state = () => {
    const image = document.querySelector('#heatmap .heatmaplayer image');
    const shape = document.querySelector('#heatmap .shapelayer path');
    const panel = document.querySelector('#bmm-panel');
    const box = document.querySelector('#translation textarea');
    return {image: image && image.getAttribute('href'), shape: shape && shape.getAttribute('d'),
            panel: panel ? panel.innerText : '', text: box ? box.value : ''};
  };
  const before = state();
  const done = kind === 'translate'
    ? s => s.image && s.image !== before.image && s.text
    : s => s.panel !== before.panel && (before.shape === null || s.shape !== before.shape);
  return await new Promise((resolve, reject) => {
    const finish = () => { observer.disconnect(); clearTimeout(timer); clearInterval(poll); };
    const check = () => { if (done(state())) { finish(); resolve(performance.now() - start); } };
    const observer = new MutationObserver(check);
    observer.observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
    const poll = setInterval(check, 20);  // the text box's value changes without a DOM mutation
    const timer = setTimeout(() => { finish(); reject(new Error(kind + ' not drawn within ' + timeout + ' ms')); }, timeout);
    const start = performance.now();
    document.querySelectorAll(selector)[index].click();
  });
}"""


def _timed(page, selector: str, kind: str, index: int = 0, timeout_ms: int = 60_000) -> float:
    return page.evaluate(TIMED_CLICK, {"selector": selector, "index": index, "kind": kind, "timeout": timeout_ms}) / 1e3


def _translate(page, text: str) -> float:
    page.locator("#source textarea").fill(text)
    return _timed(page, "#translate", "translate")


def _switch_steps(page, switches: int) -> list[float]:
    """Select the next target token `switches` times (wrapping), each timed until its views are drawn."""
    labels = page.locator("#steps label").count()
    if labels < 2:
        return []
    times, current = [], page.locator("#steps input").evaluate_all("inputs => inputs.findIndex(i => i.checked)")
    for _ in range(switches):
        current = (current + 1) % labels
        times.append(_timed(page, "#steps label", "step", current))
    return times


def _visit(browser, url: str, text: str) -> tuple:
    """A fresh page and its first translation's time."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)
    page.goto(url)
    page.locator("#translate").wait_for()
    return page, _translate(page, text)


def browser_section(url: str, sentences: list[str], page_loads: int = 5, translations: int = 10,
                    switches_per_translation: int = 3) -> dict:
    """Fresh pages, one first translation each; on the first page also later translations and step switches."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return {"skipped": "chromium is not installed (apt-get install chromium)"}
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    first, later, steps = [], [], []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            for load in range(page_loads):
                page, seconds = _visit(browser, url, sentences[load % len(sentences)])
                first.append(seconds)
                if load == 0:  # one longer visit: later translations, and step switches after each
                    steps += _switch_steps(page, switches_per_translation)
                    for k in range(1, translations + 1):
                        later.append(_translate(page, sentences[k % len(sentences)]))
                        steps += _switch_steps(page, switches_per_translation)
                page.close()
            browser.close()
    except PlaywrightError as error:  # a page that never drew its result: say so, keep the other sections
        return {"error": f"the browser run stopped: {str(error).splitlines()[0]}"}
    return {"chromium": chromium, "rows": [{"interaction": "first translation on a fresh page, to heatmap", **summary_ms(first)},
                                           {"interaction": "later translation, to heatmap", **summary_ms(later)},
                                           {"interaction": "step switch, to panel and heatmap", **summary_ms(steps)}]}
