"""Training ends on validation, not on the clock; the time limit is a recorded safety net; runs are reproducible."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest
import torch

from tailor_trainer.config import TrainerSettings
from tailor_trainer.domain import (
    DataRuleViolation,
    Interactions,
    ItemsTable,
    TrainedModel,
    UsersTable,
    sequential,
    train_solution_version,
)
from tailor_trainer.domain import train as train_module
from tailor_trainer.domain.data import prepare
from tailor_trainer.domain.evaluation import recommend
from tailor_trainer.domain.sequential import EarlyStopping, NegativeSampler
from tailor_trainer.domain.train import TRAINING_SECONDS_PER_100K, default_max_training_seconds
from tailor_trainer.report import markdown

UP_V2 = "arn:aws:personalize:::recipe/aws-user-personalization-v2"
NDCG10 = "normalized_discounted_cumulative_gain_at_10"
Data = tuple[Interactions, ItemsTable]


def _smoothed(ndcg: list[float], window: int = 2) -> list[float]:
    return [float(np.mean(ndcg[max(0, e + 1 - window) : e + 1])) for e in range(len(ndcg))]


def test_training_stops_on_validation_and_says_how(synthetic_data: Data, monkeypatch: pytest.MonkeyPatch) -> None:
    # patience 1 counted from epoch 3 of a 6-epoch schedule: validation decides, the (default) clock never does.
    config = replace(train_module.V2_CONFIG, max_epochs=6, patience=1, patience_from=0.5)
    monkeypatch.setattr(train_module, "V2_CONFIG", config)
    inter, items = synthetic_data
    model = train_solution_version(UP_V2, inter, items, None, {}, False, "FULL", None, None, 0)
    stop = model.training_stop
    assert stop["stopReason"] in ("EARLY_STOPPING", "MAX_EPOCHS")
    assert stop["epochs"] == len(model.history) and stop["maxEpochs"] == 6
    assert stop["maxTrainingSeconds"] == default_max_training_seconds(len(inter))
    smoothed = _smoothed([s.validation_ndcg_at_10 for s in model.history])
    assert stop["bestEpoch"] == smoothed.index(max(smoothed)) + 1  # the kept weights: best mean of 2 epochs
    if stop["stopReason"] == "EARLY_STOPPING":
        assert 4 <= stop["epochs"] < 6 and smoothed[-1] <= max(smoothed[:-1])
    assert "cut short" not in markdown(model)


def _run(rule: EarlyStopping, ndcg: list[float]) -> int:
    """Feed the curve epoch by epoch as training does; the number of epochs run."""
    for epoch, value in enumerate(ndcg, start=1):
        rule.observe(value)
        if rule.should_stop:
            return epoch
    return len(ndcg)


def test_a_lucky_first_epoch_neither_stops_training_nor_is_kept() -> None:
    # Shaped like ml-100k split 3's validation curve: epoch 1 is lucky (85 users, +-0.005 of noise), the curve
    # then dips and rises until the schedule anneals. The former rule (patience 3 counted from epoch 1, no stop
    # before half the schedule) stopped at epoch 6 and kept epoch 1.
    curve = [0.175, 0.165, 0.168, 0.167, 0.170, 0.172, 0.171, 0.174, 0.176, 0.179, 0.178, 0.177]
    rule = EarlyStopping(epochs=12, patience=3, patience_from=2 / 3, smoothing=2)
    assert _run(rule, curve) == 12
    assert rule.best_epoch == 11  # (0.179 + 0.178) / 2: the best two epochs in a row


def test_a_single_spike_loses_to_a_plateau_that_holds() -> None:
    curve = [0.150, 0.160, 0.181, 0.166, 0.175, 0.177, 0.174, 0.173]
    rule = EarlyStopping(epochs=8, patience=3, patience_from=2 / 3, smoothing=2)
    _run(rule, curve)
    assert rule.best_epoch == 6  # (0.175 + 0.177) / 2 beats (0.160 + 0.181) / 2
    raw = EarlyStopping(epochs=8, patience=3, patience_from=2 / 3, smoothing=1)
    _run(raw, curve)
    assert raw.best_epoch == 3  # without smoothing the spike would be kept


def test_patience_counts_only_in_the_annealing_part_of_the_schedule() -> None:
    falling = [0.20 - 0.001 * e for e in range(30)]  # peaks at epoch 1, then only gets worse
    for epochs, patience, first_stop in ((12, 3, 11), (30, 3, 23), (6, 1, 5), (3, 3, 3)):
        rule = EarlyStopping(epochs=epochs, patience=patience, patience_from=2 / 3, smoothing=2)
        ran = _run(rule, falling[:epochs])
        assert ran == first_stop and rule.best_epoch == 1
    rising = [0.10 + 0.001 * e for e in range(12)]
    rule = EarlyStopping(epochs=12, patience=3, patience_from=2 / 3, smoothing=2)
    assert _run(rule, rising) == 12 and rule.best_epoch == 12 and not rule.should_stop


def test_a_time_limit_that_cuts_training_is_recorded(synthetic_data: Data) -> None:
    inter, items = synthetic_data
    model = train_solution_version(UP_V2, inter, items, None, {}, False, "FULL", None, None, 0, max_training_seconds=0)
    assert model.training_stop["stopReason"] == "MAX_TRAINING_TIME"
    assert model.training_stop["epochs"] == len(model.history) == 1  # one epoch always runs: a model exists
    assert model.training_stop["refitEpochs"] == 0  # no time left for the refit: the validated weights serve
    assert model.seq_model is not None and model.metrics
    assert "cut short" in markdown(model)


def test_same_data_and_seed_give_the_same_model(small_synthetic_data: Data) -> None:
    # It failed with 2 threads before training ran torch's deterministic kernels (the fixture sets 2 threads).
    inter, items = small_synthetic_data
    a, b = (train_solution_version(UP_V2, inter, items, None, {}, False, "FULL", None, None, 3) for _ in range(2))
    assert a.seq_model is not None and b.seq_model is not None
    sa, sb = a.seq_model.state_dict(), b.seq_model.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert a.metrics == b.metrics and a.beta == b.beta and a.training_stop["epochs"] == b.training_stop["epochs"]


def test_the_refit_trains_all_training_users_for_the_epochs_validation_chose(
    small_synthetic_data: Data, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = replace(train_module.V2_CONFIG, max_epochs=4)
    monkeypatch.setattr(train_module, "V2_CONFIG", config)
    # The same validation users with and without the refit, so that the validated runs can be compared.
    monkeypatch.setattr(train_module, "TEST_FRACTION", train_module.REFIT_VALIDATION_SHARE)
    inter, items = small_synthetic_data
    refit, kept = (
        train_solution_version(UP_V2, inter, items, None, {}, False, "FULL", None, None, 5, refit=r)
        for r in (True, False)
    )
    # Validation's decisions are the same run's: history, kept epoch, beta, recency decay.
    curve = [(s.loss, s.validation_ndcg_at_10) for s in refit.history]
    assert curve == [(s.loss, s.validation_ndcg_at_10) for s in kept.history]
    assert refit.beta == kept.beta and refit.config == kept.config
    stop = refit.training_stop
    assert stop["refitEpochs"] == stop["bestEpoch"] >= 1 and "refitEpochs" not in kept.training_stop
    assert refit.data_summary["trainingUsers"] == kept.data_summary["trainingUsers"]
    assert refit.seq_model is not None and kept.seq_model is not None
    a, b = refit.seq_model.state_dict(), kept.seq_model.state_dict()
    assert any(not torch.equal(a[k], b[k]) for k in a)  # other weights: trained on the validation users too
    assert refit.lin_val is not None and kept.lin_val is not None and not np.array_equal(refit.lin_val, kept.lin_val)
    assert refit.metrics != kept.metrics
    assert f"refit on all training users for {stop['refitEpochs']} epochs" in markdown(refit)
    assert "refit" not in markdown(kept)


def test_with_the_refit_a_quarter_of_the_training_users_validate(
    small_synthetic_data: Data, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The refit trains the served weights on the validation users too, so they can be many (less noisy choices);
    # without it they are the guide's 10 %. The Users lift is chosen on the same users as the epochs and beta.
    inter, items = small_synthetic_data
    ids = np.unique(inter.user_id)
    users = UsersTable(
        ids, {"GROUP": np.asarray([f"g{k % 3}" for k in range(len(ids))], dtype=object)}, frozenset({"GROUP"})
    )
    calls: list[tuple[float, int, int]] = []
    real = train_module.validation_split

    def spy(train: Any, seed: int, exclude_seen: bool, share: float = 0.1) -> Any:
        vtrain, vset = real(train, seed, exclude_seen, share)
        calls.append((share, vtrain.n_users, len(vset.user_ids)))
        return vtrain, vset

    monkeypatch.setattr(train_module, "validation_split", spy)
    for refit, share in ((True, train_module.REFIT_VALIDATION_SHARE), (False, 0.1)):
        calls.clear()
        model = train_solution_version(UP_V2, inter, items, users, {}, False, "FULL", None, None, 2, refit=refit)
        assert len(calls) == 2 and calls[0] == calls[1]  # the validated run, then the Users lift's weight
        assert calls[0][0] == share
        trained = model.data_summary["trainingUsers"]
        assert calls[0][1] + round(share * trained) == trained and calls[0][2] <= round(share * trained)


def test_the_refit_runs_the_first_epochs_of_the_same_schedule(
    small_synthetic_data: Data, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Cut at the chosen epoch, not re-annealed over fewer epochs: the refit's learning rates at epoch e are those
    # of the validated run's epoch e, whose weights validation preferred.
    seen: list[tuple[int, int]] = []
    real = sequential.one_cycle

    def spy(step: int, total: int, peak: float, warmup: float = 0.1) -> float:
        seen.append((step, total))
        return real(step, total, peak, warmup)

    monkeypatch.setattr(sequential, "one_cycle", spy)
    inter, items = small_synthetic_data
    data = prepare(inter, items, {})
    cfg = replace(train_module.V2_CONFIG, max_epochs=5)
    result = sequential.train_hybrid(data, None, cfg, 0, True, refit_epochs=2)
    per_epoch = len(seen) // 2
    assert len(result.history) == 2 and per_epoch >= 1
    assert {total for _, total in seen} == {5 * per_epoch}  # the 5-epoch schedule ...
    assert [step for step, _ in seen] == list(range(2 * per_epoch))  # ... of which the first 2 epochs ran
    assert all(np.isnan(s.validation_ndcg_at_10) for s in result.history)  # nothing validated in the refit


def test_the_default_time_limit_scales_with_the_data() -> None:
    assert default_max_training_seconds(10_000) == TRAINING_SECONDS_PER_100K  # a floor for small data
    assert default_max_training_seconds(440_000) == pytest.approx(4.4 * TRAINING_SECONDS_PER_100K)
    settings = TrainerSettings.from_env({"TAILOR_TRAINER_TRAINING_SECONDS_PER_100K": "60"})
    assert settings.max_training_seconds_for(1_000_000) == 600.0
    fixed = TrainerSettings.from_env({"TAILOR_TRAINER_MAX_TRAINING_SECONDS": "90"})
    assert fixed.max_training_seconds_for(1_000_000) == 90.0


def test_the_negative_sampler_keeps_the_targets_and_corrects_for_popularity() -> None:
    counts = np.asarray([1000, 10, 10, 0, 0, 0, 0, 0] * 1000, dtype=np.int64)
    sampler = NegativeSampler(counts, k=64, seed=0)
    targets = torch.tensor([0, 1, 2, 0, 8, 0])
    candidates, position, log_q = sampler(targets)
    assert torch.equal(candidates[position], targets)
    assert len(candidates) <= 6 + 64 and bool((log_q <= 0).all())
    where = {int(c): k for k, c in enumerate(candidates)}
    assert log_q[where[0]] > log_q[where[1]]  # the popular target is likelier to be drawn: larger log Q
    again = NegativeSampler(counts, k=64, seed=0)(targets)[0]
    assert torch.equal(again, candidates)  # seeded: part of the same-seed, same-model promise


def test_large_catalogues_train_with_a_sampled_softmax(synthetic_data: Data, monkeypatch: pytest.MonkeyPatch) -> None:
    sampled = replace(train_module.V2_CONFIG, full_softmax_items=100, sampled_negatives=64)
    monkeypatch.setattr(train_module, "V2_CONFIG", sampled)
    calls: list[int] = []
    real = sequential.sampled_softmax_loss

    def counting(*args: Any, **kwargs: Any) -> torch.Tensor:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(sequential, "sampled_softmax_loss", counting)
    inter, items = synthetic_data
    model = train_solution_version(UP_V2, inter, items, None, {}, False, "FULL", None, None, 0)
    assert calls  # the 400-item catalogue is above full_softmax_items: every step sampled
    assert model.metrics[NDCG10] > model.baselines["aws-popularity-count"][NDCG10]
    assert model.baselines["transformer alone"][NDCG10] > model.baselines["aws-popularity-count"][NDCG10]


def test_the_optimization_objective_trades_relevance_for_the_attribute(small_synthetic_data: Data) -> None:
    inter, items = small_synthetic_data
    price = np.asarray(items.columns["PRICE"], dtype=np.float64)

    def train(sensitivity: str) -> tuple[float, float, TrainedModel]:
        config = {"optimizationObjective": {"itemAttribute": "price", "objectiveSensitivity": sensitivity}}
        model = train_solution_version(UP_V2, inter, items, None, config, False, "FULL", None, None, 0)
        users = [row[row < model.n_items] for row in model.user_recent[:100]]  # type: ignore[index]
        top = recommend(model.scorer(), users, model.exclude_seen, k=10)
        by_index = price[[int(str(i)[1:]) for i in model.item_ids]]
        return float(by_index[top].mean()), model.metrics[NDCG10], model

    off_price, off_ndcg, off = train("OFF")
    high_price, high_ndcg, high = train("HIGH")
    assert off.config["optimizationObjective"]["weight"] == 0.0
    objective = high.config["optimizationObjective"]
    assert objective["objectiveSensitivity"] == "HIGH" and objective["weight"] == 0.5
    assert objective["relevanceSpread"] > 0
    assert high_price > off_price * 1.1  # recommendations lean to expensive items...
    assert high_ndcg < off_ndcg  # ...at some cost in relevance (the fixture's prices are random)
    assert all(0.0 < m.metrics["average_rewards_at_k"] <= 1.0 for m in (off, high))


def test_an_objective_on_a_missing_or_textual_column_fails_the_version(small_synthetic_data: Data) -> None:
    inter, items = small_synthetic_data
    for column in ("MARGIN", "GENRES"):
        config = {"optimizationObjective": {"itemAttribute": column, "objectiveSensitivity": "LOW"}}
        with pytest.raises(DataRuleViolation, match=f"itemAttribute {column} is not a numeric column"):
            train_solution_version(UP_V2, inter, items, None, config, False, "FULL", None, None, 0)
