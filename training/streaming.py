"""Streaming training data: the training split read as it goes (larger than memory), one shard per process.

    python -m training --data-dir big/ --streaming --tokenizer-sample 200000 --out runs/big
    torchrun --standalone --nproc_per_node 2 -m training --dataset NAME --streaming --out runs/big

`datasets` streams the rows (Hub or local files, `load_dataset(..., streaming=True)`);
`split_dataset_by_node` gives each rank its own part. Rows pass a shuffle buffer (reshuffled every epoch
with seed + epoch); every 50 batches' worth of pairs is encoded, sorted by length and cut into batches,
as `make_batches` does in memory. The tokenizer is trained on the first --tokenizer-sample pairs.
"""

from __future__ import annotations

import itertools

from datasets.distributed import split_dataset_by_node

from training.corpus import Pair, load_splits, open_dataset
from training.data import encode_pairs, make_batches
from training.distributed import Cluster
from training.errors import DataError

SHUFFLE_BUFFER = 10_000  # rows held in memory for shuffling
POOL_BATCHES = 50  # batches' worth of pairs sorted by length together, as in make_batches


def open_stream(args, cluster: Cluster):
    """This rank's stream of the training split, and the validation/test splits read whole."""
    raw, origin = open_dataset(args.dataset, args.dataset_config, args.data_dir, ("train",), streaming=True)
    if "train" not in raw:
        raise DataError(f"{origin} has no train split to stream")
    stream = split_dataset_by_node(raw["train"], rank=cluster.rank, world_size=cluster.world_size)
    splits, report = load_splits(
        args.src, args.tgt, args.dataset, args.dataset_config, args.data_dir, splits=("validation", "test")
    )
    report["sizes"] = {"train": "streamed", **report["sizes"]}
    return stream, splits, report


def stream_pairs(rows, src: str, tgt: str):
    """Pairs from streamed rows ({src: .., tgt: ..} or {"translation": {..}}); empty pairs are skipped."""
    for row in rows:
        if src in row and tgt in row:
            source, target = row[src], row[tgt]
        elif "translation" in row and isinstance(row["translation"], dict):
            source, target = row["translation"].get(src), row["translation"].get(tgt)
        else:
            missing = src if src not in row else tgt
            raise DataError(
                f"the streamed train split has no column {missing!r}; columns there: {', '.join(row)} "
                "(choose them with --src and --tgt)"
            )
        if isinstance(source, str) and isinstance(target, str) and source.strip() and target.strip():
            yield Pair(source.strip(), target.strip())


def sample_texts(stream, pairs: int, src: str, tgt: str) -> list[str]:
    """Source and target texts of the first `pairs` pairs: what the tokenizer is trained on."""
    sample = list(itertools.islice(stream_pairs(stream, src, tgt), pairs))
    return [p.src for p in sample] + [p.tgt for p in sample]


class StreamBatches:
    """Length-bucketed batches from this rank's stream; how many there are is known only at the end."""

    def __init__(self, stream, tokenizer, args, eos_id: int, cluster: Cluster):
        self.stream = stream.shuffle(seed=args.seed, buffer_size=SHUFFLE_BUFFER)
        self.tokenizer, self.eos_id, self.cluster = tokenizer, eos_id, cluster
        self.src, self.tgt = args.src, args.tgt
        self.batch_size, self.max_len, self.seed = args.batch_size, args.max_len, args.seed

    def epoch_batches(self, epoch: int):
        """Returns (an iterator of (examples, batch indices), None for an unknown length, a line for the log)."""
        self.stream.set_epoch(epoch)  # the shuffle buffer then uses seed + epoch
        return self._batches(epoch), None, f"streaming, shuffle buffer {SHUFFLE_BUFFER} rows"

    def _batches(self, epoch: int):
        pairs = stream_pairs(self.stream, self.src, self.tgt)
        for index in itertools.count():
            pool = list(itertools.islice(pairs, self.batch_size * POOL_BATCHES))
            if not pool:
                return
            examples = encode_pairs(pool, self.tokenizer, self.eos_id, self.max_len)
            for batch in make_batches(examples, self.batch_size, seed=(self.seed * 1000 + epoch) * 100_003 + index):
                yield examples, batch
