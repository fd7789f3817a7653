"""The errors the command lines report as one line, without a traceback.

Torch-free, so an entry point can catch them without importing torch: `python -m evaluate BUNDLE` runs on
onnxruntime alone, and `--help` stays instant.
"""


class DataError(ValueError):
    """A problem with the user's data or flags, reported as one clear line (no stack trace)."""


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable or not ours; reported as one line."""


class DeviceError(ValueError):
    """An impossible --device or --dist-backend request, reported as one line."""
