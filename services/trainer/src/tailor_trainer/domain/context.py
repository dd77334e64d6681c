"""Contextual metadata (DEVICE, LOCATION, ... in the Interactions dataset) for sequence recipes.

For each context field and value, a per-item log-lift ``log P(item | value) - log P(item)`` from the training
interactions (add-one smoothing). At serving, adding the lift of the request's context to the model's logits
is the naive-Bayes update of the model's item distribution — ``P(i | history, c) ∝ P(i | history) P(c | i)``
when history and context are independent given the item — so no weight has to be tuned (ADR 0006).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from tailor_trainer.domain.data import Interactions

MAX_CONTEXT_VALUES: Final = 100  # per field: the most frequent values; others get no adjustment
SMOOTHING: Final = 1.0


@dataclass(frozen=True)
class ContextTable:
    values: list[str]  # row k of ``lift`` is for values[k]
    lift: npt.NDArray[np.float32]  # [len(values), n_items]


def context_lift(interactions: Interactions, item_ids: npt.NDArray[Any]) -> dict[str, ContextTable]:
    """Lift tables for every context field over the model's items (interactions of unknown items ignored)."""
    if not interactions.context or len(interactions) == 0:
        return {}
    position = {str(item): k for k, item in enumerate(item_ids.tolist())}
    n = len(position)
    rows = np.fromiter(
        (position.get(str(i), -1) for i in interactions.item_id), dtype=np.int64, count=len(interactions)
    )
    known = rows >= 0
    base = np.bincount(rows[known], minlength=n).astype(np.float64)
    log_p = np.log((base + SMOOTHING) / (base.sum() + SMOOTHING * n))
    tables: dict[str, ContextTable] = {}
    for name, raw in sorted(interactions.context.items()):
        values = np.asarray(["" if v is None else str(v) for v in raw], dtype=object)[known]
        present = [v for v, _ in Counter(v for v in values if v not in ("", "nan")).most_common(MAX_CONTEXT_VALUES)]
        if len(present) < 2:  # one value everywhere says nothing
            continue
        lift = np.zeros((len(present), n), dtype=np.float32)
        for k, value in enumerate(present):
            counts = np.bincount(rows[known][values == value], minlength=n).astype(np.float64)
            lift[k] = np.log((counts + SMOOTHING) / (counts.sum() + SMOOTHING * n)) - log_p
        tables[name] = ContextTable([str(v) for v in present], lift)
    return tables
