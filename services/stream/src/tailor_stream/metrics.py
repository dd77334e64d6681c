"""Every Prometheus metric of the stream (``tailor_stream_*``), declared here once; served on the Faust web
port's /metrics (``TAILOR_STREAM_PORT``). See docs/specs/metrics.md."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from tailor_shared.metrics import metric_name

EVENTS = Counter(
    metric_name("stream", "events_processed", "total"),
    "Dataset records consumed, by outcome: applied, duplicate (same event id already applied), replayed "
    "(at or below the partition watermark after a restart), dead_letter, skipped (import markers).",
    ["outcome"],
)
DEAD_LETTERS = Counter(
    metric_name("stream", "dead_letters", "total"),
    "Records sent to the dead-letter topic, by reason.",
    ["reason"],
)
LAG = Gauge(
    metric_name("stream", "consumer_lag", "records"),
    "Records on a dataset topic partition not yet applied to Redis (high watermark - next offset).",
    ["topic", "partition"],
)
LATENCY = Histogram(
    metric_name("stream", "processing_latency", "seconds"),
    "Time from a record's Kafka timestamp to its state being applied in Redis.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
APPLY_SECONDS = Histogram(
    metric_name("stream", "batch_apply", "seconds"),
    "Time of one Redis round trip applying a polled batch (all its Lua calls, pipelined).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
REWINDS = Counter(
    metric_name("stream", "state_rewinds", "total"),
    "Partitions replayed from the beginning because their state was missing in Redis (first start, new "
    "dataset group, or wiped Redis).",
)
JANITOR_DELETED = Counter(
    metric_name("stream", "janitor_deleted", "total"),
    "What the storage janitor deleted (ADR 0014), by kind: topic (a deleted dataset's topic), redis_key (keys "
    "of a deleted dataset group, or of a group's state wiped because one of its datasets was deleted), "
    "group_state (such wipes).",
    ["kind"],
)
JANITOR_PASSES = Counter(
    metric_name("stream", "janitor_passes", "total"),
    "Storage janitor passes, by outcome: ok, skipped (no resource records, or the view could not catch up), "
    "error (Kafka or Redis failed; the next pass tries again).",
    ["outcome"],
)

GROUP_RECORDS = Gauge(
    metric_name("stream", "dataset_group", "records"),
    "Records on a live dataset group's dataset topics (high minus low watermark; D2's storage report, refreshed "
    "by every storage janitor pass), by group storage tag (<name>.<incarnation>, ADR 0012).",
    ["group"],
)
GROUP_REDIS_KEYS = Gauge(
    metric_name("stream", "dataset_group_redis_keys", "count"),
    "Redis keys of a dataset group's storage tag, counted by the janitor's full key sweep "
    "(every TAILOR_STREAM_JANITOR_SWEEP_S).",
    ["group"],
)

# Metric attribution (ADR 0022): Tailor's CloudWatch metrics of CreateMetricAttribution.
ATTRIBUTION_VALUE = Gauge(
    metric_name("stream", "attribution_metric", "value"),
    "A metric attribution's metric, running total since the attribution was created (PutEvents data and "
    "INCREMENTAL bulk imports), by event attribution source; graph 15-minute windows with increase(...[15m]).",
    ["metric_attribution", "metric", "event_type", "function", "source"],
)
ATTRIBUTION_EVENTS = Counter(
    metric_name("stream", "attribution_events", "total"),
    "Interactions the attribution worker read, by outcome: counted (added to at least one metric), unmatched "
    "(no metric's event type), before (older than the attribution or 14 days), no_attribution, bulk (held for "
    "the import job's completion).",
    ["outcome"],
)
ATTRIBUTION_LAG = Histogram(
    metric_name("stream", "attribution_lag", "seconds"),
    "Time from an interaction's Kafka timestamp to its metric values being in Redis and on /metrics.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
ATTRIBUTION_REPORTS = Counter(
    metric_name("stream", "attribution_reports", "total"),
    "AggregatedAttributionMetrics report files written to metricsOutputConfig, by outcome (ok, error).",
    ["outcome"],
)
