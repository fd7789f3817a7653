"""The page's theme, style sheet, head script and header: the one-line answer the page opens with."""

from __future__ import annotations

import gradio as gr

THEME = gr.themes.Soft(
    primary_hue="indigo",
    secondary_hue="orange",
    font=["ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "sans-serif"],
    font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"],
).set(
    # Soft's indigo-500 labels on indigo-100 reach only 3.6:1 and white on indigo-500 4.5:1 minus a hair:
    # darker shades keep every label and button at WCAG AA (checked with axe in tests/test_browser.py).
    block_label_text_color="*primary_800",
    block_title_text_color="*primary_800",
    block_info_text_color="*neutral_600",
    button_primary_background_fill="*primary_700",
    button_primary_background_fill_hover="*primary_800",
    button_primary_text_color="white",
    checkbox_label_background_fill_selected="*primary_700",
    slider_color="*primary_700",
    link_text_color="*primary_800",
)
# Scrollable tables must be reachable by keyboard: each one that can scroll gets a tab stop and a name.
HEAD = """<script>
new MutationObserver(() => document.querySelectorAll("#bmm-panel table, #bmm-panel pre, #model-card pre, #batch-shapes table").forEach((t) => {
  if (!t.hasAttribute("tabindex")) { t.setAttribute("tabindex", "0"); t.setAttribute("aria-label", `${t.tagName === "PRE" ? "code" : "table"} (scrolls sideways)`); }
})).observe(document.documentElement, {childList: true, subtree: true});
// On a phone the header's explanation starts folded, so the first screen holds the sentence box and Translate.
new MutationObserver((_, observer) => {
  const more = document.querySelector("#header-more");
  if (!more) return;
  observer.disconnect();
  if (window.matchMedia("(max-width: 767px)").matches) more.open = false;
}).observe(document.documentElement, {childList: true, subtree: true});
</script>"""
CSS = """
.status p { margin: 0.2em 0; }
#bmm-panel table { font-size: 0.88em; display: block; overflow-x: auto; }
#bmm-panel code { font-size: 0.85em; }
#bmm-panel td:first-child, #bmm-panel td:last-child { white-space: nowrap; }
#batch-shapes table, #batch-step-view table, #batch-translations table { font-size: 0.85em; display: block; overflow-x: auto; }
#batch-shapes td, #batch-shapes th, #batch-step-view td, #batch-step-view th { white-space: nowrap; padding: 2px 5px; }
#alternatives label { font-family: ui-monospace, Menlo, Consolas, monospace; }
[data-testid="min-value"], [data-testid="max-value"], footer, footer a, footer button { color: #374151 !important; }
#bmm-panel h2, #batch-step-view h2 { font-size: 1.1em; margin: 0.2em 0 0.5em; }  /* h2 so headings go in order */
button[role="tab"].selected { color: #3730a3; }  /* indigo-500 on white is 4.46:1 */
.comment { color: #4b5563 !important; }  /* code comments: slate grey was 3.7:1 */
.builtin { color: #6d28d9 !important; }  /* builtins (float) at AA contrast */
:focus-visible { outline: 3px solid #1d4ed8 !important; outline-offset: -3px; }  /* inside, so scroll boxes keep it */
/* Phones: the sentence box and Translate, then the result and the heatmap, then the examples. */
@media (max-width: 767px) {
  #translate-row { flex-direction: column; align-items: stretch; }
  #input-column { display: contents; }
  #input-column > :has(#source) { order: -2; }  /* the sentence box (in Gradio's form), Translate, settings */
  #translate { order: -1; }
  #header-more summary { font-weight: 600; }
  #result-column { order: 1; width: 100%; min-width: 0; }
  #examples { order: 2; }
  /* The sentence box and Translate first, then the picture, then the rest of the tab. */
  #picture-block ~ * { order: 3; }
  #translate-row { order: 1; }
  #picture-block { order: 2; }
  /* Four tabs fit a 390 px screen with half of Gradio's padding, so none hides behind the overflow menu. */
  .tab-wrapper .tab-container > button { padding: 0 var(--size-2); }  /* the measured copies too */
}
"""
ONE_LINE = "**For B sentences, attention is B independent small matrix products; `torch.bmm` does all B in one call.**"
PAGE_HEADER = f"""# What does attention look at?
{ONE_LINE}

<details open id="header-more"><summary>How to read the picture, and what the models know</summary>

At every output token the decoder's attention is two `torch.bmm` calls: `scores = query × keysᵀ`, then
`context = weights × enc_out`. The picture draws one step of a beam search, whose decoder call really runs B
live beams at once: one slab per beam. Hover a score or a weight to see which numbers meet; **click a target
token** below to move the step; the **Batch** tab runs several sentences through the same calls.
The models know **image captions** (Multi30k, non-commercial research and education only) and **short everyday
sentences** (Tatoeba, CC BY 2.0 FR); the **Model card** tab has their scores and credits.

</details>"""
