"""Where a run's sentences come from: the training batches (in memory or streamed), validation, the tokenizer.

In memory, every rank loads the whole training split and trains on its share of the length-bucketed
batches of each epoch. With `--streaming`, each rank reads its own shard of the training split as it goes
(`datasets` streaming), so a corpus larger than memory trains too. Validation is always read whole.
"""
from __future__ import annotations

from dataclasses import dataclass

from tokenizers import Tokenizer

from training.data import Pair, encode_pairs, load_splits, make_batches, padding_fraction, train_tokenizer
from training.distributed import Cluster


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
    validation: Validation
    report: dict
    tokenizer: Tokenizer

    def epoch_batches(self, epoch: int):
        return self.batches.epoch_batches(epoch)


def load_training_data(args, cluster: Cluster, eos_id: int, tokenizer_json: str | None = None) -> TrainingData:
    """Loads the data; trains the tokenizer on rank 0 unless one is given (resume), and shares it with every rank."""
    with cluster.main_first():  # rank 0 fills the datasets cache, the others then read it
        if args.streaming:
            from training.streaming import open_stream

            stream, splits, report = open_stream(args, cluster)
        else:
            splits, report = load_splits(args.src, args.tgt, args.dataset, args.dataset_config, args.data_dir)
    if tokenizer_json is None:
        if cluster.is_main:
            if args.streaming:
                from training.streaming import sample_texts

                texts = sample_texts(stream, args.tokenizer_sample, args.src, args.tgt)
                report["tokenizer_sample"] = len(texts) // 2
            else:
                texts = [p.src for p in splits["train"]] + [p.tgt for p in splits["train"]]
            tokenizer_json = train_tokenizer(texts, args.vocab_size, args.tokenizer).to_str()
        tokenizer_json, report = cluster.broadcast((tokenizer_json, report))
    tokenizer = Tokenizer.from_str(tokenizer_json)
    if args.streaming:
        from training.streaming import StreamBatches

        batches = StreamBatches(stream, tokenizer, args, eos_id, cluster)
    else:
        examples = encode_pairs(splits["train"], tokenizer, eos_id, args.max_len)
        batches = MemoryBatches(examples, args.batch_size, args.seed, cluster)
    validation = Validation(splits["validation"], encode_pairs(splits["validation"], tokenizer, eos_id, args.max_len))
    return TrainingData(batches, validation, report, tokenizer)
