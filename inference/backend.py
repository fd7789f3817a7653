"""What decoding needs from a model, whatever runs it: the tokenizer, special ids, an encoder and a decoder step.

`onnx_backend(path)` builds it from a bundle with onnxruntime (the app, the command line); `evaluate` builds
one with torch from a checkpoint. `Translator(backend=...)` drives either with the same decoding code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from tokenizers import Tokenizer

from inference.bundle import Bundle, BundleError, load_bundle, tokenizer_file
from inference.runtime import open_sessions

SPECIAL_TOKENS = ("pad", "unk", "bos", "eos")


@dataclass
class Backend:
    src_lang: str
    tgt_lang: str
    config: dict  # the model's ModelConfig fields (hidden_dim, vocab_size, ...)
    special_tokens: dict  # {"pad": id, "unk": id, "bos": id, "eos": id}
    tokenizer: Tokenizer  # one vocabulary for source and target (the model ties one embedding to both)
    # encode(src_ids (B, S) int64, src_mask (B, S) bool) -> enc_out (B, S, 2H), keys (B, S, 2H), hidden (B, 2H) numpy
    encode: Callable
    # step_function(enc_out, keys, src_mask) -> step(prev (N,), hidden (N, 2H), rows (N,))
    #     -> log_probs (N, V), hidden (N, 2H), attention (N, S)
    step_function: Callable
    providers: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    bundle: Bundle | None = None
    sessions: tuple = ()  # (encoder, decoder) onnxruntime sessions, for benchmarks that time them alone


def special_tokens_of(config: dict) -> dict:
    """{"pad": id, ...} from a ModelConfig's fields: what export writes into manifest.json."""
    return {key: int(config[f"{key}_id"]) for key in SPECIAL_TOKENS}


def prepare_tokenizer(tokenizer: Tokenizer) -> Tokenizer:
    tokenizer.encode_special_tokens = True  # typed "</s>" or "<pad>" is text, not a control id
    return tokenizer


def read_tokenizer(file) -> Tokenizer:
    try:
        tokenizer = Tokenizer.from_file(str(file))
    except Exception as error:  # the tokenizers library raises a bare Exception for unreadable JSON
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise BundleError(
            f"{file} is not a readable tokenizer ({reason}); restore it or re-export the bundle"
        ) from None
    return prepare_tokenizer(tokenizer)


def onnx_backend(path, device: str = "auto", threads: int | None = None, verify: bool = True) -> Backend:
    """A bundle folder served by onnxruntime; every problem with the bundle is a BundleError."""
    bundle = load_bundle(path, verify_hashes=verify)
    manifest = bundle.manifest
    try:
        special = {key: int(manifest["special_tokens"][key]) for key in SPECIAL_TOKENS}
        src_lang, tgt_lang, config = manifest["pair"]["src"], manifest["pair"]["tgt"], dict(manifest["model_config"])
        graph_files = [bundle.file(manifest["graphs"][role]["file"]) for role in ("encoder", "decoder")]
    except (KeyError, TypeError, ValueError) as error:
        raise BundleError(
            f"{bundle.path / 'manifest.json'} lacks {error}; re-export the bundle with `python -m export`"
        ) from None
    tokenizer = bundle.file(tokenizer_file(manifest, bundle.path / "manifest.json"))
    return onnx_backend_from_files(
        *graph_files, tokenizer, src_lang, tgt_lang, config, special, device, threads, bundle
    )


def onnx_backend_from_files(
    encoder_file,
    decoder_file,
    tokenizer_file,
    src_lang: str,
    tgt_lang: str,
    config: dict,
    special: dict,
    device: str = "auto",
    threads: int | None = None,
    bundle: Bundle | None = None,
) -> Backend:
    """The graphs and the tokenizer as files (export verifies them this way before it writes a manifest)."""
    tokenizer = read_tokenizer(tokenizer_file)
    encoder, decoder, providers, warnings = open_sessions(encoder_file, decoder_file, device, threads)

    def encode(src_ids, src_mask):
        return encoder.run(None, {"src_ids": src_ids, "src_mask": src_mask})

    def step_function(enc_out, keys, src_mask):
        cache = {}

        def step(prev, hidden, rows):
            key = rows.tobytes()
            if key not in cache:  # beams keep the same rows for many steps: gather their sources once
                cache.clear()
                cache[key] = (np.ascontiguousarray(keys[rows]), np.ascontiguousarray(enc_out[rows]), src_mask[rows])
            k, e, m = cache[key]
            return decoder.run(None, {"prev_token": prev, "hidden": hidden, "keys": k, "enc_out": e, "src_mask": m})

        return step

    return Backend(
        src_lang,
        tgt_lang,
        config,
        special,
        tokenizer,
        encode,
        step_function,
        providers,
        warnings,
        bundle,
        (encoder, decoder),
    )
