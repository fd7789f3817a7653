"""Section 3: the hardware floor. How fast could one greedy translation possibly be on this machine?

From the model config alone: the FLOPs and the bytes the encoder (once per sentence) and one decoder step
(once per output token) must touch. With numpy: this machine's matmul GFLOP/s and memory bandwidth. The
floor of a part is max(FLOPs / GFLOP/s, bytes / bandwidth); a sentence's floor is encoder + T × step.
Elementwise work (gates, softmax, tanh) is left out, so the floor is a lower bound, never an estimate.

Machine numbers are measured in a child process per thread count (OPENBLAS/OMP/MKL_NUM_THREADS set
before numpy loads), so "1 thread" means one BLAS thread. numpy has no int8 matrix product, so int8
weights only lower the memory side; the compute side uses the fp32 rate for every variant.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from benchmarks.measure import median

FP32 = 4


def decoder_step_cost(config: dict, src_len: int, weight_bytes: int = FP32) -> dict:
    """FLOPs and bytes of one Decoder.step for one row (greedy decoding of one sentence).

    Matmul weights (GRU cell, pre-output, tied output projection, additive-attention projections) are
    `weight_bytes` each (4 for fp32, 1 for int8); biases, hidden state and the encoder outputs read by
    attention are fp32.
    """
    E, D, V, S = config["embed_dim"], 2 * config["hidden_dim"], config["vocab_size"], src_len
    A, kind = config.get("attention_dim", 0), config["attention"]
    matmul_weights = 3 * D * E + 3 * D * D + 2 * D * E + V * E  # gru W_ih, W_hh, pre_output, output (= embedding)
    bias_values = 6 * D + E
    flops = 2 * matmul_weights + 2 * S * D  # + context = weights @ enc_out
    key_width = A if kind == "additive" else D
    if kind == "additive":
        matmul_weights += D * A + A  # query_proj, energy vector
        bias_values += A
        flops += 2 * D * A + 2 * S * A  # query projection, energy(tanh(keys + q))
    else:
        flops += 2 * S * D  # scores = keys @ query
    activations = S * (key_width + D) + E + 2 * D + V  # keys + enc_out read, embedding row, hidden in/out, log_probs
    return {"flops": flops, "bytes": matmul_weights * weight_bytes + (bias_values + activations) * FP32,
            "weight_bytes": matmul_weights * weight_bytes + bias_values * FP32}


def encoder_cost(config: dict, src_len: int, weight_bytes: int = FP32) -> dict:
    """FLOPs and bytes of Encoder.forward + attention keys for one sentence of src_len tokens.

    Two one-way GRUs of hidden size H over S tokens (ONNX GRU weights stay fp32 even in int8 bundles),
    the bridge to the decoder's first state, and the key projection (general/additive) once per sentence.
    """
    E, H, S = config["embed_dim"], config["hidden_dim"], src_len
    D, A, kind = 2 * H, config.get("attention_dim", 0), config["attention"]
    gru_weights = 2 * (3 * H * E + 3 * H * H)
    other = D * D  # bridge
    flops = 2 * S * gru_weights + 2 * D * D  # every token through both GRUs; bridge once
    if kind == "general":
        other += D * D
        flops += 2 * S * D * D
    elif kind == "additive":
        other += D * A
        flops += 2 * S * D * A
    key_width = A if kind == "additive" else D
    activations = S * E + S * (D + key_width) + 12 * H + 2 * D  # embeddings in, enc_out + keys out, GRU biases, bridge bias + h0
    return {"flops": flops, "bytes": gru_weights * FP32 + other * weight_bytes + activations * FP32}


def part_seconds(cost: dict, gflops: float, bandwidth_gbs: float) -> float:
    """Roofline time of one part: whichever of compute and memory takes longer."""
    return max(cost["flops"] / (gflops * 1e9), cost["bytes"] / (bandwidth_gbs * 1e9))


def sentence_floor_seconds(config: dict, src_len: int, out_len: int, gflops: float, bandwidth_gbs: float,
                           weight_bytes: int = FP32) -> float:
    """Floor for one greedy sentence: encoder once + out_len decoder steps."""
    return (part_seconds(encoder_cost(config, src_len, weight_bytes), gflops, bandwidth_gbs)
            + out_len * part_seconds(decoder_step_cost(config, src_len, weight_bytes), gflops, bandwidth_gbs))


# ---- measuring this machine (runs inside a child process) -----------------------------------------------
def _best_rate(work, amount: float, seconds: float = 0.5, min_repeats: int = 3) -> float:
    """Best amount-per-second over repeats of work() for about `seconds`."""
    best, start, repeats = 0.0, time.perf_counter(), 0
    while repeats < min_repeats or time.perf_counter() - start < seconds:
        tick = time.perf_counter()
        work()
        best = max(best, amount / (time.perf_counter() - tick))
        repeats += 1
    return best


def measure_machine(working_set_bytes: int, seconds: float = 0.5) -> dict:
    """numpy float32 matmul GFLOP/s (1024², the compute peak), copy bandwidth over 256 MiB (main memory),
    and matrix-vector streaming rate over a matrix the size of one decoder step's weights (cache-resident
    when it fits, as the decoder's weights are in a loop)."""
    import numpy as np

    n = 1024
    a, b = np.random.rand(n, n).astype(np.float32), np.random.rand(n, n).astype(np.float32)
    gflops = _best_rate(lambda: a @ b, 2 * n**3, seconds) / 1e9
    src = np.ones(64 * 2**20, dtype=np.float32)
    dst = np.empty_like(src)
    copy_gbs = _best_rate(lambda: np.copyto(dst, src), 2 * src.nbytes, seconds) / 1e9  # read + write
    cols = 512
    rows = max(1, working_set_bytes // (4 * cols))
    matrix, vector = np.random.rand(rows, cols).astype(np.float32), np.random.rand(cols).astype(np.float32)
    gemv_gbs = _best_rate(lambda: matrix @ vector, matrix.nbytes, seconds) / 1e9
    return {"matmul_gflops": round(gflops, 1), "copy_gbs": round(copy_gbs, 1), "gemv_gbs": round(gemv_gbs, 1),
            "gemv_matrix_mib": round(matrix.nbytes / 2**20, 1), "bandwidth_gbs": round(max(copy_gbs, gemv_gbs), 1),
            "numpy": np.__version__}


def measure_in_child(threads: int, working_set_bytes: int, seconds: float = 0.5) -> dict:
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    code = ("import json, sys; from benchmarks.floor import measure_machine; "
            f"print(json.dumps(measure_machine({int(working_set_bytes)}, {float(seconds)})))")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if done.returncode != 0:
        raise RuntimeError(f"machine measurement failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


WEIGHT_BYTES = {"torch": FP32, "fp32": FP32, "int8": 1}


def best_machine(machine: dict, threads: int) -> tuple[float, float]:
    """Best GFLOP/s and bandwidth measured with at most `threads` threads: a run allowed t threads could
    always use fewer, so on a busy machine the 1-thread numbers can be the floor for 2 threads too."""
    usable = [m for t, m in machine.items() if int(t) <= threads] or list(machine.values())
    return max(m["matmul_gflops"] for m in usable), max(m["bandwidth_gbs"] for m in usable)


def floor_section(config: dict, latency: dict | None, threads=(1, 2), src_len: int = 16, seconds: float = 0.5) -> dict:
    """Costs from the config, machine numbers per thread count, and each greedy cell's distance from the floor."""
    step32 = decoder_step_cost(config, src_len)
    machine = {t: measure_in_child(t, step32["weight_bytes"], seconds) for t in threads}
    out = {"src_len_for_costs": src_len,
           "decoder_step": {"fp32": step32, "int8": decoder_step_cost(config, src_len, 1)},
           "encoder": {"fp32": encoder_cost(config, src_len), "int8": encoder_cost(config, src_len, 1)},
           "machine": {str(t): m for t, m in machine.items()}, "cells": {}}
    for key, cell in ((latency or {}).get("cells") or {}).items():
        if cell["decoding"] != "greedy" or cell["threads"] not in machine or not cell["seconds"]:
            continue
        gflops, bandwidth = best_machine(machine, cell["threads"])
        floors = [sentence_floor_seconds(config, s, t, gflops, bandwidth,
                                         WEIGHT_BYTES[cell["variant"]])
                  for s, t in zip(cell["src_tokens"], cell["tokens"])]
        step_floor = part_seconds(decoder_step_cost(config, cell.get("step_src_tokens", src_len),
                                                    WEIGHT_BYTES[cell["variant"]]), gflops, bandwidth)
        out["cells"][key] = {"variant": cell["variant"], "threads": cell["threads"],
                             "floor_median_ms": round(1e3 * median(floors), 4),
                             "median_ms": cell["median_ms"],
                             "times_floor": round(median([s / f for s, f in zip(cell["seconds"], floors)]), 2),
                             # where a token's time goes: the graph call alone vs its floor, and the Python loop
                             "step_ms": cell.get("step_ms"), "step_floor_ms": round(1e3 * step_floor, 4),
                             "loop_ms_per_token": None if cell.get("step_ms") is None else
                             round(cell["decode_ms_per_token"] - cell["step_ms"], 4),
                             "encode_median_ms": cell.get("encode_median_ms")}
    return out
