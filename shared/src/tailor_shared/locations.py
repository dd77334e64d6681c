"""Personalize data locations (``s3://bucket/key``, ``file://`` URLs) -> local paths, for every job that reads
or writes data: import and export jobs (ingest), data deletion jobs (stream), batch jobs.

Until a real S3 client owns ``s3://`` (issue O2), an operator maps ``s3://bucket/key`` to a local directory
(``<s3_root>/bucket/key``, ADR 0003). Pure: no I/O.
"""

from __future__ import annotations

import re


class InvalidLocation(ValueError):
    """The location cannot be read here; the message follows the guide's "Invalid Data location" error."""


def local_path(location: str, s3_root: str | None, s3_root_setting: str) -> str:
    """``file://`` URLs and absolute paths as they are; ``s3://bucket/key`` under ``s3_root`` when the operator
    configured one (``s3_root_setting`` names the variable to set); anything else is refused."""
    if location.startswith("file://"):
        rest = location[len("file://") :]
        if rest.startswith("localhost/"):
            rest = rest[len("localhost") :]
        if not rest.startswith("/"):
            raise InvalidLocation(f"Invalid Data location {location}: use file:///absolute/path")
        return _unquote(rest)
    if location.startswith("s3://"):
        if not s3_root:
            raise InvalidLocation(
                f"Invalid Data location {location}: this Tailor installation reads file:// locations; set "
                f"{s3_root_setting} to map s3://bucket/key to a local directory."
            )
        return s3_root.rstrip("/") + "/" + _unquote(location[len("s3://") :])
    if location.startswith("/"):
        return location
    raise InvalidLocation(f"Invalid Data location {location}: use a file:// URL (or s3:// with {s3_root_setting}).")


def _unquote(text: str) -> str:
    """Percent-decoding for paths (``%20``), without importing urllib into pure code."""
    if "%" not in text:
        return text
    return re.sub(rb"%([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), text.encode()).decode(
        "utf-8", "replace"
    )
