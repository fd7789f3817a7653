"""The page as a person sees it: headless Chromium (Playwright, the system's chromium) on the served app.

Each interaction is timed inside the page (performance.now()): from the click until a MutationObserver
sees the result drawn. A translation is done when the heatmap (drawn by static/heatmap.js) shows a new
result and the translation box is filled. A step switch (the next step button under the heatmap) is timed
twice from the same click: until the heatmap marks the step (in the browser, no server call) and until the
server's bmm panel has followed. First heatmap: the first translation on a freshly loaded page, once per load.
"""
from __future__ import annotations

import shutil

from benchmarks.measure import summary_ms

TIMED_CLICK = """async ({selector, index, kind, timeout}) => {
  const state = () => {
    const map = document.querySelector('#heatmap .bmm-hm-map') || document.querySelector('#heatmap');
    const radios = [...document.querySelectorAll('#heatmap .bmm-hm-step')];
    const panel = document.querySelector('#bmm-panel');
    const box = document.querySelector('#translation textarea');
    return {map: map ? map.innerText : '', checked: radios.findIndex(r => r.getAttribute('aria-checked') === 'true'),
            panel: panel ? panel.innerText : '', text: box ? box.value : ''};
  };
  const before = state();
  const times = {};
  let start = 0;
  const done = s => {
    if (kind === 'translate') { if (s.text && s.map && s.map !== before.map) times.page = performance.now() - start; }
    else {
      if (times.page === undefined && s.checked === index) times.page = performance.now() - start;
      if (times.panel === undefined && s.panel !== before.panel) times.panel = performance.now() - start;
    }
    return times.page !== undefined && (kind === 'translate' || times.panel !== undefined);
  };
  return await new Promise((resolve, reject) => {
    const finish = () => { observer.disconnect(); clearTimeout(timer); clearInterval(poll); };
    const check = () => { if (done(state())) { finish(); resolve(times); } };
    const observer = new MutationObserver(check);
    observer.observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
    const poll = setInterval(check, 5);  // the text box's value changes without a DOM mutation
    const timer = setTimeout(() => { finish(); reject(new Error(kind + ' not drawn within ' + timeout + ' ms')); }, timeout);
    start = performance.now();
    document.querySelectorAll(selector)[index].click();
  });
}"""


def _timed(page, selector: str, kind: str, index: int = 0, timeout_ms: int = 60_000) -> dict:
    times = page.evaluate(TIMED_CLICK, {"selector": selector, "index": index, "kind": kind, "timeout": timeout_ms})
    return {key: value / 1e3 for key, value in times.items()}


def _translate(page, text: str) -> float:
    page.locator("#source textarea").fill(text)
    return _timed(page, "#translate", "translate")["page"]


def _switch_steps(page, switches: int) -> list[dict]:
    """Select the next target token `switches` times (wrapping); each gives {"page": s, "panel": s}."""
    steps = page.locator("#heatmap .bmm-hm-step")
    if steps.count() < 2:
        return []
    times = []
    current = steps.evaluate_all("buttons => buttons.findIndex(b => b.getAttribute('aria-checked') === 'true')")
    for _ in range(switches):
        current = (current + 1) % steps.count()
        times.append(_timed(page, "#heatmap .bmm-hm-step", "step", current))
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
                                           {"interaction": "step switch, heatmap (in the page)",
                                            **summary_ms([t["page"] for t in steps])},
                                           {"interaction": "step switch, bmm panel (server round trip)",
                                            **summary_ms([t["panel"] for t in steps])}]}
