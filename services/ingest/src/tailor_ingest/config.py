"""Ingest settings, parsed once from env vars (docs/specs/configuration.md)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from tailor_shared.config import DEFAULT_PORTS, CommonSettings, env_float, env_int, env_str
from tailor_shared.jobs import Owner, jobs_group


@dataclass(frozen=True)
class IngestSettings:
    common: CommonSettings
    #: Run the import/export job worker inside the gRPC process (``python -m tailor_ingest import-worker``
    #: runs it alone).
    run_worker: bool = True
    #: Consumer group of the import/export workers on ``<prefix>.jobs``; default ``<prefix>.ingest-jobs``.
    worker_group: str = ""
    #: An import validates the whole input before writing a row; inputs whose encoded rows fit in this many
    #: bytes are kept in memory, larger ones are read twice (validate, then write).
    import_buffer_bytes: int = 256 * 1024 * 1024
    #: How long a Put* call waits for Kafka's acknowledgement before answering ServiceUnavailableException
    #: (retryable; the records were not acknowledged and may still be written). While the broker is known down
    #: a Put* call is refused at once (``tailor_shared.kafka``).
    produce_timeout_ms: int = 1_000
    #: Import progress is reported to control and logged at most this often.
    progress_interval_s: float = 2.0
    #: Run the inbound-topic forwarder (ADR 0024) in the gRPC process.
    run_inbound: bool = True
    #: Its consumer group on the inbound topics; default ``<prefix>.ingest-inbound``.
    inbound_group: str = ""
    #: Records forwarded per batch (one produce round trip and one offset commit). At most the stream's dedup
    #: window (200 per user), so the repeats of an uncommitted batch are always recognised (ADR 0024 §4).
    inbound_batch: int = 200
    #: How often the forwarder creates the inbound topics of new dataset groups.
    inbound_topics_interval_s: float = 1.0
    #: How often the forwarder's consumer re-reads all topics' metadata to match its pattern on its own: a safety
    #: net, since the topic keeper asks for a refresh when it created a group's topics (ADR 0030).
    inbound_metadata_refresh_ms: int = 30_000
    #: The forwarder's broker long-poll wait: a record ends it at once, but librdkafka sends a rebalance's
    #: requests and a new partition's first fetch only after the fetch in flight returned (ADR 0030).
    inbound_fetch_wait_ms: int = 2000
    #: A Confluent-compatible Schema Registry (ADR 0024 §7): each live dataset's schema is registered under
    #: ``<inbound topic>-value`` and inbound records in the Confluent wire format are accepted. Empty: JSON only.
    schema_registry_url: str = ""
    #: Keep each account's Kafka ACLs (ADR 0034): WRITE/DESCRIBE for ``User:acct-<account>`` on its live dataset
    #: groups' topic prefixes. Only for a broker with an authorizer; ingest's Kafka user needs ALTER on the cluster.
    tenant_acls: bool = False

    @property
    def prefix(self) -> str:
        return self.common.topic_prefix

    @property
    def jobs_group(self) -> str:
        return self.worker_group or jobs_group(self.common.topic_prefix, Owner.INGEST)

    @property
    def inbound_consumer_group(self) -> str:
        return self.inbound_group or f"{self.common.topic_prefix}.ingest-inbound"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> IngestSettings:
        e = os.environ if env is None else env
        grpc_port, metrics_port = DEFAULT_PORTS["ingest"]
        return cls(
            common=CommonSettings.from_env("ingest", grpc_port, metrics_port, e),
            run_worker=env_str(e, "TAILOR_INGEST_WORKER", "true").lower() not in ("0", "false", "no", "off"),
            worker_group=env_str(e, "TAILOR_INGEST_WORKER_GROUP", ""),
            import_buffer_bytes=env_int(e, "TAILOR_INGEST_IMPORT_BUFFER_MB", 256) * 1024 * 1024,
            produce_timeout_ms=env_int(e, "TAILOR_INGEST_PRODUCE_TIMEOUT_MS", 1_000),
            progress_interval_s=env_float(e, "TAILOR_INGEST_PROGRESS_INTERVAL_S", 2.0),
            run_inbound=env_str(e, "TAILOR_INGEST_INBOUND", "true").lower() not in ("0", "false", "no", "off"),
            inbound_group=env_str(e, "TAILOR_INGEST_INBOUND_GROUP", ""),
            inbound_batch=env_int(e, "TAILOR_INGEST_INBOUND_BATCH", 200),
            inbound_topics_interval_s=env_float(e, "TAILOR_INGEST_INBOUND_TOPICS_INTERVAL_S", 1.0),
            inbound_metadata_refresh_ms=env_int(e, "TAILOR_INGEST_INBOUND_METADATA_REFRESH_MS", 30_000),
            inbound_fetch_wait_ms=env_int(e, "TAILOR_INGEST_INBOUND_FETCH_WAIT_MS", 2000),
            schema_registry_url=env_str(e, "TAILOR_SCHEMA_REGISTRY_URL", ""),
            tenant_acls=env_str(e, "TAILOR_KAFKA_TENANT_ACLS", "false").lower() in ("1", "true", "yes", "on"),
        )
