"""The Space's entry point: the bmm attention page on the shipped bundles.

    python app.py                                   # http://127.0.0.1:7860, bundles from assets/
    python app.py --host 0.0.0.0 --port 7860 --device cpu --assets assets
    APP_ASSETS_DIR=/path/to/bundles python app.py    # same as --assets

The page itself lives in page/ (its map is page/__init__.py); models run only through `inference`
(onnxruntime, never torch). `app.demo` is the page's Blocks, built on first use from the defaults (what
`gradio app.py` and a Space look for). On a Hugging Face Space (env SYSTEM=spaces) it listens on 0.0.0.0.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from inference import BundleError  # noqa: E402
from page.api import load_translators  # noqa: E402
from page.handlers import DemoApp  # noqa: E402
from page.layout import build, launch  # noqa: E402
from page.limits import CONCURRENCY  # noqa: E402
from rules import DEVICES  # noqa: E402

HERE = Path(__file__).resolve().parent


def parse_args(argv=None) -> argparse.Namespace:
    on_space = os.environ.get("SYSTEM") == "spaces"
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--host",
        default=os.environ.get("GRADIO_SERVER_NAME") or ("0.0.0.0" if on_space else "127.0.0.1"),
        help="address to listen on (default: %(default)s; 0.0.0.0 on a Space or $GRADIO_SERVER_NAME)",
    )
    p.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)),
        help="port (default: %(default)s, or $GRADIO_SERVER_PORT)",
    )
    p.add_argument(
        "--device",
        choices=DEVICES,
        default="auto",
        help="onnxruntime device: auto = CUDA when onnxruntime-gpu has it, else CPU (default: %(default)s)",
    )
    p.add_argument(
        "--assets",
        default=os.environ.get("APP_ASSETS_DIR", str(HERE / "assets")),
        help="folder holding one bundle per language pair, e.g. assets/en-de/ "
        "(default: $APP_ASSETS_DIR or %(default)s)",
    )
    return p.parse_args(argv)


def make_app(assets, device: str = "auto") -> DemoApp:
    """The handlers over every bundle under `assets`, one onnxruntime thread per concurrent request."""
    threads = max(1, (os.cpu_count() or 1) // CONCURRENCY)
    app = DemoApp(load_translators(assets, device, threads))
    for name, translator in app.translators.items():
        print(f"[{name}] onnxruntime providers: {', '.join(translator.providers)}", file=sys.stderr)
        for warning in translator.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    return app


def __getattr__(name: str):
    """`app.demo`: the page on the default bundles, built once, when first asked for (importing stays cheap)."""
    if name != "demo":
        raise AttributeError(f"module 'app' has no attribute {name!r}")
    args = parse_args([])
    globals()["demo"] = build(make_app(args.assets, args.device))
    return globals()["demo"]


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        app = make_app(args.assets, args.device)
    except BundleError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    launch(build(app), args.host, args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
