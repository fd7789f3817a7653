"""Bundles -> a static site that translates in the visitor's browser (onnxruntime-web, no server):

    python -m export.site assets --out site

Writes index.html, the page's JS and CSS (page/static's views unchanged, plus the decoding loop, the input
filter, the share-link reader and the translator of export/site/static), each bundle's encoder.onnx, decoder.onnx
and tokenizer.json, attention.onnx (one attention step, which the bmm picture times in the browser), site.json,
onnxruntime-web and @huggingface/tokenizers from node_modules (`npm ci`), and a README.md with the static Space's
front matter. Built in a temporary folder next to --out, then renamed into place.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import tempfile
from pathlib import Path

from inference.examples import examples_for
from inference.translator import tuned_length_penalty
from rules import language_name

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PAGE_STATIC = ROOT / "page" / "static"
SITE_FILES = ("decoding.js", "source_text.js", "share.js", "translator.js", "site.js", "site.css")
VIEWS = ("heatmap.js", "heatmap.css", "heatmap_rule.js", "bmm_picture.js", "bmm_picture.css")
ORT_VERSION = "1.30.0"
WASM = "ort-wasm-simd-threaded.wasm"
ATTENTION = "attention.onnx"
CDN = f"https://cdn.jsdelivr.net/npm/onnxruntime-web@{ORT_VERSION}/dist/{WASM}"
VENDOR = {
    "ort.wasm.bundle.min.mjs": "onnxruntime-web/dist/ort.wasm.bundle.min.mjs",
    "tokenizers.min.mjs": "@huggingface/tokenizers/dist/tokenizers.min.mjs",
}
# Cross-origin isolation (SharedArrayBuffer), without which onnxruntime-web runs on one thread: the static Space's
# custom_headers and `python -m export.site.serve` send these.
ISOLATION_HEADERS = {
    "cross-origin-embedder-policy": "require-corp",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "cross-origin",
}
LICENCE = (
    "Multi30k is distributed for <strong>non-commercial research and education only</strong>; a model trained on "
    "it inherits that restriction, and so do its translations."
)
TATOEBA_CREDIT = "Sentence pairs from the Tatoeba Project (tatoeba.org, CC BY 2.0 FR), via www.manythings.org/anki."
CITATION = (
    "Elliott, Frank, Sima'an, Specia (2016), <em>Multi30K: Multilingual English-German Image Descriptions</em>; "
    "Elliott et al. (2017) for French."
)


def attention_graph() -> bytes:
    """One dot-attention step as ONNX, for the bmm picture's timing in the browser (the server times the same
    step in numpy, page/bmm_panel.py attention_batched): context = softmax(query · enc_outᵀ) · enc_out, with
    query (B, 1, 2H) and enc_out (B, S, 2H); each matmul is what torch.bmm exports to."""
    from onnx import TensorProto, helper

    def value(name, shape):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)

    nodes = [
        helper.make_node("Transpose", ["enc_out"], ["keys_t"], perm=[0, 2, 1]),  # (B, 2H, S)
        helper.make_node("MatMul", ["query", "keys_t"], ["scores"]),  # (B, 1, S)
        helper.make_node("Softmax", ["scores"], ["weights"], axis=-1),  # (B, 1, S)
        helper.make_node("MatMul", ["weights", "enc_out"], ["context"]),  # (B, 1, 2H)
    ]
    graph = helper.make_graph(
        nodes,
        "attention_step",
        [value("query", ["B", 1, "two_h"]), value("enc_out", ["B", "S", "two_h"])],
        [value("context", ["B", 1, "two_h"])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="export.site")
    model.ir_version = 8
    return model.SerializeToString()


def sri(path: Path) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(path.read_bytes()).digest()).decode()


def pair_config(bundle: Path) -> dict:
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    evaluation_file = bundle / "evaluation.json"
    evaluation = json.loads(evaluation_file.read_text(encoding="utf-8")) if evaluation_file.is_file() else {}
    src, tgt = manifest["pair"]["src"], manifest["pair"]["tgt"]
    files = {role: f"models/{bundle.name}/{manifest['graphs'][role]['file']}" for role in ("encoder", "decoder")}
    files["tokenizer"] = f"models/{bundle.name}/{manifest['tokenizers']['source']}"
    return {
        "src": src,
        "tgt": tgt,
        "src_name": language_name(src),
        "tgt_name": language_name(tgt),
        "model_config": manifest["model_config"],
        "special_tokens": manifest["special_tokens"],
        "length_penalty": tuned_length_penalty(evaluation),
        "examples": examples_for(src),
        "files": files,
        "bytes": sum((bundle / Path(f).name).stat().st_size for f in files.values()),
    }


def credits_html() -> str:
    return (
        f"<p>{LICENCE}</p><p>{TATOEBA_CREDIT}</p><p>Citation: {CITATION}</p>"
        "<p>The models were trained on Multi30k and Tatoeba mixed 35 : 65; the examples are our own writing. "
        f"Runtime: onnxruntime-web {ORT_VERSION} (MIT), @huggingface/tokenizers 0.2.0 (Apache-2.0). Code: MIT.</p>"
    )


def space_readme(wasm: str) -> str:
    served = (
        f"onnxruntime-web's `.wasm` (14 MB) is fetched from {CDN} with a subresource-integrity hash"
        if wasm == "cdn"
        else "onnxruntime-web's `.wasm` (14 MB) is in `vendor/`: over 10 MB, so a Space needs Git LFS for it "
        "(or build with `--wasm cdn`)"
    )
    return (
        "---\ntitle: Watch bmm attention translate (in your browser)\nemoji: 🔍\ncolorFrom: indigo\n"
        "colorTo: yellow\nsdk: static\napp_file: index.html\nlicense: mit\n"
        "short_description: GRU seq2seq with bmm attention, run in your browser\n"
        "custom_headers:\n" + "".join(f"  {name}: {value}\n" for name, value in ISOLATION_HEADERS.items()) + "---\n\n"
        "# Watch `torch.bmm` attention translate, in your browser\n\n"
        "Built by `python -m export.site`. The tokenizer, onnxruntime-web (WASM) and greedy / beam search run in "
        f"the visitor's browser; the host only serves files. {served}.\n\n"
        "## Data and licence\n\n"
        "Multi30k is distributed for **non-commercial research and education only**; the models inherit that "
        f"restriction. {TATOEBA_CREDIT}\n"
    )


def build_site(assets: Path, out: Path, pairs: list[str] | None = None, wasm: str = "local") -> Path:
    node = ROOT / "node_modules"
    wasm_file = node / "onnxruntime-web" / "dist" / WASM
    if not wasm_file.is_file():
        raise SystemExit(f"{wasm_file} is missing: run `npm ci` in {ROOT} first")
    bundles = sorted(p for p in Path(assets).iterdir() if (p / "manifest.json").is_file())
    if pairs:
        bundles = [b for b in bundles if b.name in pairs]
    if not bundles:
        raise SystemExit(f"no bundles (folders with manifest.json) in {assets}")
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.build-", dir=out.parent))
    try:
        for name in VIEWS:
            shutil.copy2(PAGE_STATIC / name, work / name)
        for name in SITE_FILES:
            shutil.copy2(HERE / "static" / name, work / name)
        (work / "vendor").mkdir()
        for name, source in VENDOR.items():
            shutil.copy2(node / source, work / "vendor" / name)
        if wasm == "local":
            shutil.copy2(wasm_file, work / "vendor" / WASM)
            wasm_entry = {"url": f"vendor/{WASM}", "integrity": sri(wasm_file), "bytes": wasm_file.stat().st_size}
        else:
            wasm_entry = {"url": CDN, "integrity": sri(wasm_file), "bytes": wasm_file.stat().st_size}
        (work / ATTENTION).write_bytes(attention_graph())
        config = {
            "pairs": {},
            "wasm": wasm_entry,
            "measure": {"file": ATTENTION},
            "versions": {"onnxruntime-web": ORT_VERSION},
        }
        for bundle in bundles:
            target = work / "models" / bundle.name
            target.mkdir(parents=True)
            entry = pair_config(bundle)
            for file in entry["files"].values():
                shutil.copy2(bundle / Path(file).name, target / Path(file).name)
            config["pairs"][bundle.name] = entry
        config["default"] = "en-de" if "en-de" in config["pairs"] else next(iter(config["pairs"]))
        (work / "site.json").write_text(json.dumps(config, ensure_ascii=False, indent=1), encoding="utf-8")
        html = (HERE / "static" / "index.html").read_text(encoding="utf-8")
        (work / "index.html").write_text(html.replace("<!-- credits -->", credits_html()), encoding="utf-8")
        (work / "README.md").write_text(space_readme(wasm), encoding="utf-8")
        old = out.with_name(f".{out.name}.previous")
        if out.exists():
            out.rename(old)
        work.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return out
