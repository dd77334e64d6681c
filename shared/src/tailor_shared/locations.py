"""Personalize data locations (``s3://bucket/key``, ``file://`` URLs), parsed for every job that reads or
writes data: import and export jobs (ingest), data deletion jobs (stream), batch jobs, metric attribution
output, and the model store. ``tailor_shared.objectstore`` does the I/O (ADR 0023). Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_LOCATION_CHARS = 256  # S3PATH: "String max 256" (S3DataConfig.path, DataSource.dataLocation)
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")  # S3's bucket naming rules (3-63 characters)


class InvalidLocation(ValueError):
    """The location cannot be read here; the message follows the guide's "Invalid Data location" error."""


@dataclass(frozen=True)
class Location:
    """``s3://bucket/key`` (``bucket`` set) or a local path (``file://``, ``bucket`` None, ``key`` the absolute
    path). A key is a prefix; one ending in ``/`` names a folder."""

    bucket: str | None
    key: str

    @property
    def is_s3(self) -> bool:
        return self.bucket is not None

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}" if self.bucket is not None else f"file://{self.key}"

    def child(self, name: str) -> Location:
        """``name`` under this location taken as a folder (a ``/`` is added when the key has none)."""
        base = self.key if not self.key or self.key.endswith("/") else self.key + "/"
        return Location(self.bucket, base + name.lstrip("/"))


def parse(location: str) -> Location:
    """A job's data location; a bad one raises InvalidLocation with the guide's wording."""
    if len(location) > MAX_LOCATION_CHARS:
        raise InvalidLocation(
            f"Invalid Data location {location[:64]}...: a location has at most {MAX_LOCATION_CHARS} characters."
        )
    if location.startswith("s3://"):
        bucket, _, key = location[len("s3://") :].partition("/")
        if not _BUCKET.match(bucket) or ".." in bucket:
            raise InvalidLocation(
                f"Invalid Data location {location}: use s3://<name of your S3 bucket>/<folder path>/<file name>."
            )
        return Location(bucket, _unquote(key))
    if location.startswith("file://"):
        rest = location[len("file://") :]
        if rest.startswith("localhost/"):
            rest = rest[len("localhost") :]
        if not rest.startswith("/"):
            raise InvalidLocation(f"Invalid Data location {location}: use file:///absolute/path")
        return Location(None, _unquote(rest))
    if location.startswith("/"):
        return Location(None, location)
    raise InvalidLocation(f"Invalid Data location {location}: use s3://bucket/path or file:///absolute/path.")


def _unquote(text: str) -> str:
    """Percent-decoding for paths (``%20``), without importing urllib into pure code."""
    if "%" not in text:
        return text
    return re.sub(rb"%([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), text.encode()).decode(
        "utf-8", "replace"
    )
