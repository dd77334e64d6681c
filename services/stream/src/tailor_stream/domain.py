"""Pure core of the stream: a decoded dataset record becomes one state operation (no I/O).

An operation says exactly what to write and carries every key part already escaped, so the Lua script
(``apply_batch.lua``, fed by ``lua.py``) and the in-memory reference model (``model.py``) apply the same
thing. The rules:

* Interactions and action interactions belong to a *subject*: the user, or the anonymous session when the
  row has no ``USER_ID`` (or one equal to the session id). A user event that carries a session id links
  the session to the user; the session's history is merged into the user's (L14378-L14403).
* Bulk rows (``tailor-source: bulk``) feed filters, popularity and trends but never the real-time history:
  "bulk imports are never used for real-time personalization" (L14479).
* The dedup identity of an event is its ``tailor-event-id`` (or a content hash); see ADR 0007.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from tailor_shared import redis_keys as rk
from tailor_shared import topics
from tailor_shared.records import DecodedRecord
from tailor_shared.topics import SOURCE_BULK

Kind = Literal["c", "s", "n", "x"]  # categorical, plain string, numeric, not indexed

#: Entity name used in metadata keys, per dataset type, and the field holding the entity id.
METADATA_TYPES: dict[str, tuple[str, str]] = {
    "Items": ("item", "ITEM_ID"),
    "Users": ("user", "USER_ID"),
    "Actions": ("action", "ACTION_ID"),
}
INTERACTION_TYPES: dict[str, str] = {"Interactions": "ITEM_ID", "Action_Interactions": "ACTION_ID"}
_NUMERIC = frozenset({"int", "long", "float", "double"})


class BadRecord(Exception):
    """A record that cannot be applied; it goes to the dead-letter topic with ``reason``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


#: A dataset topic's parts: group name and incarnation, dataset type and incarnation (ADR 0012).
DatasetTopic = topics.DatasetTopicName


def parse_dataset_topic(prefix: str, topic: str) -> DatasetTopic | None:
    """A dataset topic's name -> its parts (``tailor_shared.topics``); None for any other topic."""
    return topics.parse_dataset_topic(prefix, topic)


def field_kinds(schema: str | Mapping[str, Any]) -> dict[str, Kind]:
    """Upper-case field name -> how its values are indexed: categorical strings split on ``|``, plain strings
    as one value, numbers in a sorted set; textual and boolean fields are never filterable (L15282)."""
    raw: Mapping[str, Any] = json.loads(schema) if isinstance(schema, str) else schema
    kinds: dict[str, Kind] = {}
    for avro_field in raw.get("fields", ()):
        primitive = _primitive(avro_field.get("type"))
        kind: Kind = "x"
        if primitive == "string" and not avro_field.get("textual"):
            kind = "c" if avro_field.get("categorical") else "s"
        elif primitive in _NUMERIC:
            kind = "n"
        kinds[str(avro_field["name"]).upper()] = kind
    return kinds


def _primitive(avro_type: Any) -> str | None:
    if isinstance(avro_type, str):
        return None if avro_type == "null" else avro_type
    if isinstance(avro_type, list):
        found = [p for p in (_primitive(t) for t in avro_type) if p is not None]
        return found[0] if len(found) == 1 else None
    if isinstance(avro_type, Mapping):
        return _primitive(avro_type.get("type"))
    return None


@dataclass(frozen=True)
class TrendWindow:
    """A hopping window family: windows of ``size_s`` starting every ``step_s`` seconds."""

    size_s: int
    step_s: int


@dataclass(frozen=True)
class OpsConfig:
    """What shapes operations and the state caps (from ``StreamSettings``)."""

    history_cap: int = rk.HISTORY_CAP
    item_window: int = rk.ITEM_WINDOW
    action_window: int = rk.ACTION_WINDOW
    dedup_window: int = rk.DEDUP_WINDOW  # per subject: how many of its own recent event tokens are remembered
    trend_windows: tuple[TrendWindow, ...] = tuple(TrendWindow(s, s) for s in rk.TREND_FREQUENCIES_S)
    session_ttl_s: int = 30 * 86400
    user_ttl_s: int = 0
    trend_future_s: int = 3600  # events stamped further in the future don't enter trends

    @property
    def trend_sizes(self) -> tuple[int, ...]:
        return tuple(sorted({w.size_s for w in self.trend_windows}))


@dataclass(slots=True)
class InteractionOp:
    """One (action) interaction of a subject. Every string is ready to concatenate into keys/members."""

    action: bool
    subject: str  # "u:<id>" or "s:<id>" (escaped)
    anonymous: bool  # the subject is a session: forward to the users linked to it
    link: str | None  # a user event's session subject: link it and merge its history
    token: str
    score: str  # TIMESTAMP as the sorted-set score
    timestamp: float
    event_type: str  # case-folded, escaped
    window_member: str
    item: str  # raw item / action id
    item_key: str  # escaped item id (popularity HLL key part)
    history_member: str | None  # None for bulk rows
    trends: tuple[tuple[int, int], ...] = ()  # (size, start) of every trend window holding the event


@dataclass(slots=True)
class MetadataOp:
    """The latest Items/Users/Actions row of one entity; ``fields`` = (FIELD, kind, value or None)."""

    entity: str
    entity_id: str
    key: str
    fields: tuple[tuple[str, Kind, str | None], ...]


Op = InteractionOp | MetadataOp


def build_op(
    keys: rk.Keys,
    dataset_type: str,
    record: DecodedRecord,
    kafka_key: bytes | None,
    kafka_value: bytes | None,
    kinds: Mapping[str, Kind],
    config: OpsConfig,
    now: float,
) -> Op:
    """The operation for one decoded row; raises ``BadRecord`` when the row can't be one of its dataset."""
    row = record.row
    if row is None:
        raise BadRecord("undecodable", "record has no row")
    upper = {str(k).upper(): v for k, v in row.items()}
    if dataset_type in METADATA_TYPES:
        return _metadata_op(keys, dataset_type, upper, kinds)
    if dataset_type in INTERACTION_TYPES:
        return _interaction_op(keys, dataset_type, record, upper, kafka_key, kafka_value, config, now)
    raise BadRecord("schema-mismatch", f"unknown dataset type {dataset_type}")


def _metadata_op(keys: rk.Keys, dataset_type: str, row: Mapping[str, Any], kinds: Mapping[str, Kind]) -> MetadataOp:
    entity, id_field = METADATA_TYPES[dataset_type]
    entity_id = _text(row.get(id_field))
    if not entity_id:
        raise BadRecord("schema-mismatch", f"{dataset_type} row has no {id_field}")
    fields: list[tuple[str, Kind, str | None]] = []
    for name, value in row.items():
        if name == id_field:
            continue
        kind = kinds.get(name, "x")
        if kind == "n" and isinstance(value, float) and math.isnan(value):
            kind = "x"  # NaN has no place in a sorted set
        fields.append((name, kind, rk.format_value(value)))
    return MetadataOp(entity, entity_id, keys.metadata(entity, entity_id), tuple(fields))


def _interaction_op(
    keys: rk.Keys,
    dataset_type: str,
    record: DecodedRecord,
    row: Mapping[str, Any],
    kafka_key: bytes | None,
    kafka_value: bytes | None,
    config: OpsConfig,
    now: float,
) -> InteractionOp:
    item_field = INTERACTION_TYPES[dataset_type]
    item = _text(row.get(item_field))
    if not item:
        raise BadRecord("schema-mismatch", f"{dataset_type} row has no {item_field}")
    timestamp = row.get("TIMESTAMP")
    if not isinstance(timestamp, int | float) or isinstance(timestamp, bool) or not math.isfinite(timestamp):
        raise BadRecord("schema-mismatch", f"{dataset_type} row has no numeric TIMESTAMP")
    user = _text(row.get("USER_ID"))
    session = record.session_id or None
    if user and user != session:
        subject, anonymous = rk.user_subject(user), False
        link = rk.session_subject(session) if session else None
    elif session:
        subject, anonymous, link = rk.session_subject(session), True, None
    else:
        raise BadRecord("schema-mismatch", f"{dataset_type} row has neither USER_ID nor a session id")
    event_type = _text(row.get("EVENT_TYPE"))
    raw_value = row.get("EVENT_VALUE")
    event_value = float(raw_value) if isinstance(raw_value, int | float) and not isinstance(raw_value, bool) else None
    token = rk.event_token(record.event_id) if record.event_id else rk.content_token(kafka_key, kafka_value)
    bulk = record.source == SOURCE_BULK
    action = dataset_type == "Action_Interactions"
    trends: tuple[tuple[int, int], ...] = ()
    if not action and timestamp <= now + config.trend_future_s:
        trends = trend_windows_of(float(timestamp), config.trend_windows)
    return InteractionOp(
        action=action,
        subject=subject,
        anonymous=anonymous,
        link=link,
        token=token,
        score=_score(timestamp),
        timestamp=float(timestamp),
        event_type=rk.event_type_token(event_type),
        window_member=rk.window_member(token, item),
        item=item,
        item_key=rk.escape(item),
        history_member=None if bulk else rk.history_member(token, item, event_type, event_value),
        trends=trends,
    )


def trend_windows_of(timestamp: float, windows: Iterable[TrendWindow]) -> tuple[tuple[int, int], ...]:
    """Every distinct (size, start) window holding the timestamp: a window shared by two families (same size,
    one step a multiple of the other) is counted once."""
    ts = math.floor(timestamp)
    found: list[tuple[int, int]] = []
    for w in windows:
        if w.step_s == w.size_s:  # tumbling: the common case, one window
            found.append((w.size_s, ts - ts % w.size_s))
        else:
            found.extend((w.size_s, start) for start in rk.window_starts(ts, w.size_s, w.step_s))
    return tuple(sorted(set(found)))


def _score(timestamp: int | float) -> str:
    if isinstance(timestamp, int) or float(timestamp).is_integer():
        return str(int(timestamp))
    return repr(float(timestamp))


def _text(value: object) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


@dataclass
class TopicPartitionState:
    """One partition's part of a batch: its offsets-hash field, whether Redis must already hold its
    watermark (False right after a seek to the beginning), and the highest offset in the batch.

    ``floor`` is the watermark this process last saw applied (-1: none). A lower one in Redis means Redis lost
    acknowledged writes (a failover to a replica that had not received them, ADR 0025 §9): nothing is applied
    and the partition is replayed from what Redis holds, so no record is skipped and none is counted twice."""

    field: str
    expect: bool
    high: int
    floor: int = -1


@dataclass
class Batch:
    """One atomic unit: records of one dataset group, applied by one Lua call."""

    keys: rk.Keys
    config: OpsConfig
    partitions: list[TopicPartitionState] = field(default_factory=list)
    records: list[tuple[int, int, Op]] = field(default_factory=list)  # (partition index, offset, op)


@dataclass(frozen=True)
class BatchResult:
    lost: str | None  # offsets field whose watermark vanished or went back: nothing was applied
    applied: int = 0
    duplicates: int = 0
    replayed: int = 0
