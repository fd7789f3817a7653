"""What every section shares: a stopwatch, numpy's statistics, cells taking turns, a child process answering
in JSON, and the machine and package versions a results table must carry to be read later."""

import contextlib
import json
import os
import platform
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = "numpy onnxruntime torch tokenizers gradio gradio_client playwright".split()


def timed(work, *args, **kwargs) -> tuple[float, object]:
    """(seconds, result) of one call of work(*args, **kwargs)."""
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


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    usable, python, system = len(os.sched_getaffinity(0)), platform.python_version(), platform.platform()
    return {"cpu": cpu, "usable_cpus": usable, "python": python, "os": system, "load_average": load_average()}


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def versions() -> dict:
    found = {}
    for name in PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    return found


def rss_mib(pid: int, field: str = "VmRSS") -> float | None:
    """Resident memory (VmRSS) or its peak (VmHWM) of a live process in MiB, from /proc/PID/status."""
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status", encoding="utf-8") as f:
        return next((round(int(line.split()[1]) / 1024, 1) for line in f if line.startswith(field + ":")), None)
    return None
