"""Validation during training: teacher-forced loss, greedy BLEU, and the average of the last epochs' weights."""

from __future__ import annotations

import contextlib
from pathlib import Path

import sacrebleu
import torch
import torch.nn.functional as F

from rules import max_target_len  # the target-length rule inference decodes with
from training.checkpoint import atomic_save, average_weights, load_weights, to_cpu
from training.data import collate, make_batches
from training.model import Seq2Seq, perplexity


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
def validate(model: Seq2Seq, examples, pairs, tokenizer, batch_size: int, autocast=contextlib.nullcontext) -> dict:
    """Teacher-forced loss (no smoothing) and greedy corpus BLEU, on the model's own device."""
    model.eval()
    device = next(model.parameters()).device
    total_loss, total_tokens, hyps = 0.0, 0, [None] * len(examples)
    cfg = model.config
    for batch in make_batches(examples, batch_size, seed=0, shuffle=False):
        src_ids, src_mask, tgt_in, tgt_out = (t.to(device) for t in collate(examples, batch, cfg.pad_id, cfg.bos_id))
        with autocast():
            logits = model(src_ids, src_mask, tgt_in)
            out = model.greedy(src_ids, src_mask, max_len=max_target_len(src_ids.size(1)))
        total_loss += F.cross_entropy(
            logits.flatten(0, 1).float(), tgt_out.flatten(), ignore_index=cfg.pad_id, reduction="sum"
        ).item()
        total_tokens += int((tgt_out != cfg.pad_id).sum())
        for i, text in zip(batch, decode_ids(tokenizer, out.tolist(), cfg.eos_id)):
            hyps[i] = text
    model.train()
    loss = total_loss / max(total_tokens, 1)
    bleu = sacrebleu.corpus_bleu(hyps, [[p.tgt for p in pairs]])
    return {"loss": loss, "ppl": perplexity(loss), "bleu": bleu.score}


def snapshot_and_average(model: Seq2Seq, out: Path, epoch: int, keep: int):
    """Saves this epoch's weights under OUT/epochs/, keeps the last `keep`, and returns their average.

    The snapshots live on disk so --resume averages the same epochs. Returns (epochs, None) while
    there is only one snapshot.
    """
    folder = out / "epochs"
    atomic_save({"model": to_cpu(model.state_dict())}, folder / f"epoch-{epoch:03d}.pt")
    snapshots = sorted(folder.glob("epoch-*.pt"))
    for old in snapshots[:-keep]:
        old.unlink()
    snapshots = [p for p in snapshots[-keep:] if int(p.stem.split("-")[1]) <= epoch]
    epochs = [int(p.stem.split("-")[1]) for p in snapshots]
    if len(snapshots) < 2:
        return epochs, None
    return epochs, average_weights([load_weights(p) for p in snapshots])


def validate_sets(
    model: Seq2Seq, validations: dict, tokenizer, batch_size: int, autocast=contextlib.nullcontext
) -> dict:
    """`validate` on every validation set; loss and BLEU are the plain means over the sets (best.pt is chosen
    on that mean BLEU), and `per_dataset` keeps each set's own numbers."""
    per_dataset = {
        name: validate(model, v.examples, v.pairs, tokenizer, batch_size, autocast) for name, v in validations.items()
    }
    loss = sum(m["loss"] for m in per_dataset.values()) / len(per_dataset)
    bleu = sum(m["bleu"] for m in per_dataset.values()) / len(per_dataset)
    return {"loss": loss, "ppl": perplexity(loss), "bleu": bleu, "per_dataset": per_dataset}
