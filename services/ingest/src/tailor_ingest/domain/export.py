"""Dataset export rules (L14627-14892): which sources, which rows, and how a value is written to CSV."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Final

from tailor_ingest.domain.errors import ImportFailure
from tailor_shared import schemas, topics

EXPORT_SOURCES: Final[dict[str, tuple[str, ...]]] = {
    "BULK": (topics.SOURCE_BULK,),
    "PUT": (topics.SOURCE_PUT,),
    "ALL": (topics.SOURCE_PUT, topics.SOURCE_BULK),
}


def check_exportable(dataset_type: str) -> None:
    """ "You can't export data from an Actions or Action interactions dataset" (L14627 ff.)."""
    if dataset_type in (schemas.ACTIONS, schemas.ACTION_INTERACTIONS):
        raise ImportFailure(f"You can't export an {dataset_type} dataset.")


def export_latest_per_id(mode: str, dataset_type: str) -> bool:
    """ALL mode keeps only the newest Items/Users record per ID; interactions and single-source modes keep
    every row (only exact duplicates go)."""
    return mode == "ALL" and dataset_type in (schemas.ITEMS, schemas.USERS)


def drop_exact_duplicates(rows: Sequence[tuple[Any, ...]]) -> list[int]:
    """Indices of the first occurrence of each distinct row ("identical in all fields → exported once")."""
    seen: set[tuple[Any, ...]] = set()
    keep: list[int] = []
    for i, row in enumerate(rows):
        if row not in seen:
            seen.add(row)
            keep.append(i)
    return keep


def csv_cell(value: Any) -> str:
    """A value as the import path reads it back: null -> empty, booleans lower case, floats shortest repr."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return repr(value)
    return str(value)
