"""Build the static site: `python -m export.site assets --out site`, then serve it with
`python -m http.server -d site 8000` (one WASM thread) or `python -m export.site.serve site` (several threads)."""

from __future__ import annotations

import argparse

from export.site import build_site


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m export.site", description=__doc__)
    parser.add_argument("assets", help="folder of bundles (each a folder with manifest.json), e.g. assets")
    parser.add_argument("--out", default="site", help="the site folder to write (replaced atomically; default: site)")
    parser.add_argument("--pairs", default="", help="comma-separated pairs to include (default: every bundle)")
    parser.add_argument(
        "--wasm",
        choices=("local", "cdn"),
        default="local",
        help="local: copy onnxruntime-web's 14 MB .wasm into the site; cdn: fetch the pinned jsDelivr copy "
        "with a subresource-integrity hash (for a Space without Git LFS)",
    )
    args = parser.parse_args(argv)
    out = build_site(args.assets, args.out, [p for p in args.pairs.split(",") if p], args.wasm)
    print(f"wrote {out}; serve it with `python -m export.site.serve {args.out}` (threads) or `python -m http.server -d {args.out}`")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
