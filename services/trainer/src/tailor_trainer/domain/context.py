"""Contextual metadata (DEVICE, LOCATION, ... in the Interactions dataset) and the Users dataset's fields for
sequence recipes.

For each context field and value, a per-item log-lift ``log P(item | value) - log P(item)`` from the training
interactions (add-one smoothing). At serving, adding the lift of the request's context to the model's logits
is the naive-Bayes update of the model's item distribution — ``P(i | history, c) ∝ P(i | history) P(c | i)``
when history and context are independent given the item — so no weight has to be tuned (ADR 0006).

The Users dataset's fields (AGE, GENDER, ...; L5758) are the same kind of evidence about the request: the lift of
the user's value, ``log P(item | value) - log P(item)`` over the training users' interactions, added to the
logits. A user's value is constant over their history, which the model has already read, so the naive-Bayes
independence holds less well than for a per-event context: the lift's weight is chosen on validation users
(``USER_FEATURE_WEIGHTS``; 0 turns it off) and baked into the exported rows. Numeric fields are cut into
quantile bins (``NUMERIC_BINS``) whose edges travel with the model (ADR 0020).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from tailor_shared.scoring.model import feature_row
from tailor_trainer.domain.data import Interactions, PreparedData, UsersTable

MAX_CONTEXT_VALUES: Final = 100  # per field: the most frequent values; others get no adjustment
SMOOTHING: Final = 1.0
#: Weights of the Users dataset's lift tried on validation (0: the user's fields don't help this data).
USER_FEATURE_WEIGHTS: Final = (0.0, 0.25, 0.5, 1.0)
NUMERIC_BINS: Final = 5


@dataclass(frozen=True)
class ContextTable:
    values: list[str]  # row k of ``lift`` is for values[k]
    lift: npt.NDArray[np.float32]  # [len(values), n_items]
    # Numeric fields: inner quantile edges; a value v falls in row ``searchsorted(edges, v, side="right")``.
    edges: list[float] | None = None

    def row(self, value: str) -> int | None:
        """The lift row of a stored metadata value, exactly as the runtime finds it."""
        edges = None if self.edges is None else np.asarray(self.edges, dtype=np.float64)
        return feature_row({v: k for k, v in enumerate(self.values)}, edges, value)


def _lift_rows(rows: npt.NDArray[np.int64], values: npt.NDArray[Any], present: list[str], n: int) -> Any:
    """Per value in ``present``: log P(item | value) - log P(item) over the events (item row, value)."""
    base = np.bincount(rows, minlength=n).astype(np.float64)
    log_p = np.log((base + SMOOTHING) / (base.sum() + SMOOTHING * n))
    lift = np.zeros((len(present), n), dtype=np.float32)
    for k, value in enumerate(present):
        counts = np.bincount(rows[values == value], minlength=n).astype(np.float64)
        if counts.sum() == 0:  # a numeric bin no training user falls in: no evidence, no shift
            continue
        lift[k] = np.log((counts + SMOOTHING) / (counts.sum() + SMOOTHING * n)) - log_p
    return lift


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
    tables: dict[str, ContextTable] = {}
    for name, raw in sorted(interactions.context.items()):
        values = np.asarray(["" if v is None else str(v) for v in raw], dtype=object)[known]
        present = [v for v, _ in Counter(v for v in values if v not in ("", "nan")).most_common(MAX_CONTEXT_VALUES)]
        if len(present) < 2:  # one value everywhere says nothing
            continue
        tables[name] = ContextTable([str(v) for v in present], _lift_rows(rows[known], values, present, n))
    return tables


def user_values(users: UsersTable, user_ids: npt.NDArray[Any], excluded: frozenset[str]) -> dict[str, Any]:
    """Per Users field (upper-case, not excluded, not USER_ID): each of ``user_ids``' value as a string ("" when
    the user has no row or no value), or for numeric fields a float (NaN when missing)."""
    position = {str(u): k for k, u in enumerate(users.user_id.tolist())}
    rows = np.asarray([position.get(str(u), -1) for u in user_ids.tolist()], dtype=np.int64)
    ok = rows >= 0
    out: dict[str, Any] = {}
    for name in sorted(users.columns):
        upper = name.upper()
        if upper in excluded or upper == "USER_ID":
            continue
        column = np.asarray(users.columns[name])
        if name not in users.categorical and column.dtype.kind in "iuf":
            numeric = np.full(len(rows), np.nan)
            numeric[ok] = column[rows[ok]].astype(np.float64)
            out[upper] = numeric
        elif name in users.categorical:
            text = np.full(len(rows), "", dtype=object)
            text[ok] = ["" if v is None else str(v) for v in column[rows[ok]].tolist()]
            out[upper] = text
        # other strings and booleans are not training inputs (as for items, L10132)
    return out


def user_lift(data: PreparedData, users: UsersTable, excluded: frozenset[str]) -> dict[str, ContextTable]:
    """Lift tables of the Users dataset's fields over ``data``'s users' interactions."""
    fields = user_values(users, data.user_ids, excluded)
    tables: dict[str, ContextTable] = {}
    for name, per_user in fields.items():
        if per_user.dtype == object:
            values = per_user[data.user]
            counts = Counter(v for v in values.tolist() if v not in ("", "nan"))
            present = [v for v, _ in counts.most_common(MAX_CONTEXT_VALUES)]
            edges = None
        else:
            finite = per_user[np.isfinite(per_user)]
            if len(finite) == 0:
                continue
            inner = np.unique(np.quantile(finite, np.linspace(0, 1, NUMERIC_BINS + 1)[1:-1]))
            edges = [float(e) for e in inner]
            bins = np.where(np.isfinite(per_user), np.searchsorted(inner, per_user, side="right"), -1)
            values = np.asarray([str(b) if b >= 0 else "" for b in bins.tolist()], dtype=object)[data.user]
            present = [str(b) for b in range(len(inner) + 1)]
        if len(present) < 2:
            continue
        tables[name] = ContextTable(present, _lift_rows(data.item, values, present, data.n_items), edges)
    return tables


def user_shift(tables: dict[str, ContextTable], fields: dict[str, Any], n_items: int) -> Any:
    """[n_users, n_items] sum of the lift rows of each user's values (``fields`` as ``user_values`` gives)."""
    n_users = len(next(iter(fields.values()))) if fields else 0
    shift = np.zeros((n_users, n_items), dtype=np.float32)
    for name, table in tables.items():
        per_user = fields.get(name)
        if per_user is None:
            continue
        for u, value in enumerate(per_user.tolist()):
            row = table.row(value if isinstance(value, str) else repr(float(value)))
            if row is not None:
                shift[u] += table.lift[row]
    return shift
