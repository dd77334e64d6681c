"""GetActionRecommendations' I/O: the action catalogue of each Next-Best-Action deployment (the Actions rows from
Redis, re-read when the stream applied new Actions records) and the user's one-round-trip read.

Model loading dispatches on the manifest's ``modelKind``: action models are ``ActionModel`` (numpy), the rest
``tailor_shared.scoring.loader`` (ONNX, tables).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from tailor.runtime.v1 import runtime_pb2
from tailor_runtime.adapters import RedisState
from tailor_runtime.deployments import Deployment
from tailor_runtime.domain import actions
from tailor_runtime.recommendation_ids import new_recommendation_id
from tailor_shared.errors import InvalidInputException
from tailor_shared.filters import BoundFilter
from tailor_shared.scoring.actions import ActionModel, is_action_model
from tailor_shared.scoring.filtering import ItemIndex
from tailor_shared.scoring.loader import load_model
from tailor_shared.scoring.model import ServingModel
from tailor_shared.scoring.retrieval import MASK_CACHE_BYTES

#: How often a request may check whether the stream applied new Actions records (expiry changes may take up to
#: two hours in Personalize, L4234; here they take at most this long).
CATALOGUE_CHECK_S = 2.0


def load_any_model(
    directory: Path, retrieval_min_items: int | None = None, retrieval_mask_cache_bytes: int = MASK_CACHE_BYTES
) -> ServingModel:
    """The runtime's model loader: a Next-Best-Action directory or any other kind (``retrieval_min_items``,
    ``retrieval_mask_cache_bytes``: ``tailor_shared.scoring.loader.LoadedModel``)."""
    if is_action_model(directory):
        return ActionModel(directory)
    return load_model(directory, retrieval_min_items, retrieval_mask_cache_bytes)


@dataclass
class _Catalogue:
    version_arn: str
    offsets: tuple[tuple[str, str], ...]
    checked: float
    metadata: dict[str, dict[str, str]]
    index: ItemIndex


class ActionRecommendations:
    """Answers GetActionRecommendations for the runtime's handlers; keeps one action catalogue per campaign."""

    def __init__(self, state: RedisState) -> None:
        self._state = state
        self._catalogues: dict[str, _Catalogue] = {}

    async def answer(
        self, dep: Deployment, plan: actions.ActionsPlan, bound: BoundFilter | None
    ) -> runtime_pb2.GetActionRecommendationsResponse:
        model = dep.model
        if not isinstance(model, ActionModel):
            raise InvalidInputException(f"Campaign {dep.campaign_arn} does not serve a Next-Best-Action model")
        catalogue = await self._catalogue(dep, model)
        activity = await self._state.action_activity(dep.keys, plan.user_id)
        ranked = actions.recommend(
            model, catalogue.metadata, catalogue.index, activity, bound, time.time(), plan.num_results
        )
        return runtime_pb2.GetActionRecommendationsResponse(
            action_list=[runtime_pb2.PredictedAction(action_id=a, score=s) for a, s in ranked],
            recommendation_id=new_recommendation_id(),
        )

    async def _catalogue(self, dep: Deployment, model: ActionModel) -> _Catalogue:
        """The Actions rows as the stream holds them (over the rows the model trained with)."""
        now = time.monotonic()
        current = self._catalogues.get(dep.campaign_arn)
        if current is not None and current.version_arn == dep.solution_version_arn:
            if now - current.checked < CATALOGUE_CHECK_S:
                return current
            offsets = await self._state.items_version(dep.keys, "Actions")
            current.checked = now
            if offsets == current.offsets:
                return current
        offsets = await self._state.items_version(dep.keys, "Actions")
        trained = set(model.item_ids)
        # Actions imported after training join as exploration (score 0.0), as Personalize's automatic updates
        # bring them in (L6810, L14521).
        ids = list(model.item_ids) + sorted(set(await self._state.action_ids(dep.keys)) - trained)
        live = await self._state.item_metadata(dep.keys, ids, entity="action")
        metadata = {a: live.get(a) or model.metadata.get(a, {}) for a in ids}  # Redis: the latest row
        catalogue = _Catalogue(dep.solution_version_arn, offsets, now, metadata, ItemIndex(ids, metadata))
        self._catalogues[dep.campaign_arn] = catalogue
        return catalogue
