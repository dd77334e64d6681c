"""The Faust application: its web server answers /health and /metrics (the stream has no gRPC API)."""

from __future__ import annotations

from typing import Any

import faust
from faust.web import Request, Response, View
from prometheus_client import generate_latest

from tailor_stream.config import StreamSettings


def create_app(settings: StreamSettings) -> faust.App:
    common = settings.common
    app = faust.App(
        settings.app_id,
        broker=f"kafka://{common.kafka_bootstrap}",
        store="memory://",
        topic_partitions=1,
        producer_acks=-1,
        web_enabled=True,
        web_host=common.grpc_host,
        web_bind=common.grpc_host,
        web_port=common.grpc_port,
        datadir=settings.data_dir,
    )

    @app.page("/health")
    class Health(View):
        async def get(self, request: Request, **kwargs: Any) -> Response:
            ready = app.rebalancing is False and app.consumer is not None
            return self.json({"status": "SERVING" if ready else "NOT_SERVING"}, status=200 if ready else 503)

    @app.page("/metrics")
    class Metrics(View):
        async def get(self, request: Request, **kwargs: Any) -> Response:
            return self.bytes(generate_latest(), content_type="text/plain")

    return app
