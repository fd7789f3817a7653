/* The word rule and the palette of the attention heatmap (static/heatmap.js uses them).
 * The word rule mirrors app_heatmap.word_groups / word_labels / merge_attention; the tests compare them. */
(function () {
  "use strict";
  if (window.BmmHeatmapRule) return;
  const WORD = "\u2581";
  // ColorBrewer "Blues", 9 classes: light for 0, dark for 1, on the same absolute scale everywhere.
  const BLUES = ["#f7fbff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#08519c", "#08306b"]
    .map((hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)));
  // ---- the word rule (mirrors app_heatmap.word_groups / merge_attention) --------------------------
  const isSpecial = (t) => t.length > 2 && t[0] === "<" && t[t.length - 1] === ">";
  const isPunctuation = (t) => { const s = t.replace(/^\u2581+/, ""); return s.length > 0 && /^[\p{P}\p{S}]+$/u.test(s); };
  function wordGroups(tokens) {
    const groups = [];
    let previousAlone = true;
    tokens.forEach((token, i) => {
      const alone = isSpecial(token) || isPunctuation(token);
      if (!groups.length || alone || previousAlone || token.startsWith(WORD)) groups.push([i]);
      else groups[groups.length - 1].push(i);
      previousAlone = alone;
    });
    return groups;
  }
  const wordLabels = (tokens, groups) => groups.map((g) =>
    g.map((i) => (isSpecial(tokens[i]) ? tokens[i] : tokens[i].split(WORD).join(""))).join("") || g.map((i) => tokens[i]).join(""));
  function mergeAttention(attention, sourceGroups, targetGroups) {
    const columns = attention.map((row) => sourceGroups.map((g) => g.reduce((sum, s) => sum + row[s], 0)));
    return targetGroups.map((g) => sourceGroups.map((_, c) => g.reduce((sum, t) => sum + columns[t][c], 0) / g.length));
  }

  // ---- colour -------------------------------------------------------------------------------------
  function colour(weight) {
    const x = Math.min(Math.max(weight, 0), 1) * (BLUES.length - 1);
    const i = Math.min(Math.floor(x), BLUES.length - 2), f = x - i;
    return BLUES[i].map((c, k) => Math.round(c + (BLUES[i + 1][k] - c) * f));
  }
  function luminance(rgb) {
    const [r, g, b] = rgb.map((c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  }
  function paint(el, weight) { // background from the palette, text white or black, whichever contrasts more
    const rgb = colour(weight), l = luminance(rgb);
    el.style.backgroundColor = `rgb(${rgb.join(",")})`;
    el.style.color = (1.05 / (l + 0.05)) > ((l + 0.05) / 0.05) ? "#fff" : "#000";
  }

  window.BmmHeatmapRule = { WORD, BLUES, wordGroups, wordLabels, mergeAttention, colour, luminance, paint };
})();
