"""The benchmark package: its arithmetic against hand computations, its verdicts, its report, and one tiny
end-to-end run on the tiny bundle. No timed assertions: measured numbers are only checked for shape."""
from __future__ import annotations

import json

import pytest

from benchmarks.__main__ import build_parser, main
from benchmarks.floor import (best_machine, decoder_step_cost, encoder_cost, part_seconds,
                              sentence_floor_seconds)
from benchmarks.latency import latency_ratios
from benchmarks.measure import median, paired_ratio, percentile, summarize
from benchmarks.report import MET, NOT_MEASURED, NOT_MET, evaluate_targets, render_markdown
from benchmarks.served import app_queue_settings

SMALL = {"embed_dim": 4, "hidden_dim": 2, "vocab_size": 10, "attention": "general", "attention_dim": 3}


def test_percentile_interpolates_like_numpy():
    assert percentile([4, 1, 3, 2], 50) == 2.5
    assert percentile(range(1, 11), 90) == pytest.approx(9.1)  # numpy.percentile(range(1, 11), 90)
    assert percentile([7], 99) == 7 and percentile([], 50) is None
    assert median([3, 1, 2]) == 2


def test_summarize_by_hand():
    s = summarize([0.01, 0.02, 0.03], [1, 2, 3])
    assert s["median_ms"] == 20 and s["mean_ms"] == 20 and s["sentences"] == 3
    assert s["ms_per_token"] == 10  # 60 ms for 6 tokens
    assert s["tokens_per_s"] == 100


def test_paired_ratio_uses_the_common_prefix():
    assert paired_ratio([2, 2, 2, 100, 100], [1, 1, 1]) == 2.0
    assert paired_ratio([], [1]) is None


def test_decoder_step_cost_by_hand():
    # E=4, D=2H=4, V=10, S=3. Weights: W_ih 3D×E=48, W_hh 3D×D=48, pre_output E×2D=32, output V×E=40.
    cost = decoder_step_cost(SMALL, src_len=3)
    assert cost["flops"] == 2 * 168 + 2 * 3 * 4 + 2 * 3 * 4  # 2 per weight, scores S×D, context S×D
    biases = 6 * 4 + 4  # GRU input and hidden biases (3D each), pre_output bias (E)
    activations = 3 * (4 + 4) + 4 + 2 * 4 + 10  # keys + enc_out, embedding row, hidden in/out, log_probs
    assert cost["bytes"] == 168 * 4 + (biases + activations) * 4
    assert decoder_step_cost(SMALL, 3, weight_bytes=1)["bytes"] == 168 + (biases + activations) * 4
    additive = decoder_step_cost({**SMALL, "attention": "additive"}, src_len=3)
    assert additive["flops"] == 2 * 168 + 2 * 3 * 4 + 2 * 4 * 3 + 2 * 3 * 3  # query proj D×A, energy S×A
    assert additive["weight_bytes"] == (168 + 4 * 3 + 3) * 4 + (biases + 3) * 4


def test_encoder_cost_by_hand():
    # H=2, E=4, D=4, S=3: two GRUs of 3H×E + 3H×H weights = 2 × (24 + 12) = 72; bridge and keys D×D = 16 each.
    cost = encoder_cost(SMALL, src_len=3)
    assert cost["flops"] == 2 * 3 * 72 + 2 * 16 + 2 * 3 * 16
    assert cost["bytes"] == 72 * 4 + 32 * 4 + (3 * 4 + 3 * 8 + 12 * 2 + 2 * 4) * 4


def test_floor_is_the_slower_of_compute_and_memory():
    assert part_seconds({"flops": 2e9, "bytes": 1e9}, gflops=1, bandwidth_gbs=1) == 2.0
    assert part_seconds({"flops": 1e9, "bytes": 3e9}, gflops=1, bandwidth_gbs=1) == 3.0
    total = sentence_floor_seconds(SMALL, 3, 5, gflops=1, bandwidth_gbs=1)
    step, enc = decoder_step_cost(SMALL, 3), encoder_cost(SMALL, 3)
    assert total == pytest.approx(max(enc["flops"], enc["bytes"]) / 1e9 + 5 * max(step["flops"], step["bytes"]) / 1e9)


def test_best_machine_never_gets_worse_with_more_threads():
    machine = {"1": {"matmul_gflops": 100, "bandwidth_gbs": 50}, "2": {"matmul_gflops": 60, "bandwidth_gbs": 80}}
    assert best_machine(machine, 1) == (100, 50)
    assert best_machine(machine, 2) == (100, 80)


def test_latency_ratios_are_speedups_and_beam_over_greedy():
    cell = lambda times: {"seconds": times}  # noqa: E731
    cells = {"torch/greedy/1t": cell([10, 10, 10]), "fp32/greedy/1t": cell([2, 2, 2]), "int8/greedy/1t": cell([1, 1, 1]),
             "int8/beam5/1t": cell([2, 2, 2])}
    ratios = {(r["name"], r.get("decoding") or r.get("variant")): r["value"] for r in latency_ratios(cells, [1], [1, 5])}
    assert ratios[("fp32_over_torch", "greedy")] == 5
    assert ratios[("int8_over_torch", "greedy")] == 10
    assert ratios[("int8_over_fp32", "greedy")] == 2
    assert ratios[("beam5_over_greedy", "int8")] == 2
    assert ("beam5_over_greedy", "fp32") not in ratios  # not measured, not invented


def _fake_results(**served) -> dict:
    ratio = lambda name, value, threads=1, **kw: {"name": name, "threads": threads, "value": value, "meaning": "", **kw}  # noqa: E731
    return {
        "meta": {"command": "python -m benchmarks --limit 3", "date": "2026-01-01", "load_average_end": [1, 1, 1],
                 "machine": {"cpu": "Test CPU", "usable_cpus": 2, "logical_cpus": 2, "memory_gib": 8, "os": "Linux",
                             "python": "3.11", "load_average": [1, 1, 1]},
                 "versions": {"numpy": "2", "gradio": None},
                 "bundle": {"path": "assets/en-de", "pair": "en-de", "num_parameters": 1234, "precision": "int8",
                            "model_config": SMALL}, "test_set": "3 sentences"},
        "latency": {"threads": [1, 2], "beams": [1, 5], "sentences": {"1": 3}, "seconds": {"1": 1.0}, "complete": {"1": True},
                    "budget_s": 5,
                    "cells": {"int8/greedy/1t": {"variant": "int8", "decoding": "greedy", "threads": 1, "sentences": 3,
                                                 "median_ms": 1.0, "p90_ms": 2.0, "ms_per_token": 0.1, "tokens_per_s": 1e4},
                              "torch/greedy/1t": {"variant": "torch", "decoding": "greedy", "threads": 1, "sentences": 3,
                                                  "median_ms": 10.0, "p90_ms": 12.0, "ms_per_token": 1, "tokens_per_s": 1e3}},
                    "ratios": [ratio("int8_over_torch", 12.0, decoding="greedy"), ratio("int8_over_torch", 8.0, 2, decoding="greedy"),
                               ratio("fp32_over_torch", 4.9, decoding="greedy"), ratio("int8_over_fp32", 2.0, decoding="greedy"),
                               ratio("beam5_over_greedy", 2.6, variant="int8")],
                    "agreement": {"fp32_vs_torch/greedy": {"same": 3, "of": 3}}},
        "batch": {"bleu_drop_int8": {"greedy": 0.5, "beam5": 0.2}, "cells": {}, "total_sentences": 3, "origin": "x",
                  "batch_size": 32, "common_sentences": 3},
        "floor": {"cells": {"int8/greedy/1t": {"variant": "int8", "threads": 1, "median_ms": 1.0, "floor_median_ms": 0.6,
                                               "times_floor": 1.7},
                            "fp32/greedy/1t": {"variant": "fp32", "threads": 1, "median_ms": 2.0, "floor_median_ms": 2.5,
                                               "times_floor": 2.5}},
                  "src_len_for_costs": 3, "decoder_step": {"fp32": {"flops": 1e6, "bytes": 2e6}},
                  "encoder": {"fp32": {"flops": 1e6, "bytes": 2e6}}, "machine": {}},
        "served": served or {"skipped": "app.py does not exist yet"},
    }


def test_targets_met_not_met_and_not_measured():
    rows = {r["target"]: r for r in evaluate_targets(_fake_results())}
    status = lambda start: next(r["status"] for t, r in rows.items() if t.startswith(start))  # noqa: E731
    assert status("onnxruntime int8 greedy ≥ 10×") == MET  # judged at 1 thread
    assert "2 threads: 8.00×" in next(r["measured"] for t, r in rows.items() if t.startswith("onnxruntime int8"))
    assert status("onnxruntime fp32 greedy ≥ 5×") == NOT_MET
    fp32 = next(r["measured"] for t, r in rows.items() if t.startswith("onnxruntime fp32"))
    assert "5× would need 2.00 ms per sentence, below fp32's floor (2.50 ms)" in fp32  # 10 ms / 5 < 2.5 ms
    assert status("int8 greedy ≥ 2×") == MET  # the bound is inclusive
    assert status("int8 test BLEU drop") == MET
    assert status("beam 5 latency ≤ 2.5× greedy (int8)") == NOT_MET
    assert status("beam 5 latency ≤ 2.5× greedy (fp32)") == NOT_MEASURED
    assert status("best variant within 2× of the floor") == MET
    assert status("served app ≥ 80%") == NOT_MEASURED and status("cold start") == NOT_MEASURED


def test_served_targets():
    load = lambda rps, errors=0: {"requests_per_s": rps, "errors": errors, "requests": 100}  # noqa: E731
    served = {"clients": 8, "app": {"load": load(79.0, errors=1), "cold_start_best_s": 5.0},
              "trivial": {"load": load(100.0), "cold_start_best_s": 4.0}}
    rows = {r["target"]: r["status"] for r in evaluate_targets(_fake_results(**served))}
    assert rows["served app ≥ 80% of the trivial app's requests/s (8 clients)"] == NOT_MET  # 79 %
    assert rows["served app: zero errors under load"] == NOT_MET
    assert rows["cold start ≤ trivial app's + 1 s"] == MET  # exactly 1 s above


def test_report_renders_every_section_and_skips_cleanly():
    text = render_markdown(_fake_results())
    assert "python -m benchmarks --limit 3" in text and "Test CPU" in text
    assert "## Targets" in text and "| int8 | greedy | 1 | 3 |" in text
    assert "| torch | 34 | 10 |" in text  # against the reference numbers
    assert "app.py does not exist yet" in text
    assert "gradio None" not in text  # packages that are not installed are left out


def test_queue_settings_come_from_app_source(tmp_path):
    fake = tmp_path / "app.py"
    fake.write_text("import gradio as gr\nCONCURRENCY = 3  # comment\nQUEUE_SIZE = 17\n", encoding="utf-8")
    assert app_queue_settings(fake) == {"queue_size": 17, "concurrency": 3}


def test_every_flag_has_help():
    for action in build_parser()._actions:
        assert action.help, action.option_strings


def test_tiny_benchmark_run(tiny_bundle, tiny_corpus, tmp_path):
    """torch / fp32 / int8 on 3 sentences, greedy and beam, plus batch BLEU and the floor: the files appear."""
    out = tmp_path / "out"
    code = main(["--bundle", str(tiny_bundle), "--sections", "latency,batch,floor", "--limit", "3",
                 "--latency-sentences", "3", "--threads", "1", "--budget", "20", "--data-dir", str(tiny_corpus),
                 "--work-dir", str(tmp_path / "work"), "--out-dir", str(out)])
    assert code == 0
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert set(results["latency"]["cells"]) == {f"{v}/{d}/1t" for v in ("torch", "fp32", "int8") for d in ("greedy", "beam5")}
    assert all(c["sentences"] == 3 for c in results["latency"]["cells"].values())
    assert results["latency"]["agreement"]["fp32_vs_torch/greedy"] == {"same": 3, "of": 3}
    assert results["batch"]["cells"]["fp32/greedy"]["scores"]["sacrebleu"] >= 0
    assert set(results["floor"]["cells"]) == {"torch/greedy/1t", "fp32/greedy/1t", "int8/greedy/1t"}
    text = (out / "results.md").read_text(encoding="utf-8")
    assert "## Targets" in text and "## 3. Floor" in text and "## 4. Served app" not in text
