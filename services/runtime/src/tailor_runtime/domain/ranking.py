"""Turning model scores into Personalize's item list: filters, fill, promotions, score normalisation.

Pure numpy. Rules from the guide (data-events-filters-batch.md §4) and ADR 0009 where it is silent:

* Scores: user-personalization normalises with a softmax over the whole catalogue, personalized ranking
  over the input list; SIMS, similar-items and popularity-count show no score (L11546-L11612).
* Filter backfill: when a filter leaves fewer than ``numResults`` scored items, UP-v2 adds "placeholder"
  popular items that satisfy the filter, with reason ``Popular item`` and no score (L11613).
* Promotions (≤ 1): ``floor(numResults * percentPromotedItems / 100)`` slots go to the best items that match
  the promotion's filter (the request filter does not apply to them); promoted items keep their relative
  order and are placed at pseudo-random positions seeded by the recommendationId; no item appears twice
  (L11800-L12130).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tailor_shared.redis_keys import rank_trending

Scores = npt.NDArray[np.float32]
Values = npt.NDArray[np.float32] | npt.NDArray[np.float64]  # ranking values: model scores or derived
Mask = npt.NDArray[np.bool_]

REASON_PROMOTED = "Promoted item"
REASON_EXPLORATION = "Exploration"
REASON_POPULAR = "Popular item"


@dataclass(frozen=True)
class Promotion:
    name: str
    percent: int
    mask: Mask  # items matching the promotion's filter


@dataclass(frozen=True)
class Ranked:
    index: int  # position in the model's item index
    score: float | None
    promotion_name: str | None = None
    reasons: tuple[str, ...] = ()


def softmax(scores: Values) -> npt.NDArray[np.float64]:
    finite = np.isfinite(scores)
    out = np.zeros(scores.shape, dtype=np.float64)
    if not finite.any():
        return out
    shifted = scores[finite].astype(np.float64) - float(scores[finite].max())
    exp = np.exp(shifted)
    out[finite] = exp / exp.sum()
    return out


def top_indices(values: Values, mask: Mask, k: int) -> npt.NDArray[np.int64]:
    """The ``k`` best allowed positions, best first (ties broken by position, deterministic)."""
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    allowed = np.flatnonzero(mask & np.isfinite(values))
    if allowed.size == 0:
        return np.empty(0, dtype=np.int64)
    vals = values[allowed]
    if allowed.size > k:
        part = np.argpartition(-vals, k - 1)[:k]
        allowed, vals = allowed[part], vals[part]
    order = np.lexsort((allowed, -vals))
    return allowed[order].astype(np.int64)


def recommend(
    scores: Values,
    mask: Mask,
    num_results: int,
    *,
    normalise: bool,
    popularity: npt.NDArray[np.float64] | None = None,
    backfill_popular: bool = False,
    show_reasons: bool = False,
    promotion: Promotion | None = None,
    seed: str = "",
) -> list[Ranked]:
    """The item list of GetRecommendations for one request."""
    shown = softmax(scores) if normalise else None
    ranking_values = scores
    n_promoted = 0
    promoted: list[int] = []
    if promotion is not None:
        n_promoted = (num_results * promotion.percent) // 100
        promoted = top_indices(ranking_values, promotion.mask, n_promoted).tolist()
    taken = np.zeros(scores.shape, dtype=bool)
    taken[promoted] = True
    regular = top_indices(ranking_values, mask & ~taken, num_results - len(promoted)).tolist()
    entries = [Ranked(i, None if shown is None else float(shown[i])) for i in regular]
    missing = num_results - len(promoted) - len(entries)
    if missing > 0 and backfill_popular and popularity is not None:
        taken[regular] = True
        fill = top_indices(popularity, mask & ~taken, missing).tolist()
        entries.extend(Ranked(i, None, None, (REASON_POPULAR,) if show_reasons else ()) for i in fill)
    promo_entries = [
        Ranked(
            i,
            None if shown is None else float(shown[i]),
            promotion.name if promotion else None,
            (REASON_PROMOTED,) if show_reasons else (),
        )
        for i in promoted
    ]
    return place_promoted(entries, promo_entries, seed)


def place_promoted(regular: list[Ranked], promoted: list[Ranked], seed: str) -> list[Ranked]:
    """Promoted items at pseudo-random slots, in their own sorted order; regular items keep theirs."""
    if not promoted:
        return regular
    total = len(regular) + len(promoted)
    slots = sorted(random.Random(seed).sample(range(total), len(promoted)))
    out: list[Ranked] = []
    p = r = 0
    for position in range(total):
        if p < len(slots) and slots[p] == position:
            out.append(promoted[p])
            p += 1
        else:
            out.append(regular[r])
            r += 1
    return out


def related_ranking(
    similar: Scores | None, popularity: npt.NDArray[np.float64], item: int | None
) -> npt.NDArray[np.float64]:
    """Ranking values for a related-items request (no scores are shown for these recipes, L11556).

    The item's neighbours first, in the model's order (``similar``; -inf = not a neighbour), then every other
    item by popularity: an unknown item, one without behaviour data, or one with fewer neighbours than
    ``numResults`` gets popular items (L6617, L6670; docs/specs/model-artifact.md). The item itself never."""
    pop = np.asarray(popularity, dtype=np.float64)
    values = pop / (float(pop.max(initial=0.0)) + 1.0) - 2.0  # in [-2, -1): below every neighbour
    if similar is not None:
        near = np.isfinite(similar)
        if near.any():
            sim = similar[near].astype(np.float64)
            values[near] = sim - float(sim.min())  # >= 0, same order as the similarities
    if item is not None:
        values[item] = -np.inf
    return values


def trending_ranking(
    position: Mapping[str, int],
    current: Mapping[str, float],
    previous: Mapping[str, float],
    popularity: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """Ranking values for Trending-Now: items with interactions in the latest complete window, by growth over
    the window before (``redis_keys.rank_trending``, its tie-breaks kept), then every other item by
    popularity so that a filter or a quiet period still fills ``numResults`` (ADR 0009). No scores shown."""
    pop = np.asarray(popularity, dtype=np.float64)
    values = pop / (float(pop.max(initial=0.0)) + 1.0) - 2.0  # in [-2, -1): below every trending item
    known = {item: count for item, count in current.items() if item in position}
    ranked = rank_trending(known, previous, len(known))
    for rank, (item, _growth) in enumerate(ranked):
        values[position[item]] = float(len(ranked) - rank)  # >= 1, best first
    return values


def rank_input_list(input_scores: Scores) -> list[tuple[int, float]]:
    """GetPersonalizedRanking over the input items the model knows: (input position, softmax score over
    those inputs), best first; ties keep input order. Unknown items are appended by the caller (L12222)."""
    if input_scores.size == 0:
        return []
    prob = softmax(input_scores)
    order = np.lexsort((np.arange(input_scores.size), -prob))
    return [(int(o), float(prob[o])) for o in order]
