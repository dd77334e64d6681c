"""Every recipe trains on the synthetic fixture; HPO, progress, stopping and UPDATE mode."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest
import torch

from tailor_shared.errors import InvalidInputException
from tailor_trainer.domain import (
    Interactions,
    ItemsTable,
    ProgressEvent,
    TrainedModel,
    TrainingStopped,
    train_solution_version,
)
from tailor_trainer.domain.metrics import METRIC_NAMES

ARN = "arn:aws:personalize:::recipe/"
NDCG10 = "normalized_discounted_cumulative_gain_at_10"
Data = tuple[Interactions, ItemsTable]


def _train(recipe: str, data: Data, config: Mapping[str, object] | None = None, hpo: bool = False) -> TrainedModel:
    inter, items = data
    return train_solution_version(ARN + recipe, inter, items, None, config or {}, hpo, "FULL", None, None, 0)


@pytest.mark.parametrize(
    "recipe",
    [
        "aws-user-personalization-v2",
        "aws-user-personalization",
        "aws-personalized-ranking",
        "aws-similar-items",
        "aws-sims",
    ],
)
def test_personalized_recipes_beat_popularity(recipe: str, synthetic_data: Data) -> None:
    model = _train(recipe, synthetic_data)
    assert set(model.metrics) == set(METRIC_NAMES)
    assert all(0.0 <= v <= 1.0 for v in model.metrics.values())
    popular = model.baselines["aws-popularity-count"]
    assert model.metrics[NDCG10] > popular[NDCG10]
    assert model.metrics["coverage"] > popular["coverage"]
    if model.kind == "sequence":
        assert model.history and model.seq_model is not None
        assert model.exclude_seen  # the fixture never repeats an item
    else:
        assert model.neighbours is not None and model.neighbours.idx.shape[0] == model.n_items


def test_personalized_ranking_v2_uses_the_same_model_family(synthetic_data: Data) -> None:
    model = _train("aws-personalized-ranking-v2", synthetic_data)
    assert model.kind == "sequence" and model.recipe_type == "PERSONALIZED_RANKING"
    assert model.seq_model is not None and model.seq_model.use_meta  # v2 reads item metadata


def test_popularity_count_and_trending_now(synthetic_data: Data) -> None:
    pop = _train("aws-popularity-count", synthetic_data)
    assert pop.kind == "popularity" and set(pop.metrics) == set(METRIC_NAMES)
    top = int(np.argmax(pop.item_popularity))
    assert pop.item_popularity[top] == pop.item_popularity.max()
    trend = _train(
        "aws-trending-now",
        synthetic_data,
        {"featureTransformationParameters": {"trend_discovery_frequency": "30 minutes"}},
    )
    assert trend.kind == "trending" and trend.metrics == {}
    assert trend.config == {"trendDiscoveryFrequency": "30 minutes", "trendDiscoveryFrequencySeconds": 1800}


def test_hyperparameters_are_honoured(synthetic_data: Data) -> None:
    model = _train(
        "aws-user-personalization",
        synthetic_data,
        {"algorithmHyperParameters": {"hidden_dimension": "40", "bptt": "8", "recency_mask": "false"}},
    )
    assert model.seq_config is not None
    assert (model.seq_config.hidden, model.seq_config.context, model.seq_config.recency_decay) == (40, 8, 1.0)
    sims = _train("aws-sims", synthetic_data, {"algorithmHyperParameters": {"min_cointeraction_count": "10"}})
    loose = _train("aws-sims", synthetic_data, {"algorithmHyperParameters": {"min_cointeraction_count": "1"}})
    assert sims.neighbours is not None and loose.neighbours is not None
    assert (sims.neighbours.idx >= 0).sum() < (loose.neighbours.idx >= 0).sum()


def test_hpo_tries_the_ranges_and_records_the_winner(synthetic_data: Data) -> None:
    config = {
        "hpoConfig": {
            "algorithmHyperParameterRanges": {
                "integerHyperParameterRanges": [{"name": "min_cointeraction_count", "minValue": 0, "maxValue": 10}],
                "continuousHyperParameterRanges": [
                    {"name": "popularity_discount_factor", "minValue": 0.0, "maxValue": 1.0}
                ],
                "categoricalHyperParameterRanges": [],
            },
            "hpoResourceConfig": {"maxNumberOfTrainingJobs": "4", "maxParallelTrainingJobs": "1"},
        }
    }
    model = _train("aws-sims", synthetic_data, config, hpo=True)
    assert model.tuned_hpo_params is not None
    assert set(model.tuned_hpo_params) == {"min_cointeraction_count", "popularity_discount_factor"}
    up_config = {
        "hpoConfig": {
            "algorithmHyperParameterRanges": {
                "integerHyperParameterRanges": [{"name": "training.bptt", "minValue": 4, "maxValue": 16}],
                "continuousHyperParameterRanges": [],
                "categoricalHyperParameterRanges": [],
            },
            "hpoResourceConfig": {"maxNumberOfTrainingJobs": "2"},
        },
        "algorithmHyperParameters": {"hidden_dimension": "32"},
    }
    events: list[ProgressEvent] = []
    inter, items = synthetic_data
    up = train_solution_version(
        ARN + "aws-user-personalization", inter, items, None, up_config, True, "FULL", None, events.append, 0
    )
    assert up.tuned_hpo_params is not None and set(up.tuned_hpo_params) == {"bptt"}
    tuning = [e for e in events if e.stage == "hpo"]
    assert {e.trial for e in tuning} == {0, 1}
    refit = events[len(tuning) :]  # then the winner's refit on all training users (ADR 0020 §1)
    assert refit and all(e.stage == "refit" and e.trial is None for e in refit)
    assert len(refit) == up.training_stop["refitEpochs"] == up.training_stop["bestEpoch"]


def test_progress_is_reported_per_epoch_and_stop_is_honoured(synthetic_data: Data) -> None:
    inter, items = synthetic_data
    events: list[ProgressEvent] = []
    model = train_solution_version(
        ARN + "aws-user-personalization-v2", inter, items, None, {}, False, "FULL", None, events.append, 0
    )
    training = [e for e in events if e.stage == "training"]
    assert [e.epoch for e in training] == [s.epoch for s in model.history]
    assert all(e.loss > 0 and 0.0 <= e.validation_ndcg_at_10 <= 1.0 for e in training)
    refit = events[len(training) :]  # the refit's epochs follow, with no validation (ADR 0020 §1)
    assert [e.epoch for e in refit] == list(range(1, model.training_stop["refitEpochs"] + 1))
    assert all(e.stage == "refit" and e.loss > 0 and np.isnan(e.validation_ndcg_at_10) for e in refit)
    calls = {"n": 0}

    def stop() -> bool:
        calls["n"] += 1
        return calls["n"] > 3

    with pytest.raises(TrainingStopped):
        train_solution_version(
            ARN + "aws-user-personalization-v2", inter, items, None, {}, False, "FULL", None, None, 0, should_stop=stop
        )


def _with_new_items(data: Data, n_new: int) -> Data:
    """New catalogue items (with metadata) and fresh interactions with them after the last training."""
    inter, items = data
    rng = np.random.default_rng(1)
    new_ids = np.asarray([f"new{k}" for k in range(n_new)], dtype=object)
    users = rng.choice(np.unique(inter.user_id), size=60, replace=False)
    t = int(inter.timestamp.max()) + 100
    u = np.repeat(users, 2)
    i = rng.choice(new_ids, size=len(u))
    grown = Interactions(
        np.concatenate([inter.user_id, u]),
        np.concatenate([inter.item_id, i]),
        np.concatenate([inter.timestamp, t + np.arange(len(u), dtype=np.int64)]),
        np.concatenate([inter.event_type, np.asarray(["click"] * len(u), dtype=object)]),
        np.concatenate([inter.event_value, np.ones(len(u))]),
    )
    table = ItemsTable(
        np.concatenate([items.item_id, new_ids]),
        {
            "GENRES": np.concatenate([items.columns["GENRES"], np.asarray(["cat1"] * n_new, dtype=object)]),
            "PRICE": np.concatenate([items.columns["PRICE"], np.full(n_new, 20.0)]),
        },
        items.categorical,
        None,
    )
    return grown, table


def test_update_adds_new_items_without_a_full_retrain(synthetic_data: Data) -> None:
    full = _train("aws-user-personalization", synthetic_data, {"algorithmHyperParameters": {"hidden_dimension": "32"}})
    grown, table = _with_new_items(synthetic_data, 5)
    events: list[ProgressEvent] = []
    upd = train_solution_version(
        ARN + "aws-user-personalization",
        grown,
        table,
        None,
        {"algorithmHyperParameters": {"hidden_dimension": "32"}},
        False,
        "UPDATE",
        full,
        events.append,
        0,
    )
    assert upd.training_mode == "UPDATE"
    assert upd.n_items == full.n_items + 5
    assert upd.item_ids[: full.n_items].tolist() == full.item_ids.tolist()
    assert {e.stage for e in events} == {"update"} and len(upd.history) == 1
    assert upd.config["updatedFrom"]["changedUsers"] == 60  # only users with new data were passed over
    assert upd.metrics == full.metrics
    assert upd.seq_model is not None and full.seq_model is not None
    # previous items keep their learned vectors (up to the short fine-tune), new ones get scores
    old_w = full.seq_model.item.weight[: full.n_items]
    new_w = upd.seq_model.item.weight[: full.n_items]
    assert torch.nn.functional.cosine_similarity(old_w, new_w, dim=1).mean() > 0.9
    seq = np.full((1, upd.sequence_length), upd.n_items, dtype=np.int64)
    seq[0, -1] = full.n_items  # a user whose last item is a new one
    with torch.no_grad():
        scores = upd.inference_module()(torch.from_numpy(seq)).numpy()
    assert scores.shape == (1, upd.n_items) and np.isfinite(scores).all()


def test_update_is_refused_where_the_guide_has_none(synthetic_data: Data) -> None:
    inter, items = synthetic_data
    sims = _train("aws-sims", synthetic_data)
    with pytest.raises(InvalidInputException, match="UPDATE"):
        train_solution_version(ARN + "aws-sims", inter, items, None, {}, False, "UPDATE", sims, None, 0)
    with pytest.raises(InvalidInputException, match="FULL solution version"):
        train_solution_version(ARN + "aws-user-personalization", inter, items, None, {}, False, "UPDATE", None, None, 0)
