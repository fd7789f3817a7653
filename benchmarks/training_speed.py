"""The training section (what it measures: report.SECTIONS). Each setting runs this module as a worker, under
torchrun for several processes: training/train.py's `_build` with checkpoint.pt's tokenizer, model config and run
flags, then its `train_step`, timed after untimed warm-up steps on the training split's length-bucketed batches.
Tokens = source + target tokens of all processes (each takes its own batch); minutes per epoch = batches per
epoch × seconds per step (validation left out)."""

import json
import os
import sys
import tempfile
from pathlib import Path

from benchmarks.measure import ROOT, child_json, timed

DEFAULT_DATA_DIR = ROOT.parent / "shared" / "data" / "multi30k"
RUN_FLAGS = "src tgt max_len batch_size lr label_smoothing clip seed".split()  # taken from the checkpoint
PER_RUN = ("batches_per_epoch", "num_parameters")  # in the worker's answer, the same for every setting


def training_section(bundle_dir, data_dir=None, steps: int = 20, warmup: int = 2) -> dict:
    """One process with the run's threads (never more than this machine has), then 1 x 2 against 2 x 1."""
    from training.checkpoint import load_checkpoint

    trained = load_checkpoint(os.path.join(bundle_dir, "checkpoint.pt")).get("args") or {}
    data_dir = data_dir or (DEFAULT_DATA_DIR if DEFAULT_DATA_DIR.is_dir() else trained.get("data_dir"))
    if not data_dir or not os.path.isdir(data_dir):
        return {"skipped": f"no training data folder ({data_dir})"}
    threads = min(trained.get("threads") or os.cpu_count() or 1, os.cpu_count() or 1)
    results = {}
    for processes, n in dict.fromkeys([(1, threads), (1, 2), (2, 1)]):
        torchrun = f"-m torch.distributed.run --standalone --nproc_per_node {processes}".split() * (processes > 1)
        job = dict(bundle_dir=str(Path(bundle_dir).resolve()), data_dir=str(Path(data_dir).resolve()), threads=n)
        worker = ["-m", "benchmarks.training_speed", json.dumps(job | dict(steps=steps, warmup=warmup))]
        results[processes, n] = child_json([sys.executable, *torchrun, *worker], threads=n)
    alone = results[1, threads]
    section = dict(threads=threads, batch_size=alone["batch_size_per_process"], steps_measured=alone["steps"])
    section |= {key: alone[key] for key in (*PER_RUN, "seconds_per_step", "tokens_per_s")}
    section["minutes_per_epoch"] = round(alone["batches_per_epoch"] * alone["seconds_per_step"] / 60, 2)
    rows = [{k: v for k, v in results[setting].items() if k not in PER_RUN} for setting in ((1, 2), (2, 1))]
    return section | dict(data_dir=str(data_dir), rows=rows)


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
            trained = train_step(run.trainer, run.optimizer, *item, args.label_smoothing, args.clip, run.precision)
            return trained[1] + trained[2]

        for item in items[:warmup]:
            step(item)
        seconds, tokens = timed(lambda: sum(step(item) for item in items[warmup:]))
        total_tokens, slowest = cluster.reduce([tokens, seconds], op="sum")[0], cluster.reduce([seconds], op="max")[0]
        if cluster.is_main:
            answer = dict(processes=cluster.world_size, threads_per_process=threads, device=str(cluster.device))
            answer |= dict(batch_size_per_process=args.batch_size, steps=steps)
            answer |= dict(seconds_per_step=round(slowest / steps, 3), tokens_per_s=round(total_tokens / slowest, 1))
            answer |= dict(zip(PER_RUN, (batches_per_epoch * cluster.world_size, run.model.num_parameters())))
            print(json.dumps(answer | dict(torch=torch.__version__)))
        cluster.close()


if __name__ == "__main__":  # the worker: python -m benchmarks.training_speed '{"bundle_dir": ..., "threads": 1, ...}'
    _worker(**json.loads(sys.argv[1]))
