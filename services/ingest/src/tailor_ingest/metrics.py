"""Every Prometheus metric of the ingest service (``tailor_ingest_*``), declared here once; served on the
metrics port's /metrics (``TAILOR_INGEST_METRICS_PORT``).

The ingest service has no metrics beyond its gRPC requests: their count and latency are created by the shared
library for this service's name (:func:`tailor_shared.grpc_server.request_metrics`; the server's interceptor
gets the same two objects). Its process also exports the shared Kafka producer's ``tailor_kafka_*``
counters (``tailor_shared.kafka``). See docs/specs/metrics.md. A new ingest metric is declared here with
``tailor_shared.metrics.metric_name("ingest", ...)``.
"""

from __future__ import annotations

from tailor_shared.grpc_server import request_metrics

GRPC_REQUESTS, GRPC_LATENCY = request_metrics("ingest")
