"""Recipes on real data: MovieLens 100k read in place from ../shared/datasets (few epochs, CI-sized)."""

from __future__ import annotations

import numpy as np
import pytest

from tailor_trainer.domain import Interactions, ItemsTable, train_solution_version

ARN = "arn:aws:personalize:::recipe/"
NDCG10 = "normalized_discounted_cumulative_gain_at_10"
Data = tuple[Interactions, ItemsTable]


def test_user_personalization_v2_on_ml100k(ml100k: Data) -> None:
    inter, items = ml100k
    model = train_solution_version(
        ARN + "aws-user-personalization-v2", inter, items, None, {}, False, "FULL", None, None, 0
    )
    assert model.n_items == 1682 and model.data_summary["testUsers"] == 94
    pop = model.baselines["aws-popularity-count"][NDCG10]
    linear = model.baselines["linear item-item (EASE, recency-weighted)"][NDCG10]
    # Even three small epochs beat the guide's baseline clearly, and the hybrid is no worse than its linear half.
    assert model.metrics[NDCG10] > 1.3 * pop
    assert model.metrics[NDCG10] >= linear - 0.01
    assert model.exclude_seen  # MovieLens never repeats a rating


@pytest.mark.parametrize("recipe", ["aws-sims", "aws-similar-items", "aws-popularity-count"])
def test_item_recipes_on_ml100k(recipe: str, ml100k: Data) -> None:
    inter, items = ml100k
    model = train_solution_version(ARN + recipe, inter, items, None, {}, False, "FULL", None, None, 0)
    assert 0.0 < model.metrics[NDCG10] < 1.0
    assert 0.0 < model.metrics["coverage"] <= 1.0
    if recipe != "aws-popularity-count":
        assert model.metrics["coverage"] > model.baselines["aws-popularity-count"]["coverage"]


def test_event_value_threshold_on_ml100k(ml100k: Data) -> None:
    inter, _ = ml100k
    model = train_solution_version(
        ARN + "aws-popularity-count", inter, None, None, {"eventValueThreshold": "4"}, False, "FULL", None, None, 0
    )
    assert inter.event_value is not None
    assert model.data_summary["interactionsAfterFiltering"] == int(np.sum(inter.event_value >= 4))
