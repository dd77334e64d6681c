"""Owner-only files for the development secrets the tools create (passwords, keys, the identity): mode 0600 from
the moment the file exists, never widened and narrowed later."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path``, created owner-only (an existing file keeps its own mode)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def create_private_once(path: Path, data: bytes) -> None:
    """Create ``path`` (owner-only) with ``data`` unless it exists; concurrent creators see one winner, since the
    file is written aside and hard-linked into place (a link never replaces another process's file)."""
    if path.exists():
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    try:
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink()
