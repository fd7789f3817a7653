"""The hardware floor: the least time one greedy translation could take on this machine.

From the model config: the weights the encoder (once per sentence) and one decoder step (once per output
token) multiply, so their FLOPs (2 per weight and row) and bytes. From numpy, measured in a child process
with one BLAS thread per engine thread: a 1024² matmul's GFLOP/s and the bandwidth of a matrix-vector
product over a matrix the size of the decoder step's weights. A part's floor is max(FLOPs / rate, bytes /
bandwidth). Elementwise work (gates, softmax) is left out, so this is a lower bound, not an estimate.
numpy has no int8 product: int8 only lowers the bytes, the compute side uses the fp32 rate.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np

WEIGHT_BYTES = {"torch": 4, "fp32": 4, "int8": 1}


def costs(config: dict, src_len: int, weight_bytes: int) -> tuple[dict, dict]:
    """(encoder, decoder step) FLOPs and bytes for one sentence of src_len tokens, batch 1."""
    E, H, V, S = config["embed_dim"], config["hidden_dim"], config["vocab_size"], src_len
    D, A = 2 * H, config.get("attention_dim", 0) if config["attention"] == "additive" else 0
    keys = {"dot": 0, "general": D * D, "additive": D * A}[config["attention"]]
    gru = 2 * (3 * H * E + 3 * H * H)  # the two directions of the bi-GRU (fp32 even in int8 bundles)
    encoder = {"flops": 2 * S * (gru + keys) + 2 * D * D, "bytes": 4 * gru + weight_bytes * (keys + D * D) + 4 * S * 2 * D}
    step_weights = 3 * D * E + 3 * D * D + 2 * D * E + V * E + D * A  # GRU cell, pre-output, output, query projection
    step = {"flops": 2 * step_weights + 4 * S * D, "bytes": weight_bytes * step_weights + 4 * 2 * S * D}  # + read keys, enc_out
    return encoder, step


def measure_rates(working_set_bytes: int, seconds: float = 0.3) -> dict:
    """Best numpy float32 matmul GFLOP/s and matrix-vector GB/s over `seconds` each (runs in a child)."""
    def best(work, amount):
        rate, start = 0.0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            tick = time.perf_counter()
            work()
            rate = max(rate, amount / (time.perf_counter() - tick))
        return rate / 1e9

    a = np.random.rand(1024, 1024).astype(np.float32)
    matrix = np.random.rand(max(1, working_set_bytes // 2048), 512).astype(np.float32)
    vector = np.random.rand(512).astype(np.float32)
    return {"gflops": round(best(lambda: a @ a, 2 * 1024**3), 1), "gbs": round(best(lambda: matrix @ vector, matrix.nbytes), 1)}


def rates_in_child(threads: int, working_set_bytes: int) -> dict:
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    code = f"import json; from benchmarks.floor import measure_rates; print(json.dumps(measure_rates({working_set_bytes})))"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))), check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def floor_section(config: dict, raw_cells: dict, threads=(1, 2)) -> dict:
    """Per greedy latency cell: the median of per-sentence floors, and median(measured / floor)."""
    _, step = costs(config, 20, 4)
    rates = {t: rates_in_child(t, step["bytes"]) for t in threads}
    rows = []
    for key, cell in raw_cells.items():
        variant, decoding, threads_text = key.split("/")
        t = int(threads_text.rstrip("t"))
        if decoding != "greedy" or t not in rates or not cell["seconds"]:
            continue
        # the best rate any thread count up to t reached: a t-thread engine could always use fewer
        gflops = max(r["gflops"] for n, r in rates.items() if n <= t) * 1e9
        gbs = max(r["gbs"] for n, r in rates.items() if n <= t) * 1e9
        floors = []
        for src_len, out_len in zip(cell["src_tokens"], cell["tokens"]):
            encoder, step = costs(config, src_len, WEIGHT_BYTES[variant])
            part = lambda c: max(c["flops"] / gflops, c["bytes"] / gbs)  # noqa: E731
            floors.append(part(encoder) + out_len * part(step))
        rows.append({"variant": variant, "threads": t, "floor_median_ms": round(1e3 * float(np.median(floors)), 3),
                     "measured_median_ms": round(1e3 * float(np.median(cell["seconds"])), 3),
                     "times_floor": round(float(np.median(np.divide(cell["seconds"], floors))), 2)})
    return {"rates": {str(t): r for t, r in rates.items()}, "rows": rows}
