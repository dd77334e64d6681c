"""A request's allowed items as a filter mask plus an exclusion set (``scoring.masks.Allowed``, ADR 0019 §7): it
answers like the catalogue-sized mask it stands for, and ranking with it gives the same list."""

from __future__ import annotations

import numpy as np
import pytest

from tailor_shared.scoring.masks import Allowed, allowed_at, allowed_count, dense, member
from tailor_shared.scoring.ranking import Candidates, Exploration, Promotion, recommend


@pytest.mark.parametrize("filtered", [False, True])
def test_allowed_answers_as_the_mask_it_stands_for(filtered: bool) -> None:
    rng = np.random.default_rng(1)
    n = 500
    base = rng.random(n) < 0.4 if filtered else None
    excluded = [int(i) for i in rng.integers(0, n, 60)] + [0, 0, n - 1]  # repeats and both ends
    allowed = Allowed(n, excluded, base)
    want = np.ones(n, dtype=bool) if base is None else base.copy()
    want[excluded] = False
    assert np.array_equal(allowed.dense(), want) and np.array_equal(dense(allowed), want)
    positions = rng.integers(0, n, 200).astype(np.int64)
    assert np.array_equal(allowed.at(positions), want[positions])
    assert np.array_equal(allowed_at(allowed, positions), want[positions])
    assert allowed.count == allowed_count(allowed) == int(want.sum())
    if base is not None:
        assert int(base.sum()) > int(want.sum())  # the filter's own mask is not changed
    assert allowed_at(want, positions).tolist() == want[positions].tolist() and dense(want) is want


def test_member_finds_positions_in_a_sorted_set_including_past_its_end() -> None:
    known = np.array([2, 5, 9], dtype=np.int64)
    assert member(known, np.array([0, 2, 3, 9, 10, 5], dtype=np.int64)).tolist() == [
        False,
        True,
        False,
        True,
        False,
        True,
    ]
    assert member(np.empty(0, dtype=np.int64), np.array([1], dtype=np.int64)).tolist() == [False]


def test_ranking_with_an_exclusion_set_equals_ranking_with_the_mask() -> None:
    rng = np.random.default_rng(7)
    n = 300
    scores = rng.normal(size=n).astype(np.float32)
    base = rng.random(n) < 0.5
    excluded = rng.choice(n, 40, replace=False).tolist()
    promo_mask = rng.random(n) < 0.3
    eligible = rng.random(n) < 0.2
    exploration = Exploration(1.0, eligible, rng.integers(0, 50, n), "v|user|0")
    for filt in (None, base):
        allowed = Allowed(n, excluded, filt)
        mask = allowed.dense()
        kwargs = {
            "normalise": True,
            "popularity": rng.random(n),
            "backfill_popular": True,
            "show_reasons": True,
            "promotion": Promotion("p", 20, promo_mask),
            "exploration": exploration,
            "seed": "RID-1",
        }
        want = recommend(scores, mask, 25, **kwargs)  # type: ignore[arg-type]
        got = recommend(scores, allowed, 25, **kwargs)  # type: ignore[arg-type]
        assert [(r.index, r.score, r.reasons) for r in got] == [(r.index, r.score, r.reasons) for r in want]
        # Candidates (retrieval) holding every item: the same list as the exact scores
        index = np.arange(n, dtype=np.int64)
        log_z = float(np.log(np.exp(scores.astype(np.float64)).sum()))
        cand = Candidates(index, scores, log_z, lambda p: scores[p])
        by_candidates = recommend(cand, allowed, 25, **kwargs)  # type: ignore[arg-type]
        assert [r.index for r in by_candidates] == [r.index for r in want]
        for g, w in zip(by_candidates, want, strict=True):
            assert (g.score is None) == (w.score is None)
            if g.score is not None and w.score is not None:
                assert g.score == pytest.approx(w.score, rel=1e-5)


def test_backfill_fills_from_the_allowed_items_and_leaves_the_callers_mask_unchanged() -> None:
    scores = np.array([3.0, 2.0, 1.0, -np.inf, 0.5], dtype=np.float32)  # item 3: unscored
    mask = np.array([True, False, False, True, False])
    for allowed in (mask, Allowed(5, [4], mask), Allowed(5, [1, 2, 4])):
        out = recommend(scores, allowed, 4, normalise=False, popularity=np.ones(5), backfill_popular=True)
        assert [r.index for r in out] == [0, 3]
    assert mask.tolist() == [True, False, False, True, False]
