"""The runtime's serving plan (``tailor_runtime.domain.plan``): typed request + deployment facts -> plan."""

from __future__ import annotations

import pytest

from tailor.common.v1 import common_pb2
from tailor.runtime.v1 import runtime_pb2
from tailor_runtime.domain import plan
from tailor_shared.errors import InvalidInputException
from tailor_shared.filters import bind_filter_values, interaction_windows, parse_filter_expression

CAMPAIGN = "arn:aws:personalize:us-east-1:000000000000:campaign/c1"
FILTER = "arn:aws:personalize:us-east-1:000000000000:filter/f1"


def served(recipe_type: str = "USER_PERSONALIZATION", **kw: object) -> plan.Served:
    args: dict[str, object] = {
        "arn": CAMPAIGN,
        "is_recommender": False,
        "recipe_type": recipe_type,
        "metadata_allowed": False,
        "trend_seconds": None,
        "auto_exclude_event_type": None,
    }
    args.update(kw)
    return plan.Served(**args)  # type: ignore[arg-type]


def test_a_user_personalization_request_becomes_a_plan_with_its_defaults_and_exploration() -> None:
    req = runtime_pb2.GetRecommendationsRequest(campaign_arn=CAMPAIGN, user_id="u1", context={"DEVICE": "phone"})
    p = plan.recommendations(req, served())
    assert (p.user_id, p.item_id, p.num_results, p.columns, p.filter, p.promotion) == ("u1", None, 25, (), None, None)
    assert p.explore and p.trend_seconds is None and dict(p.context) == {"DEVICE": "phone"}
    assert plan.model_arn(req) == ("campaign", CAMPAIGN)


def test_num_results_zero_is_kept_and_the_limit_depends_on_metadata_columns() -> None:
    req = runtime_pb2.GetRecommendationsRequest(campaign_arn=CAMPAIGN, user_id="u", num_results=0)
    assert plan.recommendations(req, served()).num_results == 0
    cols = {"ITEMS": common_pb2.StringList(values=["CATEGORY"])}
    req = runtime_pb2.GetRecommendationsRequest(
        campaign_arn=CAMPAIGN, user_id="u", num_results=51, metadata_columns=cols
    )
    with pytest.raises(InvalidInputException, match="between 0 and 50"):
        plan.recommendations(req, served(metadata_allowed=True))
    req.num_results = 50
    assert plan.recommendations(req, served(metadata_allowed=True)).columns == ("CATEGORY",)
    with pytest.raises(InvalidInputException, match="enableMetadataWithRecommendations"):
        plan.recommendations(req, served())


def test_recipe_decides_required_ids_trending_and_exploration() -> None:
    with pytest.raises(InvalidInputException, match="userId is required"):
        plan.recommendations(runtime_pb2.GetRecommendationsRequest(campaign_arn=CAMPAIGN), served())
    with pytest.raises(InvalidInputException, match="itemId is required"):
        plan.recommendations(runtime_pb2.GetRecommendationsRequest(campaign_arn=CAMPAIGN), served("RELATED_ITEMS"))
    with pytest.raises(InvalidInputException, match="GetPersonalizedRanking"):
        plan.recommendations(
            runtime_pb2.GetRecommendationsRequest(campaign_arn=CAMPAIGN), served("PERSONALIZED_RANKING")
        )
    trending = plan.recommendations(
        runtime_pb2.GetRecommendationsRequest(campaign_arn=CAMPAIGN), served("POPULAR_ITEMS", trend_seconds=1800)
    )
    assert trending.trend_seconds == 1800 and not trending.explore and trending.user_id is None


def test_filters_and_promotions_are_planned_with_sorted_values() -> None:
    promo = runtime_pb2.Promotion(name="p-1", percent_promoted_items=20, filter_arn=FILTER, filter_values={"B": "2"})
    req = runtime_pb2.GetRecommendationsRequest(
        campaign_arn=CAMPAIGN, user_id="u", filter_arn=FILTER, filter_values={"Z": "1", "A": "2"}, promotions=[promo]
    )
    p = plan.recommendations(req, served())
    assert p.filter == plan.FilterRef(FILTER, (("A", "2"), ("Z", "1")))
    assert p.promotion == plan.PromotionPlan("p-1", 20, plan.FilterRef(FILTER, (("B", "2"),)))
    with pytest.raises(InvalidInputException, match="without a filterArn"):
        plan.recommendations(
            runtime_pb2.GetRecommendationsRequest(campaign_arn=CAMPAIGN, user_id="u", filter_values={"A": "1"}),
            served(),
        )
    for bad in (
        runtime_pb2.Promotion(name="p", filter_arn=FILTER),
        runtime_pb2.Promotion(name="p", percent_promoted_items=101, filter_arn=FILTER),
    ):
        with pytest.raises(InvalidInputException, match="percentPromotedItems"):
            plan.recommendations(
                runtime_pb2.GetRecommendationsRequest(campaign_arn=CAMPAIGN, user_id="u", promotions=[bad]), served()
            )


def test_state_reads_name_the_filters_windows_and_the_recommenders_exclusion() -> None:
    purchased = bind_filter_values(
        parse_filter_expression('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase", "click")'), {}
    )
    anything = bind_filter_values(parse_filter_expression('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")'), {})
    category = bind_filter_values(parse_filter_expression('INCLUDE ItemID WHERE Items.CATEGORY IN ("a")'), {})
    assert interaction_windows(purchased, None, category) == (("click", "purchase"), False)
    assert interaction_windows(anything) == ((), True)
    reads = plan.state_reads("u", served(auto_exclude_event_type="watch"), purchased)
    assert reads == plan.StateReads(("click", "purchase", "watch"), False)
    assert plan.state_reads(None, served(), category) is None
    with pytest.raises(InvalidInputException, match="needs a userId"):
        plan.state_reads(None, served(), purchased)


def test_ranking_plans_need_a_ranking_recipe_a_user_and_an_input_list() -> None:
    req = runtime_pb2.GetPersonalizedRankingRequest(campaign_arn=CAMPAIGN, user_id="u", input_list=["a", "b"])
    p = plan.ranking(req, served("PERSONALIZED_RANKING"))
    assert (p.user_id, p.input_list, p.filter) == ("u", ["a", "b"], None)
    with pytest.raises(InvalidInputException, match="PERSONALIZED_RANKING recipe"):
        plan.ranking(req, served())
    with pytest.raises(InvalidInputException, match="inputList is required"):
        plan.ranking(
            runtime_pb2.GetPersonalizedRankingRequest(campaign_arn=CAMPAIGN, user_id="u"),
            served("PERSONALIZED_RANKING"),
        )
