"""Section 4: the served app against Gradio's own ceiling, both as child processes on 127.0.0.1.

Cold start: process start -> first successful `/translate` answer through gradio_client. Load: N client
threads, each with its own gradio_client.Client, call `/translate` back to back for a fixed time. Peak
server memory is VmHWM from /proc/PID/status. app.py and benchmarks/trivial_app.py run alternately with
the same queue settings (read from app.py), the same clients and the same sentences.
"""
from __future__ import annotations

import ast
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from tqdm import tqdm

from benchmarks.measure import peak_rss_mib, percentile

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app.py"
TRIVIAL_APP = Path(__file__).resolve().parent / "trivial_app.py"


def app_queue_settings(app_path=APP) -> dict:
    """QUEUE_SIZE and CONCURRENCY as app.py defines them (read from its source, not imported)."""
    found = {"queue_size": 32, "concurrency": 2}
    names = {"QUEUE_SIZE": "queue_size", "CONCURRENCY": "concurrency"}
    for node in ast.parse(Path(app_path).read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id in names:
                    found[names[target.id]] = node.value.value
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _client(url: str):
    from gradio_client import Client

    return Client(url, verbose=False)


def ask(client, text: str):
    """One API call as a user of app.py's documented interface makes it."""
    return client.predict(text, api_name="/translate")


class Server:
    """A child process serving on 127.0.0.1:port, its log in a temp file."""

    def __init__(self, command: list[str], port: int, name: str):
        self.name, self.port, self.url = name, port, f"http://127.0.0.1:{port}/"
        self.log = tempfile.NamedTemporaryFile(prefix=f"bench-{name}-", suffix=".log", delete=False)
        env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1")
        self.started = time.perf_counter()
        self.process = subprocess.Popen(command, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT, env=env)

    def wait_first_answer(self, text: str, timeout: float) -> float:
        """Seconds from process start to the first successful answer; raises with the log tail on failure."""
        last_error = None
        while time.perf_counter() - self.started < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                ask(_client(self.url), text)
                return time.perf_counter() - self.started
            except Exception as error:  # not listening yet, or still loading
                last_error = error
                time.sleep(0.05)
        raise RuntimeError(f"{self.name} gave no answer in {timeout:.0f} s ({last_error!r}):\n{self.log_tail()}")

    def log_tail(self, chars: int = 2000) -> str:
        return Path(self.log.name).read_text(encoding="utf-8", errors="replace")[-chars:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        os.unlink(self.log.name)


def load_run(url: str, texts: list[str], clients: int = 8, seconds: float = 30.0) -> dict:
    """`clients` threads call /translate back to back for `seconds`; latency, throughput and errors."""
    connections = [_client(url) for _ in range(clients)]
    latencies, errors, lock = [], [], threading.Lock()
    start_gate = threading.Barrier(clients + 1)
    bar = tqdm(desc=f"load {url}", unit="req", leave=False)

    def worker(index: int) -> None:
        client, k = connections[index], 0
        start_gate.wait()
        while time.perf_counter() < deadline:
            text = texts[(index + k * clients) % len(texts)]
            k += 1
            tick = time.perf_counter()
            try:
                ask(client, text)
                with lock:
                    latencies.append(time.perf_counter() - tick)
                    bar.update()
            except Exception as error:
                with lock:
                    errors.append(f"{type(error).__name__}: {str(error)[:200]}")

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    start = time.perf_counter()
    deadline = start + seconds
    start_gate.wait()
    for thread in threads:
        thread.join(seconds + 120)
    elapsed = time.perf_counter() - start
    bar.close()
    for connection in connections:
        try:
            connection.close()
        except Exception:
            pass
    return {"clients": clients, "seconds": round(elapsed, 2), "requests": len(latencies), "errors": len(errors),
            "error_examples": sorted(set(errors))[:3], "requests_per_s": round(len(latencies) / elapsed, 2),
            "p50_ms": _ms(percentile(latencies, 50)), "p99_ms": _ms(percentile(latencies, 99))}


def _ms(value):
    return None if value is None else round(value * 1e3, 1)


def served_section(bundle_dir, texts: list[str], clients: int = 8, load_seconds: float = 30.0,
                   cold_starts: int = 2, startup_timeout: float = 180.0) -> dict:
    """Cold start (best of `cold_starts`) and one load run, for app.py and the trivial app, alternately."""
    if not APP.is_file():
        message = f"{APP} does not exist yet: served-app benchmark skipped"
        print(message)
        return {"skipped": message}
    settings = app_queue_settings()
    pair = _pair_name(bundle_dir)
    assets = Path(tempfile.mkdtemp(prefix="bench-assets-"))
    (assets / pair).symlink_to(Path(bundle_dir).resolve(), target_is_directory=True)
    commands = {
        "trivial": lambda port: [sys.executable, str(TRIVIAL_APP), "--port", str(port),
                                 "--queue-size", str(settings["queue_size"]), "--concurrency", str(settings["concurrency"])],
        "app": lambda port: [sys.executable, str(APP), "--assets", str(assets), "--port", str(port), "--device", "cpu"],
    }
    out = {"queue": settings, "clients": clients, "load_seconds": load_seconds,
           "trivial": {"cold_start_s": []}, "app": {"cold_start_s": []}}
    try:
        for repeat in range(cold_starts):
            for name, command in commands.items():
                port = free_port()
                server = Server(command(port), port, name)
                try:
                    out[name]["cold_start_s"].append(round(server.wait_first_answer(texts[0], startup_timeout), 3))
                    if repeat == cold_starts - 1:
                        out[name]["load"] = load_run(server.url, texts, clients, load_seconds)
                        out[name]["peak_rss_mib"] = peak_rss_mib(server.process.pid)
                finally:
                    server.stop()
    except RuntimeError as error:
        out["error"] = str(error)
        print(f"served-app benchmark failed: {error}")
    finally:
        (assets / pair).unlink()
        assets.rmdir()
    for name in ("trivial", "app"):
        if out[name]["cold_start_s"]:
            out[name]["cold_start_best_s"] = min(out[name]["cold_start_s"])
    return out


def _pair_name(bundle_dir) -> str:
    from inference.bundle import load_bundle

    return load_bundle(bundle_dir, verify_hashes=False).name
