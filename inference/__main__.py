"""Translate with an exported bundle (onnxruntime only).

    python -m inference --model assets/en-de "A dog runs on the beach."
    python -m inference --model assets/en-de --beam 5 --n-best 3 --json "A dog runs on the beach."
    cat sentences.txt | python -m inference --model assets/en-de > translations.txt
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m inference", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("text", nargs="*", help="sentence(s) to translate; none: read one sentence per line from stdin")
    p.add_argument("--model", default="assets/en-de", help="bundle folder (default: %(default)s)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="auto: CUDA when onnxruntime-gpu offers it, else CPU (default: %(default)s)")
    p.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads (default: up to 4)")
    p.add_argument("--beam", type=int, default=1, help="beam size; 1 is greedy (default: %(default)s)")
    p.add_argument("--length-penalty", type=float, default=None,
                   help="beam length penalty alpha (default: the bundle's, tuned on validation, else 0.6)")
    p.add_argument("--n-best", type=int, default=1, help="hypotheses to show with --beam (default: %(default)s)")
    p.add_argument("--max-len-ratio", type=float, default=2.0, help="max target tokens = ratio × source tokens + 10 (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=32, help="sentences per encoder/decoder call for stdin input (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print one JSON object per sentence: tokens, attention, alternatives, n-best")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from inference import BundleError, InputError, Translator
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            translator = Translator(args.model, device=args.device, threads=args.threads)
        for warning in caught:
            print(f"warning: {warning.message}", file=sys.stderr)
    except BundleError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"[{translator.name}] providers: {', '.join(translator.providers)}", file=sys.stderr)
    texts = args.text or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    try:
        if not args.json and not args.text and args.n_best == 1:
            from tqdm import tqdm  # batch mode: a progress bar on stderr
            for line in translator.translate_batch(texts, beam_size=args.beam, length_penalty=args.length_penalty,
                                                   batch_size=args.batch_size, max_len_ratio=args.max_len_ratio,
                                                   progress=lambda items: tqdm(items, file=sys.stderr, desc="translating")):
                print(line)
            return 0
        for text in texts:
            result = translator.translate(text, beam_size=args.beam, length_penalty=args.length_penalty,
                                          n_best=args.n_best, max_len_ratio=args.max_len_ratio)
            if args.json:
                print(json.dumps(result.to_dict(), ensure_ascii=False))
            elif args.n_best > 1 and result.nbest:
                for rank, hyp in enumerate(result.nbest, 1):
                    print(f"{rank}\t{hyp['normalized_score']:.3f}\t{hyp['text']}")
            else:
                print(result.text)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
