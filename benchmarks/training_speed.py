"""Section 5: training speed of the shipped configuration, from a short run of the real training step.

The model config, tokenizer and run flags (batch size, max length, label smoothing, clipping, threads)
come from the bundle's checkpoint.pt; batches are the real length-bucketed batches of the training split.
Each step is training/train.py's own `train_step` (forward, label-smoothed cross entropy, backward, clip,
Adam), which also counts the tokens (target tokens + source tokens). Minutes per epoch =
batches per epoch × the measured seconds per step (validation at the end of an epoch is not included).
"""
from __future__ import annotations

import os
import random
import time

from tqdm import tqdm


def training_section(bundle_dir, data_dir=None, steps: int = 20, warmup: int = 2, threads: int | None = None,
                     seed: int = 0) -> dict:
    import torch

    from benchmarks.variants import DEFAULT_DATA_DIR
    from training.checkpoint import load_checkpoint, model_from_checkpoint
    from training.data import encode_pairs, load_splits, make_batches
    from training.train import train_step

    state = load_checkpoint(os.path.join(bundle_dir, "checkpoint.pt"))
    args = state.get("args") or {}
    data_dir = data_dir or (DEFAULT_DATA_DIR if DEFAULT_DATA_DIR.is_dir() else args.get("data_dir"))
    if not data_dir or not os.path.isdir(data_dir):
        message = f"no training data folder ({data_dir}); training-speed benchmark skipped"
        print(message)
        return {"skipped": message}
    threads = threads or args.get("threads") or os.cpu_count()
    torch.set_num_threads(threads)
    model, tokenizer, _ = model_from_checkpoint(state)
    config = model.config
    splits, _ = load_splits(args.get("src", "en"), args.get("tgt", "de"), data_dir=data_dir)
    max_len, batch_size = args.get("max_len", 64), args.get("batch_size", 128)
    examples = encode_pairs(splits["train"], tokenizer, config.eos_id, max_len)
    batches = make_batches(examples, batch_size, seed=args.get("seed", 1) * 1000)
    picked = random.Random(seed).sample(batches, min(len(batches), warmup + steps))  # a fair mix of lengths
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.get("lr", 2e-3))
    step_seconds, step_tokens = [], []
    for index, batch in enumerate(tqdm(picked, desc="training steps", leave=False)):
        tick = time.perf_counter()
        _, target_tokens, source_tokens = train_step(model, optimizer, examples, batch,
                                                     args.get("label_smoothing", 0.1), args.get("clip", 1.0))
        tokens = target_tokens + source_tokens
        if index >= warmup:
            step_seconds.append(time.perf_counter() - tick)
            step_tokens.append(tokens)
    seconds = sum(step_seconds)
    return {"threads": threads, "batch_size": batch_size, "steps_measured": len(step_seconds),
            "batches_per_epoch": len(batches), "num_parameters": model.num_parameters(),
            "seconds_per_step": round(seconds / len(step_seconds), 3) if step_seconds else None,
            "tokens_per_s": round(sum(step_tokens) / seconds, 1) if seconds else None,
            "minutes_per_epoch": round(len(batches) * seconds / len(step_seconds) / 60, 2) if step_seconds else None,
            "data_dir": str(data_dir)}
