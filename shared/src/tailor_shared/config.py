"""Typed settings parsed once from environment variables and passed in (never read ad hoc).

Every service builds one frozen settings object at start-up from ``TAILOR_*`` variables; the full
table lives in ``docs/specs/configuration.md``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tailor_shared.errors import InvalidInputException
from tailor_shared.grpc_auth import GrpcAuthSettings
from tailor_shared.locations import DEFAULT_MODEL_CACHE
from tailor_shared.tls import TlsSettings

if TYPE_CHECKING:
    from tailor_shared.kafka import KafkaSecurity, TopicPolicy


def env_str(env: Mapping[str, str], name: str, default: str) -> str:
    return env.get(name, default)


def env_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidInputException(f"environment variable {name}={raw!r} is not an integer") from None


def env_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise InvalidInputException(f"environment variable {name}={raw!r} is not a number") from None


MIN_PART_SIZE = 5 * 1024 * 1024  # S3's smallest multipart part (all but the last)


@dataclass(frozen=True)
class S3Settings:
    """Where ``s3://`` lives (``tailor_shared.objectstore``, ADR 0023). Unset credentials fall back to boto3's
    chain (env, profile, instance role)."""

    endpoint_url: str | None = None  # None: AWS S3 itself
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)
    addressing_style: str = "auto"  # path | virtual | auto (path whenever an endpoint is set)
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 60.0
    max_attempts: int = 3
    part_size: int = 16 * 1024 * 1024

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> S3Settings:
        e = os.environ if env is None else env
        endpoint = env_str(e, "TAILOR_S3_ENDPOINT_URL", "") or None
        style = env_str(e, "TAILOR_S3_ADDRESSING_STYLE", "path" if endpoint else "auto")
        if style not in ("path", "virtual", "auto"):
            raise InvalidInputException(f"TAILOR_S3_ADDRESSING_STYLE={style!r}: use path, virtual or auto")
        part = env_int(e, "TAILOR_S3_PART_SIZE", cls.part_size)
        if part < MIN_PART_SIZE:
            raise InvalidInputException(f"TAILOR_S3_PART_SIZE={part}: S3 parts are at least {MIN_PART_SIZE} bytes")
        return cls(
            endpoint_url=endpoint,
            region=env_str(e, "TAILOR_S3_REGION", env_str(e, "AWS_REGION", cls.region)),
            access_key_id=env_str(e, "TAILOR_S3_ACCESS_KEY_ID", "") or None,
            secret_access_key=env_str(e, "TAILOR_S3_SECRET_ACCESS_KEY", "") or None,
            addressing_style=style,
            connect_timeout_s=env_float(e, "TAILOR_S3_CONNECT_TIMEOUT_S", cls.connect_timeout_s),
            read_timeout_s=env_float(e, "TAILOR_S3_READ_TIMEOUT_S", cls.read_timeout_s),
            max_attempts=env_int(e, "TAILOR_S3_MAX_ATTEMPTS", cls.max_attempts),
            part_size=part,
        )


def _topic_policy(env: Mapping[str, str]) -> TopicPolicy:
    from tailor_shared.kafka import TopicPolicy  # kafka imports this module

    return TopicPolicy.from_env(env)


def _kafka_security(env: Mapping[str, str]) -> KafkaSecurity:
    from tailor_shared.kafka import KafkaSecurity

    return KafkaSecurity.from_env(env)


#: Personalize's request quotas (calls per second; api.md §8.5 / §8.8): per campaign or recommender for each
#: runtime API, the three runtime APIs together, and per dataset group for the Put* APIs.
PERSONALIZE_REQUEST_QUOTAS: dict[str, float] = {
    "GetRecommendations": 500.0,
    "GetPersonalizedRanking": 500.0,
    "GetActionRecommendations": 500.0,
    "RuntimeTotal": 2500.0,
    "PutEvents": 1000.0,
    "PutActionInteractions": 1000.0,
    "PutItems": 10.0,
    "PutUsers": 10.0,
    "PutActions": 10.0,
}


@dataclass(frozen=True)
class QuotaSettings:
    """``TAILOR_REQUEST_QUOTAS``: unset or ``off`` (no request quotas), ``personalize`` (the guide's table), or a
    JSON object of calls per second merged over the guide's table (``0`` lifts one); ``TAILOR_REQUEST_QUOTA_LEASE``:
    the share of a rate one replica takes from the shared bucket at a time (``tailor_shared.quotas``, ADR 0023)."""

    limits: Mapping[str, float] = field(default_factory=dict)
    lease: float = 0.02

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> QuotaSettings:
        raw = env_str(env, "TAILOR_REQUEST_QUOTAS", "off").strip()
        lease = env_float(env, "TAILOR_REQUEST_QUOTA_LEASE", cls.lease)
        if not 0 <= lease <= 1:
            raise InvalidInputException(f"TAILOR_REQUEST_QUOTA_LEASE={lease}: use a fraction between 0 and 1")
        if raw.lower() in ("", "off", "none", "0", "false"):
            return cls({}, lease)
        limits = dict(PERSONALIZE_REQUEST_QUOTAS)
        if raw.lower() != "personalize":
            try:
                given = json.loads(raw)
            except ValueError:
                given = None
            if not isinstance(given, dict):
                raise InvalidInputException("TAILOR_REQUEST_QUOTAS must be off, personalize or a JSON object")
            for name, value in given.items():
                if name not in limits or not isinstance(value, int | float) or value < 0:
                    raise InvalidInputException(
                        f"TAILOR_REQUEST_QUOTAS: {name}={value!r}; quotas are {sorted(limits)}, each >= 0 per second"
                    )
                limits[name] = float(value)
        return cls({k: v for k, v in limits.items() if v > 0}, lease)


@dataclass(frozen=True)
class CommonSettings:
    """What every service needs: where Kafka and Redis are, its ports, and the ARN namespace."""

    service: str
    kafka_bootstrap: str = "127.0.0.1:9092"
    #: May carry an ACL user's password (``rediss://user:password@host:port/db``): kept out of ``repr``.
    redis_url: str = field(default="redis://127.0.0.1:6379/0", repr=False)
    grpc_host: str = "127.0.0.1"
    grpc_port: int = 0
    metrics_port: int = 0
    region: str = "us-east-1"
    account_id: str = "000000000000"
    topic_prefix: str = "tailor"
    log_level: str = "INFO"
    reuse_port: bool = False  # several processes serve one gRPC port (SO_REUSEPORT)
    dataset_retention_ms: int = -1  # retention.ms of dataset topics created from now on; -1 = forever
    topic_replication_factor: int = 1  # of every topic created from now on (tailor_shared.kafka.TopicPolicy)
    topic_min_insync_replicas: int = 1
    s3: S3Settings = field(default_factory=S3Settings)  # every s3:// data location and model store
    model_cache_dir: str = DEFAULT_MODEL_CACHE  # local copies of an s3:// model store's models
    quotas: QuotaSettings = field(default_factory=QuotaSettings)  # request quotas (runtime, ingest)
    grpc_auth: GrpcAuthSettings = field(default_factory=GrpcAuthSettings)  # TAILOR_AUTH_REQUIRED (ADR 0026)
    tls: TlsSettings = field(default_factory=TlsSettings)  # TAILOR_TLS_* of the gRPC/HTTP endpoints (ADR 0027)
    #: TLS + SASL of every Kafka client (ADR 0027); ``tailor_shared.kafka.kafka_config`` applies the same variables.
    kafka_security: KafkaSecurity | None = None

    @classmethod
    def from_env(
        cls, service: str, default_grpc_port: int, default_metrics_port: int, env: Mapping[str, str] | None = None
    ) -> CommonSettings:
        e = os.environ if env is None else env
        upper = service.upper()
        return cls(
            service=service,
            kafka_bootstrap=env_str(e, "TAILOR_KAFKA_BOOTSTRAP", cls.kafka_bootstrap),
            redis_url=env_str(e, "TAILOR_REDIS_URL", cls.redis_url),
            grpc_host=env_str(e, "TAILOR_GRPC_HOST", cls.grpc_host),
            grpc_port=env_int(e, f"TAILOR_{upper}_PORT", default_grpc_port),
            metrics_port=env_int(e, f"TAILOR_{upper}_METRICS_PORT", default_metrics_port),
            region=env_str(e, "TAILOR_REGION", cls.region),
            account_id=env_str(e, "TAILOR_ACCOUNT_ID", cls.account_id),
            topic_prefix=env_str(e, "TAILOR_TOPIC_PREFIX", cls.topic_prefix),
            log_level=env_str(e, "TAILOR_LOG_LEVEL", cls.log_level).upper(),
            reuse_port=env_str(e, "TAILOR_GRPC_REUSE_PORT", "false").lower() in ("1", "true", "yes"),
            dataset_retention_ms=env_int(e, "TAILOR_DATASET_RETENTION_MS", cls.dataset_retention_ms),
            # Validated at start-up; ensure_topics reads the same variables (TopicPolicy.from_env).
            topic_replication_factor=_topic_policy(e).replication_factor,
            topic_min_insync_replicas=_topic_policy(e).min_insync_replicas,
            s3=S3Settings.from_env(e),
            model_cache_dir=env_str(e, "TAILOR_MODEL_CACHE_DIR", cls.model_cache_dir),
            quotas=QuotaSettings.from_env(e),
            grpc_auth=GrpcAuthSettings.from_env(e),
            tls=TlsSettings.from_env(e),
            kafka_security=_kafka_security(e),
        )

    @property
    def grpc_address(self) -> str:
        return f"{self.grpc_host}:{self.grpc_port}"


#: Default ports of the local stack (docs/specs/local-stack.md).
DEFAULT_PORTS: dict[str, tuple[int, int]] = {
    # service: (gRPC port, metrics port)
    "control": (50051, 9101),
    "ingest": (50052, 9102),
    "runtime": (50053, 9103),
    "trainer": (50054, 9104),
    "stream": (6066, 9105),  # stream: Faust web (health + metrics) instead of gRPC
    "gateway": (8080, 9110),  # gateway: HTTP (the AWS wire protocols) instead of gRPC; 9110 clears runtime workers
    "batch": (50055, 9111),  # batch worker (ADR 0016): gRPC health only
}
