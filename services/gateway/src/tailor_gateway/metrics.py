"""Every Prometheus metric of the gateway (``tailor_gateway_*``), declared here once; served on the metrics
port's /metrics (``TAILOR_GATEWAY_METRICS_PORT``). See docs/specs/metrics.md."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from tailor_shared.metrics import metric_name

REQUESTS = Counter(
    metric_name("gateway", "requests", "total"),
    "AWS-protocol requests by API (control|events|runtime), operation and outcome (OK or the AWS error code)",
    ["api", "operation", "code"],
)
LATENCY = Histogram(
    metric_name("gateway", "request", "seconds"),
    "Time from the request's last byte to the response (auth, translation, the gRPC call), by API and operation",
    ["api", "operation"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0),
)
