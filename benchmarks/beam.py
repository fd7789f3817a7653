"""Beam search throughput: sentences/s of `Translator.translate_batch(texts, beam_size=5, batch_size=...)`
one sentence at a time (batch_size=1) against many at once (batch_size=32, the default), on the same
sentences. The two take turns chunk by chunk (each chunk is one batch of the larger size), so load from
other processes falls on both alike; the first chunk is run once untimed by each as a warm-up.
"""
from __future__ import annotations

import time

from tqdm import tqdm


def beam_section(bundle_dir, sentences: list[str], beam: int = 5, batch_sizes=(1, 32), threads: int = 1) -> dict:
    from inference.translator import Translator

    translator = Translator(bundle_dir, device="cpu", threads=threads, verify=False)
    chunk = max(batch_sizes)
    seconds = {size: 0.0 for size in batch_sizes}
    outputs = {size: [] for size in batch_sizes}
    for size in batch_sizes:
        translator.translate_batch(sentences[:chunk], beam_size=beam, batch_size=size)
    for number, start in enumerate(tqdm(range(0, len(sentences), chunk), desc="beam batches", leave=False)):
        order = batch_sizes if number % 2 == 0 else batch_sizes[::-1]
        for size in order:
            tick = time.perf_counter()
            outputs[size] += translator.translate_batch(sentences[start:start + chunk], beam_size=beam, batch_size=size)
            seconds[size] += time.perf_counter() - tick
    first, last = batch_sizes[0], batch_sizes[-1]
    rows = [{"batch_size": size, "sentences": len(outputs[size]), "seconds": round(seconds[size], 3),
             "sentences_per_s": round(len(outputs[size]) / seconds[size], 2) if seconds[size] else None}
            for size in batch_sizes]
    return {"beam": beam, "threads": threads, "rows": rows,
            "speedup": round(seconds[first] / seconds[last], 3) if seconds[last] else None,
            "identical_outputs": sum(a == b for a, b in zip(outputs[first], outputs[last])), "of": len(sentences)}
