"""The repository's promises to a new user: README commands, Space front matter, requirements, CI."""

from __future__ import annotations

import re

from conftest import ROOT


def pins(path) -> dict[str, str]:
    found = {}
    for line in (ROOT / path).read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;#]+)", line.strip())
        if match:
            found[match.group(1).lower()] = match.group(2)
    return found


def front_matter() -> dict[str, str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert text.startswith("---\n"), "README.md must start with the Space's YAML front matter"
    block = text.split("---\n", 2)[1]
    return {
        k.strip(): v.strip().strip('"') for k, v in (line.split(":", 1) for line in block.splitlines() if ":" in line)
    }


def test_space_front_matter_matches_the_pinned_versions():
    meta = front_matter()
    import platform

    import gradio

    assert meta["sdk"] == "gradio"
    assert meta["sdk_version"] == pins("requirements.txt")["gradio"] == gradio.__version__
    assert meta["python_version"] == "3.11" == ".".join(platform.python_version_tuple()[:2])
    assert meta["app_file"] == "app.py" and (ROOT / "app.py").is_file()
    assert meta["license"] and meta["short_description"] and len(meta["short_description"]) <= 60


def test_space_requirements_have_no_torch_and_are_pinned():
    app = pins("requirements.txt")
    assert {"gradio", "onnxruntime", "numpy", "tokenizers", "plotly"} <= set(app)
    assert not any(name.startswith("torch") for name in app)
    lines = [
        line
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert all("==" in line for line in lines), "every app requirement is pinned"
    dev = pins("requirements-dev.txt")
    assert dev["torch"] == "2.13.0" and "-r requirements.txt" in (ROOT / "requirements-dev.txt").read_text()


def test_readme_commands_and_ci_agree():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip install -r requirements.txt && python app.py" in readme
    test_command = (
        "apt-get update && apt-get install -y chromium && npm ci && "
        "pip install -r requirements-dev.txt && python -m pytest"
    )
    assert test_command in readme
    for step in (
        "apt-get install",
        "chromium",
        "npm ci --silent --no-audit --no-fund",
        "requirements-dev.txt",
        "python -m pytest",
    ):
        assert step in ci


def test_every_entry_point_has_help_on_every_flag():
    import argparse
    import subprocess
    import sys

    captured = []
    real_parse = argparse.ArgumentParser.parse_args

    def capture(self, args=None, namespace=None):
        captured.append(self)
        raise SystemExit(0)

    argparse.ArgumentParser.parse_args = capture
    try:
        import app
        from benchmarks.__main__ import main as benchmarks_main
        from evaluate.__main__ import main as evaluate_main
        from export.__main__ import main as export_main
        from inference.__main__ import main as inference_main
        from training.__main__ import main as training_main

        for entry in (training_main, evaluate_main, export_main, inference_main, benchmarks_main, app.parse_args):
            try:
                entry([])
            except SystemExit:
                pass
    finally:
        argparse.ArgumentParser.parse_args = real_parse
    assert len(captured) == 6
    for parser in captured:
        for action in parser._actions:
            assert action.help, f"{parser.prog}: {action.option_strings or action.dest} has no help"
    modules = ("training", "evaluate", "evaluate.attention", "export", "inference", "benchmarks", "export.table")
    for module in (*modules, "export.site", "export.site.serve"):
        done = subprocess.run(
            [sys.executable, "-m", module, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0 and "usage:" in done.stdout, module


def test_code_passes_ruff_lint_and_format():
    """ruff (pinned in requirements-dev.txt, configured in pyproject.toml) finds nothing to fix or reformat."""
    import subprocess
    import sys

    for args in (["check", "."], ["format", "--check", "."]):
        done = subprocess.run([sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 0, f"ruff {' '.join(args)}:\n{done.stdout}{done.stderr}"
