"""Every Prometheus metric of the batch worker (``tailor_batch_*``), declared here once; served on the metrics
port's /metrics (``TAILOR_BATCH_METRICS_PORT``). See docs/specs/metrics.md."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from tailor_shared.grpc_server import request_metrics
from tailor_shared.metrics import metric_name

GRPC_REQUESTS, GRPC_LATENCY = request_metrics("batch")

JOBS = Counter(
    metric_name("batch", "jobs", "total"), "Batch jobs by kind (inference, segment) and outcome", ["kind", "outcome"]
)
LINES = Counter(metric_name("batch", "lines", "total"), "Input lines answered (including error lines)")
JOB_DURATION = Histogram(
    metric_name("batch", "job_duration", "seconds"),
    "Batch job wall time, by kind",
    ["kind"],
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 14400),
)
