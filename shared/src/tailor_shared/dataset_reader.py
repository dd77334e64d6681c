"""Consistent snapshots of a dataset topic as columnar numpy arrays, with the import generations applied.

The trainer (and the dataset export job) read a dataset through this module rather than folding the topic
themselves, so Personalize's import semantics live in one place (docs/specs/topics.md, "Import
generations"):

* the end offset of every partition is fixed first and consumption stops there, so a snapshot is exactly
  "the dataset at these offsets" and a solution version can record what it trained on;
* rows of an import job count only once its ``import-complete`` marker is in the snapshot, and only those
  after the job's last ``import-start`` marker on their partition (a retried job's first attempt is void);
* a completed ``FULL`` import replaces the bulk rows of every import completed before it; ``INCREMENTAL``
  adds; rows written by Put* calls or direct producers (``tailor-source: put``) are never replaced;
* Items / Users / Actions keep the latest row per id (a later row replaces an earlier one, L7979, L8315);
  interactions keep every row except repeats of an ``eventId`` ("subsequent events ... with the same event
  ID are not used in model training", L34937).

Speed matters (millions of rows): batches from confluent-kafka, fastavro's schemaless reader in a tight
loop, per-column Python lists turned into numpy arrays once at the end.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from tailor_shared.avro import AvroCodec
from tailor_shared.errors import ServiceUnavailableException
from tailor_shared.kafka import OutgoingRecord, kafka_config
from tailor_shared.records import KEY_FIELDS
from tailor_shared.topics import (
    H_EVENT_ID,
    H_IMPORT_JOB,
    H_MARKER,
    H_RECOMMENDATION_ID,
    H_SCHEMA_FP,
    H_SESSION_ID,
    H_SOURCE,
    MARKER_IMPORT_COMPLETE,
    SOURCE_BULK,
    SOURCE_PUT,
)

log = logging.getLogger(__name__)

#: Written by an import job on every partition before its first row; rows of the job earlier on that
#: partition belong to an attempt that did not finish (docs/specs/topics.md, "Import attempts").
MARKER_IMPORT_START = "import-start"

# Optional envelope columns (``meta_columns=True``); names start with "_" so they can't be schema fields
# that a Personalize schema would accept as data columns by accident (ADR 0003).
META_SOURCE = "_source"  # "put" | "bulk"
META_EVENT_ID = "_event_id"
META_SESSION_ID = "_session_id"
META_IMPORT_JOB = "_import_job"
META_RECOMMENDATION_ID = "_recommendation_id"  # PutEvents' recommendationId: implicit impressions (ADR 0022)
META_COLUMNS = (META_SOURCE, META_EVENT_ID, META_SESSION_ID, META_IMPORT_JOB, META_RECOMMENDATION_ID)

_ENTITY_TYPES = ("Items", "Users", "Actions")
_EVENT_TYPES = ("Interactions", "Action_Interactions")


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Millions of short-lived allocations (one decoded dict per row) keep triggering the cyclic garbage
    collector, whose full passes scan every tracked object: pausing it halves the time of a large read.
    Nothing allocated here forms reference cycles, so nothing is left for it to find."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class CodecLookup(Protocol):
    """Fingerprint -> writer codec: a plain dict, or ``records.SchemaCodecs`` over a resource view."""

    def get(self, fingerprint: str, /) -> AvroCodec | None: ...


@dataclass(frozen=True)
class ImportGeneration:
    """A completed import job seen in the snapshot, in completion order."""

    import_job_arn: str
    import_mode: str
    rows: int
    completed_ms: int
    effective: bool  # its rows are part of the dataset (not replaced by a later FULL import)


@dataclass(frozen=True)
class DatasetSnapshot:
    """A dataset at fixed offsets: column name -> array (all the same length) and what was read."""

    topic: str
    columns: dict[str, np.ndarray]
    offsets: dict[int, int]  # partition -> end offset (exclusive) the snapshot covers
    imports: tuple[ImportGeneration, ...]
    records_read: int  # every record consumed, markers and replaced rows included
    seconds: float

    @property
    def num_rows(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    @property
    def rows_per_second(self) -> float:
        return self.records_read / self.seconds if self.seconds > 0 else 0.0

    def rows(self) -> list[dict[str, Any]]:
        """Row dicts (tests and small datasets; the arrays are the fast interface)."""
        names = list(self.columns)
        return [dict(zip(names, values, strict=True)) for values in zip(*self.columns.values(), strict=True)]


def import_start_marker(topic: str, partition: int, import_job_arn: str, import_mode: str) -> OutgoingRecord:
    """The record an import attempt writes on ``partition`` before its rows (sent with an explicit partition)."""
    body = json.dumps({"importJobArn": import_job_arn, "importMode": import_mode, "partition": partition}).encode()
    return OutgoingRecord(
        topic,
        body,
        import_job_arn.encode(),
        [(H_MARKER, MARKER_IMPORT_START.encode()), (H_IMPORT_JOB, import_job_arn.encode()), (H_SOURCE, b"bulk")],
    )


def _consumer(bootstrap: str, **overrides: Any) -> Consumer:
    config: dict[str, Any] = {
        **kafka_config(bootstrap),
        "group.id": f"tailor-dataset-reader-{uuid.uuid4().hex}",  # assign() only; nothing is committed
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "earliest",
        "fetch.max.bytes": 64 * 1024 * 1024,
        "max.partition.fetch.bytes": 16 * 1024 * 1024,
        "queued.max.messages.kbytes": 256 * 1024,
        "fetch.wait.max.ms": 20,
        "check.crcs": False,
    }
    config.update(overrides)
    return Consumer(config)


def watermarks(bootstrap: str, topic: str, timeout_s: float = 30.0) -> dict[int, tuple[int, int]]:
    """Partition -> (low, high) watermark offsets; an unknown topic has none. Retries the transient errors
    of a topic that was just created (no leader elected yet)."""
    consumer = _consumer(bootstrap)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                metadata = consumer.list_topics(topic, timeout=timeout_s)
                info = metadata.topics.get(topic)
                if info is None or info.error is not None:
                    return {}
                out: dict[int, tuple[int, int]] = {}
                for p in sorted(info.partitions):
                    low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s)
                    out[p] = (int(low), int(high))
                return out
            except KafkaException as err:
                transient = err.args[0].code() in _TRANSIENT
                if not transient or time.monotonic() > deadline:
                    raise ServiceUnavailableException(f"cannot read offsets of {topic}: {err}") from None
                time.sleep(0.2)
    finally:
        consumer.close()


_TRANSIENT = frozenset(
    {
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError._TIMED_OUT,
        KafkaError._TRANSPORT,
    }
)


def end_offsets(bootstrap: str, topic: str, timeout_s: float = 30.0) -> dict[int, int]:
    """Partition -> end offset (exclusive): the offsets a snapshot taken now would cover."""
    return {p: high for p, (_low, high) in watermarks(bootstrap, topic, timeout_s).items()}


def recommended_items(
    bootstrap: str, topic: str, wanted: Iterable[str], timeout_s: float = 120.0
) -> dict[str, list[str]]:
    """recommendationId -> the items it returned, for the ``wanted`` ids still on the runtime's recommendations
    topic (``topics.impressions_topic``, keyed by recommendationId; 7 days' retention): implicit impressions
    (ADR 0022). Ids the topic no longer (or never) held are absent."""
    want = {w.encode() for w in wanted if w}
    marks = watermarks(bootstrap, topic, timeout_s=min(timeout_s, 30.0))
    remaining = {p for p, (low, high) in marks.items() if high > low}
    out: dict[str, list[str]] = {}
    if not want or not remaining:
        return out
    consumer = _consumer(bootstrap)
    deadline = time.monotonic() + timeout_s
    try:
        consumer.assign([TopicPartition(topic, p, marks[p][0]) for p in sorted(remaining)])
        while remaining:
            if time.monotonic() > deadline:
                raise ServiceUnavailableException(f"reading {topic} did not finish in time")
            batch: list[Any] = consumer.consume(5_000, 0.05)
            for msg in batch:
                p = msg.partition()
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        remaining.discard(p)
                    continue
                if msg.offset() >= marks[p][1] - 1:
                    remaining.discard(p)
                key = msg.key()
                if key not in want:
                    continue
                try:
                    body = json.loads(msg.value() or b"")
                    out[key.decode()] = [str(i) for i in body.get("itemList") or ()]
                except (ValueError, AttributeError, TypeError):
                    continue
    finally:
        consumer.close()
    return out


def count_records(bootstrap: str, topic: str, timeout_s: float = 30.0) -> int:
    """Records on the topic (markers included); exact for the dataset topics, which never expire."""
    return sum(high - low for low, high in watermarks(bootstrap, topic, timeout_s).values())


class _Scan:
    """Everything one pass over the topic collects, before the generation rules pick rows."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)
        self.values: dict[str, list[Any]] = {n: [] for n in names}
        self.partition: list[int] = []
        self.offset: list[int] = []
        self.group: list[int] = []  # 0 = put; k > 0 = k-th import job seen; -1 = bulk row without a job
        self.event_id: list[bytes | None] = []  # raw header values
        self.session_id: list[bytes | None] = []
        self.recommendation_id: list[bytes | None] = []
        self.job_ids: dict[str, int] = {}
        self.completed: dict[str, tuple[str, int, int]] = {}  # job -> (mode, rows, first marker ms)
        self.starts: dict[tuple[str, int], int] = {}  # (job, partition) -> offset of the last start marker
        self.records = 0
        self.undecodable = 0


def _scan_topic(
    consumer: Consumer,
    topic: str,
    ranges: Mapping[int, tuple[int, int]],
    codecs: CodecLookup,
    names: Sequence[str],
    deadline: float,
    on_undecodable: str,
) -> _Scan:
    scan = _Scan(names)
    remaining = {p for p, (start, end) in ranges.items() if end > start}
    if not remaining:
        return scan
    consumer.assign([TopicPartition(topic, p, ranges[p][0]) for p in sorted(remaining)])
    last = {p: end - 1 for p, (_s, end) in ranges.items()}
    by_fp: dict[Any, Any] = {}  # fingerprint header (bytes) -> the codec's decode
    columns = [(name, scan.values[name].append) for name in names]
    part_append, off_append, group_append = scan.partition.append, scan.offset.append, scan.group.append
    eid_append, sid_append, rid_append = scan.event_id.append, scan.session_id.append, scan.recommendation_id.append
    job_codes: dict[bytes, int] = {}
    h_fp, h_source, h_job, h_marker = H_SCHEMA_FP, H_SOURCE, H_IMPORT_JOB, H_MARKER
    h_eid, h_sid, h_rid = H_EVENT_ID, H_SESSION_ID, H_RECOMMENDATION_ID
    bulk = SOURCE_BULK.encode()
    records = 0
    while remaining:
        if time.monotonic() > deadline:
            raise ServiceUnavailableException(f"reading {topic} did not finish in time; partitions left: {remaining}")
        # consume() waits until it has the whole batch or the timeout passed: small batches and a short
        # timeout keep the fetch pipeline busy (5,000 / 50 ms reads ~5x faster than 50,000 / 500 ms).
        batch: list[Any] = consumer.consume(5_000, 0.05)  # Any: the hot loop stays free of casts
        for msg in batch:
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    p = msg.partition()
                    if p is not None and (msg.offset() or 0) > last.get(p, -1):
                        remaining.discard(p)
                    continue
                if err.fatal() or err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                    raise ServiceUnavailableException(f"reading {topic} failed: {err.str()}")
                log.warning("reading %s: %s (retrying until the deadline)", topic, err.str())
                continue
            p = msg.partition()
            off = msg.offset()
            if off >= last[p]:
                remaining.discard(p)
                if off > last[p]:
                    continue
            records += 1
            headers = dict(msg.headers())
            get = headers.get
            decode = by_fp.get(get(h_fp))
            if decode is None:
                marker = get(h_marker)
                if marker is not None:
                    _marker(scan, marker.decode(), headers, msg.value(), p, off, msg.timestamp()[1])
                    continue
                fp = get(h_fp)
                found = codecs.get(fp.decode()) if fp is not None else None
                if found is None:
                    if on_undecodable == "skip":
                        scan.undecodable += 1
                        continue
                    raise ValueError(f"{topic}[{p}]@{off}: no codec for schema fingerprint {fp!r}")
                decode = by_fp[fp] = found.decode
            row = decode(msg.value())
            for _name, append in columns:
                append(row.get(_name))
            part_append(p)
            off_append(off)
            if get(h_source) == bulk:
                job = get(h_job)
                if job is None:
                    group_append(-1)
                else:
                    code = job_codes.get(job)
                    if code is None:
                        code = job_codes[job] = scan.job_ids.setdefault(job.decode(), len(scan.job_ids) + 1)
                    group_append(code)
            else:
                group_append(0)
            eid_append(get(h_eid))  # raw bytes: decoded only for the rows that are kept
            sid_append(get(h_sid))
            rid_append(get(h_rid))
    scan.records = records
    return scan


def _marker(
    scan: _Scan, marker: str, headers: Mapping[str, Any], value: bytes | None, p: int, off: int, ts: int
) -> None:
    job_raw = headers.get(H_IMPORT_JOB)
    if job_raw is None:
        return
    job = job_raw.decode()
    if marker == MARKER_IMPORT_START:
        scan.starts[(job, p)] = max(off, scan.starts.get((job, p), -1))
    elif marker == MARKER_IMPORT_COMPLETE:
        try:
            body = json.loads(value or b"{}")
        except ValueError:
            body = {}
        mode = str(body.get("importMode") or "FULL").upper()
        rows = int(body.get("rows") or 0)
        previous = scan.completed.get(job)
        first_ms = ts if previous is None else min(previous[2], ts)
        scan.completed[job] = (mode, rows, first_ms)


def _generations(scan: _Scan) -> tuple[ImportGeneration, ...]:
    """Completed imports in completion order; those before the last FULL one are replaced."""
    ordered = sorted(scan.completed.items(), key=lambda kv: (kv[1][2], kv[0]))
    last_full = max((i for i, (_j, (mode, _r, _t)) in enumerate(ordered) if mode == "FULL"), default=0)
    return tuple(
        ImportGeneration(job, mode, rows, ms, effective=i >= last_full)
        for i, (job, (mode, rows, ms)) in enumerate(ordered)
    )


def _keep_mask(scan: _Scan, generations: Sequence[ImportGeneration], sources: Sequence[str]) -> np.ndarray:
    group = np.asarray(scan.group, dtype=np.int32)
    keep = np.zeros(len(group), dtype=bool)
    if SOURCE_PUT in sources:
        keep |= group == 0
    if SOURCE_BULK in sources:
        partition = np.asarray(scan.partition, dtype=np.int32)
        offset = np.asarray(scan.offset, dtype=np.int64)
        for gen in generations:
            code = scan.job_ids.get(gen.import_job_arn)
            if not gen.effective or code is None:
                continue
            rows = group == code
            for (job, p), start in scan.starts.items():
                if job == gen.import_job_arn:
                    rows &= ~((partition == p) & (offset < start))
            keep |= rows
    return keep


def _dedupe(
    indices: np.ndarray, scan: _Scan, dataset_type: str, latest_per_id: bool, dedupe_event_ids: bool
) -> np.ndarray:
    if latest_per_id:
        key = scan.values.get(KEY_FIELDS[dataset_type])
        if key is not None:
            seen: set[Any] = set()
            chosen: list[int] = []
            for i in reversed(indices.tolist()):  # log order is per-id order: same key, same partition
                k = key[i]
                if k not in seen:
                    seen.add(k)
                    chosen.append(i)
            chosen.reverse()
            return np.asarray(chosen, dtype=np.int64)
    if dedupe_event_ids:
        eids = scan.event_id
        seen_ids: set[bytes] = set()
        kept: list[int] = []
        for i in indices.tolist():
            e = eids[i]
            if e is not None:
                if e in seen_ids:
                    continue
                seen_ids.add(e)
            kept.append(i)
        return np.asarray(kept, dtype=np.int64)
    return indices


def _column(values: list[Any], avro_types: Sequence[str], indices: np.ndarray) -> np.ndarray:
    """Typed arrays: long/int -> int64, float -> float32, double -> float64, boolean -> bool, string ->
    object; a nullable number becomes float (NaN = null), a nullable boolean stays object (ADR 0003)."""
    non_null = [t for t in avro_types if t != "null"]
    kind = non_null[0] if non_null else "string"
    nullable = "null" in avro_types
    picked = [values[i] for i in indices.tolist()]
    try:
        if kind in ("int", "long"):
            return np.array(picked, dtype=np.float64 if nullable else np.int64)
        if kind == "float":
            return np.array(picked, dtype=np.float32)
        if kind == "double":
            return np.array(picked, dtype=np.float64)
        if kind == "boolean" and not nullable:
            return np.array(picked, dtype=bool)
    except (TypeError, ValueError):  # a null in a non-null column (written with an older schema)
        pass
    out = np.empty(len(picked), dtype=object)
    out[:] = picked
    return out


def _text(raw: bytes | None) -> str | None:
    return raw.decode() if raw is not None else None


def _field_types(raw: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for f in raw.get("fields", ()):
        t = f["type"]
        out[f["name"]] = tuple(t) if isinstance(t, list) else (t,)
    return out


def read_dataset(
    bootstrap: str,
    topic: str,
    dataset_type: str,
    schema: str | Mapping[str, Any],
    codecs: CodecLookup | None = None,
    *,
    offsets: Mapping[int, int] | None = None,
    sources: Sequence[str] = (SOURCE_PUT, SOURCE_BULK),
    latest_per_id: bool | None = None,
    dedupe_event_ids: bool | None = None,
    meta_columns: bool = False,
    on_undecodable: str = "raise",
    timeout_s: float = 600.0,
) -> DatasetSnapshot:
    """Read ``topic`` up to ``offsets`` (default: the end offsets now) and apply the generation rules.

    ``schema`` is the dataset's current (reader) schema: it names the columns and their types; rows written
    with an older schema version get null for fields they lack. ``codecs`` resolves writer fingerprints
    (default: the reader schema only). ``latest_per_id`` defaults to True for Items/Users/Actions,
    ``dedupe_event_ids`` to True for interactions. ``meta_columns`` adds the envelope columns (``_source``,
    ``_event_id``, ``_session_id``, ``_import_job``, ``_recommendation_id``).
    """
    started = time.perf_counter()
    raw_schema: Mapping[str, Any] = json.loads(schema) if isinstance(schema, str) else schema
    types = _field_types(raw_schema)
    names = list(types)
    if codecs is None:
        reader_codec = AvroCodec(raw_schema)
        codecs = {reader_codec.fingerprint: reader_codec}
    marks = watermarks(bootstrap, topic, timeout_s=min(timeout_s, 30.0))
    ends = dict(offsets) if offsets is not None else {p: high for p, (_low, high) in marks.items()}
    ranges = {p: (marks.get(p, (0, 0))[0], end) for p, end in ends.items()}
    consumer = _consumer(bootstrap)
    try:
        with paused_gc():
            scan = _scan_topic(consumer, topic, ranges, codecs, names, time.monotonic() + timeout_s, on_undecodable)
    finally:
        consumer.close()
    generations = _generations(scan)
    indices = np.flatnonzero(_keep_mask(scan, generations, sources))
    if latest_per_id is None:
        latest_per_id = dataset_type in _ENTITY_TYPES
    if dedupe_event_ids is None:
        dedupe_event_ids = dataset_type in _EVENT_TYPES
    indices = _dedupe(indices, scan, dataset_type, latest_per_id, dedupe_event_ids)
    columns = {name: _column(scan.values[name], types[name], indices) for name in names}
    if meta_columns:
        by_code = {code: job for job, code in scan.job_ids.items()}
        picked = indices.tolist()
        groups = [scan.group[i] for i in picked]
        meta: dict[str, list[Any]] = {
            META_SOURCE: [SOURCE_PUT if g == 0 else SOURCE_BULK for g in groups],
            META_EVENT_ID: [_text(scan.event_id[i]) for i in picked],
            META_SESSION_ID: [_text(scan.session_id[i]) for i in picked],
            META_IMPORT_JOB: [by_code.get(g) for g in groups],
            META_RECOMMENDATION_ID: [_text(scan.recommendation_id[i]) for i in picked],
        }
        for name, values in meta.items():
            arr = np.empty(len(values), dtype=object)
            arr[:] = values
            columns[name] = arr
    seconds = time.perf_counter() - started
    snapshot = DatasetSnapshot(topic, columns, dict(ends), generations, scan.records, seconds)
    log.info(
        "dataset snapshot read",
        extra={
            "topic": topic,
            "records": scan.records,
            "rows": snapshot.num_rows,
            "seconds": round(seconds, 3),
            "undecodable": scan.undecodable,
        },
    )
    return snapshot
