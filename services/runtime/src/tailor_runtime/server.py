"""Wires the runtime: resource view, Redis, the model registry and its sync loops, the gRPC servicer.

``build`` returns only after the models of every live campaign are loaded, so the gRPC health check
reports SERVING only when this replica can answer (the Kubernetes readiness probe relies on it).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence

from tailor.runtime.v1 import runtime_pb2_grpc
from tailor_runtime.actions import load_any_model
from tailor_runtime.adapters import RedisState, impressions_for
from tailor_runtime.config import RuntimeSettings
from tailor_runtime.deployments import Registry
from tailor_runtime.handlers import SERVICE_NAME, RuntimeHandlers
from tailor_shared.grpc_server import GrpcService, settle_heap
from tailor_shared.jobs import StatusReporter
from tailor_shared.kafka import BACKGROUND_IDLE_POLL_S, Producer, TopicSpec, ensure_topics
from tailor_shared.model_store import ModelStore
from tailor_shared.objectstore import ObjectStore
from tailor_shared.quotas import RequestQuotas
from tailor_shared.resource_view import ResourceView
from tailor_shared.topics import impressions_topic

log = logging.getLogger(__name__)

SYNC_INTERVAL_S = 0.5
IMPRESSIONS_REFRESH_S = 5.0  # how soon impressions without a choice lower an item's exploration weight


async def _every(interval: float, step: Callable[[], Awaitable[None]], name: str) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await step()
        except Exception:
            log.exception("%s failed", name)


async def build(settings: RuntimeSettings) -> tuple[Sequence[GrpcService], Sequence[Callable[[], Awaitable[None]]]]:
    common = settings.common
    ensure_topics(common.kafka_bootstrap, [TopicSpec(impressions_topic(common.topic_prefix), partitions=2)])
    view = ResourceView(common.kafka_bootstrap, common.topic_prefix)
    view.start()
    await view.ready()
    state = RedisState(common.redis_url, settings.history_length)
    producer = Producer(common.kafka_bootstrap, idle_poll_s=BACKGROUND_IDLE_POLL_S)
    impressions = impressions_for(common.kafka_bootstrap, common.topic_prefix)
    reporter = StatusReporter(producer, common.topic_prefix)
    models = ModelStore(settings.model_store, ObjectStore(common.s3), common.model_cache_dir)
    loader = functools.partial(
        load_any_model,
        retrieval_min_items=settings.retrieval_min_items,
        retrieval_mask_cache_bytes=settings.retrieval_mask_cache_bytes,
    )
    # A loaded model and its item index live until the next version: out of the garbage collector's walks.
    registry = Registry(view, models, loader, state, reporter, common.topic_prefix, settle_heap)
    await registry.sync()
    tasks = [
        asyncio.create_task(_every(SYNC_INTERVAL_S, registry.sync, "model sync")),
        asyncio.create_task(_every(settings.metadata_refresh_s, registry.refresh_metadata, "metadata refresh")),
        asyncio.create_task(_every(IMPRESSIONS_REFRESH_S, registry.refresh_impressions, "impressions refresh")),
    ]

    async def stop() -> None:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await state.close()
        impressions.close()
        producer.close()
        view.stop()

    handlers = RuntimeHandlers(view, registry, state, impressions)
    quotas = RequestQuotas.open(common)  # per campaign / recommender and in total (ADR 0023); None: no quotas
    admit = quotas.admit if quotas else None
    service = GrpcService(runtime_pb2_grpc.add_PersonalizeRuntimeServicer_to_server, handlers, SERVICE_NAME, admit)
    return [service], [stop] if quotas is None else [stop, quotas.close]
