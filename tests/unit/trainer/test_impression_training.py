"""Impressions in User-Personalization training (ADR 0022 §15): the items shown with an event and not chosen
are that event's hard negatives; the data keeps them aligned with each user's ordered rows, and training with
them scores a passed-over item lower in the contexts where it was passed over."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import torch

from tailor_trainer.domain import Interactions, train_solution_version
from tailor_trainer.domain.data import PreparedData, prepare, subset_users
from tailor_trainer.domain.sequential import SeqConfig, train_hybrid

UP = "arn:aws:personalize:::recipe/aws-user-personalization"
PR = "arn:aws:personalize:::recipe/aws-personalized-ranking"


def _objects(values: Sequence[object]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def test_each_row_keeps_the_shown_items_it_did_not_choose() -> None:
    inter = Interactions(
        _objects(["u2", "u1", "u1", "u2"]),
        _objects(["b", "a", "c", "a"]),
        np.asarray([5, 2, 1, 3], dtype=np.int64),
        impression=_objects([["a", "b", "zz"], ["a", "b", "c"], [], ["a", "c", "c"]]),
    )
    data = prepare(inter, None, {}, check_rules=False)
    assert data.shown_ptr is not None and data.shown_item is not None
    rows = [
        (data.user_ids[data.user[r]], data.item_ids[data.item[r]], data.item_ids[data.shown_item[a:b]].tolist())
        for r, (a, b) in enumerate(zip(data.shown_ptr[:-1], data.shown_ptr[1:], strict=True))
    ]
    # Ordered by user then time; the chosen item and items outside the catalogue ("zz") are not negatives.
    assert rows == [("u1", "c", []), ("u1", "a", ["b", "c"]), ("u2", "a", ["c"]), ("u2", "b", ["a"])]
    assert data.filter_summary["interactionsWithImpressions"] == 3
    only_u2 = subset_users(data, np.asarray([1]))
    assert only_u2.shown_ptr is not None and only_u2.shown_item is not None
    assert only_u2.shown_ptr.tolist() == [0, 1, 2]
    assert only_u2.item_ids[only_u2.shown_item].tolist() == ["c", "a"]


def _exposure_data() -> PreparedData:
    """Two kinds of users. A-users choose among a0..a9 and are shown "hot" with every choice, never taking it;
    B-users take hot half the time (so it is popular). Impressions say hot is wrong after A items."""
    rng = np.random.default_rng(0)
    users, items, times, shown = [], [], [], []
    for u in range(60):
        a_user = u < 30
        for t in range(12):
            if a_user:
                item = f"a{rng.integers(0, 10)}"
                impression = ["hot", item, f"a{rng.integers(0, 10)}"]
            else:
                item = "hot" if rng.random() < 0.5 else f"b{rng.integers(0, 10)}"
                impression = [item]
            users.append(f"u{u}")
            items.append(item)
            times.append(t)
            shown.append(impression)
    inter = Interactions(
        _objects(users), _objects(items), np.asarray(times, dtype=np.int64), impression=_objects(shown)
    )
    return prepare(inter, None, {}, check_rules=False)


def _hot_rank_after_a_items(data: PreparedData, weight: float) -> float:
    cfg = SeqConfig(
        hidden=16, layers=1, context=8, dropout=0.0, max_epochs=6, use_linear=False, impression_weight=weight
    )
    result = train_hybrid(data, None, cfg, 0, False, fixed_epochs=6)
    assert result.model is not None
    hot = int(np.flatnonzero(data.item_ids == "hot")[0])
    a_histories = [data.item[data.user_ptr[u] : data.user_ptr[u + 1]][-8:] for u in range(30)]
    with torch.no_grad():
        scores = result.model(torch.from_numpy(np.stack(a_histories))).numpy()
    return float((scores > scores[:, [hot]]).sum(axis=1).mean())  # items ranked above hot, on average


def test_training_on_impressions_ranks_a_passed_over_item_lower_where_it_was_passed_over() -> None:
    data = _exposure_data()
    assert data.filter_summary["interactionsWithImpressions"] == 360  # every A event passed hot over
    without = _hot_rank_after_a_items(replace(data, shown_ptr=None, shown_item=None), 1.0)
    ignored = _hot_rank_after_a_items(data, 0.0)
    with_impressions = _hot_rank_after_a_items(data, 1.0)
    assert ignored == without  # weight 0: the same training, bit for bit (deterministic kernels)
    assert with_impressions > without + 1.0, (with_impressions, without)


def test_only_user_personalization_trains_on_impressions() -> None:
    data = _exposure_data()
    users = data.user_ids[data.user]
    items = data.item_ids[data.item]
    shown = _objects([["hot", "a1"]] * len(users))
    config = {"algorithmHyperParameters": {"hidden_dimension": "16", "bptt": "8"}}
    bigger = Interactions(
        np.concatenate([users] * 2),
        np.concatenate([items] * 2),
        np.concatenate([data.timestamp, data.timestamp + 100]),
        impression=np.concatenate([shown] * 2),
    )  # fmt: skip
    up = train_solution_version(UP, bigger, None, None, config, False, "FULL", None, None, 0, max_training_seconds=3)
    pr = train_solution_version(PR, bigger, None, None, config, False, "FULL", None, None, 0, max_training_seconds=3)
    assert up.data_summary["interactionsWithImpressions"] > 0
    assert "interactionsWithImpressions" not in pr.data_summary
