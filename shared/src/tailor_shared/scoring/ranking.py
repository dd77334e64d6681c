"""Turning model scores into Personalize's item list: filters, fill, promotions, score normalisation.

Pure numpy. Rules from the guide (data-events-filters-batch.md §4) and ADR 0009 where it is silent:

* Scores: user-personalization normalises with a softmax over the whole catalogue, personalized ranking
  over the input list; SIMS, similar-items and popularity-count show no score (L11546-L11612).
* Filter backfill: when a filter leaves fewer than ``numResults`` scored items, UP-v2 adds "placeholder"
  popular items that satisfy the filter, with reason ``Popular item`` and no score (L11613).
* Exploration (User-Personalization): ``floor(numResults * explorationWeight * EXPLORATION_SHARE)`` of the
  regular slots, the tail ones, go to items young enough for the campaign's explorationItemAgeCutOff, drawn
  with weight ``1 / (1 + interactions)`` (less-known items more often), seeded per user and period so a
  user's list doesn't reshuffle between requests (ADR 0009 §18; L5937-L5990).
* Promotions (≤ 1): ``floor(numResults * percentPromotedItems / 100)`` slots go to the best items that match
  the promotion's filter (the request filter does not apply to them); promoted items keep their relative
  order and are placed at pseudo-random positions seeded by the recommendationId; no item appears twice
  (L11800-L12130).
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tailor_shared.redis_keys import rank_trending
from tailor_shared.scoring.masks import Allowed, ItemMask, allowed_at, dense

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
    mask: ItemMask  # items matching the promotion's filter (less the request's exclusions)
    #: The same items as ascending positions, when the caller has them (an item-only filter's cached positions
    #: minus the request's exclusions): ranking then gathers their scores instead of scanning the catalogue.
    positions: npt.NDArray[np.int64] | None = None


EXPLORATION_SHARE = 0.5  # explorationWeight 1.0 explores half of the regular slots, the default 0.3 about 15 %


@dataclass(frozen=True)
class Exploration:
    weight: float  # explorationWeight in [0, 1]
    eligible: Mask  # items within explorationItemAgeCutOff (see ``exploration_eligible``)
    interactions: npt.NDArray[np.int64] | npt.NDArray[np.float64]  # per item, at training time
    seed: str
    discount: npt.NDArray[np.float64] | None = None  # per item: shown without being chosen (scoring.impressions)
    eligible_index: npt.NDArray[np.int64] | None = None  # flatnonzero(eligible), when the caller has it cached
    #: ``draw_weights(interactions)``, when the caller has it cached (a catalogue-sized conversion per request else)
    base_weights: npt.NDArray[np.float64] | None = None


def draw_weights(interactions: npt.NDArray[np.int64] | npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Per item, its exploration weight before impressions: ``1 / (1 + interactions)`` (less-known items more
    often). Element-wise, so a gather of it equals the same formula over the gathered items (bit for bit)."""
    return 1.0 / (1.0 + np.asarray(interactions, dtype=np.float64))


def exploration_eligible(creation: npt.NDArray[np.int64], latest_interaction: int, cutoff_days: float) -> Mask:
    """Items whose age — from CREATION_TIMESTAMP (or first interaction, or "new" = the latest interaction, as
    the trainer exports it) to the latest interaction in the training data — is within the cut-off (L5989)."""
    age = latest_interaction - np.asarray(creation, dtype=np.int64)
    return np.asarray(age <= cutoff_days * 86400.0, dtype=bool)


def exploration_slots(num_results: int, weight: float) -> int:
    return int(num_results * min(max(weight, 0.0), 1.0) * EXPLORATION_SHARE)


@dataclass(slots=True)
class Ranked:
    """One listed item. Not frozen: 25 are built per request, and a frozen dataclass's ``__init__`` goes through
    ``object.__setattr__`` (about three times the cost); nothing changes one after ``recommend`` returns it."""

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


def _partition(scores: Values) -> tuple[float, float]:
    """(max, sum of exp(score - max)) over the finite scores, as ``softmax`` computes them; (0, 0) when none."""
    if scores.size == 0:
        return 0.0, 0.0
    # The ufuncs' reductions called directly: ``ndarray.max``/``sum`` add a Python frame each (numpy's
    # ``_methods``), which the ONNX run has evicted too (ADR 0019 §12). Same reductions, same results.
    top = float(np.maximum.reduce(scores))
    values = scores
    # A finite max means no NaN and no +inf (either would be the max); a -inf adds exp(-inf) = 0 to the sum, so
    # one reduction, not a max and a min, decides whether the scores need compacting first.
    if not math.isfinite(top):
        values = scores[np.isfinite(scores)]
        if values.size == 0:
            return 0.0, 0.0
        top = float(values.max())
    shifted = values.astype(np.float64)
    shifted -= top
    return top, float(np.add.reduce(np.exp(shifted, out=shifted)))


PRESELECT_STRIDE = 16  # ``top_indices``: one item in 16 samples the bound of its pre-selection


def top_indices(values: Values, mask: ItemMask, k: int) -> npt.NDArray[np.int64]:
    """The ``k`` best allowed positions, best first (ties broken by position, deterministic)."""
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    if isinstance(mask, Allowed) and mask.base is None:
        # An unfiltered request: every item but the few excluded ones. They become NaN in a copy of the values
        # (never ranked, as a non-finite value), which is cheaper than building a catalogue-sized mask and reading
        # the pool through it (ADR 0019 §10), and than taking them out of the sample and the pool by binary
        # searches (a dozen more numpy calls: §12).
        if mask.excluded:
            values = values.copy()
            values[list(mask.excluded)] = np.nan
        return _top_finite(values, None, k)
    return _top_finite(values, dense(mask), k)


def _top_finite(values: Values, mask: Mask | None, k: int) -> npt.NDArray[np.int64]:
    """``top_indices`` over the finite values that ``mask`` allows (None: every finite value)."""
    # Exact pre-selection: the k-th best of a sample of allowed items is a value at least k allowed items reach,
    # so every item of the true top k is >= it, and the pool above it is ~stride * k items (argpartition over
    # 10,000 items was most of a request's ranking time).
    if values.size > PRESELECT_STRIDE * k * 2:
        sampled = None if mask is None else mask[::PRESELECT_STRIDE]
        if sampled is None or 2 * np.count_nonzero(sampled) > sampled.size:
            # A mostly-allowed mask (no filter): sample the allowed items among every 16th position and find the
            # pool with one comparison over the catalogue, instead of gathering every allowed item's value.
            sample = values[::PRESELECT_STRIDE] if sampled is None else values[::PRESELECT_STRIDE][sampled]
            sample = sample[np.isfinite(sample)]  # a copy: partitioned in place below
            if sample.size >= k:
                # Few numpy calls from here on: right after the ONNX run each costs several µs whatever its size
                # (ADR 0019 §10, §12).
                sample.partition(sample.size - k)
                bound = sample[sample.size - k]
                pool = (values >= bound).nonzero()[0]  # NaN compares false; +inf is dropped below
                if mask is not None:
                    pool = pool[mask[pool]]
                vals = values[pool]
                best = _best(pool, vals, k)
                if not math.isinf(values[best[0]]):  # an item at +inf would come first: none in the pool
                    return best
                finite = np.isfinite(vals)
                return _best(pool[finite], vals[finite], k)
    finite = np.isfinite(values)
    allowed = np.flatnonzero(finite if mask is None else mask & finite)
    return _preselected(allowed, values[allowed], k)


def top_at(values: Values, positions: npt.NDArray[np.int64], k: int) -> npt.NDArray[np.int64]:
    """``top_indices`` over the allowed items given as ascending ``positions`` (the same answer as their mask's):
    O(allowed), not O(catalogue)."""
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    vals = values[positions]
    finite = np.isfinite(vals)
    if not finite.all():
        positions, vals = positions[finite], vals[finite]
    return _preselected(positions, vals, k)


def _preselected(allowed: npt.NDArray[np.int64], vals: Values, k: int) -> npt.NDArray[np.int64]:
    """``_best`` of ``allowed`` (ascending positions, finite ``vals``) after the strided-sample pre-selection."""
    if allowed.size > PRESELECT_STRIDE * k * 2:
        sample = vals[::PRESELECT_STRIDE]
        if sample.size >= k:
            bound = np.partition(sample, sample.size - k)[sample.size - k]
            near = np.flatnonzero(vals >= bound)
            allowed, vals = allowed[near], vals[near]
    return _best(allowed, vals, k)


def _best(pool: npt.NDArray[np.int64], vals: Values, k: int) -> npt.NDArray[np.int64]:
    """The ``k`` best of ``pool`` (positions; ``vals``, their finite values), best first, ties by position."""
    negated = -vals
    if pool.size > k:
        part = negated.argpartition(k - 1)[:k]
        pool, negated = pool[part], negated[part]
    return pool[np.lexsort((pool, negated))].astype(np.int64, copy=False)


@dataclass(frozen=True)
class Candidates:
    """Exact scores of part of the catalogue (``scoring.retrieval``): ``index`` (sorted positions) and their
    ``values``; ``log_partition``, the catalogue's log-sum-exp of scores (estimated) for shown softmax scores;
    ``score`` scores any other positions (an explored item outside the candidates)."""

    index: npt.NDArray[np.int64]
    values: npt.NDArray[np.float32]
    log_partition: float
    score: Callable[[npt.NDArray[np.int64]], npt.NDArray[np.float32]]


@dataclass(frozen=True)
class Need:
    """A mask over the catalogue and how many of its best allowed items an answer needs from the candidates."""

    mask: ItemMask
    count: int


def recommend(
    scores: Values | Candidates,
    mask: ItemMask,
    num_results: int,
    *,
    normalise: bool,
    popularity: npt.NDArray[np.float64] | None = None,
    backfill_popular: bool = False,
    show_reasons: bool = False,
    promotion: Promotion | None = None,
    exploration: Exploration | None = None,
    seed: str = "",
) -> list[Ranked]:
    """The item list of GetRecommendations for one request: ``scores`` over the catalogue, or its candidates
    (every mask's best allowed items are among them)."""
    if isinstance(scores, Candidates):
        cand = scores

        def top(allowed: ItemMask, k: int, positions: npt.NDArray[np.int64] | None = None) -> list[int]:
            best = top_indices(cand.values, allowed_at(allowed, cand.index), k)
            return cand.index[best].tolist()  # type: ignore[no-any-return]

        def shown_scores(items: list[int]) -> list[float | None]:
            if not normalise or not items:
                return [None] * len(items)
            positions = np.asarray(items, dtype=np.int64)
            at = np.searchsorted(cand.index, positions)
            np.minimum(at, max(cand.index.size - 1, 0), out=at)  # ``clip`` costs a Python wrapper and two iinfo
            known = cand.index[at] == positions if cand.index.size else np.zeros(len(items), dtype=bool)
            values = np.where(known, cand.values[at], 0.0).astype(np.float64)
            if not known.all():
                values[~known] = cand.score(positions[~known])
            return np.exp(values - cand.log_partition).tolist()  # type: ignore[no-any-return]

    else:
        full = scores
        # Softmax of the shown items only: the same values as ``softmax(full)[items]``, without the catalogue-sized
        # output array (one exp pass over the catalogue for the partition function remains).
        partition = _partition(full) if normalise else None

        def top(allowed: ItemMask, k: int, positions: npt.NDArray[np.int64] | None = None) -> list[int]:
            found = top_indices(full, allowed, k) if positions is None else top_at(full, positions, k)
            return found.tolist()  # type: ignore[no-any-return]

        def shown_scores(items: list[int]) -> list[float | None]:
            if partition is None or not items:
                return [None] * len(items)
            top_value, total = partition
            if total == 0.0:
                return [0.0] * len(items)
            # Python floats for a few dozen items: cheaper than the numpy calls, each of which costs several µs
            # right after the ONNX run (ADR 0019 §12). ``tolist`` gives the exact float64 of each float32 score.
            return [
                math.exp(value - top_value) / total if math.isfinite(value) else 0.0
                for value in full.take(items).tolist()
            ]

    promoted: list[int] = []
    if promotion is not None:
        promoted = top(promotion.mask, (num_results * promotion.percent) // 100, promotion.positions)
    # No catalogue-sized "taken" mask: the best allowed items minus the (few) promoted ones are the first of the
    # best ``slots + len(promoted)`` allowed items that are not promoted.
    slots = num_results - len(promoted)
    if promoted:
        promoted_set = set(promoted)
        regular = [i for i in top(mask, slots + len(promoted)) if i not in promoted_set][:slots]
    else:
        regular = top(mask, slots)
    explored: set[int] = set()
    if exploration is not None:
        regular, explored = _explore(regular, exploration, mask, promoted, slots)
    if show_reasons and explored:
        entries = [
            Ranked(i, score, None, (REASON_EXPLORATION,) if i in explored else ())
            for i, score in zip(regular, shown_scores(regular), strict=True)
        ]
    else:
        entries = [Ranked(i, score) for i, score in zip(regular, shown_scores(regular), strict=True)]
    missing = num_results - len(promoted) - len(entries)
    if missing > 0 and backfill_popular and popularity is not None:
        fillable = dense(mask).copy()  # a new array: the caller's mask is not changed
        fillable[promoted] = False
        fillable[regular] = False
        fill = top_indices(popularity, fillable, missing).tolist()
        entries.extend(Ranked(i, None, None, (REASON_POPULAR,) if show_reasons else ()) for i in fill)
    if not promoted:
        return entries
    promo_entries = [
        Ranked(i, score, promotion.name if promotion else None, (REASON_PROMOTED,) if show_reasons else ())
        for i, score in zip(promoted, shown_scores(promoted), strict=True)
    ]
    return place_promoted(entries, promo_entries, seed)


def _explore(
    regular: list[int], exploration: Exploration, allowed: ItemMask, promoted: list[int], slots: int
) -> tuple[list[int], set[int]]:
    """The regular list with its tail replaced by explored items (allowed, not promoted; fewer when fewer items
    are eligible), and the explored items."""
    k = exploration_slots(slots, exploration.weight)
    if k <= 0:
        return regular, set()
    keep = regular[: max(0, slots - k)]
    # The eligible items that are allowed and neither kept nor promoted, in position order: O(eligible), not
    # O(catalogue).
    eligible = exploration.eligible_index
    if eligible is None:
        eligible = np.flatnonzero(exploration.eligible)
    if eligible.size == 0:  # no item young enough: skip the few numpy calls on empty arrays
        return regular, set()
    candidates = eligible[allowed_at(allowed, eligible)]
    if keep or promoted:
        candidates = _without(candidates, keep + promoted)
    if candidates.size == 0:
        return regular, set()
    k = min(k, int(candidates.size))
    base = exploration.base_weights
    weights = draw_weights(exploration.interactions[candidates]) if base is None else base[candidates]
    if exploration.discount is not None:
        weights = weights * exploration.discount[candidates]
    seed = int.from_bytes(hashlib.blake2b(exploration.seed.encode(), digest_size=8).digest(), "big")
    drawn = [
        int(i) for i in np.random.default_rng(seed).choice(candidates, size=k, replace=False, p=weights / weights.sum())
    ]
    rest = [i for i in regular[len(keep) :] if i not in set(drawn)][: max(0, slots - len(keep) - k)]
    return keep + rest + drawn, set(drawn)


def _without(ordered: npt.NDArray[np.int64], drop: list[int]) -> npt.NDArray[np.int64]:
    """``ordered`` (ascending positions) minus the few ``drop`` positions, order kept: a binary search per dropped
    item (``np.isin`` sorts both arrays: most of a request's ranking time at 10,000 eligible items)."""
    wanted = np.asarray(drop, dtype=np.int64)
    at = np.searchsorted(ordered, wanted)
    inside = at < ordered.size
    found = at[inside][ordered[at[inside]] == wanted[inside]]
    return np.delete(ordered, found) if found.size else ordered


def place_promoted(regular: list[Ranked], promoted: list[Ranked], seed: str) -> list[Ranked]:
    """Promoted items at pseudo-random slots, in their own sorted order; regular items keep theirs."""
    if not promoted:
        return regular
    total = len(regular) + len(promoted)
    slots = sorted(random.Random(seed).sample(range(total), len(promoted)))
    out = list(regular)
    for slot, item in zip(slots, promoted, strict=True):  # ascending slots: each insert lands where it belongs
        out.insert(slot, item)
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
