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
import numpy as np
from google.protobuf import json_format

from tailor.runtime.v1 import runtime_pb2, runtime_pb2_grpc
from tailor_runtime.adapters import Impressions, RedisState
from tailor_runtime.deployments import Deployment, Registry
from tailor_runtime.domain import requests
from tailor_runtime.domain.filtering import FilterInputs, filter_mask
from tailor_runtime.domain.ranking import (
    Exploration,
    Promotion,
    Ranked,
    Values,
    exploration_eligible,
    rank_input_list,
    recommend,
    related_ranking,
    trending_ranking,
)
from tailor_shared.errors import InvalidInputException, ResourceNotFoundException, ServiceUnavailableException
from tailor_shared.filters import (
    BoundFilter,
    Dataset,
    bind_filter_values,
    iter_bound_conditions,
    parse_filter_expression,
)
from tailor_shared.filters import FilterExpression as ParsedFilter
from tailor_shared.redis_keys import UserState
from tailor_shared.resources import ResourceReader

SERVICE_NAME = "tailor.runtime.v1.PersonalizeRuntime"
V2_RECIPES = ("aws-user-personalization-v2", "aws-personalized-ranking-v2")
EXPLORATION_PERIOD_S = 7200  # explored items change with Personalize's automatic update cadence, not per request
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

        index = dep.index
        consumed: list[int] = []
        if dep.auto_exclude_event_type and user_id is not None:  # e.g. Recommended for you drops purchases
            window = state.windows.get(dep.auto_exclude_event_type.casefold(), [])
            consumed = [index.position[i] for i in window if i in index.position]
        scored = True
        scores: Values
        seen: list[int] = []
        exploration = None
        if model.recipe_type == "USER_PERSONALIZATION":
            exploration = _exploration(dep, user_id)
            history = _history(dep, user_id, state)
            scores = _with_context(model.score_history(history), model.context_shift(context))
            if model.exclude_seen:  # items are consumed once in this data (docs/specs/model-artifact.md)
                seen = history
        elif model.recipe_type == "RELATED_ITEMS":
            assert item_id is not None
            pos = index.position.get(item_id)
            scores = related_ranking(None if pos is None else model.score_related(pos), model.popularity, pos)
            scored = False
        elif model.trend_seconds is not None:
            scores, scored = await self._trending(dep, model.trend_seconds), False
        else:
            scores, scored = model.popularity, False
        current_item = index.metadata.get(item_id) if item_id else None
        inputs = FilterInputs(state.metadata or None, state.windows, current_item or ({} if item_id else None))
        mask = filter_mask(bound, index, inputs) if bound else np.ones(len(index), dtype=bool)
        if seen:
            mask[seen] = False
        if consumed:
            mask[consumed] = False
        promotion = None
        if promos and promo_bound is not None:
            promo_mask = filter_mask(promo_bound, index, inputs)
            if seen:
                promo_mask[seen] = False
            if consumed:
                promo_mask[consumed] = False
            promotion = Promotion(promos[0]["name"], int(promos[0]["percentPromotedItems"]), promo_mask)
        rid = f"RID-{uuid.uuid4()}"
        v2 = model.recipe_arn.endswith(V2_RECIPES)
        ranked = recommend(
            scores,
            mask,
            n,
            normalise=scored and model.recipe_type == "USER_PERSONALIZATION",
            popularity=model.popularity,
            backfill_popular=v2,
            show_reasons=v2,
            promotion=promotion,
            exploration=exploration,
            seed=rid,
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
        index = dep.index
        scores = _with_context(dep.model.score_history(_history(dep, user_id, state)), dep.model.context_shift(context))
        keep = filter_mask(bound, index, FilterInputs(state.metadata or None, state.windows)) if bound else None
        known = [(i, index.position[it]) for i, it in enumerate(inputs_list) if it in index.position]
        if keep is not None:
            known = [(i, p) for i, p in known if keep[p]]
        # Items without interactions data come after the scored ones, without a score (L6450); items the
        # model doesn't know at all go to the end (L12222). Both keep their input order. The filter can only
        # judge items in the model's catalogue; unknown items are returned as they are.
        unscored = dep.model.unscored
        cold: list[tuple[int, int]] = []
        if unscored is not None:
            cold = [(i, p) for i, p in known if unscored[p]]
            known = [(i, p) for i, p in known if not unscored[p]]
        ranked = rank_input_list(np.array([scores[p] for _, p in known], dtype=np.float32))
        out = [self._item(dep, Ranked(known[j][1], score), columns) for j, score in ranked]
        out.extend(self._item(dep, Ranked(p, None), columns) for _, p in cold)
        for item in inputs_list:
            if item not in index.position:
                out.append(runtime_pb2.PredictedItem(item_id=item))
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
        types: set[str] = set()
        for b in filters:
            if b is None:
                continue
            for e in b.expressions:
                if e.dataset is Dataset.INTERACTIONS:
                    for c in iter_bound_conditions(e.where):
                        types.update(getattr(c.value, "values", ()))
        if dep.auto_exclude_event_type:
            types.add(dep.auto_exclude_event_type)
        types.discard("*")
        wildcard = any(
            getattr(c.value, "wildcard", False)
            for b in filters
            if b is not None
            for e in b.expressions
            for c in iter_bound_conditions(e.where)
        )
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
    """The campaign's item exploration (UP: its itemExplorationConfig over the defaults; UP-v2: the defaults,
    service-managed). The draw is seeded per campaign, user and automatic-update period (ADR 0009 §18)."""
    data = dep.model.exploration
    if data is None:
        return None
    config = dict(data.defaults)
    if data.configurable:
        given = dep.campaign_config.get("itemExplorationConfig")
        if isinstance(given, dict):
            config.update({str(k): str(v) for k, v in given.items()})
    weight = float(config.get("explorationWeight", "0"))
    if weight <= 0:
        return None
    cutoff = float(config.get("explorationItemAgeCutOff", "30"))
    eligible = exploration_eligible(data.creation, data.latest_interaction, cutoff)
    period = int(time.time() // EXPLORATION_PERIOD_S)
    return Exploration(weight, eligible, data.interactions, f"{dep.campaign_arn}|{user_id}|{period}")


def _with_context(scores: Values, shift: Values | None) -> Values:
    """Logits plus the context's lift (ADR 0006: the naive-Bayes update), before softmax and ranking."""
    return scores if shift is None else scores + shift


def _history(dep: Deployment, user_id: str | None, state: UserState) -> list[int]:
    """Training-time items of the user (if the model knows them) followed by their newer live events."""
    position = dep.index.position
    live = [(position[e.item_id], e.timestamp) for e in reversed(state.history) if e.item_id in position]
    return dep.model.user_history(user_id, live)


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
