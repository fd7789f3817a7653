/* The static page: loads the chosen pair's bundle into onnxruntime-web, translates in the browser and hands the
 * translation JSON to the same views the served page uses (heatmap.js, bmm_picture.js). site.json (written by
 * `python -m export.site`) lists the pairs, their files and the .wasm's address. */
import { loadTranslator, ort } from "./translator.js";

const $ = (id) => document.getElementById(id);
const RULE_TEXT = "Words: a source word's column is the sum of its pieces' columns; a target word's row is the mean " +
  "of its pieces' rows. Punctuation the tokenizer split off stays its own token.";
const state = { site: null, translators: new Map(), doc: null, shown: 0, count: 0 };

// gr.HTML's mount(element, props, watch) contract, without Gradio: set(value) redraws through the watcher.
function mounted(element, mount, extra) {
  const props = { value: null, ...extra }, watchers = [];
  mount(element, props, (_keys, fn) => watchers.push(fn));
  return { set(value) { props.value = value; watchers.forEach((fn) => fn()); } };
}
const heatmap = mounted($("heatmap"), window.BmmHeatmap.mount, { rule_text: RULE_TEXT, step_elem_id: "selected-step" });
const picture = mounted($("bmm-picture"), window.BmmPicture.mount, {});

function say(text) { $("message").textContent = text ? `⚠️ ${text}` : ""; }

async function translator(pair) {
  if (!state.translators.has(pair)) {
    const started = performance.now();
    const config = state.site.pairs[pair];
    if (pair === $("pair").value) $("runtime").textContent = `Loading the ${pair} model (${(config.bytes / 1e6).toFixed(1)} MB) into your browser…`;
    state.translators.set(pair, loadTranslator(config, state.site.wasm).then((t) => {
      t.loadMs = performance.now() - started;
      return t;
    }));
  }
  return state.translators.get(pair);
}

function where(t) {
  return `in your browser, WASM, ${t.threads} thread${t.threads > 1 ? "s" : ""} (onnxruntime-web ${ort.env.versions.web || state.site.versions["onnxruntime-web"]})`;
}

function hypothesisDoc(doc, index) { // the n-best hypothesis `index` as a document of its own, the views draw it
  if (!index) return doc;
  const hyp = doc.nbest[index];
  const { text, ...fields } = hyp;
  return { ...doc, translation: text, ...fields };
}

function show(index, step = 0, words = false) {
  const doc = state.doc, shown = hypothesisDoc(doc, index), key = `r${++state.count}`;
  state.shown = index;
  $("translation").textContent = shown.translation;
  const share = { pair: doc.pair, text: doc.source, mode: doc.decoding.mode, max_len: 0 };
  if (doc.decoding.mode === "beam") Object.assign(share, { beam: doc.decoding.beam_size, penalty: Math.round(doc.decoding.length_penalty * 1000) / 1000 });
  const last = Math.max(shown.target_tokens.length - 1, 0);
  heatmap.set({ key, result: key, step: Math.min(step, last), words, share, translation: shown });
  picture.set({ key, result: key, step: Math.min(step, last), timing: null, translation: shown });
  drawNbest();
}

function drawNbest() {
  const box = $("nbest"), doc = state.doc;
  box.replaceChildren();
  if (!doc || !doc.nbest.length) return;
  const wrap = box.appendChild(document.createElement("div"));
  wrap.className = "nbest-wrap";
  const table = wrap.appendChild(document.createElement("table"));
  table.createCaption().textContent = "n-best hypotheses (beam search): show one to see its own heatmap and bmm rows";
  const head = table.createTHead().insertRow();
  ["#", "hypothesis", "score", "normalized", ""].forEach((h) => { const th = document.createElement("th"); th.scope = "col"; th.textContent = h; head.appendChild(th); });
  const body = table.createTBody();
  doc.nbest.forEach((h, i) => {
    const tr = body.insertRow();
    tr.className = i === state.shown ? "is-shown" : "";
    const cells = [String(i + 1), h.text, h.score.toFixed(3), h.normalized_score.toFixed(3)];
    cells.forEach((c, j) => { const td = tr.insertCell(); td.textContent = c; if (j !== 1) td.className = "num"; });
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = i === state.shown ? "shown" : "show";
    button.disabled = i === state.shown;
    button.setAttribute("aria-label", `Show hypothesis ${i + 1}`);
    button.addEventListener("click", () => show(i));
    tr.insertCell().appendChild(button);
  });
}

function settings() {
  const beamMode = document.querySelector("input[name=mode]:checked").value === "beam";
  const beam = Number($("beam").value);
  return { pair: $("pair").value, text: $("source").value, beamSize: beamMode ? beam : 1 };
}

async function run(asked = settings(), step = 0, words = false, penalty = null) {
  const button = $("translate");
  button.disabled = true;
  try {
    if (asked.beamSize !== 1 && !(Number.isInteger(asked.beamSize) && asked.beamSize >= 2 && asked.beamSize <= 10)) {
      say(`beam_size must be a whole number from 1 to 10 (1 = greedy); got the number ${asked.beamSize}.`);
      return null;
    }
    const t = await translator(asked.pair);
    let doc;
    try {
      doc = await t.translate(asked.text, { beamSize: asked.beamSize, lengthPenalty: penalty });
    } catch (error) {
      if (error instanceof window.BmmSourceText.InputError) { say(error.message); return null; }
      throw error;
    }
    say("");
    state.doc = doc;
    show(0, step, words);
    $("status").textContent = `${doc.decoding.mode} decoding · ${doc.target_tokens.length} target tokens · ` +
      `${doc.timing_ms.total.toFixed(0)} ms ${where(t)}` + (doc.finished ? "" : " · stopped at max length");
    $("runtime").textContent = `Ready: the ${asked.pair} model runs ${where(t)}; last translation ${doc.timing_ms.total.toFixed(0)} ms ` +
      `(encode ${doc.timing_ms.encode.toFixed(0)} ms, decode ${doc.timing_ms.decode.toFixed(0)} ms).`;
    document.body.dataset.translated = String(state.count);
    return doc;
  } catch (error) {
    say(`The model could not run in this browser: ${error.message || error}`);
    throw error;
  } finally {
    button.disabled = false;
  }
}

function drawExamples(pair) {
  const box = $("examples");
  box.replaceChildren();
  const title = box.appendChild(document.createElement("p"));
  title.textContent = "Examples (written for this demo):";
  title.style.margin = "0";
  title.style.width = "100%";
  for (const text of state.site.pairs[pair].examples) {
    const b = box.appendChild(document.createElement("button"));
    b.type = "button";
    b.textContent = text;
    b.addEventListener("click", () => { $("source").value = text; run(); });
  }
}

async function start() {
  state.site = await (await fetch("site.json")).json();
  const select = $("pair");
  for (const [name, p] of Object.entries(state.site.pairs)) {
    const option = select.appendChild(document.createElement("option"));
    option.value = name;
    option.textContent = `${p.src_name} → ${p.tgt_name}`;
  }
  const q = new URL(window.location.href).searchParams;
  if (q.get("pair") && state.site.pairs[q.get("pair")]) select.value = q.get("pair");
  drawExamples(select.value);
  select.addEventListener("change", () => { drawExamples(select.value); translator(select.value).then(ready, fail); });
  $("ask").addEventListener("submit", (event) => { event.preventDefault(); run().catch(() => {}); });
  $("source").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); run().catch(() => {}); }
  });
  const ready = (t) => {
    $("translate").disabled = false;
    $("runtime").textContent = `Ready: the ${select.value} model runs ${where(t)}; loaded in ${(t.loadMs / 1000).toFixed(1)} s.`;
    document.body.dataset.ready = "1";
  };
  const fail = (error) => say(`The model could not load: ${error.message || error}`);
  const t = await translator(select.value).catch(fail);
  if (!t) return;
  ready(t);
  const text = q.get("text") || (q.get("pair") ? "" : state.site.pairs[select.value].examples[0]);
  if (!text) return;
  $("source").value = text;
  const beam = q.get("mode") === "beam" ? Number(q.get("beam") || 5) : 1;
  if (beam > 1) { document.querySelector("input[name=mode][value=beam]").checked = true; $("beam").value = String(beam); }
  const penalty = q.get("penalty") !== null && Number.isFinite(Number(q.get("penalty"))) ? Number(q.get("penalty")) : null;
  await run({ pair: select.value, text, beamSize: beam }, Number(q.get("step") || 0), q.get("words") === "1", penalty).catch(() => {});
}

// For tests and benchmarks: the same translation the button runs, as its JSON.
window.bmmSite = {
  translate: async (pair, text, beamSize = 1) => (await translator(pair)).translate(text, { beamSize }),
  // Many sentences in one call, each greedy and with every beam size asked: the fields parity tests compare,
  // with each decoder call's attention unrounded (flat, row after row).
  compare: async (pair, texts, beamSizes) => {
    const t = await translator(pair), out = [];
    for (const text of texts) {
      for (const beamSize of beamSizes) {
        const doc = await t.translate(text, { beamSize });
        const { translation, target_ids, attention, decoding, source_tokens, call_rows } = doc;
        out.push({ text, beamSize, translation, target_ids, attention, decoding, source_tokens, call_rows,
          nbest: doc.nbest.map((h) => h.target_ids), calls: doc.rawCallAttention.map((a) => Array.from(a)),
          ms: doc.timing_ms.total });
      }
    }
    return out;
  },
  check: async (pair, text) => {
    try { (await translator(pair)).sourceIds(text); return null; } catch (error) { return error.message; }
  },
};
start().catch((error) => say(`The page could not start: ${error.message || error}`));
