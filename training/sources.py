"""Where a run's sentences come from: the training batches (in memory or streamed), validation, the tokenizer.

In memory, every rank loads the whole training split and trains on its share of the length-bucketed
batches of each epoch; several --data-dir folders are mixed into one training list by --mix-weights and
validated one by one. With `--streaming`, each rank reads its own shard of the training split as it goes
(`datasets` streaming), so a corpus larger than memory trains too. Validation is always read whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer

from training.corpus import Pair, load_splits
from training.data import encode_pairs, make_batches, mix_pairs, padding_fraction, train_tokenizer
from training.distributed import Cluster
from training.errors import DataError


class MemoryBatches:
    """Length-bucketed batches of an in-memory training split: this rank's share, reshuffled every epoch."""

    def __init__(self, examples, batch_size: int, seed: int, cluster: Cluster):
        self.examples, self.batch_size, self.seed, self.cluster = examples, batch_size, seed, cluster

    def epoch_batches(self, epoch: int):
        """Returns ([(examples, batch indices)], number of batches, a line for the log)."""
        # The same seed on every rank gives every rank the same list, so the shares are disjoint.
        batches = self.cluster.shard(make_batches(self.examples, self.batch_size, seed=self.seed * 1000 + epoch))
        per_rank = " per process" if self.cluster.distributed else ""
        header = f"{len(batches)} batches{per_rank}, padding {padding_fraction(self.examples, batches):.1%}"
        return [(self.examples, batch) for batch in batches], len(batches), header


@dataclass
class Validation:
    pairs: list[Pair]
    examples: list


@dataclass
class TrainingData:
    batches: object  # MemoryBatches or training.streaming.StreamBatches
    validations: dict[str, Validation]  # one per dataset, by name
    report: dict
    tokenizer: Tokenizer

    def epoch_batches(self, epoch: int):
        return self.batches.epoch_batches(epoch)


def dataset_names(folders: list[str]) -> list[str]:
    """Short names for the log: folder names, or the whole paths where two folders share a name."""
    names = [Path(folder).name or str(folder) for folder in folders]
    return names if len(set(names)) == len(names) else [str(folder) for folder in folders]


def _load_in_memory(args):
    """({split: pairs} with train mixed, {name: validation pairs}, report) for one dataset or several."""
    folders = args.data_dirs or [None]
    loaded = [load_splits(args.src, args.tgt, args.dataset, args.dataset_config, folder) for folder in folders]
    if len(loaded) == 1:
        splits, report = loaded[0]
        return splits["train"], {report["dataset"]: splits["validation"]}, report
    names = dataset_names(folders)
    train = mix_pairs([splits["train"] for splits, _ in loaded], args.mix_weights, args.seed)
    validations = {name: splits["validation"] for name, (splits, _) in zip(names, loaded)}
    shares = ", ".join(f"{name} {weight:.0%}" for name, weight in zip(names, args.mix_weights))
    report = {
        "dataset": f"mix of {shares}",
        "src": args.src,
        "tgt": args.tgt,
        "mix_weights": args.mix_weights,
        "sizes": {"train": len(train), **{f"validation {n}": len(v) for n, v in validations.items()}},
        "dropped_empty": {name: r["dropped_empty"] for name, (_, r) in zip(names, loaded)},
        "datasets": [r for _, r in loaded],
    }
    return train, validations, report


def _substitute(args, train, report):
    """--name-substitution P: swaps the names training pairs share on both sides (training/names.py)."""
    probability = getattr(args, "name_substitution", 0.0) or 0.0
    if probability <= 0 or train is None:
        return train
    from training.names import POOL_FILE, REPLACE_FILE, read_names, substitute_names

    train, facts = substitute_names(train, read_names(REPLACE_FILE), read_names(POOL_FILE), probability, args.seed)
    report["name_substitution"] = facts
    return train


def with_bpe_dropout(tokenizer: Tokenizer, probability: float) -> Tokenizer:
    """A copy of a BPE tokenizer that skips each merge with the probability (the tokenizer itself when 0)."""
    if not probability:
        return tokenizer
    if not 0 < probability < 1:
        raise DataError(f"--bpe-dropout must be between 0 and 1, not {probability}")
    copy = Tokenizer.from_str(tokenizer.to_str())
    if not hasattr(copy.model, "dropout"):
        raise DataError(f"--bpe-dropout needs a BPE tokenizer; this one is {type(copy.model).__name__}")
    copy.model.dropout = probability
    return copy


def load_training_data(args, cluster: Cluster, eos_id: int, tokenizer_json: str | None = None) -> TrainingData:
    """Loads the data; trains the tokenizer on rank 0 unless one is given (resume), and shares it with every rank."""
    if args.streaming and len(args.data_dirs or []) > 1:
        raise DataError("--streaming reads one dataset; mix several --data-dir folders without --streaming")
    bpe_dropout = getattr(args, "bpe_dropout", 0.0)
    if args.streaming and bpe_dropout:
        raise DataError("--bpe-dropout encodes in-memory data; leave out --streaming to use it")
    with cluster.main_first():  # rank 0 fills the datasets cache, the others then read it
        if args.streaming:
            from training.streaming import open_stream

            stream, splits, report = open_stream(args, cluster)
            train, validations = None, {report["dataset"]: splits["validation"]}
        else:
            train, validations, report = _load_in_memory(args)
            train = _substitute(args, train, report)
    if tokenizer_json is None:
        if cluster.is_main:
            if args.streaming:
                from training.streaming import sample_texts

                texts = sample_texts(stream, args.tokenizer_sample, args.src, args.tgt)
                report["tokenizer_sample"] = len(texts) // 2
            else:
                texts = [p.src for p in train] + [p.tgt for p in train]
            tokenizer_json = train_tokenizer(texts, args.vocab_size, args.tokenizer).to_str()
        tokenizer_json, report = cluster.broadcast((tokenizer_json, report))
    tokenizer = Tokenizer.from_str(tokenizer_json)
    if args.streaming:
        from training.streaming import StreamBatches

        batches = StreamBatches(stream, tokenizer, args, eos_id, cluster)
    else:
        examples = encode_pairs(train, with_bpe_dropout(tokenizer, bpe_dropout), eos_id, args.max_len)
        batches = MemoryBatches(examples, args.batch_size, args.seed, cluster)
    validations = {
        name: Validation(pairs, encode_pairs(pairs, tokenizer, eos_id, args.max_len))
        for name, pairs in validations.items()
    }
    return TrainingData(batches, validations, report, tokenizer)
