"""Personalize's metrics on hand-computed cases, and the evaluation protocol's split rules."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tailor_trainer.domain.data import Interactions, prepare, tie_hash
from tailor_trainer.domain.evaluation import holdout, make_eval_set, split_users, top_k
from tailor_trainer.domain.metrics import (
    METRIC_NAMES,
    coverage,
    evaluate_top,
    ndcg_at_k,
    precision_at_k,
    reciprocal_rank,
)


def test_guide_worked_example() -> None:
    # L11170-L11190: relevant items at positions 2 and 5 of a list, K = 5.
    ranked = [10, 1, 11, 12, 2]
    relevant = {1, 2}
    assert reciprocal_rank(ranked, relevant) == pytest.approx(0.5)
    assert ndcg_at_k(ranked, relevant, 5) == pytest.approx(0.6241, abs=5e-5)
    expected = (1 / math.log(3) + 1 / math.log(6)) / (1 / math.log(2) + 1 / math.log(3))
    assert ndcg_at_k(ranked, relevant, 5) == pytest.approx(expected)
    assert precision_at_k(ranked, relevant, 5) == pytest.approx(0.4)


def test_mean_reciprocal_rank_example() -> None:
    # L11060: users clicking at ranks (4, 10), (2, 4, 12), (6) -> (1/4 + 1/2 + 1/6) / 3 = .3056
    lists = np.arange(25)[None, :].repeat(3, axis=0)
    relevant = [np.array([3, 9]), np.array([1, 3, 11]), np.array([5])]
    m = evaluate_top(lists, relevant, 100)
    assert m["mean_reciprocal_rank_at_25"] == pytest.approx((1 / 4 + 1 / 2 + 1 / 6) / 3)
    assert round(m["mean_reciprocal_rank_at_25"], 4) == 0.3056


def test_precision_example_and_vectorised_agreement() -> None:
    # L11090: 3 relevant of 10 recommended -> 0.30.
    ranked = list(range(25))
    relevant = {0, 4, 9, 30}
    assert precision_at_k(ranked, relevant, 10) == pytest.approx(0.3)
    m = evaluate_top(np.asarray([ranked]), [np.asarray(sorted(relevant))], 50)
    assert m["precision_at_10"] == pytest.approx(0.3)
    assert m["precision_at_5"] == pytest.approx(2 / 5)
    assert m["precision_at_25"] == pytest.approx(3 / 25)
    for k in (5, 10, 25):
        assert m[f"normalized_discounted_cumulative_gain_at_{k}"] == pytest.approx(ndcg_at_k(ranked, relevant, k))
    assert set(m) == set(METRIC_NAMES)


def test_ndcg_ideal_is_capped_at_k() -> None:
    # 7 relevant items, all in the top 5: the ideal DCG uses only 5 positions, so NDCG@5 is exactly 1.
    ranked = list(range(25))
    assert ndcg_at_k(ranked, set(range(7)), 5) == pytest.approx(1.0)
    assert ndcg_at_k(ranked, set(), 5) == 0.0
    assert reciprocal_rank(list(range(30)), {26}) == 0.0  # beyond 25: ignored


def test_coverage_counts_distinct_recommended_items() -> None:
    assert coverage([[1, 2, 3], [3, 4]], 10) == pytest.approx(0.4)
    m = evaluate_top(np.asarray([[1, 2], [2, 3]]), [np.asarray([1]), np.asarray([9])], 8)
    assert m["coverage"] == pytest.approx(3 / 8)


def test_top_k_orders_by_score_then_index() -> None:
    scores = np.asarray([[0.1, 0.5, 0.5, -np.inf, 0.9]], dtype=np.float32)
    assert top_k(scores, 4).tolist() == [[4, 1, 2, 0]]
    assert top_k(scores, 5).tolist() == [[4, 1, 2, 0, -1]]


def test_holdout_is_oldest_90_percent_and_newest_10_percent() -> None:
    x, y = holdout(np.arange(20))
    assert x.tolist() == list(range(18)) and y.tolist() == [18, 19]
    x, y = holdout(np.arange(2))
    assert len(x) == 1 and len(y) == 1
    x, y = holdout(np.arange(25))
    assert len(x) == 22 and len(y) == 3


def _interactions(n_users: int, per_user: int) -> Interactions:
    users = np.repeat([f"u{u}" for u in range(n_users)], per_user).astype(object)
    items = np.asarray([f"i{(u * 7 + k) % 50}" for u in range(n_users) for k in range(per_user)], dtype=object)
    ts = np.repeat(np.int64(1_000), n_users * per_user)  # every interaction in the same second
    return Interactions(users, items, ts)


def test_user_split_is_ten_percent_of_users_and_seeded() -> None:
    data = prepare(_interactions(200, 6), None, {})
    train, test = split_users(data, seed=3)
    assert len(test) == 20 and len(train) == 180
    assert not set(train.tolist()) & set(test.tolist())
    assert split_users(data, seed=3)[1].tolist() == test.tolist()
    assert split_users(data, seed=4)[1].tolist() != test.tolist()


def test_timestamp_ties_break_by_hash_not_by_id_or_file_order() -> None:
    inter = _interactions(40, 30)
    data = prepare(inter, None, {})
    order = np.random.default_rng(0).permutation(len(inter))
    shuffled = Interactions(inter.user_id[order], inter.item_id[order], inter.timestamp[order])
    again = prepare(shuffled, None, {})
    assert np.array_equal(data.item, again.item) and np.array_equal(data.user, again.user)
    # within a user, tied items follow the fixed (user, item) hash, not the item id order
    u0 = data.item[data.user_ptr[0] : data.user_ptr[1]]
    ids = data.item_ids[u0]
    hashes = tie_hash(np.asarray([data.user_ids[0]] * len(ids), dtype=object), ids)
    assert np.all(np.diff(hashes.astype(np.float64)) >= 0)
    assert list(ids) != sorted(ids)


def test_eval_set_drops_seen_items_from_relevance_when_excluding() -> None:
    inter = Interactions(
        np.asarray(["a"] * 10, dtype=object),
        np.asarray(["x", "y", "z", "w", "v", "t", "s", "r", "q", "x"], dtype=object),
        np.arange(10, dtype=np.int64),
    )
    data = prepare(inter, None, {}, check_rules=False)
    ev = make_eval_set(data, np.asarray([0]), exclude_seen=True)
    assert len(ev) == 0  # the only held-out item was already in the input
    ev = make_eval_set(data, np.asarray([0]), exclude_seen=False)
    assert len(ev) == 1 and data.item_ids[ev.relevant[0]].tolist() == ["x"]
