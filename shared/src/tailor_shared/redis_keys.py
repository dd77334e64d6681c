"""Redis keys and value formats of the stream's serving state (docs/specs/redis-keys.md).

The stream service writes these keys; the runtime reads them. Both build key names only here, so the
layout has one definition. Everything is pure: names, member encodings, window arithmetic and the trending
growth rule; no I/O.

Layout rules:

* Every key of a dataset group starts with ``<prefix>:{<group tag>}:``, the tag being ``<name>.<incarnation>``
  (``group_tag``; ``<name>`` alone for a legacy group, ADR 0012). The braces are a Redis
  Cluster hash tag: all keys of a dataset group live in one slot, so the stream updates them atomically in
  one Lua call per batch and the runtime reads everything one request needs in one pipelined round trip.
* Variable parts (ids, event types, values) are escaped (``%`` ``:`` ``*`` percent-encoded), so no two
  different ids can build the same key and ``*`` stays free to mean "all event types".
* Event types are case-folded in keys: filters match event types case-insensitively (L15284).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tailor_shared.incarnation import incarnation_of

#: Personalize's filter windows: most recent interactions per user per event type (L15258, L15262).
ITEM_WINDOW = 100
ACTION_WINDOW = 300
#: Default length of a user's real-time interaction history (the user-personalization model's input).
HISTORY_CAP = 200
#: Default number of a subject's own most recent event tokens remembered to drop repeated event ids.
DEDUP_WINDOW = 200
#: Token for "every event type" in popularity keys (a literal ``*`` event type is escaped to ``%2A``).
ALL_EVENT_TYPES = "*"
#: Trend windows are kept while they end less than this many window sizes before the newest event.
TREND_RETAIN_SIZES = 3
#: Trend discovery frequencies of Trending-Now (L6347-L6410; 2 hours is the API default), in seconds.
TREND_FREQUENCIES_S: tuple[int, ...] = (1800, 3600, 7200, 10800, 86400)
#: Length of the hex token that prefixes every interaction member (the dedup identity of the event).
TOKEN_LEN = 16

_ESCAPES = {"%": "%25", ":": "%3A", "*": "%2A"}


def escape(part: str) -> str:
    """Percent-encode the characters that structure key names. The one Python definition; the stream's
    ``apply_batch.lua`` has the same ``esc`` (tests/integration/test_stream_lua.py checks they agree)."""
    if "%" not in part and ":" not in part and "*" not in part:
        return part
    return "".join(_ESCAPES.get(ch, ch) for ch in part)


def unescape(part: str) -> str:
    out = part
    for ch, code in _ESCAPES.items():
        if ch != "%":
            out = out.replace(code, ch)
    return out.replace("%25", "%")


def event_type_token(event_type: str | None) -> str:
    """Event types match case-insensitively (L15284): keys hold the case-folded, escaped form."""
    return escape((event_type or "").casefold())


def event_token(event_id: str) -> str:
    """The 16-hex dedup identity of an event, from its ``tailor-event-id``."""
    return hashlib.blake2b(event_id.encode(), digest_size=TOKEN_LEN // 2).hexdigest()


def content_token(key: bytes | None, value: bytes | None) -> str:
    """Dedup identity of a record without an event id: identical records are one event (L13669)."""
    digest = hashlib.blake2b(digest_size=TOKEN_LEN // 2)
    digest.update(key or b"")
    digest.update(b"\x00")
    digest.update(value or b"")
    return digest.hexdigest()


def user_subject(user_id: str) -> str:
    return "u:" + escape(user_id)


def session_subject(session_id: str) -> str:
    return "s:" + escape(session_id)


def namespace(prefix: str, dataset_group: str) -> str:
    return f"{prefix}:{{{dataset_group}}}"


def group_tag(dataset_group_name: str, group_incarnation: str | None) -> str:
    """A dataset group's storage name, the hash-tagged part of its keys (ADR 0012): ``<name>.<incarnation>``,
    or ``<name>`` for a legacy group (a record without ``_incarnation``). Group names never contain a dot
    (``[a-zA-Z0-9][a-zA-Z0-9\\-_]*``), so the tag is unambiguous."""
    return dataset_group_name if group_incarnation is None else f"{dataset_group_name}.{group_incarnation}"


@dataclass(frozen=True)
class Keys:
    """Key builder for one dataset group. ``subject`` arguments are ``user_subject``/``session_subject``.

    ``dataset_group`` is the group's storage name (``group_tag``); build it from the group's record with
    ``Keys.for_group`` so that a new dataset group with a reused name never sees an old one's keys."""

    prefix: str
    dataset_group: str

    @classmethod
    def for_group(cls, prefix: str, group: Mapping[str, Any] | Any) -> Keys:
        """The keys of a dataset group's incarnation, from its record (a ``ResourceRecord`` or its body)."""
        body = group if isinstance(group, Mapping) else group.body
        return cls(prefix, group_tag(str(body["name"]), incarnation_of(body)))

    @property
    def ns(self) -> str:
        return namespace(self.prefix, self.dataset_group)

    # --- per user / per anonymous session ------------------------------------------------------------
    def subject(self, subject: str) -> str:
        """Key prefix of a subject; the Lua script appends the suffixes below to it."""
        return f"{self.ns}:{subject}"

    def history(self, subject: str) -> str:
        return f"{self.ns}:{subject}:h"

    def action_history(self, subject: str) -> str:
        return f"{self.ns}:{subject}:ah"

    def window(self, subject: str, event_type: str | None) -> str:
        return f"{self.ns}:{subject}:w:{event_type_token(event_type)}"

    def window_all(self, subject: str) -> str:
        return f"{self.ns}:{subject}:wa"

    def action_window(self, subject: str, event_type: str | None) -> str:
        return f"{self.ns}:{subject}:aw:{event_type_token(event_type)}"

    def action_window_all(self, subject: str) -> str:
        return f"{self.ns}:{subject}:awa"

    def dedup(self, subject: str) -> str:
        return f"{self.ns}:{subject}:d"

    def action_dedup(self, subject: str) -> str:
        return f"{self.ns}:{subject}:ad"

    def event_types(self, subject: str) -> str:
        return f"{self.ns}:{subject}:t"

    def action_event_types(self, subject: str) -> str:
        return f"{self.ns}:{subject}:at"

    def session_users(self, session_id: str) -> str:
        return f"{self.ns}:{session_subject(session_id)}:users"

    # --- metadata ----------------------------------------------------------------------------------------
    def metadata(self, entity: str, entity_id: str) -> str:
        """``entity``: ``item``, ``user`` or ``action``."""
        return f"{self.ns}:m:{entity}:{escape(entity_id)}"

    def value_index(self, entity: str, field: str, value: str) -> str:
        return f"{self.ns}:ix:{entity}:{field.upper()}:{escape(value)}"

    def numeric_index(self, entity: str, field: str) -> str:
        return f"{self.ns}:nx:{entity}:{field.upper()}"

    # --- popularity and trends -----------------------------------------------------------------------
    def popularity_count(self, event_type: str | None = None) -> str:
        return f"{self.ns}:pop:n:{_type_or_all(event_type)}"

    def popularity_users(self, event_type: str | None = None) -> str:
        return f"{self.ns}:pop:u:{_type_or_all(event_type)}"

    def popularity_hll(self, item_id: str, event_type: str | None = None) -> str:
        return f"{self.ns}:pop:hll:{_type_or_all(event_type)}:{escape(item_id)}"

    def trend(self, size_s: int, start_s: int) -> str:
        return f"{self.ns}:tr:{size_s}:{start_s}"

    def trend_index(self, size_s: int) -> str:
        return f"{self.ns}:tr:{size_s}:idx"

    def trend_max_ts(self) -> str:
        return f"{self.ns}:tr:maxts"

    # --- metric attribution and impressions (ADR 0022; the stream's attribution worker) -----------------
    # Beside the group's namespace, not in it (same hash tag, so same cluster slot): the state processor's
    # rebuilds and wipes of ``<ns>:*`` never touch them; ``attribution_pattern`` finds them for deletion.
    @property
    def at_ns(self) -> str:
        return f"{self.prefix}:at:{{{self.dataset_group}}}"

    def attribution_pattern(self) -> str:
        return f"{self.at_ns}:*"

    def attribution_offsets(self) -> str:
        """The attribution worker's last applied offset per interactions partition (its own watermark)."""
        return f"{self.at_ns}:off"

    def attribution_totals(self, tag: str) -> str:
        """Hash ``<metricName>\x1f<source>`` -> running value (PutEvents and INCREMENTAL bulk data)."""
        return f"{self.at_ns}:{escape(tag)}:tot"

    def attribution_job(self, tag: str, job_arn: str, partition: int) -> str:
        """Hash ``<metricName>\x1f<source>\x1f<window>`` -> value: one import job's rows on one partition."""
        return f"{self.at_ns}:{escape(tag)}:j:{escape(job_arn)}:{partition}"

    def attribution_job_done(self, tag: str, job_arn: str) -> str:
        """Set of partitions whose import-complete marker the worker applied for the job."""
        return f"{self.at_ns}:{escape(tag)}:jd:{escape(job_arn)}"

    def impressions_shown(self) -> str:
        """Hash itemId -> how many interactions had it in their impression (explicit or recommendationId)."""
        return f"{self.at_ns}:imp:s"

    def impressions_chosen(self) -> str:
        """Hash itemId -> how many of those interactions were with the item itself."""
        return f"{self.at_ns}:imp:c"

    # --- bookkeeping ---------------------------------------------------------------------------------
    def offsets(self) -> str:
        """Last applied Kafka offset per ``<topic suffix>:<partition>``; also the "state exists" marker."""
        return f"{self.ns}:offsets"

    def stats(self) -> str:
        return f"{self.ns}:stats"

    def pattern(self) -> str:
        """SCAN pattern matching every key of the dataset group."""
        return f"{self.ns}:*"


#: Between the parts of an attribution counter field: no metric name, source or id contains it.
COUNTER_FIELD_SEP = "\x1f"


def counter_field(*parts: object) -> str:
    """An attribution hash field: ``<metricName>\x1f<source>`` (totals) or ``...\x1f<window>`` (a job's)."""
    return COUNTER_FIELD_SEP.join(str(p) for p in parts)


def split_counter_field(field: str | bytes) -> list[str]:
    return (field.decode() if isinstance(field, bytes) else field).split(COUNTER_FIELD_SEP)


def attribution_tag(body: Mapping[str, Any]) -> str:
    """What names a metric attribution's counters (``Keys.attribution_totals``): its incarnation, so a deleted
    attribution's counters are never a new one's (a record without one: its creation time in ms)."""
    return str(body.get("_incarnation") or int(float(body.get("creationDateTime") or 0) * 1000))


def recommendation_key(prefix: str, recommendation_id: str) -> str:
    """JSON ``{"source", "items"}`` of a recommendationId the runtime returned (ADR 0022): not a dataset group's
    key, the runtime does not say which group a campaign serves."""
    return f"{prefix}:rid:{escape(recommendation_id)}"


def quota_bucket(prefix: str, bucket: str) -> str:
    """A request-quota token bucket (``tailor_shared.quotas``, ADR 0023): hash ``tokens``, ``ts`` (Redis time),
    expiring a second after it was last full."""
    return f"{prefix}:quota:{escape(bucket)}"


def prefix_pattern(prefix: str) -> str:
    """SCAN pattern matching every stream key of every dataset group under a topic prefix."""
    return f"{prefix}:{{*}}:*"


def _type_or_all(event_type: str | None) -> str:
    return ALL_EVENT_TYPES if event_type is None else event_type_token(event_type)


# --- member encodings ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class HistoryEntry:
    """One interaction of a user's real-time history (score = TIMESTAMP, epoch seconds)."""

    item_id: str
    event_type: str
    event_value: float | None
    timestamp: float
    token: str


def history_member(token: str, item_id: str, event_type: str, event_value: float | None) -> str:
    """``<token>["itemId","eventType",eventValue]``: unique per event, readable without another lookup."""
    return token + json.dumps([item_id, event_type, event_value], separators=(",", ":"))


def parse_history_member(member: str | bytes, score: float) -> HistoryEntry:
    text = member.decode() if isinstance(member, bytes) else member
    item_id, event_type, event_value = json.loads(text[TOKEN_LEN:])
    return HistoryEntry(item_id, event_type, event_value, score, text[:TOKEN_LEN])


def window_member(token: str, item_id: str) -> str:
    """``<token><itemId>``: one member per interaction, so the window counts interactions, not items."""
    return token + item_id


def window_member_item(member: str | bytes) -> str:
    text = member.decode() if isinstance(member, bytes) else member
    return text[TOKEN_LEN:]


def format_value(value: object) -> str | None:
    """A metadata value as stored in a metadata hash (the string filters and metadataColumns see)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return str(int(value))
        return repr(value)
    return str(value)


def split_categorical(value: str) -> list[str]:
    """Categorical multi-values are ``|``-separated (L4517); empty parts are dropped."""
    return [part for part in value.split("|") if part]


# --- trend windows -------------------------------------------------------------------------------------
def window_starts(timestamp: float, size_s: int, step_s: int) -> list[int]:
    """Starts of every hopping window ``[start, start + size)`` (starts are multiples of ``step``) holding
    ``timestamp``, oldest first; ``step == size`` gives tumbling windows."""
    if size_s <= 0 or step_s <= 0 or step_s > size_s:
        raise ValueError(f"bad window size/step {size_s}/{step_s}")
    ts = math.floor(timestamp)
    last = ts // step_s
    first = (ts - size_s) // step_s + 1
    return [k * step_s for k in range(first, last + 1)]


def last_complete_windows(now: float, size_s: int, step_s: int, count: int = 2) -> list[int]:
    """Starts of the ``count`` most recent complete, non-overlapping windows ending at or before ``now``,
    newest first: ``[current, previous]`` is what growth compares."""
    end = (math.floor(now) // step_s) * step_s
    return [end - size_s * (i + 1) for i in range(count)]


def growth(current: float, previous: float, smoothing: float = 1.0) -> float:
    """Rate of increase between consecutive windows, ``(current - previous) / (previous + smoothing)``.

    ``smoothing`` keeps items new in the current window finite and damps tiny counts: the larger it is, the
    more volume counts against pure ratio. An item that lost interactions has negative growth."""
    return (current - previous) / (previous + smoothing)


def rank_trending(
    current: Mapping[str, float], previous: Mapping[str, float], k: int, smoothing: float = 1.0
) -> list[tuple[str, float]]:
    """Items with the highest growth, ties by higher current count then item id (deterministic)."""
    scored = [(item, growth(count, previous.get(item, 0.0), smoothing), count) for item, count in current.items()]
    scored.sort(key=lambda row: (-row[1], -row[2], row[0]))
    return [(item, score) for item, score, _count in scored[:k]]


# --- the runtime's one-round-trip read ----------------------------------------------------------------
@dataclass(frozen=True)
class UserState:
    """What one recommendation request needs about its user (the user id may be an anonymous session id)."""

    history: list[HistoryEntry]  # most recent first
    windows: dict[str, list[str]]  # case-folded event type -> item ids, most recent first (duplicates kept)
    any_type_items: frozenset[str]  # items in any event type's window (``Interactions.EVENT_TYPE IN ("*")``)
    metadata: dict[str, str]  # Users row, upper-case field names


def user_state_commands(
    keys: Keys, user_id: str, event_types: Iterable[str] = (), *, actions: bool = False, history: int = HISTORY_CAP
) -> list[tuple[Any, ...]]:
    """Commands for one pipeline: the user's state, and the anonymous session's under the same id (the guide
    says to pass the sessionId as userId, L14390). Parse the replies with ``parse_user_state``."""
    types = sorted({event_type_token(t) for t in event_types})
    hist = keys.action_history if actions else keys.history
    win = keys.action_window if actions else keys.window
    win_all = keys.action_window_all if actions else keys.window_all
    commands: list[tuple[Any, ...]] = []
    for subject in (user_subject(user_id), session_subject(user_id)):
        commands.append(("ZRANGE", hist(subject), 0, history - 1, "REV", "WITHSCORES"))
        commands.append(("ZRANGE", win_all(subject), 0, -1))
        commands.extend(("ZRANGE", win(subject, t), 0, -1, "REV") for t in types)
    commands.append(("HGETALL", keys.metadata("user", user_id)))
    return commands


def parse_user_state(
    replies: Sequence[Any], event_types: Iterable[str] = (), *, history: int = HISTORY_CAP
) -> UserState:
    """Merge the user's and the same-id session's replies of ``user_state_commands``."""
    types = sorted({event_type_token(t) for t in event_types})
    per_subject = 2 + len(types)
    entries: dict[str, HistoryEntry] = {}
    windows: dict[str, list[str]] = {}
    any_type: set[str] = set()
    for s in range(2):
        base = s * per_subject
        for member, score in _pairs(replies[base]):
            entry = parse_history_member(member, score)
            entries[entry.token] = entry
        any_type.update(_text(m) for m in replies[base + 1])
        for i, token in enumerate(types):
            windows.setdefault(unescape(token), []).extend(window_member_item(m) for m in replies[base + 2 + i])
    merged = sorted(entries.values(), key=lambda e: (-e.timestamp, e.token))[:history]
    raw_meta = replies[2 * per_subject] or {}
    if isinstance(raw_meta, list | tuple):  # HGETALL as a flat [field, value, ...] (a Lua call's reply)
        raw_meta = dict(zip(raw_meta[::2], raw_meta[1::2], strict=True))
    metadata = {_text(k): _text(v) for k, v in dict(raw_meta).items()}
    return UserState(merged, windows, frozenset(any_type), metadata)


def _pairs(reply: Any) -> list[tuple[Any, float]]:
    """ZRANGE WITHSCORES replies come as pairs or as a flat list, depending on the client."""
    if not reply:
        return []
    if isinstance(reply[0], list | tuple):
        return [(m, float(s)) for m, s in reply]
    return [(reply[i], float(reply[i + 1])) for i in range(0, len(reply), 2)]


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
