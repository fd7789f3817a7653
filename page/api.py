"""The app's public surface: loading the bundles it serves, and the ASGI guard that keeps every route except the
documented API (`/translate`, `/explain`, `/what_if`, `/compare`) and the page's own queue closed.

Gradio 6.31 serves every event handler by name at /gradio_api/call/<name> (and, with the queue's API
open, at /gradio_api/run/<name>, skipping the queue) even when its api_visibility is "private"; the
page itself only needs /gradio_api/queue/join with the handler's index. So the guard answers 404 for
named calls other than the PUBLIC_APIS (the page's own /run/predict stays), refuses uploads (no
component takes files), and the queue is started with api_open=False so both wait in the queue with the
page's limits.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

from inference import BundleError, Translator, find_bundles

PUBLIC_APIS = ("translate", "explain", "what_if", "compare")
# The page posts events that skip the queue (loading an example into the text box) to /run/predict by
# index; Gradio itself refuses queued handlers there because the queue's API is closed.
PAGE_ROUTE = "/gradio_api/run/predict"
NAMED_CALL = re.compile(r"^/gradio_api/(?:run|api|call|call/v2)/([^/]+)")
UPLOAD = re.compile(r"^/gradio_api/upload(?:_progress)?/?$")
PAIR_FOLDER = re.compile(r"[a-z]{2,3}-[a-z]{2,3}")


def load_translators(assets_dir, device: str = "auto", threads: int | None = None) -> dict[str, Translator]:
    """Every bundle under assets_dir, loaded and checked; raises BundleError naming the bad file."""
    root = Path(assets_dir)
    bundles = find_bundles(root)
    for folder in sorted(root.glob("*")) if root.is_dir() else []:
        if folder.is_dir() and PAIR_FOLDER.fullmatch(folder.name) and folder.name not in bundles:
            raise BundleError(f"{folder / 'manifest.json'} is missing; re-export the bundle with `python -m export`")
    if not bundles:
        raise BundleError(
            f"no model bundles under {root} (expected {root}/<src>-<tgt>/manifest.json); "
            f"export one with `python -m export CHECKPOINT --out {root}/en-de`"
        )
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


# ---- the route guard ----------------------------------------------------------------------------------
API_CALL = re.compile(r"^/gradio_api/call/(?:v2/)?(translate|explain)/?$")
MAX_BODY = 64 * 1024  # a call's JSON: 300 characters of text and four numbers


class PublicApiOnly:
    """ASGI middleware: 404 for named calls of anything but PUBLIC_APIS, 403 for uploads, and, with a `door`
    (api, data) -> message or None, 429 for a /translate or /explain call the door refuses before it joins the
    queue (costly work while the costly lane is full: page/gate.py)."""

    def __init__(self, app, door=None):
        self.app, self.door = app, door

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            path = scope.get("path", "")
            named = NAMED_CALL.match(path)
            if named and named.group(1) not in PUBLIC_APIS and path.rstrip("/") != PAGE_ROUTE:
                return await _refuse(
                    send,
                    404,
                    f"No API endpoint {named.group(1)!r}: the API is "
                    f"{', '.join('/' + a for a in PUBLIC_APIS[:-1])} and /{PUBLIC_APIS[-1]} (see the page's "
                    "'Use via API' link).",
                )
            if UPLOAD.match(path):
                return await _refuse(send, 403, "This app takes no files; uploads are turned off.")
            call = API_CALL.match(path)
            if call and self.door is not None and scope.get("method") == "POST":
                body, receive = await _buffered(receive)
                message = self.door(call.group(1), _data_of(body))
                if message:
                    return await _refuse(send, 429, message)
        return await self.app(scope, receive, send)


async def _buffered(receive):
    """The request body read whole (up to MAX_BODY; the rest is left to Gradio), and a receive that replays it."""
    chunks, more = [], True
    while more and sum(map(len, chunks)) <= MAX_BODY:
        message = await receive()
        if message["type"] != "http.request":
            return b"", receive
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    body, sent = b"".join(chunks), False

    async def replay():
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": more}

    return body, replay


def _data_of(body: bytes):
    try:
        data = json.loads(body).get("data")
    except (ValueError, AttributeError):
        return None
    return data if isinstance(data, list) else None


async def _refuse(send, status: int, message: str):
    body = json.dumps({"error": message, "detail": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
