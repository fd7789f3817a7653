/* The translator in the browser: the bundle's tokenizer (@huggingface/tokenizers), its encoder.onnx and
 * decoder.onnx on onnxruntime-web (WASM), the decoding loop of decoding.js, and the one translation JSON
 * (inference/translation.schema.json, as inference.document.translation_json writes it with tensors=True).
 *
 *   const t = await loadTranslator(pairConfig);           // pairConfig: one entry of site.json's "pairs"
 *   const doc = await t.translate("A dog runs.", { beamSize: 5 });
 */
import * as ort from "./vendor/ort.wasm.bundle.min.mjs";
import { Tokenizer } from "./vendor/tokenizers.min.mjs";

const { greedy, beamSearch } = window.BmmDecoding; // decoding.js
const { checkText, InputError } = window.BmmSourceText; // source_text.js
const MAX_DECODE_LEN = 1000;
const MAX_TENSOR_NUMBERS = 200000; // inference/document.py: queries are sent while they fit
export { ort };

// numpy's round(x, decimals): the nearest multiple of 10^-decimals, halves to even
function round(x, decimals) {
  const scale = 10 ** decimals, y = x * scale, r = Math.round(y);
  return (Math.abs(y % 1) === 0.5 ? 2 * Math.round(y / 2) : r) / scale;
}
const rounded = (rows, d) => rows.map((row) => Array.from(row, (x) => round(x, d)));
const maxTargetLen = (sourceLen, ratio = 2.0) => Math.floor(ratio * sourceLen) + 10; // rules.py

let wasmReady = null;
// onnxruntime-web's .wasm, fetched once (with its subresource-integrity hash when it comes from a CDN).
export function prepareWasm(wasm) {
  if (!wasmReady) {
    wasmReady = (async () => {
      const response = await fetch(wasm.url, wasm.integrity ? { integrity: wasm.integrity, mode: "cors" } : {});
      if (!response.ok) throw new Error(`${wasm.url}: HTTP ${response.status}`);
      ort.env.wasm.wasmBinary = new Uint8Array(await response.arrayBuffer());
      ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
      return ort.env.wasm.numThreads;
    })();
  }
  return wasmReady;
}

async function fetchBytes(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

export async function loadTranslator(config, wasm) {
  const threads = await prepareWasm(wasm);
  const options = { executionProviders: ["wasm"], graphOptimizationLevel: "all" };
  const [tokenizerJson, encoderBytes, decoderBytes] = await Promise.all([
    fetch(config.files.tokenizer).then((r) => r.json()), fetchBytes(config.files.encoder), fetchBytes(config.files.decoder)]);
  const encoder = await ort.InferenceSession.create(encoderBytes, options);
  const decoder = await ort.InferenceSession.create(decoderBytes, options);
  // what onnxruntime-web settled on once its runtime started (it falls back to 1 without cross-origin isolation)
  return new Translator(config, tokenizerJson, encoder, decoder, ort.env.wasm.numThreads || threads);
}

// ---- the bmm picture's timing: one attention step (export/site's attention.onnx: softmax(query · enc_outᵀ) ·
// enc_out, keys = enc_out as in dot attention) for B rows, as one call and as a loop of B one-row calls ------------
let attentionSession = null;
function normals(n, seed) { // standard normal numbers from a small deterministic generator (Box-Muller)
  let x = seed >>> 0;
  const uniform = () => { x = (Math.imul(x, 1664525) + 1013904223) >>> 0; return (x + 1) / 4294967297; };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(uniform())), a = 2 * Math.PI * uniform();
    out[i] = r * Math.cos(a);
    if (i + 1 < n) out[i + 1] = r * Math.sin(a);
  }
  return out;
}

export async function measureAttention(graph, B, S, twoH, budgetMs = 300) {
  if (!attentionSession) attentionSession = fetchBytes(graph.file).then((bytes) => ort.InferenceSession.create(bytes, { executionProviders: ["wasm"] }));
  const session = await attentionSession;
  const query = normals(B * twoH, 1), encOut = normals(B * S * twoH, 2);
  const all = { query: new ort.Tensor("float32", query, [B, 1, twoH]), enc_out: new ort.Tensor("float32", encOut, [B, S, twoH]) };
  const rows = Array.from({ length: B }, (_, b) => ({
    query: new ort.Tensor("float32", query.subarray(b * twoH, (b + 1) * twoH), [1, 1, twoH]),
    enc_out: new ort.Tensor("float32", encOut.subarray(b * S * twoH, (b + 1) * S * twoH), [1, S, twoH]) }));
  const batched = async () => (await session.run(all)).context.data;
  const loop = async () => {
    const out = new Float32Array(B * twoH);
    for (let b = 0; b < B; b++) out.set((await session.run(rows[b])).context.data, b * twoH);
    return out;
  };
  const one = await batched(), many = await loop(); // also the warm-up of both
  const difference = one.reduce((m, x, i) => Math.max(m, Math.abs(x - many[i])), 0);
  const t0 = performance.now();
  await loop();
  const number = Math.max(3, Math.floor(budgetMs / 10 / Math.max(performance.now() - t0, 0.01)));
  const best = { batched: Infinity, loop: Infinity };
  for (let r = 0; r < 5; r++) { // best of 5 repeats, the two methods taking turns
    for (const [name, method] of [["batched", batched], ["loop", loop]]) {
      const t = performance.now();
      for (let i = 0; i < number; i++) await method();
      best[name] = Math.min(best[name], (performance.now() - t) / number);
    }
  }
  return { B, S, bmm_us: 1000 * best.batched, loop_us: 1000 * best.loop, max_abs_difference: difference };
}

class Translator {
  constructor(config, tokenizerJson, encoder, decoder, threads) {
    Object.assign(this, { config, encoder, decoder, threads });
    // Typed "</s>" or "<pad>" is text, not a control id (Python: encode_special_tokens = True): the encoding
    // tokenizer has no added tokens; decoding keeps them so that specials are skipped as Python skips them.
    const settings = { clean_up_tokenization_spaces: false };
    this.encoding = new Tokenizer({ ...tokenizerJson, added_tokens: [] }, settings);
    this.decoding = new Tokenizer(tokenizerJson, settings);
    this.vocab = new Map(Object.entries(tokenizerJson.model.vocab));
    // tokenizers' get_vocab_size(): the model's ids and the added tokens' ids
    this.vocabSize = new Set([...this.vocab.values(), ...(tokenizerJson.added_tokens || []).map((t) => t.id)]).size;
    const special = config.special_tokens;
    Object.assign(this, { padId: special.pad, unkId: special.unk, bosId: special.bos, eosId: special.eos });
    this.model = config.model_config;
    this.lastMs = null;
  }

  sourceIds(text) {
    const encode = (clean) => this.encoding.encode(clean, { add_special_tokens: false }).ids;
    return [...checkText(text, encode, (c) => this.vocab.has(c), this.config.src), this.eosId];
  }

  token(id) { return this.decoding.id_to_token(id); }
  detokenize(ids) { return this.decoding.decode(ids.filter((i) => i !== this.eosId), { skip_special_tokens: true }); }

  async encode(src) {
    const S = src.length;
    const out = await this.encoder.run({
      src_ids: new ort.Tensor("int64", BigInt64Array.from(src, BigInt), [1, S]),
      src_mask: new ort.Tensor("bool", new Uint8Array(S).fill(1), [1, S]),
    });
    return { encOut: out.enc_out.data, keys: out.keys.data, hidden: out.hidden.data, S };
  }

  // The decoder step as decoding.js wants it; every row is this one sentence, so its tensors are tiled N times.
  stepFunction(encoded, calls) {
    const { encOut, keys, S } = encoded, width = encOut.length / S;
    let tiled = null;
    return async (prev, hidden, rows) => {
      const N = rows.length;
      if (!tiled || tiled.N !== N) {
        const k = new Float32Array(N * S * width), e = new Float32Array(N * S * width);
        for (let n = 0; n < N; n++) { k.set(keys, n * S * width); e.set(encOut, n * S * width); }
        tiled = { N, keys: new ort.Tensor("float32", k, [N, S, width]), encOut: new ort.Tensor("float32", e, [N, S, width]),
          mask: new ort.Tensor("bool", new Uint8Array(N * S).fill(1), [N, S]) };
      }
      const out = await this.decoder.run({
        prev_token: new ort.Tensor("int64", BigInt64Array.from(prev, BigInt), [N]),
        hidden: new ort.Tensor("float32", hidden, [N, hidden.length / N]),
        keys: tiled.keys, enc_out: tiled.encOut, src_mask: tiled.mask,
      });
      const result = { logProbs: out.log_probs.data, hidden: out.new_hidden.data, attention: out.attention.data };
      calls.push({ attention: result.attention.slice(), query: result.hidden.slice(), N });
      return result;
    };
  }

  // Greedy (beamSize 1) or beam search, as Translator.translate on the server with the page's settings
  // (n_best = beam size, top 5 alternatives); lengthPenalty null = the bundle's own, tuned on validation;
  // maxLen 0 = automatic; `prefix` (target ids) is forced first, then decoding continues greedily.
  async translate(text, { beamSize = 1, lengthPenalty = null, maxLen = 0, prefix = [] } = {}) {
    const start = performance.now();
    const alpha = lengthPenalty === null ? this.config.length_penalty : lengthPenalty;
    const src = this.sourceIds(text);
    const limit = maxLen ? maxLen : Math.min(maxTargetLen(src.length), MAX_DECODE_LEN);
    const vocabSize = this.vocabSize;
    for (const id of prefix) {
      if (!(Number.isInteger(id) && id >= 0 && id < vocabSize)) {
        throw new InputError(`prefix id must be a whole number from 0 to ${vocabSize - 1}; got the number ${id}.`);
      }
    }
    const encoded = await this.encode(src);
    const done1 = performance.now();
    const calls = [];
    const step = this.stepFunction(encoded, calls);
    const mode = prefix.length ? "prefix+greedy" : beamSize > 1 ? "beam" : "greedy";
    const hyps = mode === "beam"
      ? await beamSearch(step, encoded.hidden, this.bosId, this.eosId, limit, beamSize, alpha, beamSize, 5)
      : await greedy(step, encoded.hidden, this.bosId, this.eosId, mode === "greedy" ? limit : Math.max(limit, prefix.length + 1), 5, prefix);
    const done = performance.now();
    const doc = this.document(text, src, hyps, mode, encoded, calls, { beamSize, alpha, limit, prefix });
    doc.timing_ms = { encode: done1 - start, decode: done - done1, total: done - start };
    // every decoder call's attention before the JSON's rounding to 6 decimals, for parity checks; not serialised
    Object.defineProperty(doc, "rawCallAttention", { value: calls.map((call) => call.attention) });
    this.lastMs = doc.timing_ms.total;
    return doc;
  }

  hypothesisJson(hyp) {
    return {
      text: this.detokenize(hyp.ids),
      target_tokens: hyp.ids.map((i) => this.token(i)),
      target_ids: hyp.ids.slice(),
      attention: rounded(hyp.attention, 6),
      token_probs: hyp.tokenLogProbs.map(Math.exp),
      score: hyp.score,
      normalized_score: hyp.normalizedScore,
      finished: hyp.finished,
      call_rows: hyp.stepRows.slice(),
      alternatives: hyp.topIds.map((ids, t) => ids.map((id, j) => (
        { token: this.token(id), id, prob: Math.fround(Math.exp(hyp.topLogProbs[t][j])) }))),
    };
  }

  document(text, src, hyps, mode, encoded, calls, { beamSize, alpha, limit, prefix }) {
    const beam = mode === "beam";
    const S = src.length, width = encoded.encOut.length / S, attention = this.model.attention;
    const best = this.hypothesisJson(hyps[0]);
    const translation = best.text;
    delete best.text;
    const rowsOf = (flat, n, w) => Array.from({ length: n }, (_, r) => flat.subarray(r * w, (r + 1) * w));
    const encRows = rowsOf(encoded.encOut, S, width), keyRows = rowsOf(encoded.keys, S, width);
    const withQuery = calls.reduce((n, c) => n + c.N, 0) * width <= MAX_TENSOR_NUMBERS;
    const bmmScores = attention === "dot" || attention === "general"; // additive attention has no first bmm
    const stepCalls = calls.map((call) => {
      const queries = rowsOf(call.query, call.N, width);
      const out = { batch: call.N, attention: rounded(rowsOf(call.attention, call.N, S), 6) };
      if (bmmScores) {
        out.scores = queries.map((q) => keyRows.map((k) => {
          let s = 0; // float32 accumulation, as numpy's float32 matmul stores it
          for (let i = 0; i < width; i++) s += q[i] * k[i];
          return round(Math.fround(s), 5);
        }));
      }
      if (withQuery) out.query = rounded(queries, 5);
      return out;
    });
    const doc = {
      schema_version: 1,
      pair: `${this.config.src}-${this.config.tgt}`,
      source: text,
      model: { attention, hidden_dim: this.model.hidden_dim },
      decoding: { mode, beam_size: beam ? beamSize : 1, length_penalty: beam ? alpha : 0.0,
        max_len: limit, prefix_ids: mode === "prefix+greedy" ? prefix.slice() : [] },
      source_tokens: src.map((i) => this.token(i)),
      source_ids: src.slice(),
      translation,
      ...best,
      nbest: beam ? hyps.map((h) => this.hypothesisJson(h)) : [],
      step_calls: stepCalls,
      timing_ms: {},
      tensors: { enc_out: rounded(encRows, 5), queries: withQuery },
    };
    if (attention === "general") doc.tensors.keys = rounded(keyRows, 5);
    return doc;
  }
}
