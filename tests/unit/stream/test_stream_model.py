"""The state semantics (``tailor_stream.model``, mirrored by the Lua script) without a broker or Redis."""

from __future__ import annotations

import random
import time
import zlib
from collections.abc import Sequence
from typing import Any

import pytest

from tailor_shared import redis_keys as rk
from tailor_shared.records import DecodedRecord, decode_record
from tailor_shared.topics import H_EVENT_ID, H_SESSION_ID, H_SOURCE
from tailor_stream.domain import (
    Batch,
    InteractionOp,
    MetadataOp,
    Op,
    OpsConfig,
    TopicPartitionState,
    TrendWindow,
    build_op,
    field_kinds,
)
from tailor_stream.model import StateModel
from tailor_tools import workload as wl

NOW = 1_700_000_000
KEYS = rk.Keys("t", "g")
CFG = OpsConfig(history_cap=4, item_window=3, action_window=5, trend_windows=(TrendWindow(3600, 3600),))
U1, U2, S1 = rk.user_subject("u1"), rk.user_subject("u2"), rk.session_subject("s1")


def event(
    user: str,
    item: str,
    ts: int,
    event_type: str = "click",
    *,
    session: str | None = None,
    event_id: str | None = "auto",
    bulk: bool = False,
    action: bool = False,
    config: OpsConfig = CFG,
) -> InteractionOp:
    headers = {H_SOURCE: "bulk" if bulk else "put"}
    if event_id is not None:
        headers[H_EVENT_ID] = f"{user}-{item}-{ts}-{event_type}" if event_id == "auto" else event_id
    if session is not None:
        headers[H_SESSION_ID] = session
    id_field = "ACTION_ID" if action else "ITEM_ID"
    row = {"USER_ID": user, id_field: item, "TIMESTAMP": ts, "EVENT_TYPE": event_type}
    op = build_op(
        KEYS,
        "Action_Interactions" if action else "Interactions",
        DecodedRecord(headers, row),
        user.encode(),
        repr(row).encode(),
        {},
        config,
        NOW,
    )
    assert isinstance(op, InteractionOp)
    return op


def metadata(entity_id: str, **fields: Any) -> MetadataOp:
    kinds = field_kinds(wl.SCHEMAS["Items"])
    op = build_op(KEYS, "Items", DecodedRecord({}, {"ITEM_ID": entity_id, **fields}), None, None, kinds, CFG, NOW)
    assert isinstance(op, MetadataOp)
    return op


class Stream:
    """Feeds ops to a model as one partition, offsets counting up."""

    def __init__(self, model: StateModel | None = None, config: OpsConfig = CFG) -> None:
        self.model = model or StateModel()
        self.config = config
        self.offset = 0

    def apply(self, *ops: Op, start: int | None = None) -> Any:
        first = self.offset if start is None else start
        expect = KEYS.offsets() in self.model.hashes
        records = [(0, first + i, op) for i, op in enumerate(ops)]
        batch = Batch(KEYS, self.config, [TopicPartitionState("interactions:0", expect, first + len(ops) - 1)], records)
        self.offset = max(self.offset, first + len(ops))
        return self.model.apply(batch)

    def zset(self, key: str) -> dict[str, float]:
        return self.model.zsets.get(key, {})

    def history_items(self, subject: str) -> list[str]:
        z = self.zset(KEYS.history(subject))
        ordered = sorted(z.items(), key=lambda kv: (-kv[1], kv[0]))
        return [rk.parse_history_member(m, s).item_id for m, s in ordered]

    def window_items(self, subject: str, event_type: str) -> list[str]:
        z = self.zset(KEYS.window(subject, event_type))
        return [rk.window_member_item(m) for m, _ in sorted(z.items(), key=lambda kv: (-kv[1], kv[0]))]


# --- real-time history ----------------------------------------------------------------------------------
def test_history_keeps_the_most_recent_by_timestamp_and_ignores_bulk_rows() -> None:
    s = Stream()
    s.apply(*(event("u1", f"i{n}", NOW - 100 + n) for n in range(6)))
    s.apply(event("u1", "late", NOW - 1000))  # older than everything kept: trimmed at once
    s.apply(event("u1", "bulk", NOW, bulk=True))
    assert s.history_items(U1) == ["i5", "i4", "i3", "i2"]
    # bulk rows still count for filters (they're in the window)
    assert "bulk" in s.window_items(U1, "click")


def test_history_members_carry_item_type_and_value() -> None:
    s = Stream()
    s.apply(event("u1", "i1", NOW, "Watch"))
    ((member, score),) = s.zset(KEYS.history(U1)).items()
    entry = rk.parse_history_member(member, score)
    assert (entry.item_id, entry.event_type, entry.timestamp) == ("i1", "Watch", NOW)


# --- filter windows --------------------------------------------------------------------------------------
def test_window_counts_interactions_per_event_type_case_insensitively() -> None:
    s = Stream()
    s.apply(event("u1", "a", NOW - 5), event("u1", "a", NOW - 4), event("u1", "b", NOW - 3, "Click"))
    s.apply(event("u1", "c", NOW - 2, "CLICK"), event("u1", "x", NOW - 1, "watch"))
    # window of 3 interactions: the repeated "a" keeps only its newer interaction
    assert s.window_items(U1, "click") == ["c", "b", "a"]
    assert s.window_items(U1, "watch") == ["x"]
    assert s.model.sets[KEYS.event_types(U1)] == {"click", "watch"}


def test_any_type_window_is_the_union_of_the_per_type_windows() -> None:
    s = Stream()
    s.apply(event("u1", "a", NOW - 10, "watch"), event("u1", "a", NOW - 9), event("u1", "b", NOW - 8))
    s.apply(event("u1", "c", NOW - 7), event("u1", "d", NOW - 6))  # click window now d, c, b: "a" left it
    union = s.zset(KEYS.window_all(U1))
    assert set(union) == {"a", "b", "c", "d"}  # "a" is still in the watch window
    assert union["a"] == 1.0
    s.apply(*(event("u1", f"w{n}", NOW - 5 + n, "watch") for n in range(3)))  # pushes "a" out of watch too
    assert "a" not in s.zset(KEYS.window_all(U1))


def test_action_windows_use_their_own_cap() -> None:
    s = Stream()
    s.apply(*(event("u1", f"a{n}", NOW - 10 + n, "Taken", action=True) for n in range(7)))
    assert len(s.zset(KEYS.action_window(U1, "taken"))) == CFG.action_window
    assert not s.zset(KEYS.window(U1, "taken"))
    assert len(s.zset(KEYS.action_history(U1))) == CFG.history_cap


# --- idempotency -----------------------------------------------------------------------------------------
def test_a_repeated_event_id_counts_once() -> None:
    s = Stream()
    first = event("u1", "i1", NOW, event_id="e-1")
    result = s.apply(first, event("u1", "i1", NOW, event_id="e-1"), event("u1", "i1", NOW, event_id="e-2"))
    assert result.duplicates == 1
    assert s.zset(KEYS.popularity_count("click"))["i1"] == 2.0
    assert len(s.zset(KEYS.window(U1, "click"))) == 2


def test_a_repeat_right_after_a_burst_within_one_second_counts_once() -> None:
    """TIMESTAMP is in seconds, so a busy subject's events of one second tie; trimming the memory by rank then
    dropped some of the newest tokens (the ones sorting first), and a client's retry of such an event right
    after it was counted again (tests/cluster: 6,848 counted where the topic held 6,845 distinct events)."""
    cfg = OpsConfig(history_cap=4, item_window=3, action_window=5, trend_windows=(), dedup_window=10)
    s = Stream(config=cfg)
    burst = [event("u1", "i1", NOW, event_id=f"e-{n}", config=cfg) for n in range(3 * cfg.dedup_window)]
    s.apply(*burst)
    again = s.apply(*(event("u1", "i1", NOW, event_id=f"e-{n}", config=cfg) for n in range(len(burst))))
    assert again.duplicates == len(burst)
    assert s.zset(KEYS.popularity_count("click"))["i1"] == len(burst)
    # Once the window's worth of strictly newer events arrived, the memory of that second is dropped.
    s.apply(*(event("u1", "i2", NOW + 1, event_id=f"n-{n}", config=cfg) for n in range(cfg.dedup_window)))
    assert len(s.zset(KEYS.dedup(U1))) == cfg.dedup_window


def test_records_without_event_id_are_identified_by_content() -> None:
    s = Stream()
    same = [event("u1", "i1", NOW, event_id=None), event("u1", "i1", NOW, event_id=None)]
    assert s.apply(*same).duplicates == 1
    assert s.apply(event("u1", "i1", NOW + 1, event_id=None)).duplicates == 0


def test_replayed_offsets_change_nothing() -> None:
    s = Stream()
    ops = [event("u1", f"i{n}", NOW + n) for n in range(5)]
    s.apply(*ops)
    before = s.model.snapshot()
    result = s.apply(*ops, start=0)
    assert (result.replayed, result.applied) == (5, 0)
    assert s.model.snapshot() == before
    # a batch straddling the watermark applies only the new tail
    result = s.apply(*ops[3:], event("u1", "new", NOW + 9), start=3)
    assert (result.replayed, result.applied) == (2, 1)


def test_a_vanished_watermark_applies_nothing() -> None:
    s = Stream()
    s.apply(event("u1", "i1", NOW))
    s.model = StateModel()  # Redis wiped
    batch = Batch(KEYS, CFG, [TopicPartitionState("interactions:0", True, 1)], [(0, 1, event("u1", "i2", NOW))])
    assert s.model.apply(batch).lost == "interactions:0"
    assert s.model.snapshot() == {}


def test_a_watermark_behind_what_was_applied_applies_nothing() -> None:
    """A failover to a replica that missed acknowledged writes: Redis holds watermark 0 while the worker saw 2."""
    s = Stream()
    s.apply(event("u1", "i1", NOW))
    before = s.model.snapshot()
    records: list[tuple[int, int, Op]] = [(0, 3, event("u1", "i4", NOW + 3))]
    behind = Batch(KEYS, CFG, [TopicPartitionState("interactions:0", True, 3, floor=2)], records)
    assert s.model.apply(behind).lost == "interactions:0"
    assert s.model.snapshot() == before
    level = [TopicPartitionState("interactions:0", True, 1, floor=0)]
    assert s.model.apply(Batch(KEYS, CFG, level, [(0, 1, event("u1", "i2", NOW))])).lost is None


# --- anonymous sessions --------------------------------------------------------------------------------
def test_session_history_merges_into_the_user_once_an_event_carries_both() -> None:
    s = Stream()
    s.apply(event("", "a1", NOW - 30, session="s1"), event("", "a2", NOW - 20, "watch", session="s1"))
    assert s.history_items(S1) == ["a2", "a1"]
    assert not s.history_items(U1)
    s.apply(event("u1", "b1", NOW - 10, session="s1"))
    assert s.history_items(U1) == ["b1", "a2", "a1"]
    assert s.window_items(U1, "watch") == ["a2"]
    assert s.model.sets[KEYS.session_users("s1")] == {U1}
    # later session-only events of the linked session reach the user too; the session keeps its own
    s.apply(event("", "a3", NOW, session="s1"))
    assert s.history_items(U1)[0] == "a3"
    assert s.history_items(S1) == ["a3", "a2", "a1"]
    # merged events are not counted again
    assert s.zset(KEYS.popularity_count())["a1"] == 1.0


def test_a_user_id_equal_to_the_session_id_is_anonymous() -> None:
    s = Stream()
    s.apply(event("s1", "a1", NOW, session="s1"))
    assert s.history_items(S1) == ["a1"] and not s.history_items(rk.user_subject("s1"))


def test_session_merge_does_not_depend_on_arrival_order() -> None:
    """Session-only events are keyed by session, the linking event by user: they sit on different partitions
    and may be applied in any relative order; the state must not care (a rebuild replays in another)."""
    session_events = [event("", f"a{n}", NOW - 50 + n, session="s1") for n in range(4)]
    link = event("u1", "b", NOW - 46, session="s1")
    user_events = [link, event("u1", "c", NOW - 10)]
    snapshots = []
    for seed in range(12):
        rnd = random.Random(seed)
        merged: list[Op] = []
        a, b = list(session_events), list(user_events)
        while a or b:
            source = a if (a and (not b or rnd.random() < 0.5)) else b
            merged.append(source.pop(0))
        s = Stream()
        for op in merged:
            s.apply(op)
        snap = s.model.snapshot()
        snap.pop(KEYS.offsets())
        snapshots.append(snap)
    assert all(snap == snapshots[0] for snap in snapshots)
    s = Stream()
    s.apply(*session_events, *user_events)
    assert s.history_items(U1) == ["c", "b", "a3", "a2"]  # capped at 4 by timestamp


def test_a_session_linked_to_two_users_feeds_both() -> None:
    s = Stream()
    s.apply(event("", "a", NOW - 5, session="s1"), event("u1", "x", NOW - 4, session="s1"))
    s.apply(event("u2", "y", NOW - 3, session="s1"), event("", "z", NOW - 2, session="s1"))
    assert set(s.history_items(U1)) == {"a", "x", "z"}
    assert set(s.history_items(U2)) == {"a", "y", "z"}


def test_session_keys_expire_after_the_session_ttl_and_user_keys_never() -> None:
    s = Stream()
    s.apply(event("", "a", NOW - 5, session="s1"), event("u1", "x", NOW - 4))
    assert s.model.expiry[KEYS.history(S1)] == NOW - 5 + CFG.session_ttl_s
    assert KEYS.history(U1) not in s.model.expiry


# --- metadata --------------------------------------------------------------------------------------------
def test_metadata_keeps_the_latest_row_and_a_value_index() -> None:
    s = Stream()
    s.apply(metadata("i1", GENRES="Comedy|Drama", BRAND="acme", PRICE=9.5, DESCRIPTION="text"))
    assert s.model.hashes[KEYS.metadata("item", "i1")] == {
        "GENRES": "Comedy|Drama",
        "BRAND": "acme",
        "PRICE": "9.5",
        "DESCRIPTION": "text",
    }
    assert s.model.sets[KEYS.value_index("item", "GENRES", "Comedy")] == {"i1"}
    assert s.model.sets[KEYS.value_index("item", "GENRES", "Drama")] == {"i1"}
    assert s.model.sets[KEYS.value_index("item", "BRAND", "acme")] == {"i1"}
    assert s.zset(KEYS.numeric_index("item", "PRICE")) == {"i1": 9.5}
    assert not any(":DESCRIPTION:" in k for k in s.model.sets)  # textual: never filterable
    s.apply(metadata("i1", GENRES="Drama|Horror", BRAND=None, PRICE=None, DESCRIPTION=None))
    assert s.model.hashes[KEYS.metadata("item", "i1")] == {"GENRES": "Drama|Horror"}
    assert KEYS.value_index("item", "GENRES", "Comedy") not in s.model.sets
    assert s.model.sets[KEYS.value_index("item", "GENRES", "Horror")] == {"i1"}
    assert KEYS.value_index("item", "BRAND", "acme") not in s.model.sets
    assert KEYS.numeric_index("item", "PRICE") not in s.model.zsets


# --- popularity and trends -------------------------------------------------------------------------------
def test_popularity_counts_and_distinct_users_by_event_type() -> None:
    s = Stream()
    s.apply(event("u1", "i1", NOW - 3), event("u1", "i1", NOW - 2), event("u2", "i1", NOW - 1, "buy"))
    assert s.zset(KEYS.popularity_count("click")) == {"i1": 2.0}
    assert s.zset(KEYS.popularity_count()) == {"i1": 3.0}
    assert s.zset(KEYS.popularity_users("click")) == {"i1": 1.0}
    assert s.zset(KEYS.popularity_users()) == {"i1": 2.0}


def test_trend_windows_count_by_event_time_and_old_windows_are_dropped() -> None:
    s = Stream()
    hour = 3600
    base = ((NOW - 20 * hour) // hour) * hour
    s.apply(event("u1", "i1", base - 2 * hour + 5), event("u2", "i1", base - hour + 5), event("u3", "i1", base + 5))
    assert s.model.hashes[KEYS.trend(hour, base - hour)] == {"i1": "1"}
    assert s.model.hashes[KEYS.trend(hour, base)] == {"i1": "1"}
    assert s.model.strings[KEYS.trend_max_ts()] == str(base + 5)
    # an event far later makes windows older than TREND_RETAIN_SIZES sizes go away
    s.apply(event("u1", "i2", base + 10 * hour))
    assert KEYS.trend(hour, base) not in s.model.hashes
    assert set(s.zset(KEYS.trend_index(hour))) == {str(base + 10 * hour)}


def test_events_from_the_future_do_not_enter_trends() -> None:
    op = event("u1", "i1", NOW + 2 * CFG.trend_future_s)
    assert op.trends == ()


# --- the determinism a rebuild relies on ---------------------------------------------------------------
def _partition_ops(config: OpsConfig) -> list[list[Op]]:
    group = wl.DatasetGroup("t", "g")
    records = wl.to_records(group, list(wl.mixed_workload(7, 600, NOW)))
    codecs = {c.fingerprint: c for c in group.codecs.values()}
    kinds = {group.codecs[t].fingerprint: field_kinds(s) for t, s in group.schemas.items()}
    types = {group.topic(t): t for t in group.schemas}
    partitions: dict[tuple[str, int], list[Op]] = {}
    for rec in records:
        decoded = decode_record(rec.headers, rec.value, codecs)
        fp = decoded.schema_fingerprint or ""
        op = build_op(KEYS, types[rec.topic], decoded, rec.key, rec.value, kinds[fp], config, NOW)
        partition = zlib.crc32(rec.key or b"") % 4
        partitions.setdefault((rec.topic, partition), []).append(op)
    return list(partitions.values())


def _interleave(parts: Sequence[list[Op]], seed: int) -> list[Op]:
    rnd = random.Random(seed)
    queues = [list(p) for p in parts]
    out: list[Op] = []
    while any(queues):
        queue = rnd.choice([q for q in queues if q])
        out.append(queue.pop(0))
    return out


@pytest.mark.parametrize("batch_size", [1, 37])
def test_state_is_the_same_for_any_interleaving_of_partitions(batch_size: int) -> None:
    """Kafka orders records only within a partition; a replay may interleave partitions differently."""
    config = OpsConfig()
    parts = _partition_ops(config)
    snapshots = []
    for seed in range(3):
        ops = _interleave(parts, seed)
        s = Stream(config=config)
        for i in range(0, len(ops), batch_size):
            s.apply(*ops[i : i + batch_size])
        snap = s.model.snapshot(time.time())
        snap.pop(KEYS.offsets())
        snapshots.append(snap)
    assert len(snapshots[0]) > 100
    assert snapshots[1] == snapshots[0] and snapshots[2] == snapshots[0]
