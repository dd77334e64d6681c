"""Which models this runtime serves: campaigns from the resource view, loaded from the model store.

Every replica loads every live campaign's solution version (any replica serves any request) and reports
the campaign ACTIVE once it has the model — control's lifecycle makes the first such report count. An
update swaps the model object only after the new one is loaded, so no request fails during the swap.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
from prometheus_client import Counter, Gauge

from tailor_runtime.adapters import Outbox, RedisState
from tailor_runtime.domain.filtering import ItemIndex
from tailor_runtime.domain.model import ServingModel
from tailor_shared import arns
from tailor_shared.errors import ServiceUnavailableException
from tailor_shared.jobs import StatusUpdate
from tailor_shared.metrics import metric_name
from tailor_shared.model_store import model_dir
from tailor_shared.redis_keys import Keys
from tailor_shared.resources import ResourceReader

log = logging.getLogger(__name__)

LOADS = Counter(metric_name("runtime", "model_loads", "total"), "Model loads by outcome", ["outcome"])
LOADED = Gauge(metric_name("runtime", "models_loaded", "count"), "Solution versions loaded in this process")

LIVE = ("CREATE PENDING", "CREATE IN_PROGRESS", "ACTIVE", "UPDATE PENDING", "UPDATE IN_PROGRESS")


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


ModelLoader = Callable[[Path], ServingModel]


def target_version(campaign: dict[str, object]) -> str | None:
    """The solution version a campaign should serve now: during an update the new one, once loaded."""
    update = campaign.get("latestCampaignUpdate")
    if isinstance(update, dict) and campaign.get("status") in ("UPDATE PENDING", "UPDATE IN_PROGRESS"):
        return str(update.get("solutionVersionArn") or campaign.get("solutionVersionArn"))
    value = campaign.get("solutionVersionArn")
    return str(value) if value else None


class Registry:
    """Keeps ``deployments`` in line with the campaigns in the resource view."""

    def __init__(
        self,
        view: ResourceReader,
        store: Path,
        loader: ModelLoader,
        state: RedisState,
        outbox: Outbox,
        prefix: str,
    ) -> None:
        self._view = view
        self._store = store
        self._loader = loader
        self._state = state
        self._outbox = outbox
        self._prefix = prefix
        self.deployments: dict[str, Deployment] = {}
        self._failed: dict[str, str] = {}
        self._waiting: dict[tuple[str, str], ServingModel] = {}  # loaded, but item metadata couldn't be read

    def live_campaigns(self) -> dict[str, dict[str, object]]:
        return {r.arn: dict(r.body) for r in self._view.list("campaign") if r.body.get("status") in LIVE}

    async def sync(self) -> None:
        campaigns = self.live_campaigns()
        for arn in list(self.deployments):
            if arn not in campaigns:
                del self.deployments[arn]
        for arn, body in campaigns.items():
            version = target_version(body)
            if version is None:
                continue
            current = self.deployments.get(arn)
            if current is None or current.solution_version_arn != version:
                if self._failed.get(arn) == version:
                    continue
                retrying = (arn, version) in self._waiting
                try:
                    self.deployments[arn] = await self._load(arn, version, body)
                    LOADS.labels("ok").inc()
                except ServiceUnavailableException as err:
                    # Redis (item metadata) is unreachable: not the model's fault. Retry on the next sync and
                    # don't report the campaign; requests get UNAVAILABLE meanwhile ("not deployed yet").
                    LOADS.labels("retry").inc()
                    if not retrying:
                        log.warning("cannot load %s for %s yet: %s", version, arn, err.message)
                    continue
                except Exception as err:  # a broken model must not take the runtime down
                    LOADS.labels("error").inc()
                    self._failed[arn] = version
                    log.exception("cannot load %s for %s", version, arn)
                    await self._say(StatusUpdate(arn, _failed_status(body), f"Model could not be loaded: {err}"))
                    continue
            else:
                config = body.get("campaignConfig")
                current.campaign_config = dict(config) if isinstance(config, dict) else {}  # UpdateCampaign
            if body.get("status") != "ACTIVE":
                await self._say(StatusUpdate(arn, "ACTIVE"))
        LOADED.set(len({d.solution_version_arn for d in self.deployments.values()}))

    async def _say(self, update: StatusUpdate) -> None:
        await self._outbox.status(update)

    async def _load(self, campaign_arn: str, version_arn: str, body: dict[str, object]) -> Deployment:
        version = self._view.get(version_arn)
        if version is None or version.body.get("status") != "ACTIVE":
            raise RuntimeError(f"solution version {version_arn} is not ACTIVE")
        group = str(version.body.get("datasetGroupArn") or "")
        if not group:
            solution = self._view.get(str(version.body.get("solutionArn")))
            group = str(solution.body.get("datasetGroupArn")) if solution else ""
        started = time.perf_counter()
        model = self._waiting.pop((campaign_arn, version_arn), None)
        if model is None:
            model = await asyncio.to_thread(self._loader, model_dir(self._store, version_arn))
        parsed = arns.parse(group)
        if parsed is None or parsed.resource_type != "datasetGroup":
            raise RuntimeError(f"solution version {version_arn} has no dataset group")
        keys = Keys(self._prefix, parsed.resource_id)
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
        config = body.get("campaignConfig")
        return Deployment(
            campaign_arn,
            version_arn,
            model,
            index,
            keys,
            group,
            dict(config) if isinstance(config, dict) else {},
            items_version=items_version,
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
                log.info("item metadata refreshed", extra={"campaign": arn, "items": len(index.metadata)})


def _build_index(item_ids: list[str], metadata: dict[str, dict[str, str]]) -> ItemIndex:
    return ItemIndex(item_ids, metadata=metadata)


def _failed_status(body: dict[str, object]) -> str:
    return "UPDATE FAILED" if str(body.get("status", "")).startswith("UPDATE") else "CREATE FAILED"
