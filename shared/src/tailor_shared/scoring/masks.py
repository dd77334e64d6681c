"""Which items a request may list, without a catalogue-sized mask when it has no filter (ADR 0019 §8).

A request's allowed items are its filter's mask (or every item) minus the few items it must never list (the
user's seen items, a recommender's consumed ones). Candidate retrieval looks at a few hundred positions of a
million-item catalogue, so ``Allowed`` keeps the exclusions as a sorted index set and answers for the positions
asked about; only the exact paths (every item scored) and a restricted search build the full mask.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Mask = npt.NDArray[np.bool_]
Positions = npt.NDArray[np.int64]


def sorted_unique(positions: Positions) -> Positions:
    """``np.unique`` of positions by one sort: numpy 2's hash-based ``unique`` costs ~4x more on the few thousand
    candidates of a request."""
    ordered = np.sort(positions)
    first = np.ones(ordered.size, dtype=bool)
    first[1:] = ordered[1:] != ordered[:-1]
    return ordered[first]


def member(sorted_unique: Positions, positions: Positions) -> Mask:
    """Which ``positions`` are in ``sorted_unique``: a binary search each (``np.isin`` sorts both arrays)."""
    if sorted_unique.size == 0:
        return np.zeros(positions.shape, dtype=bool)
    at = np.searchsorted(sorted_unique, positions)
    at[at == sorted_unique.size] = 0  # past the end: compares against the first, which is smaller
    return np.asarray(sorted_unique[at] == positions, dtype=bool)


@dataclass(frozen=True, eq=False)
class Allowed:
    """Every item of a ``size``-item catalogue that ``base`` allows (None: every item), less ``excluded``."""

    size: int
    excluded: Sequence[int]
    base: Mask | None = None  # the filter's mask (not modified)

    @functools.cached_property
    def _excluded(self) -> Positions:
        return sorted_unique(np.asarray(self.excluded, dtype=np.int64))

    def at(self, positions: Positions) -> Mask:
        """Whether each of ``positions`` is allowed: O(len(positions) log |excluded|)."""
        keep = np.ones(positions.shape, dtype=bool) if self.base is None else self.base[positions]
        if self._excluded.size:
            keep &= ~member(self._excluded, positions)
        return keep

    def dense(self) -> Mask:
        """The catalogue-sized mask (exact scoring, a restricted search)."""
        mask = np.ones(self.size, dtype=bool) if self.base is None else self.base.copy()
        mask[list(self.excluded)] = False
        return mask

    @functools.cached_property
    def count(self) -> int:
        """How many items are allowed (without a pass over the catalogue when there is no filter)."""
        if self.base is None:
            return self.size - int(self._excluded.size)
        return int(np.count_nonzero(self.base)) - int(np.count_nonzero(self.base[self._excluded]))


ItemMask = Mask | Allowed


def allowed_at(mask: ItemMask, positions: Positions) -> Mask:
    """``mask[positions]`` for either form."""
    return mask.at(positions) if isinstance(mask, Allowed) else mask[positions]


def dense(mask: ItemMask) -> Mask:
    """The catalogue-sized mask for either form (an array is returned as it is)."""
    return mask.dense() if isinstance(mask, Allowed) else mask


def allowed_count(mask: ItemMask) -> int:
    return mask.count if isinstance(mask, Allowed) else int(np.count_nonzero(mask))
