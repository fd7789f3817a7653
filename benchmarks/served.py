"""The served, load, fairness and browser sections (report.SECTIONS says what they measure): app.py and a trivial
Gradio app with the same API and queue and no model (`python -m benchmarks.served --port N`), children on
127.0.0.1; every load client is its own visitor (its own X-Forwarded-For address)."""

import contextlib
import os
import random
import shutil
import string
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

from benchmarks import measure
from benchmarks.report import INTERACTIONS
from inference import InputError

TIMED_CLICK = Path(__file__).with_name("timed_click.js")
NORMAL_TEXT = "A dog runs on the beach."  # the fairness section's normal visitor
# Milliseconds from navigation until the first bmm picture is drawn (the worked example the page opens on).
FIRST_PICTURE = """new MutationObserver((_, observer) => {
  if (document.querySelector("#bmm-picture .bmm-pic")) { window.firstPictureMs = performance.now(); observer.disconnect(); }
}).observe(document, {childList: true, subtree: true});"""
# What the trivial app answers: roughly the shape of a real answer for a short sentence.
CONSTANT = dict(pair="en-de", source="A dog runs.", translation="Ein Hund rennt.")
CONSTANT |= dict(source_tokens="▁A ▁dog ▁runs . </s>".split(), target_tokens="▁Ein ▁Hund ▁rennt . </s>".split())
CONSTANT |= dict(target_ids=[10, 11, 12, 13, 3], attention=[[0.2] * 5] * 5, token_probs=[0.9] * 5)
CONSTANT |= dict(alternatives=[[{"token": "▁Ein", "prob": 0.9}] * 5] * 5, nbest=[], score=-0.5, normalized_score=-0.5)
CONSTANT |= dict(finished=True, decoding={"mode": "greedy"}, timing_ms={"total": 0.0})


def visitor(client: int) -> dict:
    """Headers making load client `client` its own visitor (the app allows each address a few queued requests)."""
    return {"x-forwarded-for": f"10.0.{client // 256}.{client % 256}"}


def call(client: httpx.Client, base: str, text: str, headers=None, api="translate", beam=1) -> tuple[str, str]:
    """One /translate (or /explain) request through the queue: ("ok" | "queue full" | "refused" | "error",
    detail). Every parameter is sent (text, pair "" = the default, the beam, length_penalty None = the tuned
    one, max_len 0 = auto): Gradio's plain HTTP API fills in no defaults. "refused": HTTP 429 or the gate's
    busy message (page/gate.py)."""
    response = client.post(f"{base}gradio_api/call/{api}", json={"data": [text, "", beam, None, 0]}, headers=headers)
    if response.status_code != 200:
        if response.status_code in (429, 503):
            return ("refused", response.text[:200]) if response.status_code == 429 else ("queue full", "")
        return "error", f"HTTP {response.status_code}: {response.text[:200]}"
    event, data = answer_event(client, base, api, response)
    if event is None:
        return "error", "the event stream ended without an answer"
    if event == "complete":
        return "ok", ""
    return ("refused" if "busy" in data.lower() else "error"), data[:200]


def answer_event(client: httpx.Client, base: str, api: str, response: httpx.Response) -> tuple[str | None, str]:
    """The queued call's answer from its event stream: ("complete" | "error", its data), or (None, "") when the
    stream ends without one."""
    with client.stream("GET", f"{base}gradio_api/call/{api}/{response.json()['event_id']}") as stream:
        event = None
        for line in stream.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                return event, line[5:].strip()
    return None, ""


class Server:
    """app.py on the CPU serving only bundle_dir (a link in a temporary assets folder), or else the trivial app: a
    child process on a free port; `cold_start_s` = process start to its first answer."""

    def __init__(self, probe_text: str, bundle_dir=None, pair: str = "", timeout: float = 180.0):
        self.name, port = "app" if bundle_dir else "trivial", measure.free_port()
        self.url, self.log = f"http://127.0.0.1:{port}/", tempfile.TemporaryFile()
        self.assets = Path(tempfile.mkdtemp(prefix="bench-assets-")) if bundle_dir else None
        if bundle_dir:
            (self.assets / pair).symlink_to(Path(bundle_dir).resolve(), target_is_directory=True)
        command = ["app.py", "--assets", str(self.assets), "--device", "cpu"] if bundle_dir else ["-m", __name__]
        started, env = time.perf_counter(), dict(os.environ, GRADIO_ANALYTICS_ENABLED="False")
        out = dict(stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=measure.ROOT)
        self.process = subprocess.Popen([sys.executable, *command, "--port", str(port)], **out)
        with httpx.Client(timeout=30) as client:
            while self.process.poll() is None and time.perf_counter() - started < timeout:
                with contextlib.suppress(httpx.HTTPError):  # not listening yet
                    outcome, detail = call(client, self.url, probe_text)
                    if outcome == "ok":
                        self.cold_start_s = round(time.perf_counter() - started, 3)
                        return
                    if outcome == "error":
                        self.stop()
                        raise RuntimeError(f"{self.name} answered its first request with an error: {detail}")
                time.sleep(0.05)
        self.log.seek(0)
        log = self.log.read().decode("utf-8", errors="replace")[-1500:]
        self.stop()
        raise RuntimeError(f"{self.name} did not answer within {timeout:.0f} s; its log:\n{log}")

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


def load_run(server: Server, texts: list[str], clients: int, seconds: float) -> dict:
    """`clients` threads sending /translate back to back for `seconds` (a refused one waits 50 ms, as a polite
    client would): counts, answer latency, the server's memory."""
    connections, pid = [httpx.Client(timeout=120) for _ in range(clients)], server.process.pid
    rss_before = measure.rss_mib(pid)

    def one(client: int, n: int) -> tuple[str, str, float]:
        text = texts[(client + n * clients) % len(texts)]
        try:
            took, (outcome, detail) = measure.timed(call, connections[client], server.url, text, visitor(client))
        except httpx.HTTPError as error:
            took, outcome, detail = 0.0, "error", f"{type(error).__name__}: {error}"[:200]
        if outcome == "queue full":
            time.sleep(0.05)
        return outcome, detail, took

    outcomes, elapsed = measure.back_to_back(clients, seconds, one)
    for connection in connections:
        connection.close()
    counts, latencies = Counter(o[0] for o in outcomes), [took for outcome, _, took in outcomes if outcome == "ok"]
    examples = sorted({detail for outcome, detail, _ in outcomes if outcome != "ok" and detail})[:3]
    run = dict(server=server.name, clients=clients, seconds=round(elapsed, 2), answers=counts["ok"])
    run |= dict(answers_per_s=round(counts["ok"] / elapsed, 2), queue_full=counts["queue full"], errors=counts["error"])
    run |= dict(answer_median_ms=measure.ms(latencies), answer_p99_ms=measure.ms(latencies, 99, 1))
    return run | dict(rss_before_mib=rss_before, rss_after_mib=measure.rss_mib(pid), error_examples=examples)


def served_section(bundle_dir, pair: str, texts: list[str], clients=8, seconds=10.0, cold_starts=2) -> tuple:
    """Trivial app and app.py alternately: best cold start and one load run each; returns the app still running."""
    cold, rows = {"trivial": [], "app": []}, []
    for repeat in range(cold_starts):
        for name in cold:
            server = Server(texts[0], bundle_dir if name == "app" else None, pair)
            cold[name].append(server.cold_start_s)
            if repeat == cold_starts - 1:
                rows.append({**load_run(server, texts, clients, seconds), "cold_start_best_s": min(cold[name])})
            if name == "trivial" or repeat < cold_starts - 1:
                server.stop()
    return {"rows": rows, "cold_starts_s": cold}, server  # the last round's app, still running


def load_section(server: Server, texts: list[str], clients=(8, 64), seconds: float = 5.0) -> dict:
    from page.limits import CONCURRENCY, QUEUE_SIZE

    rows = [load_run(server, texts, n, seconds) for n in clients]
    return {"queue_size": QUEUE_SIZE, "concurrency": CONCURRENCY, "rows": rows}


def costly_text(translator, limit_chars: int = 300, seed: int = 0) -> str:
    """Made-up four-letter words up to the model's token limit or 300 characters: the longest valid input,
    whose translation does not stop early."""
    rng, words = random.Random(seed), []
    while len(candidate := " ".join(words + ["".join(rng.choices(string.ascii_lowercase, k=4))])) <= limit_chars:
        try:
            translator.source_ids(candidate)
        except InputError:
            break
        words = candidate.split()
    return " ".join(words)


def fairness_section(server: Server, costly: str, counts=(0, 8, 40), seconds: float = 8.0) -> dict:
    """One normal visitor sends greedy /translate of a short sentence back to back while `count` other visitors
    send the costliest valid requests (beam 10 on `costly`, half to /explain): the normal visitor's answers and
    latency, what the costly ones got, the server's memory."""
    rows = []
    for count in counts:
        connections, rss_before = (
            [httpx.Client(timeout=300) for _ in range(count + 1)],
            measure.rss_mib(server.process.pid),
        )

        def one(client: int, n: int) -> tuple[str, str, float]:
            api, beam = ("translate", 1) if client == 0 else (("explain", "translate")[client % 2], 10)
            took, (outcome, detail) = measure.timed(
                call,
                connections[client],
                server.url,
                NORMAL_TEXT if client == 0 else costly,
                visitor(client),
                api,
                beam,
            )
            if outcome != "ok" and client:
                time.sleep(0.05)
            return client, outcome, took if outcome == "ok" else detail

        outcomes, elapsed = measure.back_to_back(count + 1, seconds, one)
        for connection in connections:
            connection.close()
        normal = [took for client, outcome, took in outcomes if client == 0 and outcome == "ok"]
        costly_counts = Counter(outcome for client, outcome, _ in outcomes if client)
        row = dict(costly_clients=count, seconds=round(elapsed, 1), normal_answers=len(normal))
        row |= dict(normal_p50_ms=measure.ms(normal, 50, 1), normal_p95_ms=measure.ms(normal, 95, 1))
        row |= {f"costly_{k.replace(' ', '_')}": costly_counts[k] for k in ("ok", "refused", "queue full", "error")}
        rows.append(row | dict(rss_before_mib=rss_before, rss_after_mib=measure.rss_mib(server.process.pid)))
    return {"costly_text_chars": len(costly), "rows": rows}


def browser_section(url: str, sentences: list[str], page_loads=5, translations=10, switches_per_translation=3) -> dict:
    """Fresh pages, one first translation each; on the first page also later translations, each followed by step
    switches (the next target token, wrapping). timed_click.js times each click, here in seconds: {"page": s}, for a
    step also "panel" (the server's bmm panel) and "picture" (the bmm picture, when the page has one)."""

    def click(page, selector: str, kind: str, index: int = 0) -> dict:
        arg = {"selector": selector, "index": index, "kind": kind, "timeout": 60_000}
        return {key: value / 1e3 for key, value in page.evaluate(TIMED_CLICK.read_text(encoding="utf-8"), arg).items()}

    def translate(page, text: str) -> float:
        page.locator("#source textarea").fill(text)
        return click(page, "#translate", "translate")["page"]

    def switch_steps(page) -> list[dict]:
        steps = page.locator("#heatmap .bmm-hm-step")
        current = steps.evaluate_all("buttons => buttons.findIndex(b => b.getAttribute('aria-checked') === 'true')")
        switches = range(1, switches_per_translation + 1) if steps.count() > 1 else []
        return [click(page, "#heatmap .bmm-hm-step", "step", (current + k) % steps.count()) for k in switches]

    def visit(browser) -> dict:
        first, later, steps, pictures = [], [], [], []
        for load in range(page_loads):
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(60_000)
            page.add_init_script(FIRST_PICTURE)
            page.goto(url)
            page.locator("#translate").wait_for()
            pictures.append(page.wait_for_function("window.firstPictureMs").json_value() / 1e3)
            first.append(translate(page, sentences[load % len(sentences)]))
            if load == 0:  # one longer visit: later translations, and step switches after each
                steps += switch_steps(page)
                for k in range(1, translations + 1):
                    later.append(translate(page, sentences[k % len(sentences)]))
                    steps += switch_steps(page)
            page.close()
        step, panel, redraw = ([t[key] for t in steps if key in t] for key in ("page", "panel", "picture"))
        timings = zip(INTERACTIONS.values(), (first, later, step, panel, pictures, redraw))
        rows = [{"interaction": name, **measure.summary_ms(times)} for name, times in timings]
        return {"chromium": browser.version, "rows": rows}

    return measure.in_chromium(visit)


def serve_trivial(port: int) -> None:
    """The trivial app: a `translate` API that ignores its input and answers CONSTANT at once, app.py's queue."""
    import gradio as gr

    from page.limits import CONCURRENCY, QUEUE_SIZE

    def translate(text: str, pair: str = "", beam_size: int = 1, length_penalty: float = 0.6, max_len: int = 0):
        return CONSTANT

    with gr.Blocks() as demo:
        gr.Markdown("Trivial app: the benchmark's ceiling for Gradio itself.")
        gr.api(translate, api_name="translate")
    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=CONCURRENCY)
    demo.launch(server_name="127.0.0.1", server_port=port, ssr_mode=False)


if __name__ == "__main__":  # the trivial app: python -m benchmarks.served --port N
    serve_trivial(int(sys.argv[2]))
