"""Wires the trainer: a resource view, the job worker thread, and a gRPC health endpoint."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from tailor_shared.grpc_server import GrpcService
from tailor_shared.jobs import StatusUpdate, job_status_topic, job_topic_specs
from tailor_shared.kafka import OutgoingRecord, Producer, ensure_topics
from tailor_shared.resource_view import ResourceView
from tailor_trainer.config import TrainerSettings
from tailor_trainer.jobs import TrainingJobs
from tailor_trainer.worker import JobWorker


async def build(settings: TrainerSettings) -> tuple[Sequence[GrpcService], Sequence[Callable[[], Awaitable[None]]]]:
    import torch

    torch.set_num_threads(settings.torch_threads)
    common = settings.common
    ensure_topics(common.kafka_bootstrap, job_topic_specs(common.topic_prefix))
    view = ResourceView(common.kafka_bootstrap, common.topic_prefix)
    view.start()
    await view.ready()
    producer = Producer(common.kafka_bootstrap)
    status_topic = job_status_topic(common.topic_prefix)
    loop = asyncio.get_running_loop()

    def report(update: StatusUpdate) -> None:
        """Called on the worker thread: hand the write to the event loop and wait for the ack."""
        record = OutgoingRecord(status_topic, update.to_json(), update.resource_arn.encode())
        asyncio.run_coroutine_threadsafe(producer.send(record), loop).result(timeout=60)

    jobs = TrainingJobs(view, common.kafka_bootstrap, common.topic_prefix, settings.model_store, settings.seed, report)
    worker = JobWorker(common.kafka_bootstrap, common.topic_prefix, settings.worker_group, jobs)
    worker.start()

    async def stop() -> None:
        await asyncio.to_thread(worker.stop)
        producer.close()
        view.stop()

    return [], [stop]
