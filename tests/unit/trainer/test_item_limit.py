"""The item limit (L4131-4133, L4992, L5380): above the recipe's limit training keeps the newest items and the
items with the most recent interactions; an UPDATE (the automatic update's training) adds new items only until
the model holds the limit."""

from __future__ import annotations

import numpy as np

from tailor_trainer.domain import Interactions, ItemsTable, train_solution_version
from tailor_trainer.domain import hyperparams as hp
from tailor_trainer.domain.data import prepare

UP = "arn:aws:personalize:::recipe/aws-user-personalization"
CONFIG = {"algorithmHyperParameters": {"hidden_dimension": "16", "bptt": "8"}}
Data = tuple[Interactions, ItemsTable]


def _data() -> tuple[Interactions, ItemsTable]:
    """Items i0..i9: i<k>'s latest interaction is at time 100 + k; n0 and n1 are Items-only (n1 created late)."""
    users = np.asarray([f"u{k % 5}" for k in range(20)], dtype=object)
    items = np.asarray([f"i{k % 10}" for k in range(20)], dtype=object)
    ts = np.asarray([100 + k % 10 - (10 if k < 10 else 0) for k in range(20)], dtype=np.int64)
    table = ItemsTable(
        np.asarray([f"i{k}" for k in range(10)] + ["n0", "n1"], dtype=object),
        creation_timestamp=np.asarray([1.0] * 10 + [np.nan, 150.0]),
    )
    return Interactions(users, items, ts), table


def test_the_recipes_limits_are_the_guides() -> None:
    assert hp.max_training_items("aws-user-personalization") == 750_000
    assert hp.max_training_items("aws-sims") == 750_000
    assert hp.max_training_items("aws-user-personalization-v2") == 5_000_000
    assert hp.max_training_items("aws-personalized-ranking-v2") == 5_000_000


def test_above_the_limit_training_keeps_new_items_and_recent_interactions() -> None:
    inter, table = _data()
    everything = prepare(inter, table, {}, check_rules=False)
    assert everything.n_items == 12 and "itemsLeftOut" not in everything.filter_summary
    data = prepare(inter, table, {}, check_rules=False, max_items=5)
    # n1 (created at 150) and n0 (no creation time: just added, as new as the latest interaction, 109), then the
    # latest interactions i9 (109), i8, i7.
    assert set(data.item_ids.tolist()) == {"n0", "n1", "i9", "i8", "i7"}
    assert data.item_ids.tolist() == sorted(data.item_ids.tolist())  # still indexed in id order
    assert data.filter_summary["itemsLeftOut"] == 7
    # The interactions of the items left out are not trained on.
    assert set(data.item_ids[data.item].tolist()) == {"i7", "i8", "i9"}
    assert len(data.item) == 6


def test_an_update_keeps_the_known_items_and_fills_up_to_the_limit() -> None:
    inter, table = _data()
    known = np.asarray(["i0", "i1", "i2"], dtype=object)
    data = prepare(inter, table, {}, check_rules=False, known_items=known, max_items=5)
    assert data.item_ids.tolist() == ["i0", "i1", "i2", "i9", "n1"]  # i9 before n0 on the tie at 109: by id
    full = prepare(inter, table, {}, check_rules=False, known_items=known, max_items=3)
    assert full.item_ids.tolist() == ["i0", "i1", "i2"]


def test_an_automatic_updates_training_adds_no_item_beyond_the_limit(synthetic_data: Data) -> None:
    inter, items = synthetic_data
    seen = np.unique(inter.item_id)
    trained_on = np.isin(items.item_id, seen)
    base = ItemsTable(items.item_id[trained_on], {}, frozenset(), None)
    full = train_solution_version(UP, inter, base, None, CONFIG, False, "FULL", None, None, 0, max_training_seconds=3)
    grown = ItemsTable(
        np.concatenate([base.item_id, np.asarray(["new0", "new1", "new2"], dtype=object)]), {}, frozenset(), None
    )
    upd = train_solution_version(
        UP, inter, grown, None, CONFIG, False, "UPDATE", full, None, 0, max_items=full.n_items + 2
    )
    assert upd.n_items == full.n_items + 2  # two of the three new items: the limit
    assert upd.item_ids[: full.n_items].tolist() == full.item_ids.tolist()
    at_limit = train_solution_version(UP, inter, grown, None, CONFIG, False, "UPDATE", full, None, 0, max_items=1)
    assert at_limit.n_items == full.n_items  # a model at the limit gets no new item
