"""Reading a parallel corpus with `datasets`, torch-free: local JSONL/Parquet in the Hub schema, or a Hub name.

    splits, report = load_splits("en", "de", data_dir="../shared/data/multi30k")   # {split: [Pair]}, facts
    splits, report = load_splits("de", "en", dataset="bentrevett/multi30k")       # the Hub (needs a network)

Training reads its data through here (training/data.py, training/sources.py) and so does
`python -m evaluate`, which scores an onnxruntime bundle without importing torch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from training.constants import DEFAULT_DATASET
from training.errors import DataError

SPLITS = ("train", "validation", "test")


@dataclass
class Pair:
    src: str
    tgt: str


def _data_files(data_dir: Path) -> tuple[str, dict[str, str]]:
    if not data_dir.is_dir():
        raise DataError(
            f"--data-dir {data_dir} is not a folder; it must hold train/validation/test .jsonl or .parquet files"
        )
    for ext, builder in ((".jsonl", "json"), (".json", "json"), (".parquet", "parquet")):
        files = {split: str(data_dir / f"{split}{ext}") for split in SPLITS if (data_dir / f"{split}{ext}").is_file()}
        if "train" in files:
            return builder, files
    raise DataError(f"no train.jsonl or train.parquet in {data_dir}; expected train/validation/test files there")


def open_dataset(dataset: str, dataset_config: str | None, data_dir, splits=SPLITS, streaming: bool = False):
    """datasets.load_dataset of local files (`data_dir` wins) or a Hub name; returns ({split: table}, origin).

    Local files are in the Hub dataset's schema, so the same code path serves both.
    """
    import datasets

    if data_dir is not None:
        builder, files = _data_files(Path(data_dir))
        files = {split: path for split, path in files.items() if split in splits}
        raw = datasets.load_dataset(builder, data_files=files, streaming=streaming)
        return raw, str(data_dir)
    try:
        raw = datasets.load_dataset(dataset, dataset_config, streaming=streaming)
    except Exception as error:  # offline, unknown name, gated...: one actionable line
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataError(
            f"could not load the dataset {dataset!r} from the Hugging Face Hub ({reason}). "
            "If this machine is offline, pass --data-dir with local train/validation/test .jsonl or .parquet files "
            "(for example --data-dir ../shared/data/multi30k)."
        ) from None
    return raw, dataset if dataset_config is None else f"{dataset}:{dataset_config}"


def load_splits(
    src: str,
    tgt: str,
    dataset: str = DEFAULT_DATASET,
    dataset_config: str | None = None,
    data_dir: str | os.PathLike | None = None,
    splits=SPLITS,
) -> tuple[dict[str, list[Pair]], dict]:
    """Returns {split: [Pair]} of the wanted splits and a small report (source, dropped pair counts)."""
    raw, origin = open_dataset(dataset, dataset_config, data_dir, splits)
    loaded, dropped = {}, {}
    for split in splits:
        if split not in raw:
            continue
        table = raw[split]
        columns = table.column_names
        if src in columns and tgt in columns:
            sources, targets = table[src], table[tgt]
        elif "translation" in columns:  # {"translation": {"en": ..., "de": ...}}
            first = table[0]["translation"] if len(table) else {}
            missing = [lang for lang in (src, tgt) if lang not in first]
            if missing:
                raise DataError(
                    f"{origin}: split {split!r} has no language {missing[0]!r} under 'translation'; "
                    f"languages there: {', '.join(sorted(first))}"
                )
            sources = [row[src] for row in table["translation"]]
            targets = [row[tgt] for row in table["translation"]]
        else:
            missing = src if src not in columns else tgt
            raise DataError(
                f"{origin}: split {split!r} has no column {missing!r}; columns there: {', '.join(columns)} "
                "(choose them with --src and --tgt)"
            )
        pairs = [
            Pair(s.strip(), t.strip())
            for s, t in zip(sources, targets)
            if isinstance(s, str) and isinstance(t, str) and s.strip() and t.strip()
        ]
        dropped[split] = len(sources) - len(pairs)
        loaded[split] = pairs
    if "train" in splits and not loaded.get("train"):
        raise DataError(f"{origin} has no usable train split")
    if "validation" not in loaded:
        raise DataError(f"{origin} has no validation split; it is needed to pick the best checkpoint")
    report = {
        "dataset": origin,
        "src": src,
        "tgt": tgt,
        "sizes": {k: len(v) for k, v in loaded.items()},
        "dropped_empty": dropped,
    }
    return loaded, report
