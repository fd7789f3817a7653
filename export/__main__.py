"""Export a training checkpoint to a self-contained, verified onnxruntime bundle.

    python -m export runs/en-de/best.pt --out assets/en-de --quantize int8
    python -m export assets/en-de/checkpoint.pt --out assets/en-de --quantize int8   # re-export, same sha256

The bundle holds encoder.onnx, decoder.onnx (one Decoder.step), tokenizer.json (source and target share
it), checkpoint.pt (the weights it came from, so anyone can re-export) and manifest.json, written once by
this command; `python -m evaluate` adds evaluation.json, which a re-export keeps. The old bundle stays
loadable until the new one is in place.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from training.errors import CheckpointError

QUANTIZE = ("none", "int8")
LARGE_FILE_BYTES = 10 * 1024 * 1024  # Hugging Face Hub repositories need Git LFS above this


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m export", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "checkpoint", help="a checkpoint written by `python -m training` (best.pt) or a bundle's checkpoint.pt"
    )
    p.add_argument(
        "--out", required=True, help="bundle folder to write (replaced atomically only after every check passes)"
    )
    p.add_argument(
        "--quantize",
        choices=QUANTIZE,
        default="none",
        help="int8, what the shipped graphs use: int8 weights (7-bit, one scale per column) multiplied "
        "by MatMulInteger with activations quantized row by row, so a sentence gives the same "
        "numbers alone or in a batch; int8 embedding tables; the encoder's GRU stays fp32 "
        "(export/quantize.py) (default: %(default)s)",
    )
    p.add_argument(
        "--checkpoint-dtype",
        choices=("float16", "float32"),
        default="float16",
        help="precision of the checkpoint.pt copied into the bundle; the graphs are exported from exactly "
        "these weights (default: %(default)s)",
    )
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        print(f"error: --out {out} is a file; give a folder path for the bundle", file=sys.stderr)
        return 2
    from export.bundle import export_bundle  # torch is slow to import; keep --help and errors instant
    from export.verify import ExportError

    try:
        manifest = export_bundle(
            Path(args.checkpoint), out, quantize=args.quantize, checkpoint_dtype=args.checkpoint_dtype
        )
    except (CheckpointError, ExportError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    sizes = ", ".join(f"{name} {facts['bytes'] / 1e6:.2f} MB" for name, facts in manifest["files"].items())
    print(f"wrote {out}: {sizes}")
    for name, facts in manifest["files"].items():
        if facts["bytes"] > LARGE_FILE_BYTES:
            advice = (
                " Export with --quantize int8 to make the graphs about 2.3 times smaller."
                if args.quantize == "none" and name.endswith(".onnx")
                else ""
            )
            print(
                f"note: {name} is {facts['bytes'] / 2**20:.1f} MiB, over 10 MiB: a Hugging Face Space needs "
                f"Git LFS for it.{advice}"
            )
    print(json.dumps(manifest["verification"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
