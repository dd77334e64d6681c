"""Data locations of import and export jobs -> local paths (ADR 0003)."""

from __future__ import annotations

import re

from tailor_ingest.domain.errors import ImportFailure


def local_path(location: str, s3_root: str | None) -> str:
    """A data location -> a local path: ``file://`` URLs and plain paths as they are; ``s3://bucket/key``
    under ``s3_root`` when the operator configured one (ADR 0003); http(s) is not supported."""
    if location.startswith("file://"):
        rest = location[len("file://") :]
        if rest.startswith("localhost/"):
            rest = rest[len("localhost") :]
        if not rest.startswith("/"):
            raise ImportFailure(f"Invalid Data location {location}: use file:///absolute/path")
        return _unquote(rest)
    if location.startswith("s3://"):
        if not s3_root:
            raise ImportFailure(
                f"Invalid Data location {location}: this Tailor installation reads file:// locations; set "
                "TAILOR_INGEST_S3_ROOT to map s3://bucket/key to a local directory."
            )
        return s3_root.rstrip("/") + "/" + _unquote(location[len("s3://") :])
    if location.startswith("/"):
        return location
    raise ImportFailure(f"Invalid Data location {location}: use a file:// URL (or s3:// with TAILOR_INGEST_S3_ROOT).")


def _unquote(text: str) -> str:
    """Percent-decoding for paths (``%20``), without importing urllib into the pure core."""
    if "%" not in text:
        return text
    return re.sub(rb"%([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), text.encode()).decode(
        "utf-8", "replace"
    )
