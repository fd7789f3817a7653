"""Who may import what (DESIGN.md's table), and the quoted bmm lines are the model's own."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys

import pytest
from conftest import ROOT


def imported_roots(path) -> set[str]:
    """Top-level packages a file imports (absolute imports; anywhere in the file, functions included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    names |= {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
    }
    return names


def files(*patterns) -> list:
    found = sorted({path for pattern in patterns for path in ROOT.glob(pattern)})
    assert found, patterns
    return found


@pytest.mark.parametrize(
    "room, patterns, forbidden",
    [
        ("page", ("app.py", "page/**/*.py"), {"torch", "onnxruntime", "onnx", "training", "export", "evaluate"}),
        ("inference", ("inference/**/*.py",), {"torch", "training", "export", "evaluate", "page", "gradio"}),
        ("training", ("training/**/*.py",), {"inference", "export", "evaluate", "page", "onnxruntime", "gradio"}),
        ("rules", ("rules.py",), {"torch", "onnxruntime", "tokenizers", "training", "inference", "page", "gradio"}),
    ],
)
def test_no_room_imports_what_it_may_not(room, patterns, forbidden):
    for path in files(*patterns):
        bad = imported_roots(path) & forbidden
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_nothing_imports_from_tests():
    for path in files(
        "*.py",
        "page/**/*.py",
        "inference/**/*.py",
        "training/**/*.py",
        "export/**/*.py",
        "evaluate/**/*.py",
        "benchmarks/**/*.py",
    ):
        assert not imported_roots(path) & {"tests", "conftest"}, path


def test_torch_stays_out_of_the_page_and_of_scoring_a_bundle():
    code = (
        "import sys, app, page.layout, inference, evaluate.metrics, evaluate.results\n"
        "print(sorted(m for m in ('torch', 'training.model', 'export') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout


def readme_attention_block() -> list[str]:
    """The lines of the README's first Python block: its quote of Attention.forward."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("```python\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def test_the_readme_and_the_page_quote_the_same_lines_of_attention_forward():
    pytest.importorskip("torch")
    from page.bmm_panel import MODEL_LINES
    from training.model import Attention

    source = inspect.getsource(Attention.forward)
    assert tuple(readme_attention_block()) == MODEL_LINES
    for line in MODEL_LINES:
        assert line in source, line
    # the bmm branch comes first: a reader meets the first bmm before the additive alternative
    assert source.index("torch.bmm(query, keys.transpose(1, 2))") < source.index("self.query_proj(query)")
