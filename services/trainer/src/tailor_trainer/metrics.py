"""Every Prometheus metric of the trainer (``tailor_trainer_*``), declared here once; served on the
metrics port's /metrics (``TAILOR_TRAINER_METRICS_PORT``).

Not to be confused with :mod:`tailor_trainer.domain.metrics`, the offline evaluation metrics of a
solution version (precision@K, NDCG, ...). Also exported by a trainer process, declared in the shared
library: the gRPC request count and latency of its health endpoint
(:func:`tailor_shared.grpc_server.request_metrics`, below) and the shared Kafka producer's ``tailor_kafka_*``
counters (``tailor_shared.kafka``). See docs/specs/metrics.md.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from tailor_shared.grpc_server import request_metrics
from tailor_shared.metrics import metric_name

GRPC_REQUESTS, GRPC_LATENCY = request_metrics("trainer")

JOBS = Counter(metric_name("trainer", "jobs", "total"), "Training jobs by outcome", ["outcome"])
AUTO_UPDATES = Counter(
    metric_name("trainer", "automatic_updates", "total"),
    "Automatic updates of User-Personalization(-v2) campaigns (ADR 0022), by outcome: updated, skipped (no new "
    "item or interaction data since the last update or training), item_limit (the model holds the recipe's item "
    "limit, L5380), failed.",
    ["outcome"],
)
LAST_AUTO_UPDATE = Gauge(
    metric_name("trainer", "last_automatic_update", "seconds"),
    "Unix time of each campaign's latest automatic update this trainer delivered, and its wall time.",
    ["campaign", "kind"],
)
EPOCHS = Counter(metric_name("trainer", "epochs", "total"), "Training epochs completed")
LAST_LOSS = Gauge(metric_name("trainer", "last_loss", "ratio"), "Training loss of the latest epoch")
JOB_DURATION = Histogram(
    metric_name("trainer", "job_duration", "seconds"),
    "Training job wall time",
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600),
)
JANITOR_DELETED = Counter(
    metric_name("trainer", "janitor_deleted", "total"),
    "Model-store directories the janitor deleted (ADR 0014), by kind: version_dir (a deleted solution version's "
    "model), recommender_dir (a deleted recommender's generations), partial_dir (an unfinished write for a "
    "deleted resource), solution_dir (an empty solution directory).",
    ["kind"],
)
JANITOR_PASSES = Counter(
    metric_name("trainer", "janitor_passes", "total"),
    "Model-store janitor passes, by outcome: ok, skipped (no resource records, or the view could not catch up), error.",
    ["outcome"],
)
