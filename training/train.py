"""The training loop: teacher forcing, validation loss and BLEU, best/last checkpoints, exact resume."""
from __future__ import annotations

import signal
import time
from pathlib import Path

import sacrebleu
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer
from tqdm import tqdm

from training.checkpoint import CheckpointError, atomic_save, average_weights, load_checkpoint
from training.data import (DataError, collate, encode_pairs, load_splits, make_batches, padding_fraction,
                           train_tokenizer)
from training.model import ModelConfig, Seq2Seq, perplexity

# Flags that define the run; on --resume they come from the checkpoint, not the command line.
RUN_FLAGS = ("dataset", "dataset_config", "data_dir", "src", "tgt", "vocab_size", "tokenizer", "embed_dim",
             "hidden_dim", "attention", "attention_dim", "dropout", "label_smoothing", "lr", "batch_size",
             "clip", "seed", "max_len", "lr_patience", "average")


def decode_ids(tokenizer, rows, eos_id: int) -> list[str]:
    """Token id rows -> text, cut at the first EOS."""
    out = []
    for row in rows:
        row = list(row)
        if eos_id in row:
            row = row[: row.index(eos_id)]
        out.append(tokenizer.decode(row))
    return out


@torch.no_grad()
def validate(model: Seq2Seq, examples, pairs, tokenizer, batch_size: int) -> dict:
    """Teacher-forced loss (no smoothing) and greedy corpus BLEU on the validation split."""
    model.eval()
    total_loss, total_tokens, hyps = 0.0, 0, [None] * len(examples)
    cfg = model.config
    for batch in make_batches(examples, batch_size, seed=0, shuffle=False):
        src_ids, src_mask, tgt_in, tgt_out = collate(examples, batch, cfg.pad_id, cfg.bos_id)
        logits = model(src_ids, src_mask, tgt_in)
        total_loss += F.cross_entropy(logits.flatten(0, 1), tgt_out.flatten(), ignore_index=cfg.pad_id,
                                      reduction="sum").item()
        total_tokens += int((tgt_out != cfg.pad_id).sum())
        out = model.greedy(src_ids, src_mask, max_len=src_ids.size(1) * 2 + 10)
        for i, text in zip(batch, decode_ids(tokenizer, out.tolist(), cfg.eos_id)):
            hyps[i] = text
    model.train()
    loss = total_loss / max(total_tokens, 1)
    bleu = sacrebleu.corpus_bleu(hyps, [[p.tgt for p in pairs]])
    return {"loss": loss, "ppl": perplexity(loss), "bleu": bleu.score}


def train_step(model: Seq2Seq, optimizer, examples, batch, label_smoothing: float, clip: float) -> tuple[float, int]:
    """One optimizer step on one batch (teacher forcing). Returns the loss, target and source token counts."""
    cfg = model.config
    src_ids, src_mask, tgt_in, tgt_out = collate(examples, batch, cfg.pad_id, cfg.bos_id)
    logits = model(src_ids, src_mask, tgt_in)  # (B, T, V)
    loss = F.cross_entropy(logits.flatten(0, 1), tgt_out.flatten(), ignore_index=cfg.pad_id,
                           label_smoothing=label_smoothing)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimizer.step()
    return loss.item(), int((tgt_out != cfg.pad_id).sum()), int(src_mask.sum())


def _setup(args):
    """Loads data, and either a fresh model and tokenizer or the state of a checkpoint to resume."""
    out = Path(args.out)
    state = None
    if args.resume:
        state = load_checkpoint(out / "last.pt")
        for name in RUN_FLAGS:  # the run is defined by its checkpoint
            if name in state["args"]:  # flags added later keep the command line's value
                setattr(args, name, state["args"][name])
    splits, report = load_splits(args.src, args.tgt, args.dataset, args.dataset_config, args.data_dir)
    if state is None:
        texts = [p.src for p in splits["train"]] + [p.tgt for p in splits["train"]]
        tokenizer = train_tokenizer(texts, args.vocab_size, args.tokenizer)
        config = ModelConfig(vocab_size=tokenizer.get_vocab_size(), embed_dim=args.embed_dim,
                             hidden_dim=args.hidden_dim, attention=args.attention,
                             attention_dim=args.attention_dim, dropout=args.dropout)
    else:
        tokenizer = Tokenizer.from_str(state["src_tokenizer"])
        config = ModelConfig(**state["config"])
    return out, state, splits, report, tokenizer, config


def _snapshot_and_average(model: Seq2Seq, out: Path, epoch: int, keep: int):
    """Saves this epoch's weights under OUT/epochs/, keeps the last `keep`, and returns their average.

    The snapshots live on disk so --resume averages the same epochs. Returns (epochs, None) while
    there is only one snapshot.
    """
    folder = out / "epochs"
    atomic_save({"model": model.state_dict()}, folder / f"epoch-{epoch:03d}.pt")
    snapshots = sorted(folder.glob("epoch-*.pt"))
    for old in snapshots[:-keep]:
        old.unlink()
    snapshots = [p for p in snapshots[-keep:] if int(p.stem.split("-")[1]) <= epoch]
    epochs = [int(p.stem.split("-")[1]) for p in snapshots]
    if len(snapshots) < 2:
        return epochs, None
    return epochs, average_weights([torch.load(p, map_location="cpu")["model"] for p in snapshots])


def train(args) -> dict:
    torch.set_num_threads(args.threads)
    out, state, splits, report, tokenizer, config = _setup(args)
    torch.manual_seed(args.seed)
    model = Seq2Seq(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    train_examples = encode_pairs(splits["train"], tokenizer, config.eos_id, args.max_len)
    val_examples = encode_pairs(splits["validation"], tokenizer, config.eos_id, args.max_len)
    progress = {"epoch": 0, "step_in_epoch": 0, "global_step": 0, "minutes": 0.0, "best_bleu": -1.0,
                "history": [], "lr": args.lr, "bad_epochs": 0, "best_single_bleu": -1.0, "best": None}
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        progress = state["progress"]
        progress.setdefault("best_single_bleu", progress["best_bleu"])
        progress.setdefault("best", None)
        torch.set_rng_state(state["rng"])
        print(f"resuming {out / 'last.pt'} at epoch {progress['epoch'] + 1}, step {progress['step_in_epoch']}")
    for group in optimizer.param_groups:
        group["lr"] = progress["lr"]
    print(f"data: {report['dataset']} {args.src}->{args.tgt} sizes {report['sizes']} "
          f"dropped empty {report['dropped_empty']}")
    print(f"model: {model.num_parameters():,} parameters, attention={config.attention}, vocab={config.vocab_size}")

    def save(path, reason, weights=None):
        weights = model.state_dict() if weights is None else weights
        atomic_save({"config": config.to_dict(), "model": weights, "optimizer": optimizer.state_dict(),
                     "rng": torch.get_rng_state(), "progress": progress, "args": vars(args), "data": report,
                     "src_tokenizer": tokenizer.to_str(), "tgt_tokenizer": tokenizer.to_str(),
                     "num_parameters": model.num_parameters(), "saved_because": reason}, path)

    start = time.monotonic()
    minutes_before = progress["minutes"]
    stop_reason = None
    interrupted = []

    def on_ctrl_c(signum, frame):  # finish the current step, then save; a second Ctrl-C aborts at once
        interrupted.append(True)
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def stop_requested():
        if interrupted:
            return "interrupted"
        if args.max_steps and progress["global_step"] >= args.max_steps:
            return f"--max-steps {args.max_steps}"
        if args.max_minutes and minutes_before + (time.monotonic() - start) / 60 >= args.max_minutes:
            return f"--max-minutes {args.max_minutes}"
        return None

    previous_handler = signal.signal(signal.SIGINT, on_ctrl_c)
    model.train()
    try:
        while progress["epoch"] < args.epochs and stop_reason is None:
            batches = make_batches(train_examples, args.batch_size, seed=args.seed * 1000 + progress["epoch"])
            if progress["step_in_epoch"] == 0:
                print(f"epoch {progress['epoch'] + 1}: {len(batches)} batches, "
                      f"padding {padding_fraction(train_examples, batches):.1%}")
            bar = tqdm(batches[progress["step_in_epoch"]:], desc=f"epoch {progress['epoch'] + 1}",
                       initial=progress["step_in_epoch"], total=len(batches), leave=False, disable=args.quiet)
            epoch_loss = epoch_target_tokens = epoch_tokens = 0.0
            tick = time.monotonic()
            for batch in bar:
                stop_reason = stop_requested()  # checked between steps, so a saved state is always whole
                if stop_reason:
                    break
                loss, target_tokens, source_tokens = train_step(model, optimizer, train_examples, batch,
                                                                args.label_smoothing, args.clip)
                progress["step_in_epoch"] += 1
                progress["global_step"] += 1
                progress["minutes"] = minutes_before + (time.monotonic() - start) / 60
                epoch_loss += loss * target_tokens  # the loss is a mean over target tokens
                epoch_target_tokens += target_tokens
                epoch_tokens += target_tokens + source_tokens
                bar.set_postfix(loss=f"{loss:.3f}", tok_s=f"{epoch_tokens / (time.monotonic() - tick):.0f}")
            if progress["step_in_epoch"] < len(batches):  # stopped inside the epoch: save the position
                save(out / "last.pt", stop_reason)
                break
            # End of epoch: validate, keep the best by BLEU, halve the LR when BLEU stalls.
            metrics = validate(model, val_examples, splits["validation"], tokenizer, args.batch_size)
            progress["epoch"] += 1
            progress["step_in_epoch"] = 0
            progress["minutes"] = minutes_before + (time.monotonic() - start) / 60
            train_loss = epoch_loss / epoch_target_tokens if epoch_target_tokens else float("nan")
            record = {"epoch": progress["epoch"], "train_loss": round(train_loss, 4),
                      "val_loss": round(metrics["loss"], 4), "val_ppl": round(metrics["ppl"], 2),
                      "val_bleu": round(metrics["bleu"], 2), "lr": progress["lr"],
                      "minutes": round(progress["minutes"], 2)}
            progress["history"].append(record)
            # The LR schedule follows the model being trained; best.pt is the best of it and its averages.
            if metrics["bleu"] > progress["best_single_bleu"]:
                progress["best_single_bleu"] = metrics["bleu"]
                progress["bad_epochs"] = 0
            else:
                progress["bad_epochs"] += 1
                if progress["bad_epochs"] >= args.lr_patience:
                    progress["lr"] /= 2
                    progress["bad_epochs"] = 0
                    for group in optimizer.param_groups:
                        group["lr"] = progress["lr"]
            candidates = [(metrics["bleu"], [progress["epoch"]], None)]
            if args.average > 1:
                snapshot_epochs, averaged = _snapshot_and_average(model, out, progress["epoch"], args.average)
                if averaged is not None:
                    trained = {k: v.clone() for k, v in model.state_dict().items()}
                    model.load_state_dict(averaged)
                    avg_bleu = validate(model, val_examples, splits["validation"], tokenizer, args.batch_size)["bleu"]
                    model.load_state_dict(trained)
                    record["val_bleu_avg"] = round(avg_bleu, 2)
                    candidates.append((avg_bleu, snapshot_epochs, averaged))
            bleu, epochs, weights = max(candidates, key=lambda c: c[0])
            improved = bleu > progress["best_bleu"]
            if improved:
                progress["best_bleu"] = bleu
                progress["best"] = {"epoch": progress["epoch"], "val_bleu": round(bleu, 2), "averaged_epochs": epochs}
            progress["minutes"] = record["minutes"] = round(minutes_before + (time.monotonic() - start) / 60, 2)
            star = " *" if improved else ""  # marks the new best.pt: this epoch's weights or the average
            averaged_note = (f" | avg of last {len(snapshot_epochs)} {record['val_bleu_avg']:.2f}{star if weights is not None else ''}"
                             if "val_bleu_avg" in record else "")
            tqdm.write(f"epoch {record['epoch']} | train loss {train_loss:.3f} | val loss {metrics['loss']:.3f} "
                       f"ppl {metrics['ppl']:.1f} | val BLEU {metrics['bleu']:.2f}{star if weights is None else ''}{averaged_note} "
                       f"| lr {record['lr']:.2g} | {progress['minutes']:.1f} min")
            if improved:
                what = f"average of epochs {epochs[0]}-{epochs[-1]}" if weights is not None else f"epoch {epochs[0]}"
                save(out / "best.pt", f"best validation BLEU {bleu:.2f} ({what})", weights)
            save(out / "last.pt", f"end of epoch {progress['epoch']}")
    finally:
        signal.signal(signal.SIGINT, previous_handler)
    if stop_reason == "interrupted":
        print(f"\ninterrupted: saved {out / 'last.pt'}; continue with --resume")
        raise SystemExit(130)
    if stop_reason:
        print(f"stopped by {stop_reason}: saved {out / 'last.pt'}; continue with --resume")
    print(f"done: best validation BLEU {progress['best_bleu']:.2f} in {progress['minutes']:.1f} min -> {out / 'best.pt'}")
    return progress


__all__ = ["train", "train_step", "validate", "decode_ids", "DataError", "CheckpointError"]
