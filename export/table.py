"""The README's model table, printed from the shipped bundles' manifests (so the README cannot drift).

    python -m export.table assets
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from inference.bundle import find_bundles


def rows(assets: Path) -> list[dict]:
    out = []
    for pair, folder in find_bundles(assets).items():
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        metrics = manifest.get("metrics") or {}
        graph_mb = sum(manifest["files"][f]["bytes"] for f in ("encoder.onnx", "decoder.onnx")) / 1e6
        out.append({"pair": pair, "metrics": metrics, "manifest": manifest, "graph_mb": graph_mb})
    return out


def markdown(assets: Path) -> str:
    lines = ["| pair | decoding | sacreBLEU | chrF | BLEU (lc, tok) | params | ONNX MB | precision | attention | epochs | train min |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows(assets):
        m, manifest = row["metrics"], row["manifest"]
        for key, label in (("greedy", "greedy"), ("beam5", "beam 5")):
            if key not in m:
                continue
            r = m[key]
            if r.get("length_penalty") is not None:
                label += f", α {r['length_penalty']:g}"
            lines.append(f"| {row['pair']} | {label} | {r['sacrebleu']:.1f} | {r['chrf']:.1f} | "
                         f"{r['bleu_lowercase_tokenized']:.1f} | {manifest['num_parameters'] / 1e6:.1f}M | "
                         f"{row['graph_mb']:.1f} | {manifest['quantization'] or 'fp32'} | "
                         f"{manifest['model_config']['attention']} | {manifest['training']['epochs']} | "
                         f"{manifest['training']['minutes']:.0f} |")
    signature = next((r["metrics"]["beam5"]["signatures"] for r in rows(assets) if "beam5" in r["metrics"]), None)
    if signature:
        lines += ["", f"sacreBLEU `{signature['sacrebleu']}`; lowercased-tokenised BLEU "
                      f"`{signature['bleu_lowercase_tokenized']}`; chrF `{signature['chrf']}`."]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m export.table", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("assets", nargs="?", default="assets", help="folder of bundles (default: %(default)s)")
    args = p.parse_args(argv)
    print(markdown(Path(args.assets)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
