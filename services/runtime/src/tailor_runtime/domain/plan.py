"""The serving plan of a runtime request: the typed request and the deployment's facts in, what to read and how
to answer out — decided here, without I/O, so the handlers only fetch what the plan names and call the scoring
code (ADR 0019).

A plan settles everything that depends on the request and the recipe but not on Redis: which fields are
required, validated values, which filters to bind, whether Trending-Now's windows or item exploration apply, and
which of the user's interaction windows the filters and the recommender's automatic exclusion read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tailor.common.v1 import common_pb2
from tailor.runtime.v1 import runtime_pb2
from tailor_runtime.domain import requests
from tailor_shared.errors import InvalidInputException
from tailor_shared.filters import BoundFilter, interaction_windows

USER_PERSONALIZATION = "USER_PERSONALIZATION"
RELATED_ITEMS = "RELATED_ITEMS"
PERSONALIZED_RANKING = "PERSONALIZED_RANKING"
PERSONALIZED_ACTIONS = "PERSONALIZED_ACTIONS"


@dataclass(frozen=True)
class Served:
    """What a deployment contributes to a plan (``Deployment.served``)."""

    arn: str
    is_recommender: bool
    recipe_type: str
    metadata_allowed: bool  # a v2 recipe, or enableMetadataWithRecommendations (L11268)
    trend_seconds: int | None  # Trending-Now's window size
    auto_exclude_event_type: str | None  # recommenders that drop what the user consumed (L5629)


@dataclass(frozen=True)
class FilterRef:
    """A filter ARN with the request's filterValues, sorted: the key its binding is cached under."""

    arn: str
    values: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class PromotionPlan:
    name: str
    percent: int
    filter: FilterRef


@dataclass(frozen=True)
class RecommendationsPlan:
    user_id: str | None
    item_id: str | None
    num_results: int
    columns: tuple[str, ...]
    context: Mapping[str, str]
    filter: FilterRef | None
    promotion: PromotionPlan | None
    trend_seconds: int | None  # read Trending-Now's windows of this size
    explore: bool  # item exploration (User-Personalization)


@dataclass(frozen=True)
class RankingPlan:
    user_id: str
    input_list: list[str]
    columns: tuple[str, ...]
    context: Mapping[str, str]
    filter: FilterRef | None


@dataclass(frozen=True)
class StateReads:
    """The user's windows to read in the request's one Redis round trip."""

    event_types: tuple[str, ...]
    any_type: bool


ModelRequest = (
    runtime_pb2.GetRecommendationsRequest
    | runtime_pb2.GetPersonalizedRankingRequest
    | runtime_pb2.GetActionRecommendationsRequest
)


def model_arn(request: ModelRequest) -> tuple[str, str]:
    """(resource type, ARN) of the model the request names: ``campaign`` or ``recommender`` (validated; the
    lookup is the caller's)."""
    recommender = request.recommender_arn if isinstance(request, runtime_pb2.GetRecommendationsRequest) else ""
    field, arn = requests.model_arn(request.campaign_arn, recommender)
    return requests.MODEL_FIELDS[field], arn


def recommendations(request: runtime_pb2.GetRecommendationsRequest, served: Served) -> RecommendationsPlan:
    recipe = served.recipe_type
    if recipe == PERSONALIZED_RANKING:
        raise InvalidInputException("This campaign's recipe ranks items: use GetPersonalizedRanking")
    if recipe == PERSONALIZED_ACTIONS:
        raise InvalidInputException("This campaign's recipe recommends actions: use GetActionRecommendations")
    columns = _columns(request.metadata_columns, served)
    num = requests.num_results(request.num_results if request.HasField("num_results") else None, bool(columns))
    context = requests.context(request.context)
    promo = requests.promotion(request.promotions)
    user_id = requests.identifier(request.user_id, "userId", required=recipe == USER_PERSONALIZATION)
    item_id = requests.identifier(request.item_id, "itemId", required=recipe == RELATED_ITEMS)
    return RecommendationsPlan(
        user_id=user_id,
        item_id=item_id,
        num_results=num,
        columns=columns,
        context=context,
        filter=_filter(request.filter_arn, request.filter_values),
        promotion=(
            None
            if promo is None
            else PromotionPlan(promo.name, promo.percent_promoted_items, FilterRef(promo.filter_arn, _values(promo)))
        ),
        trend_seconds=served.trend_seconds if recipe not in (USER_PERSONALIZATION, RELATED_ITEMS) else None,
        explore=recipe == USER_PERSONALIZATION,
    )


def ranking(request: runtime_pb2.GetPersonalizedRankingRequest, served: Served) -> RankingPlan:
    if served.recipe_type != PERSONALIZED_RANKING:
        raise InvalidInputException("GetPersonalizedRanking needs a campaign with a PERSONALIZED_RANKING recipe")
    columns = _columns(request.metadata_columns, served)
    items = requests.input_list(request.input_list, bool(columns))
    user_id = requests.identifier(request.user_id, "userId", required=True)
    assert user_id is not None  # required above
    return RankingPlan(
        user_id=user_id,
        input_list=items,
        columns=columns,
        context=requests.context(request.context),
        filter=_filter(request.filter_arn, request.filter_values),
    )


def state_reads(user_id: str | None, served: Served, *filters: BoundFilter | None) -> StateReads | None:
    """What to read for the user (None: nothing, an anonymous request). A filter on the user's data needs a
    userId; the recommender's automatic exclusion reads its event type's window too."""
    for bound in filters:
        if bound is not None and bound.filter.requires_user_id and user_id is None:
            raise InvalidInputException("The filter uses the user's data: the request needs a userId")
    if user_id is None:
        return None
    event_types, any_type = interaction_windows(*filters)
    types = set(event_types)
    if served.auto_exclude_event_type:
        types.add(served.auto_exclude_event_type)
    return StateReads(tuple(sorted(types)), any_type)


def _columns(columns: Mapping[str, common_pb2.StringList], served: Served) -> tuple[str, ...]:
    names = requests.metadata_columns(columns)
    if names and not served.metadata_allowed:
        kind, config = ("Recommender", "recommenderConfig") if served.is_recommender else ("Campaign", "campaignConfig")
        raise InvalidInputException(
            f"{kind} {served.arn} does not return item metadata: create or update it with "
            f"{config}.enableMetadataWithRecommendations set to true"
        )
    return names


def _filter(arn: str, values: Mapping[str, str]) -> FilterRef | None:
    if not arn:
        if values:
            raise InvalidInputException("filterValues were given without a filterArn")
        return None
    return FilterRef(arn, tuple(sorted(values.items())))


def _values(promo: runtime_pb2.Promotion) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(promo.filter_values.items()))
