"""Score a bundle (onnxruntime) or a checkpoint (torch) on one split of each test set, greedy and beam.

    python -m evaluate assets/en-de --data-dir ../shared/data/multi30k --data-dir ../shared/data/tatoeba/en-de
    python -m evaluate assets/de-en --split validation --beams 5 --tune-length-penalty 0.6,1,1.5,2,2.5 \\
        --data-dir ../shared/data/multi30k --data-dir ../shared/data/tatoeba/en-de
    python -m evaluate runs/en-de/best.pt --split test --beams 1

Prints sacreBLEU (cased, detokenised, with its signature), chrF, and the lowercased, tokenised BLEU papers
report for Multi30k. For a bundle the results are merged into BUNDLE/evaluation.json: metrics per test set,
and with --tune-length-penalty the beam length penalty that scored best (on validation only; with several
--data-dir, the best mean over them, the rule training picks best.pt by), which
Translator, the app and `python -m inference` then use. Columns are read per language: a de-en model reads
an en-de folder's "de" column as source and "en" as reference.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from evaluate.metrics import evaluate_translator, tune_length_penalty
from evaluate.results import command_line, name_of_test_set, update_evaluation
from inference.bundle import BundleError
from inference.translator import DEFAULT_LENGTH_PENALTY, Translator
from training.corpus import load_splits
from training.errors import CheckpointError, DataError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m evaluate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "model",
        help="bundle folder (decoded with onnxruntime; results go to its evaluation.json) "
        "or checkpoint .pt (decoded with torch; printed only)",
    )
    p.add_argument(
        "--data-dir",
        action="append",
        default=None,
        metavar="DIR",
        help="folder with train/validation/test .jsonl or .parquet files; repeat it for several test sets "
        "(default: the folder the model was trained on)",
    )
    p.add_argument("--dataset", default=None, help="Hub dataset name instead of --data-dir (default: the model's own)")
    p.add_argument("--split", default="test", help="split to score in each test set (default: %(default)s)")
    p.add_argument("--beams", default="1,5", help="comma-separated beam sizes; 1 is greedy (default: %(default)s)")
    p.add_argument(
        "--length-penalty",
        type=float,
        default=None,
        help=f"beam length penalty alpha (default: the bundle's tuned one, else {DEFAULT_LENGTH_PENALTY})",
    )
    p.add_argument(
        "--tune-length-penalty",
        default=None,
        metavar="ALPHAS",
        help="comma-separated alphas to try with the largest of --beams on --split (validation only; "
        "with several --data-dir, the best mean); the best is stored as the bundle's default",
    )
    p.add_argument("--limit", type=int, default=None, help="only the first N sentences (results are then not stored)")
    p.add_argument("--threads", type=int, default=None, help="intra-op threads of onnxruntime or torch")
    p.add_argument(
        "--hyps",
        default=None,
        metavar="PREFIX",
        help="write hypotheses to PREFIX.<test set>.greedy.txt / PREFIX.<test set>.beam5.txt",
    )
    p.add_argument(
        "--names",
        action="append",
        default=None,
        metavar="DIR",
        help="names test from DIR's --split: a training name swapped for an unseen one (evaluate/names.py); "
        "reports the share of translations that copy it verbatim (names_copied) beside BLEU",
    )
    p.add_argument(
        "--everyday",
        action="store_true",
        help="also score the 100 everyday sentences written for this project (evaluate/everyday.py)",
    )
    p.add_argument("--no-write", action="store_true", help="print only; leave the bundle's evaluation.json as it is")
    return p


def load_model(path: str, threads: int | None) -> tuple[Translator, dict, str]:
    """(translator, the run's training arguments, backend name): a folder is a bundle, a file a checkpoint."""
    if os.path.isdir(path):
        translator = Translator(path, device="cpu", threads=threads)
        return translator, translator.bundle.manifest.get("training", {}).get("args", {}), "onnxruntime"
    from evaluate.torch_model import torch_backend  # torch only when a checkpoint is scored
    from training.checkpoint import load_checkpoint

    state = load_checkpoint(path)
    return Translator(backend=torch_backend(state, threads)), state.get("args", {}), "torch"


def graphs_sha256(translator: Translator) -> dict | None:
    """The sha256 of the graphs measured (from the bundle's manifest), so a later export can tell if they changed."""
    if translator.bundle is None:
        return None
    manifest = translator.bundle.manifest
    return {
        manifest["graphs"][role]["file"]: manifest["files"][manifest["graphs"][role]["file"]]["sha256"]
        for role in ("encoder", "decoder")
    }


def fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        beams = tuple(int(b) for b in args.beams.split(","))
        alphas = [float(a) for a in args.tune_length_penalty.split(",")] if args.tune_length_penalty else []
    except ValueError:
        return fail("--beams takes whole numbers and --tune-length-penalty numbers, comma-separated")
    if min(beams) < 1:
        return fail("--beams must be 1 (greedy) or more")
    if alphas and args.split == "test":
        return fail(
            "tune the length penalty on the validation split (--split validation); the test split is for reporting"
        )
    if alphas and max(beams) < 2:
        return fail("the length penalty only matters for beam search; pass --beams 5")
    try:
        translator, run, backend = load_model(args.model, args.threads)
        sources = (
            [(d, None) for d in args.data_dir]
            if args.data_dir
            else [(None if args.dataset else run.get("data_dir"), args.dataset or run.get("dataset"))]
        )
        test_sets = {}
        for data_dir, dataset in sources:
            splits, _ = load_splits(
                translator.src_lang, translator.tgt_lang, dataset, run.get("dataset_config"), data_dir
            )
            if args.split not in splits:
                return fail(f"{data_dir or dataset} has no split {args.split!r}; splits: {', '.join(splits)}")
            pairs = splits[args.split][: args.limit]
            test_sets[name_of_test_set(data_dir, dataset, args.split)] = (data_dir, dataset, pairs)
        names_kept = {}
        for data_dir in args.names or []:
            from evaluate.names import names_pairs, read_test_names

            splits, _ = load_splits(translator.src_lang, translator.tgt_lang, None, None, data_dir)
            pairs, kept = names_pairs(splits.get(args.split, []), [n for n, _ in read_test_names()], args.limit)
            name = "names/" + name_of_test_set(data_dir, None, args.split)
            test_sets[name], names_kept[name] = (data_dir, None, pairs), kept
        if args.everyday:
            from evaluate.everyday import EVERYDAY_FILE, everyday_pairs

            test_sets["everyday"] = (
                str(EVERYDAY_FILE.parent),
                None,
                everyday_pairs(translator.src_lang, translator.tgt_lang),
            )
    except (CheckpointError, BundleError, DataError) as error:
        return fail(str(error))
    store = translator.bundle is not None and not args.no_write and args.limit is None
    measured_on = graphs_sha256(translator)
    if alphas:
        return _tune(translator, test_sets, alphas, max(beams), store, argv)
    results = {}
    for name, (data_dir, dataset, pairs) in test_sets.items():
        prefix = f"{args.hyps}.{name.replace('/', '_')}" if args.hyps else None
        hypotheses = {}
        metrics = evaluate_translator(
            translator, [p.src for p in pairs], [p.tgt for p in pairs], beams, args.length_penalty, prefix, hypotheses
        )
        if name in names_kept:
            from evaluate.names import copy_rate

            for key, hyps in hypotheses.items():
                metrics[key]["names_copied"] = copy_rate(hyps, names_kept[name])
        results[name] = {
            "data_dir": data_dir and str(data_dir),
            "dataset": dataset,
            "split": args.split,
            "source": translator.src_lang,
            "target": translator.tgt_lang,
            "sentences": len(pairs),
            "backend": backend,
            **metrics,
            "graphs_sha256": measured_on,
            "command": command_line(argv),
        }
        _print(name, results[name], args.model, translator)
    if store:
        print(f"metrics written to {update_evaluation(Path(args.model), test_sets=results)}")
    elif translator.bundle is not None:
        why = "--no-write" if args.no_write else "--limit scores part of a test set"
        print(f"not stored in evaluation.json ({why})")
    return 0


def _print(name: str, result: dict, model: str, translator: Translator) -> None:
    print(f"\n{name} ({result['sentences']} sentences) {translator.name}  {model}  [{', '.join(translator.providers)}]")
    print(f"{'decoding':<10} {'sacreBLEU':>9} {'chrF':>6} {'BLEU lc-tok':>11} {'refused':>7} {'seconds':>8}")
    decodings = {k: v for k, v in result.items() if isinstance(v, dict) and "sacrebleu" in v}
    for key, r in decodings.items():
        print(
            f"{key:<10} {r['sacrebleu']:>9.2f} {r['chrf']:>6.2f} {r['bleu_lowercase_tokenized']:>11.2f} "
            f"{r['refused']:>7} {r['seconds']:>8.1f}"
            + (f"   names copied {r['names_copied']:.1f}%" if "names_copied" in r else "")
        )
    for metric, signature in next(iter(decodings.values()))["signatures"].items():
        print(f"{metric}: {signature}")


def _tune(translator: Translator, test_sets: dict, alphas: list[float], beam: int, store: bool, argv) -> int:
    sets = {name: ([p.src for p in pairs], [p.tgt for p in pairs]) for name, (_, _, pairs) in test_sets.items()}
    tuned = tune_length_penalty(translator, sets, alphas, beam)
    where = " + ".join(f"{name} ({len(sources)} sentences)" for name, (sources, _) in sets.items())
    print(
        f"best length penalty on {where}: {tuned['value']:g} "
        f"(beam {beam} sacreBLEU {tuned['sacrebleu']:.2f}{', the mean' if len(sets) > 1 else ''})"
    )
    if store:
        tuned.update(
            test_set=" + ".join(sets),
            sentences=sum(len(sources) for sources, _ in sets.values()),
            graphs_sha256=graphs_sha256(translator),
            command=command_line(argv),
        )
        path = update_evaluation(Path(translator.bundle.path), length_penalty=tuned)
        print(f"length penalty written to {path}; the app and `python -m inference` use it by default")
    return 0


if __name__ == "__main__":
    sys.exit(main())
