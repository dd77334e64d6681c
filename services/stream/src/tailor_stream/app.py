"""The Faust application: hosts the state processor and answers /health and /metrics.

Faust provides the worker (lifecycle, signals, logging, the web server); the processor owns its own
aiokafka consumer on the dataset topics (see ``processor`` and ADR 0007 for why). Faust's own Kafka clients and
sensors are not started: no agent or table uses them, and its consumer group's fetches and heartbeats and its
Monitor's sampler were a quarter of an idle stack's requests to the broker (ADR 0030).
"""

from __future__ import annotations

import asyncio
from typing import Any

import faust
from faust.app.base import BootStrategy as FaustBoot
from faust.web import Request, Response, View
from mode import Service
from prometheus_client import generate_latest

from tailor_stream.attribution import AttributionService
from tailor_stream.config import StreamSettings
from tailor_stream.deletion import DeletionService
from tailor_stream.janitor import JanitorService
from tailor_stream.processor import StreamProcessor


class StreamBoot(FaustBoot):
    """The worker's services: its web server, then the processor's (``StreamApp.on_start``); no Faust consumer,
    producer or sensors."""

    enable_kafka = False
    enable_sensors = False


def create_app(settings: StreamSettings) -> faust.App:
    common = settings.common
    processor = StreamProcessor(settings)
    state = StateService(processor)
    janitor = JanitorService(settings, processor)
    deletion = DeletionService(settings, processor)
    attribution = AttributionService(settings, processor)

    class StreamApp(faust.App):
        BootStrategy = StreamBoot

        async def on_start(self) -> None:
            await super().on_start()
            await self.add_runtime_dependency(state)
            await self.add_runtime_dependency(janitor)
            await self.add_runtime_dependency(deletion)
            await self.add_runtime_dependency(attribution)

    app = StreamApp(
        settings.app_id,
        store="memory://",
        web_enabled=True,
        web_host=common.grpc_host,
        web_bind=common.grpc_host,
        web_port=common.grpc_port,
        datadir=settings.data_dir,
    )

    @app.page("/health")
    class Health(View):
        async def get(self, request: Request, **kwargs: Any) -> Response:
            ready = processor.healthy
            return self.json({"status": "SERVING" if ready else "NOT_SERVING"}, status=200 if ready else 503)

    @app.page("/metrics")
    class Metrics(View):
        async def get(self, request: Request, **kwargs: Any) -> Response:
            return self.bytes(generate_latest(), content_type="text/plain")

    return app


class StateService(Service):
    """Runs the processor inside the Faust worker and crashes the worker when the processor dies, so a
    supervisor restarts it (a restart resumes from the watermarks in Redis)."""

    def __init__(self, processor: StreamProcessor, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.processor = processor

    async def on_start(self) -> None:
        await self.processor.start()

    async def on_stop(self) -> None:
        await self.processor.stop()

    @Service.task
    async def _watch(self) -> None:
        while not self.should_stop:
            failed = self.processor.failed
            if failed is not None:
                await self.crash(failed)
                return
            await asyncio.sleep(1.0)
