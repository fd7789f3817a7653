"""The latency, floor, beam and bmm sections (report.SECTIONS says what each measures). One checkpoint runs as
PyTorch eager (`torch`, checkpoint.pt) and onnxruntime `fp32` and `int8` (the shipped bundle for its own
precision, the other exported from checkpoint.pt), all through the same decoding loop."""

import itertools
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from benchmarks.measure import child_json, cpu_translator, in_turns, median_ratio, summary_ms, timed

WEIGHT_BYTES = {"torch": 4, "fp32": 4, "int8": 1}  # the variants, by the bytes of their matmul weights
PAIRS = (("torch", "fp32"), ("torch", "int8"), ("fp32", "int8"))  # (slower, faster) variants compared


def prepare_variants(bundle_dir: Path, work_dir: Path) -> dict[str, Path]:
    """{variant: path}; the other precision is exported into work_dir unless it holds one of this checkpoint."""
    manifest = json.loads((bundle_dir / "manifest.json").read_text(encoding="utf-8"))
    checkpoint = bundle_dir / "checkpoint.pt"
    if not checkpoint.is_file():
        raise FileNotFoundError(f"{checkpoint} is missing: the latency section needs the weights the bundle came from")
    shipped = "int8" if manifest.get("quantization") == "int8" else "fp32"
    other = "fp32" if shipped == "int8" else "int8"
    kept, made = work_dir / other, work_dir / other / "manifest.json"
    sha = manifest["files"]["checkpoint.pt"]["sha256"]
    if not made.is_file() or json.loads(made.read_text())["files"]["checkpoint.pt"]["sha256"] != sha:
        from export.bundle import export_bundle  # torch + onnx: imported only when needed

        print(f"exporting the {other} variant of {checkpoint} to {kept} ...")
        quantize, command = "int8" if other == "int8" else "none", f"benchmarks: {other} variant of {checkpoint}"
        export_bundle(checkpoint, kept, quantize=quantize, command=command)
    return {"torch": checkpoint, "fp32": kept, "int8": kept} | {shipped: bundle_dir}


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
            seconds, result = timed(translator.translate, text, beam_size=beam)
            values = seconds, len(result.target_ids), len(result.source_tokens), list(result.target_ids)
            for key, value in zip(record, values):
                record[key].append(value)
    return records


def latency_section(bundle_dir, work_dir, sentences: list[str], threads=(1, 2), beams=(1, 5), block=10, budget_s=120):
    """Rows per cell, speed-up ratios from the same run, how often variants give identical token ids, and the
    raw records for the floor; the other precision goes to work_dir (None: a temporary folder, removed)."""
    from evaluate.torch_model import torch_translator  # it sets torch's process-wide thread count

    rows, ratios, agreement, raw = [], [], [], {}
    names = {beam: "greedy" if beam == 1 else f"beam{beam}" for beam in beams}
    with tempfile.TemporaryDirectory(prefix="bench-variants-") as scratch:
        paths = prepare_variants(Path(bundle_dir), Path(work_dir or scratch))
        for t in threads:  # never mixed in one round: a 2-thread engine's idle threads slow whoever runs next
            engine = lambda v, p: torch_translator(p, threads=t) if v == "torch" else cpu_translator(p, t)
            translators = {variant: engine(variant, path) for variant, path in paths.items()}
            records = _run_cells(translators, sentences, beams, block, budget_s / len(threads))
            seconds, ids = ({cell: r[key] for cell, r in records.items()} for key in ("seconds", "ids"))
            cells = {beam: dict(decoding=names[beam], threads=t) for beam in beams}
            for (variant, beam), r in records.items():
                raw[variant, names[beam], t] = r
                per_token = round(1e3 * sum(r["seconds"]) / max(1, sum(r["tokens"])), 3)
                rows.append(dict(variant=variant, **cells[beam], **summary_ms(r["seconds"]), ms_per_token=per_token))
            for beam, (slow, fast) in itertools.product(beams, PAIRS):
                ratio = median_ratio(seconds[slow, beam], seconds[fast, beam])
                ratios.append(dict(ratio=f"{fast} speed-up over {slow}", **cells[beam], value=ratio))
                same, of = sum(a == b for a, b in zip(ids[slow, beam], ids[fast, beam])), len(ids[fast, beam])
                agreement.append(dict(variants=f"{fast} vs {slow}", **cells[beam], identical=same, of=of))
            for variant, beam in itertools.product(paths, beams[1:]):
                ratio = median_ratio(seconds[variant, beam], seconds[variant, beams[0]])
                name = f"{variant} {names[beam]} latency / greedy latency"
                ratios.append(dict(ratio=name, decoding="", threads=t, value=ratio))
    return {"rows": rows, "ratios": ratios, "agreement": agreement, "block": block, "raw": raw}


def costs(config: dict, src_len: int, weight_bytes: int) -> tuple[dict, dict]:
    """(encoder, decoder step) FLOPs (2 per weight and row) and bytes for one sentence of src_len tokens, batch 1;
    elementwise work is left out (a lower bound), int8 only lowers the bytes."""
    E, H, V, S = config["embed_dim"], config["hidden_dim"], config["vocab_size"], src_len
    D, A = 2 * H, config.get("attention_dim", 0) if config["attention"] == "additive" else 0
    keys = {"dot": 0, "general": D * D, "additive": D * A}[config["attention"]]
    gru = 2 * (3 * H * E + 3 * H * H)  # the two directions of the bi-GRU (fp32 even in int8 bundles)
    encoder_bytes = 4 * gru + weight_bytes * (keys + D * D) + 4 * S * 2 * D
    step_weights = 3 * D * E + 3 * D * D + 2 * D * E + V * E + D * A  # GRU cell, pre-output, output, query projection
    step_bytes = weight_bytes * step_weights + 4 * 2 * S * D  # + reading keys and enc_out
    encoder = {"flops": 2 * S * (gru + keys) + 2 * D * D, "bytes": encoder_bytes}
    return encoder, {"flops": 2 * step_weights + 4 * S * D, "bytes": step_bytes}


def measure_rates(working_set_bytes: int, seconds: float = 0.3) -> dict:
    """Best numpy float32 matmul GFLOP/s and matrix-vector GB/s over `seconds` each (run in a child)."""

    def best(work, amount):
        rate, start = 0.0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            rate = max(rate, amount / timed(work)[0])
        return round(rate / 1e9, 1)

    a = np.random.rand(1024, 1024).astype(np.float32)
    matrix = np.random.rand(max(1, working_set_bytes // 2048), 512).astype(np.float32)
    vector = np.random.rand(512).astype(np.float32)
    return {"gflops": best(lambda: a @ a, 2 * 1024**3), "gbs": best(lambda: matrix @ vector, matrix.nbytes)}


def floor_section(config: dict, raw: dict, threads=(1, 2)) -> dict:
    """Per greedy latency cell: the median of per-sentence floors (model FLOPs and bytes against numpy's matmul
    rate and bandwidth, measured in a child with one BLAS thread per engine thread), median(measured / floor)."""
    working_set = costs(config, 20, 4)[1]["bytes"]
    code = f"import json, benchmarks.decoding_speed as d; print(json.dumps(d.measure_rates({working_set})))"
    rates = {t: child_json([sys.executable, "-c", code], threads=t, timeout=120) for t in threads}
    rows = []
    for (variant, decoding, t), cell in raw.items():
        if decoding != "greedy" or t not in rates or not cell["seconds"]:
            continue
        # the best rate any thread count up to t reached: a t-thread engine could always use fewer
        gflops, gbs = (1e9 * max(r[key] for n, r in rates.items() if n <= t) for key in ("gflops", "gbs"))
        part = lambda c: max(c["flops"] / gflops, c["bytes"] / gbs)
        floors = []
        for src_len, out_len in zip(cell["src_tokens"], cell["tokens"]):
            encoder, step = costs(config, src_len, WEIGHT_BYTES[variant])
            floors.append(part(encoder) + out_len * part(step))
        floor, measured = (round(1e3 * float(np.median(x)), 3) for x in (floors, cell["seconds"]))
        times_floor = round(float(np.median(np.divide(cell["seconds"], floors))), 2)
        rows.append(dict(variant=variant, threads=t, floor_median_ms=floor, measured_median_ms=measured))
        rows[-1]["times_floor"] = times_floor
    return {"rates": {str(t): r for t, r in rates.items()}, "rows": rows}


def beam_section(bundle_dir, sentences: list[str], beam: int = 5, batch_sizes=(1, 32)) -> dict:
    """Sentences/s of translate_batch one sentence at a time against 32 at once, 1 and 2 threads (more threads
    only pay once a decoder call is big enough); cells take turns chunk by chunk (a chunk = one batch of the
    larger size), each cell first running the first chunk once, untimed."""
    threads = tuple(range(1, min(2, len(os.sched_getaffinity(0))) + 1))
    translators = {n: cpu_translator(bundle_dir, n) for n in threads}
    cells, (one, many) = [(n, size) for n in threads for size in batch_sizes], batch_sizes
    seconds, outputs = dict.fromkeys(cells, 0.0), {cell: [] for cell in cells}
    for n, size in cells:
        translators[n].translate_batch(sentences[:many], beam_size=beam, batch_size=size)
    for start, (n, size) in in_turns(cells, tqdm(range(0, len(sentences), many), desc="beam batches", leave=False)):
        texts = sentences[start : start + many]
        took, done = timed(translators[n].translate_batch, texts, beam_size=beam, batch_size=size)
        seconds[n, size], outputs[n, size] = seconds[n, size] + took, outputs[n, size] + done
    rows = []
    for n, size in cells:
        done, took = len(outputs[n, size]), seconds[n, size]
        rate = round(done / took, 2) if took else None
        rows.append(dict(threads=n, batch_size=size, sentences=done, seconds=round(took, 3), sentences_per_s=rate))
    compared = [(f"{n} thread{'s' * (n > 1)}", seconds[n, one], seconds[n, many]) for n in threads]
    compared.append(("each at its faster thread count", *(min(seconds[n, s] for n in threads) for s in (one, many))))
    ratios = [
        {"comparison": f"batch {many} / batch {one}, {how}", "speedup": round(at_one / at_many, 3)}
        for how, at_one, at_many in compared
    ]
    same = min(sum(a == b for a, b in zip(outputs[cells[0]], outputs[cell])) for cell in cells)
    speedup = ratios[-1]["speedup"]
    return dict(beam=beam, rows=rows, ratios=ratios, speedup=speedup, identical_outputs=same, of=len(sentences))


def _attention_methods(query, enc_out) -> dict:
    """One decoder step's attention (scores, softmax, context) four ways on (B, 1, 2H) queries, (B, S, 2H) keys."""
    import torch

    def with_bmm():
        scores = torch.bmm(query, enc_out.transpose(1, 2))  # (B, 1, S)
        return torch.bmm(torch.softmax(scores, dim=-1), enc_out)  # (B, 1, 2H)

    def with_einsum():
        weights = torch.softmax(torch.einsum("btd,bsd->bts", query, enc_out), dim=-1)
        return torch.einsum("bts,bsd->btd", weights, enc_out)

    query_np, enc_np = query.numpy(), enc_out.numpy()

    def with_numpy():
        scores = np.matmul(query_np, enc_np.transpose(0, 2, 1))
        weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
        return np.matmul(weights / weights.sum(axis=-1, keepdims=True), enc_np)

    loop = lambda: torch.stack([torch.softmax(q @ k.T, dim=-1) @ k for q, k in zip(query, enc_out)])
    return {"torch.bmm": with_bmm, "Python loop": loop, "torch.einsum": with_einsum, "numpy.matmul": with_numpy}


def bmm_section(two_h: int, src_len: int, batch_sizes=(1, 8, 32, 128), rounds: int = 7, seed: int = 0) -> dict:
    """Time per call and max |difference| from torch.bmm for each method and batch size: methods take turns round
    by round, each round timing `calls` calls; torch on one thread, numpy on its BLAS's own (tiny products: one)."""
    import torch

    saved_threads, rows = torch.get_num_threads(), []
    torch.set_num_threads(1)
    try:
        for batch in batch_sizes:
            generator = torch.Generator().manual_seed(seed)
            query = torch.randn(batch, 1, two_h, generator=generator)
            methods = _attention_methods(query, torch.randn(batch, src_len, two_h, generator=generator))
            reference, calls, times = methods["torch.bmm"]().numpy(), max(3, 512 // batch), {m: [] for m in methods}
            for _, name in in_turns(list(methods), range(rounds)):
                times[name].append(timed(lambda: [methods[name]() for _ in range(calls)])[0] / calls)
            us = {name: 1e6 * float(np.median(times[name])) for name in methods}
            for name, method in methods.items():
                diff = float(np.abs(np.asarray(method()).reshape(reference.shape) - reference).max())
                row = {"method": name, "B": batch, "S": src_len, "2H": two_h, "us_per_call": round(us[name], 1)}
                rows.append(row | {"times_bmm": round(us[name] / us["torch.bmm"], 2), "max_abs_diff": diff})
    finally:
        torch.set_num_threads(saved_threads)
    return {"rows": rows, "rounds": rounds}
