"""The training loop: teacher forcing on CPU or CUDA, one process or torchrun DDP; validation BLEU, best/last
checkpoints, exact resume.

    python -m training --data-dir ../shared/data/multi30k --src en --tgt de --out runs/en-de
    torchrun --standalone --nproc_per_node 2 -m training --data-dir ../shared/data/multi30k --out runs/en-de

`train` sets the run up; `run_epoch` trains until the epoch's batches run out or a stop is requested;
`end_of_epoch` validates, records, steps the LR schedule and saves best.pt and last.pt.
"""

from __future__ import annotations

import argparse
import itertools
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from tokenizers import Tokenizer
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from training.checkpoint import atomic_save, load_checkpoint, to_cpu, tokenizer_fields, tokenizer_json
from training.config import ModelConfig
from training.data import collate
from training.distributed import Cluster, MixedPrecision, start
from training.errors import CheckpointError
from training.model import Seq2Seq
from training.sources import load_training_data
from training.state import INTERRUPTED, Clock, StopRequests, TrainState, restore, resume_point, rng_states, stop_reason
from training.validation import snapshot_and_average, validate_sets


@dataclass
class Run:
    """Everything the epochs need, built once by `train`."""

    args: argparse.Namespace
    out: Path
    cluster: Cluster
    precision: MixedPrecision
    model: Seq2Seq  # the plain model: validation and checkpoints
    trainer: torch.nn.Module  # what a step runs: the model, or its DistributedDataParallel wrapper
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.ReduceLROnPlateau
    tokenizer: Tokenizer
    data: object  # training.sources: the training batches, validation pairs, report
    clock: Clock
    stops: StopRequests

    def log(self, line: str) -> None:
        if self.cluster.is_main:
            tqdm.write(line)


def train_step(
    trainer, optimizer, examples, batch, label_smoothing: float, clip: float, precision: MixedPrecision | None = None
) -> tuple[float, int, int]:
    """One optimizer step on one batch (teacher forcing). Returns the loss, target and source token counts.

    Under DDP the loss is this rank's mean over its target tokens; backward() averages the gradients of all ranks.
    """
    model = getattr(trainer, "module", trainer)
    cfg, device = model.config, next(model.parameters()).device
    precision = precision or MixedPrecision(device)
    src_ids, src_mask, tgt_in, tgt_out = (t.to(device) for t in collate(examples, batch, cfg.pad_id, cfg.bos_id))
    with precision.autocast():
        logits = trainer(src_ids, src_mask, tgt_in)  # (B, T, V)
    loss = F.cross_entropy(
        logits.flatten(0, 1).float(), tgt_out.flatten(), ignore_index=cfg.pad_id, label_smoothing=label_smoothing
    )
    optimizer.zero_grad(set_to_none=True)
    precision.scaler.scale(loss).backward()
    precision.scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones (no-op without scaling)
    torch.nn.utils.clip_grad_norm_(trainer.parameters(), clip)
    precision.scaler.step(optimizer)
    precision.scaler.update()
    return loss.item(), int((tgt_out != cfg.pad_id).sum()), int(src_mask.sum())


def run_epoch(run: Run, state: TrainState) -> int:
    """Trains from the state's position until the epoch's batches run out (returns 0) or a stop code."""
    args = run.args
    batches, total, header = run.data.epoch_batches(state.epoch)
    if state.step_in_epoch == 0:
        run.log(f"epoch {state.epoch + 1}: {header}")
    remaining = itertools.islice(batches, state.step_in_epoch, None)  # --resume skips the batches already done
    bar = tqdm(
        total=total,
        initial=state.step_in_epoch,
        desc=f"epoch {state.epoch + 1}",
        leave=False,
        disable=args.quiet or not run.cluster.is_main,
    )
    tick, tokens = time.monotonic(), 0
    try:
        while True:
            item = next(remaining, None)
            # Checked between steps, so a saved state is always whole; all ranks agree, so none waits alone.
            stop, exhausted = run.cluster.reduce(
                [run.stops.code(state, run.clock, args.max_steps, args.max_minutes), item is None], op="max"
            )
            if exhausted:
                return 0
            if stop:
                return int(stop)
            loss, target_tokens, source_tokens = train_step(
                run.trainer, run.optimizer, *item, args.label_smoothing, args.clip, run.precision
            )
            state.step_in_epoch += 1
            state.global_step += 1
            state.minutes = run.clock.minutes()
            state.epoch_loss_sum += loss * target_tokens  # the loss is a mean over target tokens
            state.epoch_target_tokens += target_tokens
            tokens += target_tokens + source_tokens
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.3f}", tok_s=f"{tokens / (time.monotonic() - tick):.0f}")
    finally:
        bar.close()


def _validate_epoch(run: Run, state: TrainState, train_loss: float):
    """Rank 0: validates the epoch's weights and their average, records the epoch, picks best.pt.

    Returns this epoch's BLEU (the LR schedule follows the model being trained), and the weights for
    best.pt with the reason, or None when neither candidate beat best.pt.
    """
    args, model = run.args, run.model

    def bleu_of_model():
        return validate_sets(model, run.data.validations, run.tokenizer, args.batch_size, run.precision.autocast)

    metrics = bleu_of_model()
    record = {
        "epoch": state.epoch,
        "train_loss": round(train_loss, 4),
        "val_loss": round(metrics["loss"], 4),
        "val_ppl": round(metrics["ppl"], 2),
        "val_bleu": round(metrics["bleu"], 2),
        "lr": run.optimizer.param_groups[0]["lr"],
        "minutes": round(run.clock.minutes(), 2),
    }
    several = len(metrics["per_dataset"]) > 1
    if several:  # one line per dataset; the epoch's line then shows their mean, on which best.pt is chosen
        record["val_bleu_by_dataset"] = {name: round(m["bleu"], 2) for name, m in metrics["per_dataset"].items()}
        for name, m in metrics["per_dataset"].items():
            run.log(
                f"epoch {state.epoch} | {name}: val loss {m['loss']:.3f} ppl {m['ppl']:.1f} | val BLEU {m['bleu']:.2f}"
            )
    candidates = [(metrics["bleu"], [state.epoch], None)]  # (BLEU, epochs, weights; None = the model's own)
    if args.average > 1:
        epochs, averaged = snapshot_and_average(model, run.out, state.epoch, args.average)
        if averaged is not None:
            trained = {k: v.clone() for k, v in model.state_dict().items()}
            model.load_state_dict(averaged)
            average_bleu = bleu_of_model()["bleu"]
            model.load_state_dict(trained)
            record["val_bleu_avg"] = round(average_bleu, 2)
            candidates.append((average_bleu, epochs, averaged))
    chosen = max(candidates, key=lambda c: c[0])
    improved = chosen[0] > state.best_bleu
    if improved:
        state.best_bleu = chosen[0]
        state.best = {"epoch": state.epoch, "val_bleu": round(chosen[0], 2), "averaged_epochs": chosen[1]}
    state.minutes = record["minutes"] = round(run.clock.minutes(), 2)
    state.history.append(record)

    def star(candidate):  # marks the weights that became best.pt: this epoch's or the average
        return " *" if improved and candidate is chosen else ""

    average_note = (
        f" | avg of last {len(candidates[1][1])} {record['val_bleu_avg']:.2f}{star(candidates[1])}"
        if len(candidates) > 1
        else ""
    )
    run.log(
        f"epoch {state.epoch} | train loss {train_loss:.3f} | val loss {metrics['loss']:.3f} "
        f"ppl {metrics['ppl']:.1f} | val BLEU{' (mean)' if several else ''} "
        f"{metrics['bleu']:.2f}{star(candidates[0])}"
        f"{average_note} "
        f"| lr {record['lr']:.2g} | {state.minutes:.1f} min"
    )
    if not improved:
        return metrics["bleu"], None
    epochs = chosen[1]
    what = f"average of epochs {epochs[0]}-{epochs[-1]}" if chosen[2] is not None else f"epoch {epochs[0]}"
    weights = chosen[2] if chosen[2] is not None else to_cpu(model.state_dict())
    return metrics["bleu"], (weights, f"best validation BLEU {chosen[0]:.2f} ({what})")


def end_of_epoch(run: Run, state: TrainState) -> TrainState:
    """Validates on rank 0 and shares the outcome, steps the LR schedule, saves best.pt when it improved, and
    last.pt."""
    loss_sum, target_tokens = run.cluster.reduce([state.epoch_loss_sum, state.epoch_target_tokens])
    state.epoch += 1
    state.step_in_epoch = state.epoch_target_tokens = 0
    state.epoch_loss_sum = 0.0
    train_loss = loss_sum / target_tokens if target_tokens else math.nan
    epoch_bleu, best = _validate_epoch(run, state, train_loss) if run.cluster.is_main else (None, None)
    # Every rank takes rank 0's record and BLEU, so all agree on the LR, the best epoch and what happens next.
    progress, epoch_bleu, best_reason = run.cluster.broadcast((state.to_dict(), epoch_bleu, best and best[1]))
    state = TrainState.from_dict(progress)
    run.scheduler.step(epoch_bleu)  # halves the LR when the BLEU of the trained weights stalls
    if best_reason:
        save(run, state, "best.pt", best_reason, weights=best[0] if best else None)
    save(run, state, "last.pt", f"end of epoch {state.epoch}")
    return state


def save(run: Run, state: TrainState, name: str, reason: str, weights: dict | None = None) -> None:
    """Called on every rank (each contributes its random generator state); rank 0 writes OUT/name.

    Everything is saved on the CPU and under the plain model's parameter names, so the file loads anywhere.
    """
    rng = run.cluster.gather(to_cpu(rng_states(run.cluster.device)))
    if not run.cluster.is_main:
        return
    payload = {
        "config": run.model.config.to_dict(),
        "model": weights if weights is not None else to_cpu(run.model.state_dict()),
        "optimizer": to_cpu(run.optimizer.state_dict()),
        "scheduler": run.scheduler.state_dict(),
        "scaler": run.precision.scaler.state_dict(),
        "rng": rng,
        "world_size": run.cluster.world_size,
        "progress": state.to_dict(),
        "args": vars(run.args),
        "data": run.data.report,
        **tokenizer_fields(run.tokenizer.to_str()),
        "num_parameters": run.model.num_parameters(),
        "saved_because": reason,
    }
    atomic_save(payload, run.out / name)


def make_scheduler(optimizer, lr_patience: int) -> torch.optim.lr_scheduler.ReduceLROnPlateau:
    """Halves the LR on the lr_patience-th epoch in a row without a better validation BLEU.

    The scheduler's own `patience` counts the epochs it tolerates before that, hence lr_patience - 1;
    threshold=0: any gain counts as better; eps=0: it keeps halving however small the LR gets.
    """
    return torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="max", factor=0.5, patience=lr_patience - 1, threshold=0, eps=0
    )


def _build(args, cluster: Cluster, precision: MixedPrecision, saved: dict | None) -> Run:
    data = load_training_data(args, cluster, ModelConfig.eos_id, saved and tokenizer_json(saved))
    if saved is None:
        config = ModelConfig(
            vocab_size=data.tokenizer.get_vocab_size(),
            embed_dim=args.embed_dim,
            hidden_dim=args.hidden_dim,
            attention=args.attention,
            attention_dim=args.attention_dim,
            dropout=args.dropout,
        )
    else:
        config = ModelConfig(**saved["config"])
    torch.manual_seed(args.seed)  # the same initial weights on every rank and every device
    model = Seq2Seq(config).to(cluster.device)
    if cluster.distributed:
        torch.manual_seed(args.seed * 1000 + cluster.rank)  # but a different dropout stream on each rank
    trainer = model
    if cluster.distributed:
        trainer = DistributedDataParallel(model, device_ids=[cluster.device] if cluster.device.type == "cuda" else None)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    scheduler = make_scheduler(optimizer, args.lr_patience)
    return Run(
        args=args,
        out=Path(args.out),
        cluster=cluster,
        precision=precision,
        model=model,
        trainer=trainer,
        optimizer=optimizer,
        scheduler=scheduler,
        tokenizer=data.tokenizer,
        data=data,
        clock=Clock(0.0),
        stops=StopRequests(second_ctrl_c_aborts=not cluster.distributed),
    )


def initial_weights(args) -> dict | None:
    """--init-from's checkpoint (weights, config, tokenizer), checked to translate the run's direction."""
    if not args.init_from:
        return None
    start_from = load_checkpoint(args.init_from)
    trained = start_from.get("args") or {}
    if (trained.get("src"), trained.get("tgt")) not in ((None, None), (args.src, args.tgt)):
        raise CheckpointError(
            f"{args.init_from} translates {trained['src']}->{trained['tgt']}, not "
            f"{args.src}->{args.tgt}; pass --src {trained['src']} --tgt {trained['tgt']}"
        )
    return start_from


def started_from_record(path, checkpoint: dict) -> dict:
    """What a fine-tuned run started from, kept in its progress so the bundle's manifest can tell the whole story."""
    progress, trained = checkpoint.get("progress") or {}, checkpoint.get("args") or {}
    return {
        "checkpoint": str(path),
        "epochs": progress.get("epoch"),
        "minutes": progress.get("minutes"),
        "device": trained.get("device"),
        "best": progress.get("best"),
        "history": progress.get("history"),
        "started_from": progress.get("started_from"),
    }


def train(args) -> TrainState:
    """Trains per the parsed command line; returns the final state. Raises DataError, CheckpointError, DeviceError."""
    torch.set_num_threads(args.threads)
    cluster = start(args.device, args.dist_backend)
    try:
        precision = MixedPrecision(cluster.device, args.precision)  # a refused --precision fails before data loads
        saved = resume_point(args, Path(args.out), cluster)
        start_from = initial_weights(args) if saved is None else None
        run = _build(args, cluster, precision, saved or start_from)  # the tokenizer and config come with them
        state = restore(run, saved) if saved is not None else TrainState()
        if start_from is not None:
            run.model.load_state_dict(
                {k: v.float() if v.is_floating_point() else v for k, v in start_from["model"].items()}
            )
            state.started_from = started_from_record(args.init_from, start_from)
            run.log(
                f"initialised from {args.init_from} ({start_from.get('saved_because', 'its weights')}); "
                "fresh optimizer and LR schedule"
            )
        run.clock = Clock(state.minutes)
        report = run.data.report
        run.log(
            f"data: {report['dataset']} {args.src}->{args.tgt} sizes {report['sizes']} "
            f"dropped empty {report['dropped_empty']}"
        )
        if "name_substitution" in report:
            run.log(f"name substitution: {report['name_substitution']}")
        if "tokenizer_sample" in report:
            run.log(
                f"tokenizer: trained on the first {report['tokenizer_sample']:,} streamed training pairs "
                "(--tokenizer-sample)"
            )
        run.log(
            f"model: {run.model.num_parameters():,} parameters, attention={run.model.config.attention}, "
            f"vocab={run.model.config.vocab_size}"
        )
        run.log(
            f"device: {cluster.device} ({run.precision.describe()}), {cluster.world_size} process(es), "
            f"batch {args.batch_size} per process = {args.batch_size * cluster.world_size} sentences per step"
        )
        state = _epochs(run, state)
        cluster.finish()  # ranks leave together: one tearing gloo down while another still talks to it can abort
        return state
    finally:
        cluster.close()


def _epochs(run: Run, state: TrainState) -> TrainState:
    args, stop = run.args, 0
    run.trainer.train()
    with run.stops:
        while state.epoch < args.epochs:
            stop = run_epoch(run, state)
            if stop:  # save the position inside the epoch, with the loss so far over all ranks
                loss_sum, target_tokens = run.cluster.reduce([state.epoch_loss_sum, state.epoch_target_tokens])
                state.epoch_loss_sum, state.epoch_target_tokens = loss_sum, int(target_tokens)
                save(run, state, "last.pt", stop_reason(stop, args))
                break
            state = end_of_epoch(run, state)
    if stop == INTERRUPTED:
        run.log(f"\ninterrupted: saved {run.out / 'last.pt'}; continue with --resume")
        raise SystemExit(130)
    if stop:
        run.log(f"stopped by {stop_reason(stop, args)}: saved {run.out / 'last.pt'}; continue with --resume")
    if state.best is None:  # stopped before the first epoch ended: nothing was validated yet
        run.log(
            f"done: no epoch finished in {state.minutes:.1f} min, so there is no best.pt yet; continue with --resume"
        )
    else:
        run.log(f"done: best validation BLEU {state.best_bleu:.2f} in {state.minutes:.1f} min -> {run.out / 'best.pt'}")
    return state
