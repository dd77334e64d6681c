"""Personalize Runtime over gRPC: GetRecommendations, GetPersonalizedRanking, GetActionRecommendations.

Per request: the campaign's loaded model, one pipelined Redis read (the user's recent interactions,
filter windows, user metadata), the model's scores, vectorised filter masks, then ranking. Filters are
parsed once per filter ARN and bound once per (filter, filterValues).
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Mapping
from typing import Any

import grpc
from google.protobuf import json_format

from tailor.runtime.v1 import runtime_pb2, runtime_pb2_grpc
from tailor_runtime.adapters import Impressions, RedisState
from tailor_runtime.deployments import Deployment, Registry
from tailor_runtime.domain import requests
from tailor_shared.errors import InvalidInputException, ResourceNotFoundException, ServiceUnavailableException
from tailor_shared.filters import (
    BoundFilter,
    bind_filter_values,
    parse_filter_expression,
)
from tailor_shared.filters import FilterExpression as ParsedFilter
from tailor_shared.redis_keys import UserState
from tailor_shared.resources import ResourceReader
from tailor_shared.scoring import answer
from tailor_shared.scoring.answer import V2_RECIPES
from tailor_shared.scoring.ranking import Exploration, Ranked, Values, trending_ranking

SERVICE_NAME = "tailor.runtime.v1.PersonalizeRuntime"
TREND_CACHE_S = 1.0  # how stale Trending-Now may be: far below its 30-minute shortest discovery frequency


class RuntimeHandlers(runtime_pb2_grpc.PersonalizeRuntimeServicer):
    def __init__(self, view: ResourceReader, registry: Registry, state: RedisState, impressions: Impressions) -> None:
        self._view = view
        self._registry = registry
        self._state = state
        self._impressions = impressions

    # --- RPCs ----------------------------------------------------------------------------------------
    async def GetRecommendations(
        self, request: runtime_pb2.GetRecommendationsRequest, context: grpc.aio.ServicerContext
    ) -> runtime_pb2.GetRecommendationsResponse:
        req = json_format.MessageToDict(request)
        dep = self._deployment(req)
        model = dep.model
        if model.recipe_type == "PERSONALIZED_RANKING":
            raise InvalidInputException("This campaign's recipe ranks items: use GetPersonalizedRanking")
        columns = requests.metadata_columns(req)
        _metadata_enabled(dep, columns)
        n = requests.num_results(req, bool(columns))
        context = requests.context(req)
        promos = requests.promotions(req)
        user_needed = model.recipe_type == "USER_PERSONALIZATION"
        user_id = requests.identifier(req, "userId", required=user_needed)
        item_id = requests.identifier(req, "itemId", required=model.recipe_type == "RELATED_ITEMS")
        bound = self._bound(dep, req.get("filterArn"), req.get("filterValues"))
        promo_bound = self._bound(dep, promos[0]["filterArn"], promos[0].get("filterValues")) if promos else None
        for b in (bound, promo_bound):
            if b is not None and b.filter.requires_user_id and user_id is None:
                raise InvalidInputException("The filter uses the user's data: the request needs a userId")
        state = await self._user_state(dep, user_id, bound, promo_bound)
        trend = None
        if model.recipe_type not in ("USER_PERSONALIZATION", "RELATED_ITEMS") and model.trend_seconds is not None:
            trend = await self._trending(dep, model.trend_seconds)
        rid = f"RID-{uuid.uuid4()}"
        ranked = answer.recommendations(
            model,
            dep.index,
            user_id=user_id,
            item_id=item_id,
            state=state,
            bound=bound,
            num_results=n,
            context=context,
            exploration=_exploration(dep, user_id) if model.recipe_type == "USER_PERSONALIZATION" else None,
            seed=rid,
            promotion=(
                answer.PromotionRequest(promos[0]["name"], int(promos[0]["percentPromotedItems"]), promo_bound)
                if promos and promo_bound is not None
                else None
            ),
            trend_values=trend,
            auto_exclude_event_type=dep.auto_exclude_event_type,
        )
        items = [self._item(dep, r, columns) for r in ranked]
        self._impressions.send(rid, _impression(rid, dep, user_id, items))
        return runtime_pb2.GetRecommendationsResponse(item_list=items, recommendation_id=rid)

    async def GetPersonalizedRanking(
        self, request: runtime_pb2.GetPersonalizedRankingRequest, context: grpc.aio.ServicerContext
    ) -> runtime_pb2.GetPersonalizedRankingResponse:
        req = json_format.MessageToDict(request)
        dep = self._deployment(req)
        if dep.model.recipe_type != "PERSONALIZED_RANKING":
            raise InvalidInputException("GetPersonalizedRanking needs a campaign with a PERSONALIZED_RANKING recipe")
        columns = requests.metadata_columns(req)
        _metadata_enabled(dep, columns)
        inputs_list = requests.input_list(req, bool(columns))
        user_id = requests.identifier(req, "userId", required=True)
        context = requests.context(req)
        bound = self._bound(dep, req.get("filterArn"), req.get("filterValues"))
        state = await self._user_state(dep, user_id, bound, None)
        ranked_items = answer.personalized_ranking(
            dep.model, dep.index, user_id=user_id, state=state, bound=bound, input_list=inputs_list, context=context
        )
        position = dep.index.position
        out = [
            self._item(dep, Ranked(position[item], score), columns)
            if item in position
            else runtime_pb2.PredictedItem(item_id=item)
            for item, score in ranked_items
        ]
        rid = f"RID-{uuid.uuid4()}"
        self._impressions.send(rid, _impression(rid, dep, user_id, out))
        return runtime_pb2.GetPersonalizedRankingResponse(personalized_ranking=out, recommendation_id=rid)

    async def GetActionRecommendations(
        self, request: runtime_pb2.GetActionRecommendationsRequest, context: grpc.aio.ServicerContext
    ) -> runtime_pb2.GetActionRecommendationsResponse:
        req = json_format.MessageToDict(request)
        dep = self._deployment(req)
        raise InvalidInputException(
            f"Campaign {dep.campaign_arn} does not use the Next-Best-Action recipe; "
            "GetActionRecommendations needs an aws-next-best-action campaign"
        )

    # --- helpers -------------------------------------------------------------------------------------
    def _deployment(self, req: Mapping[str, Any]) -> Deployment:
        field, arn = requests.model_arn(req)
        expected = requests.MODEL_FIELDS[field]
        dep = self._registry.deployments.get(arn)
        if dep is not None and dep.is_recommender == (expected == "recommender"):
            return dep
        record = self._view.get(arn)
        if record is None or record.resource_type != expected:
            # A well-formed ARN of another type (a dataset group, a schema, a campaign given as recommenderArn)
            # names no model: Personalize's lookup finds nothing (404), it is not "still loading".
            raise ResourceNotFoundException(f"{expected.capitalize()} {arn} does not exist.")
        if record.body.get("status") in ("INACTIVE", "STOP PENDING", "STOP IN_PROGRESS"):
            raise InvalidInputException(f"Recommender {arn} is stopped; start it with StartRecommender")
        raise ServiceUnavailableException(f"{arn} is not deployed on this runtime yet; retry shortly")

    async def _trending(self, dep: Deployment, size_s: int) -> Values:
        now = time.monotonic()
        if dep.trend_cache is not None and now - dep.trend_cache[0] < TREND_CACHE_S:
            return dep.trend_cache[1]
        current, previous = await self._state.trend_windows(dep.keys, size_s)
        values = trending_ranking(dep.index.position, current, previous, dep.model.popularity)
        dep.trend_cache = (now, values)
        return values

    def _bound(self, dep: Deployment, filter_arn: str | None, values: Mapping[str, str] | None) -> BoundFilter | None:
        if not filter_arn:
            if values:
                raise InvalidInputException("filterValues were given without a filterArn")
            return None
        record = self._view.get(filter_arn)
        if record is None or record.resource_type != "filter":
            raise ResourceNotFoundException(f"Filter {filter_arn} does not exist.")
        if record.body.get("datasetGroupArn") != dep.dataset_group_arn:
            raise InvalidInputException(f"Filter {filter_arn} belongs to another dataset group than {dep.campaign_arn}")
        if record.body.get("status") != "ACTIVE":
            raise InvalidInputException(f"Filter {filter_arn} is not ACTIVE (status {record.body.get('status')})")
        parsed = _parse(str(record.body["filterExpression"]))
        return _bind(parsed, tuple(sorted((values or {}).items())))

    async def _user_state(self, dep: Deployment, user_id: str | None, *filters: BoundFilter | None) -> UserState:
        if user_id is None:
            return UserState([], {}, frozenset(), {})
        event_types, wildcard = answer.state_event_types(*filters)
        types = set(event_types)
        if dep.auto_exclude_event_type:
            types.add(dep.auto_exclude_event_type)
        types.discard("*")
        state = await self._state.user_state(dep.keys, user_id, sorted(types), any_type=wildcard)
        if wildcard:
            state.windows.setdefault("*", list(state.any_type_items))
        return state

    def _item(self, dep: Deployment, r: Ranked, columns: list[str]) -> runtime_pb2.PredictedItem:
        """One PredictedItem, built as a message directly (json_format costs ~10 µs per item)."""
        item_id = dep.index.item_ids[r.index]
        out = runtime_pb2.PredictedItem(item_id=item_id)
        if r.score is not None:
            out.score = r.score
        if r.promotion_name:
            out.promotion_name = r.promotion_name
        if r.reasons:
            out.reason.extend(r.reasons)
        if columns:
            meta = dep.index.metadata.get(item_id) or {}
            out.metadata.update({c: str(meta[c.upper()]) for c in columns if c.upper() in meta})
        return out


def _metadata_enabled(dep: Deployment, columns: list[str]) -> None:
    """v2 recipes always may return item metadata; other campaigns need enableMetadataWithRecommendations (L11268)."""
    if not columns or dep.model.recipe_arn.endswith(V2_RECIPES):
        return
    if dep.campaign_config.get("enableMetadataWithRecommendations") is not True:
        kind, config = ("Recommender", "recommenderConfig") if dep.is_recommender else ("Campaign", "campaignConfig")
        raise InvalidInputException(
            f"{kind} {dep.campaign_arn} does not return item metadata: create or update it with "
            f"{config}.enableMetadataWithRecommendations set to true"
        )


def _exploration(dep: Deployment, user_id: str | None) -> Exploration | None:
    """The campaign's item exploration, drawn as a batch job on the same solution version draws it (ADR 0016)."""
    return answer.exploration_for(
        dep.model,
        _dict(dep.campaign_config.get("itemExplorationConfig")),
        dep.solution_version_arn,
        user_id,
        discount=dep.impression_discount,
    )


def _dict(value: object) -> Mapping[str, object] | None:
    return value if isinstance(value, dict) else None


@functools.lru_cache(maxsize=1024)
def _parse(expression: str) -> ParsedFilter:
    return parse_filter_expression(expression)


@functools.lru_cache(maxsize=4096)
def _bind(parsed: ParsedFilter, values: tuple[tuple[str, str], ...]) -> BoundFilter:
    return bind_filter_values(parsed, dict(values))


def _impression(
    rid: str, dep: Deployment, user_id: str | None, items: list[runtime_pb2.PredictedItem]
) -> dict[str, Any]:
    return {
        "recommendationId": rid,
        "campaignArn": dep.campaign_arn,
        "solutionVersionArn": dep.solution_version_arn,
        "userId": user_id,
        "itemList": [i.item_id for i in items],
        "timestamp": time.time(),
    }
