"""Wires control: its resource view, the single writer, the lifecycle loop and the status consumer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from tailor.console.v1 import console_pb2_grpc
from tailor.control.v1 import control_pb2_grpc
from tailor_control import console
from tailor_control.adapters import ResourceWriter, StatusConsumer
from tailor_control.config import ControlSettings
from tailor_control.handlers import SERVICE_NAME, ControlHandlers, build_servicer
from tailor_shared.grpc_server import GrpcService
from tailor_shared.jobs import job_topic_specs
from tailor_shared.kafka import Producer, ensure_topics
from tailor_shared.resource_view import ResourceView

log = logging.getLogger(__name__)


async def _every(interval: float, step: Callable[[], Awaitable[None]], changed: asyncio.Event) -> None:
    """``step`` as soon as the view changed, else every ``interval`` (time-driven steps: schedules, retraining)."""
    while True:
        changed.clear()
        try:
            await step()
        except Exception:
            log.exception("lifecycle step failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), interval)


async def build(settings: ControlSettings) -> tuple[Sequence[GrpcService], Sequence[Callable[[], Awaitable[None]]]]:
    common = settings.common
    ensure_topics(common.kafka_bootstrap, job_topic_specs(common.topic_prefix))
    view = ResourceView(common.kafka_bootstrap, common.topic_prefix)
    view.start()
    await view.ready()
    log.info("resource view ready", extra={"resources": len(view)})
    producer = Producer(common.kafka_bootstrap)
    writer = ResourceWriter(producer, view, common.topic_prefix)
    handlers = ControlHandlers(common, view, writer, settings.quotas, settings.write_timeout_ms / 1000)
    status = StatusConsumer(common.kafka_bootstrap, common.topic_prefix, f"{common.topic_prefix}-control")
    lifecycle = asyncio.create_task(
        _every(settings.lifecycle_interval_s, handlers.advance, view.change_event()), name="lifecycle"
    )
    status_task = asyncio.create_task(status.run(handlers.apply_status), name="job-status")

    async def stop() -> None:
        lifecycle.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await lifecycle
        status.request_stop()
        await status_task
        status.close()
        producer.close()
        view.stop()

    # The console's reads (docs/specs/console-api.md): the same view, and the stream's state in Redis.
    state = console.StreamState(common.redis_url)
    reads = console.ConsoleHandlers(view, state, common.topic_prefix)

    async def stop_all() -> None:
        await stop()
        await state.close()

    return [
        GrpcService(control_pb2_grpc.add_PersonalizeControlServicer_to_server, build_servicer(handlers), SERVICE_NAME),
        GrpcService(
            console_pb2_grpc.add_TailorConsoleServicer_to_server, console.build_servicer(reads), console.SERVICE_NAME
        ),
    ], [stop_all]
