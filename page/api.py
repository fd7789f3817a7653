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

from gradio import state_holder

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


# ---- sessions ------------------------------------------------------------------------------------------
class _NoBlocks:
    """What SessionState.__init__ reads of a Blocks, with no blocks to build configs for."""

    blocks: dict = {}

    def __init__(self, blocks):
        self.default_config = blocks.default_config


class _BlockConfigs(dict):
    """A session's copy of each block's config, built per block when Gradio first sets one (it does so for the
    inputs of every event), and whole only when iterated (restoring a session's page reads them all)."""

    def __init__(self, blocks_config, blocks):
        super().__init__()
        self._blocks_config, self._blocks = blocks_config, blocks

    def items(self):
        for key, block in self._blocks_config.blocks.items():
            if key in self._blocks.blocks and key not in self:
                self[key] = self._blocks_config.config_for_block(key, [], block)
        return super().items()


class LeanSessionState(state_holder.SessionState):
    """Gradio's per-session state whose `config_values` are built when used instead of at creation. Every
    plain-HTTP API call is a new session, and building all 86 of this page's block configs for each took 40%
    of the server's event-loop time under 8 API clients (py-spy); a call uses the few of its own inputs."""

    def __init__(self, blocks):
        super().__init__(_NoBlocks(blocks))
        self.config_values = _BlockConfigs(self.blocks_config, blocks)


def lean_sessions() -> None:
    """Gradio's session holder makes LeanSessionState from now on (the app calls this before launching)."""
    state_holder.SessionState = LeanSessionState


# ---- the route guard ----------------------------------------------------------------------------------
API_CALL = re.compile(r"^/gradio_api/call/(?:v2/)?(translate|explain)/?$")
QUEUED = re.compile(r"^/gradio_api/(?:queue/join|call/(?:v2/)?[^/]+)/?$")  # every way into the queue
MAX_BODY = 64 * 1024  # a call's JSON: 300 characters of text and four numbers
OVER_SHARE = (
    "You already have {n} requests waiting or running on this server; wait for their answers, then send more "
    "(the queue is shared by every visitor)."
)


def visitor_of(forwarded_for: str | None, host: str | None) -> str:
    """Who sent a request: the first address of X-Forwarded-For (a Space's proxy sets it), else the peer."""
    first = (forwarded_for or "").split(",")[0].strip()
    return first or host or "?"


def queued_by(queue, visitor: str) -> int:
    """How many of `visitor`'s events wait in Gradio's queue or run now."""
    events = [event for waiting in queue.event_queue_per_concurrency_id.values() for event in waiting.queue]
    events += [event for job in queue.active_jobs if job for event in job]
    return sum(
        visitor_of(event.request.headers.get("x-forwarded-for"), getattr(event.request.client, "host", None)) == visitor
        for event in events
        if event.request is not None
    )


class PublicApiOnly:
    """ASGI middleware: 404 for named calls of anything but PUBLIC_APIS, 403 for uploads, and, with a `door`
    (api, data) -> message or None, 429 for a /translate or /explain call the door refuses before it joins the
    queue (costly work while the costly lane is full: page/gate.py). With `queued` (visitor -> events of theirs
    in the queue), 429 for any request into the queue from a visitor who already has `per_visitor` there, so one
    client cannot fill the queue that everyone shares."""

    def __init__(self, app, door=None, queued=None, per_visitor: int = 6):
        self.app, self.door, self.queued, self.per_visitor = app, door, queued, per_visitor
        self.entering: dict[str, int] = {}  # requests past the check and not yet answered (not yet queued)

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
            if self.queued is not None and scope.get("method") == "POST" and QUEUED.match(path):
                headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
                visitor = visitor_of(headers.get("x-forwarded-for"), (scope.get("client") or (None,))[0])
                waiting = self.queued(visitor) + self.entering.get(visitor, 0)
                if waiting >= self.per_visitor:
                    return await _refuse(send, 429, OVER_SHARE.format(n=self.per_visitor))
                self.entering[visitor] = self.entering.get(visitor, 0) + 1
                try:
                    return await self.app(scope, receive, send)
                finally:
                    self.entering[visitor] -= 1
                    if not self.entering[visitor]:
                        del self.entering[visitor]
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
