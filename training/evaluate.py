"""Score a checkpoint (torch) or an exported bundle (onnxruntime) on a split, greedy and beam.

    python -m training.evaluate runs/en-de/best.pt --split test
    python -m training.evaluate assets/en-de --split test --write-manifest   # the shipped ONNX path

Prints sacreBLEU (cased, detokenised, with its signature), chrF, and the lowercased, tokenised BLEU
papers report for Multi30k (sacreBLEU with lowercase=True and the 13a tokenizer).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import sacrebleu
import torch
from tqdm import tqdm

from inference.bundle import write_json_atomic
from inference.translator import DEFAULT_LENGTH_PENALTY, InputError, Translator
from training.checkpoint import CheckpointError, load_checkpoint, model_from_checkpoint
from training.data import DataError, load_splits


class TorchTranslator(Translator):
    """Translator whose encoder and decoder step run in PyTorch eager mode: same decoding loop as ONNX."""

    def __init__(self, checkpoint, threads: int | None = None):
        state = load_checkpoint(checkpoint)
        if threads:
            torch.set_num_threads(threads)
        self.model, self.source_tokenizer, self.target_tokenizer = model_from_checkpoint(state)
        for tokenizer in (self.source_tokenizer, self.target_tokenizer):
            tokenizer.encode_special_tokens = True  # as in Translator: typed "</s>" is text
        self.config = state["config"]
        self.src_lang, self.tgt_lang = state["args"]["src"], state["args"]["tgt"]
        self.pad_id, self.unk_id, self.bos_id, self.eos_id = (self.config[k] for k in ("pad_id", "unk_id", "bos_id", "eos_id"))
        self.providers, self.warnings, self.last_latency_ms, self.state = ["torch"], [], None, state
        self.length_penalty = DEFAULT_LENGTH_PENALTY

    @torch.no_grad()
    def encode(self, batch_ids):
        width = max(map(len, batch_ids))
        src_ids = torch.full((len(batch_ids), width), self.pad_id, dtype=torch.long)
        for row, ids in enumerate(batch_ids):
            src_ids[row, : len(ids)] = torch.tensor(ids)
        mask = src_ids != self.pad_id
        enc_out, keys, hidden = self.model.encode(src_ids, mask)
        return enc_out, keys, hidden.numpy(), mask

    def step_function(self, enc_out, keys, mask):
        step_fn = self.model.decoder.step

        @torch.no_grad()
        def step(prev, hidden, rows):
            index = torch.from_numpy(rows)
            log_probs, new_hidden, attention = step_fn(torch.from_numpy(prev), torch.from_numpy(hidden),
                                                       keys[index], enc_out[index], mask[index])
            return log_probs.numpy(), new_hidden.numpy(), attention.numpy()

        return step


def scores(hypotheses: list[str], references: list[str]) -> dict:
    bleu = sacrebleu.metrics.BLEU()
    chrf = sacrebleu.metrics.CHRF()
    bleu_lc = sacrebleu.metrics.BLEU(lowercase=True, tokenize="13a")
    b, c, l = bleu.corpus_score(hypotheses, [references]), chrf.corpus_score(hypotheses, [references]), \
        bleu_lc.corpus_score(hypotheses, [references])
    return {"sacrebleu": round(b.score, 2), "chrf": round(c.score, 2), "bleu_lowercase_tokenized": round(l.score, 2),
            "signatures": {"sacrebleu": str(bleu.get_signature()), "chrf": str(chrf.get_signature()),
                           "bleu_lowercase_tokenized": str(bleu_lc.get_signature())}}


def evaluate(translator: Translator, sources: list[str], references: list[str], beams=(1, 5),
             length_penalty: float | None = None, hyps_prefix: str | None = None) -> dict:
    length_penalty = translator.length_penalty if length_penalty is None else length_penalty
    results = {}
    readable = []  # sentences the model refuses (unknown script, too long) count as empty translations
    for index, sentence in enumerate(sources):
        try:
            translator.source_ids(sentence)
            readable.append(index)
        except InputError:
            pass
    for beam in beams:
        start = time.perf_counter()
        bar = lambda items: tqdm(items, desc=f"{'greedy' if beam == 1 else f'beam {beam}'}", leave=False)  # noqa: E731
        hyps = [""] * len(sources)
        outputs = translator.translate_batch([sources[i] for i in readable], beam_size=beam,
                                             length_penalty=length_penalty, progress=bar)
        for index, text in zip(readable, outputs):
            hyps[index] = text
        seconds = time.perf_counter() - start
        key = "greedy" if beam == 1 else f"beam{beam}"
        results[key] = {**scores(hyps, references), "seconds": round(seconds, 1), "refused": len(sources) - len(readable),
                        "beam_size": beam, "length_penalty": length_penalty if beam > 1 else None}
        if hyps_prefix:
            path = Path(f"{hyps_prefix}.{key}.txt")
            path.write_text("\n".join(hyps) + "\n", encoding="utf-8")
    return results


def tune_length_penalty(translator: Translator, sources: list[str], references: list[str], alphas, beam: int) -> dict:
    """Beam search at each alpha; the best sacreBLEU wins (ties go to the alpha nearest the default)."""
    sweep = {}
    for alpha in alphas:
        sweep[alpha] = evaluate(translator, sources, references, (beam,), alpha)[f"beam{beam}"]["sacrebleu"]
        print(f"length penalty {alpha:g}: beam {beam} sacreBLEU {sweep[alpha]:.2f}", flush=True)
    best = max(alphas, key=lambda a: (sweep[a], -abs(a - DEFAULT_LENGTH_PENALTY)))
    return {"length_penalty": best, "beam_size": beam, "sacrebleu": sweep[best],
            "sweep": {f"{a:g}": score for a, score in sweep.items()}}


def load_model(path: str, threads: int | None):
    """A bundle folder -> onnxruntime Translator; a .pt file -> TorchTranslator. Returns (translator, run args)."""
    if os.path.isdir(path):
        translator = Translator(path, device="cpu", threads=threads)
        return translator, translator.bundle.manifest["training"]["args"]
    translator = TorchTranslator(path, threads)
    return translator, translator.state["args"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="checkpoint (.pt, decoded with torch) or bundle folder (decoded with onnxruntime)")
    p.add_argument("--split", default="test", help="dataset split (default: %(default)s)")
    p.add_argument("--data-dir", default=None, help="local data folder (default: the one the model was trained on)")
    p.add_argument("--dataset", default=None, help="Hub dataset name (default: the one the model was trained on)")
    p.add_argument("--beams", default="1,5", help="comma-separated beam sizes; 1 is greedy (default: %(default)s)")
    p.add_argument("--length-penalty", type=float, default=None,
                   help="beam length penalty alpha (default: the bundle's tuned one, else %g)" % DEFAULT_LENGTH_PENALTY)
    p.add_argument("--tune-length-penalty", default=None, metavar="ALPHAS",
                   help="comma-separated alphas to try with the largest of --beams on --split (use validation); "
                        "with --write-manifest the best becomes the bundle's default")
    p.add_argument("--limit", type=int, default=None, help="only the first N sentences")
    p.add_argument("--threads", type=int, default=None, help="intra-op threads")
    p.add_argument("--hyps", default=None, help="write hypotheses to HYPS.greedy.txt / HYPS.beam5.txt")
    p.add_argument("--write-manifest", action="store_true", help="store the metrics in the bundle's manifest.json")
    args = p.parse_args(argv)
    try:
        translator, run = load_model(args.model, args.threads)
        data_dir = args.data_dir or (None if args.dataset else run.get("data_dir"))
        splits, _ = load_splits(run["src"], run["tgt"], args.dataset or run.get("dataset"), run.get("dataset_config"), data_dir)
    except (CheckpointError, DataError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.split not in splits:
        print(f"error: no split {args.split!r}; splits: {', '.join(splits)}", file=sys.stderr)
        return 2
    if args.write_manifest and not os.path.isdir(args.model):
        print("error: --write-manifest needs a bundle folder", file=sys.stderr)
        return 2
    pairs = splits[args.split][: args.limit]
    try:
        beams = tuple(int(b) for b in args.beams.split(","))
        alphas = [float(a) for a in args.tune_length_penalty.split(",")] if args.tune_length_penalty else []
    except ValueError:
        print("error: --beams takes whole numbers and --tune-length-penalty numbers, comma-separated", file=sys.stderr)
        return 2
    if alphas:
        return _tune(translator, pairs, args, argv, alphas, max(beams))
    results = evaluate(translator, [p.src for p in pairs], [p.tgt for p in pairs], beams, args.length_penalty, args.hyps)
    print(f"{args.split} ({len(pairs)} sentences) {run['src']}->{run['tgt']}  {args.model}  [{', '.join(translator.providers)}]")
    print(f"{'decoding':<10} {'sacreBLEU':>9} {'chrF':>6} {'BLEU lc-tok':>11} {'seconds':>8}")
    for key, r in results.items():
        print(f"{key:<10} {r['sacrebleu']:>9.2f} {r['chrf']:>6.2f} {r['bleu_lowercase_tokenized']:>11.2f} {r['seconds']:>8.1f}")
    first = next(iter(results.values()))["signatures"]
    for name, signature in first.items():
        print(f"{name}: {signature}")
    if args.write_manifest:
        path = _store_in_manifest(args.model, "metrics", {"split": args.split, "sentences": len(pairs),
                                                          "backend": "onnxruntime", **results}, argv)
        print(f"metrics written to {path}")
    return 0


def _store_in_manifest(bundle: str, key: str, value: dict, argv) -> Path:
    """Sets manifest[key] = value plus the command that measured it; written atomically."""
    path = Path(bundle) / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    command = "python -m training.evaluate " + " ".join(sys.argv[1:] if argv is None else argv)
    manifest[key] = {**value, "command": command}
    write_json_atomic(path, manifest)
    return path


def _tune(translator, pairs, args, argv, alphas: list[float], beam: int) -> int:
    if args.split == "test":
        print("error: tune the length penalty on the validation split (--split validation); "
              "the test split is for reporting", file=sys.stderr)
        return 2
    if beam < 2:
        print("error: the length penalty only matters for beam search; pass --beams 5", file=sys.stderr)
        return 2
    tuned = tune_length_penalty(translator, [p.src for p in pairs], [p.tgt for p in pairs], alphas, beam)
    print(f"best length penalty on {args.split} ({len(pairs)} sentences): {tuned['length_penalty']:g} "
          f"(beam {beam} sacreBLEU {tuned['sacrebleu']:.2f})")
    if args.write_manifest:
        path = _store_in_manifest(args.model, "decoding", {**tuned, "split": args.split, "sentences": len(pairs)}, argv)
        print(f"length penalty written to {path}; the app and `python -m inference` use it by default")
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
