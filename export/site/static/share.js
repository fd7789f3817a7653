/* Share links on the static page: page/share.py's state_from_query, with the same checks and one-line messages,
 * so a link (?pair=…&text=…&mode=beam&beam=5&penalty=…&max_len=…&step=…&words=1&prefix=12.408) restores the
 * translation it was made from. heatmap.js writes the link; this reads it back.
 *
 *   const state = BmmShare.stateFromQuery(new URL(location.href).searchParams, ["en-de", "de-en"]);
 *   // {pair, text, mode ("greedy" | "beam search"), beam_size, length_penalty, max_len, step, words, prefix, messages}
 */
(function (root) {
  "use strict";
  // page/limits.py (a test compares them)
  const LIMITS = { MAX_CHARS: 300, MAX_BEAM: 10, MAX_LEN: 200, MAX_PENALTY: 3.0, MAX_STEP: 400 };
  const MAX_VALUE_CHARS = 1000; // longer query values are refused before any parsing
  const CONTROL = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}]/u;
  const pyRepr = (text) => (root.BmmSourceText || require("./source_text.js")).pyRepr(text);
  const codePoints = (text) => [...text].length;
  const g = (x) => String(Number(x)); // Python's f"{x:g}" for the limits used here

  const controlCharacters = (text) => [...text].some((c) => CONTROL.test(c) && c !== "\t" && c !== "\n");
  const whole = (value, low, high) => (/^[0-9]{1,4}$/.test(value) && low <= Number(value) && Number(value) <= high
    ? Number(value) : null);
  function number(value, low, high) {
    if (!/^[0-9]{1,2}(\.[0-9]{1,4})?$/.test(value)) return null;
    const x = Number(value);
    return Number.isFinite(x) && low <= x && x <= high ? x : null;
  }
  function prefix(value) { // the target ids a continued translation forces first ("12.408.7")
    if (!/^[0-9]{1,6}(\.[0-9]{1,6})*$/.test(value) || value.split(".").length - 1 >= LIMITS.MAX_LEN) return null;
    return value.split(".").map(Number);
  }
  // Python's str.strip() is true when anything but whitespace is left
  const stripped = (text) => text.replace(/^[\s\x1c-\x1f\x85]+|[\s\x1c-\x1f\x85]+$/gu, "");

  function stateFromQuery(params, pairs) {
    const get = (name) => (params instanceof URLSearchParams ? (params.has(name) ? params.get(name) : undefined) : params[name]);
    const { MAX_CHARS, MAX_BEAM, MAX_LEN, MAX_PENALTY, MAX_STEP } = LIMITS;
    const checks = [
      ["pair", "pair", (v) => (pairs.includes(v) ? v : null), `not one of ${pairs.join(", ")}`],
      ["text", "text", (v) => (stripped(v) && codePoints(v) <= MAX_CHARS && !controlCharacters(v) ? v : null),
        `must be 1 to ${MAX_CHARS} characters without control characters`],
      ["mode", "mode", (v) => ({ greedy: "greedy", beam: "beam search" })[v] || null, "must be greedy or beam"],
      ["beam", "beam_size", (v) => whole(v, 2, MAX_BEAM), `must be a whole number from 2 to ${MAX_BEAM}`],
      ["penalty", "length_penalty", (v) => number(v, 0.0, MAX_PENALTY), `must be a number from 0 to ${g(MAX_PENALTY)}`],
      ["max_len", "max_len", (v) => whole(v, 0, MAX_LEN), `must be a whole number from 0 to ${MAX_LEN}`],
      ["step", "step", (v) => whole(v, 0, MAX_STEP), `must be a whole number from 0 to ${MAX_STEP}`],
      ["words", "words", (v) => ({ 0: false, 1: true })[v] ?? null, "must be 0 or 1"],
      ["prefix", "prefix", prefix, `must be 1 to ${MAX_LEN} token ids joined by dots`],
    ];
    const state = { messages: [] };
    for (const [name, key, parse, rule] of checks) {
      const raw = get(name);
      if (raw === undefined) continue;
      const value = typeof raw === "string" && codePoints(raw) <= MAX_VALUE_CHARS ? parse(raw) : null;
      if (value === null) {
        const shown = codePoints(raw) > 40 ? [...raw].slice(0, 40).join("") + "…" : raw;
        state.messages.push(`Ignored ${name}=${pyRepr(shown)} from the link: it ${rule}.`);
      } else state[key] = value;
    }
    return state;
  }

  const api = { LIMITS, stateFromQuery };
  if (typeof module !== "undefined" && module.exports) module.exports = api;
  else root.BmmShare = api;
})(typeof window !== "undefined" ? window : globalThis);
