/* What the model accepts as text: inference/source_text.py's check_text, with the same one-line messages.
 *
 *   const ids = BmmSourceText.checkText(text, encode, isKnown, "en");  // token ids (no EOS), or throws InputError
 *
 * encode(text) gives the tokenizer's ids; isKnown(char) says whether the vocabulary has that character (the
 * BPE model has no byte fallback: any other character becomes <unk>). Lengths count code points, as Python does. */
(function (root) {
  "use strict";
  const MAX_CHARS = 300;
  const MAX_TOKENS = 100; // source tokens including EOS
  const LANGUAGE_NAMES = { en: "English", de: "German", fr: "French", cs: "Czech" };
  const languageName = (code) => LANGUAGE_NAMES[code] || code;

  class InputError extends Error {}

  const CONTROL = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}]/u;
  const NOT_PRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]/u;
  // Python's str.split() / str.strip() whitespace
  const SPACE = /[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/u;

  function pyRepr(text) { // Python's repr() of a str
    const chars = [...text];
    const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
    const body = chars.map((c) => {
      if (c === quote || c === "\\") return "\\" + c;
      if (c === "\t") return "\\t";
      if (c === "\n") return "\\n";
      if (c === "\r") return "\\r";
      const code = c.codePointAt(0);
      if (c !== " " && (NOT_PRINTABLE.test(c) || code < 0x20 || code === 0x7f)) {
        if (code < 0x100) return "\\x" + code.toString(16).padStart(2, "0");
        if (code < 0x10000) return "\\u" + code.toString(16).padStart(4, "0");
        return "\\U" + code.toString(16).padStart(8, "0");
      }
      return c;
    }).join("");
    return quote + body + quote;
  }

  const words = (text) => text.split(new RegExp(SPACE.source + "+", "u")).filter(Boolean);
  const byCodePoint = (a, b) => { // Python sorts str by code point; JS by UTF-16 unit
    const x = [...a].map((c) => c.codePointAt(0)), y = [...b].map((c) => c.codePointAt(0));
    for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
    return x.length - y.length;
  };

  // The characters of `text` the tokenizer turns into <unk>: a character (or a base with its marks, which the
  // NFKC normaliser may compose into one known character) whose normalised form has a character not in the vocabulary.
  function unknownPieces(text, isKnown) {
    const known = (s) => [...s.normalize("NFKC")].every((c) => SPACE.test(c) || isKnown(c));
    const found = new Set();
    const graphemes = typeof Intl !== "undefined" && Intl.Segmenter
      ? [...new Intl.Segmenter("en", { granularity: "grapheme" }).segment(text)].map((g) => g.segment) : [...text];
    for (const g of graphemes) {
      if (known(g)) continue;
      for (const c of g) if (!known(c)) found.add(c);
    }
    return [...found].sort(byCodePoint);
  }

  function checkText(text, encode, isKnown, language, what = "input", maxChars = MAX_CHARS) {
    if (typeof text !== "string") throw new InputError(`The ${what} is not text; pass a string.`);
    if (!words(text).length) {
      throw new InputError(what === "input" ? `The ${what} is empty: type a sentence to translate.`
        : `The ${what} is empty: paste a sentence.`);
    }
    const length = [...text].length;
    if (maxChars !== null && length > maxChars) {
      throw new InputError(`The ${what} has ${length} characters; the limit is ${maxChars}. Translate one sentence at a time.`);
    }
    const bad = [...text].filter((c) => CONTROL.test(c) && c !== "\t" && c !== "\n");
    if (bad.length) {
      throw new InputError(`The ${what} contains control characters (${bad.slice(0, 3).map(pyRepr).join(", ")}); remove them and try again.`);
    }
    const clean = words(text).join(" ");
    const ids = encode(clean);
    const unknown = unknownPieces(clean, isKnown);
    if (unknown.length) {
      throw new InputError(`The model has never seen ${unknown.slice(0, 3).map(pyRepr).join(", ")}: it reads ` +
        `${languageName(language)} written in the Latin alphabet.`);
    }
    if (ids.length + 1 > MAX_TOKENS) {
      throw new InputError(`The ${what} is ${ids.length} tokens long; the limit is ${MAX_TOKENS - 1}. Shorten it.`);
    }
    return ids;
  }

  const api = { MAX_CHARS, MAX_TOKENS, InputError, checkText, languageName, pyRepr, unknownPieces };
  if (typeof module !== "undefined" && module.exports) module.exports = api;
  else root.BmmSourceText = api;
})(typeof window !== "undefined" ? window : globalThis);
