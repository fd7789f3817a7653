/* The bmm picture: one decoding step's attention for a whole batch, drawn from the model's own numbers.
 * window.BmmPicture.mount(element, props, watch) draws props.value, either {translation: <translation JSON>}
 * (B = the decoder call's rows: 1 in greedy, the live beams in beam search) or {batch: <batch JSON>} (B = the
 * sentences still decoding), with the step in value.step. Every step switch, hover and animation happens here,
 * without the server. Tokens are user text: they reach the DOM only through textContent.
 *
 * Level 1 (what a visitor sees first): the flow of the two torch.bmm calls as stacks of B slabs, each labelled
 * with its real shape. Level 2 (a click on a tensor): that tensor's numbers for the highlighted row. */
(function () {
  "use strict";
  if (window.BmmPicture) return;
  const SVG = "http://www.w3.org/2000/svg";
  const LOOP_MS = 450; // the animation's time per product in the "Python loop" lane
  const f3 = (x) => (x === null || x === undefined ? "–" : x.toFixed(3));

  function el(tag, cls, text, attrs) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    return node;
  }
  const dot = (a, b) => a.reduce((sum, x, i) => sum + x * b[i], 0);

  // ---- one step of either JSON as B rows --------------------------------------------------------------
  function fromTranslation(doc, step) {
    const call = doc.step_calls[Math.min(step, doc.step_calls.length - 1)];
    const tensors = doc.tensors || {};
    const enc = tensors.enc_out || null, keys = tensors.keys || enc;
    const beam = doc.decoding.mode === "beam";
    const rows = call.attention.map((weights, b) => ({
      label: beam ? `beam ${b}` : "the sentence", own: b === doc.call_rows[step], tokens: doc.source_tokens,
      mask: doc.source_tokens.map(() => true), weights, enc, keys,
      query: call.query ? call.query[b] : null, scores: call.scores ? call.scores[b] : null }));
    const why = beam ? `the ${call.batch} live beam${call.batch > 1 ? "s" : ""} of this step, one row each`
      : "greedy decoding: one sentence, one row";
    return { B: call.batch, S: doc.source_tokens.length, twoH: 2 * doc.model.hidden_dim, kind: doc.model.attention,
      rows, why, queries: !!tensors.queries, steps: doc.step_calls.length,
      target: step < doc.target_tokens.length ? doc.target_tokens[step] : null };
  }

  function fromBatch(batch, step) {
    const call = batch.calls[Math.min(step, batch.calls.length - 1)];
    const S = batch.src_ids[0].length;
    const rows = call.rows.map((sentence, r) => ({
      label: `sentence ${sentence}`, own: false, sentence,
      tokens: batch.src_ids[sentence].map((_, s) => (batch.mask[sentence][s]
        ? batch.sentences[sentence].source_tokens[s] : "·pad·")),
      mask: batch.mask[sentence].map(Boolean), weights: call.attention[r], enc: batch.enc_out[sentence],
      keys: batch.keys ? batch.keys[sentence] : batch.enc_out[sentence],
      query: call.query ? call.query[r] : null, scores: call.scores ? call.scores[r] : null }));
    const gone = batch.sentences.length - call.batch;
    return { B: call.batch, S, twoH: 2 * batch.model.hidden_dim, kind: batch.model.attention, rows, queries: true,
      why: `${call.batch} sentences still decoding, padded to S = ${S}` + (gone ? `; ${gone} finished and left` : ""),
      steps: batch.calls.length, target: null };
  }

  // ---- drawing ------------------------------------------------------------------------------------------
  const BLUE = (w) => `rgb(${Math.round(247 - 239 * w)},${Math.round(251 - 203 * w)},${Math.round(255 - 148 * w)})`;
  const divergingRgb = (x, top) => { // negative orange, positive blue, 0 white
    const t = Math.max(-1, Math.min(1, x / (top || 1)));
    return t >= 0 ? [Math.round(255 - 200 * t), Math.round(255 - 120 * t), 255]
      : [255, Math.round(255 + 120 * t), Math.round(255 + 200 * t)];
  };
  const DIVERGING = (x, top) => `rgb(${divergingRgb(x, top).join(",")})`;

  function inkOn(rgb) { // black or white text, whichever keeps WCAG AA contrast on this background
    const [r, g, b] = rgb.match(/\d+/g).map((c) => { const v = c / 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.179 ? "#000" : "#fff";
  }

  // Tensors as canvases, one pixel per number, written as one ImageData (a pixel-by-pixel fillRect is 10× slower).
  function pixels(columns, rows, width, height, top, valueAt) {
    const canvas = el("canvas", "bmm-pic-canvas", null, { width: String(columns), height: String(rows), "aria-hidden": "true" });
    canvas.style.width = `${width}px`; canvas.style.height = `${height}px`;
    const ctx = canvas.getContext("2d"), image = ctx.createImageData(columns, rows), data = image.data;
    for (let y = 0; y < rows; y++) for (let x = 0; x < columns; x++) {
      const [r, g, b] = divergingRgb(valueAt(x, y), top), i = 4 * (y * columns + x);
      data[i] = r; data[i + 1] = g; data[i + 2] = b; data[i + 3] = 255;
    }
    ctx.putImageData(image, 0, 0);
    return canvas;
  }
  const strip = (values, width, height, top) => pixels(values.length, 1, width, height, top, (x) => values[x]); // a 2H row
  function matrix(rowsOfValues, width, height, top, transpose) { // S × 2H (or 2H × S)
    const R = rowsOfValues.length, C = rowsOfValues[0].length;
    return transpose ? pixels(R, C, width, height, top, (x, y) => rowsOfValues[x][y])
      : pixels(C, R, width, height, top, (x, y) => rowsOfValues[y][x]);
  }
  const maxAbs = (arrays) => Math.max(1e-9, ...arrays.flat(2).map(Math.abs));

  function tensorBox(view, name, shape, letters, slabs, deck) { // a stack of B slabs with its name and real shape
    const box = el("div", "bmm-pic-tensor", null, { "data-tensor": name });
    const title = box.appendChild(el("button", "bmm-pic-title", name, { type: "button", "aria-expanded": String(view.open === name),
      title: `Show the numbers of ${name} for the highlighted row` }));
    title.addEventListener("click", () => { view.open = view.open === name ? null : name; draw(view); });
    box.appendChild(el("div", "bmm-pic-shape", shape));
    if (letters) box.appendChild(el("div", "bmm-pic-letters", letters));
    const stack = box.appendChild(el("div", deck ? "bmm-pic-stack bmm-pic-deck" : "bmm-pic-stack"));
    if (deck) { stack.style.width = `${deck.width + 7 * (slabs.length - 1) + 8}px`; stack.style.height = `${deck.height + 7 * (slabs.length - 1) + 8}px`; }
    slabs.forEach((slab, b) => {
      slab.classList.add("bmm-pic-slab");
      slab.dataset.row = String(b);
      slab.style.setProperty("--depth", String(b));
      if (b === view.row) slab.classList.add("is-front");
      stack.appendChild(slab);
    });
    return box;
  }

  function cells(view, values, kind, rowIndex, mask) { // scores or weights of one row: focusable cells
    const line = el("div", "bmm-pic-cells");
    values.forEach((v, s) => {
      const padded = !mask[s];
      const shown = kind === "weights" ? f3(v) : padded ? "pad" : v.toFixed(1); // the label starts with what it shows
      const cell = line.appendChild(el("button", `bmm-pic-cell${padded ? " is-pad" : ""}`, shown,
        { type: "button", "data-s": String(s), "data-kind": kind, "data-value": String(v),
          "aria-label": `${shown}: ${kind} of row ${rowIndex} for source ${s} (${view.model.rows[rowIndex].tokens[s]})` +
            (padded && kind === "weights" ? ", padding, weight exactly 0" : "") }));
      cell.style.background = kind === "weights" ? BLUE(v) : DIVERGING(v, view.scoreTop);
      cell.style.color = inkOn(cell.style.background);
      const show = () => explain(view, rowIndex, s, kind);
      cell.addEventListener("mouseenter", show);
      cell.addEventListener("focus", show);
      cell.addEventListener("click", () => { view.row = rowIndex; explain(view, rowIndex, s, kind, true); });
    });
    return line;
  }

  function draw(view) {
    const root = view.root, value = view.value;
    root.replaceChildren();
    if (!value || !(value.translation || value.batch)) {
      root.appendChild(el("p", "bmm-pic-empty", "Translate a sentence to see its attention as batched products."));
      return;
    }
    const m = view.model = value.batch ? fromBatch(value.batch, view.step) : fromTranslation(value.translation, view.step);
    view.row = Math.min(view.row, m.B - 1);
    view.scoreTop = Math.max(1e-9, ...m.rows.flatMap((r) => (r.scores || []).filter((_, s) => r.mask[s]).map(Math.abs)));
    const box = root.appendChild(el("div", "bmm-pic", null, { "data-b": String(m.B), "data-step": String(view.step) }));
    const head = box.appendChild(el("div", "bmm-pic-head"));
    head.appendChild(el("strong", null, `Step ${view.step}${m.target ? ` (writes “${m.target}”)` : ""}: B = ${m.B}`));
    head.appendChild(el("span", null, ` — ${m.why}. S = ${m.S} source tokens, 2H = ${m.twoH}.`));
    box.appendChild(controls(view));
    const flow = box.appendChild(el("div", "bmm-pic-flow", null, { tabindex: "0", role: "group",
      "aria-label": `The two bmm calls of step ${view.step} for B = ${m.B} rows; scrolls sideways` }));
    const bmm = m.kind === "dot" || m.kind === "general";
    const qTop = maxAbs(m.rows.map((r) => r.query || [0])), eTop = maxAbs([m.rows[0].enc || [[0]]]);
    const keysWidth = Math.max(40, 10 * m.S), encHeight = Math.max(30, 6 * m.S);
    const vec = (values, top) => (values ? strip(values, 120, 14, top) : el("div", "bmm-pic-missing", "not sent"));
    flow.appendChild(tensorBox(view, "query", `(B, 1, 2H) = (${m.B}, 1, ${m.twoH})`, bmm ? `batch1: b×n×m = ${m.B}×1×${m.twoH}` : "",
      m.rows.map((r) => { const d = el("div"); d.appendChild(vec(r.query, qTop)); return d; })));
    flow.appendChild(el("div", "bmm-pic-op", bmm ? "× keysᵀ" : "additive score"));
    flow.appendChild(tensorBox(view, "keysᵀ", `(B, 2H, S) = (${m.B}, ${m.twoH}, ${m.S})`, bmm ? `batch2: b×m×p = ${m.B}×${m.twoH}×${m.S}` : "",
      m.rows.map((r) => { const d = el("div"); if (r.keys) d.appendChild(matrix(r.keys, keysWidth, 48, eTop, true)); return d; }),
      { width: keysWidth, height: 48 }));
    flow.appendChild(el("div", "bmm-pic-op", "→"));
    flow.appendChild(tensorBox(view, "scores", `(B, 1, S) = (${m.B}, 1, ${m.S})`, bmm ? `→ b×n×p = ${m.B}×1×${m.S}` : "",
      m.rows.map((r, b) => { const d = el("div"); d.appendChild(r.scores ? cells(view, r.scores, "scores", b, r.mask) : el("div", "bmm-pic-missing", "not a bmm")); return d; })));
    flow.appendChild(el("div", "bmm-pic-op", "mask → softmax →"));
    flow.appendChild(tensorBox(view, "weights", `(B, 1, S) = (${m.B}, 1, ${m.S})`, `batch1: b×n×m = ${m.B}×1×${m.S}`,
      m.rows.map((r, b) => { const d = el("div"); d.appendChild(cells(view, r.weights, "weights", b, r.mask)); return d; })));
    flow.appendChild(el("div", "bmm-pic-op", "× enc_out"));
    flow.appendChild(tensorBox(view, "enc_out", `(B, S, 2H) = (${m.B}, ${m.S}, ${m.twoH})`, `batch2: b×m×p = ${m.B}×${m.S}×${m.twoH}`,
      m.rows.map((r) => { const d = el("div"); if (r.enc) d.appendChild(matrix(r.enc, 120, encHeight, eTop, false)); return d; }),
      { width: 120, height: encHeight }));
    flow.appendChild(el("div", "bmm-pic-op", "→"));
    flow.appendChild(tensorBox(view, "context", `(B, 1, 2H) = (${m.B}, 1, ${m.twoH})`, `→ b×n×p = ${m.B}×1×${m.twoH}`,
      m.rows.map((r) => { const d = el("div"); if (r.enc) d.appendChild(strip(context(r), 120, 14, eTop)); return d; })));
    view.detail = box.appendChild(el("p", "bmm-pic-detail", "Hover or focus a score or a weight to see which numbers meet.",
      { "aria-live": "polite" }));
    box.appendChild(lanes(view));
    if (view.open) box.appendChild(numbers(view));
    markFront(view);
  }

  function context(row) { // Σ_s weight_s · enc_out_s: the second bmm, for one row, from the JSON's numbers
    return row.enc[0].map((_, i) => row.weights.reduce((sum, w, s) => sum + w * row.enc[s][i], 0));
  }

  function controls(view) {
    const bar = el("div", "bmm-pic-controls");
    const m = view.model;
    const prev = bar.appendChild(el("button", null, "◀ step", { type: "button", "aria-label": "Previous step" }));
    const next = bar.appendChild(el("button", null, "step ▶", { type: "button", "aria-label": "Next step" }));
    prev.disabled = view.step <= 0; next.disabled = view.step >= m.steps - 1;
    prev.addEventListener("click", () => goTo(view, view.step - 1));
    next.addEventListener("click", () => goTo(view, view.step + 1));
    const label = bar.appendChild(el("label", "bmm-pic-rowpick", "Highlighted row: "));
    const select = label.appendChild(el("select", null, null, { "aria-label": "Highlighted row of the batch" }));
    m.rows.forEach((r, b) => select.appendChild(el("option", null, `${b}: ${r.label}${r.own ? " ★ shown" : ""}`, { value: String(b) })));
    select.value = String(view.row);
    select.addEventListener("change", () => { view.row = Number(select.value); markFront(view); if (view.open) draw(view); });
    const play = bar.appendChild(el("button", "bmm-pic-play", "▶ Play: loop vs bmm", { type: "button" }));
    play.addEventListener("click", () => animate(view));
    return bar;
  }

  function goTo(view, step) { // a new step: the shown hypothesis' own row comes to the front
    view.step = step;
    const doc = view.value.translation;
    if (doc && step < doc.call_rows.length) view.row = doc.call_rows[step];
    draw(view);
  }

  function markFront(view) {
    view.root.querySelectorAll(".bmm-pic-slab").forEach((slab) => slab.classList.toggle("is-front", Number(slab.dataset.row) === view.row));
  }

  // The timing button's wording and action. The served page times on its server (its own button, outside the
  // picture); a page without a server passes props.measure = {label, loop_title, bmm_title, run(B, S, twoH) →
  // Promise of {B, S, bmm_us, loop_us, where}} and the picture draws the button and says where it measured.
  const SERVER_TIMING = { label: "Measure loop vs bmm on this server", loop_title: "A Python loop: B products one after another",
    bmm_title: "torch.bmm: all B in one call" };

  function lanes(view) { // the same B products: one call, or B calls one after another
    const m = view.model, t = view.value.timing, own = view.props.measure || null, opt = { ...SERVER_TIMING, ...own };
    const box = el("div", "bmm-pic-lanes");
    const timing = (name) => (t && t.B === m.B && t.S === m.S ? ` — measured ${t.where || "on this server"}: ${t[name].toFixed(1)} µs per call`
      : ` — press “${opt.label}” for this B and S`);
    if (own) {
      const button = box.appendChild(el("button", "bmm-pic-measure", opt.label, { type: "button" }));
      button.addEventListener("click", () => {
        button.disabled = true;
        button.textContent = "Measuring…";
        const value = view.value;
        own.run(m.B, m.S, m.twoH).then((measured) => {
          if (view.value !== value) return; // a new translation came meanwhile
          view.value = { ...value, timing: measured };
          draw(view);
        }, (error) => { button.disabled = false; button.textContent = `${opt.label} (failed: ${error.message || error})`; });
      });
    }
    const lane = (title, note) => {
      const row = box.appendChild(el("div", "bmm-pic-lane"));
      row.appendChild(el("div", "bmm-pic-lane-title", title + note));
      const track = row.appendChild(el("div", "bmm-pic-track"));
      m.rows.forEach((_, b) => track.appendChild(el("span", "bmm-pic-product", `${b}`, { "data-row": String(b) })));
      return track;
    };
    view.loopTrack = lane(opt.loop_title, timing("loop_us"));
    view.bmmTrack = lane(opt.bmm_title, timing("bmm_us"));
    box.appendChild(el("p", "bmm-pic-tutorial", "The PyTorch tutorial's torch.bmm(attn_weights.unsqueeze(0), " +
      "encoder_outputs.unsqueeze(0)) is the b = 1 case of the second call; ours is context = torch.bmm(weights, enc_out) " +
      `with b = B = ${m.B}.`));
    return box;
  }

  function animate(view) {
    clearTimeout(view.timer);
    const loop = [...view.loopTrack.children], all = [...view.bmmTrack.children];
    loop.concat(all).forEach((p) => p.classList.remove("is-done"));
    all.forEach((p) => p.classList.add("is-done")); // one call: every product at once
    let b = 0;
    const tick = () => { if (b < loop.length) { loop[b].classList.add("is-done"); b += 1; view.timer = setTimeout(tick, LOOP_MS); } };
    tick();
  }

  function explain(view, b, s, kind, pinned) {
    const m = view.model, row = m.rows[b];
    view.root.querySelectorAll(".is-lit").forEach((n) => n.classList.remove("is-lit"));
    view.root.querySelectorAll(`.bmm-pic-slab[data-row="${b}"] .bmm-pic-cell[data-s="${s}"]`).forEach((n) => n.classList.add("is-lit"));
    view.root.querySelectorAll(`.bmm-pic-tensor[data-tensor="${kind === "scores" ? "query" : "enc_out"}"] .bmm-pic-slab[data-row="${b}"],` +
      `.bmm-pic-tensor[data-tensor="${kind === "scores" ? "keysᵀ" : "weights"}"] .bmm-pic-slab[data-row="${b}"]`)
      .forEach((n) => n.classList.add("is-lit"));
    if (pinned) { view.row = b; markFront(view); }
    const token = row.tokens[s];
    if (kind === "scores") {
      const v = row.scores[s];
      const terms = row.query && row.keys ? row.query.slice(0, 3).map((q, i) => `${q.toFixed(3)}×${row.keys[s][i].toFixed(3)}`).join(" + ") : "";
      view.detail.textContent = `scores[${b}, 0, ${s}] = query[${b}] · keys[${b}, ${s}] (${token}) = ` +
        (terms ? `${terms} + … (${m.twoH} products) = ` : "") + `${v.toFixed(4)}` +
        (row.mask[s] ? "" : "; padding: the mask sets it to −1e9 before the softmax");
    } else {
      const w = row.weights[s];
      const head = row.enc ? row.enc[s].slice(0, 4).map((x) => x.toFixed(3)).join(", ") : "";
      view.detail.textContent = `weights[${b}, 0, ${s}] = ${w.toFixed(4)} scales enc_out[${b}, ${s}] (${token})` +
        (head ? ` = [${head}, …] in context[${b}]` : "") + (row.mask[s] ? "" : "; a padded position: its weight is exactly 0");
    }
  }

  function numbers(view) { // level 2: the open tensor's numbers for the highlighted row
    const m = view.model, row = m.rows[view.row], name = view.open;
    const wrap = el("div", "bmm-pic-numbers", null, { tabindex: "0", role: "region", "aria-label": `${name} numbers (scrolls)` });
    wrap.appendChild(el("p", null, `${name}, row ${view.row} (${row.label}):`));
    const table = wrap.appendChild(el("table"));
    const add = (cellsOfRow) => { const tr = table.appendChild(el("tr")); cellsOfRow.forEach((c) => tr.appendChild(el("td", null, c))); };
    if (name === "scores" || name === "weights") {
      add(["source", ...row.tokens]);
      add([name, ...(row[name] || []).map((v, s) => (name === "weights" && !row.mask[s] ? String(v) : f3(v)))]);
    } else if (name === "query" || name === "context") {
      const values = name === "query" ? row.query : context(row);
      if (values) add(["i", ...values.map((_, i) => String(i))]), add([name, ...values.map(f3)]);
    } else {
      const mat = name === "keysᵀ" ? row.keys : row.enc;
      if (mat) mat.forEach((vals, s) => add([`${s} ${row.tokens[s]}`, ...vals.map(f3)]));
    }
    return wrap;
  }

  function mount(element, props, watch) {
    const view = { props, step: 0, row: 0, open: null, timer: null };
    const refresh = () => {
      view.root = element.querySelector(".bmm-pic-root") || element;
      const value = props.value && typeof props.value === "object" ? props.value : null;
      const fresh = !view.value || !value || value.key !== view.value.key;
      view.value = value;
      if (value && fresh) {
        view.open = null; view.row = 0;
        goTo(view, value.step || 0);
      } else draw(view);
    };
    refresh();
    watch(["value"], refresh);
    document.addEventListener("bmm-step", (event) => { // the heatmap's step selection, followed without a server call
      const d = event.detail || {};
      if (!view.value || !view.value.translation || d.result !== view.value.result || d.step === view.step) return;
      goTo(view, d.step);
    });
  }

  window.BmmPicture = { mount, fromTranslation, fromBatch };
})();
