"""The Faust application: hosts the state processor and answers /health and /metrics.

Faust provides the worker (lifecycle, signals, logging, the web server); the processor owns its own
aiokafka consumer on the dataset topics (see ``processor`` and ADR 0007 for why).
"""

from __future__ import annotations

import asyncio
from typing import Any

import faust
from faust.types.auth import CredentialsT
from faust.web import Request, Response, View
from mode import Service
from prometheus_client import generate_latest

from tailor_shared.kafka import KafkaSecurity, TopicPolicy
from tailor_stream.attribution import AttributionService
from tailor_stream.config import StreamSettings
from tailor_stream.deletion import DeletionService
from tailor_stream.janitor import JanitorService
from tailor_stream.processor import StreamProcessor


def create_app(settings: StreamSettings) -> faust.App:
    common = settings.common
    processor = StreamProcessor(settings)
    state = StateService(processor)
    janitor = JanitorService(settings, processor)
    deletion = DeletionService(settings, processor)
    attribution = AttributionService(settings, processor)

    class StreamApp(faust.App):
        """Starts the processor with the app itself, not after Faust's own consumer group has settled: after a
        crash that group waits for the dead member's session to expire, and the state must not wait with it."""

        async def on_start(self) -> None:
            await super().on_start()
            await self.add_runtime_dependency(state)
            await self.add_runtime_dependency(janitor)
            await self.add_runtime_dependency(deletion)
            await self.add_runtime_dependency(attribution)

    timeout_s = settings.session_timeout_ms / 1000
    app = StreamApp(
        settings.app_id,
        # One URL per bootstrap server: Faust does not split "host:port,host:port" itself.
        broker=[f"kafka://{server.strip()}" for server in common.kafka_bootstrap.split(",")],
        broker_credentials=faust_credentials(common.kafka_security),
        store="memory://",
        topic_partitions=1,
        topic_replication_factor=TopicPolicy.from_env().replication_factor,
        producer_acks=-1,
        web_enabled=True,
        web_host=common.grpc_host,
        web_bind=common.grpc_host,
        web_port=common.grpc_port,
        datadir=settings.data_dir,
        broker_session_timeout=timeout_s,
        broker_rebalance_timeout=timeout_s,
        broker_heartbeat_interval=min(3.0, timeout_s / 5),
    )

    @app.page("/health")
    class Health(View):
        async def get(self, request: Request, **kwargs: Any) -> Response:
            ready = app.rebalancing is False and app.consumer is not None and processor.healthy
            return self.json({"status": "SERVING" if ready else "NOT_SERVING"}, status=200 if ready else 503)

    @app.page("/metrics")
    class Metrics(View):
        async def get(self, request: Request, **kwargs: Any) -> Response:
            return self.bytes(generate_latest(), content_type="text/plain")

    return app


def faust_credentials(security: KafkaSecurity | None) -> CredentialsT | None:
    """Faust's form of the process's Kafka TLS + SASL settings (ADR 0027); None for PLAINTEXT."""
    if security is None or security.protocol == "PLAINTEXT":
        return None
    if security.sasl:
        security.aiokafka()  # the same checks as every other Kafka client
        return faust.SASLCredentials(
            username=security.sasl_username,
            password=security.sasl_password,
            ssl_context=security.ssl_context(),
            mechanism=security.sasl_mechanism,
        )
    return faust.SSLCredentials(security.ssl_context())


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
            await asyncio.sleep(0.5)
