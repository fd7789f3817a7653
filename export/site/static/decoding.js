/* Greedy and beam search in the browser: inference/decoding.py rule for rule, for one sentence.
 *
 *   const hyps = await BmmDecoding.beamSearch(step, hidden, bos, eos, maxLen, beamSize, alpha, nBest, topK);
 *
 * step(prev (N ids), hidden (Float32Array N × D), rows (N ids)) resolves to {logProbs (N × V), hidden (N × D),
 * attention (N × S)}, each a flat Float32Array: the decoder.onnx call of one step, N rows at once (1 in greedy,
 * the live beams in beam search). Sums and comparisons are in float64 on the float32 outputs, as numpy does;
 * ties go to the lower beam, then the lower token id (numpy's argmax and lexsort). A hypothesis is
 * {ids, tokenLogProbs, attention (T rows), topIds, topLogProbs, score, normalizedScore, finished, stepRows}. */
(function (root) {
  "use strict";

  // GNMT length penalty ((5 + length) / 6) ** alpha; alpha = 0 ranks by raw log-probability.
  const lengthPenalty = (length, alpha) => Math.pow((5.0 + length) / 6.0, alpha);

  // numpy's sum of a float64 vector (pairwise, blocks of 8), so scores agree to the last bit.
  function pairwiseSum(a, start, n) {
    if (n < 8) {
      let res = 0.0; // numpy starts from -0.0 and adds; 0.0 gives the same for any non-empty sum of reals
      if (n === 0) return 0.0;
      res = a[start];
      for (let i = 1; i < n; i++) res += a[start + i];
      return res;
    }
    if (n <= 128) {
      const r = [];
      for (let j = 0; j < 8; j++) r.push(a[start + j]);
      let i = 8;
      for (; i < n - (n % 8); i += 8) for (let j = 0; j < 8; j++) r[j] += a[start + i + j];
      let res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
      for (; i < n; i++) res += a[start + i];
      return res;
    }
    let n2 = Math.floor(n / 2);
    n2 -= n2 % 8;
    return pairwiseSum(a, start, n2) + pairwiseSum(a, start + n2, n - n2);
  }
  const sum = (values) => pairwiseSum(values, 0, values.length);

  // The k best (ids, log-probs) of row `r` of an (N, V) array, best first, ties to the lower id: k rounds of
  // argmax (the first maximum wins, as numpy's), each pick masked with -inf and restored afterwards.
  function topK(logProbs, V, r, k) {
    k = Math.min(k, V);
    const row = logProbs.subarray(r * V, (r + 1) * V), ids = [], values = [];
    for (let j = 0; j < k; j++) {
      let best = 0, bestValue = row[0];
      for (let v = 1; v < V; v++) if (row[v] > bestValue) { best = v; bestValue = row[v]; }
      ids.push(best);
      values.push(row[best]);
      row[best] = -Infinity;
    }
    for (let j = k - 1; j >= 0; j--) row[ids[j]] = values[j];
    return { ids, values };
  }

  const rowOf = (flat, r, width) => flat.slice(r * width, (r + 1) * width);

  function hypothesis(ids, logProbs, attention, topIds, topLogProbs, alpha, finished, stepRows) {
    const score = logProbs.length ? sum(logProbs) : 0.0;
    return { ids: ids.slice(), tokenLogProbs: logProbs.slice(), attention, topIds, topLogProbs, score,
      normalizedScore: score / lengthPenalty(ids.length, alpha), finished, stepRows: stepRows.slice() };
  }

  // Greedy decoding; `prefix` (ids) is fed first, then decoding continues freely (inference/decoding.py greedy_batch).
  async function greedy(step, hidden, bosId, eosId, maxLen, topKCount = 5, prefix = []) {
    const rec = { ids: [], lp: [], attn: [], topIds: [], topLp: [], rows: [] };
    let prev = [bosId];
    for (let t = 0; ; t++) {
      const out = await step(prev, hidden, [0]);
      const V = out.logProbs.length, S = out.attention.length;
      const top = topK(out.logProbs, V, 0, topKCount);
      const token = t < prefix.length ? prefix[t] : top.ids[0];
      rec.ids.push(token);
      rec.lp.push(out.logProbs[token]);
      rec.attn.push(rowOf(out.attention, 0, S));
      rec.topIds.push(top.ids);
      rec.topLp.push(top.values);
      rec.rows.push(0);
      prev = [token];
      hidden = out.hidden;
      const ended = token === eosId && t >= prefix.length - 1;
      if (ended || t + 1 >= Math.max(maxLen, prefix.length)) {
        return [hypothesis(rec.ids, rec.lp, rec.attn, rec.topIds, rec.topLp, 0.0, token === eosId, rec.rows)];
      }
    }
  }

  // One sentence's beam (inference/decoding.py _Search): live prefixes and finished hypotheses; each step's
  // records are kept once with a back-pointer to the prefix they extended.
  class Search {
    constructor(maxLen) { this.maxLen = maxLen; this.scores = [0.0]; this.steps = []; this.finished = []; }

    advance(out, D, S, V, best, top, t, beamSize, eosId, alpha) {
      const n = this.scores.length, K = best[0].ids.length, entries = [];
      for (let b = 0; b < n; b++) {
        for (let j = 0; j < K; j++) entries.push({ cand: this.scores[b] + best[b].values[j], beam: b, token: best[b].ids[j] });
      }
      // best first; ties: lower beam, then lower id (np.lexsort((beams * V + tokens, -candidates)))
      entries.sort((x, y) => (y.cand - x.cand) || ((x.beam * V + x.token) - (y.beam * V + y.token)));
      const keptBeams = [], keptTokens = [];
      for (const { beam, token } of entries.slice(0, 2 * beamSize)) {
        if (token === eosId) this.finished.push(this.hypothesis(beam, token, out, S, V, top, alpha, true));
        else { keptBeams.push(beam); keptTokens.push(token); }
        if (keptBeams.length === beamSize) break;
      }
      if (!keptBeams.length) return null;
      const stepLp = keptBeams.map((beam, i) => out.logProbs[beam * V + keptTokens[i]]);
      this.steps.push({ parent: keptBeams, token: keptTokens, lp: stepLp,
        attn: keptBeams.map((beam) => rowOf(out.attention, beam, S)),
        topIds: keptBeams.map((beam) => top[beam].ids), topLp: keptBeams.map((beam) => top[beam].values),
        rows: keptBeams.slice() });
      this.scores = keptBeams.map((beam, i) => this.scores[beam] + stepLp[i]);
      if (this.finished.length >= beamSize &&
          Math.max(...this.finished.map((h) => h.normalizedScore)) >=
          Math.max(...this.scores) / lengthPenalty(this.steps.length, alpha)) return null;
      if (t + 1 >= this.maxLen) {
        this.scores.forEach((_, beam) => this.finished.push(this.hypothesis(beam, null, null, S, V, null, alpha, false)));
        return null;
      }
      return keptBeams;
    }

    hypothesis(beam, token, out, S, V, top, alpha, finished) {
      const records = [], ids = [];
      if (token !== null) {
        records.push([out.logProbs[beam * V + token], rowOf(out.attention, beam, S), top[beam].ids, top[beam].values, beam]);
        ids.push(token);
      }
      for (let i = this.steps.length - 1; i >= 0; i--) {
        const step = this.steps[i];
        records.push([step.lp[beam], step.attn[beam], step.topIds[beam], step.topLp[beam], step.rows[beam]]);
        ids.push(step.token[beam]);
        beam = step.parent[beam];
      }
      records.reverse();
      ids.reverse();
      return hypothesis(ids, records.map((r) => r[0]), records.map((r) => r[1]), records.map((r) => r[2]),
        records.map((r) => r[3]), alpha, finished, records.map((r) => r[4]));
    }
  }

  // Beam search (inference/decoding.py beam_search_batch for a batch of one): the live beams share one decoder
  // call per step; returns the nBest best finished hypotheses by normalized score.
  async function beamSearch(step, hidden, bosId, eosId, maxLen, beamSize = 5, alpha = 0.6, nBest = 1, topKCount = 5) {
    const search = new Search(maxLen);
    let prev = [bosId], rows = [0];
    for (let t = 0; ; t++) {
      const out = await step(prev, hidden, rows);
      const N = prev.length, V = out.logProbs.length / N, S = out.attention.length / N, D = out.hidden.length / N;
      const best = [], top = [];
      for (let r = 0; r < N; r++) {
        const b = topK(out.logProbs, V, r, Math.max(topKCount, 2 * beamSize));
        best.push(b);
        top.push({ ids: b.ids.slice(0, topKCount), values: b.values.slice(0, topKCount) });
      }
      const kept = search.advance(out, D, S, V, best, top, t, beamSize, eosId, alpha);
      if (kept === null) break;
      const next = new Float32Array(kept.length * D);
      kept.forEach((beam, i) => next.set(out.hidden.subarray(beam * D, (beam + 1) * D), i * D));
      hidden = next;
      prev = search.steps[search.steps.length - 1].token.slice();
      rows = kept.map(() => 0);
    }
    const order = search.finished.map((h, i) => [h, i]).sort((a, b) => (b[0].normalizedScore - a[0].normalizedScore) || (a[1] - b[1]));
    return order.slice(0, nBest).map(([h]) => h);
  }

  const api = { lengthPenalty, pairwiseSum, topK, greedy, beamSearch };
  if (typeof module !== "undefined" && module.exports) module.exports = api;
  else root.BmmDecoding = api;
})(typeof window !== "undefined" ? window : globalThis);
