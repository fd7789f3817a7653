"""Beam search throughput: sentences/s of `Translator.translate_batch(texts, beam_size=5, batch_size=...)`
one sentence at a time (batch_size=1) against many at once (batch_size=32, the default), on the same
sentences, with 1 and 2 onnxruntime threads (more threads only pay once a decoder call is big enough).

All cells take turns chunk by chunk (each chunk is one batch of the larger size), so load from other
processes falls on them alike; each cell first runs the first chunk once, untimed, as a warm-up.
"""
from __future__ import annotations

import os
import time

from tqdm import tqdm


def beam_section(bundle_dir, sentences: list[str], beam: int = 5, batch_sizes=(1, 32), threads=None) -> dict:
    from inference.translator import Translator

    threads = threads or tuple(range(1, min(2, len(os.sched_getaffinity(0))) + 1))
    translators = {n: Translator(bundle_dir, device="cpu", threads=n, verify=False) for n in threads}
    cells = [(n, size) for n in threads for size in batch_sizes]
    chunk = max(batch_sizes)
    seconds = {cell: 0.0 for cell in cells}
    outputs = {cell: [] for cell in cells}
    for n, size in cells:
        translators[n].translate_batch(sentences[:chunk], beam_size=beam, batch_size=size)
    for number, start in enumerate(tqdm(range(0, len(sentences), chunk), desc="beam batches", leave=False)):
        for n, size in (cells if number % 2 == 0 else cells[::-1]):
            tick = time.perf_counter()
            outputs[n, size] += translators[n].translate_batch(sentences[start:start + chunk], beam_size=beam,
                                                               batch_size=size)
            seconds[n, size] += time.perf_counter() - tick
    rows = [{"threads": n, "batch_size": size, "sentences": len(outputs[n, size]), "seconds": round(seconds[n, size], 3),
             "sentences_per_s": round(len(outputs[n, size]) / seconds[n, size], 2) if seconds[n, size] else None}
            for n, size in cells]
    one, many = batch_sizes[0], batch_sizes[-1]
    ratios = [{"comparison": f"batch {many} / batch {one}, {n} thread{'s' * (n > 1)}",
               "speedup": round(seconds[n, one] / seconds[n, many], 3)} for n in threads]
    best_one = min(seconds[n, one] for n in threads)
    best_many = min(seconds[n, many] for n in threads)
    ratios.append({"comparison": f"batch {many} / batch {one}, each at its faster thread count",
                   "speedup": round(best_one / best_many, 3)})
    reference = outputs[cells[0]]
    return {"beam": beam, "rows": rows, "ratios": ratios, "speedup": ratios[-1]["speedup"],
            "identical_outputs": min(sum(a == b for a, b in zip(reference, outputs[cell])) for cell in cells),
            "of": len(sentences)}
