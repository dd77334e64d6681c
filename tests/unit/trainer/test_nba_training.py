"""Next-Best-Action training on synthetic data with known propensities (tailor_tools.synthetic_actions): the
model ranks the truly likely actions first where the popularity-of-actions baseline can't, reports the guide's
metrics, applies the data rules, and its exported directory serves exactly what the trainer computed."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tailor_shared.scoring.actions import ActionModel, UserActivity, scoreable
from tailor_tools import synthetic_actions
from tailor_trainer.action_artifacts import export_actions
from tailor_trainer.domain.actions import (
    BASELINE,
    METRIC_NAMES,
    ActionModelResult,
    NbaTables,
    tables_from_rows,
    train_next_best_action,
)
from tailor_trainer.domain.autotrain import has_new_records
from tailor_trainer.domain.data import DataRuleViolation

ARN = "arn:aws:personalize:::recipe/aws-next-best-action"
HELD_OUT = 80  # users whose action interactions the model never sees


@pytest.fixture(scope="module")
def data() -> synthetic_actions.SyntheticActions:
    return synthetic_actions.generate(n_users=520, n_items=240, seed=5)


def _held(data: synthetic_actions.SyntheticActions) -> set[str]:
    return {str(u["USER_ID"]) for u in data.base.users[-HELD_OUT:]}


def _tables(data: synthetic_actions.SyntheticActions, drop_users: set[str]) -> NbaTables:
    rows = [r for r in data.action_interactions if r["USER_ID"] not in drop_users]
    return tables_from_rows(data.base.interactions, data.actions, rows, data.base.items, data.base.users)


def _train(tables: NbaTables, config: dict[str, object] | None = None) -> ActionModelResult:
    t = tables
    return train_next_best_action(
        ARN, t.interactions, t.items, t.actions, t.action_interactions, t.users, config or {}, seed=3
    )


@pytest.fixture(scope="module")
def trained(data: synthetic_actions.SyntheticActions) -> ActionModelResult:
    return _train(_tables(data, _held(data)))


def _activity(data: synthetic_actions.SyntheticActions, user: str) -> UserActivity:
    items: dict[str, float] = {}
    for row in data.base.interactions:
        if row["USER_ID"] == user:
            items[str(row["ITEM_ID"])] = items.get(str(row["ITEM_ID"]), 0.0) + 1
    segment = next(str(u["SEGMENT"]) for u in data.base.users if u["USER_ID"] == user)
    return UserActivity([], items, {"SEGMENT": segment})


def test_ranks_truly_likely_actions_first_against_popularity(
    data: synthetic_actions.SyntheticActions, trained: ActionModelResult
) -> None:
    ids = list(trained.features.action_ids)
    candidates = np.array([a != data.unshown for a in ids])
    popular = ids[int(np.argmax(np.where(candidates, trained.taken, -1)))]
    model_top, baseline_top, best = [], [], []
    for user in sorted(_held(data)):
        p = trained.weights.propensity(trained.features.vector(_activity(data, user))[None, :])[0]
        truth = np.array([data.propensity(user, a) for a in ids])
        model_top.append(truth[int(np.argmax(np.where(candidates, p, -1.0)))])
        baseline_top.append(data.propensity(user, popular))
        best.append(truth[candidates].max())
    # The true propensity of the action each ranks first, averaged over users it never saw act.
    assert np.mean(model_top) > np.mean(baseline_top) + 0.12, (np.mean(model_top), np.mean(baseline_top))
    assert np.mean(model_top) > 0.75 * np.mean(best)


def test_reports_the_guides_metrics_next_to_the_baseline(trained: ActionModelResult) -> None:
    assert set(trained.metrics) == set(METRIC_NAMES)
    assert set(trained.baselines[BASELINE]) == set(METRIC_NAMES)
    assert all(0.0 <= v <= 1.0 for v in trained.metrics.values())
    assert trained.metrics["area_under_the_curve"] > trained.baselines[BASELINE]["area_under_the_curve"]
    assert trained.data_summary["testUsers"] > 0 and trained.data_summary["validationUsers"] > 0
    assert trained.history and "validationAuc" in trained.history[0]


def test_only_actions_with_enough_recent_interactions_get_scores(
    data: synthetic_actions.SyntheticActions, trained: ActionModelResult
) -> None:
    scored = dict(zip(trained.features.action_ids, trained.scored.tolist(), strict=True))
    assert scored[data.unshown] is False  # no interactions: recommended with score 0.0 (L6756)
    assert sum(scored.values()) == len(scored) - 1
    latest = 10_000_000
    rows = [("a", "TAKEN", latest)] * 50 + [("a", "VIEWED", latest)] * 49 + [("a", "NOT_TAKEN", latest - 1)]
    rows += [("b", "TAKEN", latest)] * 50 + [("b", "VIEWED", latest)] * 50
    rows += [("c", "TAKEN", latest - 43 * 86400)] * 50 + [("c", "VIEWED", latest)] * 50  # older than 6 weeks
    assert scoreable(["a", "b", "c"], rows, latest).tolist() == [True, True, False]


def test_exported_model_serves_what_the_trainer_computed(
    data: synthetic_actions.SyntheticActions, trained: ActionModelResult, tmp_path: Path
) -> None:
    export_actions(trained, tmp_path / "model", {"Actions": {"topic": "t", "offsets": {}, "rows": 12}})
    served = ActionModel(tmp_path / "model")
    assert list(served.item_ids) == list(trained.features.action_ids)
    assert served.recipe_type == "PERSONALIZED_ACTIONS"
    for user in sorted(_held(data))[:10]:
        activity = _activity(data, user)
        expected = trained.weights.propensity(trained.features.vector(activity)[None, :])[0]
        np.testing.assert_allclose(served.propensities(activity), expected, rtol=1e-6)
    assert served.metadata[data.expired]["ACTION_EXPIRATION_TIMESTAMP"] == str(synthetic_actions.EXPIRED_AT)
    assert served.optimization_days == 14


def test_data_rules_and_no_action_interactions(data: synthetic_actions.SyntheticActions) -> None:
    tables = _tables(data, set())
    with pytest.raises(DataRuleViolation, match="fewer than 1000 interactions"):
        few = tables_from_rows(data.base.interactions[:999], data.actions, data.action_interactions)
        _train(few)
    with pytest.raises(DataRuleViolation, match="Actions dataset has no data"):
        _train(replace(tables, actions=replace(tables.actions, action_id=np.array([], dtype=object))))
    bare = _train(
        replace(tables, action_interactions=None),
        {"featureTransformationParameters": {"action_optimization_period": "21"}},
    )
    assert not bare.scored.any()  # no action interactions: every score is 0.0 (L6756)
    assert bare.optimization_days == 21


def test_new_action_interactions_count_as_new_data_for_automatic_training() -> None:
    """L9754: automatic training also runs on new action interactions (Next-Best-Action solutions)."""
    trained_on = {
        "Interactions": {"topic": "t.interactions", "offsets": {"0": 10}},
        "Action_Interactions": {"topic": "t.action-interactions", "offsets": {"0": 5, "1": 7}},
    }
    assert not has_new_records(trained_on, "Interactions", "t.interactions", {0: 10})
    assert not has_new_records(trained_on, "Action_Interactions", "t.action-interactions", {0: 5, 1: 7})
    assert has_new_records(trained_on, "Action_Interactions", "t.action-interactions", {0: 5, 1: 8})
    assert has_new_records({"Interactions": trained_on["Interactions"]}, "Action_Interactions", "t.a", {0: 0})
