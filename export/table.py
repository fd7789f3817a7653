"""The README's model table, printed from the shipped bundles' manifest.json and evaluation.json (so the
README cannot drift): one row per pair, test set and decoding.

    python -m export.table assets
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from inference.bundle import find_bundles, load_bundle, training_stages
from inference.decoding import decoding_name

DECODINGS = ((1, "greedy"), (5, "beam 5"))


def rows(assets: Path) -> list[dict]:
    out = []
    for pair, folder in find_bundles(assets).items():
        bundle = load_bundle(folder, verify_hashes=False)
        graph_mb = sum(bundle.manifest["files"][f]["bytes"] for f in ("encoder.onnx", "decoder.onnx")) / 1e6
        out.append(
            {
                "pair": pair,
                "test_sets": bundle.evaluation.get("test_sets", {}),
                "manifest": bundle.manifest,
                "graph_mb": graph_mb,
            }
        )
    return out


def trained_on(manifest: dict) -> str:
    """Where the training ran, from the recorded --device: 'GPU' for cuda, else 'CPU'; '+' joins fine-tuning stages."""
    return " + ".join("GPU" if s["device"] == "cuda" else "CPU" for s in training_stages(manifest["training"]))


def epochs_and_minutes(manifest: dict) -> tuple[str, str]:
    stages = training_stages(manifest["training"])
    return (" + ".join(str(s["epochs"]) for s in stages), " + ".join(f"{s['minutes'] or 0:.0f}" for s in stages))


def markdown(assets: Path) -> str:
    lines = [
        "| pair | test set | decoding | sacreBLEU | chrF | BLEU (lc, tok) | params | ONNX MB | precision | attention "
        "| epochs | train min | trained on |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    signature = None
    for row in rows(assets):
        manifest = row["manifest"]
        for test_set, result in sorted(row["test_sets"].items()):
            for beam, label in DECODINGS:
                r = result.get(decoding_name(beam))
                if r is None:
                    continue
                signature = signature or r["signatures"]
                if r.get("length_penalty") is not None:
                    label += f", α {r['length_penalty']:g}"
                lines.append(
                    f"| {row['pair']} | {test_set} | {label} | {r['sacrebleu']:.1f} | {r['chrf']:.1f} | "
                    f"{r['bleu_lowercase_tokenized']:.1f} | {manifest['num_parameters'] / 1e6:.1f}M | "
                    f"{row['graph_mb']:.1f} | {manifest['quantization'] or 'fp32'} | "
                    f"{manifest['model_config']['attention']} | {' | '.join(epochs_and_minutes(manifest))} | "
                    f"{trained_on(manifest)} |"
                )
    if signature:
        lines += [
            "",
            f"sacreBLEU `{signature['sacrebleu']}`; lowercased-tokenised BLEU "
            f"`{signature['bleu_lowercase_tokenized']}`; chrF `{signature['chrf']}`.",
        ]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m export.table", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("assets", nargs="?", default="assets", help="folder of bundles (default: %(default)s)")
    args = p.parse_args(argv)
    print(markdown(Path(args.assets)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
