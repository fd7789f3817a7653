"""Fair use of the CPU: one normal visitor's greedy /translate while other clients send the costliest valid
requests (beam 10 on the longest input the model takes, half of them to /explain, half to /translate), all over plain HTTP through the queue.

    python -m benchmarks.fairness                      # app.py on assets/en-de, 0 and 8 and 40 costly clients
    python -m benchmarks.fairness --costly 8,40 --seconds 10

Prints one row per run: the normal visitor's answers, median and p95, and what the costly clients got
(answers, refusals with their message, queue full). The rows of one run are comparable with each other;
the machine's other load shifts them all.
"""

import argparse
import json
import random
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

from benchmarks.measure import ROOT, rss_mib
from benchmarks.served import Server, answer_event

NORMAL_TEXT = "A dog runs on the beach."


def costly_text(translator, limit_chars: int = 300, seed: int = 0) -> str:
    """Made-up four-letter words up to the model's token limit (or 300 characters): the longest input the page
    takes, whose translation does not stop early."""
    rng = random.Random(seed)
    words: list[str] = []
    while True:
        word = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(4))
        candidate = " ".join(words + [word])
        if len(candidate) > limit_chars:
            break
        try:
            translator.source_ids(candidate)
        except Exception:
            break
        words.append(word)
    return " ".join(words)


def call_api(client: httpx.Client, base: str, api: str, data: list) -> tuple[str, str]:
    """One queued call of /translate or /explain: ("ok" | "queue full" | "refused" | "error", detail)."""
    response = client.post(f"{base}gradio_api/call/{api}", json={"data": data})
    if response.status_code == 503:
        return "queue full", ""
    if response.status_code == 429:  # refused at the door, before joining the queue
        return "refused", response.text[:200]
    if response.status_code != 200:
        return "error", f"HTTP {response.status_code}: {response.text[:200]}"
    event, data = answer_event(client, base, api, response)
    if event is None:
        return "error", "the event stream ended without an answer"
    if event == "complete":
        return "ok", ""
    detail = data[:200]
    return ("refused" if "busy" in detail.lower() else "error"), detail


def fairness_run(url: str, pid: int, costly: str, costly_clients: int, seconds: float) -> dict:
    """`costly_clients` threads send beam 10 on `costly` back to back (even ones /explain, odd ones /translate), one normal visitor sends greedy
    /translate of a short sentence back to back, for `seconds`."""
    normal: list[tuple[str, float]] = []
    heavy: list[tuple[str, str]] = []
    rss_before = rss_mib(pid)

    def loop(kind: str, deadline: float, index: int = 0):
        api = "explain" if index % 2 == 0 else "translate"  # costly clients take turns at both endpoints
        with httpx.Client(timeout=300) as client:
            while time.perf_counter() < deadline:
                tick = time.perf_counter()
                if kind == "normal":
                    outcome, _ = call_api(client, url, "translate", [NORMAL_TEXT, "", 1, None, 0])
                    normal.append((outcome, time.perf_counter() - tick))
                else:
                    outcome, detail = call_api(client, url, api, [costly, "", 10, None, 200])
                    heavy.append((outcome, detail))
                    if outcome != "ok":
                        time.sleep(0.05)

    with ThreadPoolExecutor(costly_clients + 1) as pool:
        start = time.perf_counter()
        deadline = start + seconds
        futures = [pool.submit(loop, "costly", deadline, i) for i in range(costly_clients)]
        futures.append(pool.submit(loop, "normal", deadline))
        for future in futures:
            future.result()
    elapsed = time.perf_counter() - start
    answered = [s for outcome, s in normal if outcome == "ok"]
    heavy_counts = Counter(outcome for outcome, _ in heavy)
    return {
        "costly_clients": costly_clients,
        "seconds": round(elapsed, 1),
        "normal_answers": len(answered),
        "normal_not_answered": len(normal) - len(answered),
        "normal_p50_ms": round(float(np.median(answered)) * 1e3, 1) if answered else None,
        "normal_p95_ms": round(float(np.percentile(answered, 95)) * 1e3, 1) if answered else None,
        "costly_answers": heavy_counts["ok"],
        "costly_refused": heavy_counts["refused"],
        "costly_queue_full": heavy_counts["queue full"],
        "costly_errors": heavy_counts["error"],
        "refusal_example": next((d for o, d in heavy if o == "refused"), ""),
        "rss_before_mib": rss_before,
        "rss_after_mib": rss_mib(pid),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.fairness", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--bundle", default=str(ROOT / "assets" / "en-de"), help="the bundle to serve (default: %(default)s)"
    )
    p.add_argument("--costly", default="0,8,40", help="costly client counts, one run each (default: %(default)s)")
    p.add_argument("--seconds", type=float, default=10.0, help="seconds per run (default: %(default)s)")
    args = p.parse_args(argv)
    from inference import Translator

    bundle = Path(args.bundle)
    costly = costly_text(Translator(bundle, device="cpu", threads=1))
    server = Server(NORMAL_TEXT, bundle, bundle.name)
    try:
        for count in (int(c) for c in args.costly.split(",")):
            print(json.dumps(fairness_run(server.url, server.process.pid, costly, count, args.seconds)), flush=True)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
