"""The latency, floor and beam sections (what their tables hold: benchmarks/report.py). One checkpoint runs
as PyTorch eager (`torch`, checkpoint.pt) and onnxruntime `fp32` and `int8` (the shipped bundle for its own
precision, the other exported from checkpoint.pt), all through the same decoding loop. The floor: the model's
FLOPs (2 per weight and row) and bytes against numpy's matmul rate and matrix-vector bandwidth, measured in a
child with one BLAS thread per engine thread; elementwise work is left out (a lower bound), int8 only lowers
the bytes. Beam: sentences/s of Translator.translate_batch one sentence at a time against 32 at once.
"""

import itertools
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from benchmarks.measure import child_json, cpu_translator, in_turns, median_ratio, summary_ms

VARIANTS = ("torch", "fp32", "int8")
WEIGHT_BYTES = {"torch": 4, "fp32": 4, "int8": 1}
PAIRS = (("torch", "fp32"), ("torch", "int8"), ("fp32", "int8"))  # (slower, faster) variants compared


def prepare_variants(bundle_dir: Path, work_dir: Path) -> dict[str, Path]:
    """{variant: path}; the other precision is exported into work_dir unless it holds one of this checkpoint."""
    manifest = json.loads((bundle_dir / "manifest.json").read_text(encoding="utf-8"))
    checkpoint = bundle_dir / "checkpoint.pt"
    if not checkpoint.is_file():
        raise FileNotFoundError(f"{checkpoint} is missing: the latency section needs the weights the bundle came from")
    shipped = "int8" if manifest.get("quantization") == "int8" else "fp32"
    other = "fp32" if shipped == "int8" else "int8"
    exported = work_dir / other / "manifest.json"
    sha = manifest["files"]["checkpoint.pt"]["sha256"]
    if not exported.is_file() or json.loads(exported.read_text())["files"]["checkpoint.pt"]["sha256"] != sha:
        from export.bundle import export_bundle  # torch + onnx: imported only when needed

        print(f"exporting the {other} variant of {checkpoint} to {exported.parent} ...")
        export_bundle(
            checkpoint,
            exported.parent,
            quantize="int8" if other == "int8" else "none",
            command=f"benchmarks: {other} variant of {checkpoint}",
        )
    paths = {"torch": checkpoint, shipped: bundle_dir, other: exported.parent}
    return {variant: paths[variant] for variant in VARIANTS}


def _run_cells(translators: dict, sentences: list[str], beams, block: int, budget_s: float) -> dict:
    """Blocks of sentences over every (variant, beam) cell in turns: times, token counts and token ids per cell."""
    cells = [(v, b) for v in translators for b in beams]
    records = {cell: {"seconds": [], "tokens": [], "src_tokens": [], "ids": []} for cell in cells}
    for variant, beam in cells:  # graphs loaded, first-call allocations made: not measured
        translators[variant].translate(sentences[0], beam_size=beam)
    deadline = time.perf_counter() + budget_s
    blocks = itertools.takewhile(lambda _: time.perf_counter() < deadline, range(0, len(sentences), block))
    for first, (variant, beam) in in_turns(cells, tqdm(blocks, desc="latency blocks", leave=False)):
        translator, record = translators[variant], records[variant, beam]
        translator.translate(sentences[first], beam_size=beam)  # untimed: weights back into cache
        for text in sentences[first : first + block]:
            tick = time.perf_counter()
            result = translator.translate(text, beam_size=beam)
            record["seconds"].append(time.perf_counter() - tick)
            record["tokens"].append(len(result.target_ids))
            record["src_tokens"].append(len(result.source_tokens))
            record["ids"].append(list(result.target_ids))
    return records


def latency_section(
    bundle_dir: Path,
    work_dir,
    sentences: list[str],
    threads=(1, 2),
    beams=(1, 5),
    block: int = 10,
    budget_s: float = 120,
) -> dict:
    """Rows per cell, speed-up ratios from the same run, how often variants give identical token ids, and the
    raw records for the floor; the other precision goes to work_dir (None: a temporary folder, removed)."""
    rows, ratios, agreement, raw = [], [], [], {}
    names = {beam: "greedy" if beam == 1 else f"beam{beam}" for beam in beams}
    from evaluate.torch_model import torch_translator

    with tempfile.TemporaryDirectory(prefix="bench-variants-") as scratch:
        paths = prepare_variants(Path(bundle_dir), Path(work_dir or scratch))
        for t in threads:  # never mixed in one round: a 2-thread engine's idle threads slow whoever runs next
            translators = {
                v: torch_translator(p, threads=t) if v == "torch" else cpu_translator(p, t) for v, p in paths.items()
            }  # torch_translator sets torch's process-wide thread count
            records = _run_cells(translators, sentences, beams, block, budget_s / len(threads))
            seconds = {cell: r["seconds"] for cell, r in records.items()}
            for (variant, beam), r in records.items():
                raw[variant, names[beam], t] = r
                rows.append(
                    {
                        "variant": variant,
                        "decoding": names[beam],
                        "threads": t,
                        **summary_ms(r["seconds"]),
                        "ms_per_token": round(1e3 * sum(r["seconds"]) / max(1, sum(r["tokens"])), 3),
                    }
                )
            for beam, (slow, fast) in itertools.product(beams, PAIRS):
                ratios.append(
                    {
                        "ratio": f"{fast} speed-up over {slow}",
                        "decoding": names[beam],
                        "threads": t,
                        "value": median_ratio(seconds[slow, beam], seconds[fast, beam]),
                    }
                )
                same = sum(a == b for a, b in zip(records[slow, beam]["ids"], records[fast, beam]["ids"]))
                agreement.append(
                    {
                        "variants": f"{fast} vs {slow}",
                        "decoding": names[beam],
                        "threads": t,
                        "identical": same,
                        "of": len(records[fast, beam]["ids"]),
                    }
                )
            ratios += [
                {
                    "ratio": f"{variant} {names[beam]} latency / greedy latency",
                    "decoding": "",
                    "threads": t,
                    "value": median_ratio(seconds[variant, beam], seconds[variant, beams[0]]),
                }
                for variant in paths
                for beam in beams[1:]
            ]
    return {"rows": rows, "ratios": ratios, "agreement": agreement, "block": block, "raw": raw}


def costs(config: dict, src_len: int, weight_bytes: int) -> tuple[dict, dict]:
    """(encoder, decoder step) FLOPs and bytes for one sentence of src_len tokens, batch 1."""
    E, H, V, S = config["embed_dim"], config["hidden_dim"], config["vocab_size"], src_len
    D, A = 2 * H, config.get("attention_dim", 0) if config["attention"] == "additive" else 0
    keys = {"dot": 0, "general": D * D, "additive": D * A}[config["attention"]]
    gru = 2 * (3 * H * E + 3 * H * H)  # the two directions of the bi-GRU (fp32 even in int8 bundles)
    encoder = {
        "flops": 2 * S * (gru + keys) + 2 * D * D,
        "bytes": 4 * gru + weight_bytes * (keys + D * D) + 4 * S * 2 * D,
    }
    step_weights = 3 * D * E + 3 * D * D + 2 * D * E + V * E + D * A  # GRU cell, pre-output, output, query projection
    step = {
        "flops": 2 * step_weights + 4 * S * D,
        "bytes": weight_bytes * step_weights + 4 * 2 * S * D,
    }  # + reading keys and enc_out
    return encoder, step


def measure_rates(working_set_bytes: int, seconds: float = 0.3) -> dict:
    """Best numpy float32 matmul GFLOP/s and matrix-vector GB/s over `seconds` each (run in a child)."""

    def best(work, amount):
        rate, start = 0.0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            tick = time.perf_counter()
            work()
            rate = max(rate, amount / (time.perf_counter() - tick))
        return round(rate / 1e9, 1)

    a = np.random.rand(1024, 1024).astype(np.float32)
    matrix = np.random.rand(max(1, working_set_bytes // 2048), 512).astype(np.float32)
    vector = np.random.rand(512).astype(np.float32)
    return {"gflops": best(lambda: a @ a, 2 * 1024**3), "gbs": best(lambda: matrix @ vector, matrix.nbytes)}


def floor_section(config: dict, raw: dict, threads=(1, 2)) -> dict:
    """Per greedy latency cell: the median of per-sentence floors, and median(measured / floor)."""
    working_set = costs(config, 20, 4)[1]["bytes"]
    code = f"import json, benchmarks.decoding_speed as d; print(json.dumps(d.measure_rates({working_set})))"
    rates = {t: child_json([sys.executable, "-c", code], threads=t, timeout=120) for t in threads}
    rows = []
    for (variant, decoding, t), cell in raw.items():
        if decoding != "greedy" or t not in rates or not cell["seconds"]:
            continue
        # the best rate any thread count up to t reached: a t-thread engine could always use fewer
        gflops, gbs = (1e9 * max(r[key] for n, r in rates.items() if n <= t) for key in ("gflops", "gbs"))
        part = lambda c: max(c["flops"] / gflops, c["bytes"] / gbs)  # noqa: E731
        floors = []
        for src_len, out_len in zip(cell["src_tokens"], cell["tokens"]):
            encoder, step = costs(config, src_len, WEIGHT_BYTES[variant])
            floors.append(part(encoder) + out_len * part(step))
        rows.append(
            {
                "variant": variant,
                "threads": t,
                "floor_median_ms": round(1e3 * float(np.median(floors)), 3),
                "measured_median_ms": round(1e3 * float(np.median(cell["seconds"])), 3),
                "times_floor": round(float(np.median(np.divide(cell["seconds"], floors))), 2),
            }
        )
    return {"rates": {str(t): r for t, r in rates.items()}, "rows": rows}


def beam_section(bundle_dir, sentences: list[str], beam: int = 5, batch_sizes=(1, 32), threads=None) -> dict:
    """translate_batch one sentence at a time against 32 at once, 1 and 2 threads (more threads only pay once a
    decoder call is big enough); cells take turns chunk by chunk (a chunk = one batch of the larger size), each
    cell first running the first chunk once, untimed."""
    threads = threads or tuple(range(1, min(2, len(os.sched_getaffinity(0))) + 1))
    translators = {n: cpu_translator(bundle_dir, n) for n in threads}
    cells = [(n, size) for n in threads for size in batch_sizes]
    chunk, one, many = max(batch_sizes), batch_sizes[0], batch_sizes[-1]
    seconds, outputs = {cell: 0.0 for cell in cells}, {cell: [] for cell in cells}
    for n, size in cells:
        translators[n].translate_batch(sentences[:chunk], beam_size=beam, batch_size=size)
    chunks = tqdm(range(0, len(sentences), chunk), desc="beam batches", leave=False)
    for start, (n, size) in in_turns(cells, chunks):
        tick = time.perf_counter()
        outputs[n, size] += translators[n].translate_batch(
            sentences[start : start + chunk], beam_size=beam, batch_size=size
        )
        seconds[n, size] += time.perf_counter() - tick
    rows = [
        {
            "threads": n,
            "batch_size": size,
            "sentences": len(outputs[n, size]),
            "seconds": round(seconds[n, size], 3),
            "sentences_per_s": round(len(outputs[n, size]) / seconds[n, size], 2) if seconds[n, size] else None,
        }
        for n, size in cells
    ]
    compared = [(f"{n} thread{'s' * (n > 1)}", seconds[n, one], seconds[n, many]) for n in threads]
    compared.append(
        (
            "each at its faster thread count",
            min(seconds[n, one] for n in threads),
            min(seconds[n, many] for n in threads),
        )
    )
    ratios = [
        {"comparison": f"batch {many} / batch {one}, {how}", "speedup": round(at_one / at_many, 3)}
        for how, at_one, at_many in compared
    ]
    reference = outputs[cells[0]]
    return {
        "beam": beam,
        "rows": rows,
        "ratios": ratios,
        "speedup": ratios[-1]["speedup"],
        "identical_outputs": min(sum(a == b for a, b in zip(reference, outputs[cell])) for cell in cells),
        "of": len(sentences),
    }
