"""evaluation.json beside a bundle: the tuned length penalty and metrics per test set, updated atomically."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from inference.bundle import EVALUATION_FILE, read_evaluation, write_json_atomic

FORMAT = "bmm-seq2seq-evaluation"


def name_of_test_set(data_dir: str | None, dataset: str | None, split: str) -> str:
    """ "multi30k/test", "tatoeba/en-de/test", "bentrevett/multi30k/test": short, and unique per data set."""
    if data_dir is None:
        return f"{dataset}/{split}"
    folder = Path(data_dir).resolve()
    # A folder named after a language pair (tatoeba/en-de) needs its parent to say which corpus it is.
    name = f"{folder.parent.name}/{folder.name}" if re.fullmatch(r"[a-z]{2,3}-[a-z]{2,3}", folder.name) else folder.name
    return f"{name}/{split}"


def command_line(argv) -> str:
    return "python -m evaluate " + " ".join(sys.argv[1:] if argv is None else argv)


def update_evaluation(bundle: Path, *, test_sets: dict | None = None, length_penalty: dict | None = None) -> Path:
    """Merges new results into BUNDLE/evaluation.json (other test sets are kept) and writes it atomically."""
    evaluation = read_evaluation(bundle)
    evaluation["format"] = FORMAT
    if length_penalty is not None:
        evaluation["length_penalty"] = length_penalty
    stored = evaluation.setdefault("test_sets", {})
    for name, result in (test_sets or {}).items():
        old = stored.get(name, {})
        if old.get("graphs_sha256") == result.get("graphs_sha256"):  # same graphs: keep the other decodings
            kept = {k: v for k, v in old.items() if isinstance(v, dict) and "sacrebleu" in v and k not in result}
            result = {**result, **kept}
        stored[name] = result
    path = Path(bundle) / EVALUATION_FILE
    write_json_atomic(path, evaluation)
    return path
