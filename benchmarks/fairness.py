"""Fair use of the CPU: one normal visitor's greedy /translate while other clients send the costliest valid
requests (beam 10 on the longest input the model takes, half of them to /explain, half to /translate), all over
plain HTTP through the queue.

    python -m benchmarks.fairness                      # app.py on assets/en-de, 0 and 8 and 40 costly clients
    python -m benchmarks.fairness --costly 8,40 --seconds 10

Prints one row per run: the normal visitor's answers, median and p95, and what the costly clients got
(answers, refusals with their message, queue full). The rows of one run are comparable with each other;
the machine's other load shifts them all.
"""

import argparse
import json
import random
from collections import Counter
from pathlib import Path

from benchmarks.measure import ROOT, ms, rss_mib
from benchmarks.served import Server, greedy, load_run

NORMAL_TEXT = "A dog runs on the beach."


def costly_text(translator, limit_chars: int = 300, seed: int = 0) -> str:
    """Made-up four-letter words up to the model's token limit (or 300 characters): the longest input the page
    takes, whose translation does not stop early."""
    rng, words = random.Random(seed), []
    while len(" ".join(words)) <= limit_chars:
        words.append("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(4)))
        try:
            translator.source_ids(" ".join(words))
        except ValueError:
            break
    return " ".join(words[:-1])


def fairness_run(server: Server, costly: str, costly_clients: int, seconds: float) -> dict:
    """Client 0 is the normal visitor (greedy /translate of a short sentence); the others send beam 10 on
    `costly`, odd ones to /explain, even ones to /translate; all back to back for `seconds`."""
    rss_before = rss_mib(server.process.pid)

    def request(client: int, _) -> tuple[str, list]:
        if client == 0:
            return "translate", greedy(NORMAL_TEXT)
        return ("explain" if client % 2 else "translate"), [costly, "", 10, None, 200]

    outcomes, elapsed = load_run(server, costly_clients + 1, seconds, request)
    normal = [(outcome, took) for client, outcome, _, took in outcomes if client == 0]
    answered = [took for outcome, took in normal if outcome == "ok"]
    heavy = Counter(outcome for client, outcome, _, _ in outcomes if client > 0)
    refusal = next((detail for client, outcome, detail, _ in outcomes if client and outcome == "refused"), "")
    run = dict(costly_clients=costly_clients, seconds=round(elapsed, 1), normal_answers=len(answered))
    run |= dict(normal_not_answered=len(normal) - len(answered), normal_p50_ms=ms(answered, 50, 1))
    run |= dict(normal_p95_ms=ms(answered, 95, 1), costly_answers=heavy["ok"], costly_refused=heavy["refused"])
    run |= dict(costly_queue_full=heavy["queue full"], costly_errors=heavy["error"], refusal_example=refusal)
    return run | dict(rss_before_mib=rss_before, rss_after_mib=rss_mib(server.process.pid))


def main(argv=None) -> int:
    raw = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(prog="python -m benchmarks.fairness", description=__doc__, formatter_class=raw)
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
            print(json.dumps(fairness_run(server, costly, count, args.seconds)), flush=True)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
