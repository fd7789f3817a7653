"""Speed of the translator, from the attention kernel to the page in a browser, measured on this machine.

    python -m benchmarks                                   # every section on assets/en-de: several minutes
    python -m benchmarks --quick                           # every section, small sizes: about a minute
    python -m benchmarks --only latency,bmm --sentences 50

Sections: latency (torch eager vs onnxruntime fp32 vs int8, greedy and beam, 1 and 2 threads, with the
hardware floor), bmm (attention by torch.bmm, a Python loop, torch.einsum, numpy.matmul), beam (batched
beam search throughput), served (app.py vs a trivial Gradio app: cold start, 8 clients), load (app.py
under 8 and 64 clients), browser (Chromium on the page: heatmap and step-switch times), training
(the training step's speed). Prints the tables and writes results.md and results.json (into benchmarks/).
"""

import argparse
import datetime
import json
import os
import shlex
import sys
from pathlib import Path

import numpy as np

from benchmarks.bmm import bmm_section
from benchmarks.decoding_speed import beam_section, floor_section, latency_section
from benchmarks.measure import ROOT, cpu_translator, machine, versions
from benchmarks.report import render_markdown
from benchmarks.served import browser_section, load_section, served_section, start_app
from benchmarks.training_speed import DEFAULT_DATA_DIR, training_section

SECTIONS = ("latency", "bmm", "beam", "served", "load", "browser", "training")
# Sizes: flag -> (type, full run, --quick, help); the full or quick value is used when the flag is not given.
SIZES = {
    "sentences": (int, 100, 6, "latency: test sentences per cell"),
    "budget": (float, 240.0, 30.0, "latency: seconds for all its cells, at most"),
    "batch_sizes": (str, "1,8,32,128", "1,8", "bmm: batch sizes B"),
    "beam_sentences": (int, 128, 8, "beam: the first N test sentences"),
    "cold_starts": (int, 2, 1, "served: cold starts per server (the best is reported)"),
    "seconds": (float, 8.0, 1.5, "served and load: seconds per load run"),
    "page_loads": (int, 5, 1, "browser: fresh pages, one first heatmap each"),
    "translations": (int, 10, 2, "browser: later translations on one page, step switches after each"),
    "train_steps": (int, 20, 3, "training: measured steps"),
}


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x.strip())


def _sections(text: str) -> tuple[str, ...]:
    unknown = [n for n in text.split(",") if n not in SECTIONS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown section {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    return tuple(text.split(","))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--bundle", default=str(ROOT / "assets" / "en-de"), help="bundle folder (default: %(default)s)")
    p.add_argument(
        "--only", type=_sections, default=SECTIONS, help=f"comma-separated sections (default: {','.join(SECTIONS)})"
    )
    p.add_argument("--quick", action="store_true", help="small sizes everywhere: a check that every section runs")
    p.add_argument(
        "--data-dir",
        default=str(DEFAULT_DATA_DIR),
        help="folder with test.jsonl (Multi30k test2016), its column named like the bundle's source "
        "language; missing: our example sentences (default: %(default)s)",
    )
    for name, (kind, full, quick, text) in SIZES.items():
        p.add_argument(
            "--" + name.replace("_", "-"), type=kind, help=f"{text} (default: {full}; with --quick: {quick})"
        )
    p.add_argument(
        "--threads", type=_ints, default=(1, 2), help="latency: onnxruntime/torch thread counts (default: 1,2)"
    )
    p.add_argument("--clients", type=_ints, default=(8, 64), help="load: client counts (default: 8,64)")
    p.add_argument(
        "--work-dir",
        help="latency: where the other-precision bundle is exported and kept for next time "
        "(default: a temporary folder, removed)",
    )
    p.add_argument(
        "--out-dir",
        default=str(ROOT / "benchmarks"),
        help="where results.md and results.json go (default: %(default)s)",
    )
    return p


def read_sentences(bundle: Path, src: str, data_dir: str, count: int) -> tuple[list[str], str, int]:
    """The first `count` sentences of data_dir/test.jsonl's `src` column (else our example sentences) that the
    bundle accepts (too long or unknown characters: left out), where they came from, their median length."""
    path = Path(data_dir) / "test.jsonl" if data_dir else None
    if path is not None and path.is_file():
        with open(path, encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.strip()]
        if any(src not in row for row in rows):
            raise RuntimeError(
                f"{path} has lines without a '{src}' field (the bundle's source language); "
                f"pass --data-dir with a test.jsonl in that schema"
            )
        sources, origin = [row[src] for row in rows], str(path)
    else:
        from inference.examples import examples_for

        sources, origin = list(examples_for(src)), "inference/examples.py"
    checked = cpu_translator(bundle).check_sources(sources)
    accepted = [(text, ids) for text, ids in zip(sources, checked) if isinstance(ids, list)][:count]
    if len(accepted) < 2:
        raise RuntimeError(
            f"{origin} has fewer than 2 sentences this bundle accepts; pass --data-dir with a "
            f"test.jsonl whose '{src}' column holds sentences in the bundle's source language"
        )
    return [text for text, _ in accepted], origin, int(np.median([len(ids) for _, ids in accepted]))


def run_sections(args, bundle: Path, sentences: list[str], results: dict, save) -> None:
    """Each asked-for section in turn, its results saved as soon as it is done."""
    config, pair, wanted = results["meta"]["model_config"], results["meta"]["pair"], set(args.only)
    if "latency" in wanted:
        latency = latency_section(
            bundle,
            args.work_dir,
            sentences[: args.sentences],
            args.threads,
            budget_s=args.budget,
            block=max(1, min(10, args.sentences // 3)),
        )
        raw, results["latency"] = latency.pop("raw"), latency
        results["floor"] = floor_section(config, raw, args.threads)
        save()
    if "bmm" in wanted:
        results["bmm"] = bmm_section(
            2 * config["hidden_dim"],
            results["meta"]["median_source_tokens"],
            _ints(args.batch_sizes),
            rounds=3 if args.quick else 7,
        )
        save()
    if "beam" in wanted:
        results["beam"] = beam_section(bundle, sentences[: args.beam_sentences])
        save()
    app = None
    try:
        if "served" in wanted:
            results["served"], app = served_section(bundle, pair, sentences, 8, args.seconds, args.cold_starts)
            save()
        if wanted & {"load", "browser"}:
            app = app or start_app(bundle, pair, sentences[0])
        if "load" in wanted:
            results["load"] = load_section(app, sentences, args.clients, args.seconds)
            save()
        if "browser" in wanted:
            results["browser"] = browser_section(
                app.url, sentences, args.page_loads, args.translations, switches_per_translation=1 if args.quick else 3
            )
            save()
    finally:
        if app is not None:
            app.stop()
    if "training" in wanted:
        results["training"] = training_section(bundle, args.data_dir, args.train_steps)
        save()


def _error(message) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    for name, (_, full, quick, _) in SIZES.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    bundle, out_dir = Path(args.bundle), Path(args.out_dir)
    try:
        manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        return _error(
            f"{bundle} is not a bundle folder ({error}); export one with `python -m export CHECKPOINT --out {bundle}`"
        )
    wanted = max(args.sentences, args.beam_sentences, 2 * args.page_loads + args.translations + 1, 50)
    try:
        sentences, origin, src_len = read_sentences(bundle, manifest["pair"]["src"], args.data_dir, wanted)
    except (RuntimeError, ValueError) as error:
        return _error(error)
    command = " ".join(["python -m benchmarks"] + [shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)])
    inside = bundle.resolve().is_relative_to(ROOT)  # then shown from the root, where the results files are read
    results = {
        "meta": {
            "command": command,
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "machine": machine(),
            "versions": versions(),
            "bundle": str(bundle.resolve().relative_to(ROOT) if inside else bundle),
            "pair": f"{manifest['pair']['src']}-{manifest['pair']['tgt']}",
            "precision": manifest.get("precision"),
            "model_config": manifest["model_config"],
            "sentences": f"the first {len(sentences)} accepted from {origin}",
            "median_source_tokens": src_len,
        }
    }
    out_dir.mkdir(parents=True, exist_ok=True)

    def save() -> None:
        results["meta"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
        for name, text in (
            ("results.json", json.dumps(results, indent=1) + "\n"),
            ("results.md", render_markdown(results)),
        ):
            partial = out_dir / f".{name}.partial"
            partial.write_text(text, encoding="utf-8")
            os.replace(partial, out_dir / name)

    try:
        run_sections(args, bundle, sentences, results, save)
    except (FileNotFoundError, RuntimeError) as error:
        save()
        return _error(error)
    save()
    print(render_markdown(results) + f"\nwrote {out_dir / 'results.md'} and {out_dir / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
