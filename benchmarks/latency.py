"""Per-sentence latency of one checkpoint run three ways: PyTorch eager (`torch`, the bundle's checkpoint.pt)
and onnxruntime `fp32` and `int8` bundles exported from that same checkpoint, all through the same
decoding loop (inference.decoding), greedy and beam, at each thread count.

Cells (variant × decoding) take turns in blocks of a few sentences: cell A translates sentences 1-10,
then cell B the same ten, ..., then every cell does 11-20, the order rotating per block. A noisy
neighbour then slows all cells alike, so the ratios hold, while each cell still runs warm (every block
starts with one untimed call that brings its weights back into cache). Thread counts are never mixed
in one round: idle worker threads of a 2-thread engine spin after each call and slow whoever runs next.
"""
from __future__ import annotations

import time

from tqdm import tqdm

from benchmarks.measure import median_ratio, summary_ms
from benchmarks.variants import open_translator


def decoding_name(beam: int) -> str:
    return "greedy" if beam == 1 else f"beam{beam}"


def _run_cells(translators: dict, sentences: list[str], beams, block: int, budget_s: float | None) -> dict:
    """Interleaved blocks over every (variant, beam) cell; per-cell times, token counts and token ids."""
    cells = [(v, b) for v in translators for b in beams]
    records = {cell: {"seconds": [], "tokens": [], "src_tokens": [], "ids": []} for cell in cells}
    for variant, beam in cells:  # graphs loaded, first-call allocations made: not measured
        translators[variant].translate(sentences[0], beam_size=beam)
    start = time.perf_counter()
    for number, first in enumerate(tqdm(range(0, len(sentences), block), desc="latency blocks", leave=False)):
        shift = number % len(cells)
        for variant, beam in cells[shift:] + cells[:shift]:
            translator, record = translators[variant], records[(variant, beam)]
            translator.translate(sentences[first], beam_size=beam)  # untimed: weights back into cache
            for text in sentences[first:first + block]:
                tick = time.perf_counter()
                result = translator.translate(text, beam_size=beam)
                record["seconds"].append(time.perf_counter() - tick)
                record["tokens"].append(len(result.target_ids))
                record["src_tokens"].append(len(result.source_tokens))
                record["ids"].append(list(result.target_ids))
        if budget_s is not None and time.perf_counter() - start > budget_s:
            break
    return records


def latency_section(paths: dict, sentences: list[str], threads=(1, 2), beams=(1, 5), block: int = 10,
                    budget_s: float | None = 120) -> dict:
    """Rows per cell, speed-up ratios from the same run, and how often variants give identical token ids."""
    rows, ratios, agreement, raw = [], [], [], {}
    for t in threads:
        translators = {v: open_translator(v, p, t) for v, p in paths.items()}
        records = _run_cells(translators, sentences, beams, block, None if budget_s is None else budget_s / len(threads))
        for (variant, beam), r in records.items():
            raw[f"{variant}/{decoding_name(beam)}/{t}t"] = r
            rows.append({"variant": variant, "decoding": decoding_name(beam), "threads": t, **summary_ms(r["seconds"]),
                         "ms_per_token": round(1e3 * sum(r["seconds"]) / max(1, sum(r["tokens"])), 3)})
        for beam in beams:
            for slow, fast in (("torch", "fp32"), ("torch", "int8"), ("fp32", "int8")):
                if (slow, beam) in records and (fast, beam) in records:
                    ratios.append({"ratio": f"{fast} speed-up over {slow}", "decoding": decoding_name(beam), "threads": t,
                                   "value": median_ratio(records[(slow, beam)]["seconds"], records[(fast, beam)]["seconds"])})
                    same = sum(a == b for a, b in zip(records[(slow, beam)]["ids"], records[(fast, beam)]["ids"]))
                    agreement.append({"variants": f"{fast} vs {slow}", "decoding": decoding_name(beam), "threads": t,
                                      "identical": same, "of": len(records[(fast, beam)]["ids"])})
        for variant in paths:
            for beam in beams[1:]:
                ratios.append({"ratio": f"{variant} {decoding_name(beam)} latency / greedy latency", "decoding": "",
                               "threads": t, "value": median_ratio(records[(variant, beam)]["seconds"],
                                                                   records[(variant, beams[0])]["seconds"])})
    return {"rows": rows, "ratios": ratios, "agreement": agreement, "block": block, "raw": raw}
