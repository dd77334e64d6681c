"""GetActionRecommendations' pure part: the request plan's limits and errors, the automatic rules (expiry,
REPEAT_FREQUENCY), the ranking (propensity, 0.0 for unscored actions, VALUE on ties) and action filters, whose
vectorised masks must equal the reference evaluator ``evaluate_for_action`` action by action."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tailor.runtime.v1 import runtime_pb2
from tailor_runtime.adapters import parse_action_activity
from tailor_runtime.domain import actions
from tailor_runtime.domain.plan import Served
from tailor_runtime.domain.plan import recommendations as recommendations_plan
from tailor_shared.errors import InvalidInputException
from tailor_shared.filters import bind_filter_values, evaluate_for_action, parse_filter_expression
from tailor_shared.scoring.actions import (
    WINDOW_EVENT_TYPES,
    ActionModel,
    FeatureSpace,
    PropensityWeights,
    UserActivity,
)
from tailor_shared.scoring.filtering import ItemIndex
from tailor_trainer.action_artifacts import export_actions
from tailor_trainer.domain.actions import ActionModelResult

NOW = 1_800_000_000.0
DAY = 86400.0
IDS = ("a0", "a1", "a2", "a3", "a4", "a5")
META = {
    "a0": {"VALUE": "3", "CATEGORY": "loyalty", "REPEAT_FREQUENCY": "7"},
    "a1": {"VALUE": "9", "CATEGORY": "app|loyalty", "ACTION_EXPIRATION_TIMESTAMP": str(int(NOW - 10))},
    "a2": {"VALUE": "5", "CATEGORY": "card"},
    "a3": {"VALUE": "8", "CATEGORY": "card", "ACTION_EXPIRATION_TIMESTAMP": str(int(NOW + DAY))},
    "a4": {"VALUE": "2", "CATEGORY": "app"},
    "a5": {"VALUE": "7", "CATEGORY": "loyalty"},
}
SERVED = Served(
    "arn:aws:personalize:us-east-1:000000000000:campaign/nba", False, "PERSONALIZED_ACTIONS", False, None, None
)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> ActionModel:
    """Propensity = sigmoid(bias) for a user without taken actions; taking a0 raises a2's (feature 0 -> a2)."""
    features = FeatureSpace(IDS, (), ())
    n_f, n_a = features.size, len(IDS)
    linear = np.zeros((n_f, n_a), dtype=np.float32)
    linear[0, 2] = 4.0
    bias = np.array([1.0, 3.0, -1.0, 0.0, 0.0, 0.0], dtype=np.float32)
    weights = PropensityWeights(
        linear, np.zeros((n_f, 2), np.float32), np.zeros(2, np.float32), np.zeros((2, n_a), np.float32), bias
    )
    result = ActionModelResult(
        recipe_arn="arn:aws:personalize:::recipe/aws-next-best-action",
        features=features,
        weights=weights,
        scored=np.array([True, True, True, True, False, False]),
        taken=np.array([10, 10, 10, 10, 1, 5], dtype=np.int64),
        metadata=META,
        metrics={},
        baselines={},
        hyperparameters={},
        data_summary={},
        history=[],
        latest_interaction_timestamp=int(NOW),
        optimization_days=14,
    )
    directory = tmp_path_factory.mktemp("nba") / "model"
    export_actions(result, directory, {})
    return ActionModel(directory)


def _answer(
    model: ActionModel, activity: UserActivity, expression: str | None = None, n: int = 100
) -> list[tuple[str, float]]:
    bound = bind_filter_values(parse_filter_expression(expression), {}) if expression else None
    return actions.recommend(model, META, ItemIndex(list(IDS), META), activity, bound, NOW, n)


def test_plan_limits_and_errors() -> None:
    req = runtime_pb2.GetActionRecommendationsRequest
    assert actions.plan(req(campaign_arn=SERVED.arn, user_id="u"), SERVED).num_results == 5  # default (L12170)
    assert actions.plan(req(campaign_arn=SERVED.arn, user_id="u", num_results=100), SERVED).num_results == 100
    assert actions.plan(req(campaign_arn=SERVED.arn, user_id="u", num_results=0), SERVED).num_results == 0
    with pytest.raises(InvalidInputException, match="between 0 and 100"):
        actions.plan(req(campaign_arn=SERVED.arn, user_id="u", num_results=101), SERVED)
    with pytest.raises(InvalidInputException, match="userId is required"):
        actions.plan(req(campaign_arn=SERVED.arn), SERVED)
    with pytest.raises(InvalidInputException, match="filterValues were given without a filterArn"):
        actions.plan(req(campaign_arn=SERVED.arn, user_id="u", filter_values={"X": '"a"'}), SERVED)
    with pytest.raises(InvalidInputException, match="use GetActionRecommendations"):
        recommendations_plan(runtime_pb2.GetRecommendationsRequest(campaign_arn=SERVED.arn, user_id="u"), SERVED)
    other = Served(SERVED.arn, False, "USER_PERSONALIZATION", True, None, None)
    with pytest.raises(InvalidInputException, match="does not use the Next-Best-Action recipe"):
        actions.plan(req(campaign_arn=SERVED.arn, user_id="u"), other)


def test_ranking_expiry_values_and_unscored_actions(model: ActionModel) -> None:
    ranked = _answer(model, UserActivity([], {}, {}))
    ids = [a for a, _ in ranked]
    assert "a1" not in ids  # expired a moment ago, although it has the highest propensity
    assert ids[:3] == ["a0", "a3", "a2"]  # scored: sigmoid(1) > sigmoid(0) > sigmoid(-1)
    assert ids[3:] == ["a5", "a4"]  # no score: 0.0, then the higher VALUE first (L6753)
    assert dict(ranked)["a5"] == 0.0 and dict(ranked)["a0"] == pytest.approx(1 / (1 + np.exp(-1.0)), rel=1e-6)
    assert all(0.0 <= s <= 1.0 for _, s in ranked)
    assert [a for a, _ in _answer(model, UserActivity([], {}, {}), n=2)] == ["a0", "a3"]


def test_repeat_frequency_and_real_time_propensity(model: ActionModel) -> None:
    took_yesterday = UserActivity([("a0", "TAKEN", NOW - DAY)], {}, {})
    ranked = dict(_answer(model, took_yesterday))
    assert "a0" not in ranked  # REPEAT_FREQUENCY 7 days (L4238)
    # taking a0 makes a2 likely (sigmoid(4 * log 2 - 1) against sigmoid(-1)): events change propensities
    assert ranked["a2"] == pytest.approx(1 / (1 + np.exp(1 - 4 * np.log(2))), rel=1e-5)
    assert ranked["a2"] > dict(_answer(model, UserActivity([], {}, {})))["a2"] + 0.5
    viewed_8_days_ago = UserActivity([("a0", "VIEWED", NOW - 8 * DAY)], {}, {})
    assert "a0" in dict(_answer(model, viewed_8_days_ago))
    no_limit = UserActivity([("a2", "TAKEN", NOW - 60)], {}, {})
    assert "a2" in dict(_answer(model, no_limit))  # no REPEAT_FREQUENCY: no limit


EXPRESSIONS = [
    'EXCLUDE ActionID WHERE Action_Interactions.EVENT_TYPE IN ("NOT_TAKEN")',
    'INCLUDE ActionID WHERE Action_Interactions.EVENT_TYPE IN ("TAKEN", "Viewed")',
    'EXCLUDE ActionID WHERE Action_Interactions.EVENT_TYPE IN ("*")',
    'INCLUDE ActionID WHERE Actions.CATEGORY IN ("loyalty")',
    "INCLUDE ActionID WHERE Actions.VALUE > 4",
    'EXCLUDE ActionID WHERE Actions.VALUE < 5 | INCLUDE ActionID WHERE Actions.CATEGORY IN ("card", "app")',
    'INCLUDE ActionID WHERE Actions.CATEGORY IN ("app") IF CurrentUser.TIER = "gold"',
]


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_action_filter_masks_equal_the_reference(model: ActionModel, expression: str) -> None:
    bound = bind_filter_values(parse_filter_expression(expression), {})
    histories = [
        [],
        [("a2", "NOT_TAKEN", NOW - 5 * DAY), ("a3", "TAKEN", NOW - 9 * DAY)],
        [("a4", "VIEWED", NOW - DAY), ("a5", "NOT_TAKEN", NOW - 2 * DAY), ("a5", "TAKEN", NOW - 3 * DAY)],
    ]
    for events, tier in itertools.product(histories, ("gold", "silver")):
        activity = UserActivity(events, {}, {"TIER": tier})
        got = {a for a, _ in actions.recommend(model, META, ItemIndex(list(IDS), META), activity, bound, NOW, 100)}
        windows = actions.filter_windows(activity)
        expected = {
            a
            for a in IDS
            if evaluate_for_action(bound, a, META[a], user_metadata={"TIER": tier}, user_action_interactions=windows)
        }
        allowed = {a for a, _ in _answer(model, activity)}
        assert got == expected & allowed, (expression, events, tier)


def test_item_filters_are_refused(model: ActionModel) -> None:
    with pytest.raises(InvalidInputException, match="can't be applied to action recommendations"):
        _answer(model, UserActivity([], {}, {}), 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")')


def test_redis_replies_parse_into_one_activity() -> None:
    per = len(WINDOW_EVENT_TYPES) + 1
    token = "0123456789abcdef"
    replies: list[object] = [[] for _ in range(2 * per)] + [["TIER", "gold"]]
    replies[0] = [f"{token}a0", "100", f"{token[::-1]}a2", "90"]  # user: taken
    replies[per + 0] = [f"{token}a0", "100"]  # the session holds the same event (merged into the user)
    replies[3] = [f"{token[:8]}{token[:8]}a4", "80"]  # viewed
    replies[per - 1] = ["item-1", "2", "item-2", "1"]
    replies[2 * per - 1] = ["item-1", "1"]
    activity = parse_action_activity(replies, per)
    assert sorted(activity.actions) == [("a0", "TAKEN", 100.0), ("a2", "TAKEN", 90.0), ("a4", "VIEWED", 80.0)]
    assert activity.items == {"item-1": 2.0, "item-2": 1.0}
    assert activity.metadata == {"TIER": "gold"}


def test_actions_added_after_training_are_explored_with_score_zero(model: ActionModel) -> None:
    """Actions the stream holds but the model never saw join the catalogue after the trained ones (L6810): no
    propensity (0.0), ordered among the unscored by VALUE; the automatic rules and filters apply to them too."""
    meta = {**META, "new-1": {"VALUE": "10", "CATEGORY": "app"}, "new-2": {"VALUE": "1", "CATEGORY": "card"}}
    ids = [*IDS, "new-1", "new-2"]
    meta["new-3"] = {"VALUE": "6", "ACTION_EXPIRATION_TIMESTAMP": str(int(NOW - 1))}
    ids.append("new-3")
    index = ItemIndex(ids, meta)
    ranked = actions.recommend(model, meta, index, UserActivity([], {}, {}), None, NOW, 100)
    assert [a for a, _ in ranked] == ["a0", "a3", "a2", "new-1", "a5", "a4", "new-2"]  # new-3 has expired
    assert dict(ranked)["new-1"] == 0.0
    bound = bind_filter_values(parse_filter_expression('INCLUDE ActionID WHERE Actions.CATEGORY IN ("app")'), {})
    filtered = actions.recommend(model, meta, index, UserActivity([], {}, {}), bound, NOW, 100)
    assert [a for a, _ in filtered] == ["new-1", "a4"]
