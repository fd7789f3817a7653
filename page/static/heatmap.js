/* Attention heatmap drawn in the page (loaded by page/heatmap.py heatmap_component through gr.HTML's head).
 * window.BmmHeatmap.mount(element, props, watch) draws props.value (page/heatmap.py heatmap_value) and redraws
 * when the server sends a new one; every later interaction (steps, words, Play, share link) stays here.
 * Tokens are user text: they only ever reach the DOM through textContent, never as HTML. */
(function () {
  "use strict";
  if (window.BmmHeatmap) return;
  const { WORD, BLUES, wordGroups, wordLabels, mergeAttention, paint } = window.BmmHeatmapRule; // heatmap_rule.js
  const PLAY_MS = 700;
  const NUMBERS_MIN_PX = 40; // in-cell numbers only when a cell is at least this wide
  const fmt = (w) => w.toFixed(2);

  // ---- small DOM helpers ----------------------------------------------------------------------------
  function el(tag, cls, text, attrs) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    return node;
  }
  let uid = 0;

  // ---- the model of what is shown -----------------------------------------------------------------------
  function model(data, words) {
    const S = data.source_tokens.length, T = data.target_tokens.length;
    const ident = (n) => Array.from({ length: n }, (_, i) => [i]);
    const sg = words ? wordGroups(data.source_tokens) : ident(S);
    const tg = words ? wordGroups(data.target_tokens) : ident(T);
    const rowOfStep = [];
    tg.forEach((g, r) => g.forEach((t) => { rowOfStep[t] = r; }));
    return {
      sg, tg, rowOfStep,
      srcLabels: words ? wordLabels(data.source_tokens, sg) : data.source_tokens.slice(),
      tgtLabels: words ? wordLabels(data.target_tokens, tg) : data.target_tokens.slice(),
      weights: words ? mergeAttention(data.attention, sg, tg) : data.attention,
    };
  }
  const topColumns = (row, n) => row.map((w, c) => [w, c]).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, n);

  // ---- drawing ------------------------------------------------------------------------------------------
  function drawGrid(view) {
    const m = view.m, grid = el("div", "bmm-hm-grid", null, { "aria-hidden": "true" });
    const S = m.srcLabels.length;
    grid.style.gridTemplateColumns = `minmax(3em, max-content) repeat(${S}, minmax(30px, 56px))`;
    const place = (node, row, col) => { node.style.gridRow = String(row + 2); node.style.gridColumn = String(col + 2); return node; };
    grid.appendChild(place(el("div", "bmm-hm-corner", "target ↓ · source →"), -1, -1));
    view.xLabels = m.srcLabels.map((label, c) => grid.appendChild(place(el("div", "bmm-hm-x", label, { title: label, "data-col": c }), -1, c)));
    view.yLabels = m.tgtLabels.map((label, r) => grid.appendChild(place(el("div", "bmm-hm-y", label, { title: label, "data-row": r }), r, -1)));
    m.weights.forEach((row, r) => row.forEach((w, c) => {
      const cell = place(el("div", "bmm-hm-cell", null, { "data-row": r, "data-col": c, "data-w": String(w),
        title: `${m.tgtLabels[r]} → ${m.srcLabels[c]}: ${w.toFixed(3)}` }), r, c);
      cell.appendChild(el("span", "bmm-hm-n", fmt(w)));
      paint(cell, w);
      grid.appendChild(cell);
    }));
    drawExplainRows(view, grid, place);
    view.rowMark = grid.appendChild(el("div", "bmm-hm-rowmark"));
    view.rowMark.style.gridColumn = `2 / ${S + 2}`;
    view.colMark = grid.appendChild(el("div", "bmm-hm-colmark"));
    view.colMark.style.gridRow = `2 / ${m.tgtLabels.length + 2}`;
    view.colMark.hidden = true;
    grid.addEventListener("click", (event) => {
      const target = event.target.closest("[data-row], [data-col]");
      if (!target) return;
      if (target.dataset.row !== undefined) selectRow(view, Number(target.dataset.row), true);
      else selectColumn(view, Number(target.dataset.col));
    });
    return grid;
  }

  // The explanation of the translation JSON as the rows under the map draw it (null without one).
  function explainRows(ex) {
    if (!ex) return null;
    const cov = ex.coverage, conf = ex.confidence, occ = ex.occlusion;
    const rows = { coverage: cov.values, dropped: cov.dropped, repeated: cov.repeated, low: cov.low, high: cov.high,
      badges: conf.badges, effective: conf.effective_tokens };
    if (occ) Object.assign(rows, { drops: occ.drops, method: occ.method, noise: occ.batch_noise,
      top1_rate: occ.top1_rate, cost: occ.cost });
    return rows;
  }

  // ---- is attention an explanation? coverage and occlusion rows under the map (per token, not per word) ----
  const explainOf = (view) => (!view.words && view.explain) || null;

  function drawExplainRows(view, grid, place) {
    const ex = explainOf(view), T = view.m.tgtLabels.length;
    view.occCells = null;
    if (!ex) return;
    const top = Math.max(ex.high, ...ex.coverage);
    grid.appendChild(place(el("div", "bmm-hm-xlabel", "coverage Σ", { title: "attention each source token got, summed over all steps" }), T, -1));
    ex.coverage.forEach((v, c) => {
      const flag = ex.dropped.includes(c) ? `dropped? below ${ex.low}` : ex.repeated.includes(c) ? `repeated? above ${ex.high}` : "";
      const cell = place(el("div", `bmm-hm-xcell bmm-hm-cov${flag ? " is-flagged" : ""}`, fmt(v),
        { "data-cov": c, "data-v": String(v), title: `${view.m.srcLabels[c]}: coverage ${v.toFixed(3)}${flag ? ` (${flag})` : ""}` }), T, c);
      paint(cell, Math.min(v / top, 1));
      grid.appendChild(cell);
    });
    if (!ex.drops) return;
    grid.appendChild(place(el("div", "bmm-hm-xlabel", "occlusion Δ", { title: "drop in log p of this step's token when the source token is hidden" }), T + 1, -1));
    view.occCells = ex.coverage.map((_, c) => grid.appendChild(place(el("div", "bmm-hm-xcell bmm-hm-occ", "", { "data-occ": c }), T + 1, c)));
  }

  function showOcclusion(view, step) {
    const ex = explainOf(view);
    if (!ex || !view.occCells) return;
    const drops = ex.drops[step], top = Math.max(...drops, 1e-9), best = topColumns(drops, 1)[0][1];
    view.occCells.forEach((cell, c) => {
      cell.textContent = fmt(drops[c]);
      cell.dataset.v = String(drops[c]);
      cell.classList.toggle("is-top", c === best);
      cell.title = `${view.m.srcLabels[c]} hidden: log p of "${view.m.tgtLabels[step]}" drops by ${drops[c].toFixed(3)}`;
      paint(cell, Math.max(drops[c], 0) / top);
    });
  }

  function explainDetail(view, step) { // the badge and what occlusion says about this step, as text
    const ex = explainOf(view);
    if (!ex) return [];
    const badge = ex.badges[step];
    const parts = [el("span", `bmm-hm-badge is-${badge}`, `attention ${badge}: ${ex.effective[step].toFixed(2)} effective tokens`)];
    if (ex.drops) {
      const hurt = topColumns(ex.drops[step], 1)[0], looked = topColumns(view.m.weights[step], 1)[0];
      parts.push(document.createTextNode(` Occlusion: hiding ${view.m.srcLabels[hurt[1]]} lowers this token's log p most ` +
        `(by ${hurt[0].toFixed(2)}); ${hurt[1] === looked[1] ? "the same token attention weighted most" :
        `attention weighted ${view.m.srcLabels[looked[1]]} most`}.`));
    }
    return parts;
  }

  function explainNote(view) {
    const ex = explainOf(view);
    if (!view.explain) return null;
    if (!ex) return el("p", "bmm-hm-explain-note", "Coverage and occlusion are per token: turn off word merging to see them.");
    const note = `Coverage Σ: each source token's attention summed over the ${view.m.tgtLabels.length} steps; ` +
      `outlined: below ${ex.low} (dropped?) or above ${ex.high} (repeated?). ` + (ex.drops ? `Occlusion Δ (${ex.method}): ` +
      `each source token in turn is hidden from the decoder's attention mask (the encoder still read it) and this step's ` +
      `token re-scored; cost: ${ex.cost.batch_rows} rows × ${view.m.tgtLabels.length} steps in one batched forced decode ` +
      `(${ex.cost.decoder_calls} decoder calls, ${Math.round(ex.cost.ms)} ms). ` + (ex.noise >= 0.0005
        ? `Drops under ${ex.noise.toFixed(3)} are numerical noise (rows of one batch differ by that much). `
        : "Each row of that batch gets exactly the numbers it gets alone, so no drop is batching noise. ") +
      `Over the sentence, attention's top token is occlusion's top token at ` +
      `${Math.round(100 * ex.top1_rate)}% of steps.` : "");
    return el("p", "bmm-hm-explain-note", note);
  }

  function drawSteps(view) {
    const group = el("div", "bmm-hm-steps", null, { role: "radiogroup", "aria-label": "Decoding steps (target tokens); arrow keys move" });
    view.radios = view.m.tgtLabels.map((label, r) => {
      const first = view.m.tg[r][0];
      const button = el("button", "bmm-hm-step", `${first}: ${label}`, { type: "button", role: "radio", "aria-checked": "false", tabindex: "-1" });
      button.addEventListener("click", () => selectRow(view, r, true));
      return group.appendChild(button);
    });
    group.addEventListener("keydown", (event) => { if (moveByKey(view, event)) view.radios[view.row].focus(); });
    return group;
  }

  function drawTable(view) { // the text alternative: each row's three strongest source tokens
    const m = view.m, table = el("table", "bmm-hm-sr");
    table.appendChild(el("caption", null, "Text version of the heatmap: the source tokens each target token attended to most (weights 0 to 1)"));
    const head = table.appendChild(el("thead")).appendChild(el("tr"));
    ["Step", "Target token", "Top source tokens"].forEach((h) => head.appendChild(el("th", null, h, { scope: "col" })));
    const body = table.appendChild(el("tbody"));
    m.weights.forEach((row, r) => {
      const tr = body.appendChild(el("tr"));
      tr.appendChild(el("td", null, String(m.tg[r][0])));
      tr.appendChild(el("th", null, m.tgtLabels[r], { scope: "row" }));
      tr.appendChild(el("td", null, topColumns(row, 3).map(([w, c]) => `${m.srcLabels[c]} ${fmt(w)}`).join("; ")));
    });
    return table;
  }

  function drawToolbar(view, props) {
    const bar = el("div", "bmm-hm-toolbar");
    view.play = bar.appendChild(el("button", "bmm-hm-play", "▶ Play", { type: "button" }));
    view.play.addEventListener("click", () => (view.timer ? stop(view) : play(view)));
    const label = bar.appendChild(el("label", "bmm-hm-words"));
    view.wordsBox = label.appendChild(el("input", null, null, { type: "checkbox" }));
    view.wordsBox.checked = view.words;
    label.appendChild(document.createTextNode(" Merge subword pieces into words"));
    view.wordsBox.addEventListener("change", () => { view.words = view.wordsBox.checked; draw(view, true); });
    if (view.quiet || view.props.local) return bar; // several maps, or a map of its own tab: no share link
    const copy = bar.appendChild(el("button", "bmm-hm-copy", "Copy link", { type: "button" }));
    view.copied = bar.appendChild(el("span", "bmm-hm-copied", "", { role: "status" }));
    copy.addEventListener("click", () => copyLink(view));
    return bar;
  }

  function drawLegend(props) {
    const legend = el("div", "bmm-hm-legend");
    legend.appendChild(el("span", null, `${WORD} = start of a word`));
    const scale = legend.appendChild(el("span", "bmm-hm-scale"));
    scale.appendChild(el("span", null, "weight 0"));
    const bar = scale.appendChild(el("span", "bmm-hm-bar"));
    bar.style.background = `linear-gradient(to right, ${BLUES.map((c) => `rgb(${c.join(",")})`).join(", ")})`;
    scale.appendChild(el("span", null, "1"));
    legend.appendChild(el("span", null, "(one absolute scale for the map and the source strip)"));
    legend.appendChild(el("p", "bmm-hm-rule", props.rule_text || ""));
    return legend;
  }

  function draw(view, keepStep) {
    stop(view);
    const data = view.data, root = view.root;
    root.replaceChildren();
    if (!data || typeof data !== "object" || !Array.isArray(data.attention)) {
      root.appendChild(el("p", "bmm-hm-empty", "Translate a sentence to see where each target token looked."));
      return;
    }
    const step = keepStep ? view.step : view.value.step || 0;
    view.m = model(data, view.words);
    root.dataset.key = view.value.key || "";
    const box = root.appendChild(el("div", "bmm-hm"));
    box.appendChild(drawToolbar(view, view.props));
    box.appendChild(drawLegend(view.props));
    const detailId = `bmm-hm-detail-${++uid}`;
    view.map = box.appendChild(el("div", "bmm-hm-map", null, { tabindex: "0", role: "group", "aria-describedby": detailId }));
    view.map.appendChild(drawGrid(view));
    view.map.addEventListener("keydown", (event) => moveByKey(view, event));
    box.appendChild(drawSteps(view));
    view.detail = box.appendChild(el("p", "bmm-hm-detail", null, { id: detailId, "aria-live": "polite" }));
    box.appendChild(el("p", "bmm-hm-strip-title", "Source tokens coloured by this step's attention (0 to 1):"));
    view.strip = box.appendChild(el("div", "bmm-hm-strip"));
    view.chips = view.m.srcLabels.map((label) => {
      const chip = view.strip.appendChild(el("span", "bmm-hm-chip", label));
      chip.appendChild(el("span", "bmm-hm-n"));
      return chip;
    });
    const note = explainNote(view);
    if (note) box.appendChild(note);
    box.appendChild(drawTable(view));
    if (!view.words) { // what a comparison marks: steps whose token or whose attention row changed
      (view.value.changed_tokens || []).forEach((r) => mark(view, r, "is-token-changed", "token changed"));
      (view.value.changed_rows || []).forEach((r) => mark(view, r, "is-changed", "attention row moved"));
    }
    view.row = -1;
    selectRow(view, view.m.rowOfStep[Math.min(step, data.target_tokens.length - 1)] || 0, false);
    fit(view);
  }

  function mark(view, row, cls, note) {
    const label = view.yLabels[row];
    if (!label) return;
    label.classList.add(cls);
    label.title += ` (${note})`;
  }

  function fit(view) { // cells share the width (30 to 56 px, else scroll); numbers and horizontal labels only if they fit
    const grid = view.map && view.map.firstChild, label = grid && grid.querySelector(".bmm-hm-y");
    if (!label || !view.map.clientWidth) return;
    const S = view.m.srcLabels.length;
    const free = view.map.clientWidth - 8 - Math.max(...view.yLabels.map((y) => y.getBoundingClientRect().width)) - S;
    const width = Math.min(Math.max(Math.floor(free / S), 30), 56);
    grid.style.gridTemplateColumns = `minmax(3em, max-content) repeat(${S}, ${width}px)`;
    view.map.classList.toggle("bmm-hm-numbers", width >= NUMBERS_MIN_PX);
    const longest = Math.max(...view.m.srcLabels.map((l) => l.length));
    view.map.classList.toggle("bmm-hm-vertical", longest * 8 + 8 > width);
  }

  // ---- selection ----------------------------------------------------------------------------------------
  function selectRow(view, row, byUser) {
    const m = view.m;
    row = Math.min(Math.max(row, 0), m.tgtLabels.length - 1);
    if (view.row >= 0) {
      view.yLabels[view.row].classList.remove("is-selected");
      view.radios[view.row].setAttribute("aria-checked", "false");
      view.radios[view.row].tabIndex = -1;
    }
    view.row = row;
    view.step = m.tg[row][0];
    view.rowMark.style.gridRow = String(row + 2);
    view.yLabels[row].classList.add("is-selected");
    view.radios[row].setAttribute("aria-checked", "true");
    view.radios[row].tabIndex = 0;
    m.weights[row].forEach((w, c) => { paint(view.chips[c], w); view.chips[c].lastChild.textContent = fmt(w); });
    clearColumn(view);
    view.detail.replaceChildren(...detail(view, row), ...(view.words ? [] : explainDetail(view, view.step)));
    if (!view.words) showOcclusion(view, view.step);
    view.map.setAttribute("aria-label", `Attention heatmap, ${m.tgtLabels.length} target × ${m.srcLabels.length} source ` +
      `${view.words ? "words" : "tokens"}; selected: ${m.tgtLabels[row]}. Left and Right arrow keys change the step.`);
    view.root.dataset.step = String(view.step);
    view.root.dataset.words = view.words ? "1" : "0";
    if (view.quiet) return; // one of several heatmaps (the Batch tab): no link, no server box, no picture to drive
    if (view.props.local) { if (byUser) notify(view); return; } // its own tab's map: its step box only
    if (byUser || !view.value.opening) writeUrl(view); // the page's own opening example needs no link until used
    if (byUser) notify(view);
    // The bmm picture of the same result follows the selected step (page/static/bmm_picture.js).
    document.dispatchEvent(new CustomEvent("bmm-step", { detail: { result: view.value.result, step: view.step } }));
  }

  function detail(view, row) {
    const m = view.m, data = view.data, step = m.tg[row][0], pieces = m.tg[row];
    const what = view.words
      ? `Word "${m.tgtLabels[row]}" (step${pieces.length > 1 ? `s ${pieces[0]}–${pieces[pieces.length - 1]}` : ` ${step}`}). `
      : `Step ${step}: "${m.tgtLabels[row]}" (p = ${data.token_probs[step].toFixed(3)}${step < data.decoding.prefix_ids.length ? ", forced" : ""}). `;
    const looked = `Looked at most: ${topColumns(m.weights[row], 3).map(([w, c]) => `${m.srcLabels[c]} ${fmt(w)}`).join(", ")}. `;
    const alternatives = `Alternatives at step ${step}: ` +
      (data.alternatives[step] || []).map((a) => `${a.token} ${(100 * a.prob).toFixed(1)}%`).join(", ") + ".";
    return [el("strong", null, what), document.createTextNode(looked + alternatives)];
  }

  function clearColumn(view) {
    view.colMark.hidden = true;
    view.yLabels.forEach((l, r) => { l.classList.remove("is-attending"); view.radios[r].classList.remove("is-attending"); });
  }

  function selectColumn(view, col) { // mark the steps whose strongest source token is this one
    const m = view.m;
    clearColumn(view);
    view.colMark.hidden = false;
    view.colMark.style.gridColumn = String(col + 2);
    let rows = m.weights.map((row, r) => [r, topColumns(row, 1)[0][1]]).filter(([, c]) => c === col).map(([r]) => r);
    const strongest = rows.length === 0;
    if (strongest) rows = [m.weights.map((row, r) => [row[col], r]).sort((a, b) => b[0] - a[0])[0][1]];
    rows.forEach((r) => { view.yLabels[r].classList.add("is-attending"); view.radios[r].classList.add("is-attending"); });
    const list = rows.map((r) => `${m.tgtLabels[r]} ${fmt(m.weights[r][col])}`).join(", ");
    view.detail.replaceChildren(el("strong", null, `Source "${m.srcLabels[col]}": `), document.createTextNode(strongest
      ? `no step attended to it most; the step that attended to it most strongly: ${list}.`
      : `it is the strongest source token of ${rows.length} step${rows.length > 1 ? "s" : ""}: ${list} (marked).`));
  }

  function moveByKey(view, event) {
    const last = view.m.tgtLabels.length - 1;
    const to = { ArrowLeft: view.row - 1, ArrowUp: view.row - 1, ArrowRight: view.row + 1, ArrowDown: view.row + 1,
      Home: 0, End: last }[event.key];
    if (to === undefined) return false;
    event.preventDefault();
    selectRow(view, Math.min(Math.max(to, 0), last), true);
    return true;
  }

  function play(view) {
    if (view.row >= view.m.tgtLabels.length - 1) selectRow(view, 0, true);
    view.play.textContent = "⏸ Pause";
    view.timer = setInterval(() => {
      if (view.row >= view.m.tgtLabels.length - 1) return stop(view);
      selectRow(view, view.row + 1, true);
    }, PLAY_MS);
  }
  function stop(view) {
    if (view.timer) clearInterval(view.timer);
    view.timer = null;
    if (view.play) view.play.textContent = "▶ Play";
  }

  // ---- the server's hidden step box, the URL, the copy button ----------------------------------------------
  function notify(view) { // debounced so that holding an arrow key sends only where it stopped
    clearTimeout(view.notifyTimer);
    view.notifyTimer = setTimeout(() => {
      const id = CSS.escape(view.props.step_elem_id || "selected-step");
      const box = document.querySelector(`#${id} textarea, #${id} input`);
      if (!box || box.value === String(view.step)) return;
      box.value = String(view.step);
      box.dispatchEvent(new Event("input", { bubbles: true }));
    }, 80);
  }

  function writeUrl(view) {
    const share = view.value.share || {}, url = new URL(window.location.href), q = url.searchParams;
    ["pair", "text", "mode", "beam", "penalty", "max_len", "prefix"].forEach((k) =>
      share[k] === undefined || share[k] === null ? q.delete(k) : q.set(k, String(share[k])));
    q.set("step", String(view.step));
    if (view.words) q.set("words", "1"); else q.delete("words");
    window.history.replaceState(window.history.state, "", url.toString());
  }

  function copyLink(view) {
    const link = window.location.href;
    const done = (text) => { view.copied.textContent = text; };
    const fallback = () => {
      view.copied.replaceChildren(document.createTextNode("Copy this link: "));
      const input = view.copied.appendChild(el("input", "bmm-hm-link", null, { readonly: "", "aria-label": "Share link" }));
      input.value = link;
      input.select();
    };
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(link).then(() => done("Link copied."), fallback);
    else fallback();
  }

  function mount(element, props, watch) {
    const view = { props, words: false, step: 0, row: -1, timer: null };
    const refresh = () => {
      view.root = element.querySelector(".bmm-hm-root") || element;
      const value = props.value && typeof props.value === "object" && props.value.translation ? props.value : null;
      const same = value && view.value && value.key === view.value.key;
      view.value = value;
      view.data = value ? value.translation : null; // the translation JSON (inference/translation.schema.json)
      view.explain = view.data ? explainRows(view.data.explanation) : null;
      if (value && !same) view.words = !!value.words;
      draw(view, same);
    };
    refresh();
    watch(["value", "label", "visible"], refresh);
    if (window.ResizeObserver) new ResizeObserver(() => fit(view)).observe(element);
  }

  // Several heatmaps in one component (the Batch tab): props.value.sentences, each a heatmap value of its own.
  function mountMany(element, props, watch) {
    const refresh = () => {
      const root = element.querySelector(".bmm-hm-many") || element;
      root.replaceChildren();
      const sentences = (props.value && props.value.sentences) || [];
      sentences.forEach((value, b) => {
        const box = root.appendChild(el("section", "bmm-hm-one", null, { "aria-label": value.title ? `Attention: ${value.title}` : `Sentence ${b}'s attention` }));
        box.appendChild(el("h3", "bmm-hm-one-title", value.title || `sentence ${b}: ${value.translation.source}`));
        const view = { props: { value, rule_text: props.rule_text }, words: false, step: 0, row: -1, timer: null,
          quiet: true, root: box.appendChild(el("div")), value, data: value.translation,
          explain: explainRows(value.translation.explanation) };
        draw(view, false);
      });
    };
    refresh();
    watch(["value"], refresh);
  }

  window.BmmHeatmap = { mount, mountMany, el };
})();
