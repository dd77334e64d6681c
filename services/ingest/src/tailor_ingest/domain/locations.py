"""Data locations of import and export jobs -> local paths (ADR 0003); the mapping is tailor_shared.locations."""

from __future__ import annotations

from tailor_ingest.domain.errors import ImportFailure
from tailor_shared import locations


def local_path(location: str, s3_root: str | None) -> str:
    """A data location -> a local path; a location that cannot be read here fails the job."""
    try:
        return locations.local_path(location, s3_root, "TAILOR_INGEST_S3_ROOT")
    except locations.InvalidLocation as err:
        raise ImportFailure(str(err)) from None
