"""Targets (met / not met) and the Markdown report, from the results dict alone (pure: no measuring here)."""
from __future__ import annotations

MET, NOT_MET, NOT_MEASURED = "met", "not met", "n/a"


def status(met: bool | None) -> str:
    return NOT_MEASURED if met is None else MET if met else NOT_MET


def find_ratio(results: dict, name: str, threads: int, decoding: str | None = None, variant: str | None = None):
    for ratio in (results.get("latency") or {}).get("ratios", []):
        if (ratio["name"] == name and ratio["threads"] == threads and ratio.get("decoding") == decoding
                and ratio.get("variant") == variant):
            return ratio["value"]
    return None


def _x(value) -> str:
    return "–" if value is None else f"{value:.2f}×"


def _ratio_row(results, target, name, minimum=None, maximum=None, decoding=None, variant=None) -> dict:
    """A latency-ratio target, judged at 1 thread (as the reference numbers were); 2 threads shown beside."""
    threads = (results.get("latency") or {}).get("threads") or [1]
    primary = 1 if 1 in threads else threads[0]
    value = find_ratio(results, name, primary, decoding, variant)
    others = [f"{t} threads: {_x(find_ratio(results, name, t, decoding, variant))}" for t in threads if t != primary]
    met = None if value is None else (minimum is None or value >= minimum) and (maximum is None or value <= maximum)
    measured = "–" if value is None else f"{_x(value)} at {primary} thread" + (f" ({'; '.join(others)})" if others else "")
    if met is False and minimum and name.endswith("_over_torch"):
        measured += _below_floor_note(results, name.split("_")[0], primary, minimum)
    return {"target": target, "measured": measured, "status": status(met)}


def _below_floor_note(results: dict, variant: str, threads: int, times: float) -> str:
    """Says so when the speed-up asked for would need a time below that variant's floor on this machine."""
    torch = (results.get("latency") or {}).get("cells", {}).get(f"torch/greedy/{threads}t")
    floor = (results.get("floor") or {}).get("cells", {}).get(f"{variant}/greedy/{threads}t")
    if not torch or not floor or not torch.get("median_ms"):
        return ""
    needed = torch["median_ms"] / times
    if needed >= floor["floor_median_ms"]:
        return ""
    basis = " at the fp32 matmul rate" if variant == "int8" else ""
    return (f"; {times:g}× would need {needed:.2f} ms per sentence, below {variant}'s floor "
            f"({floor['floor_median_ms']:.2f} ms{basis}) on this machine")


# The "straightforward version" (1 thread, 200 test sentences, greedy), for scale.
REFERENCE_MS = {"torch": 34.0, "fp32": 7.3, "int8": 3.3}


def evaluate_targets(results: dict) -> list[dict]:
    """Rows of (target, measured, status) for every target in the issue."""
    rows = [
        _ratio_row(results, "onnxruntime int8 greedy ≥ 10× faster than PyTorch eager", "int8_over_torch", 10, decoding="greedy"),
        _ratio_row(results, "onnxruntime fp32 greedy ≥ 5× faster than PyTorch eager", "fp32_over_torch", 5, decoding="greedy"),
        _ratio_row(results, "int8 greedy ≥ 2× faster than fp32", "int8_over_fp32", 2, decoding="greedy"),
    ]
    drops = (results.get("batch") or {}).get("bleu_drop_int8") or {}
    rows.append({"target": "int8 test BLEU drop ≤ 0.5 vs fp32 (sacreBLEU)",
                 "measured": ", ".join(f"{d}: {v:+.2f}" for d, v in drops.items()) or "–",
                 "status": status(all(v <= 0.5 for v in drops.values()) if drops else None)})
    for variant in ("int8", "fp32"):
        rows.append(_ratio_row(results, f"beam 5 latency ≤ 2.5× greedy ({variant})", "beam5_over_greedy",
                               maximum=2.5, variant=variant))
    cells = (results.get("floor") or {}).get("cells") or {}
    if cells:
        key, best = min(cells.items(), key=lambda kv: kv[1]["times_floor"])
        rows.append({"target": "best variant within 2× of the floor", "status": status(best["times_floor"] <= 2),
                     "measured": f"{best['times_floor']:.2f}× ({key})"})
    else:
        rows.append({"target": "best variant within 2× of the floor", "measured": "–", "status": status(None)})
    rows += _served_rows(results.get("served") or {})
    return rows


def _served_rows(served: dict) -> list[dict]:
    app, trivial = served.get("app") or {}, served.get("trivial") or {}
    app_load, trivial_load = app.get("load"), trivial.get("load")
    share = None
    if app_load and trivial_load and trivial_load["requests_per_s"]:
        share = app_load["requests_per_s"] / trivial_load["requests_per_s"]
    clients = served.get("clients", 8)
    rows = [{"target": f"served app ≥ 80% of the trivial app's requests/s ({clients} clients)",
             "measured": "–" if share is None else
             f"{share:.0%} ({app_load['requests_per_s']} vs {trivial_load['requests_per_s']} req/s)",
             "status": status(None if share is None else share >= 0.8)},
            {"target": "served app: zero errors under load",
             "measured": "–" if not app_load else f"{app_load['errors']} errors in {app_load['requests']} requests",
             "status": status(None if not app_load else app_load["errors"] == 0)}]
    a, t = app.get("cold_start_best_s"), trivial.get("cold_start_best_s")
    rows.append({"target": "cold start ≤ trivial app's + 1 s",
                 "measured": "–" if a is None or t is None else f"{a:.2f} s vs {t:.2f} s ({a - t:+.2f} s)",
                 "status": status(None if a is None or t is None else a - t <= 1.0)})
    return rows


def table(header: list[str], rows: list[list]) -> str:
    def cell(value) -> str:
        if value is None:
            return "–"
        if isinstance(value, float):
            return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 100 else f"{value:,.1f}"
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(results: dict) -> str:
    meta = results["meta"]
    m = meta["machine"]
    out = ["# Benchmarks", "",
           f"Command: `{meta['command']}`  ", f"Date: {meta['date']}  ",
           f"Machine: {m['cpu']}, {m['usable_cpus']} usable of {m['logical_cpus']} logical CPUs, "
           f"{m['memory_gib']} GiB, {m['os']}; load average at start {m['load_average']}, "
           f"at end {meta.get('load_average_end')}  ",
           "Versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items() if v) + f", python {m['python']}  ",
           f"Bundle: `{meta['bundle']['path']}` ({meta['bundle']['pair']}, {meta['bundle']['num_parameters']:,} parameters, "
           f"{meta['bundle']['precision']}); config {meta['bundle']['model_config']}  ",
           f"Test sentences: {meta.get('test_set', '–')}", "",
           "## Targets", "", table(["target", "measured", "status"],
                                   [[r["target"], r["measured"], r["status"]] for r in evaluate_targets(results)])]
    cells = (results.get("latency") or {}).get("cells") or {}
    reference = [[v, ms, cells[f"{v}/greedy/1t"]["median_ms"]] for v, ms in REFERENCE_MS.items() if f"{v}/greedy/1t" in cells]
    if reference:
        out += ["", "For scale, greedy median ms per sentence at 1 thread against the issue's straightforward version "
                    "(its own model, machine and sentences):", "", table(["variant", "reference ms", "here ms"], reference)]
    for title, render, key in (("1. Per-sentence latency", _latency, "latency"), ("2. Batch throughput and BLEU", _batch, "batch"),
                               ("3. Floor", _floor, "floor"), ("4. Served app", _served, "served"),
                               ("5. Training speed", _training, "training")):
        section = results.get(key)
        if section is not None:
            out += ["", f"## {title}", "", render(section) if "skipped" not in section else section["skipped"]]
    return "\n".join(out) + "\n"


def _latency(s: dict) -> str:
    rows = [[c["variant"], c["decoding"], c["threads"], c["sentences"], c["median_ms"], c["p90_ms"],
             c["ms_per_token"], c["tokens_per_s"]] for c in s["cells"].values()]
    ratio_rows = [[r["name"], r.get("decoding") or r.get("variant"), r["threads"], _x(r["value"]), r["meaning"]]
                  for r in s["ratios"]]
    agree = ", ".join(f"{k}: {v['same']}/{v['of']} identical" for k, v in s["agreement"].items())
    note = "; ".join(f"{t} thread(s): {n} sentences, cells taking turns every {s.get('block', 1)} sentences, {s['seconds'][t]} s"
                     + ("" if s["complete"][t] else " (stopped by the budget)") for t, n in s["sentences"].items())
    return "\n".join([note, "", table(["variant", "decoding", "threads", "sentences", "median ms", "p90 ms", "ms/token",
                                       "tokens/s"], rows), "", table(["ratio", "of", "threads", "value", "meaning"], ratio_rows),
                      "", f"Same token ids: {agree or '–'}"])


def _batch(s: dict) -> str:
    rows = []
    for c in s["cells"].values():
        sc, common = c.get("scores") or {}, c.get("common_scores") or {}
        rows.append([c["variant"], c["decoding"], c["threads"], c["sentences"], c["sentences_per_s"], sc.get("sacrebleu"),
                     sc.get("chrf"), sc.get("bleu_lowercase_tokenized"), common.get("sacrebleu")])
    signature = next((c["scores"]["signature"] for c in s["cells"].values() if c.get("scores")), "no references")
    return "\n".join([f"{s['total_sentences']} sentences from {s['origin']}, batch size {s['batch_size']} "
                      f"(greedy; beam search goes one sentence at a time); BLEU over the first {s['common_sentences']} "
                      "sentences every cell finished in the last column.", "",
                      table(["variant", "decoding", "threads", "sentences", "sentences/s", "sacreBLEU", "chrF",
                             "BLEU lc-tok", f"sacreBLEU (first {s['common_sentences']})"], rows), "",
                      f"sacreBLEU signature: `{signature}`"])


def _floor(s: dict) -> str:
    cost_rows = [[part, precision, f"{c['flops'] / 1e6:.2f}", f"{c['bytes'] / 1e6:.2f}"]
                 for part, key in (("decoder step", "decoder_step"), ("encoder", "encoder"))
                 for precision, c in s[key].items()]
    machine_rows = [[t, m["matmul_gflops"], m["copy_gbs"], m["gemv_gbs"], m["gemv_matrix_mib"]] for t, m in s["machine"].items()]
    cell_rows = [[c["variant"], c["threads"], c["median_ms"], c["floor_median_ms"], _x(c["times_floor"]),
                  c.get("encode_median_ms"), c.get("step_ms"), c.get("step_floor_ms"), c.get("loop_ms_per_token")]
                 for c in s["cells"].values()]
    return "\n".join([f"Costs for a {s['src_len_for_costs']}-token source (one row; elementwise work left out):", "",
                      table(["part", "weights", "MFLOP", "MB touched"], cost_rows), "",
                      table(["BLAS threads", "matmul GFLOP/s", "copy GB/s (256 MiB)", "matrix-vector GB/s",
                             "matrix MiB"], machine_rows), "",
                      "Greedy, per sentence (floor from each sentence's own source and output length):", "",
                      table(["variant", "threads", "median ms", "floor ms (median)", "× floor (median)",
                             "encode ms (median)", "step ms (graph alone)", "step floor ms", "loop ms/token"], cell_rows),
                      "", "step ms: one decoder call alone (batch 1, a median-length sentence); loop ms/token: the rest "
                          "of each output token's time in the Python decoding loop (top-k, bookkeeping)."])


def _served(s: dict) -> str:
    rows = []
    for name in ("trivial", "app"):
        r = s.get(name) or {}
        load = r.get("load") or {}
        rows.append([name, r.get("cold_start_best_s"), ", ".join(map(str, r.get("cold_start_s", []))),
                     load.get("requests_per_s"), load.get("p50_ms"), load.get("p99_ms"), load.get("errors"),
                     load.get("requests"), r.get("peak_rss_mib")])
    text = [f"{s['clients']} gradio_client threads for {s['load_seconds']} s against 127.0.0.1; queue {s['queue']}", "",
            table(["server", "cold start s (best)", "cold starts s", "req/s", "p50 ms", "p99 ms", "errors", "requests",
                   "peak RSS MiB"], rows)]
    if s.get("error"):
        text += ["", f"Error: {s['error'][:500]}"]
    return "\n".join(text)


def _training(s: dict) -> str:
    recorded = s.get("recorded_minutes_per_epoch")
    return "\n".join([table(["threads", "batch size", "steps measured", "s/step", "tokens/s", "batches/epoch",
                             "minutes/epoch (measured)", "minutes/epoch (recorded in manifest)"],
                            [[s["threads"], s["batch_size"], s["steps_measured"], s["seconds_per_step"], s["tokens_per_s"],
                              s["batches_per_epoch"], s["minutes_per_epoch"], recorded]]),
                      "", f"Measured on {s['data_dir']}; {s['num_parameters']:,} parameters. The recorded figure comes from "
                          f"the bundle's own training run on {s.get('recorded_data')} and includes end-of-epoch validation."])
