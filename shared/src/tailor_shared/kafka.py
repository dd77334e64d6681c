"""The one Kafka producer wrapper and topic administration.

A write is acknowledged to a client only after the broker confirmed it (idempotent producer,
``acks=all``): :meth:`Producer.send` resolves when the delivery report arrives. A full local queue
becomes ``ThrottlingException`` (gRPC RESOURCE_EXHAUSTED) instead of blocking or dropping, and a
delivery failure becomes ``ServiceUnavailableException``.

Request paths fail fast while Kafka is down (a call with an ``ack_timeout_s``):

- **Bounded wait.** The call waits at most ``ack_timeout_s`` seconds for the acknowledgement, then answers
  ``ServiceUnavailableException`` (gRPC UNAVAILABLE, retryable). Its records stay queued in the producer: they
  may still be written until ``message.timeout.ms`` (30 s) has passed, or fail then. The client was not told
  they were written, so nothing acknowledged can be lost; a retry may write a record twice (at least once).
- **Broker health.** librdkafka's ``error_cb`` reporting all brokers down, or a bounded wait that ran out,
  starts a probe (a metadata request, :data:`PROBE_TIMEOUT_S`, every :data:`PROBE_INTERVAL_S`). Once a probe
  failed, the broker is *known down*: calls with an ``ack_timeout_s`` are refused at once, before anything is
  produced, until a probe or a delivery succeeds. A false alarm (the broker closing an idle connection) costs
  one successful probe and refuses nothing.

Calls without an ``ack_timeout_s`` (job status reports, control's resource records, bulk work) keep waiting for the
delivery report, up to ``message.timeout.ms``, and are never refused by the health signal.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import ssl
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition
from confluent_kafka import Producer as _RawProducer
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    OffsetSpec,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)
from prometheus_client import Counter

from tailor_shared.config import env_int
from tailor_shared.errors import InvalidInputException, ServiceUnavailableException, ThrottlingException
from tailor_shared.metrics import metric_name

log = logging.getLogger(__name__)

Headers = Sequence[tuple[str, bytes]]


# Per process: every Tailor service that writes to Kafka produces through this one class.
PRODUCED = Counter(
    metric_name("kafka", "produced_records", "total"), "Records produced to Kafka, by delivery outcome", ["outcome"]
)
REFUSED = Counter(metric_name("kafka", "produce_refused", "total"), "Writes refused before Kafka (queue full)")
UNAVAILABLE = Counter(
    metric_name("kafka", "produce_unavailable", "total"),
    "Calls with a deadline answered ServiceUnavailableException: broker known down, or no acknowledgement in time",
    ["reason"],
)

#: How long one broker-health probe (a metadata request) may take, and how often a down broker is probed.
PROBE_TIMEOUT_S = 0.5
PROBE_INTERVAL_S = 0.5
#: While nothing is in flight, delivery reports and ``error_cb`` are still served this often: the broker-down
#: signal that request paths (``check_available``, ``broker_down``) read is only as current as this tick. A dead
#: broker is known down within this tick plus one probe (``PROBE_TIMEOUT_S``): about 1 s, which the fail-fast test
#: (tests/integration/test_fail_fast.py) checks; 0.2 s woke ingest and control 5 times a second (ADR 0030 §15).
IDLE_POLL_S = 0.5
#: The same for producers no request path asks about the broker (the stream, trainer, runtime and batch services'
#: job reports and derived records): their ``error_cb`` only logs, so an idle one wakes every 2 s (ADR 0030 §14).
BACKGROUND_IDLE_POLL_S = 2.0
#: librdkafka retries a lost broker connection with exponential backoff up to ``reconnect.backoff.max.ms``
#: (default 10 s): after an outage of ten seconds or more a client then learns that the broker is back up to
#: 10 s late, and a control that refuses writes meanwhile is down for that long (ADR 0025). Capped at 0.5 s a
#: process is back within about a second; the price is one refused connect per broker every 0.5 s while down.
RECONNECT_BACKOFF_MAX_MS = 500
#: How long the broker may hold an idle librdkafka consumer's fetch when that consumer only waits for news on
#: partitions it keeps (the job workers, control's job-status reader; the views wait longer). The broker answers
#: the moment a record arrives (``fetch.min.bytes=1``), so this sets only how often an idle consumer asks, and
#: every ask is work for the broker's network and purgatory threads (docs/benchmarks.md "Idle cost"). Not for
#: consumers that seek or gain partitions on the freshness path: a consumer fetches a new position only after
#: its in-flight fetch returned (the stream's state consumer and ingest's inbound forwarder wait 2 s, ADR 0030).
IDLE_FETCH_WAIT_MS = 5000
#: A resource view's fetch wait: it holds no group and never seeks (it reads its one partition from the start),
#: so nothing ever waits behind its fetch, and a broker that loses the partition's leadership ends the wait.
VIEW_FETCH_WAIT_MS = 30_000
#: Heartbeat of librdkafka group members that wait for jobs (job workers, control's job-status reader), 45 s
#: sessions: a member hears of a rebalance (a worker joined or left) within this; jobs run for minutes, and at
#: librdkafka's 3 s these heartbeats were a fifth of an idle stack's requests to the broker (ADR 0030).
IDLE_GROUP_HEARTBEAT_MS = 10_000
#: Settings every librdkafka client of a request path takes (producers, resource views, job workers).
CLIENT_DEFAULTS: Mapping[str, Any] = {"reconnect.backoff.max.ms": RECONNECT_BACKOFF_MAX_MS}


@dataclass(frozen=True)
class Delivered:
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class OutgoingRecord:
    topic: str
    value: bytes | None
    key: bytes | None = None
    headers: Headers = ()


PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")


@dataclass(frozen=True)
class KafkaSecurity:
    """How every Kafka client of a process connects (ADR 0027): TLS and SASL are properties of the deployment,
    like the bootstrap address, so they come from the same variables in every service —
    ``TAILOR_KAFKA_SECURITY_PROTOCOL`` (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL), ``TAILOR_KAFKA_SASL_MECHANISM``
    (SCRAM-SHA-512 by default), ``TAILOR_KAFKA_SASL_USERNAME`` / ``_PASSWORD``, ``TAILOR_KAFKA_SSL_CA_FILE`` (the
    broker's CA; unset: the system's roots) and, for TLS client authentication, ``TAILOR_KAFKA_SSL_CERT_FILE`` /
    ``_KEY_FILE``. The password never appears in ``repr``."""

    protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "SCRAM-SHA-512"
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise InvalidInputException(f"TAILOR_KAFKA_SECURITY_PROTOCOL={self.protocol!r}: use one of {PROTOCOLS}")
        if self.sasl_mechanism not in MECHANISMS:
            raise InvalidInputException(f"TAILOR_KAFKA_SASL_MECHANISM={self.sasl_mechanism!r}: use one of {MECHANISMS}")
        if (self.cert_file is None) != (self.key_file is None):
            raise InvalidInputException("set both TAILOR_KAFKA_SSL_CERT_FILE and TAILOR_KAFKA_SSL_KEY_FILE, or neither")
        # The files are read by the clients when they are built at start-up (librdkafka and ssl name a missing
        # one), not here: settings are also parsed where the files do not exist (manifest checks).

    @property
    def sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    @property
    def tls(self) -> bool:
        return self.protocol.endswith("SSL")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> KafkaSecurity:
        e = os.environ if env is None else env
        return cls(
            protocol=(e.get("TAILOR_KAFKA_SECURITY_PROTOCOL") or "PLAINTEXT").upper(),
            sasl_mechanism=(e.get("TAILOR_KAFKA_SASL_MECHANISM") or cls.sasl_mechanism).upper(),
            sasl_username=e.get("TAILOR_KAFKA_SASL_USERNAME") or None,
            sasl_password=e.get("TAILOR_KAFKA_SASL_PASSWORD") or None,
            ca_file=e.get("TAILOR_KAFKA_SSL_CA_FILE") or None,
            cert_file=e.get("TAILOR_KAFKA_SSL_CERT_FILE") or None,
            key_file=e.get("TAILOR_KAFKA_SSL_KEY_FILE") or None,
        )

    def _check_credentials(self) -> None:
        """Checked when a client is built, not when settings are parsed: a process with no Kafka client (the
        gateway) shares the deployment's settings but is given no Kafka password."""
        if self.sasl and not (self.sasl_username and self.sasl_password):
            raise InvalidInputException(
                f"TAILOR_KAFKA_SECURITY_PROTOCOL={self.protocol} needs TAILOR_KAFKA_SASL_USERNAME and _PASSWORD"
            )

    def librdkafka(self) -> dict[str, Any]:
        """The settings for confluent-kafka (librdkafka) clients."""
        self._check_credentials()
        config: dict[str, Any] = {"security.protocol": self.protocol.lower()}
        if self.sasl:
            config.update(
                {
                    "sasl.mechanisms": self.sasl_mechanism,
                    "sasl.username": self.sasl_username,
                    "sasl.password": self.sasl_password,
                }
            )
        if self.tls:
            # Verify the broker's certificate and its host name (librdkafka's defaults, stated so nobody turns
            # them off by accident).
            config.update(
                {"enable.ssl.certificate.verification": True, "ssl.endpoint.identification.algorithm": "https"}
            )
            if self.ca_file:
                config["ssl.ca.location"] = self.ca_file
            if self.cert_file:
                config.update({"ssl.certificate.location": self.cert_file, "ssl.key.location": self.key_file})
        return config

    def ssl_context(self) -> ssl.SSLContext | None:
        """For Python clients (aiokafka, Faust): host name and chain verified against ``ca_file``."""
        if not self.tls:
            return None
        context = ssl.create_default_context(cafile=self.ca_file)
        if self.cert_file:
            context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def aiokafka(self) -> dict[str, Any]:
        """The settings for aiokafka clients (the stream processor's consumers)."""
        self._check_credentials()
        config: dict[str, Any] = {"security_protocol": self.protocol}
        if self.sasl:
            config.update(
                sasl_mechanism=self.sasl_mechanism,
                sasl_plain_username=self.sasl_username,
                sasl_plain_password=self.sasl_password,
            )
        if self.tls:
            config["ssl_context"] = self.ssl_context()
        return config


@functools.cache
def process_security() -> KafkaSecurity:
    """This process's Kafka security, read once from its environment (``CommonSettings`` validates the same
    variables at start-up, so a bad value stops the service before it serves)."""
    return KafkaSecurity.from_env()


def kafka_config(bootstrap: str, **overrides: Any) -> dict[str, Any]:
    """The one builder of confluent-kafka client configs (producers, consumers, admin clients): the bootstrap
    address, this process's TLS/SASL settings, then ``overrides``."""
    return {"bootstrap.servers": bootstrap, **process_security().librdkafka(), **overrides}


@functools.cache
def shared_admin(bootstrap: str) -> AdminClient:
    """This process's one long-lived admin client for ``bootstrap``, for periodic questions (the stream janitor's
    topic listing and record counts, a resource view's catch-up). A new client per question was a new connection,
    its ApiVersions, metadata and FindCoordinator round trips and a few librdkafka threads, every 30-60 s in each
    janitor: a fifth of an idle stack's requests to the broker (ADR 0030 §13). librdkafka's admin client is
    thread-safe, so callers in worker threads share it; it reconnects by itself after a broker outage."""
    return AdminClient(kafka_config(bootstrap, **CLIENT_DEFAULTS))


def latest_offsets(
    bootstrap: str, partitions: Iterable[TopicPartition], timeout: float = 30.0
) -> dict[TopicPartition, int]:
    """Each partition's end offset (high watermark), asked through :func:`shared_admin`."""
    wanted = list(partitions)
    if not wanted:
        return {}
    spec = OffsetSpec.latest()  # type: ignore[no-untyped-call]
    futures = shared_admin(bootstrap).list_offsets({tp: spec for tp in wanted}, request_timeout=timeout)
    return {tp: int(futures[tp].result(timeout=timeout).offset) for tp in wanted}


def producer_config(bootstrap: str, **overrides: Any) -> dict[str, Any]:
    """Durable defaults: idempotence implies acks=all and ordered retries per partition."""
    config: dict[str, Any] = {
        **kafka_config(bootstrap),
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 1,
        "compression.type": "lz4",
        "queue.buffering.max.messages": 100_000,
        "message.timeout.ms": 30_000,
        **CLIENT_DEFAULTS,
    }
    config.update(overrides)
    return config


class Producer:
    """asyncio front of confluent-kafka's producer.

    Delivery reports are served on the event loop (``poll(0)`` about every half millisecond while records
    are in flight) rather than by a thread, so callbacks resolve futures directly with no cross-thread
    wake-ups; that keeps the acknowledgement latency of a small write low. Use it from one event loop
    (other threads hand coroutines over with ``asyncio.run_coroutine_threadsafe``).
    """

    def __init__(self, bootstrap: str, *, idle_poll_s: float = IDLE_POLL_S, **overrides: Any) -> None:
        config = producer_config(bootstrap, **{"error_cb": self._on_error, **overrides})
        self._idle_poll_s = idle_poll_s
        self._capacity = int(config["queue.buffering.max.messages"])
        self._producer = _RawProducer(config)
        self._in_flight = 0
        self._closed = False
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        #: When a probe first failed (monotonic); None while the broker is not known to be down.
        self._down_since: float | None = None
        self._probe: asyncio.Task[None] | None = None

    def _start(self) -> asyncio.Event:
        if self._wake is None or self._task is None or self._task.done():
            self._loop = asyncio.get_running_loop()
            self._wake = asyncio.Event()
            self._task = self._loop.create_task(self._serve_reports(self._wake))
        return self._wake

    async def _serve_reports(self, wake: asyncio.Event) -> None:
        poll = self._producer.poll
        loop = asyncio.get_running_loop()
        while not self._closed:
            if self._in_flight <= 0:
                # Idle: still serve error_cb now and then, so the broker-health signal stays current. A plain
                # timer sets the same event a send sets: one loop turn per tick, where wait_for's task and
                # timeout took five in every idle process (ADR 0030 §13).
                wake.clear()
                tick = loop.call_later(self._idle_poll_s, wake.set)
                await wake.wait()
                tick.cancel()
                if not self._closed:
                    poll(0)
                continue
            poll(0)
            await asyncio.sleep(0.0005)

    # --- broker health ------------------------------------------------------------------------------
    @property
    def broker_down(self) -> bool:
        """True once a probe confirmed that no broker answers, until a probe or a delivery succeeds."""
        return self._down_since is not None

    def _on_error(self, err: KafkaError) -> None:
        # librdkafka's error_cb, inside poll(): on the event loop, or in the thread that runs flush/close. Having
        # one replaces librdkafka's own logging of these errors, so every one is logged here.
        if err.fatal():
            log.error("Kafka producer fatal error: %s", err.str())
        else:
            log.warning("Kafka: %s", err.str())
        if err.code() == KafkaError._ALL_BROKERS_DOWN and not self._closed and self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed
                self._loop.call_soon_threadsafe(self._suspect)

    def _suspect(self) -> None:
        """Something suggests the broker is down: probe it (one probe at a time)."""
        if self._closed or (self._probe is not None and not self._probe.done()):
            return
        self._probe = asyncio.get_running_loop().create_task(self._probe_until_up())

    async def _probe_until_up(self) -> None:
        while not self._closed:
            if await asyncio.to_thread(self._metadata_answers, PROBE_TIMEOUT_S):
                if self._down_since is not None:
                    log.warning("Kafka is reachable again after %.1f s", time.monotonic() - self._down_since)
                self._down_since = None
                return
            if self._down_since is None:
                self._down_since = time.monotonic()
                log.error("Kafka is unreachable: requests with a deadline are refused until it answers")
            await asyncio.sleep(PROBE_INTERVAL_S)

    def _metadata_answers(self, timeout: float) -> bool:
        try:
            return bool(self._producer.list_topics(timeout=timeout).brokers)
        except KafkaException:
            return False

    def check_available(self) -> None:
        """Raise ``ServiceUnavailableException`` at once while the broker is known down (for request paths
        that have more to do before producing, such as creating a topic)."""
        self._start()
        if self._down_since is not None:
            UNAVAILABLE.labels("broker_down").inc()
            raise ServiceUnavailableException(
                f"Kafka is unavailable (no broker has answered for {time.monotonic() - self._down_since:.1f} s); "
                "nothing was written: retry later"
            )

    async def send(self, record: OutgoingRecord, ack_timeout_s: float | None = None) -> Delivered:
        return (await self.send_many([record], ack_timeout_s=ack_timeout_s))[0]

    async def send_many(self, records: Iterable[OutgoingRecord], ack_timeout_s: float | None = None) -> list[Delivered]:
        """Produce every record, then wait until all are acknowledged; raise if any delivery failed. A call
        that would not fit in the local queue is refused whole, so it is never half written.

        With ``ack_timeout_s`` (request paths): refused at once while the broker is known down, and answered
        ``ServiceUnavailableException`` when the acknowledgement takes longer than ``ack_timeout_s`` seconds — the
        records were not acknowledged and may still be written later (see the module's docstring)."""
        batch = list(records)
        if not batch:
            return []
        if ack_timeout_s is not None:
            self.check_available()
        if len(self._producer) + len(batch) > self._capacity:
            REFUSED.inc()
            raise ThrottlingException("Kafka producer queue is full; retry later")
        wake = self._start()
        future: asyncio.Future[list[Delivered]] = asyncio.get_running_loop().create_future()
        results: list[Delivered | None] = [None] * len(batch)
        errors: list[str] = []
        pending = [len(batch)]

        def report_for(i: int) -> Any:
            def report(err: KafkaError | None, msg: Message) -> None:
                # Runs inside poll(0) on the event loop thread.
                self._in_flight -= 1
                PRODUCED.labels("error" if err is not None else "ok").inc()
                if err is not None:
                    errors.append(err.str())
                else:
                    self._down_since = None
                    results[i] = Delivered(str(msg.topic()), int(msg.partition() or 0), int(msg.offset() or 0))
                pending[0] -= 1
                if pending[0] == 0 and not future.done():
                    if errors:
                        future.set_exception(ServiceUnavailableException(f"Kafka delivery failed: {errors[0]}"))
                    else:
                        future.set_result([r for r in results if r is not None])

            return report

        produce = self._producer.produce
        try:
            for i, record in enumerate(batch):
                produce(record.topic, record.value, record.key, headers=list(record.headers), on_delivery=report_for(i))
                self._in_flight += 1
        except BufferError:
            future.cancel()
            REFUSED.inc()
            raise ThrottlingException("Kafka producer queue is full; retry later") from None
        except KafkaException as err:
            future.cancel()
            raise ServiceUnavailableException(f"Kafka rejected the write: {err}") from None
        finally:
            wake.set()
        if ack_timeout_s is None:
            return await future
        try:
            return await asyncio.wait_for(future, ack_timeout_s)
        except TimeoutError:
            # wait_for cancelled the future; the delivery reports that come later only update counters.
            UNAVAILABLE.labels("ack_timeout").inc()
            self._suspect()
            raise ServiceUnavailableException(
                f"Kafka did not acknowledge the write within {ack_timeout_s:g} s; it was not acknowledged (it may "
                "still be written): retry later"
            ) from None

    def send_nowait(self, record: OutgoingRecord) -> None:
        """Produce without waiting for the acknowledgement (records a response must not wait on, such as
        impressions); a failed delivery is logged. Call it from the event loop."""
        wake = self._start()

        def report(err: KafkaError | None, msg: Message) -> None:
            self._in_flight -= 1
            PRODUCED.labels("error" if err is not None else "ok").inc()
            if err is None:
                self._down_since = None
            else:
                log.error("delivery to %s failed: %s", record.topic, err.str())

        try:
            self._producer.produce(
                record.topic, record.value, record.key, headers=list(record.headers), on_delivery=report
            )
            self._in_flight += 1
        except BufferError:
            REFUSED.inc()
            raise ThrottlingException("Kafka producer queue is full; retry later") from None
        finally:
            wake.set()

    def flush(self, timeout: float = 10.0) -> int:
        """Wait for queued records; returns how many are still undelivered."""
        return int(self._producer.flush(timeout))

    def close(self, timeout: float = 10.0) -> None:
        """Deliver what is queued (call after the server drained its calls)."""
        self._closed = True
        if self._wake is not None:
            self._wake.set()
        if self._probe is not None:
            self._probe.cancel()
        remaining = self.flush(timeout)
        if remaining:
            log.error("producer closed with undelivered records", extra={"undelivered": remaining})


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int = 1
    config: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TopicPolicy:
    """How durable every topic Tailor creates is: a property of the cluster, not of one topic, so it is read
    from ``TAILOR_TOPIC_REPLICATION_FACTOR`` / ``TAILOR_TOPIC_MIN_INSYNC_REPLICAS`` (docs/specs/topics.md), the
    same variables in every service, like the bootstrap address. 1/1 fits one broker; a three-broker cluster
    uses 3/2 (ADR 0025): an ``acks=all`` write then survives any one broker and is refused, never half-done,
    when two are gone."""

    replication_factor: int = 1
    min_insync_replicas: int = 1

    def __post_init__(self) -> None:
        if self.replication_factor < 1 or not 1 <= self.min_insync_replicas <= self.replication_factor:
            raise InvalidInputException(
                f"topic policy needs 1 <= min.insync.replicas ({self.min_insync_replicas}) <= replication factor "
                f"({self.replication_factor})"
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TopicPolicy:
        e = os.environ if env is None else env
        return cls(
            env_int(e, "TAILOR_TOPIC_REPLICATION_FACTOR", 1),
            env_int(e, "TAILOR_TOPIC_MIN_INSYNC_REPLICAS", 1),
        )

    def new_topic(self, spec: TopicSpec) -> NewTopic:
        config = {"min.insync.replicas": str(self.min_insync_replicas), **spec.config}
        return NewTopic(
            spec.name, num_partitions=spec.partitions, replication_factor=self.replication_factor, config=config
        )


def ensure_topics(
    bootstrap: str, specs: Iterable[TopicSpec], timeout: float = 30.0, policy: TopicPolicy | None = None
) -> None:
    """Create the topics that don't exist yet (replicated as ``policy`` says, by default the environment's);
    an existing topic is left as it is."""
    policy = TopicPolicy.from_env() if policy is None else policy
    admin = AdminClient(kafka_config(bootstrap))
    new = [policy.new_topic(s) for s in specs]
    if not new:
        return
    for name, future in admin.create_topics(new, operation_timeout=timeout, request_timeout=timeout).items():
        try:
            future.result(timeout=timeout)
        except KafkaException as err:
            if err.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise ServiceUnavailableException(f"cannot create topic {name}: {err}") from None


#: The SCRAM user of one account's own Kafka producers (ADR 0034): ``acct-<12-digit account id>``.
ACCOUNT_USER_PREFIX = "acct-"


def account_user(account_id: str) -> str:
    """The Kafka user name of an account's direct producers; its principal is ``User:<name>``."""
    if not (len(account_id) == 12 and account_id.isdigit()):
        raise InvalidInputException(f"account id {account_id!r} is not 12 digits")
    return ACCOUNT_USER_PREFIX + account_id


def dataset_group_acls(topic_prefix: str, account_id: str) -> list[AclBinding]:
    """WRITE and DESCRIBE for the account's user on every topic under one dataset group incarnation's name
    prefix (``<prefix>.<group>.<groupInc>.``: its dataset and inbound topics, docs/specs/topics.md) and nothing
    else: no READ, no CREATE, no other group's topics (ADR 0034). ``topic_prefix`` is
    ``tailor_shared.topics.dataset_group_topic_prefix``'s."""
    principal = f"User:{account_user(account_id)}"
    return [
        AclBinding(
            ResourceType.TOPIC,
            topic_prefix,
            ResourcePatternType.PREFIXED,
            principal,
            "*",
            operation,
            AclPermissionType.ALLOW,
        )
        for operation in (AclOperation.WRITE, AclOperation.DESCRIBE)
    ]


# The admin calls below take a whole client config (``kafka_config(bootstrap)`` in a service; a tool or test may
# pass another stack's) and must run as a principal with ALTER on the cluster (Tailor's own super user).


def _admin_results(futures: Mapping[Any, Any], what: str, timeout: float) -> None:
    for binding, future in futures.items():
        try:
            future.result(timeout=timeout)
        except KafkaException as err:
            raise ServiceUnavailableException(f"cannot {what} {binding}: {err}") from None


def grant_dataset_group(client: Mapping[str, Any], topic_prefix: str, account_id: str, timeout: float = 30.0) -> None:
    """Let the account's producers write the dataset group's topics (idempotent: the broker keeps one copy)."""
    admin = AdminClient(dict(client))
    futures = admin.create_acls(dataset_group_acls(topic_prefix, account_id), request_timeout=timeout)
    _admin_results(futures, "create ACL", timeout)


def revoke_dataset_group(client: Mapping[str, Any], topic_prefix: str, account_id: str, timeout: float = 30.0) -> None:
    """Remove what :func:`grant_dataset_group` created (nothing there: nothing to do)."""
    admin = AdminClient(dict(client))
    filters = [
        AclBindingFilter(
            b.restype, b.name, b.resource_pattern_type, b.principal, b.host, b.operation, b.permission_type
        )
        for b in dataset_group_acls(topic_prefix, account_id)
    ]
    _admin_results(admin.delete_acls(filters, request_timeout=timeout), "delete ACL", timeout)


def set_account_password(client: Mapping[str, Any], account_id: str, password: str, timeout: float = 30.0) -> None:
    """Create or change the account's SCRAM-SHA-512 user (KRaft keeps SCRAM credentials in its metadata, so no
    broker restart; Strimzi deployments use a ``KafkaUser`` instead, k8s/components/tls)."""
    admin = AdminClient(dict(client))
    upsert = UserScramCredentialUpsertion(
        account_user(account_id), ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), password.encode()
    )
    _admin_results(admin.alter_user_scram_credentials([upsert], request_timeout=timeout), "set SCRAM user", timeout)
