"""Serve a built site as `python -m http.server` does, plus the cross-origin-isolation headers that let
onnxruntime-web use several threads (the static Space's README asks Hugging Face for the same headers):

    python -m export.site.serve site --port 8000

Plain `python -m http.server -d site 8000` serves the same page on one thread.
"""

from __future__ import annotations

import argparse
import functools
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

from export.site import ISOLATION_HEADERS


class IsolatedHandler(SimpleHTTPRequestHandler):
    def end_headers(self):
        for name, value in ISOLATION_HEADERS.items():
            self.send_header(name, value)
        super().end_headers()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m export.site.serve", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("folder", nargs="?", default="site", help="the built site (default: site)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000; 0: any free port)")
    parser.add_argument("--bind", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    args = parser.parse_args(argv)
    handler = functools.partial(IsolatedHandler, directory=args.folder)
    with ThreadingHTTPServer((args.bind, args.port), handler) as server:
        host, port = server.server_address[:2]  # --port 0: the free port the system chose
        print(f"Serving {args.folder} at http://{host}:{port}/ (cross-origin isolated)", flush=True)
        server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
