"""Wires the ingest service: resource view, the Personalize Events gRPC API, the import/export worker and the
inbound-topic forwarder (ADR 0024)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from tailor.events.v1 import events_pb2_grpc
from tailor_ingest.adapters import TopicGuard
from tailor_ingest.catalog import Catalog
from tailor_ingest.config import IngestSettings
from tailor_ingest.handlers import SERVICE_NAME, EventsServicer
from tailor_ingest.inbound import InboundForwarder
from tailor_ingest.inbound import start as start_inbound
from tailor_ingest.worker import start_worker
from tailor_shared.grpc_server import GrpcService
from tailor_shared.jobs import JobWorker, StatusReporter
from tailor_shared.kafka import Producer
from tailor_shared.quotas import RequestQuotas
from tailor_shared.resource_view import ResourceView


async def start_view(settings: IngestSettings) -> ResourceView:
    view = ResourceView(settings.common.kafka_bootstrap, settings.prefix)
    await asyncio.to_thread(view.start)
    await view.ready()
    return view


async def build(settings: IngestSettings) -> tuple[Sequence[GrpcService], Sequence[Callable[[], Awaitable[None]]]]:
    view = await start_view(settings)
    catalog = Catalog(view, settings.prefix)
    catalog.attach(view)
    # Put* calls bound their wait (produce_timeout_ms); job status reports through the same producer wait for
    # the delivery report (message.timeout.ms, 30 s), so an import rides out a short broker outage.
    producer = Producer(settings.common.kafka_bootstrap)
    topics = TopicGuard(settings.common.kafka_bootstrap, settings.common.dataset_retention_ms)
    servicer = EventsServicer(catalog, producer, topics, settings.prefix, settings.produce_timeout_ms / 1000)
    worker: JobWorker | None = None
    if settings.run_worker:
        reporter = StatusReporter(producer, settings.prefix)
        worker = await asyncio.to_thread(start_worker, settings, view, topics, reporter)
    inbound = None
    if settings.run_inbound:
        inbound = start_inbound(
            InboundForwarder(settings, view, catalog, producer, topics, view.catch_up, view.change_event())
        )

    async def stop() -> None:
        # Runs after the gRPC server drained its in-flight calls: every acknowledged write is delivered.
        if inbound is not None:
            task, halt = inbound
            halt.set()
            await task  # its last batch delivered (and committed) or left uncommitted: forwarded again later
        if worker is not None:
            await asyncio.to_thread(worker.stop)
        await asyncio.to_thread(producer.close)
        await asyncio.to_thread(view.stop)

    quotas = RequestQuotas.open(settings.common)  # Put* calls per dataset group (ADR 0023); None: no quotas
    admit = quotas.admit if quotas else None
    service = GrpcService(
        events_pb2_grpc.add_PersonalizeEventsServicer_to_server,
        servicer,
        SERVICE_NAME,
        admit,
        tracker_of=catalog.tracker_arn,
    )
    return [service], [stop] if quotas is None else [stop, quotas.close]


async def run_worker_only(settings: IngestSettings, stop: asyncio.Event) -> None:
    """``python -m tailor_ingest import-worker``: the job worker without the gRPC API."""
    view = await start_view(settings)
    producer = Producer(settings.common.kafka_bootstrap)
    reporter = StatusReporter(producer, settings.prefix)
    topics = TopicGuard(settings.common.kafka_bootstrap, settings.common.dataset_retention_ms)
    worker = await asyncio.to_thread(start_worker, settings, view, topics, reporter)
    try:
        await stop.wait()
    finally:
        await asyncio.to_thread(worker.stop)
        await asyncio.to_thread(producer.close)
        await asyncio.to_thread(view.stop)
