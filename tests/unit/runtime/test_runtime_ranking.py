"""Ranking rules: softmax scores, top-k under a mask, popular backfill, promotions' share and placement."""

from __future__ import annotations

import numpy as np
import pytest

from tailor_shared.scoring.ranking import (
    REASON_POPULAR,
    REASON_PROMOTED,
    Exploration,
    Promotion,
    exploration_eligible,
    exploration_slots,
    rank_input_list,
    recommend,
    softmax,
    top_indices,
    trending_ranking,
)


def test_softmax_sums_to_one_and_ignores_masked_out_scores() -> None:
    s = np.array([1.0, 2.0, -np.inf, 0.5], dtype=np.float32)
    p = softmax(s)
    assert abs(p.sum() - 1.0) < 1e-9
    assert p[2] == 0.0
    assert p[1] > p[0] > p[3]


def test_top_indices_respects_mask_and_breaks_ties_by_position() -> None:
    s = np.array([0.5, 0.9, 0.9, 0.1, 0.7], dtype=np.float32)
    mask = np.array([True, True, True, True, False])
    assert top_indices(s, mask, 3).tolist() == [1, 2, 0]
    assert top_indices(s, ~mask, 3).tolist() == [4]
    assert top_indices(s, mask, 0).tolist() == []


def test_recommend_normalised_scores_and_no_score_recipes() -> None:
    s = np.array([3.0, 1.0, 2.0], dtype=np.float32)
    out = recommend(s, np.ones(3, dtype=bool), 2, normalise=True)
    assert [r.index for r in out] == [0, 2]
    expected = np.exp([3.0, 1.0, 2.0]) / np.exp([3.0, 1.0, 2.0]).sum()
    assert abs((out[0].score or 0) - expected[0]) < 1e-6
    unscored = recommend(s, np.ones(3, dtype=bool), 2, normalise=False)
    assert [r.score for r in unscored] == [None, None]


def test_backfill_with_popular_items_that_pass_the_filter() -> None:
    s = np.array([1.0, -np.inf, -np.inf, -np.inf], dtype=np.float32)  # only item 0 has a model score
    mask = np.array([True, True, False, True])
    popularity = np.array([5.0, 1.0, 9.0, 3.0])
    out = recommend(s, mask, 3, normalise=True, popularity=popularity, backfill_popular=True, show_reasons=True)
    assert [r.index for r in out] == [0, 3, 1]
    assert out[1].score is None and out[1].reasons == (REASON_POPULAR,)
    no_fill = recommend(s, mask, 3, normalise=True, popularity=popularity)
    assert [r.index for r in no_fill] == [0]


def test_promotion_share_dedup_order_and_stable_placement() -> None:
    s = np.linspace(1.0, 0.0, 20).astype(np.float32)  # item 0 best
    mask = np.ones(20, dtype=bool)
    promo_mask = np.zeros(20, dtype=bool)
    promo_mask[[3, 7, 15, 19]] = True
    promo = Promotion("spring", 50, promo_mask)
    out = recommend(s, mask, 6, normalise=True, promotion=promo, show_reasons=True, seed="RID-1")
    promoted = [r for r in out if r.promotion_name == "spring"]
    assert [r.index for r in promoted] == [3, 7, 15]  # floor(6 * 50%) = 3, best first, in order
    assert all(r.reasons == (REASON_PROMOTED,) for r in promoted)
    regular = [r.index for r in out if r.promotion_name is None]
    assert regular == [0, 1, 2]  # 3 is promoted, not repeated
    assert len({r.index for r in out}) == 6
    again = recommend(s, mask, 6, normalise=True, promotion=promo, show_reasons=True, seed="RID-1")
    assert [r.index for r in again] == [r.index for r in out]


def test_promotion_with_too_few_matches_gives_as_many_as_possible() -> None:
    s = np.linspace(1.0, 0.0, 10).astype(np.float32)
    promo_mask = np.zeros(10, dtype=bool)
    promo_mask[9] = True
    out = recommend(s, np.ones(10, dtype=bool), 4, normalise=False, promotion=Promotion("p", 100, promo_mask))
    assert len(out) == 4
    assert [r.index for r in out if r.promotion_name] == [9]


def test_rank_input_list_softmax_over_inputs() -> None:
    ranked = rank_input_list(np.array([0.1, 2.0, 1.0], dtype=np.float32))
    assert [i for i, _ in ranked] == [1, 2, 0]
    assert abs(sum(p for _, p in ranked) - 1.0) < 1e-9


def test_trending_ranks_by_growth_then_fills_with_popular_items() -> None:
    position = {"a": 0, "b": 1, "c": 2, "d": 3, "e": 4}
    popularity = np.array([1.0, 50.0, 2.0, 90.0, 10.0])
    # growth (cur - prev) / (prev + 1): a 2/2 = 1, b (3 - 0) / 1 = 3, c 0/21 = 0; "new" is not in the catalogue
    current = {"a": 3.0, "b": 3.0, "c": 20.0, "new": 100.0}
    previous = {"a": 1.0, "c": 20.0, "d": 40.0}
    values = trending_ranking(position, current, previous, popularity)
    order = [r.index for r in recommend(values, np.ones(5, dtype=bool), 5, normalise=False)]
    assert order == [1, 0, 2, 3, 4]  # b, a, c by growth; then d, e (no current interactions) by popularity
    assert all(r.score is None for r in recommend(values, np.ones(5, dtype=bool), 5, normalise=False))
    # a quiet period (no complete window yet): popularity alone
    quiet = trending_ranking(position, {}, {}, popularity)
    assert [r.index for r in recommend(quiet, np.ones(5, dtype=bool), 3, normalise=False)] == [3, 1, 4]


def test_exploration_takes_the_tail_slots_from_young_low_interaction_items() -> None:
    n = 20
    scores = np.linspace(1.0, 0.0, n).astype(np.float32)  # item 0 best
    day = 86400
    creation = np.full(n, 1_000 * day, dtype=np.int64)  # old items ...
    creation[12:] = 1_095 * day  # ... and items 12-19 created 5 days before the latest interaction
    eligible = exploration_eligible(creation, 1_100 * day, 10.0)
    assert eligible.tolist() == [False] * 12 + [True] * 8
    interactions = np.arange(n, dtype=np.int64)
    mask = np.ones(n, dtype=bool)
    mask[19] = False  # filtered out: never explored
    exploration = Exploration(1.0, eligible, interactions, "campaign|user-1|0")
    assert exploration_slots(10, 1.0) == 5 and exploration_slots(25, 0.3) == 3 and exploration_slots(10, 0.0) == 0
    ranked = recommend(scores, mask, 10, normalise=True, show_reasons=True, exploration=exploration)
    indices = [r.index for r in ranked]
    assert indices[:5] == [0, 1, 2, 3, 4]  # relevance keeps the head
    assert set(indices[5:]) <= set(range(12, 19)) and len(set(indices)) == 10
    assert all(r.reasons == ("Exploration",) for r in ranked[5:]) and all(not r.reasons for r in ranked[:5])
    assert all(r.score is not None for r in ranked)  # explored items keep their (softmax) score
    again = recommend(scores, mask, 10, normalise=True, show_reasons=True, exploration=exploration)
    assert [r.index for r in again] == indices  # same user and period: the same list
    # no eligible item: the plain ranking
    none = Exploration(1.0, np.zeros(n, dtype=bool), interactions, "s")
    assert [r.index for r in recommend(scores, mask, 10, normalise=True, exploration=none)] == list(range(10))
    # less-known items are drawn more often
    counts = np.zeros(n)
    for k in range(400):
        draw = recommend(scores, mask, 2, normalise=False, exploration=Exploration(1.0, eligible, interactions, str(k)))
        counts[draw[-1].index] += 1
    assert counts[12] > counts[18]


@pytest.mark.parametrize("seed", range(6))
def test_top_indices_preselection_is_exact(seed: int) -> None:
    """The strided-sample pre-selection gives the k best allowed items, as a full argsort does (ties by position)."""
    from tailor_shared.scoring.ranking import top_indices

    rng = np.random.default_rng(seed)
    n = 10_000
    values = rng.normal(size=n).astype(np.float32)
    values[rng.choice(n, 50, replace=False)] = -np.inf
    if seed % 2:
        values = np.round(values, 1)  # many ties
    mask = rng.random(n) > 0.3
    for k in (1, 25, 100, 500):
        allowed = np.flatnonzero(mask & np.isfinite(values))
        expected = allowed[np.lexsort((allowed, -values[allowed]))][:k]
        got = top_indices(values, mask, k)
        assert sorted(values[got].tolist(), reverse=True) == values[expected].tolist()
        if seed % 2 == 0:
            assert got.tolist() == expected.tolist()


@pytest.mark.parametrize("seed", range(20))
def test_exploration_never_draws_a_promoted_item(seed: int) -> None:
    n = 30
    scores = np.linspace(1.0, 0.0, n).astype(np.float32)
    promo_mask = np.zeros(n, dtype=bool)
    promo_mask[20:] = True  # the promoted items are the worst regular ones: exploration's favourites
    interactions = np.zeros(n, dtype=np.int64)
    exploration = Exploration(1.0, np.ones(n, dtype=bool), interactions, f"scope|user|{seed}")
    out = recommend(
        scores,
        np.ones(n, dtype=bool),
        10,
        normalise=True,
        promotion=Promotion("p", 50, promo_mask),
        exploration=exploration,
        seed=f"RID-{seed}",
    )
    promoted = [r.index for r in out if r.promotion_name]
    assert promoted == [20, 21, 22, 23, 24]
    assert len({r.index for r in out}) == 10
    assert len(out) == 10


@pytest.mark.parametrize("seed", range(8))
def test_request_path_shortcuts_answer_as_the_plain_formulas(seed: int) -> None:
    """The per-request savings (ADR 0019 §5) change no answer: dropping kept items by binary search equals the
    ``np.isin`` filter, cached draw weights draw the same items, the partition function equals ``softmax``'s."""
    from tailor_shared.scoring.ranking import _partition, _without, draw_weights, softmax

    rng = np.random.default_rng(seed)
    n = 2_000
    ordered = np.flatnonzero(rng.random(n) > 0.4).astype(np.int64)
    drop = [int(i) for i in rng.choice(n, 30, replace=False)]
    assert _without(ordered, drop).tolist() == ordered[~np.isin(ordered, drop)].tolist()
    assert _without(ordered, []).tolist() == ordered.tolist()
    scores = rng.normal(size=n).astype(np.float32)
    interactions = rng.integers(0, 50, n)
    eligible = rng.random(n) > 0.5
    mask = rng.random(n) > 0.2
    plain = Exploration(1.0, eligible, interactions, f"s|u|{seed}")
    cached = Exploration(
        1.0, eligible, interactions, f"s|u|{seed}", None, np.flatnonzero(eligible), draw_weights(interactions)
    )
    first = recommend(scores, mask, 25, normalise=True, exploration=plain)
    assert recommend(scores, mask, 25, normalise=True, exploration=cached) == first
    top, total = _partition(scores)
    assert [r.score for r in first] == pytest.approx(softmax(scores)[[r.index for r in first]].tolist(), rel=1e-12)
    assert top == float(scores.max()) and total > 0
    scores[:2] = [-np.inf, -np.inf]  # -inf only: one max decides, its exp adds 0 to the finite scores' sum
    finite = scores[np.isfinite(scores)]
    top, total = _partition(scores)
    assert top == float(finite.max())
    assert total == pytest.approx(float(np.exp(finite.astype(np.float64) - finite.max()).sum()), rel=1e-14)
    scores[:3] = [-np.inf, np.nan, np.inf]
    finite = scores[np.isfinite(scores)]
    assert _partition(scores) == (float(finite.max()), float(np.exp(finite.astype(np.float64) - finite.max()).sum()))


@pytest.mark.parametrize("seed", range(6))
def test_promotion_by_positions_answers_as_by_mask(seed: int) -> None:
    """The promotion's cached candidate positions (ADR 0019 §9) change no answer: ``top_at`` over ascending
    positions equals ``top_indices`` over their mask (non-finite scores skipped, ties by position), and a whole
    request with a promotion given as positions equals the same request with the mask only."""
    from tailor_shared.scoring.ranking import top_at

    rng = np.random.default_rng(seed)
    n = 5_000
    scores = rng.normal(size=n).astype(np.float32)
    if seed % 2:
        scores = np.round(scores, 1)  # many ties
    scores[rng.choice(n, 40, replace=False)] = -np.inf
    promo_mask = rng.random(n) > (0.2 if seed < 3 else 0.95)
    positions = np.flatnonzero(promo_mask)
    for k in (0, 1, 5, 25, 400):
        assert top_at(scores, positions, k).tolist() == top_indices(scores, promo_mask, k).tolist()
    mask = rng.random(n) > 0.3
    exploration = Exploration(0.3, rng.random(n) > 0.5, rng.integers(0, 9, n), f"s|u|{seed}")
    kwargs = {"normalise": True, "show_reasons": True, "exploration": exploration, "seed": f"RID-{seed}"}
    by_mask = recommend(scores, mask, 25, promotion=Promotion("p", 20, promo_mask), **kwargs)  # type: ignore[arg-type]
    by_positions = recommend(scores, mask, 25, promotion=Promotion("p", 20, promo_mask, positions), **kwargs)  # type: ignore[arg-type]
    assert by_positions == by_mask
    assert sum(1 for r in by_mask if r.promotion_name) == 5


@pytest.mark.parametrize("seed", range(20))
def test_promoted_items_are_placed_as_the_slot_by_slot_merge(seed: int) -> None:
    """``place_promoted`` inserts the promoted items at the seeded slots: the same list as walking the slots."""
    import random

    from tailor_shared.scoring.ranking import Ranked, place_promoted

    rng = random.Random(seed)
    regular = [Ranked(i, 0.1) for i in range(rng.randint(0, 30))]
    promoted = [Ranked(100 + i, 0.2, "p") for i in range(rng.randint(0, 10))]
    rid = f"RID-{seed}"
    total = len(regular) + len(promoted)
    slots = sorted(random.Random(rid).sample(range(total), len(promoted))) if promoted else []
    expected, p, r = [], 0, 0
    for position in range(total):
        if p < len(slots) and slots[p] == position:
            expected.append(promoted[p])
            p += 1
        else:
            expected.append(regular[r])
            r += 1
    assert place_promoted(regular, promoted, rid) == expected


@pytest.mark.parametrize("seed", range(8))
def test_unfiltered_top_items_without_a_dense_mask(seed: int) -> None:
    """An unfiltered request's exclusions are ranked as NaN in a copy of the scores (ADR 0019 §10): the same top
    items as through the dense mask, for few and many exclusions, ties and non-finite scores, and the caller's
    scores are left as they were."""
    from tailor_shared.scoring.masks import Allowed

    rng = np.random.default_rng(seed)
    n = 10_000
    scores = rng.normal(size=n).astype(np.float32)
    if seed % 2:
        scores = np.round(scores, 1)  # many ties
    scores[rng.choice(n, 30, replace=False)] = [np.nan, np.inf, -np.inf] * 10
    before = scores.copy()
    for excluded_count in (0, 5, 40, 400, 6_000):
        excluded = [int(i) for i in rng.choice(n, excluded_count)] + [0, 16, 32][: excluded_count % 4]
        allowed = Allowed(n, excluded)
        for k in (1, 25, 100):
            assert top_indices(scores, allowed, k).tolist() == top_indices(scores, allowed.dense(), k).tolist()
    np.testing.assert_array_equal(scores, before)
