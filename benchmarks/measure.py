"""Small pure helpers every section shares: percentiles, paired ratios, a time budget, and the facts about
this machine and its software that a results table must carry to be read later."""
from __future__ import annotations

import os
import platform
import time
from importlib import metadata

PACKAGES = ("numpy", "onnxruntime", "torch", "tokenizers", "sacrebleu", "gradio", "gradio_client", "onnx", "datasets")


def percentile(values, q: float) -> float | None:
    """The q-th percentile (0..100) with linear interpolation between order statistics (numpy's default).

    Plain Python so the tests can check it by hand; None for no values.
    """
    data = sorted(float(v) for v in values)
    if not data:
        return None
    position = (len(data) - 1) * q / 100.0
    low = int(position)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (position - low)


def median(values) -> float | None:
    return percentile(values, 50)


def summarize(seconds: list[float], tokens: list[int]) -> dict:
    """Per-sentence latencies (s) and output tokens -> median/p90 ms, ms per token, tokens/s."""
    total_s, total_tokens = sum(seconds), sum(tokens)
    return {"sentences": len(seconds),
            "median_ms": _ms(median(seconds)), "p90_ms": _ms(percentile(seconds, 90)),
            "mean_ms": _ms(total_s / len(seconds)) if seconds else None,
            "ms_per_token": round(1e3 * total_s / total_tokens, 3) if total_tokens else None,
            "tokens_per_s": round(total_tokens / total_s, 1) if total_s > 0 else None}


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1e3, 3)


def paired_ratio(numerator: list[float], denominator: list[float]) -> float | None:
    """median(numerator) / median(denominator) over the sentences both lists measured (a common prefix).

    Both lists hold one time per sentence in the same sentence order, so cut-short cells still compare
    like with like.
    """
    n = min(len(numerator), len(denominator))
    if n == 0:
        return None
    top, bottom = median(numerator[:n]), median(denominator[:n])
    return round(top / bottom, 3) if bottom else None


class Budget:
    """A soft wall-clock budget: work checks `expired` between units and stops cleanly."""

    def __init__(self, seconds: float | None):
        self.seconds = seconds
        self.start = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    @property
    def expired(self) -> bool:
        return self.seconds is not None and self.elapsed >= self.seconds


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def machine() -> dict:
    """CPU, cores usable by this process, memory, OS and the load average (how busy the machine is now)."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {"cpu": _cpu_model(), "logical_cpus": os.cpu_count(), "usable_cpus": usable,
            "memory_gib": _memory_gib(), "os": platform.platform(), "python": platform.python_version(),
            "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None}


def versions() -> dict:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def peak_rss_mib(pid: int) -> float | None:
    """Peak resident set size (VmHWM) of a live process, from /proc (no psutil needed)."""
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None
