"""The benchmarks: their arithmetic against hand computations, their verdicts and report, and a quick run
of every section on the tiny bundle, checking structure and that the methods compared agree. Timings are
never asserted (machines are noisy): only that they were taken."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from benchmarks.__main__ import SECTIONS, build_parser, main
from benchmarks.decoding_speed import bmm_section, costs
from benchmarks.measure import median_ratio, summary_ms
from benchmarks.report import MET, NOT_MEASURED, NOT_MET, evaluate_targets, render_markdown, reported_ratios

SMALL = {"embed_dim": 4, "hidden_dim": 2, "vocab_size": 10, "attention": "general", "attention_dim": 3}


def test_summary_is_numpys_median_and_percentile():
    times = [0.004, 0.001, 0.003, 0.002, 0.010]
    assert summary_ms(times) == {"n": 5, "median_ms": 3.0, "p90_ms": round(float(np.percentile(times, 90)) * 1e3, 3)}
    assert summary_ms([])["median_ms"] is None
    assert median_ratio([10, 10, 30], [2, 5, 5]) == 2.0 and median_ratio([], [1]) is None


def test_floor_costs_by_hand():
    # E=4, H=2, D=2H=4, V=10, S=3; general attention: keys are D×D = 16 weights, once per source token.
    encoder, step = costs(SMALL, src_len=3, weight_bytes=1)
    gru = 2 * (3 * 2 * 4 + 3 * 2 * 2)  # both directions: 3H×E + 3H×H each = 72
    assert encoder["flops"] == 2 * 3 * (gru + 16) + 2 * 16  # + the bridge D×D once
    assert encoder["bytes"] == 4 * gru + 1 * (16 + 16) + 4 * 3 * 8  # GRU stays fp32; enc_out and keys written
    weights = 3 * 4 * 4 + 3 * 4 * 4 + 2 * 4 * 4 + 10 * 4  # GRU cell, pre-output, output = 168
    assert step == {"flops": 2 * weights + 4 * 3 * 4, "bytes": weights + 4 * 2 * 3 * 4}


def test_attention_methods_agree():
    result = bmm_section(two_h=8, src_len=5, batch_sizes=(1, 3), rounds=1)
    assert [(r["method"], r["B"]) for r in result["rows"]] == [
        (m, b) for b in (1, 3) for m in ("torch.bmm", "Python loop", "torch.einsum", "numpy.matmul")
    ]
    assert all(r["max_abs_diff"] < 1e-5 and r["us_per_call"] > 0 for r in result["rows"])
    assert all(r["times_bmm"] == 1.0 for r in result["rows"] if r["method"] == "torch.bmm")


def _results(**sections) -> dict:
    meta = {
        "command": "python -m benchmarks --quick",
        "date": "2026-01-01",
        "load_average_end": [1, 1, 1],
        "machine": {"cpu": "Test CPU", "usable_cpus": 2, "os": "Linux", "python": "3.11", "load_average": [1, 1, 1]},
        "versions": {"numpy": "2"},
        "bundle": "assets/en-de",
        "pair": "en-de",
        "precision": "int8",
        "model_config": SMALL,
        "sentences": "3 sentences",
        "median_source_tokens": 3,
    }
    return {"meta": meta, **sections}


def test_targets_met_not_met_and_not_measured():
    ratio = lambda name, value, decoding="greedy": {"ratio": name, "decoding": decoding, "threads": 1, "value": value}  # noqa: E731
    served = lambda name, rate, cold, errors=0: {
        "server": name,
        "answers_per_s": rate,
        "errors": errors,  # noqa: E731
        "cold_start_best_s": cold,
    }
    results = _results(
        latency={
            "ratios": [
                ratio("int8 speed-up over fp32", 2.0),
                ratio("fp32 speed-up over torch", 4.9),
                ratio("int8 beam5 latency / greedy latency", 2.6, ""),
            ]
        },
        floor={"rows": [{"variant": "fp32", "times_floor": 2.0}, {"variant": "int8", "times_floor": 3.6}]},
        served={"rows": [served("trivial", 100.0, 4.0), served("app", 79.0, 5.0, errors=1)]},
        browser={"rows": [{"interaction": "step switch, heatmap (in the page)", "median_ms": 50.0}]},
        beam={"speedup": 3.0},
    )
    status = {row["target"].split(" (")[0]: row["status"] for row in evaluate_targets(results)}
    assert status["int8 greedy ≥ 2× faster than fp32"] == MET  # the bound is inclusive
    assert status["int8 beam 5 latency ≤ 2.5× greedy"] == NOT_MET
    assert status["best variant within 2× of the hardware floor"] == MET  # the best variant, inclusive
    assert status["served app ≥ 80% of a trivial Gradio app's answers/s"] == NOT_MET  # 79 %
    assert status["served app: no errors under 8 clients"] == NOT_MET
    assert status["cold start ≤ the trivial app's + 1 s"] == MET  # exactly 1 s above
    assert status['under load: every request answered or refused with "queue full", no other errors'] == NOT_MEASURED
    assert status["step switch ≤ 50 ms"] == MET and status["first heatmap ≤ 1 s"] == NOT_MEASURED
    assert not any("PyTorch eager" in target or "batched beam" in target for target in status)  # reported instead
    reported = {row["ratio"].split(" (")[0]: row for row in reported_ratios(results)}
    assert reported["fp32 greedy speed-up over PyTorch eager"]["measured"] == "4.90×"
    assert reported["batched beam 5 over one sentence at a time"]["measured"] == "3.00×"
    assert reported["int8 greedy speed-up over PyTorch eager"]["measured"] == "–"  # not measured
    assert all(row["why"] and "status" not in row for row in reported.values())


def test_report_shows_targets_tables_and_skips():
    text = render_markdown(
        _results(
            beam={"beam": 5, "rows": [{"batch_size": 32, "sentences_per_s": 1.5}]},
            browser={"skipped": "chromium is not installed"},
        )
    )
    assert "python -m benchmarks --quick" in text and "Test CPU" in text and "## Targets" in text
    assert "| ratio | measured | why |" in text  # the ratios once targets, with the reason
    assert "| batch_size | sentences_per_s |" in text and "| 32 | 1.5 |" in text
    assert "Not measured: chromium is not installed" in text and "## Per-sentence latency" not in text


def test_every_flag_has_help_and_bad_sections_are_refused(capsys):
    assert all(action.help for action in build_parser()._actions)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--only", "latency,speed"])
    assert "unknown section speed" in capsys.readouterr().err


def test_quick_model_sections(tiny_bundle, tiny_corpus, tmp_path):
    """latency (torch / fp32 / int8), floor, bmm, beam and training on the tiny bundle; the files appear."""
    out = tmp_path / "out"
    assert (
        main(
            [
                "--bundle",
                str(tiny_bundle),
                "--quick",
                "--only",
                "latency,bmm,beam,training",
                "--threads",
                "1",
                "--data-dir",
                str(tiny_corpus),
                "--work-dir",
                str(tmp_path / "work"),
                "--out-dir",
                str(out),
            ]
        )
        == 0
    )
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    cells = {(r["variant"], r["decoding"]) for r in results["latency"]["rows"]}
    assert cells == {(v, d) for v in ("torch", "fp32", "int8") for d in ("greedy", "beam5")}
    assert all(r["n"] == 6 and r["median_ms"] > 0 for r in results["latency"]["rows"])
    fp32_vs_torch = [a for a in results["latency"]["agreement"] if a["variants"] == "fp32 vs torch"]
    assert fp32_vs_torch and all(a["identical"] == a["of"] == 6 for a in fp32_vs_torch)  # same loop, same weights
    assert {r["variant"] for r in results["floor"]["rows"]} == {"torch", "fp32", "int8"}
    assert all(0 < r["floor_median_ms"] for r in results["floor"]["rows"])
    assert all(
        r["2H"] == 64 and r["max_abs_diff"] < 1e-4 for r in results["bmm"]["rows"]
    )  # hidden_dim 32 in the tiny model
    assert results["beam"]["identical_outputs"] == results["beam"]["of"] == 8  # batched beam = one at a time
    assert {(r["threads"], r["batch_size"]) for r in results["beam"]["rows"]} <= {
        (n, b) for n in (1, 2) for b in (1, 32)
    }
    assert all(r["sentences"] == 8 and r["sentences_per_s"] > 0 for r in results["beam"]["rows"])
    assert results["beam"]["speedup"] == results["beam"]["ratios"][-1]["speedup"] > 0
    assert "raw" not in results["latency"]
    training = results["training"]
    assert training["steps_measured"] == 3 and training["tokens_per_s"] > 0
    assert [(r["processes"], r["threads_per_process"]) for r in training["rows"]] == [(1, 2), (2, 1)]
    assert all(r["tokens_per_s"] > 0 for r in training["rows"])
    text = (out / "results.md").read_text(encoding="utf-8")
    assert "## Targets" in text and "## Attention four ways" in text and "## Served app" not in text


def test_quick_served_sections(tiny_bundle, tiny_corpus, tmp_path):
    """app.py and the trivial app served, loaded past the queue's size, and driven in Chromium."""
    out = tmp_path / "out"
    assert (
        main(
            [
                "--bundle",
                str(tiny_bundle),
                "--quick",
                "--only",
                "served,load,browser",
                "--clients",
                "2,40",
                "--data-dir",
                str(tiny_corpus),
                "--out-dir",
                str(out),
            ]
        )
        == 0
    )
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    served = {r["server"]: r for r in results["served"]["rows"]}
    assert set(served) == {"app", "trivial"}
    assert all(r["answers"] > 0 and r["errors"] == 0 and r["cold_start_best_s"] > 0 for r in served.values())
    load = results["load"]["rows"]
    assert [r["clients"] for r in load] == [2, 40] and all(r["answers"] > 0 and r["errors"] == 0 for r in load)
    assert load[0]["queue_full"] == 0  # 2 clients never fill a queue of QUEUE_SIZE
    assert all(r["rss_before_mib"] > 0 and r["rss_after_mib"] > 0 for r in load)
    if shutil.which("chromium"):
        rows = [r["n"] for r in results["browser"]["rows"]]
        # 1 page load, 2 later translations, 3 step switches (heatmap and panel), 1 first picture, 3 picture redraws
        assert rows == [1, 2, 3, 3, 1, 3], rows
    assert set(SECTIONS) >= set(results) - {"meta"}


def test_bad_input_is_one_clear_line(tiny_bundle, tmp_path, capsys):
    assert main(["--bundle", str(tmp_path), "--out-dir", str(tmp_path / "out")]) == 2
    assert "is not a bundle folder" in capsys.readouterr().err
    (tmp_path / "test.jsonl").write_text('{"fr": "Un chien court."}\n', encoding="utf-8")
    assert main(["--bundle", str(tiny_bundle), "--data-dir", str(tmp_path), "--out-dir", str(tmp_path / "out")]) == 2
    assert "has lines without a 'en' field" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_browser_section_reports_a_page_that_never_loads():
    if not shutil.which("chromium"):
        pytest.skip("chromium is not installed")
    from benchmarks.served import browser_section

    result = browser_section("http://127.0.0.1:9/", ["A dog runs.", "A cat sleeps."], page_loads=1, translations=0)
    assert result["error"].startswith("the browser run stopped:") and "rows" not in result


def test_quick_site_section(tiny_bundle, tiny_corpus, tmp_path):
    """The static site built for the tiny bundle, in Chromium against native onnxruntime, cold loads and files."""
    if not shutil.which("chromium"):
        pytest.skip("chromium is not installed")
    out, only = tmp_path / "out", ["--quick", "--only", "site"]
    assert main(["--bundle", str(tiny_bundle), *only, "--data-dir", str(tiny_corpus), "--out-dir", str(out)]) == 0
    site = json.loads((out / "results.json").read_text(encoding="utf-8"))["site"]
    if "skipped" in site:
        pytest.skip(site["skipped"])
    assert {(r["engine"], r["decoding"]) for r in site["rows"]} == {
        (e, d) for e in ("browser", "native") for d in ("greedy", "beam5")
    }
    assert all(r["n"] == 3 * 3 and r["median_ms"] > 0 for r in site["rows"])  # 3 sentences x 3 rounds
    assert all(r["browser_over_native"] > 0 for r in site["ratios"]) and "WASM" in site["runtime"]
    assert site["cold_loads"] == 1 and site["cold_load_median_s"] > 0 and site["cold_load_mb"] > 1
    static = site["static"][0]
    assert static["requests_per_s"] > 0 and "app_answers_per_s" not in static  # served did not run in this run
    text = (out / "results.md").read_text(encoding="utf-8")
    assert "## In the browser, no server" in text and "in-browser translation ≤ 3× native onnxruntime" in text
