"""Mix training sets, train the shared subword tokenizer, make length-bucketed batches (reading: training/corpus.py)."""

from __future__ import annotations

import random
import string

import torch
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from training.corpus import Pair
from training.errors import DataError

SPECIAL_TOKENS = ["<pad>", "<unk>", "<s>", "</s>"]  # ids 0..3: pad, unk, bos, eos
# Every Latin letter the supported languages use is in the vocabulary even if training data lacks it,
# so encode/decode stays lossless for them.
LATIN_ALPHABET = (
    list(string.printable.strip())
    + [chr(c) for c in range(0xA1, 0x180) if chr(c).isprintable()]
    + [chr(c) for c in range(0x2010, 0x2027)]
    + ["€"]
)  # dashes, quotes, ellipsis


def mix_pairs(train_sets: list[list[Pair]], weights: list[float], seed: int) -> list[Pair]:
    """Several training sets drawn into one list with the given shares (datasets.interleave_datasets).

    "all_exhausted": drawing goes on until every set has been used up once, so smaller sets repeat.
    """
    import datasets

    tables = [
        datasets.Dataset.from_dict({"src": [p.src for p in pairs], "tgt": [p.tgt for p in pairs]})
        for pairs in train_sets
    ]
    mixed = datasets.interleave_datasets(tables, probabilities=weights, seed=seed, stopping_strategy="all_exhausted")
    return [Pair(s, t) for s, t in zip(mixed["src"], mixed["tgt"])]


def train_tokenizer(texts, vocab_size: int, kind: str = "bpe") -> Tokenizer:
    """A lossless subword tokenizer: normalise, then Metaspace (spaces become ▁, so decode restores them)."""
    if kind == "bpe":
        tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=SPECIAL_TOKENS,
            initial_alphabet=LATIN_ALPHABET + ["▁"],
            show_progress=False,
        )
    elif kind == "unigram":
        tokenizer = Tokenizer(models.Unigram())
        trainer = trainers.UnigramTrainer(
            vocab_size=vocab_size,
            special_tokens=SPECIAL_TOKENS,
            unk_token="<unk>",
            initial_alphabet=LATIN_ALPHABET + ["▁"],
            show_progress=False,
        )
    else:
        raise DataError(f"unknown tokenizer {kind!r}; choose bpe or unigram")
    # NFKC, then any run of whitespace becomes one space and the ends are stripped, so
    # decode(encode(s)) == normalize(s) holds for every s the tokenizer knows the characters of.
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.NFKC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Strip()]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.train_from_iterator(texts, trainer=trainer)
    for index, token in enumerate(SPECIAL_TOKENS):
        if tokenizer.token_to_id(token) != index:
            raise RuntimeError(f"special token {token} did not get id {index}")
    return tokenizer


def encode_pairs(
    pairs: list[Pair], tokenizer: Tokenizer, eos_id: int, max_len: int
) -> list[tuple[list[int], list[int]]]:
    """Token ids for each pair (EOS appended to both sides), truncated to max_len tokens."""
    src = tokenizer.encode_batch([p.src for p in pairs], add_special_tokens=False)
    tgt = tokenizer.encode_batch([p.tgt for p in pairs], add_special_tokens=False)
    return [(s.ids[: max_len - 1] + [eos_id], t.ids[: max_len - 1] + [eos_id]) for s, t in zip(src, tgt)]


def make_batches(examples, batch_size: int, seed: int, shuffle: bool = True) -> list[list[int]]:
    """Indices grouped into batches of similar length, so padding stays small.

    Shuffle, cut into pools of 50 batches, sort each pool by length, split it, shuffle the batch order.
    Deterministic for a given seed, which is what lets `--resume` skip the batches already done.
    """
    order = list(range(len(examples)))
    rng = random.Random(seed)
    if shuffle:
        rng.shuffle(order)
    pool = batch_size * 50
    batches = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lambda i: len(examples[i][0]) + len(examples[i][1]))
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    if shuffle:
        rng.shuffle(batches)
    return batches


def collate(examples, indices, pad_id: int, bos_id: int):
    """Pads one batch. Returns src_ids (B, S), src_mask (B, S), tgt_in (B, T), tgt_out (B, T)."""
    src = [examples[i][0] for i in indices]
    tgt = [examples[i][1] for i in indices]
    src_len, tgt_len = max(map(len, src)), max(map(len, tgt)) + 1
    src_ids = torch.full((len(src), src_len), pad_id, dtype=torch.long)
    tgt_in = torch.full((len(tgt), tgt_len - 1), pad_id, dtype=torch.long)
    tgt_out = torch.full((len(tgt), tgt_len - 1), pad_id, dtype=torch.long)
    for row, (s, t) in enumerate(zip(src, tgt)):
        src_ids[row, : len(s)] = torch.tensor(s)
        tgt_in[row, : len(t)] = torch.tensor([bos_id] + t[:-1])
        tgt_out[row, : len(t)] = torch.tensor(t)
    return src_ids, src_ids != pad_id, tgt_in, tgt_out


def padding_fraction(examples, batches) -> float:
    """Share of padded positions over source and target in the given batches."""
    real = padded = 0
    for batch in batches:
        for side in (0, 1):
            lengths = [len(examples[i][side]) for i in batch]
            real += sum(lengths)
            padded += max(lengths) * len(lengths)
    return 1.0 - real / max(padded, 1)
