"""The bmm section: one decoder step's attention four ways on the same (B, S, 2H) encoder outputs and (B, 1, 2H)
queries. Methods take turns round by round, each round timing `calls` calls; torch runs on one thread, numpy
on its BLAS's own threads (tiny products stay on one)."""

import time

import numpy as np

from benchmarks.measure import in_turns

COLUMNS = "method B S 2H us_per_call times_bmm max_abs_diff".split()


def _methods(query, enc_out) -> dict:
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
    """Time per call and max |difference| from torch.bmm for each method and batch size."""
    import torch

    saved_threads, rows = torch.get_num_threads(), []
    torch.set_num_threads(1)
    try:
        for batch in batch_sizes:
            generator = torch.Generator().manual_seed(seed)
            query = torch.randn(batch, 1, two_h, generator=generator)  # (B, 1, 2H)
            methods = _methods(query, torch.randn(batch, src_len, two_h, generator=generator))  # keys: (B, S, 2H)
            reference, calls, times = methods["torch.bmm"]().numpy(), max(3, 512 // batch), {m: [] for m in methods}
            for _, name in in_turns(list(methods), range(rounds)):
                tick = time.perf_counter()
                for _ in range(calls):
                    methods[name]()
                times[name].append((time.perf_counter() - tick) / calls)
            us = {name: 1e6 * float(np.median(times[name])) for name in methods}
            for name, method in methods.items():
                diff = float(np.abs(np.asarray(method()).reshape(reference.shape) - reference).max())
                values = name, batch, src_len, two_h, round(us[name], 1), round(us[name] / us["torch.bmm"], 2), diff
                rows.append(dict(zip(COLUMNS, values)))
    finally:
        torch.set_num_threads(saved_threads)
    return {"rows": rows, "rounds": rounds}
