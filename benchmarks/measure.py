"""What every section shares: summary statistics (numpy's), the machine and package versions a results
table must carry to be read later, and a process's memory from /proc."""
from __future__ import annotations

import os
import platform
from importlib import metadata

import numpy as np

PACKAGES = ("numpy", "onnxruntime", "torch", "tokenizers", "gradio", "gradio_client", "playwright")


def summary_ms(seconds) -> dict:
    """Count, median and 90th percentile (numpy's linear interpolation) of times in seconds, as ms."""
    values = np.asarray(list(seconds), dtype=float) * 1e3
    if values.size == 0:
        return {"n": 0, "median_ms": None, "p90_ms": None}
    return {"n": int(values.size), "median_ms": round(float(np.median(values)), 3),
            "p90_ms": round(float(np.percentile(values, 90)), 3)}


def median_ratio(slow, fast) -> float | None:
    """median(slow) / median(fast): how many times faster `fast` is (None when either is empty)."""
    if len(slow) == 0 or len(fast) == 0 or np.median(fast) == 0:
        return None
    return round(float(np.median(slow) / np.median(fast)), 3)


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {"cpu": cpu, "usable_cpus": len(os.sched_getaffinity(0)), "python": platform.python_version(),
            "os": platform.platform(), "load_average": [round(x, 2) for x in os.getloadavg()]}


def versions() -> dict:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def rss_mib(pid: int, field: str = "VmRSS") -> float | None:
    """Resident memory (VmRSS) or its peak (VmHWM) of a live process in MiB, from /proc/PID/status."""
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None
