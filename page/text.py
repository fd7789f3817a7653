"""Text as the page shows it: every token is user text, so it is rendered literally, never as markup.

Markdown understands HTML, Markdown syntax and `$` maths, so each character that could be syntax becomes a
numeric entity; plotly labels understand a few HTML tags, so `<`, `>` and `&` are escaped.
"""

from __future__ import annotations

import html

SAFE_MARKDOWN = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ▁")


def md_text(text) -> str:
    """Any text as literal Markdown: every character that could be syntax becomes a numeric entity."""
    return "".join(c if c in SAFE_MARKDOWN or c.isalnum() else f"&#{ord(c)};" for c in str(text))


def md_token(token) -> str:
    return f"**{md_text(token)}**"


def plot_text(text) -> str:
    """Text for plotly labels and hover boxes: `<`, `>` and `&` escaped so tags show literally."""
    return html.escape(str(text), quote=False)
