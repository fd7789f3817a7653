"""What the sections share: timing, statistics, cells taking turns, clients, child processes, Chromium."""

import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def timed(work, *args, **kwargs) -> tuple[float, object]:
    tick = time.perf_counter()
    result = work(*args, **kwargs)
    return time.perf_counter() - tick, result


def ms(seconds, q: float = 50, digits: int = 3) -> float | None:
    """The q-th percentile (numpy's linear interpolation) of times in seconds, in ms; None when there are none."""
    return round(float(np.percentile(np.asarray(seconds) * 1e3, q)), digits) if len(seconds) else None


def summary_ms(seconds) -> dict:
    return {"n": len(seconds), "median_ms": ms(seconds), "p90_ms": ms(seconds, 90)}


def median_ratio(slow, fast) -> float | None:
    """median(slow) / median(fast): how many times faster `fast` is (None when either is empty)."""
    if len(slow) == 0 or len(fast) == 0 or np.median(fast) == 0:
        return None
    return round(float(np.median(slow) / np.median(fast)), 3)


def in_turns(cells: list, rounds):
    """(round, cell) for every cell in every round, the order rotating round by round: load from other
    processes then falls on all cells alike, so the ratios between cells of one run hold on a busy machine."""
    for number, item in enumerate(rounds):
        shift = number % len(cells)
        for cell in cells[shift:] + cells[:shift]:
            yield item, cell


def back_to_back(clients: int, seconds: float, call) -> tuple[list, float]:
    """`clients` threads calling call(client, calls_so_far) back to back for `seconds`: (every answer, elapsed s)."""

    def loop(client: int, deadline: float) -> list:
        answers = []
        while time.perf_counter() < deadline:
            answers.append(call(client, len(answers)))
        return answers

    with ThreadPoolExecutor(clients) as pool:
        start = time.perf_counter()
        answers = [a for done in pool.map(loop, range(clients), [start + seconds] * clients) for a in done]
    return answers, time.perf_counter() - start


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_json(command: list[str], threads: int, timeout: float = 1200):
    """The JSON on the last `{` line `command` prints, run from the repository root with `threads` BLAS threads."""
    blas = dict.fromkeys("OPENBLAS_NUM_THREADS OMP_NUM_THREADS MKL_NUM_THREADS".split(), str(threads))
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", **blas)
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"{' '.join(command[:6])} ... failed: {last}")
    return json.loads(lines[-1])


def cpu_translator(path, threads: int = 1):
    from inference.translator import Translator

    return Translator(path, device="cpu", threads=threads, verify=False)


def in_chromium(work) -> dict:
    """work(browser) in headless Chromium (the system's, under Playwright); {"skipped": why} when it is not
    installed, {"error": the first line} when a page never drew what was awaited (the other sections go on)."""
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        return {"skipped": "chromium is not installed (apt-get install chromium)"}
    from playwright.sync_api import Error, sync_playwright

    try:
        with sync_playwright() as playwright:
            return work(playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"]))
    except Error as error:
        return {"error": f"the browser run stopped: {str(error).splitlines()[0]}"}


def rss_mib(pid: int) -> float | None:
    """Resident memory of a live process in MiB, from /proc/PID/status."""
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status", encoding="utf-8") as f:
        return next((round(int(line.split()[1]) / 1024, 1) for line in f if line.startswith("VmRSS:")), None)
    return None
