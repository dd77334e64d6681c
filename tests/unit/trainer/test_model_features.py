"""Users and Items datasets as features of User-Personalization(-v2) (guide L5758, ADR 0020): lift tables of the
users' fields, a weight chosen on validation users, the tables in the model directory, the runtime's shift; item
metadata inside the item vectors."""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from tailor_shared.scoring.loader import LoadedModel
from tailor_trainer import artifacts
from tailor_trainer.domain import Interactions, ItemsTable, TrainedModel, UsersTable, train_solution_version
from tailor_trainer.domain import train as train_module
from tailor_trainer.domain.context import NUMERIC_BINS, user_lift, user_shift, user_values
from tailor_trainer.domain.data import prepare

ARN = "arn:aws:personalize:::recipe/aws-user-personalization-v2"
NDCG10 = "normalized_discounted_cumulative_gain_at_10"
SNAPSHOT = {"datasetGroupArn": "arn:aws:personalize:us-east-1:000000000000:dataset-group/g", "offsets": {"0": 1}}
Data = tuple[Interactions, ItemsTable]
Trained = tuple[Interactions, ItemsTable, UsersTable, TrainedModel]


def _toy() -> tuple[Interactions, UsersTable]:
    """Group "a" users read even items, group "b" odd ones; AGE 10..59 (one user per age)."""
    rng = np.random.default_rng(1)
    users, items, times = [], [], []
    for u in range(50):
        parity = u % 2
        for k, item in enumerate(rng.choice(np.arange(parity, 40, 2), size=8, replace=False).tolist()):
            users.append(f"u{u}")
            items.append(f"i{item}")
            times.append(1_000 + k)
    inter = Interactions(
        np.asarray(users, dtype=object), np.asarray(items, dtype=object), np.asarray(times, dtype=np.int64)
    )
    table = UsersTable(
        np.asarray([f"u{u}" for u in range(50)], dtype=object),
        {
            "group": np.asarray(["a" if u % 2 == 0 else "b" for u in range(50)], dtype=object),
            "AGE": np.arange(10, 60, dtype=np.int64),
            "NOTE": np.asarray(["x"] * 50, dtype=object),  # an uncategorised string: not a training input
        },
        frozenset({"group"}),
    )
    return inter, table


def test_lift_tables_of_categorical_and_numeric_fields() -> None:
    inter, table = _toy()
    data = prepare(inter, None, {}, check_rules=False)
    tables = user_lift(data, table, frozenset())
    assert set(tables) == {"GROUP", "AGE"}  # upper-case names; NOTE is neither categorical nor numeric
    even = np.asarray([int(str(i)[1:]) % 2 == 0 for i in data.item_ids])
    group = tables["GROUP"]
    a = group.lift[group.row("a") or 0]
    assert group.row("a") is not None and group.row("c") is None
    assert a[even].min() > 0 > a[~even].max()  # "a" users read only even items
    age = tables["AGE"]
    assert age.edges is not None and len(age.values) == NUMERIC_BINS == len(age.edges) + 1
    assert age.row("10") == 0 and age.row("59") == NUMERIC_BINS - 1 and age.row("n/a") is None
    assert age.row(str(age.edges[0])) == 1  # a value on an edge goes to the upper bin
    # excludedDatasetColumns (USERS) takes a field out of training
    assert set(user_lift(data, table, frozenset({"GROUP"}))) == {"AGE"}


def test_user_shift_sums_the_rows_of_each_users_values() -> None:
    inter, table = _toy()
    data = prepare(inter, None, {}, check_rules=False)
    tables = user_lift(data, table, frozenset())
    ids = np.asarray(["u0", "u1", "stranger"], dtype=object)
    shift = user_shift(tables, user_values(table, ids, frozenset()), data.n_items)
    age = tables["AGE"]
    group = tables["GROUP"]
    np.testing.assert_allclose(shift[0], group.lift[group.row("a") or 0] + age.lift[age.row("10") or 0], rtol=1e-6)
    assert not shift[2].any()  # no Users row: no shift


def _with_taste_field(data: Data) -> tuple[Interactions, ItemsTable, UsersTable]:
    """Each user's most frequent item category as a Users field (a strong, honest signal about the held-out items:
    the synthetic users keep their taste), plus a numeric field of noise."""
    inter, items = data
    category = dict(zip(items.item_id.tolist(), items.columns["GENRES"].tolist(), strict=True))
    per_user: dict[str, Counter[str]] = {}
    for u, i in zip(inter.user_id.tolist(), inter.item_id.tolist(), strict=True):
        per_user.setdefault(u, Counter())[category[i]] += 1
    ids = sorted(per_user)
    rng = np.random.default_rng(0)
    users = UsersTable(
        np.asarray(ids, dtype=object),
        {
            "TASTE": np.asarray([per_user[u].most_common(1)[0][0] for u in ids], dtype=object),
            "INCOME": rng.normal(50.0, 10.0, len(ids)),
        },
        frozenset({"TASTE"}),
    )
    return inter, items, users


@pytest.fixture(scope="module")
def trained(small_synthetic_data: Data) -> Trained:
    inter, items, users = _with_taste_field(small_synthetic_data)
    with pytest.MonkeyPatch.context() as patch:  # a module fixture runs before the per-test fast_training one
        patch.setattr(train_module, "V2_CONFIG", replace(train_module.V2_CONFIG, max_epochs=3, hidden=32, patience=2))
        # Without the refit: its 25 % validation users (ADR 0020 §1) are ~34 here, on which this small set's lift
        # is not chosen; the guide's 10 % are, and the lift's mechanics are what this module tests.
        model = train_solution_version(ARN, inter, items, users, {}, False, "FULL", None, None, 0, refit=False)
    return inter, items, users, model


def test_users_dataset_is_used_when_validation_says_it_helps(trained: Trained) -> None:
    _inter, _items, _users, model = trained
    chosen = model.config["userFeatures"]
    assert chosen["fields"] == ["INCOME", "TASTE"]
    assert chosen["weight"] > 0.0
    assert chosen["validation"][str(chosen["weight"])] > chosen["validation"]["0.0"]
    assert set(model.user_features) == {"INCOME", "TASTE"}
    # the test metrics are those of the served scores (with the users' shift); the model's own are kept
    assert model.metrics[NDCG10] != model.baselines["without user features"][NDCG10]


def test_without_a_users_dataset_the_model_is_unchanged(trained: Trained) -> None:
    inter, items, _users, with_users = trained
    plain = train_solution_version(ARN, inter, items, None, {}, False, "FULL", None, None, 0, refit=False)
    assert plain.user_features == {} and "userFeatures" not in plain.config
    assert plain.metrics[NDCG10] == with_users.baselines["without user features"][NDCG10]


def test_exported_user_features_shift_the_served_ranking(trained: Trained, tmp_path: Path) -> None:
    """The runtime (onnxruntime + the manifest's tables, no torch) adds the lift of the user's stored Users row."""
    _inter, items, _users, model = trained
    manifest = artifacts.export(model, tmp_path / "users", SNAPSHOT, report=False)
    spec = manifest.data["userFeatures"]
    assert set(spec) == {"INCOME", "TASTE"} and "edges" in spec["INCOME"] and "edges" not in spec["TASTE"]
    served = LoadedModel(manifest.directory)
    category = dict(zip(items.item_id.tolist(), items.columns["GENRES"].tolist(), strict=True))
    is_cat3 = np.asarray([category.get(i) == "cat3" for i in served.item_ids])
    shift = served.context_shift({}, {"TASTE": "cat3", "INCOME": "51.5"})
    assert shift is not None and shift[is_cat3].mean() > shift[~is_cat3].mean()
    taste = model.user_features["TASTE"]
    row = taste.row("cat3")
    assert row is not None
    only_taste = served.context_shift({}, {"taste": "cat3"})  # field names match case-insensitively
    assert only_taste is not None
    np.testing.assert_allclose(only_taste, taste.lift[row])
    assert served.context_shift({}, {"TASTE": "unknown"}) is None and served.context_shift({}, None) is None


def test_item_metadata_reaches_the_scores(trained: Trained) -> None:
    """The Items dataset is a feature too: its tokens and numeric columns are part of every item vector, so
    taking them out of the trained model changes what it scores."""
    model = trained[3]
    seq = model.seq_model
    assert seq is not None and seq.use_meta and model.features is not None
    assert {f"GENRES=cat{c}" for c in range(8)} <= set(model.features.token_names)
    assert model.features.numeric_names == ("PRICE",)
    history = [np.arange(5, dtype=np.int64)]
    before = model.scorer()(history)
    without = copy.deepcopy(model)
    assert without.seq_model is not None
    with torch.no_grad():
        without.seq_model.token.weight.zero_()
        without.seq_model.numeric.weight.zero_()
    assert np.abs(without.scorer()(history) - before).max() > 1e-3
