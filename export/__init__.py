"""Checkpoint -> ONNX bundle with verification: `python -m export --help`."""
