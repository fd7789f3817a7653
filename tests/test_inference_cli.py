"""python -m inference: line-for-line batch translation, refusals named by line, bundle errors in one line."""

from __future__ import annotations

import io
import json

import pytest

from inference import Translator
from inference.__main__ import main
from inference.bundle import sha256_of

GOOD = ["The dog runs.", "The small cat sleeps in the garden.", "The old man waits in the street."]


@pytest.fixture(scope="module")
def translator(tiny_bundle):
    return Translator(tiny_bundle, device="cpu")


def run_cli(monkeypatch, capsys, data: bytes, *args: str):
    stdin = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")
    monkeypatch.setattr("sys.stdin", stdin)
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_every_input_line_gets_exactly_one_output_line(tiny_bundle, translator, monkeypatch, capsys):
    long_line = GOOD[0] + " " * 300  # over the page's 300 characters, far under the model's token limit
    data = (
        b"\xef\xbb\xbf"
        + GOOD[0].encode()
        + b"\r\n"  # BOM and CRLF
        + b"\n"  # empty line
        + b"The cat \xff sleeps.\n"  # not UTF-8
        + "Собака бежит.\n".encode()  # another script
        + GOOD[1].encode()
        + b"\n"
        + b"The dog\x01 runs.\n"  # control character
        + long_line.encode()
        + b"\n"
        + GOOD[2].encode()
    )  # no final newline
    code, out, err = run_cli(monkeypatch, capsys, data, "--model", str(tiny_bundle), "--device", "cpu")
    expected = [
        translator.translate(GOOD[0]).text,
        "",
        "",
        "",
        translator.translate(GOOD[1]).text,
        "",
        translator.translate(long_line, max_chars=None).text,
        translator.translate(GOOD[2]).text,
    ]
    assert out.split("\n")[:-1] == expected and all(expected[i] for i in (0, 4, 6, 7))
    assert code == 1
    assert "line 3: The input is not UTF-8 text (byte 0xff" in err
    assert "line 4: The model has never seen" in err and "English" in err
    assert "line 6: The input contains control characters" in err
    assert "error: 3 of 8 lines refused" in err and "line 2" not in err and "line 7" not in err


def test_all_good_lines_exit_zero_and_beam_batches_match_single(tiny_bundle, translator, monkeypatch, capsys):
    data = "\n".join(GOOD * 3).encode() + b"\n"
    code, out, err = run_cli(monkeypatch, capsys, data, "--model", str(tiny_bundle), "--beam", "3", "--batch-size", "4")
    assert code == 0 and "refused" not in err
    assert out.splitlines() == [translator.translate(text, beam_size=3).text for text in GOOD * 3]


def test_json_keeps_the_alignment_and_names_refusals(tiny_bundle, translator, monkeypatch, capsys):
    data = f"{GOOD[0]}\n\nThe dog\x07 runs.\n{GOOD[1]}\n".encode()
    code, out, _ = run_cli(
        monkeypatch, capsys, data, "--model", str(tiny_bundle), "--json", "--beam", "2", "--n-best", "2"
    )
    rows = [json.loads(line) for line in out.splitlines()]
    assert [row["line"] for row in rows] == [1, 2, 3, 4] and code == 1
    assert rows[0]["result"]["translation"] == translator.translate(GOOD[0], beam_size=2).text
    assert rows[0]["error"] is None and len(rows[0]["result"]["nbest"]) == 2 and rows[3]["result"]["source"] == GOOD[1]
    assert rows[1] == {"line": 2, "error": None, "result": None}  # an empty line: nothing to translate
    assert rows[2]["result"] is None and "control characters" in rows[2]["error"]


def test_arguments_are_translated_and_a_refused_one_is_named(tiny_bundle, translator, capsys):
    code = main(["--model", str(tiny_bundle), GOOD[0], "   "])
    out, err = capsys.readouterr()
    assert out.split("\n")[:-1] == [translator.translate(GOOD[0]).text, ""] and code == 1
    assert "argument 2: The input is empty" in err


def _rehash(bundle, name):
    """Make the manifest agree with a damaged file, as a broken export would have written it."""
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    manifest["files"][name] = {"sha256": sha256_of(bundle / name), "bytes": (bundle / name).stat().st_size}
    (bundle / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return manifest


def _truncate(bundle, name):
    data = (bundle / name).read_bytes()
    (bundle / name).write_bytes(data[: len(data) // 3])
    _rehash(bundle, name)


def _drop_sha(bundle, name):
    manifest = _rehash(bundle, name)
    del manifest["files"][name]["sha256"]
    (bundle / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda b: _truncate(b, "tokenizer.json"), "tokenizer.json is not a readable tokenizer"),
        (lambda b: _truncate(b, "decoder.onnx"), "decoder.onnx is not a loadable ONNX graph"),
        (lambda b: _truncate(b, "encoder.onnx"), "encoder.onnx is not a loadable ONNX graph"),
        (lambda b: _drop_sha(b, "decoder.onnx"), "the entry for decoder.onnx has no sha256"),
        (lambda b: (b / "evaluation.json").write_text("{broken"), "evaluation.json is not valid JSON"),
        (lambda b: (b / "evaluation.json").write_text('{"length_penalty": {"value": "x"}}'), "unusable length_penalty"),
        (lambda b: (b / "encoder.onnx").unlink(), "encoder.onnx is missing"),
    ],
)
def test_every_bundle_problem_is_one_line_with_exit_2(bundle_copy, capsys, damage, message):
    damage(bundle_copy)
    assert main(["--model", str(bundle_copy), "The dog runs."]) == 2
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert out == "" and len(lines) == 1 and message in lines[0] and lines[0].startswith("error: ")
