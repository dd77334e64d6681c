"""In-memory reference of the state semantics: applies a ``Batch`` exactly as the Lua script does.

It is the executable definition the unit tests exercise without a broker (session merge, filter windows,
dedup, trends); integration tests assert that Redis, after the real stream ran, equals this model fed the
same records. It mirrors Redis' own behaviour where that matters: sorted-set order (score, then member
bytes), empty aggregates disappear, sets ignore repeats.
"""

from __future__ import annotations

import math
from typing import Any

from tailor_shared.redis_keys import TREND_RETAIN_SIZES, escape
from tailor_stream.domain import Batch, BatchResult, InteractionOp, MetadataOp

Snapshot = dict[str, tuple[str, Any]]


def _zkey(item: tuple[str, float]) -> tuple[float, bytes]:
    return (item[1], item[0].encode())


class _Kind:
    def __init__(self, action: bool, cap: int) -> None:
        self.h = ":ah" if action else ":h"
        self.w = ":aw:" if action else ":w:"
        self.wa = ":awa" if action else ":wa"
        self.t = ":at" if action else ":t"
        self.d = ":ad" if action else ":d"
        self.cap = cap


class StateModel:
    """The Redis keys of the stream as Python containers."""

    def __init__(self) -> None:
        self.zsets: dict[str, dict[str, float]] = {}
        self.sets: dict[str, set[str]] = {}
        self.hashes: dict[str, dict[str, str]] = {}
        self.strings: dict[str, str] = {}
        self.hlls: dict[str, set[str]] = {}
        self.expiry: dict[str, int] = {}

    # --- Redis primitives ----------------------------------------------------------------------------
    def _zadd(self, key: str, score: float, member: str) -> bool:
        z = self.zsets.setdefault(key, {})
        new = member not in z
        z[member] = score
        return new

    def _zincr(self, key: str, member: str, n: float) -> float:
        z = self.zsets.setdefault(key, {})
        z[member] = z.get(member, 0.0) + n
        return z[member]

    def _zrem(self, key: str, member: str) -> None:
        z = self.zsets.get(key)
        if z is not None:
            z.pop(member, None)
            if not z:
                del self.zsets[key]

    def _zpopmin(self, key: str, count: int) -> list[str]:
        z = self.zsets[key]
        lowest = sorted(z.items(), key=_zkey)[:count]
        for member, _ in lowest:
            del z[member]
        if not z:
            del self.zsets[key]
        return [member for member, _ in lowest]

    def _sadd(self, key: str, member: str) -> bool:
        s = self.sets.setdefault(key, set())
        new = member not in s
        s.add(member)
        return new

    def _srem(self, key: str, member: str) -> None:
        s = self.sets.get(key)
        if s is not None:
            s.discard(member)
            if not s:
                del self.sets[key]

    # --- the script ----------------------------------------------------------------------------------
    def apply(self, batch: Batch) -> BatchResult:
        keys, config = batch.keys, batch.config
        ns = keys.ns
        offsets = self.hashes.get(keys.offsets(), {})
        watermarks: list[int] = []
        for tp in batch.partitions:
            cur = offsets.get(tp.field)
            if (cur is None and tp.expect) or (cur is not None and int(cur) < tp.floor):
                return BatchResult(lost=tp.field)
            watermarks.append(-1 if cur is None else int(cur))
        kinds = {False: _Kind(False, config.item_window), True: _Kind(True, config.action_window)}
        applied = dups = replays = 0
        stats: dict[str, int] = {}
        expiry: dict[str, int] = {}
        counts: dict[tuple[str, str], int] = {}
        trends: dict[tuple[str, str], int] = {}
        hll_changed: dict[str, tuple[str, str]] = {}
        trend_starts: dict[int, set[int]] = {}
        trend_max: int | None = None

        def touch(subj: str, key: str, score: float) -> None:
            ttl = config.session_ttl_s if subj[len(ns) + 1 : len(ns) + 3] == "s:" else config.user_ttl_s
            if ttl <= 0:
                return
            at = math.floor(score) + ttl
            if expiry.get(key, -1) < at:
                expiry[key] = at

        def window_add(subj: str, k: _Kind, et: str, member: str, score: float) -> None:
            wkey = subj + k.w + et
            if self._zadd(wkey, score, member):
                akey = subj + k.wa
                self._zincr(akey, member[16:], 1)
                self._sadd(subj + k.t, et)
                n = len(self.zsets[wkey])
                if n > k.cap:
                    for popped in self._zpopmin(wkey, n - k.cap):
                        item = popped[16:]
                        if self._zincr(akey, item, -1) <= 0:
                            self._zrem(akey, item)
                touch(subj, wkey, score)
                touch(subj, akey, score)
                touch(subj, subj + k.t, score)

        def history_add(subj: str, k: _Kind, member: str, score: float) -> None:
            hkey = subj + k.h
            if self._zadd(hkey, score, member):
                z = self.zsets[hkey]
                if len(z) > config.history_cap:
                    self._zpopmin(hkey, len(z) - config.history_cap)
                touch(subj, hkey, score)

        def add_entry(subj: str, k: _Kind, op: InteractionOp) -> None:
            window_add(subj, k, op.event_type, op.window_member, float(op.score))
            if op.history_member is not None:
                history_add(subj, k, op.history_member, float(op.score))

        def merge(sess: str, user: str) -> None:
            for k in kinds.values():
                for member, score in sorted(self.zsets.get(sess + k.h, {}).items(), key=_zkey):
                    history_add(user, k, member, score)
                for et in sorted(self.sets.get(sess + k.t, set())):
                    for member, score in sorted(self.zsets.get(sess + k.w + et, {}).items(), key=_zkey):
                        window_add(user, k, et, member, score)

        def interaction(op: InteractionOp) -> None:
            nonlocal dups, trend_max
            k = kinds[op.action]
            subj = f"{ns}:{op.subject}"
            score = float(op.score)
            dkey = subj + k.d
            if op.token in self.zsets.get(dkey, {}):
                dups += 1
                return
            self._zadd(dkey, score, op.token)
            memory = self.zsets[dkey]
            if len(memory) > config.dedup_window:
                # Keep every token at least as new as the window's oldest: ties (a second's events) stay whole.
                edge = sorted(memory.values(), reverse=True)[config.dedup_window - 1]
                for token in [t for t, at in memory.items() if at < edge]:
                    del memory[token]
            touch(subj, dkey, score)
            if op.link is not None:
                sess = f"{ns}:{op.link}"
                if self._sadd(sess + ":users", op.subject):
                    merge(sess, subj)
                touch(sess, sess + ":users", score)
            add_entry(subj, k, op)
            if op.anonymous:
                for user in sorted(self.sets.get(subj + ":users", set())):
                    add_entry(f"{ns}:{user}", k, op)
            if op.action:
                stats["action_events"] = stats.get("action_events", 0) + 1
                return
            stats["events"] = stats.get("events", 0) + 1
            for et in (op.event_type, "*"):
                counts[(f"{ns}:pop:n:{et}", op.item)] = counts.get((f"{ns}:pop:n:{et}", op.item), 0) + 1
                hll = f"{ns}:pop:hll:{et}:{op.item_key}"
                members = self.hlls.setdefault(hll, set())
                if op.subject not in members:
                    members.add(op.subject)
                    hll_changed[hll] = (f"{ns}:pop:u:{et}", op.item)
            if op.trends:
                for size, start in op.trends:
                    key = (f"{ns}:tr:{size}:{start}", op.item)
                    trends[key] = trends.get(key, 0) + 1
                    trend_starts.setdefault(size, set()).add(start)
                t = math.floor(score)
                if trend_max is None or t > trend_max:
                    trend_max = t

        def metadata(op: MetadataOp) -> None:
            h = self.hashes.setdefault(op.key, {})
            for name, kind, new in op.fields:
                prev = h.get(name)
                if prev == new:
                    continue
                if kind in ("c", "s"):
                    base = f"{ns}:ix:{op.entity}:{name}:"
                    if prev is not None:
                        for v in _parts(prev, kind):
                            self._srem(base + escape(v), op.entity_id)
                    if new is not None:
                        for v in _parts(new, kind):
                            self._sadd(base + escape(v), op.entity_id)
                elif kind == "n":
                    nkey = f"{ns}:nx:{op.entity}:{name}"
                    if new is not None:
                        self._zadd(nkey, float(new), op.entity_id)
                    else:
                        self._zrem(nkey, op.entity_id)
                if new is not None:
                    h[name] = new
                else:
                    h.pop(name, None)
            if not h:
                del self.hashes[op.key]
            stats[op.entity + "s"] = stats.get(op.entity + "s", 0) + 1

        for part, offset, op in batch.records:
            if offset <= watermarks[part]:
                replays += 1
                continue
            applied += 1
            if isinstance(op, MetadataOp):
                metadata(op)
            else:
                interaction(op)

        for (key, member), n in counts.items():
            self._zincr(key, member, n)
        for (key, member), n in trends.items():
            h = self.hashes.setdefault(key, {})
            h[member] = str(int(h.get(member, "0")) + n)
        for hll, (target, item) in hll_changed.items():
            self._zadd(target, float(len(self.hlls[hll])), item)
        if trend_max is not None:
            mk = f"{ns}:tr:maxts"
            newest = int(self.strings.get(mk, "-1"))
            if trend_max > newest:
                self.strings[mk] = str(trend_max)
                newest = trend_max
            for size, starts in trend_starts.items():
                for start in starts:
                    self._zadd(f"{ns}:tr:{size}:idx", float(start), str(start))
            for size in config.trend_sizes:
                idx = f"{ns}:tr:{size}:idx"
                limit = newest - (TREND_RETAIN_SIZES + 1) * size
                for start_text, start_score in list(self.zsets.get(idx, {}).items()):
                    if start_score <= limit:
                        self.hashes.pop(f"{ns}:tr:{size}:{start_text}", None)
                        self._zrem(idx, start_text)
        for key, at in expiry.items():
            if self.expiry.get(key, -1) < at:
                self.expiry[key] = at
        for i, tp in enumerate(batch.partitions):
            if tp.high > watermarks[i]:
                self.hashes.setdefault(keys.offsets(), {})[tp.field] = str(tp.high)
        stats["records"] = stats.get("records", 0) + applied
        stats["duplicates"] = stats.get("duplicates", 0) + dups
        for name, n in stats.items():
            if n > 0:
                stat_hash = self.hashes.setdefault(keys.stats(), {})
                stat_hash[name] = str(int(stat_hash.get(name, "0")) + n)
        return BatchResult(lost=None, applied=applied, duplicates=dups, replayed=replays)

    def snapshot(self, now: float | None = None) -> Snapshot:
        """The state in ``snapshot.read_snapshot``'s form; keys past their expiry (if ``now``) are gone."""
        out: Snapshot = {}
        for key, z in self.zsets.items():
            out[key] = ("zset", dict(z))
        for key, s in self.sets.items():
            out[key] = ("set", frozenset(s))
        for key, h in self.hashes.items():
            out[key] = ("hash", dict(h))
        for key, text in self.strings.items():
            out[key] = ("string", text)
        for key, members in self.hlls.items():
            out[key] = ("hll", len(members))
        if now is not None:
            for key, at in self.expiry.items():
                if at <= now:
                    out.pop(key, None)
        return out


def _parts(value: str, kind: str) -> list[str]:
    if kind != "c":
        return [value]
    return [part for part in value.split("|") if part]
