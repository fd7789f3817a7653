"""The served app as its users reach it: app.py in a child process on 127.0.0.1, called over plain HTTP
through Gradio's queue with the documented `/translate` API (POST .../call/translate, then read the
event stream), against benchmarks/trivial_app.py (same API, same queue settings, no model).

served: cold start (process start -> first answer) and one load run of 8 clients, app and trivial app.
load: app.py alone under 8 and 64 clients: answers, errors, "queue full" refusals (the queue holds
QUEUE_SIZE requests by design; a refused client waits 50 ms before it asks again, as a polite client
would), and the server's resident memory before and after.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np

from benchmarks.measure import rss_mib, summary_ms

ROOT = Path(__file__).resolve().parent.parent


def call(client: httpx.Client, base: str, text: str) -> tuple[str, str]:
    """One greedy /translate request through the queue: ("ok" | "queue full" | "error", detail).

    Every parameter is sent (text, pair "" = the default, beam_size 1, length_penalty None = the tuned
    one, max_len 0 = auto): Gradio's plain HTTP API fills in no defaults."""
    response = client.post(f"{base}gradio_api/call/translate", json={"data": [text, "", 1, None, 0]})
    if response.status_code == 503:
        return "queue full", ""
    if response.status_code != 200:
        return "error", f"HTTP {response.status_code}: {response.text[:200]}"
    event_id = response.json()["event_id"]
    with client.stream("GET", f"{base}gradio_api/call/translate/{event_id}") as stream:
        event = None
        for line in stream.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                return ("ok", "") if event == "complete" else ("error", line[5:].strip()[:200])
    return "error", "the event stream ended without an answer"


class Server:
    """A child process serving on a free port; `cold_start_s` = process start to its first answer."""

    def __init__(self, name: str, command: list[str], probe_text: str, assets: Path | None = None, timeout: float = 180.0):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.name, self.url, self.assets = name, f"http://127.0.0.1:{self.port}/", assets
        self.log = tempfile.TemporaryFile()
        started = time.perf_counter()
        self.process = subprocess.Popen(command + ["--port", str(self.port)], cwd=ROOT, stdout=self.log,
                                        stderr=subprocess.STDOUT, env=dict(os.environ, GRADIO_ANALYTICS_ENABLED="False"))
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
    return Server("app", [sys.executable, str(ROOT / "app.py"), "--assets", str(assets), "--device", "cpu"],
                  probe_text, assets)


def start_trivial(probe_text: str) -> Server:
    from app import CONCURRENCY, QUEUE_SIZE  # the same queue as the app's

    return Server("trivial", [sys.executable, str(ROOT / "benchmarks" / "trivial_app.py"),
                              "--queue-size", str(QUEUE_SIZE), "--concurrency", str(CONCURRENCY)], probe_text)


def load_run(server: Server, texts: list[str], clients: int, seconds: float) -> dict:
    """`clients` threads send /translate back to back for `seconds`: counts, answer latency, memory."""
    counts, latencies, examples, lock = Counter(), [], set(), threading.Lock()
    connections = [httpx.Client(timeout=120) for _ in range(clients)]  # made before the clock starts
    ready, deadline = threading.Barrier(clients + 1), [0.0]
    rss_before = rss_mib(server.process.pid)

    def client_loop(index: int) -> None:
        ready.wait()
        k = 0
        while time.perf_counter() < deadline[0]:
            tick = time.perf_counter()
            try:
                outcome, detail = call(connections[index], server.url, texts[(index + k * clients) % len(texts)])
            except httpx.HTTPError as error:
                outcome, detail = "error", f"{type(error).__name__}: {error}"[:200]
            k += 1
            with lock:
                counts[outcome] += 1
                if outcome == "ok":
                    latencies.append(time.perf_counter() - tick)
                elif detail:
                    examples.add(detail)
            if outcome == "queue full":
                time.sleep(0.05)

    threads = [threading.Thread(target=client_loop, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    start = time.perf_counter()
    deadline[0] = start + seconds
    ready.wait()
    for thread in threads:
        thread.join()
    for connection in connections:
        connection.close()
    elapsed = time.perf_counter() - start
    answer = summary_ms(latencies)
    return {"server": server.name, "clients": clients, "seconds": round(elapsed, 2), "answers": counts["ok"],
            "answers_per_s": round(counts["ok"] / elapsed, 2), "queue_full": counts["queue full"],
            "errors": counts["error"], "answer_median_ms": answer["median_ms"],
            "answer_p99_ms": round(float(np.percentile(latencies, 99)) * 1e3, 1) if latencies else None,
            "rss_before_mib": rss_before, "rss_after_mib": rss_mib(server.process.pid),
            "rss_peak_mib": rss_mib(server.process.pid, "VmHWM"), "error_examples": sorted(examples)[:3]}


def served_section(bundle_dir: Path, pair: str, texts: list[str], clients: int = 8, seconds: float = 10.0,
                   cold_starts: int = 2) -> tuple[dict, Server]:
    """Trivial app and app.py alternately: best cold start and one load run each; returns the app still running."""
    starts = {"trivial": lambda: start_trivial(texts[0]), "app": lambda: start_app(bundle_dir, pair, texts[0])}
    cold, rows, app = {"trivial": [], "app": []}, [], None
    for repeat in range(cold_starts):
        for name, start in starts.items():
            server = start()
            cold[name].append(server.cold_start_s)
            if repeat < cold_starts - 1:
                server.stop()
                continue
            rows.append({**load_run(server, texts, clients, seconds), "cold_start_best_s": min(cold[name])})
            if name == "app":
                app = server
            else:
                server.stop()
    return {"rows": rows, "cold_starts_s": cold}, app


def load_section(server: Server, texts: list[str], clients=(8, 64), seconds: float = 5.0) -> dict:
    from app import CONCURRENCY, QUEUE_SIZE

    return {"queue_size": QUEUE_SIZE, "concurrency": CONCURRENCY,
            "rows": [load_run(server, texts, n, seconds) for n in clients]}
