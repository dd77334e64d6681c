"""Personalize's offline metrics (L11030-L11190), as pure functions of ranked lists and relevant items.

- ``mean_reciprocal_rank_at_25``: 1 / rank of the highest-ranked relevant item within the top 25, 0 if none.
- ``normalized_discounted_cumulative_gain_at_K``: binary gains weighted ``1/log(1 + position)``, divided by the
  DCG of the ideal list (all relevant items first, at most K of them) -- the guide's worked example gives
  (1/log 3 + 1/log 6) / (1/log 2 + 1/log 3) = 0.6241 for hits at positions 2 and 5.
- ``precision_at_K``: relevant items in the top K divided by K.
- ``coverage``: distinct items recommended (top 25) across all evaluation requests, divided by the number
  of distinct items in the datasets (docs/adr/0006 records this reading of "might recommend").

Every per-user metric is averaged over the test users.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

KS: Final = (5, 10, 25)
MAX_K: Final = 25
METRIC_NAMES: Final = (
    "coverage",
    "mean_reciprocal_rank_at_25",
    "normalized_discounted_cumulative_gain_at_5",
    "normalized_discounted_cumulative_gain_at_10",
    "normalized_discounted_cumulative_gain_at_25",
    "precision_at_5",
    "precision_at_10",
    "precision_at_25",
)


def _discounts(k: int) -> npt.NDArray[np.float64]:
    return 1.0 / np.log2(1.0 + np.arange(1, k + 1, dtype=np.float64))


def reciprocal_rank(ranked: Sequence[int], relevant: set[int], k: int = MAX_K) -> float:
    for position, item in enumerate(list(ranked)[:k], start=1):
        if item in relevant:
            return 1.0 / position
    return 0.0


def ndcg_at_k(ranked: Sequence[int], relevant: set[int], k: int) -> float:
    if not relevant:
        return 0.0
    disc = _discounts(k)
    dcg = sum(disc[p] for p, item in enumerate(list(ranked)[:k]) if item in relevant)
    ideal = float(disc[: min(k, len(relevant))].sum())
    return float(dcg / ideal)


def precision_at_k(ranked: Sequence[int], relevant: set[int], k: int) -> float:
    return sum(1 for item in list(ranked)[:k] if item in relevant) / k


def coverage(recommended: Sequence[Sequence[int]], n_catalogue: int) -> float:
    if n_catalogue <= 0:
        return 0.0
    distinct = {int(i) for rec in recommended for i in rec}
    return len(distinct) / n_catalogue


def hit_matrix(top: npt.NDArray[np.int64], relevant: Sequence[npt.NDArray[np.int64]]) -> npt.NDArray[np.bool_]:
    """hits[u, p] is True when the item at position p of user u's list is relevant to u."""
    hits = np.zeros(top.shape, dtype=bool)
    for u, rel in enumerate(relevant):
        hits[u] = np.isin(top[u], rel)
    return hits


def metrics_from_hits(hits: npt.NDArray[np.bool_], n_relevant: npt.NDArray[np.int64]) -> dict[str, float]:
    """Vectorised per-user metrics (same definitions as the scalar functions above), averaged over users."""
    n_users, width = hits.shape
    if n_users == 0:
        return {name: 0.0 for name in METRIC_NAMES if name != "coverage"}
    disc = _discounts(max(width, MAX_K))
    out: dict[str, float] = {}
    k25 = min(MAX_K, width)
    first = np.where(hits[:, :k25].any(axis=1), hits[:, :k25].argmax(axis=1) + 1, 0)
    rr = np.where(first > 0, 1.0 / np.maximum(first, 1), 0.0)
    out["mean_reciprocal_rank_at_25"] = float(rr.mean())
    for k in KS:
        kk = min(k, width)
        dcg = (hits[:, :kk] * disc[:kk]).sum(axis=1)
        ideal_cum = np.concatenate([[0.0], np.cumsum(disc[:k])])
        ideal = ideal_cum[np.minimum(n_relevant, k)]
        ndcg = np.where(ideal > 0, dcg / np.where(ideal > 0, ideal, 1.0), 0.0)
        out[f"normalized_discounted_cumulative_gain_at_{k}"] = float(ndcg.mean())
    for k in KS:
        kk = min(k, width)
        out[f"precision_at_{k}"] = float(hits[:, :kk].sum(axis=1).mean() / k)
    return out


def evaluate_top(
    top: npt.NDArray[np.int64], relevant: Sequence[npt.NDArray[np.int64]], n_catalogue: int
) -> dict[str, float]:
    """All of Personalize's item-recommendation metrics for top-25 lists (one row per test user)."""
    hits = hit_matrix(top, relevant)
    n_rel = np.asarray([len(np.unique(r)) for r in relevant], dtype=np.int64)
    out = {"coverage": float(len(np.unique(top[top >= 0])) / n_catalogue) if n_catalogue else 0.0}
    out.update(metrics_from_hits(hits, n_rel))
    return {name: out[name] for name in METRIC_NAMES}


def average_rewards_at_k(
    top: npt.NDArray[np.int64], relevant: Sequence[npt.NDArray[np.int64]], reward: npt.NDArray[np.float64]
) -> float:
    """The optimization objective's metric (L10243): per user, the reward of the relevant items among the top
    ``MAX_K`` over the reward of all their relevant items, averaged over users with any reward (in [0, 1])."""
    per_user = []
    for row, rel in zip(top, relevant, strict=True):
        items = np.unique(rel)
        total = float(np.clip(reward[items], 0.0, None).sum())
        if total <= 0.0:
            continue
        got = np.intersect1d(items, row[row >= 0][:MAX_K])
        per_user.append(float(np.clip(reward[got], 0.0, None).sum()) / total)
    return float(np.mean(per_user)) if per_user else 0.0
