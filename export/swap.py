"""Putting a finished bundle folder in place so that some complete bundle is loadable at every moment.

    work (complete, verified)  ->  out

1. out -> .PAIR.previous   (one rename: the old bundle now lives there; loaders fall back to it)
2. work -> out             (one rename: the new bundle is in place)
3. .PAIR.previous removed

Killed between 1 and 2, `.PAIR.previous` is still a complete bundle: `load_bundle` and `find_bundles` use it
when `out` is missing, and the next export puts it back before it starts. Temp folders `.PAIR.export-PID-*`
of exports that no longer run are removed by the next export to the same place.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from inference.bundle import previous_of


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def clean_stale(out: Path) -> list[Path]:
    """Restores an interrupted swap and removes temp folders of dead exports; returns what it removed."""
    previous = previous_of(out)
    if previous.is_dir() and not out.exists():
        rename(previous, out)  # the swap was killed after step 1: the old bundle goes back
    removed = []
    if previous.is_dir():  # the swap was killed after step 2: the new bundle is in place
        shutil.rmtree(previous, ignore_errors=True)
        removed.append(previous)
    pattern = re.compile(rf"\.{re.escape(out.name)}\.export-(\d+)-")
    for folder in out.parent.glob(f".{out.name}.export-*"):
        match = pattern.match(folder.name)
        if match and not _alive(int(match.group(1))):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def make_work_folder(out: Path) -> Path:
    """An empty folder beside `out` (same file system, so the final rename is atomic), named after this process."""
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.export-{os.getpid()}-", dir=out.parent))
    work.chmod(0o755)  # mkdtemp makes it private; the bundle is meant to be read by anyone
    return work


def rename(source: Path, target: Path) -> None:
    """One atomic rename (its own name, so a test can stop an export between the two)."""
    os.replace(source, target)


def swap_in(work: Path, out: Path) -> None:
    """Replace `out` by `work` in the order described above."""
    previous = previous_of(out)
    if out.exists():
        rename(out, previous)
    rename(work, out)
    shutil.rmtree(previous, ignore_errors=True)


def normalise_modes(folder: Path) -> None:
    """0644 files, 0755 folders, whatever wrote them (checkpoint saving uses a private temp file)."""
    folder.chmod(0o755)
    for path in folder.iterdir():
        path.chmod(0o755 if path.is_dir() else 0o644)
