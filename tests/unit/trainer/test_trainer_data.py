"""Pre-training filters (eventType, eventValueThreshold) and Personalize's data minimums."""

from __future__ import annotations

import numpy as np
import pytest

from tailor_shared.errors import InvalidInputException
from tailor_trainer.domain import DataRuleViolation, Interactions, ItemsTable, train_solution_version
from tailor_trainer.domain.data import filter_interactions, prepare

UP_V2 = "arn:aws:personalize:::recipe/aws-user-personalization-v2"


def _make(n_users: int, per_user: int, event: str = "click") -> Interactions:
    users = np.repeat([f"u{u}" for u in range(n_users)], per_user).astype(object)
    items = np.asarray([f"i{(u + k) % 97}" for u in range(n_users) for k in range(per_user)], dtype=object)
    ts = np.arange(n_users * per_user, dtype=np.int64)
    types = np.asarray([event] * len(users), dtype=object)
    values = np.tile(np.linspace(0.0, 1.0, per_user), n_users)
    return Interactions(users, items, ts, types, values)


def test_event_type_and_value_threshold_filter(synthetic_data: tuple[Interactions, ItemsTable]) -> None:
    inter, _ = synthetic_data
    kept = filter_interactions(inter, {"eventType": "purchase", "eventValueThreshold": "3"})
    assert inter.event_type is not None and inter.event_value is not None
    assert kept.event_type is not None and kept.event_value is not None
    expected = np.logical_and(inter.event_type == "purchase", inter.event_value >= 3)
    assert len(kept) == int(np.sum(expected))
    assert set(kept.event_type.tolist()) == {"purchase"}
    assert float(np.min(kept.event_value)) >= 3


def test_exact_duplicates_are_kept_once() -> None:
    inter = _make(30, 40)
    assert inter.event_type is not None and inter.event_value is not None
    doubled = Interactions(
        np.concatenate([inter.user_id, inter.user_id]),
        np.concatenate([inter.item_id, inter.item_id]),
        np.concatenate([inter.timestamp, inter.timestamp]),
        np.concatenate([inter.event_type, inter.event_type]),
        np.concatenate([inter.event_value, inter.event_value]),
    )
    assert len(filter_interactions(doubled, {})) == len(inter)


def test_fewer_than_1000_interactions_after_event_type_filter_fails() -> None:
    inter = _make(40, 30)  # 1200 clicks
    with pytest.raises(DataRuleViolation) as err:
        train_solution_version(UP_V2, inter, None, None, {"eventType": "purchase"}, False, "FULL", None, None, 0)
    assert (
        err.value.failure_reason == "Dataset has fewer than 1000 interactions after filtering by event type: purchase"
    )
    assert isinstance(err.value, InvalidInputException)


def test_fewer_than_1000_interactions_after_value_threshold_fails() -> None:
    inter = _make(40, 30)
    with pytest.raises(DataRuleViolation, match="fewer than 1000 interactions"):
        prepare(inter, None, {"eventValueThreshold": "0.5"})


def test_fewer_than_25_users_with_two_interactions_fails() -> None:
    few = _make(24, 60)  # 1440 interactions from 24 users
    singles = Interactions(
        np.asarray([f"s{k}" for k in range(100)], dtype=object),
        np.asarray(["i1"] * 100, dtype=object),
        np.arange(100, dtype=np.int64),
        np.asarray(["click"] * 100, dtype=object),
        np.zeros(100),
    )
    cols = [
        np.concatenate([getattr(few, f), getattr(singles, f)])
        for f in ("user_id", "item_id", "timestamp", "event_type", "event_value")
    ]
    inter = Interactions(cols[0], cols[1], cols[2], cols[3], cols[4])
    with pytest.raises(DataRuleViolation) as err:
        prepare(inter, None, {})
    assert (
        err.value.failure_reason == "Create failed. Dataset has fewer than 25 users with at least 2 interactions each."
    )


def test_items_dataset_adds_catalogue_and_metadata(synthetic_data: tuple[Interactions, ItemsTable]) -> None:
    inter, items = synthetic_data
    extra = ItemsTable(
        np.concatenate([items.item_id, np.asarray(["brand-new"], dtype=object)]),
        {k: np.concatenate([v, v[:1]]) for k, v in items.columns.items()},
        items.categorical,
        None,
    )
    data = prepare(inter, extra, {})
    k = int(np.flatnonzero(data.item_ids == "brand-new")[0])
    assert data.item_is_new[k]
    assert data.item_creation[k] == data.timestamp.max()  # no interactions: latest interaction time (L4148)
    assert data.features is not None
    assert "PRICE" in data.features.numeric_names
    assert any(t.startswith("GENRES=") for t in data.features.token_names)
    excluded = prepare(inter, extra, {"trainingDataConfig": {"excludedDatasetColumns": {"ITEMS": ["PRICE"]}}})
    assert excluded.features is not None and "PRICE" not in excluded.features.numeric_names
