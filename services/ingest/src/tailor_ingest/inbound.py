"""The inbound forwarder (ADR 0024): inbound topics' JSON (or Schema Registry Avro, §7) records -> canonical
dataset rows, or dead letters.

It consumes every inbound topic of the prefix (a regex subscription, so new dataset groups are followed) in one
consumer group, checks each record by the rules of the Put* call it stands for (``domain.inbound_rows``) and
produces the row with ``encode_row`` — the same key, bytes and headers that call writes (``tailor-source: put``)
— or the original record to the dead-letter topic with the Personalize exception's name and message.

Exactly once, end to end by event id: a batch's inbound offsets are committed (without waiting; a clean stop
waits) only after every record it produced was acknowledged, so a crash forwards the uncommitted tail again
(never loses it); an event gets the same eventId again (the producer's, or one derived from its inbound
position), and the stream and the trainer drop repeated event ids; items, users and actions are upserts, so a
repeat writes the same row again. Per-user order: each inbound partition is forwarded in order through one
idempotent producer, and rows are keyed by user (item, action), so a user's records keep their order on the
dataset topic.

It also creates the inbound topics of every live dataset group (so a producer can write as soon as the group
exists); the stream's storage janitor deletes those of deleted incarnations (ADR 0014).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from tailor_ingest import domain
from tailor_ingest.adapters import TopicGuard
from tailor_ingest.catalog import Catalog
from tailor_ingest.config import IngestSettings
from tailor_ingest.metrics import INBOUND_DEAD_LETTERS, INBOUND_RECORDS
from tailor_ingest.registry import SchemaRegistry, is_wire_format
from tailor_shared import topics
from tailor_shared.errors import (
    InternalFailure,
    InvalidInputException,
    PersonalizeError,
    ResourceInUseException,
    ResourceNotFoundException,
    ServiceUnavailableException,
    ThrottlingException,
)
from tailor_shared.kafka import (
    OutgoingRecord,
    Producer,
    TopicSpec,
    ensure_topics,
    grant_dataset_group,
    kafka_config,
    revoke_dataset_group,
)
from tailor_shared.records import RowContext, encode_row
from tailor_shared.resources import ResourceReader

log = logging.getLogger(__name__)

#: Wait between attempts to deliver a batch while Kafka refuses it.
RETRY_S = 1.0
#: How long one poll waits for the first record of a batch (it returns as soon as one arrives: this only sets
#: how often an idle forwarder wakes up).
POLL_S = 0.5
#: Without a change of the view, the topic keeper looks again this often anyway (a safety net: every step is
#: driven by the view's records).
RECHECK_S = 60.0
#: A batch whose group or dataset the view does not know catches the view up first, at most this often.
CATCH_UP_EVERY_S = 1.0

Resolved = dict[topics.InboundTopicName, domain.Target | PersonalizeError]


@dataclass
class Batch:
    """What one poll's records become: rows and dead letters in inbound order, and the offsets to commit."""

    records: list[OutgoingRecord] = field(default_factory=list)
    targets: dict[str, domain.Target] = field(default_factory=dict)  # dataset topic -> its target
    commits: dict[tuple[str, int], int] = field(default_factory=dict)  # (topic, partition) -> next offset
    counts: dict[tuple[str, str], int] = field(default_factory=dict)  # (kind, outcome) -> records
    reasons: dict[str, int] = field(default_factory=dict)  # dead letters by exception name


def live_inbound_specs(prefix: str, view: ResourceReader) -> list[TopicSpec]:
    """The inbound topics every live dataset group should have (not those being deleted)."""
    specs: list[TopicSpec] = []
    for group in view.list("datasetGroup"):
        if group.body.get("status") == "DELETE PENDING":
            continue
        try:
            names = [(topics.inbound_topic(prefix, group, kind), kind) for kind in topics.INBOUND_KINDS]
        except (KeyError, ValueError):  # a malformed record names no storage
            continue
        specs.extend(topics.inbound_topic_spec(name, kind) for name, kind in names)
    return specs


class InboundForwarder:
    """One consumer over every inbound topic; run it as a task until ``stop`` is set."""

    def __init__(
        self,
        settings: IngestSettings,
        view: ResourceReader,
        catalog: Catalog,
        producer: Producer,
        guard: TopicGuard,
        catch_up: Callable[[], None] | None = None,
        changed: asyncio.Event | None = None,
    ) -> None:
        self._settings = settings
        self._prefix = settings.prefix
        self._bootstrap = settings.common.kafka_bootstrap
        self._view = view
        self._catalog = catalog
        self._producer = producer
        self._guard = guard
        self._dead_letters = topics.dead_letter_topic(self._prefix)
        self._created: set[str] = set()
        #: Topic prefix -> account of the ACLs this process granted (ADR 0034; ``tenant_acls``).
        self._granted: dict[str, str] = {}
        #: ``ResourceView.catch_up``: a record may arrive before this view has its (new) group or dataset.
        self._catch_up = catch_up
        self._caught_up_at = 0.0
        #: ``ResourceView.change_event``: the topic keeper waits on it instead of walking the view every interval.
        self._wakes_on_change = changed is not None
        self._wake = changed if changed is not None else asyncio.Event()
        #: The running consumer: the topic keeper refreshes its metadata when it created topics.
        self._consumer_now: Consumer | None = None
        #: Schema Registry Avro (ADR 0024 §7), when a registry is configured.
        self._registry = SchemaRegistry(settings.schema_registry_url) if settings.schema_registry_url else None

    # --- inbound topics of live groups --------------------------------------------------------------------
    def ensure_inbound_topics(self) -> list[str]:
        """Create the inbound topics of groups that have none yet; returns the names it created."""
        missing = [s for s in live_inbound_specs(self._prefix, self._view) if s.name not in self._created]
        if missing:
            ensure_topics(self._bootstrap, missing)
            self._created.update(s.name for s in missing)
            log.info("inbound topics ready", extra={"topics": [s.name for s in missing]})
        return [s.name for s in missing]

    def sync_tenant_acls(self) -> tuple[list[str], list[str]]:
        """Grant each live dataset group's account its topic prefix, revoke what this process granted for
        groups since deleted; returns (granted, revoked) prefixes. Granting is idempotent, so a restarted
        process simply grants again; a deleted incarnation's grant left by an earlier process covers topics
        that are deleted and never created again (accounts have no CREATE), so it gives nothing."""
        if not self._settings.tenant_acls:
            return [], []
        client = kafka_config(self._bootstrap)
        wanted = topics.account_topic_grants(self._prefix, self._view.list("datasetGroup"))
        granted = [p for p in wanted if self._granted.get(p) != wanted[p]]
        for topic_prefix in granted:
            grant_dataset_group(client, topic_prefix, wanted[topic_prefix])
            self._granted[topic_prefix] = wanted[topic_prefix]
        revoked = [p for p in self._granted if p not in wanted]
        for topic_prefix in revoked:
            revoke_dataset_group(client, topic_prefix, self._granted.pop(topic_prefix))
        if granted or revoked:
            log.info("tenant Kafka ACLs synced", extra={"granted": granted, "revoked": revoked})
        return granted, revoked

    def register_schemas(self) -> list[str]:
        """Register each live dataset's schema under its inbound topic's subject; returns the topics sent."""
        sent: list[str] = []
        if self._registry is None:
            return sent
        for spec in live_inbound_specs(self._prefix, self._view):
            name = topics.parse_inbound_topic(self._prefix, spec.name)
            if name is None:
                continue
            try:
                target = self._catalog.inbound(name.dataset_group, name.group_incarnation, name.dataset_type)
            except PersonalizeError:  # no ACTIVE dataset of that type yet
                continue
            schema = self._view.get(target.schema_arn)
            if schema is not None and self._registry.register(spec.name, str(schema.body["schema"])):
                sent.append(spec.name)
        if sent:
            log.info("dataset schemas registered", extra={"topics": sent})
        return sent

    async def _keep_topics(self, done: asyncio.Event, stop: asyncio.Event) -> None:
        """Topics, ACLs and schemas of live groups: at once when the view changed, and again after
        ``inbound_topics_interval_s`` while a step fails (or without a change event, every interval)."""
        while not (done.is_set() or stop.is_set()):
            self._wake.clear()
            failed = False
            try:
                if await asyncio.to_thread(self.ensure_inbound_topics):
                    await asyncio.to_thread(self._refresh_metadata)
            except (KafkaException, ServiceUnavailableException) as err:
                log.warning("cannot create inbound topics yet: %s", err)
                failed = True
            try:
                await asyncio.to_thread(self.sync_tenant_acls)
            except ServiceUnavailableException as err:  # retried next round
                log.warning("cannot sync tenant Kafka ACLs yet: %s", err)
                failed = True
            try:
                await asyncio.to_thread(self.register_schemas)
            except Exception as err:  # the registry is down: retried next round, JSON keeps flowing
                log.warning("cannot register dataset schemas yet: %s", err)
                failed = True
            wait = self._settings.inbound_topics_interval_s if failed or not self._wakes_on_change else RECHECK_S
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    def _refresh_metadata(self) -> None:
        """Re-read every topic's metadata now: the pattern subscription then follows the new topics at once
        instead of at the next periodic refresh (``inbound_metadata_refresh_ms``)."""
        consumer = self._consumer_now
        if consumer is not None:
            consumer.list_topics(timeout=10)

    # --- one record -----------------------------------------------------------------------------------------
    def _dead_letter(self, msg: Message, err: PersonalizeError) -> OutgoingRecord:
        original: list[Any] = list(msg.headers() or [])
        headers = [(str(k), v if isinstance(v, bytes) else str(v or "").encode()) for k, v in original]
        headers += [
            (topics.H_DLQ_REASON, err.code.encode()),
            (topics.H_DLQ_ERROR, err.message[:1000].encode()),
            (topics.H_DLQ_TOPIC, str(msg.topic()).encode()),
            (topics.H_DLQ_PARTITION, str(msg.partition()).encode()),
            (topics.H_DLQ_OFFSET, str(msg.offset()).encode()),
        ]
        return OutgoingRecord(self._dead_letters, msg.value(), msg.key(), headers)

    def resolve(self, names: set[topics.InboundTopicName]) -> Resolved:
        """Each inbound topic's target, or the error that dead-letters its records."""
        out: Resolved = {}
        for name in names:
            try:
                out[name] = self._catalog.inbound(name.dataset_group, name.group_incarnation, name.dataset_type)
            except (ResourceNotFoundException, ResourceInUseException, InvalidInputException) as err:
                out[name] = err
        return out

    async def _resolve_fresh(self, names: set[topics.InboundTopicName]) -> Resolved:
        """``resolve``; when something is missing, catch the view up once and look again: control acknowledges a
        create after its own view has it, so a producer can be ahead of this one by a few milliseconds."""
        targets = self.resolve(names)
        missing = any(isinstance(t, PersonalizeError) for t in targets.values())
        if missing and self._catch_up is not None and time.monotonic() - self._caught_up_at >= CATCH_UP_EVERY_S:
            self._caught_up_at = time.monotonic()
            try:
                await asyncio.to_thread(self._catch_up)
            except Exception as err:  # judge with the view as it is
                log.warning("resource view did not catch up: %s", err)
            targets = self.resolve(names)
        return targets

    def _forward(
        self, name: topics.InboundTopicName, msg: Message, batch: Batch, targets: Resolved
    ) -> list[OutgoingRecord]:
        """The record's rows (one), or raise the PersonalizeError that dead-letters it."""
        target = targets[name]
        if isinstance(target, PersonalizeError):
            raise target
        data = self._members(name, msg)
        topic, partition, offset = str(msg.topic()), int(msg.partition() or 0), int(msg.offset() or 0)
        rows = domain.inbound_rows(
            name.kind, data, target.plan, target.dataset_arn, lambda: domain.inbound_event_id(topic, partition, offset)
        )
        batch.targets[target.topic] = target
        return [
            encode_row(
                target.topic,
                target.dataset_type,
                target.codec,
                row.values,
                RowContext(
                    dataset_arn=target.dataset_arn,
                    schema_arn=target.schema_arn,
                    event_id=row.event_id,
                    session_id=row.session_id,
                    recommendation_id=row.recommendation_id,
                ),
            )
            for row in rows
        ]

    def _members(self, name: topics.InboundTopicName, msg: Message) -> dict[str, Any]:
        """The record's JSON members: its JSON value, or its Confluent wire-format Avro row mapped onto them."""
        value = msg.value()
        if not is_wire_format(value):
            return domain.parse_value(value)
        if self._registry is None:
            raise InvalidInputException(
                "The record's value is in the Confluent wire format (magic byte 0), but no schema registry is "
                "configured (TAILOR_SCHEMA_REGISTRY_URL): write Personalize's JSON."
            )
        assert value is not None
        original: list[Any] = list(msg.headers() or [])
        headers = {str(k): v for k, v in original if isinstance(v, bytes)}
        session, event = headers.get(topics.H_SESSION_ID), headers.get(topics.H_EVENT_ID)
        return domain.avro_members(
            name.kind,
            self._registry.decode(value),
            session.decode(errors="replace") if session else None,
            event.decode(errors="replace") if event else None,
        )

    def names(self, messages: Sequence[Message]) -> set[topics.InboundTopicName]:
        found = (topics.parse_inbound_topic(self._prefix, str(m.topic())) for m in messages if m.error() is None)
        return {n for n in found if n is not None}

    def prepare(self, messages: Sequence[Message], targets: Resolved) -> Batch:
        """Pure: each record -> its row or its dead letter, in inbound order (``targets``: ``resolve``)."""
        batch = Batch()
        for msg in messages:
            err = msg.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF:
                    log.warning("inbound consumer: %s", err.str())
                continue
            topic = str(msg.topic())
            name = topics.parse_inbound_topic(self._prefix, topic)
            batch.commits[(topic, int(msg.partition() or 0))] = int(msg.offset() or 0) + 1
            if name is None:  # the subscription only matches inbound topics
                continue
            try:
                batch.records.extend(self._forward(name, msg, batch, targets))
                outcome = "forwarded"
            except (ServiceUnavailableException, ThrottlingException):
                raise
            except PersonalizeError as failure:
                batch.records.append(self._dead_letter(msg, failure))
                batch.reasons[failure.code] = batch.reasons.get(failure.code, 0) + 1
                outcome = "dead_letter"
            except Exception as bug:  # a poison record must not stop the flow: dead-letter it, loudly
                log.exception("inbound record could not be forwarded", extra={"topic": topic})
                batch.records.append(self._dead_letter(msg, InternalFailure(f"{type(bug).__name__}: {bug}")))
                batch.reasons[InternalFailure.code] = batch.reasons.get(InternalFailure.code, 0) + 1
                outcome = "dead_letter"
            batch.counts[(name.kind, outcome)] = batch.counts.get((name.kind, outcome), 0) + 1
        return batch

    # --- the loop -------------------------------------------------------------------------------------------
    def _consumer(self) -> Consumer:
        consumer = Consumer(
            {
                **kafka_config(self._bootstrap),
                "group.id": self._settings.inbound_consumer_group,
                "client.id": f"{self._prefix}-ingest-inbound",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                # A safety net: the topic keeper refreshes the metadata when it created topics. At 1 s this was a
                # third of the forwarder's requests to an idle broker, each answer listing every topic (ADR 0030).
                "topic.metadata.refresh.interval.ms": self._settings.inbound_metadata_refresh_ms,
                "fetch.wait.max.ms": self._settings.inbound_fetch_wait_ms,
                "session.timeout.ms": 10_000,
            }
        )
        consumer.subscribe([topics.inbound_topic_pattern(self._prefix)])
        return consumer

    @staticmethod
    def _poll(consumer: Consumer, max_records: int) -> list[Message]:
        """The first record as soon as it arrives, then whatever else is already fetched (no batch wait)."""
        first = consumer.poll(POLL_S)
        if first is None:
            return []
        return [first, *consumer.consume(max_records - 1, 0)] if max_records > 1 else [first]

    async def _deliver(self, batch: Batch, stop: asyncio.Event) -> bool:
        """Produce the batch until Kafka acknowledged all of it; False if stopped first (nothing committed)."""
        while True:
            try:
                for target in batch.targets.values():
                    await self._guard.ensure_async(self._guard.dataset_spec(target.topic, target.dataset_type))
                await self._producer.send_many(batch.records)
                return True
            except (ServiceUnavailableException, ThrottlingException) as err:
                log.warning("inbound batch not delivered, retrying: %s", err)
            if stop.is_set():
                return False
            await asyncio.sleep(RETRY_S)

    async def run(self, stop: asyncio.Event) -> None:
        await asyncio.to_thread(ensure_topics, self._bootstrap, [topics.dead_letter_topic_spec(self._prefix)])
        done = asyncio.Event()  # this run's end (``stop`` is the service's)
        keeper = asyncio.get_running_loop().create_task(self._keep_topics(done, stop))
        try:
            consumer = self._consumer_now = await asyncio.to_thread(self._consumer)
        except BaseException:
            done.set()
            self._wake.set()
            await keeper
            raise
        delivered: dict[tuple[str, int], int] = {}  # next offset per partition, of batches Kafka acknowledged
        try:
            while not stop.is_set():
                messages = await asyncio.to_thread(self._poll, consumer, self._settings.inbound_batch)
                if not messages:
                    continue
                if self._registry is not None:  # writer schemas fetched off the loop; a down registry retries
                    await asyncio.to_thread(self._registry.prefetch, [m.value() for m in messages if not m.error()])
                batch = self.prepare(messages, await self._resolve_fresh(self.names(messages)))
                if batch.records and not await self._deliver(batch, stop):
                    return
                for (kind, outcome), n in batch.counts.items():
                    INBOUND_RECORDS.labels(kind, outcome).inc(n)
                for reason, n in batch.reasons.items():
                    INBOUND_DEAD_LETTERS.labels(reason).inc(n)
                if batch.commits:
                    delivered.update(batch.commits)
                    # Not waited for: a commit that is lost (crash, rebalance) only means the batch is forwarded
                    # again, and its repeats are dropped by event id; the next batch does not wait a round trip.
                    self._commit(consumer, batch.commits, wait=False)
        finally:
            done.set()
            self._wake.set()
            await keeper
            self._consumer_now = None
            await asyncio.to_thread(self._close, consumer, delivered)

    @staticmethod
    def _commit(consumer: Consumer, commits: dict[tuple[str, int], int], wait: bool) -> None:
        offsets = [TopicPartition(t, p, o) for (t, p), o in commits.items()]
        try:
            if wait:
                consumer.commit(offsets=offsets, asynchronous=False)
            else:
                consumer.commit(offsets=offsets, asynchronous=True)
        except KafkaException as err:  # e.g. a rebalance: the records are forwarded again, and dropped as repeats
            log.warning("inbound offsets not committed: %s", err)

    @classmethod
    def _close(cls, consumer: Consumer, delivered: dict[tuple[str, int], int]) -> None:
        """A clean stop commits what was delivered and waits for it, so a restart forwards nothing twice."""
        if delivered:
            cls._commit(consumer, delivered, wait=True)
        consumer.close()


async def run_until_stopped(forwarder: InboundForwarder, stop: asyncio.Event) -> None:
    """A forwarder that fails (e.g. Kafka refused the subscription) is logged and started again: ingest's
    gRPC API keeps serving, and the inbound records wait on their topics (nothing is committed)."""
    while not stop.is_set():
        try:
            await forwarder.run(stop)
        except Exception:
            log.exception("the inbound forwarder failed; restarting it")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), RETRY_S)


def start(forwarder: InboundForwarder) -> tuple[asyncio.Task[Any], asyncio.Event]:
    """Run the forwarder as a task of the running loop; set the event to stop it."""
    stop = asyncio.Event()
    return asyncio.get_running_loop().create_task(run_until_stopped(forwarder, stop)), stop
