"""Impressions at serving time (ADR 0022): "the more often an item appears in impressions (and is not chosen),
the less likely exploration includes it" (guide L4057-4061).

The stream counts, per dataset group and item, the interactions whose impression (the explicit list, else the
list the recommendationId returned) held the item, and those that chose it (``redis_keys.Keys.impressions_*``).
An item's exploration weight is multiplied by its smoothed chosen-when-shown rate, ``(chosen + prior) / (shown +
prior)``: 1 for an item never shown, falling towards 0 as it is shown without being chosen. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

#: Pseudo-impressions of an unseen item: the first few impressions without a choice cost little (5 shown, 0
#: chosen halves the weight; 95 more bring it to 5 %).
IMPRESSION_PRIOR = 5.0


def impression_discount(
    position: Mapping[str, int], n_items: int, shown: Mapping[str, int], chosen: Mapping[str, int]
) -> npt.NDArray[np.float64]:
    """Per item of the model's index (``position``: itemId -> index), the factor on its exploration weight."""
    seen = np.zeros(n_items, dtype=np.float64)
    picked = np.zeros(n_items, dtype=np.float64)
    for item, count in shown.items():
        i = position.get(item)
        if i is not None:
            seen[i] = count
    for item, count in chosen.items():
        i = position.get(item)
        if i is not None:
            picked[i] = count
    return np.asarray((np.minimum(picked, seen) + IMPRESSION_PRIOR) / (seen + IMPRESSION_PRIOR), dtype=np.float64)


def impression_outcome(row: Mapping[str, Any], recommended: Sequence[str] | None) -> tuple[list[str], str | None]:
    """The items an interaction was shown and the one it chose (None when it chose none of them): the explicit
    IMPRESSION list wins over the list the recommendationId returned (L14081)."""
    explicit = row.get("IMPRESSION")
    if isinstance(explicit, str) and explicit:
        shown = [i for i in dict.fromkeys(explicit.split("|")) if i]
    elif recommended:
        shown = list(dict.fromkeys(recommended))
    else:
        return [], None
    item = row.get("ITEM_ID")
    return shown, (item if isinstance(item, str) and item in shown else None)
