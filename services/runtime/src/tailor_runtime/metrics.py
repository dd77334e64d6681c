"""Every Prometheus metric of the runtime (``tailor_runtime_*``), declared here once; served on the
metrics port's /metrics (``TAILOR_RUNTIME_METRICS_PORT``, + i for the i-th worker process).

Also exported by a runtime process, declared in the shared library: the gRPC request count and latency
(:func:`tailor_shared.grpc_server.request_metrics`, below) and the shared Kafka producer's
``tailor_kafka_*`` counters (``tailor_shared.kafka``). See docs/specs/metrics.md.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from tailor_shared.grpc_server import request_metrics
from tailor_shared.metrics import metric_name

GRPC_REQUESTS, GRPC_LATENCY = request_metrics("runtime")

REDIS_CALL_SECONDS = Histogram(
    metric_name("runtime", "redis_call", "seconds"),
    "One Redis round trip of the runtime (script call), by outcome",
    ["outcome"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0, 2.0),
)
# Bound once: a ``labels()`` lookup on every Redis call costs more than the observation.
REDIS_CALL_OK = REDIS_CALL_SECONDS.labels("ok")
REDIS_CALL_ERROR = REDIS_CALL_SECONDS.labels("error")
MODEL_LOADS = Counter(metric_name("runtime", "model_loads", "total"), "Model loads by outcome", ["outcome"])
MODELS_LOADED = Gauge(metric_name("runtime", "models_loaded", "count"), "Solution versions loaded in this process")
MODEL_INFO = Gauge(
    metric_name("runtime", "model", "info"),
    "1 per served campaign or recommender, labelled with the model it serves (solution version / generation)",
    ["resource", "version"],
)
