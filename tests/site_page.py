"""The built static site served locally and opened in headless Chromium, for tests/test_site*.py."""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def build(out: Path) -> Path:
    """`python -m export.site assets --out OUT`, as a visitor's host would get it."""
    if not (ROOT / "node_modules" / "onnxruntime-web").is_dir():
        raise RuntimeError("node_modules is missing: run `npm ci` in the repository root")
    subprocess.run([sys.executable, "-m", "export.site", "assets", "--out", str(out)], cwd=ROOT, check=True)
    return out


@contextlib.contextmanager
def served(folder: Path, isolated: bool = False):
    """The site on a free port of 127.0.0.1: plain `python -m http.server`, or `python -m export.site.serve`
    (the same plus the cross-origin-isolation headers). Yields (url, server process)."""
    command = (
        [sys.executable, "-u", "-m", "export.site.serve", str(folder), "--port", "0"]
        if isolated
        else [sys.executable, "-u", "-m", "http.server", "0", "-d", str(folder), "--bind", "127.0.0.1"]
    )
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        said = server.stdout.readline()  # both print their address first: "... http://127.0.0.1:PORT/ ..."
        url = re.search(r"http://127\.0\.0\.1:\d+/", said).group(0)
        yield url, server
    finally:
        server.terminate()
        server.wait(10)


@contextlib.contextmanager
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


def open_page(browser, url: str, width: int = 1400):
    """A new page on `url`, once its first translation is on screen."""
    page = browser.new_page(viewport={"width": width, "height": 1000})
    page.goto(url)
    page.wait_for_function("() => document.body.dataset.translated", timeout=120_000)
    return page
