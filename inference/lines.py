"""Input lines for the command line: UTF-8 bytes -> one entry per line, never merging, splitting or dropping one.

Lines end at "\\n" only ("\\r\\n" is accepted: the "\\r" is removed); a UTF-8 byte order mark at the start is
ignored. A line that is not valid UTF-8 becomes an InputError naming the byte, in its own place.
"""

from __future__ import annotations

import codecs

from inference.source_text import InputError


def split_lines(data: bytes) -> list[str | InputError]:
    """One entry per input line (a final line without "\\n" counts; an empty input has no lines)."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    if not data:
        return []
    raw_lines = data.split(b"\n")
    if raw_lines[-1] == b"":  # the newline that ends the last line does not start another
        raw_lines.pop()
    return [_decode(raw[:-1] if raw.endswith(b"\r") else raw) for raw in raw_lines]


def _decode(raw: bytes) -> str | InputError:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return InputError(
            f"The input is not UTF-8 text (byte 0x{raw[error.start]:02x} at byte {error.start + 1} of the line); "
            "save the file as UTF-8 and try again."
        )
