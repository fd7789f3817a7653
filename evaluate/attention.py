"""How far does attention explain the shipped models? Occlusion vs attention, coverage and entropy vs chrF.

    nice python -m evaluate.attention --split test --out results/attention-test.json
    nice python -m evaluate.attention --split validation --tune --out results/attention-tune.json
    python -m evaluate.attention --limit 300 --pairs en-de      # a quicker look

Every sentence is translated greedily (one sentence at a time, as the page does) with onnxruntime. Per
bundle it reports: how often attention's most attended source token is occlusion's most important one, the
mean Spearman correlation of the two per step, and whether low coverage or diffuse attention predict a low
sentence chrF (Pearson/Spearman over sentences; precision/recall of the "dropped" and "repeated" flags of
inference.explain against the bottom chrF decile of that bundle). --tune instead picks, on pooled data, the
coverage thresholds (see tune_coverage), the entropy badge tertiles and the direction margin.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from tqdm import tqdm

from inference import InputError, Translator, explain, find_bundles

ROOT = Path(__file__).resolve().parent.parent


def load_pairs(data_dir: Path, split: str, src: str, tgt: str, limit: int | None) -> list[tuple[str, str]]:
    path = data_dir / f"{split}.jsonl"
    if not path.is_file():
        raise SystemExit(f"error: {path} not found; pass --data-dir with {split}.jsonl in it")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    pairs = [(r[src], r[tgt]) for r in rows if r.get(src) and r.get(tgt)]
    return pairs[:limit] if limit else pairs


def sentence_records(
    translator: Translator, pairs, with_occlusion: bool, method: str = "mask"
) -> tuple[list[dict], int]:
    """Per sentence: chrF, coverage extremes, mean effective attended tokens, and occlusion agreement."""
    import sacrebleu

    records, refused = [], 0
    for source, reference in tqdm(pairs, desc=translator.name, leave=False):
        try:
            result = translator.translate(source)
        except InputError:
            refused += 1
            continue
        cover = explain.coverage(result.attention, result.source_tokens)
        words = [v for v, tok in zip(cover.values, result.source_tokens) if tok != "</s>"]
        record = {
            "chrf": sacrebleu.sentence_chrf(result.text, [reference]).score,
            "coverage": words,
            "min_coverage": min(words, default=0.0),
            "max_coverage": max(words, default=0.0),
            "effective_tokens": explain.confidence(result.attention, result.token_probs).effective_tokens,
            "mean_log_prob": result.score / max(1, len(result.target_ids)),
        }
        if with_occlusion:
            occ = explain.occlusion(translator, source, result.target_ids, method)
            record.update(
                spearman=occ.spearman,
                pearson=occ.pearson,
                top1_agree=occ.top1_agree,
                top3_overlap=top_k_overlap(occ.attention, occ.drops, 3),
                batch_noise=occ.batch_noise,
                occlusion_ms=occ.cost["ms"],
            )
        records.append(record)
    return records, refused


def top_k_overlap(attention, drops, k: int) -> list[float]:
    """Per step: the share of the k most attended source positions that are among the k most needed ones.
    Unlike ranks over all positions, it ignores the order of the many near-zero weights and noise-level drops."""
    overlaps = []
    for weights, drop in zip(np.asarray(attention), np.asarray(drops)):
        k_here = min(k, len(weights))
        top_attention = set(np.argsort(-weights, kind="stable")[:k_here].tolist())
        top_drop = set(np.argsort(-drop, kind="stable")[:k_here].tolist())
        overlaps.append(len(top_attention & top_drop) / k_here)
    return overlaps


def flag_quality(flagged: np.ndarray, bad: np.ndarray) -> dict:
    hits = int((flagged & bad).sum())
    precision = hits / flagged.sum() if flagged.sum() else None
    recall = hits / bad.sum() if bad.sum() else None
    f1 = 2 * precision * recall / (precision + recall) if precision and recall else 0.0
    return {
        "flagged": int(flagged.sum()),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "base_rate": float(bad.mean()),
    }


def bottom_decile(records) -> np.ndarray:
    chrf = np.array([r["chrf"] for r in records])
    return chrf <= np.quantile(chrf, 0.1)


def summarise(records, low: float, high: float) -> dict:
    """Agreement and chrF predictors for one bundle's sentence records."""
    chrf = np.array([r["chrf"] for r in records])
    bad = bottom_decile(records)
    min_cov = np.array([r["min_coverage"] for r in records])
    max_cov = np.array([r["max_coverage"] for r in records])
    entropy = np.array([np.mean(r["effective_tokens"]) for r in records])
    log_prob = np.array([r["mean_log_prob"] for r in records])
    out = {
        "sentences": len(records),
        "mean_chrf": float(chrf.mean()),
        "chrf_vs_min_coverage": {
            "pearson": explain.pearson(min_cov, chrf),
            "spearman": explain.spearman(min_cov, chrf),
        },
        "chrf_vs_max_coverage": {
            "pearson": explain.pearson(max_cov, chrf),
            "spearman": explain.spearman(max_cov, chrf),
        },
        "chrf_vs_mean_effective_tokens": {
            "pearson": explain.pearson(entropy, chrf),
            "spearman": explain.spearman(entropy, chrf),
        },
        "chrf_vs_mean_log_prob": {
            "pearson": explain.pearson(log_prob, chrf),
            "spearman": explain.spearman(log_prob, chrf),
        },
        "effective_tokens_vs_mean_log_prob": {"spearman": explain.spearman(entropy, log_prob)},
        "diffuse_flag": flag_quality(entropy > explain.DIFFUSE_ABOVE, bad),
        "dropped_flag": flag_quality(min_cov < low, bad),
        "repeated_flag": flag_quality(max_cov > high, bad),
        "thresholds": {"coverage_low": low, "coverage_high": high},
    }
    if "spearman" in records[0]:
        steps = [a for r in records for a in r["top1_agree"]]
        rho = [x for r in records for x in r["spearman"] if x is not None]
        sentence_rho = [
            np.mean([x for x in r["spearman"] if x is not None])
            for r in records
            if any(x is not None for x in r["spearman"])
        ]
        out["occlusion"] = {
            "steps": len(steps),
            "top1_agreement": float(np.mean(steps)),
            "mean_spearman_steps": float(np.mean(rho)),
            "mean_top3_overlap": float(np.mean([x for r in records for x in r["top3_overlap"]])),
            "mean_pearson_steps": float(np.mean([x for r in records for x in r["pearson"] if x is not None])),
            "mean_spearman_sentences": float(np.mean(sentence_rho)),
            "median_batch_noise": float(np.median([r["batch_noise"] for r in records])),
            "mean_ms": float(np.mean([r["occlusion_ms"] for r in records])),
        }
    return out


def tune_coverage(records_by_pair: dict, min_flagged: float = 0.05, low_percentile: float = 1.0) -> dict:
    """HIGH: the threshold whose "a token above it" flag is most precise for the bottom chrF decile (deciles
    per bundle) among those flagging at least `min_flagged` of the sentences. LOW: the same rule finds no
    threshold better than chance (function words such as "is" and "of" get no attention of their own and
    their sentences are not worse), so LOW is the `low_percentile`-th percentile of all token coverages."""
    records = [r for rs in records_by_pair.values() for r in rs]
    bad = np.concatenate([bottom_decile(rs) for rs in records_by_pair.values()])
    min_cov = np.array([r["min_coverage"] for r in records])
    max_cov = np.array([r["max_coverage"] for r in records])
    lows = {round(x, 2): flag_quality(min_cov < x, bad) for x in np.arange(0.01, 0.61, 0.01)}
    highs = {round(x, 2): flag_quality(max_cov > x, bad) for x in np.arange(1.2, 4.05, 0.1)}
    supported = {k: v for k, v in highs.items() if v["flagged"] >= min_flagged * len(records)}
    high = max(supported, key=lambda k: supported[k]["precision"] or 0.0)
    tokens = np.concatenate([r["coverage"] for r in records])
    low = float(np.round(np.percentile(tokens, low_percentile), 3))
    steps = np.concatenate([r["effective_tokens"] for r in records])
    return {
        "coverage_low": low,
        "coverage_high": high,
        "low_flag_at_percentile": flag_quality(min_cov < low, bad),
        "high_flag": highs[high],
        "rule": {"min_flagged": min_flagged, "low_percentile": low_percentile},
        "low_grid": lows,
        "high_grid": highs,
        "effective_tokens_tertiles": np.quantile(steps, [1 / 3, 2 / 3]).tolist(),
    }


def tune_direction(translators: dict, data_dir: Path, split: str, limit: int | None) -> dict:
    """Margin on reverse-minus-forward mean log-prob that best separates right-way from swapped inputs."""
    gaps, swapped = [], []
    for name, forward in translators.items():
        reverse = translators.get(f"{forward.tgt_lang}-{forward.src_lang}")
        if reverse is None:
            continue
        for right, wrong in tqdm(
            load_pairs(data_dir, split, forward.src_lang, forward.tgt_lang, limit),
            desc=f"direction {name}",
            leave=False,
        ):
            for text, is_swapped in ((right, False), (wrong, True)):
                try:
                    hint = explain.direction_hint(forward, reverse, text, margin=0.0)
                except InputError:
                    continue
                gaps.append(hint.reverse_mean_log_prob - hint.forward_mean_log_prob)
                swapped.append(is_swapped)
    if not gaps:
        return {}
    gaps, swapped = np.array(gaps), np.array(swapped)
    grid = np.round(np.arange(-1.0, 2.01, 0.05), 2)
    accuracy = {float(m): float(((gaps > m) == swapped).mean()) for m in grid}
    best = max(accuracy, key=accuracy.get)
    return {
        "margin": best,
        "accuracy": accuracy[best],
        "inputs": int(len(gaps)),
        "false_swap_rate": float((gaps[~swapped] > best).mean()),
        "missed_rate": float((gaps[swapped] <= best).mean()),
    }


def write_json(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False, encoding="utf-8") as f:
        json.dump(payload, f, indent=1)
    os.replace(f.name, path)


def _fmt(value, width: int = 6) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.2f}"


def print_table(results: dict) -> None:
    """Two tables: attention vs occlusion, then what predicts a sentence's chrF."""
    if any("occlusion" in s for s in results.values()):
        print(
            f"{'pair':6} {'sents':>5} {'chrF':>5} {'top1':>6} {'top3':>6} {'rho':>6} {'r_lin':>6} {'noise':>7} {'ms':>6}"
        )
        for pair, s in results.items():
            o = s["occlusion"]
            print(
                f"{pair:6} {s['sentences']:5d} {s['mean_chrf']:5.1f} {_fmt(o['top1_agreement'])} "
                f"{_fmt(o['mean_top3_overlap'])} {_fmt(o['mean_spearman_steps'])} {_fmt(o['mean_pearson_steps'])} "
                f"{o['median_batch_noise']:7.4f} {o['mean_ms']:6.0f}"
            )
        print(
            "top1/top3: attention's and occlusion's most important source token(s) agree (share of steps / "
            "overlap of the top 3); rho, r_lin: mean Spearman, Pearson of attention vs drops per step; noise: "
            "median int8 batch noise in nats; ms: occlusion per sentence"
        )
    print(
        f"{'pair':6} {'minCov':>6} {'maxCov':>6} {'effTok':>6} {'logp':>6} {'dropP':>6} {'dropR':>6} "
        f"{'repP':>6} {'repR':>6} {'difP':>6} {'difR':>6}"
    )
    for pair, s in results.items():
        flags = [s[k][m] for k in ("dropped_flag", "repeated_flag", "diffuse_flag") for m in ("precision", "recall")]
        print(
            f"{pair:6} "
            + " ".join(
                _fmt(s[k]["spearman"])
                for k in (
                    "chrf_vs_min_coverage",
                    "chrf_vs_max_coverage",
                    "chrf_vs_mean_effective_tokens",
                    "chrf_vs_mean_log_prob",
                )
            )
            + " "
            + " ".join(_fmt(x) for x in flags)
        )
    print(
        "minCov..logp: Spearman with sentence chrF of the least covered token's coverage, the most covered one's, "
        "the mean effective attended tokens, the mean token log-prob; P/R: precision/recall of the dropped, "
        "repeated and diffuse flags for the bottom chrF decile (base rate 0.10)"
    )


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m evaluate.attention", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--assets", default=str(ROOT / "assets"), help="folder of bundles (default: %(default)s)")
    p.add_argument("--pairs", nargs="*", default=None, help="bundles to measure, e.g. en-de de-en (default: all)")
    p.add_argument(
        "--data-dir",
        default=str(ROOT.parent / "shared" / "data" / "multi30k"),
        help="folder with {split}.jsonl in the Multi30k schema (default: %(default)s)",
    )
    p.add_argument("--split", default="test", help="test, validation, ... (default: %(default)s)")
    p.add_argument("--limit", type=int, default=None, help="only the first N sentences (default: all)")
    p.add_argument(
        "--tune",
        action="store_true",
        help="choose coverage, entropy and direction thresholds instead of measuring occlusion",
    )
    p.add_argument(
        "--method",
        choices=("mask", "unk"),
        default="mask",
        help="occlusion: remove the token from the decoder's source mask (the page's), or replace its "
        "id by <unk> and re-encode (default: %(default)s)",
    )
    p.add_argument("--threads", type=int, default=1, help="onnxruntime threads per session (default: %(default)s)")
    p.add_argument("--out", required=True, help="JSON file for the results (written atomically)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    bundles = find_bundles(Path(args.assets))
    names = args.pairs or sorted(bundles)
    missing = [n for n in names if n not in bundles]
    if missing:
        print(
            f"error: no bundle for {', '.join(missing)} under {args.assets} (found {', '.join(bundles)})",
            file=sys.stderr,
        )
        return 2
    translators = {n: Translator(bundles[n], device="cpu", threads=args.threads) for n in names}
    data_dir = Path(args.data_dir)
    records = {
        n: sentence_records(
            t,
            load_pairs(data_dir, args.split, t.src_lang, t.tgt_lang, args.limit),
            with_occlusion=not args.tune,
            method=args.method,
        )
        for n, t in translators.items()
    }
    tuned = tune_coverage({n: r for n, (r, _) in records.items()}) if args.tune else None
    low = tuned["coverage_low"] if tuned else explain.COVERAGE_LOW
    high = tuned["coverage_high"] if tuned else explain.COVERAGE_HIGH
    results = {n: dict(summarise(r, low, high), refused=refused) for n, (r, refused) in records.items()}
    payload = {
        "split": args.split,
        "limit": args.limit,
        "decoding": "greedy",
        "occlusion": args.method,
        "command": " ".join(sys.argv),
        "results": results,
    }
    if tuned:
        payload["tuned"] = dict(tuned, direction=tune_direction(translators, data_dir, args.split, args.limit))
        print(json.dumps({k: v for k, v in payload["tuned"].items() if not k.endswith("grid")}, indent=1))
    print_table(results)
    write_json(Path(args.out), payload)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
