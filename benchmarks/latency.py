"""Sections 1 and 2: per-sentence latency and batch throughput + BLEU, for torch / onnxruntime fp32 / int8.

Latency cells (variant × decoding) take turns in blocks of a few sentences, one thread count at a time:
cell A translates sentences 1-10, then cell B the same ten, ..., then every cell does 11-20 (the cell
order rotates per block). A noisy neighbour then slows all cells alike, so the ratios hold, while each
cell still runs warm: every block starts with one untimed call that brings its weights back into cache
(turn-taking per single sentence measured fp32 at 4.4 ms instead of 3.3 ms, from cold caches alone).
Thread counts are not mixed: idle worker threads of a 2-thread engine spin for a while after each call
and slow the 1-thread cell that runs next (torch greedy 6 -> 11-13 ms per sentence). Each thread count
gets an equal share of the budget, checked between blocks.
"""
from __future__ import annotations

import time

import numpy as np
from tqdm import tqdm

from benchmarks.measure import Budget, median, paired_ratio, summarize
from benchmarks.variants import open_translator


def decoding_name(beam: int) -> str:
    return "greedy" if beam == 1 else f"beam{beam}"


def cell_key(variant: str, beam: int, threads: int) -> str:
    return f"{variant}/{decoding_name(beam)}/{threads}t"


class Translators:
    """Opened on demand and kept: one per (variant, threads); torch shares one model and resets threads."""

    def __init__(self, paths: dict):
        self.paths, self.opened = paths, {}

    def get(self, variant: str, threads: int):
        key = (variant, None if variant == "torch" else threads)
        if key not in self.opened:
            self.opened[key] = open_translator(variant, self.paths[variant], threads)
        translator = self.opened[key]
        if variant == "torch":
            import torch

            torch.set_num_threads(threads)
        return translator


def _time_one(translator, text: str, beam: int):
    start = time.perf_counter()
    result = translator.translate(text, beam_size=beam)
    return time.perf_counter() - start, result


def step_seconds(translator, text: str, calls: int = 50, rounds: int = 5) -> float:
    """Median time of one greedy decoder step alone (the graph call through step_function, batch 1):
    what is left of a token's time after this is the Python decoding loop."""
    enc_out, keys, hidden, mask = translator.encode([translator.source_ids(text)])
    step = translator.step_function(enc_out, keys, mask)
    prev, rows = np.full(1, translator.bos_id, dtype=np.int64), np.zeros(1, dtype=np.int64)
    hidden = np.asarray(hidden)
    step(prev, hidden, rows)
    times = []
    for _ in range(rounds):
        tick = time.perf_counter()
        for _ in range(calls):
            step(prev, hidden, rows)
        times.append((time.perf_counter() - tick) / calls)
    return median(times)


def latency_section(paths: dict, sources: list[str], threads=(1, 2), beams=(1, 5), budget_s: float | None = 300,
                    max_sentences: int = 200, warmup: int = 2, block: int = 10) -> dict:
    translators = Translators(paths)
    sentences = sources[:max_sentences]
    out = {"threads": list(threads), "beams": list(beams), "budget_s": budget_s, "block": block, "sentences": {},
           "seconds": {}, "complete": {}, "cells": {}}
    records = {}
    for t in threads:
        cells = [(v, b, t) for v in paths for b in beams]
        for variant, beam, _ in cells:  # load graphs, first-call allocations: not measured
            for text in sources[:warmup]:
                _time_one(translators.get(variant, t), text, beam)
        records.update({cell_key(*c): {"seconds": [], "tokens": [], "src_tokens": [], "ids": [], "encode_ms": []}
                        for c in cells})
        budget = Budget(None if budget_s is None else budget_s / len(threads))
        bar = tqdm(total=len(sentences) * len(cells), desc=f"latency, {t} thread(s), {len(cells)} cells", leave=False)
        for number, start in enumerate(range(0, len(sentences), block)):
            shift = number % len(cells)
            for variant, beam, _ in cells[shift:] + cells[:shift]:
                translator = translators.get(variant, t)
                _time_one(translator, sentences[start], beam)  # untimed: this cell's weights back into cache
                record = records[cell_key(variant, beam, t)]
                for text in sentences[start:start + block]:
                    seconds, result = _time_one(translator, text, beam)
                    record["seconds"].append(seconds)
                    record["tokens"].append(len(result.target_ids))
                    record["src_tokens"].append(len(result.source_tokens))
                    record["ids"].append(result.target_ids)
                    record["encode_ms"].append(result.timing_ms.get("encode", 0.0))
                bar.update(len(sentences[start:start + block]))
            if budget.expired:
                break
        bar.close()
        out["sentences"][str(t)] = len(records[cell_key(*cells[0])]["seconds"])
        out["seconds"][str(t)] = round(budget.elapsed, 1)
        out["complete"][str(t)] = out["sentences"][str(t)] == len(sentences)
        typical = sorted(sentences[:out["sentences"][str(t)]] or sentences[:1], key=len)
        typical = typical[len(typical) // 2]  # a median-length sentence for the step timing
        steps = {v: step_seconds(translators.get(v, t), typical) for v in paths}
        for variant, beam, _ in cells:
            record = records[cell_key(variant, beam, t)]
            out["cells"][cell_key(variant, beam, t)] = {
                "variant": variant, "decoding": decoding_name(beam), "threads": t,
                **summarize(record["seconds"], record["tokens"]),
                "encode_median_ms": round(median(record["encode_ms"]) or 0.0, 3),
                "decode_ms_per_token": round((1e3 * sum(record["seconds"]) - sum(record["encode_ms"]))
                                             / max(1, sum(record["tokens"])), 4),
                "step_ms": round(1e3 * steps[variant], 4),  # graph call alone, batch 1
                "seconds": [round(x, 6) for x in record["seconds"]], "tokens": record["tokens"],
                "src_tokens": record["src_tokens"], "step_src_tokens": len(translators.get(variant, t).source_ids(typical))}
    out["ratios"] = latency_ratios(out["cells"], threads, beams)
    out["agreement"] = agreement(records, threads, beams)
    return out


def latency_ratios(cells: dict, threads, beams) -> list[dict]:
    """Speed-ups (how many times faster: slower time / faster time) and beam/greedy latency ratios."""
    def seconds(variant, beam, t):
        cell = cells.get(cell_key(variant, beam, t))
        return cell["seconds"] if cell else None

    ratios = []
    for t in threads:
        for beam in beams:
            for name, slow, fast in (("fp32_over_torch", "torch", "fp32"), ("int8_over_torch", "torch", "int8"),
                                     ("int8_over_fp32", "fp32", "int8")):
                a, b = seconds(slow, beam, t), seconds(fast, beam, t)
                if a and b:
                    ratios.append({"name": name, "decoding": decoding_name(beam), "threads": t,
                                   "value": paired_ratio(a, b), "meaning": f"{fast} is this many times faster than {slow}"})
        for variant in ("torch", "fp32", "int8"):
            for beam in beams:
                if beam == 1:
                    continue
                a, b = seconds(variant, beam, t), seconds(variant, 1, t)
                if a and b:
                    ratios.append({"name": f"{decoding_name(beam)}_over_greedy", "variant": variant, "threads": t,
                                   "value": paired_ratio(a, b), "meaning": f"{variant} {decoding_name(beam)} latency / greedy latency"})
    return ratios


def agreement(records: dict, threads, beams) -> dict:
    """How many sentences get exactly the same token ids: fp32 vs torch, int8 vs fp32 (greedy, first thread count)."""
    out = {}
    t = threads[0]
    for beam in beams:
        for a, b in (("fp32", "torch"), ("int8", "fp32")):
            ka, kb = cell_key(a, beam, t), cell_key(b, beam, t)
            if ka in records and kb in records:
                pairs = list(zip(records[ka]["ids"], records[kb]["ids"]))
                out[f"{a}_vs_{b}/{decoding_name(beam)}"] = {"same": sum(x == y for x, y in pairs), "of": len(pairs)}
    return out


def batch_section(paths: dict, test_set, threads: int = 2, beams=(1, 5), budget_s: float | None = 300,
                  batch_size: int = 32) -> dict:
    """Sentences/s of translate_batch over the test set per variant and decoding, and the BLEU it gets.

    Sentences go in chunks in test-set order, the budget is checked between chunks; when a cell stops
    early its BLEU covers fewer sentences, so BLEU is also given over the prefix every cell finished.
    """
    from training.evaluate import scores

    translators = Translators(paths)
    sources, references = test_set.sources, test_set.references
    cells, hyps = {}, {}
    for variant in paths:
        for beam in beams:
            translator = translators.get(variant, threads)
            translator.translate_batch(sources[:4], beam_size=beam, batch_size=batch_size)  # warm-up
            key = f"{variant}/{decoding_name(beam)}"
            chunk = 256 if beam == 1 else 16
            budget, done = Budget(budget_s), []
            bar = tqdm(total=len(sources), desc=f"batch {key}", leave=False)
            for start in range(0, len(sources), chunk):
                if variant == "torch":
                    translators.get(variant, threads)  # torch threads are global: set them again
                done += translator.translate_batch(sources[start:start + chunk], beam_size=beam, batch_size=batch_size)
                bar.update(len(sources[start:start + chunk]))
                if budget.expired:
                    break
            bar.close()
            seconds = budget.elapsed
            hyps[key] = done
            cells[key] = {"variant": variant, "decoding": decoding_name(beam), "threads": threads,
                          "sentences": len(done), "complete": len(done) == len(sources), "seconds": round(seconds, 2),
                          "sentences_per_s": round(len(done) / seconds, 2) if seconds > 0 else None}
            if references:
                cells[key]["scores"] = _bleu(scores, done, references)
    common = min((len(h) for h in hyps.values()), default=0)
    if references and common:
        for key, done in hyps.items():
            cells[key]["common_scores"] = _bleu(scores, done[:common], references)
    return {"threads": threads, "batch_size": batch_size, "total_sentences": len(sources), "common_sentences": common,
            "origin": test_set.origin, "cells": cells,
            "bleu_drop_int8": {d: round(cells[f"fp32/{d}"]["common_scores"]["sacrebleu"]
                                        - cells[f"int8/{d}"]["common_scores"]["sacrebleu"], 2)
                               for d in map(decoding_name, beams)
                               if "common_scores" in cells.get(f"fp32/{d}", {}) and f"int8/{d}" in cells}}


def _bleu(scores, hyps, references) -> dict:
    s = scores(hyps, references[: len(hyps)])
    return {"sacrebleu": s["sacrebleu"], "chrf": s["chrf"], "bleu_lowercase_tokenized": s["bleu_lowercase_tokenized"],
            "signature": s["signatures"]["sacrebleu"]}
