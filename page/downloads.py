"""The JSON and CSV downloads of a shown result, written on demand, each file complete or absent."""

from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile
import threading
import uuid
from collections import deque
from pathlib import Path


def _csv_cell(text: str) -> str:
    """Keeps spreadsheets from running tokens such as `=cmd|…` as formulas."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


_DOWNLOADS = Path(tempfile.gettempdir()) / "bmm-attention-downloads"
_RECENT: deque[Path] = deque()  # folders written by this process, oldest first
_RECENT_LOCK = threading.Lock()


def write_downloads(payload: dict, keep: int = 64) -> tuple[str, str]:
    """attention.json and attention.csv in a fresh folder; only the last `keep` folders are kept, so each
    call removes at most one old folder (no scan of the whole directory). Files are written to a temp
    name and renamed, so a download never sees half a file."""
    folder = _DOWNLOADS / uuid.uuid4().hex
    folder.mkdir(parents=True)
    with _RECENT_LOCK:
        _RECENT.append(folder)
        old = _RECENT.popleft() if len(_RECENT) > keep else None
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    stem = f"attention-{payload['pair']}"
    json_path, csv_path = folder / f"{stem}.json", folder / f"{stem}.csv"
    tmp_json, tmp_csv = folder / ".json.tmp", folder / ".csv.tmp"
    tmp_json.write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")
    with open(tmp_csv, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(
            ["step", "target_token", "probability"]
            + [_csv_cell(f"{s}:{tok}") for s, tok in enumerate(payload["source_tokens"])]
        )
        for t, (token, prob, row) in enumerate(
            zip(payload["target_tokens"], payload["token_probs"], payload["attention"])
        ):
            writer.writerow([t, _csv_cell(token), f"{prob:.6f}"] + [f"{w:.6f}" for w in row])
    os.replace(tmp_json, json_path)
    os.replace(tmp_csv, csv_path)
    return str(json_path), str(csv_path)
