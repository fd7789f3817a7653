"""Speed and cost of the translator, measured side by side against PyTorch and the hardware floor.

    python -m benchmarks --bundle assets/en-de                       # everything: minutes; each timed part
                                                                     # stops at --budget seconds
    python -m benchmarks --bundle assets/en-de --limit 20 --budget 30 --sections latency,floor   # a quick look
    python -m benchmarks --bundle assets/en-de --sections served --load-seconds 10

Sections: latency (per sentence; torch eager vs onnxruntime fp32 vs int8, greedy and beam, 1 and 2
threads), batch (sentences/s over the test split and the BLEU each variant gets), floor (FLOPs and bytes
from the config vs this machine's numpy GFLOP/s and bandwidth), served (app.py vs a trivial Gradio app:
cold start, 8 clients), training (tokens/s of the real training step, minutes per epoch).
Everything runs in this process and its children on this machine; writes results.md and results.json
(default: into benchmarks/) and prints the Markdown.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from benchmarks.measure import machine, versions

SECTIONS = ("latency", "batch", "floor", "served", "training")
HERE = Path(__file__).resolve().parent


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x.strip())


def _names(allowed):
    def parse(text: str) -> tuple[str, ...]:
        names = tuple(x.strip() for x in text.split(",") if x.strip())
        unknown = [n for n in names if n not in allowed]
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown {', '.join(unknown)}; choose from {', '.join(allowed)}")
        return names
    return parse


def build_parser() -> argparse.ArgumentParser:
    from benchmarks.variants import VARIANTS

    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bundle", default=str(HERE.parent / "assets" / "en-de"),
                   help="shipped bundle folder; its checkpoint.pt gives the torch and the other-precision variants "
                        "(default: %(default)s)")
    p.add_argument("--sections", type=_names(SECTIONS), default=SECTIONS,
                   help=f"comma-separated sections to run (default: {','.join(SECTIONS)})")
    p.add_argument("--variants", type=_names(VARIANTS), default=VARIANTS,
                   help=f"comma-separated variants for latency/batch (default: {','.join(VARIANTS)})")
    p.add_argument("--limit", type=int, default=None, help="use only the first N test sentences everywhere (default: all)")
    p.add_argument("--latency-sentences", type=int, default=200,
                   help="sentences per latency cell, at most (default: %(default)s, as in the issue's reference numbers)")
    p.add_argument("--block", type=int, default=10,
                   help="latency cells take turns every this many sentences (1 = per sentence) (default: %(default)s)")
    p.add_argument("--budget", type=float, default=300,
                   help="soft time budget in seconds for each timed measurement: the whole latency round-robin, and each "
                        "batch cell; work stops cleanly when it runs out and the tables say so (default: %(default)s)")
    p.add_argument("--threads", type=_ints, default=(1, 2), help="intra-op thread counts for latency (default: 1,2)")
    p.add_argument("--beams", type=_ints, default=(1, 5), help="beam sizes, 1 = greedy (default: 1,5)")
    p.add_argument("--batch-threads", type=int, default=None, help="threads for the batch section (default: the largest of --threads)")
    p.add_argument("--clients", type=int, default=8, help="concurrent gradio_client threads in the load run (default: %(default)s)")
    p.add_argument("--load-seconds", type=float, default=30, help="length of each load run in seconds (default: %(default)s)")
    p.add_argument("--cold-starts", type=int, default=2, help="cold starts per server; the best is reported (default: %(default)s)")
    p.add_argument("--train-steps", type=int, default=20, help="measured training steps (after 2 warm-up steps) (default: %(default)s)")
    p.add_argument("--train-threads", type=int, default=None,
                   help="torch threads for the training section (default: the --threads the bundle was trained with)")
    p.add_argument("--data-dir", default=None,
                   help="folder with test.jsonl (and train.jsonl for the training section) (default: ../shared/data/multi30k "
                        "when present, else our built-in sentences and no BLEU)")
    p.add_argument("--work-dir", default=None,
                   help="where to export the fp32/int8 variants; kept and reused next time when given (default: a temp folder, removed)")
    p.add_argument("--out-dir", default=str(HERE), help="where to write results.md and results.json (default: %(default)s)")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    command = "python -m benchmarks " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    bundle = Path(args.bundle)
    if not (bundle / "manifest.json").is_file():
        print(f"error: {bundle} is not a bundle folder (no manifest.json); export one with "
              f"`python -m export CHECKPOINT --out {bundle} --quantize int8`", file=sys.stderr)
        return 2
    from benchmarks import report
    from benchmarks.variants import describe_bundle, load_test_set, open_translator, prepare_variants
    from inference.bundle import BundleError
    from training.checkpoint import CheckpointError
    from training.data import DataError

    try:
        described = describe_bundle(bundle)
    except BundleError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    work_dir = Path(args.work_dir) if args.work_dir else Path(tempfile.mkdtemp(prefix="bench-variants-"))
    src, tgt = described["pair"].split("-", 1)
    results = {"meta": {"command": command, "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                        "machine": machine(), "versions": versions(), "bundle": described, "sections": list(args.sections)}}

    def save() -> None:
        results["meta"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
        (out_dir / "results.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
        (out_dir / "results.md").write_text(report.render_markdown(results), encoding="utf-8")

    try:
        test_set = load_test_set(open_translator("fp32", bundle, 1), src, tgt, args.data_dir, args.limit)
        results["meta"]["test_set"] = f"{len(test_set.sources)} from {test_set.origin} ({test_set.skipped} refused and left out)"
        needs_variants = {"latency", "batch"} & set(args.sections)
        paths = prepare_variants(bundle, work_dir, args.variants) if needs_variants else {}
        if "latency" in args.sections:
            from benchmarks.latency import latency_section

            results["latency"] = latency_section(paths, test_set.sources, args.threads, args.beams, args.budget,
                                                 args.latency_sentences, block=args.block)
            save()
        if "batch" in args.sections:
            from benchmarks.latency import batch_section

            results["batch"] = batch_section(paths, test_set, args.batch_threads or max(args.threads), args.beams, args.budget)
            save()
        if "floor" in args.sections:
            from benchmarks.floor import floor_section

            cells = (results.get("latency") or {}).get("cells") or {}
            lengths = [n for c in cells.values() for n in c["src_tokens"]]
            src_len = round(statistics.mean(lengths)) if lengths else 16
            results["floor"] = floor_section(described["model_config"], results.get("latency"), args.threads, src_len)
            save()
        if "served" in args.sections:
            from benchmarks.served import served_section

            results["served"] = served_section(bundle, test_set.sources, args.clients, args.load_seconds, args.cold_starts)
            save()
        if "training" in args.sections:
            from benchmarks.training_speed import training_section

            results["training"] = training_section(bundle, args.data_dir, args.train_steps, threads=args.train_threads)
            trained_on = described["training_args"] or {}
            results["training"].update(recorded_minutes_per_epoch=described["recorded_minutes_per_epoch"],
                                       recorded_data=trained_on.get("data_dir") or trained_on.get("dataset"))
            save()
    except (BundleError, CheckpointError, DataError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        if not args.work_dir:
            shutil.rmtree(work_dir, ignore_errors=True)
    save()
    print(report.render_markdown(results))
    print(f"wrote {out_dir / 'results.md'} and {out_dir / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
