"""Images submitted with items, kept content-addressed: ROOT/<sha256>/<original file name>."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path


def file_digest(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def store_file(path: Path, *, root: Path) -> str:
    """Copy a file into the store (once per content); return its path relative to the store."""
    relative = f"{file_digest(path)}/{path.name}"
    target = root / relative
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        os.close(fd)
        shutil.copyfile(path, tmp)
        os.replace(tmp, target)
    return relative
