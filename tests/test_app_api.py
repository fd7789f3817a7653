"""The public API against a launched app over real HTTP: only /translate, only through the queue, every
argument checked with a one-line message, no uploads or monitoring; and the bad-input matrix for the API
and the page."""

from __future__ import annotations

import json
import math

import gradio as gr
import jsonschema
import numpy as np
import pytest
from test_app import app_assets, demo_app, pair_and_text, running_app, views_plain  # noqa: F401  (fixtures)

from inference.document import load_schema
from page import limits

BAD_INPUTS = {
    "empty": "",
    "whitespace": " \t\n ",
    "300 chars": "a " * 150,
    "301 chars": "a " * 150 + "b",
    "1 MB": "a" * 1_000_000,
    "control": "a\x07b",
    "NUL": "a\x00b",
    "emoji": "A dog 🐕.",
    "RTL": "كلب يجري",
    "CJK": "犬が走る",
    "script": "<script>alert(1)</script>",
    "template": "${7*7}",
    "markdown link": "[a](javascript:alert(1))",
    "number": 7,
    "list": ["a"],
    "null": None,
}


def test_bad_input_matrix_on_the_page_and_the_api(demo_app):
    """Every hostile input either translates or gets a one-line message; none crashes or reaches the user raw."""
    pair = demo_app.default
    for name, text in BAD_INPUTS.items():
        page = demo_app.on_translate(pair, text, "greedy", 5, 0.6, 0)
        try:
            api = demo_app.api_translate(text, pair)
        except gr.Error as error:
            assert error.message and "\n" not in error.message and "Traceback" not in error.message, name
            # the page's status: the API's one-line message, then (when a result is on screen) that it is the old one
            first = views_plain(page.status).splitlines()[0].strip()
            assert page.status.startswith("⚠️") and first == f"⚠️ {error.message}", name
        else:
            assert page.translation == api["translation"] and api["source"] == text, name
    for name in ("empty", "whitespace", "301 chars", "1 MB", "control", "NUL", "number", "list", "null"):
        with pytest.raises(gr.Error):
            demo_app.api_translate(BAD_INPUTS[name], pair)
    for beam_size, max_len in [(0, 0), (2.7, 0), ("3", 0), (1, -1), (1, math.inf), (1, math.nan), (None, 0)]:
        with pytest.raises(gr.Error, match="must be a whole number"):
            demo_app.api_translate("A dog.", pair, beam_size, None, max_len)


# ---- a launched server -------------------------------------------------------------------------------
def test_server_api_translate_and_errors(app_assets, pair_and_text):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    pair, text = pair_and_text
    with running_app(app_assets) as (url, demo_app, demo):
        assert demo._queue.max_size == limits.QUEUE_SIZE and demo._queue.default_concurrency_limit == limits.CONCURRENCY
        assert demo.ssr_mode is False and demo.analytics_enabled is False
        assert demo.state_session_capacity == limits.SESSIONS  # bounded memory under plain-HTTP API calls
        client = Client(url, verbose=False)
        named = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
        assert list(named) == ["/translate", "/explain", "/what_if", "/compare"]
        result = client.predict(text, pair, 3, 0.6, 0, api_name="/translate")
        S, T = len(result["source_tokens"]), len(result["target_tokens"])
        assert result["translation"] and result["pair"] == pair and result["decoding"]["mode"] == "beam"
        assert np.asarray(result["attention"]).shape == (T, S)
        assert len(result["alternatives"]) == T and set(result["alternatives"][0][0]) == {"token", "id", "prob"}
        schema = jsonschema.Draft202012Validator(load_schema())
        schema.validate(result)  # the API answers with the one translation JSON
        assert 1 <= len(result["nbest"]) <= 3
        with pytest.raises(AppError) as error:
            client.predict("   ", api_name="/translate")
        assert "empty" in str(error.value) and "Traceback" not in str(error.value)
        with pytest.raises(AppError) as error:
            client.predict(text, "xx-yy", api_name="/translate")
        assert "Unknown language pair" in str(error.value)
        tuned = client.predict(text=text, pair=pair, beam_size=3, api_name="/translate")  # α left out
        assert tuned["decoding"]["length_penalty"] == demo_app.translators[pair].length_penalty
        again = client.predict(text, api_name="/translate")  # still serving, greedy by default
        assert again["decoding"]["mode"] == "greedy" and again["translation"]

        # /explain: the same numbers the page draws for the same request (page: the cached result's payload).
        explained = client.predict(text, pair, api_name="/explain")
        schema.validate(explained)
        page = demo_app.on_translate(pair, text, "greedy", 5, 0.6, 0).heatmap["translation"]["explanation"]
        ex = explained["explanation"]
        assert explained["attention"] == again["attention"] and explained["translation"] == again["translation"]
        np.testing.assert_allclose(ex["occlusion"]["drops"], page["occlusion"]["drops"], atol=1e-6)
        np.testing.assert_allclose(ex["coverage"]["values"], page["coverage"]["values"], atol=1e-6)
        assert ex["confidence"]["badges"] == page["confidence"]["badges"]
        assert ex["coverage"]["dropped"] == page["coverage"]["dropped"]
        assert np.asarray(ex["occlusion"]["drops"]).shape == (len(again["target_tokens"]), len(again["source_tokens"]))
        with pytest.raises(AppError) as error:
            client.predict("   ", api_name="/explain")
        assert "empty" in str(error.value) and "Traceback" not in str(error.value)


def _post(url: str, path: str, payload=None, files=None):
    import httpx

    if files is not None:
        return httpx.post(url.rstrip("/") + path, files=files, timeout=60)
    body = json.dumps(payload)  # allow_nan: Infinity goes out as JavaScript would send it
    return httpx.post(url.rstrip("/") + path, content=body, headers={"Content-Type": "application/json"}, timeout=60)


def _call(url: str, data: list) -> str:
    """The documented REST form of the API: POST /gradio_api/call/translate, then read its event stream."""
    import httpx

    event = _post(url, "/gradio_api/call/translate", {"data": data})
    assert event.status_code == 200, event.text
    return httpx.get(f"{url.rstrip('/')}/gradio_api/call/translate/{event.json()['event_id']}", timeout=60).text


def test_server_has_no_way_around_the_queue(app_assets, pair_and_text):
    """Real HTTP against the launched app: only /translate, only through the queue; no uploads, no monitoring."""
    import httpx

    pair, text = pair_and_text
    with running_app(app_assets) as (url, demo_app, demo):
        direct = _post(url, "/gradio_api/run/translate", {"data": [text, "", 1, None, 0]})
        assert direct.status_code == 404 and "queue" in direct.text  # the queue's limits apply to everyone
        translate_index = next(i for i, fn in demo.fns.items() if fn.name == "on_translate")
        by_index = _post(
            url, "/gradio_api/run/predict", {"data": ["en-de", text, "greedy", 1, 1, 0], "fn_index": translate_index}
        )
        assert by_index.status_code == 404 and "queue" in by_index.text  # the page's own route: not for handlers
        for name in ("on_translate", "on_select", "on_continue", "model_card", "on_downloads", "on_run", "lambda"):
            for route in ("run", "call", "api", "call/v2"):
                refused = _post(url, f"/gradio_api/{route}/{name}", {"data": []})
                assert (
                    refused.status_code == 404
                    and "the API is /translate, /explain, /what_if and /compare" in refused.text
                ), (
                    route,
                    name,
                )
        upload = _post(url, "/gradio_api/upload", files={"files": ("a.txt", b"x" * 10)})
        assert upload.status_code == 403
        assert httpx.get(f"{url.rstrip('/')}/monitoring", timeout=30).status_code in (403, 404)
        assert "event: complete" in _call(url, [text, pair, 1, None, 0])  # the documented API still works
        for data, words in [
            ([text, ["en-de"], 1, None, 0], "pair argument is not text"),
            ([123, pair, 1, None, 0], "text argument is not text"),
            ([text, pair, 2.7, None, 0], "got the number 2.7"),
            ([text, pair, 1, None, 1e309], "got the number inf"),
            (["", pair, 1, None, 0], "empty"),
            ([text, pair, 1, "x", 0], "length_penalty"),
            ([text], "needed: 5, got: 1"),
            ([], "needed: 5, got: 0"),
        ]:
            answer = _call(url, data)
            assert "event: error" in answer and words in answer and "null" not in answer, (data, answer)
