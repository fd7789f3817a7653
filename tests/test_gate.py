"""The server-wide decoding gate (page/gate.py): a unit test with threads, then the launched app over real HTTP,
where /translate and /explain together never decode more than the limit at once and costly requests over the
costly lane's share are refused with a one-line message while a cheap request still gets through."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from test_app import assets_with, running_app, sentence_for

from benchmarks.served import answer_event
from page.gate import BusyError, DecodeGate, work_of
from page.limits import CONCURRENCY


class Counter:
    """How many callers are inside at once, and the most there ever were."""

    def __init__(self):
        self.now = self.peak = 0
        self.lock = threading.Lock()

    def __enter__(self):
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def __exit__(self, *exc):
        with self.lock:
            self.now -= 1


def test_the_gate_limits_sections_and_refuses_costly_work_over_its_lane():
    gate, inside = DecodeGate(capacity=2, heavy_capacity=1, heavy_waiting=1, heavy_work=100), Counter()
    outcomes = []

    def section(work):
        try:
            with gate.decoding(work), inside:
                time.sleep(0.05)
            outcomes.append("ok")
        except BusyError as error:
            outcomes.append(str(error))

    with ThreadPoolExecutor(12) as pool:
        list(pool.map(section, [1000] * 6 + [1] * 6))
    assert inside.peak == gate.peak == 2  # never more than the capacity, light and heavy together
    refused = [o for o in outcomes if o != "ok"]
    assert outcomes.count("ok") >= 6 + 2 and refused and all("busy" in o and "\n" not in o for o in refused)
    assert gate.running == gate.heavy_running == gate.waiting_heavy == gate.waiting_light == 0
    assert (
        work_of(12, 13) < 40_000 <= work_of(100, 10)
    )  # a page sentence with occlusion is cheap; beam 10 on 100 is not


def call(client: httpx.Client, base: str, api: str, data: list, visitor: str = "198.51.100.1") -> tuple[str, str]:
    """One API call as `visitor` (the address a Space's proxy puts in X-Forwarded-For): its outcome and detail."""
    response = client.post(f"{base}gradio_api/call/{api}", json={"data": data}, headers={"x-forwarded-for": visitor})
    if response.status_code == 429:  # refused at the door, before joining the queue
        return "refused", response.json()["error"]
    assert response.status_code == 200, response.text
    event, data = answer_event(client, base, api, response)
    return (event, data) if event else ("none", "")


@pytest.fixture(scope="module")
def gated_app(app_bundle_dir, tmp_path_factory):
    with running_app(assets_with(app_bundle_dir, tmp_path_factory.mktemp("gate_assets"))) as served:
        yield served


def test_every_decoding_handler_shares_one_limit_and_costly_requests_are_refused(gated_app, monkeypatch):
    url, demo_app, _ = gated_app
    translator = demo_app.translators[demo_app.default]
    text = sentence_for(translator)
    inside, real = Counter(), type(translator).translate

    def slow_translate(self, *args, **kwargs):  # every decode takes a while, so overlaps would show
        with inside:
            time.sleep(0.2)
            return real(self, *args, **kwargs)

    monkeypatch.setattr(type(translator), "translate", slow_translate)
    requests = [("translate" if i % 2 else "explain", [text, "", 1 + i % 3, None, 0]) for i in range(12)]
    with ThreadPoolExecutor(12) as pool, httpx.Client(timeout=120) as client:
        answers = list(pool.map(lambda i: call(client, url, *requests[i], visitor=f"198.51.100.{i}"), range(12)))
    assert [event for event, _ in answers] == ["complete"] * 12
    assert inside.peak <= CONCURRENCY and demo_app.gate.peak <= CONCURRENCY  # 12 at once, 2 decoding

    # Costly work has one lane: a burst of costly requests gets one-line refusals, a cheap one still an answer.
    S = len(translator.source_ids(text))
    monkeypatch.setattr(demo_app.gate, "heavy_work", work_of(S, 3))  # beam 3 and /explain are costly here
    costly = [("explain", [text, "", 3, None, 0])] * 10
    with ThreadPoolExecutor(11) as pool, httpx.Client(timeout=120) as client:
        burst = [pool.submit(call, client, url, *r, visitor=f"203.0.113.{i}") for i, r in enumerate(costly)]
        gate, deadline = demo_app.gate, time.monotonic() + 30
        while not (gate.heavy_running and gate.waiting_heavy >= gate.heavy_waiting) and time.monotonic() < deadline:
            time.sleep(0.01)
        later = call(client, url, *costly[0])  # the lane is full now: refused at the door, never queued
        cheap = call(client, url, "translate", [text, "", 1, None, 0])
        outcomes = [f.result() for f in burst]
    assert cheap[0] == "complete"
    refused = [detail for event, detail in outcomes if event in ("error", "refused")]
    assert refused and all("busy with other long requests" in detail for detail in refused)
    assert later[0] == "refused" and "busy with other long requests" in later[1]
    assert any(event == "complete" for event, _ in outcomes)


def test_one_visitor_cannot_fill_the_queue(gated_app, monkeypatch):
    """A visitor with PER_VISITOR requests in the queue gets one-line 429 refusals for more, while another visitor
    is answered and the first one's queued requests all complete."""
    from page.limits import PER_VISITOR

    url, demo_app, _ = gated_app
    translator = demo_app.translators[demo_app.default]
    text, real = sentence_for(translator), type(translator).translate

    def slow_translate(self, *args, **kwargs):  # decodes take long enough for the queue to hold the burst
        time.sleep(0.3)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(type(translator), "translate", slow_translate)
    request = ("translate", [text, "", 1, None, 0])
    with ThreadPoolExecutor(PER_VISITOR + 6) as pool, httpx.Client(timeout=120) as client:
        burst = [pool.submit(call, client, url, *request, visitor="192.0.2.7") for _ in range(PER_VISITOR + 5)]
        time.sleep(0.5)
        other = call(client, url, *request, visitor="192.0.2.99")
        outcomes = [f.result() for f in burst]
    refused = [detail for event, detail in outcomes if event == "refused"]
    assert other[0] == "complete"
    assert [event for event, _ in outcomes].count("complete") >= PER_VISITOR and len(refused) >= 1
    assert all(event in ("complete", "refused") for event, _ in outcomes)
    assert all(f"already have {PER_VISITOR} requests waiting or running" in detail for detail in refused), refused
