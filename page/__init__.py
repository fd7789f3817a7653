"""The web page: translate a sentence and see, poke and download what the bmm attention did.

The rooms (app.py at the repository root builds the page from them and serves it):

| module | what it holds |
|---|---|
| `layout` | the Blocks: where each component sits, which handler each event calls; `launch` (queue, limits, guard) |
| `handlers` | `DemoApp`: every handler of the page and the API (`/translate`, `/explain`), as plain methods |
| `state` | `Shown`, the one typed value of what the page shows, and the bounded server-side `ResultCache` |
| `limits` | every limit (beam, length, α, queue, caches) and the checks of a request's settings |
| `api` | loading the bundles, and the route guard that keeps all but the documented API closed |
| `share` | share links: the page's state in its address, read back with every value checked |
| `translate_tab` | the Translate tab's outputs (`ResultViews`) for a result, a message, a cleared page, one step |
| `heatmap` | the attention heatmap component (drawn by `static/heatmap.js` from the translation JSON), word rule |
| `bmm_panel` | "how bmm computes this step" with the real shapes, and the live bmm-vs-loop timing |
| `batch_tab` | the Batch tab: several sentences as one padded batch, with that batch's real numbers |
| `what_if_tab` | the What if? tab: edit one step's attention, the beam-search tree, two sentences compared; `/what_if`, `/compare` |
| `what_if_views` | its views as values and Markdown (pure functions) |
| `reference` | scoring a pasted reference translation (forced decoding, sentence BLEU/chrF) |
| `downloads` | the JSON (the translation document) and CSV downloads, written whole or not at all |
| `model_card` | the Model card tab: data, licence, citation, model, files, scores |
| `style` | theme, CSS, head script and the header with the one-line answer |
| `text` | rendering user text literally in Markdown and plot labels |
| `static/` | the browser side: `heatmap.js`, `heatmap_rule.js`, `heatmap.css`, `what_if.js` + `what_if.css` (the attention editor and the beam tree) |

Every view reads a `Shown` or its translation JSON (inference/translation.schema.json, written only by
inference.document.translation_json). Nothing here imports torch, onnxruntime, training or export: models run
only through `inference`.
"""
