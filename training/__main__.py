"""Train a translation model.

    python -m training --data-dir ../shared/data/multi30k --src en --tgt de --out runs/en-de
    python -m training --out runs/en-de --resume          # continue a stopped run exactly
    python -m training --dataset bentrevett/multi30k --src de --tgt en --out runs/de-en   # from the Hub
    torchrun --standalone --nproc_per_node 2 -m training --data-dir ../shared/data/multi30k --out runs/en-de
    python -m training --data-dir big/ --streaming --tokenizer-sample 200000 --out runs/big   # larger than memory

Under torchrun each process trains on its own share of every epoch's batches and the gradients are
averaged: --batch-size is per process (global batch = processes x batch size); the LR is not scaled.
"""

from __future__ import annotations

import argparse
import os
import sys

# Only torch-free names before the arguments are parsed: `--help` and argument errors stay instant.
from rules import DEVICES
from training.config import ModelConfig
from training.constants import DEFAULT_DATASET, PRECISIONS, SCORE_FUNCTIONS, TOKENIZERS
from training.errors import CheckpointError, DataError, DeviceError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m training", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    data = p.add_argument_group("data")
    data.add_argument("--dataset", default=DEFAULT_DATASET, help="Hugging Face Hub dataset name (default: %(default)s)")
    data.add_argument("--dataset-config", default=None, help="Hub dataset configuration name, when it has several")
    data.add_argument(
        "--data-dir",
        dest="data_dirs",
        action="append",
        default=None,
        help="folder with train/validation/test .jsonl or .parquet in the Hub schema; overrides "
        "--dataset. Repeat it to train on several datasets mixed by --mix-weights: the tokenizer is "
        "trained on the mix, validation BLEU is reported per dataset and best.pt is chosen on their "
        "mean",
    )
    data.add_argument(
        "--mix-weights",
        default=None,
        help="with several --data-dir, the share of training pairs drawn from each, e.g. 0.7,0.3 "
        "(datasets.interleave_datasets; smaller datasets are repeated until every one is used up; "
        "default: equal shares)",
    )
    data.add_argument("--src", default="en", help="source language column (default: %(default)s)")
    data.add_argument("--tgt", default="de", help="target language column (default: %(default)s)")
    data.add_argument(
        "--vocab-size",
        type=int,
        default=ModelConfig.vocab_size,
        help="size of the one subword vocabulary source and target share; every shipped bundle uses "
        "8000, whose fp16 checkpoint.pt stays under 10 MB (default: %(default)s)",
    )
    data.add_argument("--tokenizer", choices=TOKENIZERS, default="bpe", help="subword model (default: %(default)s)")
    data.add_argument(
        "--max-len", type=int, default=64, help="truncate sentences to this many tokens (default: %(default)s)"
    )
    data.add_argument(
        "--streaming",
        action="store_true",
        help="read the training split as a stream (datasets streaming, sharded by process) instead of "
        "loading it into memory; validation is still read whole",
    )
    data.add_argument(
        "--tokenizer-sample",
        type=int,
        default=100_000,
        help="with --streaming, train the tokenizer on the first N training pairs (default: %(default)s)",
    )
    data.add_argument(
        "--name-substitution",
        type=float,
        default=0.0,
        metavar="P",
        help="with probability P per name, replace a first name a training pair has on both sides (Tom, "
        "Mary, ...: training/names/replace.txt) by one from training/names/pool.txt, the same on both "
        "sides, so the model learns to copy names it has not seen; in-memory data only (default: %(default)s)",
    )
    data.add_argument(
        "--bpe-dropout",
        type=float,
        default=0.0,
        metavar="P",
        help="BPE-dropout: skip each merge with probability P when the training pairs are encoded (once per "
        "run), so words also come in smaller pieces and the model practises copying rare spellings piece by "
        "piece; validation and inference keep every merge; in-memory data only. The tokenizer draws the skips "
        "from its own random generator, which --seed does not fix (default: %(default)s)",
    )
    model = p.add_argument_group("model")
    # Defaults are ModelConfig's own (training/config.py), so the flags and the dataclass cannot disagree.
    model.add_argument(
        "--embed-dim", type=int, default=ModelConfig.embed_dim, help="embedding size E (default: %(default)s)"
    )
    model.add_argument(
        "--hidden-dim",
        type=int,
        default=ModelConfig.hidden_dim,
        help="encoder GRU size H per direction; decoder has 2H (default: %(default)s)",
    )
    model.add_argument(
        "--attention",
        choices=SCORE_FUNCTIONS,
        default=ModelConfig.attention,
        help="score function: dot/general (Luong, scores by bmm) or additive (Bahdanau) (default: %(default)s)",
    )
    model.add_argument(
        "--attention-dim",
        type=int,
        default=ModelConfig.attention_dim,
        help="hidden size of additive attention (default: %(default)s)",
    )
    model.add_argument(
        "--dropout", type=float, default=ModelConfig.dropout, help="dropout probability (default: %(default)s)"
    )
    opt = p.add_argument_group("optimisation")
    opt.add_argument("--lr", type=float, default=2e-3, help="Adam learning rate (default: %(default)s)")
    opt.add_argument(
        "--lr-patience",
        type=int,
        default=2,
        help="halve the LR after this many epochs without a better validation BLEU (default: %(default)s)",
    )
    opt.add_argument(
        "--average",
        type=int,
        default=5,
        help="also validate the average of the last N epochs' weights and keep it as best.pt when it "
        "scores higher (checkpoint averaging; 1 turns it off; default: %(default)s)",
    )
    opt.add_argument(
        "--batch-size",
        type=int,
        default=128,
        help="sentences per batch and process; under torchrun the global batch is processes x this, "
        "with the same LR (default: %(default)s)",
    )
    opt.add_argument("--label-smoothing", type=float, default=0.1, help="label smoothing (default: %(default)s)")
    opt.add_argument("--clip", type=float, default=1.0, help="gradient norm clipping (default: %(default)s)")
    opt.add_argument(
        "--seed",
        type=int,
        default=1,
        help="random seed; same seed and data give the same model on CPU (default: %(default)s)",
    )
    run = p.add_argument_group("run")
    run.add_argument("--out", required=True, help="run folder for last.pt and best.pt")
    run.add_argument("--epochs", type=int, default=20, help="number of epochs (default: %(default)s)")
    run.add_argument(
        "--max-minutes",
        type=float,
        default=None,
        help="stop cleanly after this many training minutes (checkpoint saved)",
    )
    run.add_argument(
        "--max-steps",
        type=int,
        default=None,
        help="stop cleanly after this many optimizer steps in total (checkpoint saved)",
    )
    run.add_argument("--resume", action="store_true", help="continue from OUT/last.pt exactly where it stopped")
    run.add_argument(
        "--init-from",
        default=None,
        metavar="CHECKPOINT",
        help="fine-tune: start from this checkpoint's weights, model config and tokenizer (a run's "
        "best.pt or a bundle's checkpoint.pt) with a fresh optimizer and schedule; --resume then "
        "continues the new run",
    )
    run.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch intra-op threads per process (default: this machine's cores shared out among its "
        f"torchrun processes; all {os.cpu_count()} for a single process)",
    )
    run.add_argument(
        "--device",
        choices=DEVICES,
        default="auto",
        help="auto: the GPU when torch can use one, else the CPU; --precision says how a GPU computes "
        "(default: %(default)s)",
    )
    run.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="on CUDA: auto (bf16 autocast, fp16 with loss scaling where bf16 is missing), bf16, fp16 or "
        "fp32 (no autocast; small models are often launch-bound, so fp32 can be as fast). The CPU "
        "always trains in fp32 (default: %(default)s)",
    )
    run.add_argument(
        "--dist-backend",
        choices=("gloo", "nccl"),
        default=None,
        help="torch.distributed backend under torchrun (default: nccl on CUDA, gloo on the CPU)",
    )
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _mix_weights(parser, text: str | None, datasets: int) -> list[float] | None:
    """--mix-weights as shares that sum to 1, one per --data-dir; None for a single dataset."""
    if text is None:
        return [1 / datasets] * datasets if datasets > 1 else None
    try:
        weights = [float(part) for part in text.split(",")]
    except ValueError:
        parser.error(f"--mix-weights {text!r}: give comma-separated numbers, e.g. 0.7,0.3")
    if len(weights) != datasets or min(weights) <= 0:
        parser.error(f"--mix-weights {text!r}: give one positive weight per --data-dir ({datasets} here)")
    return [w / sum(weights) for w in weights]


def parse_args(argv=None) -> argparse.Namespace:
    """The command line, checked, with `data_dir` (the first folder) and the mix weights filled in."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.lr_patience < 1:
        parser.error("--lr-patience must be at least 1")
    if args.threads is None:  # torchrun says how many processes share this machine
        args.threads = max(1, (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    args.data_dir = args.data_dirs[0] if args.data_dirs else None  # the first folder: what evaluation reads by default
    args.mix_weights = _mix_weights(parser, args.mix_weights, len(args.data_dirs or [None]))
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    from training.train import train  # torch: only once the arguments are good

    try:
        train(args)
    except (DataError, CheckpointError, DeviceError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
