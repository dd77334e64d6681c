"""User segments (USER_SEGMENTATION: Item-Affinity, Item-Attribute-Affinity) from a user x item score matrix.

A segment is the users sorted by the probability that they interact with the query's items (L13184): each
user's model scores become a softmax over the whole catalogue (as GetRecommendations normalises them), a
query's value for a user is the summed probability of its items (one item for Item-Affinity; every item that
has the attributes for Item-Attribute-Affinity), and the best users are kept chunk by chunk so that no
users x items matrix is ever held whole. Shared by the trainer (the segment metrics) and the batch worker
(batch segment jobs) so both rank users the same way. Pure numpy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float64]
Rows = npt.NDArray[np.int64]


def probabilities(scores: npt.NDArray[np.float32] | Matrix) -> Matrix:
    """Row-wise softmax of model scores; a row's non-finite scores (items the model can't score) get 0."""
    values = np.asarray(scores, dtype=np.float64)
    finite = np.isfinite(values)
    shifted = np.where(finite, values, -np.inf)
    top = np.max(shifted, axis=1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    exp = np.where(finite, np.exp(shifted - top), 0.0)
    total = exp.sum(axis=1, keepdims=True)
    out: Matrix = np.divide(exp, total, out=np.zeros_like(exp), where=total > 0)
    return out


def query_values(probs: Matrix, queries: Sequence[Rows]) -> Matrix:
    """(users, queries): each query's summed item probability for each user."""
    if all(len(items) == 1 for items in queries):  # Item-Affinity: one column per query
        single: Matrix = probs[:, np.asarray([int(items[0]) for items in queries], dtype=np.int64)]
        return single
    out = np.zeros((probs.shape[0], len(queries)), dtype=np.float64)
    for q, items in enumerate(queries):
        if len(items):
            out[:, q] = probs[:, items].sum(axis=1)
    return out


class TopUsers:
    """The ``k`` best users of each query over chunks of users given in increasing user order. Ties go to the
    lower user row (deterministic): the running best keep (-value, row) order and every new row is higher."""

    def __init__(self, n_queries: int, k: int) -> None:
        self._k = max(0, k)
        self._values = np.empty((n_queries, 0), dtype=np.float64)
        self._rows = np.empty((n_queries, 0), dtype=np.int64)

    def add(self, values: Matrix, rows: Rows, allowed: npt.NDArray[np.bool_] | None = None) -> None:
        """``values`` (chunk users, queries) for the user ``rows``; ``allowed`` (same shape) drops a user from a
        query's segment (a filter)."""
        chunk = values.T if allowed is None else np.where(allowed, values, -np.inf).T
        merged = np.concatenate([self._values, chunk], axis=1)
        merged_rows = np.concatenate([self._rows, np.broadcast_to(rows, chunk.shape)], axis=1)
        order = np.argsort(-merged, axis=1, kind="stable")[:, : self._k]
        merged = np.take_along_axis(merged, order, axis=1)
        merged_rows = np.take_along_axis(merged_rows, order, axis=1)
        self._values, self._rows = merged, merged_rows

    def result(self) -> list[Rows]:
        """Each query's users, best first (users a filter dropped are left out)."""
        return [rows[np.isfinite(vals)] for vals, rows in zip(self._values, self._rows, strict=True)]
