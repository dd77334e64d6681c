"""Every Prometheus metric of the ingest service (``tailor_ingest_*``), declared here once; served on the
metrics port's /metrics (``TAILOR_INGEST_METRICS_PORT``).

The gRPC requests' count and latency are created by the shared library for this service's name
(:func:`tailor_shared.grpc_server.request_metrics`; the server's interceptor gets the same two objects); the
inbound forwarder (ADR 0024) counts its records here. Its process also exports the shared Kafka producer's
``tailor_kafka_*`` counters (``tailor_shared.kafka``). See docs/specs/metrics.md. A new ingest metric is
declared here with ``tailor_shared.metrics.metric_name("ingest", ...)``.
"""

from __future__ import annotations

from prometheus_client import Counter

from tailor_shared.grpc_server import request_metrics
from tailor_shared.metrics import metric_name

GRPC_REQUESTS, GRPC_LATENCY = request_metrics("ingest")

INBOUND_RECORDS = Counter(
    metric_name("ingest", "inbound_records", "total"),
    "Inbound-topic records by kind and outcome (forwarded | dead_letter)",
    ["kind", "outcome"],
)
INBOUND_DEAD_LETTERS = Counter(
    metric_name("ingest", "inbound_dead_letters", "total"),
    "Inbound-topic records dead-lettered, by Personalize exception name",
    ["reason"],
)
