/* The static page: loads the chosen pair's bundle into onnxruntime-web, translates in the browser and hands the
 * translation JSON to the same views the served page uses (heatmap.js, bmm_picture.js). site.json (written by
 * `python -m export.site`) lists the pairs, their files, the .wasm's address and the attention graph the bmm
 * picture times. Share links are read by share.js with the served page's checks. */
import { loadTranslator, measureAttention, ort } from "./translator.js";

const $ = (id) => document.getElementById(id);
const RULE_TEXT = "Words: a source word's column is the sum of its pieces' columns; a target word's row is the mean " +
  "of its pieces' rows. Punctuation the tokenizer split off stays its own token.";
const WORKED_BEAM = 5; // page/limits.py: the page opens on a beam search, so its decoder calls batch B = 5 beams
const { MAX_BEAM, MAX_LEN, MAX_PENALTY } = window.BmmShare.LIMITS;
const state = { site: null, translators: new Map(), doc: null, shown: 0, count: 0, key: "", step: 0, threads: 1, askedMaxLen: 0 };

// gr.HTML's mount(element, props, watch) contract, without Gradio: set(value) redraws through the watcher.
function mounted(element, mount, extra) {
  const props = { value: null, ...extra }, watchers = [];
  mount(element, props, (_keys, fn) => watchers.push(fn));
  return { set(value) { props.value = value; watchers.forEach((fn) => fn()); } };
}
const where = () => `in your browser, WASM, ${state.threads} thread${state.threads > 1 ? "s" : ""}`;
const heatmap = mounted($("heatmap"), window.BmmHeatmap.mount, { rule_text: RULE_TEXT, step_elem_id: "selected-step" });
const picture = mounted($("bmm-picture"), window.BmmPicture.mount, {
  measure: { // no server here: the picture's timing button runs the attention step in this browser
    label: "Measure loop vs batched call in your browser",
    loop_title: "A JavaScript loop: B onnxruntime-web calls of one product each",
    bmm_title: "One batched MatMul call (what torch.bmm exports to): all B at once",
    run: (B, S, twoH) => measureAttention(state.site.measure, B, S, twoH)
      .then((t) => ({ ...t, where: `${where()} (onnxruntime-web)` })),
  },
});

function say(text) { $("message").textContent = text ? `⚠️ ${text}` : ""; }
function note(text) { $("note").textContent = text || ""; }

async function translator(pair) {
  if (!state.translators.has(pair)) {
    const started = performance.now();
    const config = state.site.pairs[pair];
    if (pair === $("pair").value) $("runtime").textContent = `Loading the ${pair} model (${(config.bytes / 1e6).toFixed(1)} MB) into your browser…`;
    state.translators.set(pair, loadTranslator(config, state.site.wasm).then((t) => {
      t.loadMs = performance.now() - started;
      state.threads = t.threads;
      return t;
    }));
  }
  return state.translators.get(pair);
}

function runsWhere() {
  return `${where()} (onnxruntime-web ${ort.env.versions.web || state.site.versions["onnxruntime-web"]}` +
    `${self.crossOriginIsolated ? ", cross-origin isolated" : ""})`;
}

function hypothesisDoc(doc, index) { // the n-best hypothesis `index` as a document of its own, the views draw it
  if (!index) return doc;
  const hyp = doc.nbest[index];
  const { text, ...fields } = hyp;
  return { ...doc, translation: text, ...fields };
}

function shareOf(doc) { // what a link must carry to translate the same way again (page/heatmap.py heatmap_value)
  const decoding = doc.decoding, share = { pair: doc.pair, text: doc.source, mode: decoding.mode === "beam" ? "beam" : "greedy" };
  share.max_len = state.askedMaxLen; // 0 = automatic, as asked (the document holds the limit that applied)
  if (decoding.mode === "beam") Object.assign(share, { beam: decoding.beam_size, penalty: Math.round(decoding.length_penalty * 1000) / 1000 });
  if (decoding.prefix_ids.length) share.prefix = decoding.prefix_ids.join(".");
  return share;
}

function show(index, step = 0, words = false) {
  const doc = state.doc, shown = hypothesisDoc(doc, index), key = `r${++state.count}`;
  state.shown = index;
  state.key = key;
  $("translation").textContent = shown.translation;
  const last = Math.max(shown.target_tokens.length - 1, 0);
  heatmap.set({ key, result: key, step: Math.min(step, last), words, share: shareOf(doc), translation: shown });
  picture.set({ key, result: key, step: Math.min(step, last), timing: null, translation: shown });
  drawAlternatives(Math.min(step, last));
  drawNbest();
}

// ---- the selected step's alternatives: pick one, and the translation continues greedily from it -----------
function drawAlternatives(step) {
  const doc = state.doc, box = $("alternatives");
  if (!doc) { box.hidden = true; return; }
  const shown = hypothesisDoc(doc, state.shown), alternatives = shown.alternatives[step] || [];
  state.step = step;
  box.hidden = false;
  const list = $("alternative-list");
  list.replaceChildren();
  $("alternatives-title").textContent = `Top-${alternatives.length} tokens at step ${step}: pick one to continue from`;
  alternatives.forEach((a, j) => {
    const label = list.appendChild(document.createElement("label"));
    const radio = label.appendChild(document.createElement("input"));
    Object.assign(radio, { type: "radio", name: "alternative", value: String(j) });
    const held = a.id === shown.target_ids[step] ? "  (chosen)" : "";
    label.appendChild(document.createTextNode(` ${a.token}  ${(100 * a.prob).toFixed(1)}%${held}`));
  });
}

async function continueFrom() {
  const doc = state.doc, picked = document.querySelector("input[name=alternative]:checked");
  if (!doc || !picked) { say("Pick one of this step's alternatives first, then continue from it."); return; }
  const shown = hypothesisDoc(doc, state.shown), step = state.step, alternative = shown.alternatives[step][Number(picked.value)];
  const prefix = [...shown.target_ids.slice(0, step), alternative.id];
  document.querySelector("input[name=mode][value=greedy]").checked = true;
  const done = await run({ ...settings(), beamSize: 1, prefix }, step);
  if (done) note(`Continued from “${alternative.token}” at step ${step}; the steps after it are greedy.`);
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
  ["#", "hypothesis", "score", "normalized", ""].forEach((h, j) => {
    const th = head.appendChild(document.createElement("th"));
    Object.assign(th, { scope: "col", textContent: h, className: j === 1 || j === 4 ? "" : "num" });
  });
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
    button.setAttribute("aria-label", `${button.textContent} hypothesis ${i + 1}`); // the name starts with what it shows
    button.addEventListener("click", () => {
      show(i);
      note(i === 0 ? `Showing the best hypothesis (rank 1 of ${doc.nbest.length}).`
        : `Showing hypothesis ${i + 1} of ${doc.nbest.length} (log-prob ${h.score.toFixed(3)}, normalised ` +
          `${h.normalized_score.toFixed(3)}); show row 1 for the best.`);
    });
    tr.insertCell().appendChild(button);
  });
}

// ---- the form --------------------------------------------------------------------------------------------
function settings() {
  const beamMode = document.querySelector("input[name=mode]:checked").value === "beam";
  const penalty = $("penalty").value.trim();
  return { pair: $("pair").value, text: $("source").value, beamSize: beamMode ? Number($("beam").value) : 1,
    lengthPenalty: penalty === "" ? null : Number(penalty), maxLen: Number($("max-len").value || 0), prefix: [] };
}

function refused(asked) { // page/limits.py settings(): the same rules and wording
  const whole = (x, low, high) => Number.isInteger(x) && x >= low && x <= high;
  if (!whole(asked.beamSize, 1, MAX_BEAM)) return `beam_size must be a whole number from 1 to ${MAX_BEAM} (1 = greedy); got the number ${asked.beamSize}.`;
  if (!whole(asked.maxLen, 0, MAX_LEN)) return `max_len must be a whole number from 0 to ${MAX_LEN} (0 = automatic); got the number ${asked.maxLen}.`;
  const alpha = asked.lengthPenalty;
  if (alpha !== null && !(Number.isFinite(alpha) && alpha >= 0 && alpha <= MAX_PENALTY)) {
    return `length_penalty must be a finite number from 0 to ${MAX_PENALTY}; got the number ${alpha}.`;
  }
  return null;
}

async function run(asked = settings(), step = 0, words = false) {
  const button = $("translate");
  button.disabled = true;
  note("");
  try {
    const problem = refused(asked);
    if (problem) { say(problem); return null; }
    const t = await translator(asked.pair);
    let doc;
    try {
      doc = await t.translate(asked.text, asked);
    } catch (error) {
      if (error instanceof window.BmmSourceText.InputError) { say(error.message); return null; }
      throw error;
    }
    say("");
    state.askedMaxLen = asked.maxLen;
    state.doc = doc;
    show(0, step, words);
    const ms = doc.timing_ms;
    $("status").textContent = `${doc.decoding.mode} decoding · ${doc.target_tokens.length} target tokens · ` +
      `${ms.total.toFixed(0)} ms ${where()}` + (doc.finished ? "" : " · stopped at max length");
    $("runtime").textContent = `Ready: the ${asked.pair} model runs ${runsWhere()}; last translation ${ms.total.toFixed(0)} ms ` +
      `(encode ${ms.encode.toFixed(0)} ms, decode ${ms.decode.toFixed(0)} ms).`;
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
  title.className = "examples-title";
  title.textContent = "Examples (written for this demo):";
  for (const text of state.site.pairs[pair].examples) {
    const b = box.appendChild(document.createElement("button"));
    b.type = "button";
    b.textContent = text;
    b.addEventListener("click", () => { $("source").value = text; run().catch(() => {}); });
  }
}

function choosePair(pair) {
  $("pair").value = pair;
  $("penalty").value = String(state.site.pairs[pair].length_penalty);
  drawExamples(pair);
}

async function start() {
  state.site = await (await fetch("site.json")).json();
  const select = $("pair"), pairs = Object.keys(state.site.pairs);
  for (const [name, p] of Object.entries(state.site.pairs)) {
    const option = select.appendChild(document.createElement("option"));
    option.value = name;
    option.textContent = `${p.src_name} → ${p.tgt_name}`;
  }
  const query = window.BmmShare.stateFromQuery(new URL(window.location.href).searchParams, pairs);
  choosePair(query.pair || state.site.default || select.value);
  select.addEventListener("change", () => { choosePair(select.value); translator(select.value).then(ready, fail); });
  $("ask").addEventListener("submit", (event) => { event.preventDefault(); run().catch(() => {}); });
  $("source").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); run().catch(() => {}); }
  });
  $("continue").addEventListener("click", () => continueFrom().catch(() => {}));
  document.addEventListener("bmm-step", (event) => { // the heatmap's step selection: this step's alternatives
    if (state.doc && event.detail && event.detail.result === state.key) drawAlternatives(event.detail.step);
  });
  const ready = (t) => {
    $("translate").disabled = false;
    $("runtime").textContent = `Ready: the ${select.value} model runs ${runsWhere()}; loaded in ${(t.loadMs / 1000).toFixed(1)} s.`;
    document.body.dataset.ready = "1";
  };
  const fail = (error) => say(`The model could not load: ${error.message || error}`);
  const t = await translator(select.value).catch(fail);
  if (!t) return;
  ready(t);
  // a share link: its translation, its step and word view; without one, our first example as a beam search
  const linked = "text" in query, prefix = query.prefix || [];
  const beamMode = linked ? query.mode === "beam search" && !prefix.length : true;
  if (query.beam_size) $("beam").value = String(query.beam_size);
  if (query.length_penalty !== undefined) $("penalty").value = String(query.length_penalty);
  if (query.max_len !== undefined) $("max-len").value = String(query.max_len);
  document.querySelector(`input[name=mode][value=${beamMode ? "beam" : "greedy"}]`).checked = true;
  const text = linked ? query.text : state.site.pairs[select.value].examples[0];
  $("source").value = text;
  const asked = { ...settings(), beamSize: beamMode ? Number($("beam").value) || WORKED_BEAM : 1, prefix };
  const doc = await run(asked, query.step || 0, !!query.words).catch(() => null);
  const lines = [...query.messages];
  if (doc && prefix.length) lines.push(`Continued from the link's ${prefix.length} forced tokens; the steps after them are greedy.`);
  const last = doc ? doc.target_tokens.length - 1 : 0;
  if (doc && (query.step || 0) > last) lines.push(`The link's step=${query.step} is past this translation's last step; showing step ${last}.`);
  note(lines.join(" "));
}

// For tests and benchmarks: the same translation the button runs, as its JSON.
window.bmmSite = {
  translate: async (pair, text, beamSize = 1, options = {}) => (await translator(pair)).translate(text, { beamSize, ...options }),
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
  shareState: (query, pairs) => window.BmmShare.stateFromQuery(query, pairs),
  lastDocument: () => (state.doc ? hypothesisDoc(state.doc, state.shown) : null), // the translation JSON on screen
  threads: () => state.threads,
};
start().catch((error) => say(`The page could not start: ${error.message || error}`));
