"""Section 5: training speed of the shipped configuration, from a short run of the real training step.

    python -m benchmarks.training_speed --data-dir ../shared/data/multi30k --steps 20   # 1x2 vs 2x1 (torchrun)

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
    from training.corpus import load_splits
    from training.data import encode_pairs, make_batches
    from training.train import train_step

    state = load_checkpoint(os.path.join(bundle_dir, "checkpoint.pt"))
    args = state.get("args") or {}
    data_dir = data_dir or (DEFAULT_DATA_DIR if DEFAULT_DATA_DIR.is_dir() else args.get("data_dir"))
    if not data_dir or not os.path.isdir(data_dir):
        message = f"no training data folder ({data_dir}); training-speed benchmark skipped"
        print(message)
        return {"skipped": message}
    # the run's own setting, but never more threads than this machine has (a GPU run may record more)
    threads = threads or min(args.get("threads") or os.cpu_count(), os.cpu_count() or 1)
    torch.set_num_threads(threads)
    model, tokenizer = model_from_checkpoint(state)
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


# ---- processes x threads ----------------------------------------------------------------------------
# `measure` compares training throughput of one process with 2 threads against 2 torchrun processes with
# 1 thread each, on the shipped configuration (the defaults of `python -m training`). Each setting runs
# this module as a worker: the real training setup (training.train._build: data, tokenizer, model, DDP,
# optimizer) and the real `train_step`, timed over `steps` steps after `warmup` untimed ones.


def measure(data_dir, steps: int = 20, warmup: int = 3, settings=((1, 2), (2, 1)), timeout: int = 1200) -> list[dict]:
    """[{processes, threads_per_process, tokens_per_s, ...}] for each (processes, threads) setting.

    Tokens are source + target tokens of all processes; under torchrun each process takes its own batch
    of --batch-size sentences, so one step of P processes trains on P batches.
    """
    import json
    import subprocess
    import sys
    import tempfile

    results = []
    for processes, threads in settings:
        with tempfile.TemporaryDirectory() as out:
            launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)]
            command = launcher if processes > 1 else [sys.executable]
            command += ["-m", "benchmarks.training_speed", "--worker", "--data-dir", str(data_dir), "--steps",
                        str(steps), "--warmup", str(warmup), "--threads", str(threads), "--result", f"{out}/result.json"]
            env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONDONTWRITEBYTECODE": "1"}
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
            if done.returncode != 0:
                raise RuntimeError(f"training-speed worker ({processes} x {threads}) failed: "
                                   f"{(done.stderr.strip().splitlines() or ['no output'])[-1]}")
            with open(f"{out}/result.json", encoding="utf-8") as f:
                results.append(json.load(f))
    return results


def _worker(data_dir, steps: int, warmup: int, threads: int, result_path: str) -> None:
    import json
    import tempfile

    import torch

    from training.__main__ import parse_args
    from training.distributed import MixedPrecision, start
    from training.train import _build, train_step

    with tempfile.TemporaryDirectory() as out:
        args = parse_args(["--data-dir", str(data_dir), "--out", out, "--threads", str(threads), "--quiet"])
        torch.set_num_threads(threads)
        cluster = start(args.device, args.dist_backend)
        run = _build(args, cluster, MixedPrecision(cluster.device, args.precision), None)
        batches = run.data.epoch_batches(0)[0]  # this process's share; repeated when a small corpus has fewer
        tokens, tick = 0, None
        for index, item in enumerate(batches[i % len(batches)] for i in range(warmup + steps)):
            if index == warmup:
                tick = time.perf_counter()
            _, target_tokens, source_tokens = train_step(run.trainer, run.optimizer, *item, args.label_smoothing,
                                                         args.clip, run.precision)
            if index >= warmup:
                tokens += target_tokens + source_tokens
        seconds = time.perf_counter() - tick
        total_tokens, slowest = cluster.reduce([tokens, seconds], op="sum")[0], cluster.reduce([seconds], op="max")[0]
        if cluster.is_main:
            result = {"processes": cluster.world_size, "threads_per_process": threads, "device": str(cluster.device),
                      "batch_size_per_process": args.batch_size, "steps": steps,
                      "seconds_per_step": round(slowest / steps, 3), "tokens_per_s": round(total_tokens / slowest, 1),
                      "torch": torch.__version__}
            with open(result_path, "w", encoding="utf-8") as f:
                json.dump(result, f)
        cluster.close()


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m benchmarks.training_speed", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default="../shared/data/multi30k", help="training data folder (default: %(default)s)")
    p.add_argument("--steps", type=int, default=20, help="timed optimizer steps per setting (default: %(default)s)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (default: %(default)s)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--result", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        _worker(args.data_dir, args.steps, args.warmup, args.threads, args.result)
        return 0
    rows = measure(args.data_dir, args.steps, args.warmup)
    print(f"{'processes x threads':>20} {'tokens/s':>10} {'s/step':>8} {'sentences/step':>15}")
    for row in rows:
        setting = f"{row['processes']} x {row['threads_per_process']}"
        sentences = row["processes"] * row["batch_size_per_process"]
        print(f"{setting:>20} {row['tokens_per_s']:>10.0f} {row['seconds_per_step']:>8.3f} {sentences:>15}")
    print(f"ratio 2x1 / 1x2: {rows[1]['tokens_per_s'] / rows[0]['tokens_per_s']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
