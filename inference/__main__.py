"""Translate with an exported bundle (onnxruntime only).

    python -m inference --model assets/en-de "A dog runs on the beach."
    python -m inference --model assets/en-de --beam 5 --n-best 3 --json "A dog runs on the beach."
    python -m inference --model assets/en-de < sentences.txt > translations.txt

Standard input is read as UTF-8 (a byte order mark and CRLF line ends are accepted) and answered line for
line: one output line per input line, always. An empty line gives an empty line. A line the model refuses
(not UTF-8, control characters, another script, over 99 tokens) gives an empty line and a message on stderr
naming the line; the exit status is then 1. Exit status 2: the bundle or the arguments are unusable.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import warnings

from inference.lines import split_lines
from rules import DEVICES


def _at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is less than 1")
    return value


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text} is not a finite number >= 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m inference", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "text", nargs="*", help="sentence(s) to translate; none: read one sentence per line from stdin (UTF-8)"
    )
    p.add_argument("--model", default="assets/en-de", help="bundle folder (default: %(default)s)")
    p.add_argument(
        "--device",
        choices=DEVICES,
        default="auto",
        help="auto: CUDA when onnxruntime-gpu offers it, else CPU (default: %(default)s)",
    )
    p.add_argument(
        "--threads", type=_at_least_one, default=None, help="onnxruntime intra-op threads (default: up to 4)"
    )
    p.add_argument("--beam", type=_at_least_one, default=1, help="beam size; 1 is greedy (default: %(default)s)")
    p.add_argument(
        "--length-penalty",
        type=_finite,
        default=None,
        help="beam length penalty alpha (default: the bundle's, tuned on validation, else 0.6)",
    )
    p.add_argument(
        "--n-best",
        type=_at_least_one,
        default=1,
        help="hypotheses per sentence with --beam, tab-separated on the sentence's line (default: %(default)s)",
    )
    p.add_argument(
        "--max-len-ratio",
        type=_finite,
        default=2.0,
        help="max target tokens = ratio × source tokens + 10 (default: %(default)s)",
    )
    p.add_argument(
        "--batch-size",
        type=_at_least_one,
        default=32,
        help="sentences per encoder/decoder call, greedy and beam (default: %(default)s)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per input line: {line, error, result}: error is null or why the line was "
        "refused, result the translation document of inference/translation.schema.json (tokens, "
        "attention, alternatives, n-best, every decoder call) or null",
    )
    return p


def load_translator(args):
    """The Translator, or None after a one-line message: a broken bundle never shows a traceback."""
    from inference import BundleError, Translator

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            translator = Translator(args.model, device=args.device, threads=args.threads)
    except BundleError as error:
        print(f"error: {error}", file=sys.stderr)
        return None
    except Exception as error:  # anything else a damaged bundle can raise: still one line
        details = str(error).strip().splitlines()[0] if str(error).strip() else "no details"
        print(
            f"error: cannot load the bundle {args.model} ({type(error).__name__}: {details}); re-export it",
            file=sys.stderr,
        )
        return None
    for warning in caught:
        print(f"warning: {warning.message}", file=sys.stderr)
    return translator


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    translator = load_translator(args)
    if translator is None:
        return 2
    print(f"[{translator.name}] providers: {', '.join(translator.providers)}", file=sys.stderr)
    from_stdin = not args.text
    items = split_lines(sys.stdin.buffer.read()) if from_stdin else list(args.text)
    what = "line" if from_stdin else "argument"
    from inference import InputError

    todo, errors = {}, {}  # line number -> text to translate, or why it is refused
    for number, item in enumerate(items, 1):
        if isinstance(item, str) and from_stdin and not item.strip():
            continue  # an empty line is answered by an empty line
        error = item if isinstance(item, InputError) else None
        if error is None:
            try:
                translator.source_ids(item, max_chars=None)  # the page's character limit is not the model's
                todo[number] = item
                continue
            except InputError as refusal:
                error = refusal
        errors[number] = str(error)
        print(f"error: {what} {number}: {error}", file=sys.stderr)
    outputs = _translate(translator, args, todo)
    _write(items, outputs, errors, args.json)
    if errors:
        print(f"error: {len(errors)} of {len(items)} {what}s refused; their output lines are empty", file=sys.stderr)
        return 1
    return 0


def _translate(translator, args, todo: dict) -> dict:
    """Line number -> output line (plain text, or a JSON-ready dict with --json)."""
    texts = list(todo.values())
    options = dict(
        beam_size=args.beam, length_penalty=args.length_penalty, max_len_ratio=args.max_len_ratio, max_chars=None
    )
    if not args.json and args.n_best == 1:
        from tqdm import tqdm  # a progress bar on stderr, shown only when stderr is a terminal

        outputs = translator.translate_batch(
            texts,
            batch_size=args.batch_size,
            **options,
            progress=lambda items: tqdm(items, file=sys.stderr, desc="translating", disable=None),
        )
        return dict(zip(todo, outputs))
    from inference.document import translation_json

    out = {}
    for number, text in todo.items():
        result = translator.translate(text, n_best=args.n_best, **options)
        if args.json:
            out[number] = translation_json(result, translator.name, text, translator.config)
        else:
            out[number] = "\t".join(hyp["text"] for hyp in result.nbest) if result.nbest else result.text
    return out


def _write(items: list, outputs: dict, errors: dict, as_json: bool) -> None:
    """Exactly one line per input line, in input order."""
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(encoding="utf-8")
    for number, _item in enumerate(items, 1):
        if as_json:
            print(
                json.dumps(
                    {"line": number, "error": errors.get(number), "result": outputs.get(number)}, ensure_ascii=False
                )
            )
        else:
            print(outputs.get(number, ""))


if __name__ == "__main__":
    sys.exit(main())
