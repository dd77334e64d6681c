"""USER_SEGMENTATION training (Item-Affinity, Item-Attribute-Affinity): the guide's split and metrics, the
exported model the batch segment worker reads, and segments that beat the popularity baseline."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from tailor_shared.scoring.loader import LoadedModel
from tailor_shared.scoring.segments import TopUsers, probabilities, query_values
from tailor_trainer import artifacts
from tailor_trainer.domain import DataRuleViolation, Interactions, ItemsTable, train_solution_version
from tailor_trainer.domain.affinity import METRIC_NAMES, per_user_split, segment_metrics
from tailor_trainer.domain.data import FloatArray, IntArray, prepare

ARN = "arn:aws:personalize:::recipe/"
SNAPSHOT = {"datasetGroupArn": "arn:aws:personalize:us-east-1:000000000000:dataset-group/g", "offsets": {"0": 1}}
SMALL = {"algorithmHyperParameters": {"hidden_dimension": "32"}}


def test_per_user_split_keeps_each_users_oldest_80_percent(synthetic_data: tuple[Interactions, ItemsTable]) -> None:
    inter, items = synthetic_data
    data = prepare(inter, items, {})
    train, test = per_user_split(data)
    for u in range(0, data.n_users, 17):
        full = data.item[data.user_ptr[u] : data.user_ptr[u + 1]]
        head = train.item[train.user_ptr[u] : train.user_ptr[u + 1]]
        assert len(head) == max(1, int(0.8 * len(full)))
        assert list(head) + list(test[u]) == list(full)


def test_segment_metrics_reward_the_right_users() -> None:
    # 200 users, 4 items: users < 100 like item 0, the others item 1. An oracle scorer finds them, a wrong one not.
    inputs = [np.asarray([0 if u < 100 else 1]) for u in range(200)]
    test = [np.asarray([0 if u < 100 else 1]) for u in range(200)]
    queries = [np.asarray([0]), np.asarray([1])]

    def oracle(batch: Sequence[IntArray]) -> FloatArray:
        return np.asarray([[5.0 if h[0] == i else 0.0 for i in range(4)] for h in batch], dtype=np.float32)

    def wrong(batch: Sequence[IntArray]) -> FloatArray:
        return np.asarray([[5.0 if h[0] != i else 0.0 for i in range(4)] for h in batch], dtype=np.float32)

    good = segment_metrics(oracle, inputs, test, queries)
    assert good["hits_at_1_percent"] == 2.0  # K = 1 % of 200 users
    assert good["recall_at_1_percent"] == pytest.approx(0.02)
    assert good["coverage"] == pytest.approx(4 / 200)
    assert segment_metrics(wrong, inputs, test, queries)["hits_at_1_percent"] == 0.0


def test_top_users_over_chunks_equals_a_full_sort() -> None:
    rng = np.random.default_rng(3)
    scores = rng.normal(size=(1000, 50)).astype(np.float32)
    scores[:, 7] = 1.0  # ties everywhere in one column
    queries = [np.asarray([3]), np.asarray([7]), np.asarray([1, 2, 9])]
    allowed = rng.random(1000) > 0.3
    top = TopUsers(len(queries), 25)
    for start in range(0, 1000, 128):
        rows = np.arange(start, min(start + 128, 1000), dtype=np.int64)
        values = query_values(probabilities(scores[rows]), queries)
        top.add(values, rows, np.broadcast_to(allowed[rows, None], values.shape))
    full = query_values(probabilities(scores), queries)
    for q, got in enumerate(top.result()):
        order = [u for u in np.lexsort((np.arange(1000), -full[:, q])) if allowed[u]][:25]
        assert got.tolist() == order


@pytest.mark.parametrize("recipe", ["aws-item-affinity", "aws-item-attribute-affinity"])
def test_affinity_recipes_train_export_and_beat_popularity(
    recipe: str, synthetic_data: tuple[Interactions, ItemsTable], tmp_path: Path
) -> None:
    inter, items = synthetic_data
    model = train_solution_version(ARN + recipe, inter, items, None, SMALL, False, "FULL", None, None, 0)
    assert model.recipe_type == "USER_SEGMENTATION"
    assert set(model.metrics) == set(METRIC_NAMES)
    baseline = model.baselines["aws-popularity-count"]
    assert model.metrics["recall_at_1_percent"] > baseline["recall_at_1_percent"]
    served = LoadedModel(artifacts.export(model, tmp_path / recipe, SNAPSHOT, report=False).directory)
    assert served.recipe_type == "USER_SEGMENTATION" and served.kind == "sequence"
    assert model.user_ids is not None
    assert list(served.user_ids[:3]) == [str(u) for u in model.user_ids[:3]]
    assert served.trained_histories(0, 1)[0], "the users' training histories travel with the model"


def test_item_attribute_affinity_needs_categorical_item_metadata(
    synthetic_data: tuple[Interactions, ItemsTable],
) -> None:
    inter, items = synthetic_data
    bare = ItemsTable(items.item_id, {}, frozenset(), items.creation_timestamp)
    with pytest.raises(DataRuleViolation, match="non-textual"):
        train_solution_version(
            ARN + "aws-item-attribute-affinity", inter, bare, None, SMALL, False, "FULL", None, None, 0
        )
    with pytest.raises(DataRuleViolation, match="Items dataset"):
        train_solution_version(
            ARN + "aws-item-attribute-affinity", inter, None, None, SMALL, False, "FULL", None, None, 0
        )
