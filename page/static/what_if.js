/* The What if? tab's two drawn views (loaded by page/what_if_tab.py through gr.HTML's head):
 *   window.BmmWhatIf.mountEditor: one step's attention row as a slider per source token; clicking a token puts all
 *     weight on it. Each edit is written (as JSON {step, weights}) into the hidden box #<props.box_id>; the server
 *     renormalises, runs the step's output layer on the edited context and answers with the new top 5.
 *   window.BmmWhatIf.mountTree: the beam search's tree (the translation JSON's beam_tree), one column per depth with
 *     its B; clicking a node writes {depth, index} into #<props.box_id> and the server draws that prefix's heatmap.
 * Tokens are user text: they reach the DOM only through textContent. */
(function () {
  "use strict";
  if (window.BmmWhatIf) return;

  const el = window.BmmHeatmap.el; // heatmap.js, loaded first: the same DOM helper

  function send(boxId, payload) { // the hidden textbox a server handler listens to (.change)
    const id = CSS.escape(boxId);
    const box = document.querySelector(`#${id} textarea, #${id} input`);
    if (!box) return;
    box.value = JSON.stringify(payload);
    box.dispatchEvent(new Event("input", { bubbles: true }));
  }

  // ---- the attention editor ---------------------------------------------------------------------------------
  function mountEditor(element, props, watch) {
    let timer = null;
    const refresh = () => {
      const root = element.querySelector(".bmm-wi-root") || element;
      root.replaceChildren();
      const value = props.value;
      if (!value || !Array.isArray(value.tokens)) {
        root.appendChild(el("p", "bmm-wi-empty", "Decode a sentence to edit one step's attention."));
        return;
      }
      const weights = value.weights.slice(), model = value.model_weights;
      const submit = () => { clearTimeout(timer); timer = setTimeout(() => send(props.box_id, { step: value.step, weights }), 60); };
      root.appendChild(el("p", "bmm-wi-title", `Step ${value.step} ("${value.target}"): its weights over the ` +
        `${value.tokens.length} source tokens. Click a token to put all weight on it, or drag its slider ` +
        `(the row is renormalised to sum 1).`));
      const list = root.appendChild(el("div", "bmm-wi-rows", null, { role: "group", "aria-label": `Attention weights of step ${value.step}` }));
      const outputs = [];
      value.tokens.forEach((token, j) => {
        const row = list.appendChild(el("div", "bmm-wi-row"));
        const pick = row.appendChild(el("button", "bmm-wi-token", token, { type: "button", "data-col": String(j),
          title: `put all weight on source token ${j} (${token})` }));
        const slider = row.appendChild(el("input", "bmm-wi-slider", null, { type: "range", min: "0", max: "1", step: "0.01",
          "aria-label": `weight of source token ${j}, ${token}`, "data-col": String(j) }));
        slider.value = String(weights[j]);
        const number = row.appendChild(el("span", "bmm-wi-value", weights[j].toFixed(2)));
        row.appendChild(el("span", "bmm-wi-model", `model ${model[j].toFixed(2)}`));
        outputs.push([slider, number]);
        pick.addEventListener("click", () => {
          weights.fill(0);
          weights[j] = 1;
          outputs.forEach(([s, n], k) => { s.value = String(weights[k]); n.textContent = weights[k].toFixed(2); });
          submit();
        });
        slider.addEventListener("input", () => { weights[j] = Number(slider.value); number.textContent = weights[j].toFixed(2); });
        slider.addEventListener("change", () => {
          if (!weights.some((w) => w > 0)) { number.textContent = "sum 0"; return; }
          submit();
        });
      });
      const bar = root.appendChild(el("div", "bmm-wi-bar"));
      const reset = bar.appendChild(el("button", "bmm-wi-reset", "Reset to the model's weights", { type: "button" }));
      reset.addEventListener("click", () => {
        model.forEach((w, k) => { weights[k] = w; outputs[k][0].value = String(w); outputs[k][1].textContent = w.toFixed(2); });
        submit();
      });
      if (value.edited) bar.appendChild(el("span", "bmm-wi-note", "Shown: your weights after renormalising."));
    };
    refresh();
    watch(["value"], refresh);
  }

  // ---- the beam tree --------------------------------------------------------------------------------------
  const STATUS = { kept: "kept", ended: "ended with </s>", pruned: "pruned", max_len: "stopped at max length" };

  function mountTree(element, props, watch) {
    const refresh = () => {
      const root = element.querySelector(".bmm-tree-root") || element;
      root.replaceChildren();
      const tree = props.value && props.value.beam_tree;
      if (!tree) {
        root.appendChild(el("p", "bmm-wi-empty", "Run a beam search to see its tree."));
        return;
      }
      const legend = root.appendChild(el("p", "bmm-tree-legend"));
      legend.textContent = `Beam size ${tree.beam_size}. Each column is one decoder call (depth t = target token t) ` +
        "with its B, the live prefixes it extended; its nodes are the candidates the search ranked, best first, " +
        "each with its summed log-probability. Solid: kept; ■ ended with </s> (#n = rank in the n-best list); " +
        "dashed: pruned. Click a node to see its prefix's heatmap.";
      const scroll = root.appendChild(el("div", "bmm-tree-scroll", null, { tabindex: "0", role: "region", "aria-label": "Beam-search tree (scrolls sideways)" }));
      const columns = scroll.appendChild(el("div", "bmm-tree-columns"));
      tree.depths.forEach((depth, d) => {
        const column = columns.appendChild(el("div", "bmm-tree-depth", null, { "data-depth": String(d) }));
        column.appendChild(el("div", "bmm-tree-head", `t = ${d} · B = ${depth.batch}`));
        depth.nodes.forEach((node, i) => {
          const rank = node.nbest === null || node.nbest === undefined ? "" : ` #${node.nbest + 1}`;
          const parent = node.parent < 0 ? "the start" : `node ${node.parent} of t = ${d - 1} (${tree.depths[d - 1].nodes[node.parent].token})`;
          const button = column.appendChild(el("button", `bmm-tree-node is-${node.status}`, null, {
            type: "button", "data-depth": String(d), "data-index": String(i), "data-status": node.status,
            title: `${STATUS[node.status]}; extends ${parent}; token log p ${node.log_prob.toFixed(3)}` }));
          button.appendChild(el("span", "bmm-tree-token", node.token));
          button.appendChild(el("span", "bmm-tree-score", `${node.score.toFixed(2)}${node.status === "ended" ? " ■" : ""}${rank}`));
          button.appendChild(el("span", "bmm-hm-sr", `, ${STATUS[node.status]}`)); // read, not shown (heatmap.css)
          button.addEventListener("click", () => {
            root.querySelectorAll(".bmm-tree-node.is-selected").forEach((n) => n.classList.remove("is-selected"));
            button.classList.add("is-selected");
            markPath(root, tree, d, i);
            send(props.box_id, { key: props.value.key, depth: d, index: i });
          });
        });
      });
    };
    refresh();
    watch(["value"], refresh);
  }

  function markPath(root, tree, depth, index) { // the selected node's ancestors
    root.querySelectorAll(".bmm-tree-node.on-path").forEach((n) => n.classList.remove("on-path"));
    for (let d = depth, i = index; d >= 0 && i >= 0; i = tree.depths[d].nodes[i].parent, d -= 1) {
      const node = root.querySelector(`.bmm-tree-node[data-depth="${d}"][data-index="${i}"]`);
      if (node) node.classList.add("on-path");
    }
  }

  window.BmmWhatIf = { mountEditor, mountTree };
})();
