"""The app's public surface: loading the bundles it serves, request checking for `/translate` and `/explain`, the bounded result cache, and the ASGI
guard that keeps every route except the documented API and the page's own queue closed.

Gradio 6.31 serves every event handler by name at /gradio_api/call/<name> (and, with the queue's API
open, at /gradio_api/run/<name>, skipping the queue) even when its api_visibility is "private"; the
page itself only needs /gradio_api/queue/join with the handler's index. So the guard answers 404 for
named calls other than `translate` and `explain` (the page's own /run/predict stays), refuses uploads (no
component takes files), and the queue is started with api_open=False so both wait in the queue with the
page's limits.
"""
from __future__ import annotations

import json
import math
import re
import secrets
import threading
import warnings
from collections import OrderedDict
from numbers import Real
from pathlib import Path

from inference import BundleError, InputError, Translator, find_bundles

PUBLIC_APIS = ("translate", "explain")
# The page posts events that skip the queue (loading an example into the text box) to /run/predict by
# index; Gradio itself refuses queued handlers there because the queue's API is closed.
PAGE_ROUTE = "/gradio_api/run/predict"
NAMED_CALL = re.compile(r"^/gradio_api/(?:run|api|call|call/v2)/([^/]+)")
UPLOAD = re.compile(r"^/gradio_api/upload(?:_progress)?/?$")
PAIR_FOLDER = re.compile(r"[a-z]{2,3}-[a-z]{2,3}")


# ---- loading ------------------------------------------------------------------------------------------
def step_number(step) -> int | None:
    """The hidden step box's text as a step; "" (no result) and anything else that is not a number → None."""
    try:
        return int(step)
    except (TypeError, ValueError):
        return None


def load_translators(assets_dir, device: str = "auto", threads: int | None = None) -> dict[str, Translator]:
    """Every bundle under assets_dir, loaded and checked; raises BundleError naming the bad file."""
    root = Path(assets_dir)
    bundles = find_bundles(root)
    for folder in sorted(root.glob("*")) if root.is_dir() else []:
        if folder.is_dir() and PAIR_FOLDER.fullmatch(folder.name) and folder.name not in bundles:
            raise BundleError(f"{folder / 'manifest.json'} is missing; re-export the bundle with `python -m export`")
    if not bundles:
        raise BundleError(f"no model bundles under {root} (expected {root}/<src>-<tgt>/manifest.json); "
                          f"export one with `python -m export CHECKPOINT --out {root}/en-de`")
    translators = {}
    for name, folder in bundles.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # provider warnings are kept in translator.warnings and printed
                translators[name] = Translator(folder, device=device, threads=threads)
        except BundleError:
            raise
        except Exception as error:  # onnxruntime cannot read a graph, a tokenizer file is not a tokenizer, ...
            detail = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
            raise BundleError(f"{folder}: cannot load the model files ({detail}); re-export the bundle") from None
    return translators


# ---- request checking ---------------------------------------------------------------------------------
def whole_number(name: str, value, low: int, high: int, meaning: str = "") -> int:
    """An int in [low, high]; 2.0 is accepted, 2.7, "2", True, NaN and Infinity are refused (never rounded)."""
    hint = f" ({meaning})" if meaning else ""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) or value != int(value) \
            or not low <= int(value) <= high:
        raise InputError(f"{name} must be a whole number from {low} to {high}{hint}; got {describe(value)}.")
    return int(value)


def real_number(name: str, value, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) or not low <= value <= high:
        raise InputError(f"{name} must be a number from {low:g} to {high:g}; got {describe(value)}.")
    return float(value)


def text_value(name: str, value, what: str = "a sentence") -> str:
    if not isinstance(value, str):
        raise InputError(f"The {name} argument is not text (got {describe(value)}); send {what} as a string.")
    return value


def describe(value) -> str:
    """A short, safe rendering of what was sent, for error messages."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, Real):
        return f"the number {value!r}" if math.isfinite(value) else f"the number {value}"
    if isinstance(value, str):
        return f"the text {value[:20]!r}" + ("…" if len(value) > 20 else "")
    return f"a {type(value).__name__}"


# ---- results kept on the server -----------------------------------------------------------------------
class ResultCache:
    """The last `capacity` results by random key: a browser session keeps only the key in gr.State, so
    memory per session is one short string, and all sessions together hold at most `capacity` results."""

    def __init__(self, capacity: int = 256):
        self.capacity = capacity
        self._items: OrderedDict[str, dict] = OrderedDict()
        self._lock = threading.Lock()  # two requests run at once (the queue's concurrency limit)

    def put(self, value: dict) -> str:
        key = secrets.token_hex(8)
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return key

    def get(self, key) -> dict | None:
        if not isinstance(key, str):
            return None
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def __len__(self) -> int:
        return len(self._items)


# ---- the route guard ----------------------------------------------------------------------------------
class PublicApiOnly:
    """ASGI middleware: 404 for named calls of anything but PUBLIC_APIS, 403 for uploads."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            path = scope.get("path", "")
            named = NAMED_CALL.match(path)
            if named and named.group(1) not in PUBLIC_APIS and path.rstrip("/") != PAGE_ROUTE:
                return await _refuse(send, 404, f"No API endpoint {named.group(1)!r}: the API is "
                                                f"{' and '.join('/' + a for a in PUBLIC_APIS)} (see the page's "
                                                "'Use via API' link).")
            if UPLOAD.match(path):
                return await _refuse(send, 403, "This app takes no files; uploads are turned off.")
        return await self.app(scope, receive, send)


async def _refuse(send, status: int, message: str):
    body = json.dumps({"error": message, "detail": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
