"""The framework's own ceiling: a Gradio app whose `translate` API returns a constant JSON at once.

    python benchmarks/trivial_app.py --port 7870 --queue-size 32 --concurrency 2

Same API name and parameters as app.py's, same queue settings (passed in by benchmarks/served.py, which
imports them from app.py), same launch options; no model, so whatever it costs is Gradio's cost.
"""
from __future__ import annotations

import argparse
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

# Roughly the shape of a real answer for a short sentence (tokens, a small attention matrix, alternatives).
CONSTANT = {"pair": "en-de", "source": "A dog runs.", "translation": "Ein Hund rennt.",
            "source_tokens": ["▁A", "▁dog", "▁runs", ".", "</s>"], "target_tokens": ["▁Ein", "▁Hund", "▁rennt", ".", "</s>"],
            "target_ids": [10, 11, 12, 13, 3], "attention": [[0.2] * 5 for _ in range(5)], "token_probs": [0.9] * 5,
            "alternatives": [[{"token": "▁Ein", "prob": 0.9}] * 5 for _ in range(5)], "nbest": [], "score": -0.5,
            "normalized_score": -0.5, "finished": True, "decoding": {"mode": "greedy"}, "timing_ms": {"total": 0.0}}


def translate(text: str, pair: str = "", beam_size: int = 1, length_penalty: float = 0.6, max_len: int = 0) -> dict:
    """Ignores its input and returns the same answer every time."""
    return CONSTANT


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    p.add_argument("--port", type=int, default=7870, help="port (default: %(default)s)")
    p.add_argument("--queue-size", type=int, default=32, help="Gradio queue max_size, as in app.py (default: %(default)s)")
    p.add_argument("--concurrency", type=int, default=2,
                   help="Gradio default_concurrency_limit, as in app.py (default: %(default)s)")
    args = p.parse_args(argv)
    with gr.Blocks() as demo:
        gr.Markdown("Trivial app: the benchmark's ceiling for Gradio itself.")
        gr.api(translate, api_name="translate")
    demo.queue(max_size=args.queue_size, default_concurrency_limit=args.concurrency)
    demo.launch(server_name=args.host, server_port=args.port, ssr_mode=False)


if __name__ == "__main__":
    main()
