"""Wires the batch worker: a resource view, its member of the jobs platform (owner ``batch``), Redis, and a
gRPC health endpoint. Its own process (and k8s Deployment): batch work never runs in the online runtime's."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from tailor_batch.adapters import RedisReader
from tailor_batch.config import BatchSettings
from tailor_batch.jobs import BatchJobs
from tailor_shared.grpc_server import GrpcService
from tailor_shared.jobs import JobType, JobWorker, Owner, StatusReporter, job_topic_specs
from tailor_shared.kafka import BACKGROUND_IDLE_POLL_S, Producer, ensure_topics
from tailor_shared.model_store import ModelStore
from tailor_shared.objectstore import ObjectStore
from tailor_shared.resource_view import ResourceView

#: How long a shutdown waits for a running job; one still running stays uncommitted and runs again.
STOP_TIMEOUT_S = 10.0


async def build(settings: BatchSettings) -> tuple[Sequence[GrpcService], Sequence[Callable[[], Awaitable[None]]]]:
    common = settings.common
    ensure_topics(common.kafka_bootstrap, job_topic_specs(common.topic_prefix))
    view = ResourceView(common.kafka_bootstrap, common.topic_prefix)
    view.start()
    await view.ready()
    producer = Producer(common.kafka_bootstrap, idle_poll_s=BACKGROUND_IDLE_POLL_S)
    reporter = StatusReporter(producer, common.topic_prefix)
    reader = RedisReader(common.redis_url, settings.history_length)
    objects = ObjectStore(common.s3)
    jobs = BatchJobs(
        view,
        reader,
        common.topic_prefix,
        ModelStore(settings.model_store, objects, common.model_cache_dir),
        reporter.report,
        settings.chunk,
        objects,
    )
    worker = JobWorker(
        common.kafka_bootstrap,
        common.topic_prefix,
        Owner.BATCH,
        {JobType.BATCH_INFERENCE: jobs.run_inference, JobType.BATCH_SEGMENT: jobs.run_segment},
        finished=jobs.finished,
        group=settings.worker_group,
    )
    await asyncio.to_thread(worker.start)

    async def stop() -> None:
        await asyncio.to_thread(worker.stop, STOP_TIMEOUT_S)
        reader.close()
        producer.close()
        view.stop()

    return [], [stop]
