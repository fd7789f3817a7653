"""The training section: the real training step of the bundle's configuration, per processes x threads.

    python -m benchmarks.training_speed --data-dir ../shared/data/multi30k --steps 20   # 1x2 vs 2x1 (torchrun)

Each setting runs this module as a worker (under torchrun for several processes): training/train.py's `_build`
with checkpoint.pt's tokenizer, model config and run flags, then its `train_step`, timed after untimed warm-up
steps on the training split's length-bucketed batches. Tokens = source + target tokens of all processes (each
takes its own batch); minutes per epoch = batches per epoch × seconds per step (validation left out).
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.measure import ROOT, child_json

DEFAULT_DATA_DIR = ROOT.parent / "shared" / "data" / "multi30k"
RUN_FLAGS = "src tgt max_len batch_size lr label_smoothing clip seed".split()  # taken from the checkpoint
PER_RUN = ("batches_per_epoch", "num_parameters")  # in the worker's answer, the same for every setting


def measure(bundle_dir, data_dir, steps: int = 20, warmup: int = 3, settings=((1, 2), (2, 1))) -> list[dict]:
    results, bundle_dir, data_dir = [], Path(bundle_dir).resolve(), Path(data_dir).resolve()
    for processes, threads in settings:
        torchrun = f"-m torch.distributed.run --standalone --nproc_per_node {processes}".split() * (processes > 1)
        worker = f"-m benchmarks.training_speed --worker --steps {steps} --warmup {warmup} --threads {threads}".split()
        paths = ["--bundle", str(bundle_dir), "--data-dir", str(data_dir)]
        results.append(child_json([sys.executable, *torchrun, *worker, *paths], threads=threads))
    return results


def training_section(bundle_dir, data_dir=None, steps: int = 20) -> dict:
    """One process with the run's threads (never more than this machine has), then 1 x 2 against 2 x 1."""
    from training.checkpoint import load_checkpoint

    trained = load_checkpoint(os.path.join(bundle_dir, "checkpoint.pt")).get("args") or {}
    data_dir = data_dir or (DEFAULT_DATA_DIR if DEFAULT_DATA_DIR.is_dir() else trained.get("data_dir"))
    if not data_dir or not os.path.isdir(data_dir):
        message = f"no training data folder ({data_dir}); training-speed benchmark skipped"
        print(message)
        return {"skipped": message}
    threads = min(trained.get("threads") or os.cpu_count() or 1, os.cpu_count() or 1)
    settings = list(dict.fromkeys([(1, threads), (1, 2), (2, 1)]))
    results = dict(zip(settings, measure(bundle_dir, data_dir, steps, warmup=2, settings=settings)))
    alone = results[1, threads]
    minutes = round(alone["batches_per_epoch"] * alone["seconds_per_step"] / 60, 2)
    section = dict(threads=threads, batch_size=alone["batch_size_per_process"], steps_measured=alone["steps"])
    section |= {key: alone[key] for key in (*PER_RUN, "seconds_per_step", "tokens_per_s")}
    rows = [{k: v for k, v in results[setting].items() if k not in PER_RUN} for setting in ((1, 2), (2, 1))]
    return section | dict(minutes_per_epoch=minutes, data_dir=str(data_dir), rows=rows)


def _worker(bundle_dir, data_dir, steps: int, warmup: int, threads: int) -> None:
    import torch

    from training.__main__ import parse_args
    from training.checkpoint import load_checkpoint
    from training.distributed import MixedPrecision, start
    from training.train import _build, train_step

    saved = load_checkpoint(os.path.join(bundle_dir, "checkpoint.pt"))
    with tempfile.TemporaryDirectory() as out:
        args = parse_args(["--data-dir", str(data_dir), "--out", out, "--threads", str(threads), "--quiet"])
        vars(args).update({key: saved["args"][key] for key in RUN_FLAGS if key in (saved.get("args") or {})})
        torch.set_num_threads(threads)
        cluster = start(args.device, args.dist_backend)
        run = _build(args, cluster, MixedPrecision(cluster.device, args.precision), saved)  # its tokenizer and config
        batches, batches_per_epoch, _ = run.data.epoch_batches(0)  # this process's share
        items = [batches[i % len(batches)] for i in range(warmup + steps)]  # a small corpus repeats its batches

        def step(item) -> int:  # target + source tokens
            _, target_tokens, source_tokens = train_step(
                run.trainer, run.optimizer, *item, args.label_smoothing, args.clip, run.precision
            )
            return target_tokens + source_tokens

        for item in items[:warmup]:
            step(item)
        tick = time.perf_counter()
        tokens = sum(step(item) for item in items[warmup:])
        seconds = time.perf_counter() - tick
        total_tokens, slowest = cluster.reduce([tokens, seconds], op="sum")[0], cluster.reduce([seconds], op="max")[0]
        if cluster.is_main:
            answer = dict(processes=cluster.world_size, threads_per_process=threads, device=str(cluster.device))
            answer |= dict(
                batch_size_per_process=args.batch_size, steps=steps, seconds_per_step=round(slowest / steps, 3)
            )
            answer |= dict(tokens_per_s=round(total_tokens / slowest, 1), torch=torch.__version__)
            answer |= dict(zip(PER_RUN, (batches_per_epoch * cluster.world_size, run.model.num_parameters())))
            print(json.dumps(answer))
        cluster.close()


def main(argv=None) -> int:
    raw = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser("python -m benchmarks.training_speed", description=__doc__, formatter_class=raw)
    add = p.add_argument
    add("--bundle", default=str(ROOT / "assets" / "en-de"), help="bundle with checkpoint.pt (default: %(default)s)")
    add("--data-dir", default=str(DEFAULT_DATA_DIR), help="training data folder (default: %(default)s)")
    add("--steps", type=int, default=20, help="timed optimizer steps per setting (default: %(default)s)")
    add("--warmup", type=int, default=3, help="untimed steps first (default: %(default)s)")
    add("--worker", action="store_true", help=argparse.SUPPRESS)
    add("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        _worker(args.bundle, args.data_dir, args.steps, args.warmup, args.threads)
        return 0
    from benchmarks.report import table

    rows = measure(args.bundle, args.data_dir, args.steps, args.warmup)
    print(table(rows) + f"\n\nratio 2x1 / 1x2: {rows[1]['tokens_per_s'] / rows[0]['tokens_per_s']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
