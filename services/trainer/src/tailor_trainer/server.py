"""Wires the trainer: a resource view, its member of the jobs platform (the worker), and a gRPC health
endpoint."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from tailor_shared import orphans
from tailor_shared.grpc_server import GrpcService
from tailor_shared.jobs import JobType, JobWorker, Owner, StatusReporter, job_topic_specs
from tailor_shared.kafka import BACKGROUND_IDLE_POLL_S, Producer, ensure_topics
from tailor_shared.model_store import ModelStore, migrate_to_accounts
from tailor_shared.objectstore import ObjectStore
from tailor_shared.resource_view import ResourceView
from tailor_trainer.config import TrainerSettings
from tailor_trainer.janitor import ModelStoreJanitor
from tailor_trainer.jobs import TrainingJobs

log = logging.getLogger(__name__)

#: How long a shutdown waits for a running training job; one that is still running stays uncommitted and
#: is trained again by the next trainer of the group.
STOP_TIMEOUT_S = 10.0


async def build(settings: TrainerSettings) -> tuple[Sequence[GrpcService], Sequence[Callable[[], Awaitable[None]]]]:
    import torch

    torch.set_num_threads(settings.torch_threads)
    common = settings.common
    ensure_topics(common.kafka_bootstrap, job_topic_specs(common.topic_prefix))
    view = ResourceView(common.kafka_bootstrap, common.topic_prefix)
    view.start()
    await view.ready()
    producer = Producer(common.kafka_bootstrap, idle_poll_s=BACKGROUND_IDLE_POLL_S)
    reporter = StatusReporter(producer, common.topic_prefix)
    models = ModelStore(settings.model_store, ObjectStore(common.s3), common.model_cache_dir)
    moved = await asyncio.to_thread(migrate_to_accounts, models, orphans.live_model_dirs(models.root, view))
    if moved:
        log.info("moved models into their account folders (ADR 0028 §6)", extra={"directories": len(moved)})
    jobs = TrainingJobs(
        view,
        common.kafka_bootstrap,
        common.topic_prefix,
        models,
        settings.seed,
        reporter.report,
        max_training_seconds=settings.max_training_seconds_for,
        index_min_items=settings.retrieval_min_items,
    )
    worker = JobWorker(
        common.kafka_bootstrap,
        common.topic_prefix,
        Owner.TRAINER,
        {
            JobType.SOLUTION_VERSION: jobs.run,
            JobType.RECOMMENDER_CREATE: jobs.run_recommender,
            JobType.RECOMMENDER_UPDATE: jobs.run_recommender,
            JobType.RECOMMENDER_RETRAIN: jobs.run_recommender,
            JobType.CAMPAIGN_AUTO_UPDATE: jobs.run_auto_update,
        },
        finished=jobs.finished,
        group=settings.worker_group,
    )
    await asyncio.to_thread(worker.start)
    stopping = asyncio.Event()
    janitor: asyncio.Task[None] | None = None
    if settings.janitor_interval_s > 0:
        store_janitor = ModelStoreJanitor(models, view, settings.janitor_grace_s)
        janitor = asyncio.create_task(store_janitor.run(stopping, settings.janitor_interval_s), name="janitor")

    async def stop() -> None:
        stopping.set()
        if janitor is not None:
            await janitor
        await asyncio.to_thread(worker.stop, STOP_TIMEOUT_S)
        producer.close()
        view.stop()

    return [], [stop]
