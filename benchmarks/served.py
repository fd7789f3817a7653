"""The served, load and browser sections: app.py in a child process on 127.0.0.1, called over plain HTTP
through Gradio's queue with the documented `/translate` API (POST .../call/translate, then read the event
stream), against a trivial Gradio app with the same API and queue settings and no model (`python -m
benchmarks.served --port N` serves it), whose cost is Gradio's own; then the page in headless Chromium
(Playwright, the system's chromium), each interaction timed inside the page by timed_click.js: from the
click until a MutationObserver sees the result drawn (a translation: a new heatmap and a filled translation
box; a step switch: the heatmap marking the step, in the browser, and the server's bmm panel following).
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

from benchmarks.measure import ROOT, rss_mib, summary_ms

TIMED_CLICK = Path(__file__).with_name("timed_click.js")
# Milliseconds from navigation until the first bmm picture is drawn (the worked example the page opens on).
FIRST_PICTURE = """new MutationObserver((_, observer) => {
  if (document.querySelector("#bmm-picture .bmm-pic")) { window.firstPictureMs = performance.now(); observer.disconnect(); }
}).observe(document, {childList: true, subtree: true});"""

# What the trivial app answers: roughly the shape of a real answer for a short sentence.
CONSTANT = {
    "pair": "en-de",
    "source": "A dog runs.",
    "translation": "Ein Hund rennt.",
    "source_tokens": ["▁A", "▁dog", "▁runs", ".", "</s>"],
    "target_tokens": ["▁Ein", "▁Hund", "▁rennt", ".", "</s>"],
    "target_ids": [10, 11, 12, 13, 3],
    "attention": [[0.2] * 5 for _ in range(5)],
    "token_probs": [0.9] * 5,
    "alternatives": [[{"token": "▁Ein", "prob": 0.9}] * 5 for _ in range(5)],
    "nbest": [],
    "score": -0.5,
    "normalized_score": -0.5,
    "finished": True,
    "decoding": {"mode": "greedy"},
    "timing_ms": {"total": 0.0},
}


def call(client: httpx.Client, base: str, text: str) -> tuple[str, str]:
    """One greedy /translate request through the queue: ("ok" | "queue full" | "error", detail). Every parameter
    is sent (text, pair "" = the default, beam 1, length_penalty None = the tuned one, max_len 0 = auto):
    Gradio's plain HTTP API fills in no defaults."""
    response = client.post(f"{base}gradio_api/call/translate", json={"data": [text, "", 1, None, 0]})
    if response.status_code == 503:
        return "queue full", ""
    if response.status_code != 200:
        return "error", f"HTTP {response.status_code}: {response.text[:200]}"
    with client.stream("GET", f"{base}gradio_api/call/translate/{response.json()['event_id']}") as stream:
        event = None
        for line in stream.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                return ("ok", "") if event == "complete" else ("error", line[5:].strip()[:200])
    return "error", "the event stream ended without an answer"


class Server:
    """A child process serving on a free port; `cold_start_s` = process start to its first answer."""

    def __init__(self, name: str, command: list[str], probe_text: str, assets: Path | None = None, timeout=180.0):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.name, self.url, self.assets = name, f"http://127.0.0.1:{port}/", assets
        self.log = tempfile.TemporaryFile()
        started = time.perf_counter()
        env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False")
        self.process = subprocess.Popen(
            command + ["--port", str(port)], cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT, env=env
        )
        with httpx.Client(timeout=30) as client:
            while self.process.poll() is None and time.perf_counter() - started < timeout:
                try:
                    outcome, detail = call(client, self.url, probe_text)
                except httpx.HTTPError:  # not listening yet
                    outcome, detail = "", ""
                if outcome == "ok":
                    self.cold_start_s = round(time.perf_counter() - started, 3)
                    return
                if outcome == "error":
                    self.stop()
                    raise RuntimeError(f"{name} answered its first request with an error: {detail}")
                time.sleep(0.05)
        self.log.seek(0)
        log = self.log.read().decode("utf-8", errors="replace")[-1500:]
        self.stop()
        raise RuntimeError(f"{name} did not answer within {timeout:.0f} s; its log:\n{log}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        if self.assets is not None:
            shutil.rmtree(self.assets, ignore_errors=True)  # the link inside, never the bundle it points to


def start_app(bundle_dir: Path, pair: str, probe_text: str) -> Server:
    """app.py serving only this bundle (a temporary assets folder holding a link to it), on the CPU."""
    assets = Path(tempfile.mkdtemp(prefix="bench-assets-"))
    (assets / pair).symlink_to(Path(bundle_dir).resolve(), target_is_directory=True)
    return Server(
        "app", [sys.executable, str(ROOT / "app.py"), "--assets", str(assets), "--device", "cpu"], probe_text, assets
    )


def start_trivial(probe_text: str) -> Server:
    from page.limits import CONCURRENCY, QUEUE_SIZE  # the same queue as the app's

    return Server(
        "trivial",
        [sys.executable, "-m", "benchmarks.served", "--queue-size", str(QUEUE_SIZE), "--concurrency", str(CONCURRENCY)],
        probe_text,
    )


def load_run(server: Server, texts: list[str], clients: int, seconds: float) -> dict:
    """`clients` threads send /translate back to back for `seconds` (a refused one waits 50 ms, as a polite
    client would): counts, answer latency, the server's memory."""
    connections = [httpx.Client(timeout=120) for _ in range(clients)]  # made before the clock starts
    rss_before = rss_mib(server.process.pid)

    def client_loop(index: int, deadline: float) -> list[tuple[str, str, float]]:
        outcomes = []
        while time.perf_counter() < deadline:
            tick, text = time.perf_counter(), texts[(index + len(outcomes) * clients) % len(texts)]
            try:
                outcome, detail = call(connections[index], server.url, text)
            except httpx.HTTPError as error:
                outcome, detail = "error", f"{type(error).__name__}: {error}"[:200]
            outcomes.append((outcome, detail, time.perf_counter() - tick))
            if outcome == "queue full":
                time.sleep(0.05)
        return outcomes

    with ThreadPoolExecutor(clients) as pool:
        start = time.perf_counter()
        outcomes = [o for done in pool.map(client_loop, range(clients), [start + seconds] * clients) for o in done]
    elapsed = time.perf_counter() - start
    for connection in connections:
        connection.close()
    counts = Counter(outcome for outcome, _, _ in outcomes)
    latencies = [seconds for outcome, _, seconds in outcomes if outcome == "ok"]
    return {
        "server": server.name,
        "clients": clients,
        "seconds": round(elapsed, 2),
        "answers": counts["ok"],
        "answers_per_s": round(counts["ok"] / elapsed, 2),
        "queue_full": counts["queue full"],
        "errors": counts["error"],
        "answer_median_ms": summary_ms(latencies)["median_ms"],
        "answer_p99_ms": round(float(np.percentile(latencies, 99)) * 1e3, 1) if latencies else None,
        "rss_before_mib": rss_before,
        "rss_after_mib": rss_mib(server.process.pid),
        "rss_peak_mib": rss_mib(server.process.pid, "VmHWM"),
        "error_examples": sorted({detail for outcome, detail, _ in outcomes if outcome != "ok" and detail})[:3],
    }


def served_section(
    bundle_dir: Path, pair: str, texts: list[str], clients: int = 8, seconds: float = 10.0, cold_starts: int = 2
) -> tuple[dict, Server]:
    """Trivial app and app.py alternately: best cold start and one load run each; returns the app still running."""
    starts = {"trivial": lambda: start_trivial(texts[0]), "app": lambda: start_app(bundle_dir, pair, texts[0])}
    cold, rows = {"trivial": [], "app": []}, []
    for repeat in range(cold_starts):
        for name, start in starts.items():
            server = start()
            cold[name].append(server.cold_start_s)
            if repeat == cold_starts - 1:
                rows.append({**load_run(server, texts, clients, seconds), "cold_start_best_s": min(cold[name])})
            if name == "trivial" or repeat < cold_starts - 1:
                server.stop()
    return {"rows": rows, "cold_starts_s": cold}, server  # the last round's app, still running


def load_section(server: Server, texts: list[str], clients=(8, 64), seconds: float = 5.0) -> dict:
    from page.limits import CONCURRENCY, QUEUE_SIZE

    return {
        "queue_size": QUEUE_SIZE,
        "concurrency": CONCURRENCY,
        "rows": [load_run(server, texts, n, seconds) for n in clients],
    }


def _timed(page, selector: str, kind: str, index: int = 0) -> dict:
    """Seconds from clicking the index-th `selector` until it is drawn: {"page": s} or {"page": s, "panel": s}."""
    arg = {"selector": selector, "index": index, "kind": kind, "timeout": 60_000}
    return {key: ms / 1e3 for key, ms in page.evaluate(TIMED_CLICK.read_text(encoding="utf-8"), arg).items()}


def _translate(page, text: str) -> float:
    page.locator("#source textarea").fill(text)
    return _timed(page, "#translate", "translate")["page"]


def _switch_steps(page, switches: int) -> list[dict]:
    """Select the next target token `switches` times (wrapping), each timed."""
    steps = page.locator("#heatmap .bmm-hm-step")
    if steps.count() < 2:
        return []
    current = steps.evaluate_all("buttons => buttons.findIndex(b => b.getAttribute('aria-checked') === 'true')")
    return [
        _timed(page, "#heatmap .bmm-hm-step", "step", (current + k) % steps.count()) for k in range(1, switches + 1)
    ]


def browser_section(
    url: str, sentences: list[str], page_loads: int = 5, translations: int = 10, switches_per_translation: int = 3
) -> dict:
    """Fresh pages, one first translation each; on the first page also later translations and step switches."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return {"skipped": "chromium is not installed (apt-get install chromium)"}
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    first, later, steps, pictures = [], [], [], []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            for load in range(page_loads):
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.set_default_timeout(60_000)
                page.add_init_script(FIRST_PICTURE)
                page.goto(url)
                page.locator("#translate").wait_for()
                page.wait_for_function("window.firstPictureMs !== undefined")
                pictures.append(page.evaluate("window.firstPictureMs") / 1e3)
                first.append(_translate(page, sentences[load % len(sentences)]))
                if load == 0:  # one longer visit: later translations, and step switches after each
                    steps += _switch_steps(page, switches_per_translation)
                    for k in range(1, translations + 1):
                        later.append(_translate(page, sentences[k % len(sentences)]))
                        steps += _switch_steps(page, switches_per_translation)
                page.close()
            browser.close()
    except PlaywrightError as error:  # a page that never drew its result: say so, keep the other sections
        return {"error": f"the browser run stopped: {str(error).splitlines()[0]}"}
    timed = {
        "first translation on a fresh page, to heatmap": first,
        "later translation, to heatmap": later,
        "step switch, heatmap (in the page)": [t["page"] for t in steps],
        "step switch, bmm panel (server round trip)": [t["panel"] for t in steps],
        "first bmm picture after load (from navigation)": pictures,
        "step switch, bmm picture (in the page)": [t["picture"] for t in steps if "picture" in t],
    }
    return {"chromium": chromium, "rows": [{"interaction": name, **summary_ms(t)} for name, t in timed.items()]}


def serve_trivial(argv=None) -> None:
    """The trivial app: a `translate` API that ignores its input and answers CONSTANT at once."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.served", description=serve_trivial.__doc__)
    p.add_argument("--port", type=int, default=7870, help="port on 127.0.0.1 (default: %(default)s)")
    p.add_argument("--queue-size", type=int, default=32, help="queue max_size, as in app.py (default: %(default)s)")
    p.add_argument("--concurrency", type=int, default=2, help="concurrency limit, as in app.py (default: %(default)s)")
    args = p.parse_args(argv)
    import gradio as gr

    def translate(text: str, pair: str = "", beam_size: int = 1, length_penalty: float = 0.6, max_len: int = 0):
        return CONSTANT

    with gr.Blocks() as demo:
        gr.Markdown("Trivial app: the benchmark's ceiling for Gradio itself.")
        gr.api(translate, api_name="translate")
    demo.queue(max_size=args.queue_size, default_concurrency_limit=args.concurrency)
    demo.launch(server_name="127.0.0.1", server_port=args.port, ssr_mode=False)


if __name__ == "__main__":
    serve_trivial()
