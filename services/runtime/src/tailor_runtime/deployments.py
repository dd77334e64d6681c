"""Which models this runtime serves: campaigns and recommenders from the resource view, loaded from the
model store.

Every replica loads every live campaign's solution version and every live recommender's model generation
(any replica serves any request) and reports the resource ACTIVE once it has the model — control's lifecycle
makes the first such report count. An update swaps the model object only after the new one is loaded, so no
request fails during the swap. Stopped recommenders are dropped and reported INACTIVE (ADR 0010).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from tailor_runtime.adapters import RedisState
from tailor_runtime.domain.plan import Served
from tailor_runtime.metrics import MODEL_INFO, MODEL_LOADS, MODELS_LOADED
from tailor_shared import arns, recipes
from tailor_shared.errors import PersonalizeError, ServiceUnavailableException
from tailor_shared.incarnation import incarnation_of
from tailor_shared.jobs import StatusReporter, StatusUpdate
from tailor_shared.model_store import ModelStore, campaign_update_dir, recommender_model_dir, version_model_dir
from tailor_shared.redis_keys import Keys
from tailor_shared.resources import ResourceReader
from tailor_shared.scoring.answer import V2_RECIPES
from tailor_shared.scoring.filtering import ItemIndex
from tailor_shared.scoring.impressions import impression_discount
from tailor_shared.scoring.model import ServingModel
from tailor_shared.scoring.ranking import Exploration

log = logging.getLogger(__name__)

LIVE = ("CREATE PENDING", "CREATE IN_PROGRESS", "ACTIVE", "UPDATE PENDING", "UPDATE IN_PROGRESS")
RECOMMENDER_SERVED = (
    "CREATE IN_PROGRESS", "ACTIVE", "UPDATE PENDING", "UPDATE IN_PROGRESS", "START PENDING", "START IN_PROGRESS",
)  # fmt: skip
RECOMMENDER_STOPPING = ("STOP PENDING", "STOP IN_PROGRESS")


@dataclass
class Deployment:
    """A campaign's served state: the model, its catalogue index (with item metadata) and Redis keys."""

    campaign_arn: str
    solution_version_arn: str
    model: ServingModel
    index: ItemIndex
    keys: Keys
    dataset_group_arn: str
    campaign_config: dict[str, object] = field(default_factory=dict)
    loaded_at: float = field(default_factory=time.time)
    items_version: tuple[tuple[str, str], ...] = ()  # the stream's Items offsets when ``index`` was read
    # Trending-Now: (monotonic time read, ranking values); trends are the same for every request, so one
    # Redis read serves all requests for TREND_CACHE_S.
    trend_cache: tuple[float, npt.NDArray[np.float64]] | None = None
    # Exploration's per-item factor from impressions without a choice (ADR 0022), refreshed every few seconds.
    impression_discount: npt.NDArray[np.float64] | None = None
    # Recommenders of use cases that drop what the user already consumed (e.g. Purchase, L5629).
    auto_exclude_event_type: str | None = None

    # The campaign config and the exploration settings built from it (``handlers._exploration``).
    exploration_settings: tuple[dict[str, object], Exploration | None] | None = None
    # The last ``served`` built, with the campaign config and exclusion it was built from (rebuilt when
    # UpdateCampaign replaces the config): a plan reads it on every request.
    _served: tuple[dict[str, object], str | None, Served] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @functools.cached_property
    def is_recommender(self) -> bool:
        return _is_recommender(self.campaign_arn)

    @property
    def served(self) -> Served:
        """What the serving plan needs to know about this deployment (``domain.plan``)."""
        cached = self._served
        if cached is not None and cached[0] is self.campaign_config and cached[1] == self.auto_exclude_event_type:
            return cached[2]
        served = Served(
            arn=self.campaign_arn,
            is_recommender=self.is_recommender,
            recipe_type=self.model.recipe_type,
            metadata_allowed=self.model.recipe_arn.endswith(V2_RECIPES)
            or self.campaign_config.get("enableMetadataWithRecommendations") is True,
            trend_seconds=self.model.trend_seconds,
            auto_exclude_event_type=self.auto_exclude_event_type,
        )
        self._served = (self.campaign_config, self.auto_exclude_event_type, served)
        return served


ModelLoader = Callable[[Path], ServingModel]


#: Joins a solution version ARN and the generation of its automatic update in a campaign's serving target.
UPDATE_MARK = "#"


def target_version(campaign: dict[str, object]) -> str | None:
    """The solution version a campaign should serve now: during an update the new one, once loaded."""
    update = campaign.get("latestCampaignUpdate")
    if isinstance(update, dict) and campaign.get("status") in ("UPDATE PENDING", "UPDATE IN_PROGRESS"):
        return str(update.get("solutionVersionArn") or campaign.get("solutionVersionArn"))
    value = campaign.get("solutionVersionArn")
    generation = campaign.get("_model")
    if value and generation and campaign.get("_modelOf") == value and campaign.get("status") == "ACTIVE":
        return f"{value}{UPDATE_MARK}{generation}"  # the version's latest automatic update (ADR 0022)
    return str(value) if value else None


class Registry:
    """Keeps ``deployments`` in line with the campaigns and recommenders in the resource view."""

    def __init__(
        self,
        view: ResourceReader,
        store: str | os.PathLike[str],
        loader: ModelLoader,
        state: RedisState,
        status: StatusReporter,
        prefix: str,
        loaded: Callable[[], None] = lambda: None,
    ) -> None:
        """``loaded`` runs after a model or item index is swapped in (the server's ``settle_heap``)."""
        self._view = view
        self._loaded = loaded
        self._store = store if isinstance(store, ModelStore) else ModelStore(store)
        self._loader = loader
        self._state = state
        self._status = status
        self._prefix = prefix
        self.deployments: dict[str, Deployment] = {}
        self._failed: dict[str, str] = {}
        self._waiting: dict[tuple[str, str], ServingModel] = {}  # loaded, but item metadata couldn't be read

    def live_targets(self) -> dict[str, tuple[dict[str, object], str]]:
        """What each live campaign and recommender should serve: a solution version ARN (campaigns) or a
        model generation (recommenders, ADR 0010), with the resource's body."""
        out: dict[str, tuple[dict[str, object], str]] = {}
        for record in self._view.list("campaign"):
            version = target_version(dict(record.body)) if record.body.get("status") in LIVE else None
            if version is not None:
                out[record.arn] = (dict(record.body), version)
        for record in self._view.list("recommender"):
            generation = record.body.get("_model")
            if record.body.get("status") in RECOMMENDER_SERVED and isinstance(generation, str) and generation:
                out[record.arn] = (dict(record.body), generation)
        return out

    async def sync(self) -> None:
        targets = self.live_targets()
        for arn in list(self.deployments):
            if arn not in targets:
                del self.deployments[arn]
        # A deleted campaign or recommender leaves nothing behind: one created again under its name (same ARN)
        # is loaded afresh even where the deleted one's model had failed to load (ADR 0014).
        for arn in [a for a in self._failed if self._view.get(a) is None]:
            del self._failed[arn]
        for key in [k for k in self._waiting if self._view.get(k[0]) is None]:
            del self._waiting[key]
        for record in self._view.list("recommender"):
            if record.body.get("status") in RECOMMENDER_STOPPING:  # StopRecommender: nothing served any more
                await self._say(StatusUpdate(record.arn, "INACTIVE"))
        for arn, (body, version) in targets.items():
            current = self.deployments.get(arn)
            if current is None or current.solution_version_arn != version:
                if self._failed.get(arn) == version:
                    continue
                retrying = (arn, version) in self._waiting
                try:
                    self.deployments[arn] = await self._load(arn, version, body)
                    self._loaded()
                    MODEL_LOADS.labels("ok").inc()
                except ServiceUnavailableException as err:
                    # Redis (item metadata) is unreachable: not the model's fault. Retry on the next sync and
                    # don't report the campaign; requests get UNAVAILABLE meanwhile ("not deployed yet").
                    MODEL_LOADS.labels("retry").inc()
                    if not retrying:
                        log.warning("cannot load %s for %s yet: %s", version, arn, err.message)
                    continue
                except Exception as err:  # a broken model must not take the runtime down
                    MODEL_LOADS.labels("error").inc()
                    self._failed[arn] = version
                    log.exception("cannot load %s for %s", version, arn)
                    await self._say(StatusUpdate(arn, _failed_status(body), f"Model could not be loaded: {err}"))
                    continue
            else:
                current.campaign_config = _serving_config(body)  # UpdateCampaign / UpdateRecommender
            if _ready_to_report(body):
                await self._say(StatusUpdate(arn, "ACTIVE"))
        MODELS_LOADED.set(len({d.solution_version_arn for d in self.deployments.values()}))
        MODEL_INFO.clear()
        for arn, dep in self.deployments.items():
            MODEL_INFO.labels(arn, dep.solution_version_arn).set(1)

    async def _say(self, update: StatusUpdate) -> None:
        await self._status.send(update)

    async def _load(self, campaign_arn: str, version_arn: str, body: dict[str, object]) -> Deployment:
        """Load what ``campaign_arn`` (a campaign or a recommender) serves: ``version_arn`` is a solution
        version ARN or, for a recommender, a model generation."""
        recommender = _is_recommender(campaign_arn)
        if recommender:
            group = str(body.get("datasetGroupArn") or "")
            directory = recommender_model_dir(self._store, campaign_arn, version_arn, incarnation_of(body))
        else:
            version_only, _, generation = version_arn.partition(UPDATE_MARK)
            version = self._view.get(version_only)
            if version is None or version.body.get("status") != "ACTIVE":
                raise RuntimeError(f"solution version {version_arn} is not ACTIVE")
            group = str(version.body.get("datasetGroupArn") or "")
            if not group:
                solution = self._view.get(str(version.body.get("solutionArn")))
                group = str(solution.body.get("datasetGroupArn")) if solution else ""
            owner = arns.account_of(campaign_arn)  # only the campaign's own account's models (ADR 0028 §6)
            directory = version_model_dir(self._store, version, owner)
            if generation:
                directory = campaign_update_dir(self._store, version, generation, owner)
        started = time.perf_counter()
        model = self._waiting.pop((campaign_arn, version_arn), None)
        if model is None:
            model = await asyncio.to_thread(lambda: self._loader(self._store.fetch(directory)))  # S3: download once
        parsed = arns.parse(group)
        if parsed is None or parsed.resource_type != "datasetGroup":
            raise RuntimeError(f"solution version {version_arn} has no dataset group")
        group_record = self._view.get(group)
        if group_record is None:
            raise RuntimeError(f"the dataset group {group} of {campaign_arn} no longer exists")
        keys = Keys.for_group(self._prefix, group_record)  # this incarnation's keys (ADR 0012)
        try:
            items_version = await self._state.items_version(keys)
            index = await self._index(model, keys)
        except ServiceUnavailableException:
            self._waiting[(campaign_arn, version_arn)] = model
            raise
        log.info(
            "model loaded",
            extra={
                "campaign": campaign_arn,
                "solutionVersion": version_arn,
                "items": len(model.item_ids),
                "seconds": round(time.perf_counter() - started, 3),
            },
        )
        auto_exclude = None
        if recommender:
            with contextlib.suppress(PersonalizeError):
                auto_exclude = recipes.recipe(str(body.get("recipeArn"))).auto_filter_event_type
        return Deployment(
            campaign_arn,
            version_arn,
            model,
            index,
            keys,
            group,
            _serving_config(body),
            items_version=items_version,
            auto_exclude_event_type=auto_exclude,
        )

    async def _index(self, model: ServingModel, keys: Keys) -> ItemIndex:
        meta = await self._state.item_metadata(keys, list(model.item_ids))
        # Indexing a large catalogue takes tens of milliseconds: off the event loop, so requests keep flowing.
        return await asyncio.to_thread(_build_index, list(model.item_ids), meta)

    async def refresh_metadata(self) -> None:
        """Re-read item metadata so Items.* filters see PutItems/import changes (the guide allows 20 min).
        Only when the stream applied new Items records since the last read: a 10,000-item re-read and
        re-index costs a few hundred milliseconds of CPU, which would otherwise show in the tail latency."""
        for arn, dep in list(self.deployments.items()):
            version = await self._state.items_version(dep.keys)
            if version == dep.items_version:
                continue
            index = await self._index(dep.model, dep.keys)
            if self.deployments.get(arn) is dep:
                dep.index, dep.items_version = index, version
                self._loaded()
                log.info("item metadata refreshed", extra={"campaign": arn, "items": len(index.metadata)})

    async def refresh_impressions(self) -> None:
        """Re-read the stream's impression counts of the groups whose models explore (ADR 0022)."""
        for dep in list(self.deployments.values()):
            if getattr(dep.model, "exploration", None) is None:
                continue
            shown, chosen = await self._state.impression_counts(dep.keys)
            dep.impression_discount = impression_discount(dep.index.position, len(dep.index), shown, chosen)


def _build_index(item_ids: list[str], metadata: dict[str, dict[str, str]]) -> ItemIndex:
    return ItemIndex(item_ids, metadata=metadata)


@functools.lru_cache(maxsize=1024)
def _is_recommender(arn: str) -> bool:
    """Whether an ARN names a recommender: asked twice per request, parsed once per ARN."""
    parsed = arns.parse(arn)
    return parsed is not None and parsed.resource_type == "recommender"


def _serving_config(body: dict[str, object]) -> dict[str, object]:
    config = body.get("recommenderConfig") if "recommenderConfig" in body else body.get("campaignConfig")
    return dict(config) if isinstance(config, dict) else {}


def _ready_to_report(body: dict[str, object]) -> bool:
    """Whether this runtime, now serving the resource's target, should report it ACTIVE. A recommender update
    is done only once the trainer acknowledged it (``_modelFor`` = the update's creation time)."""
    status = body.get("status")
    if status == "ACTIVE":
        return False
    if status in ("UPDATE PENDING", "UPDATE IN_PROGRESS") and "recommenderConfig" in body:
        update = body.get("latestRecommenderUpdate")
        return isinstance(update, dict) and body.get("_modelFor") == update.get("creationDateTime")
    return True


def _failed_status(body: dict[str, object]) -> str:
    return "UPDATE FAILED" if str(body.get("status", "")).startswith("UPDATE") else "CREATE FAILED"
