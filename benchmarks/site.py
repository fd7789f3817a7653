"""The site section (what it measures: report.SECTIONS): `python -m export.site` for the bundle alone, served by
`python -m http.server`, in headless Chromium; the page's own `window.bmmSite.translate` timed inside the page
against `Translator.translate` with the page's settings (n-best = beam size, top 5 alternatives)."""

import contextlib
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import numpy as np

from benchmarks import measure

# The page's translations of the texts, one after another, each timed in the page (ms).
WARM = """async ([pair, texts, beam]) => {
  const times = [];
  for (const text of texts) {
    const start = performance.now();
    await window.bmmSite.translate(pair, text, beam);
    times.push(performance.now() - start);
  }
  return times;
}"""


def cold_load(browser, url: str) -> tuple:
    """A fresh context's page: (seconds from navigation to the first translation shown, bytes of all response
    bodies, the URLs it fetched, the page)."""
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    responses = []
    page.on("response", lambda response: responses.append(response))
    start = time.perf_counter()
    page.goto(url)
    page.wait_for_function("document.body.dataset.translated", timeout=120_000)
    took, fetched = time.perf_counter() - start, [r for r in responses if r.ok]
    return took, sum(len(r.body()) for r in fetched), [r.url for r in fetched], page


def site_section(bundle, sentences: list[str], page_loads=3, rounds=3, seconds=8.0, app_answers_per_s=None) -> dict:
    """Rows per (engine, decoding), their ratios, the cold loads, and the static server's rates beside the served
    app's answers/s (8 clients, the served section's app row) when that section ran before in this run."""
    from export.site import build_site

    bundle, port, native = Path(bundle), measure.free_port(), measure.cpu_translator(bundle, threads=1)
    times = {(engine, beam): [] for engine in ("browser", "native") for beam in (1, 5)}

    def visit(browser) -> dict:
        url = f"http://127.0.0.1:{port}/?pair={quote(bundle.name)}&text={quote(sentences[0])}"
        loads = [cold_load(browser, url) for _ in range(page_loads)]
        for *_, earlier in loads[:-1]:  # the last one stays for the warm translations
            earlier.context.close()
        page = loads[-1][-1]
        for beam in (1, 5):  # first calls, untimed
            page.evaluate(WARM, [bundle.name, sentences[:1], beam])
            native.translate(sentences[0], beam_size=beam, n_best=beam)
        for _, (engine, beam) in measure.in_turns(list(times), range(rounds)):
            if engine == "browser":
                times[engine, beam] += [ms / 1e3 for ms in page.evaluate(WARM, [bundle.name, sentences, beam])]
            else:
                times[engine, beam] += [measure.timed(native.translate, t, beam, n_best=beam)[0] for t in sentences]
        where = re.search(r"in your browser[^;]*", page.locator("#runtime").inner_text()).group()
        cold = dict(cold_loads=len(loads), cold_load_median_s=round(float(np.median([x[0] for x in loads])), 3))
        return dict(runtime=where, **cold, cold_load_mb=round(loads[-1][1] / 1e6, 2), files=loads[-1][2])

    with tempfile.TemporaryDirectory(prefix="bench-site-") as folder:
        try:
            site = build_site(bundle.parent, Path(folder) / "site", [bundle.name])
        except SystemExit as missing:  # no node_modules
            return {"skipped": str(missing)}
        command = [sys.executable, "-m", "http.server", str(port), "-d", str(site), "--bind", "127.0.0.1"]
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_listening(port, server)
            if "files" not in (result := measure.in_chromium(visit)):
                return result  # skipped, or a page that never translated
            static = static_run(result.pop("files"), 8, seconds)
        finally:
            server.terminate()
            server.wait()
    if app_answers_per_s:  # how many of the site's requests the host serves in the time the app gives one answer
        per_answer = round(static["requests_per_s"] / app_answers_per_s, 1)
        static |= dict(app_answers_per_s=app_answers_per_s, requests_per_app_answer=per_answer)
    names, ratio = {1: "greedy", 5: "beam5"}, lambda b: measure.median_ratio(times["browser", b], times["native", b])
    rows = [dict(engine=e, decoding=names[b], **measure.summary_ms(t)) for (e, b), t in times.items()]
    ratios = [dict(decoding=name, browser_over_native=ratio(b)) for b, name in names.items()]
    return result | dict(rows=rows, ratios=ratios, static=[static])


def wait_listening(port: int, process: subprocess.Popen) -> None:
    while process.poll() is None:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.05)


def static_run(files: list[str], clients: int, seconds: float) -> dict:
    """`clients` threads fetching a cold load's files, in its order, back to back for `seconds`."""
    connections = [httpx.Client(timeout=60) for _ in range(clients)]
    fetch = lambda client, n: len(connections[client].get(files[(client + n) % len(files)]).content)
    sizes, elapsed = measure.back_to_back(clients, seconds, fetch)
    for connection in connections:
        connection.close()
    rate = dict(clients=clients, files=len(files), requests_per_s=round(len(sizes) / elapsed, 1))
    return rate | dict(megabytes_per_s=round(sum(sizes) / elapsed / 1e6, 1))
