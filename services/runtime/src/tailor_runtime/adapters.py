"""The runtime's I/O: Redis reads (one round trip per request), model files, Kafka writes.

Redis reads go through small read-only Lua scripts that run the commands of
``tailor_shared.redis_keys.user_state_commands`` (same keys, same order, same replies) and return them as
one JSON string: the client then parses one bulk reply with ``json.loads`` instead of a hundred RESP elements
in Python, which more than halves the CPU a request spends in the Redis client (ADR 0009). All keys of a
request share the dataset group's hash tag and are passed as KEYS, so the scripts also run on a cluster.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from confluent_kafka import KafkaError, Message
from confluent_kafka import Producer as RawProducer
from redis.exceptions import RedisError

from tailor_runtime.metrics import REDIS_CALL_ERROR, REDIS_CALL_OK
from tailor_shared.grpc_server import call_started
from tailor_shared.kafka import producer_config
from tailor_shared.redis_client import async_redis_from_url, redis_unavailable
from tailor_shared.redis_keys import (
    Keys,
    UserState,
    parse_user_state,
    session_subject,
    unescape,
    user_state_commands,
    user_subject,
    window_member_item,
)
from tailor_shared.scoring.actions import WINDOW_EVENT_TYPES as ACTION_WINDOW_TYPES
from tailor_shared.scoring.actions import UserActivity, event_kind
from tailor_shared.topics import DATASET_KINDS, impressions_topic
from tailor_shared.trends import latest_trend_windows

log = logging.getLogger(__name__)

#: A request's Redis reads all end by this long after its gRPC call started (auth and quota checks included), or
#: it answers ServiceUnavailableException: the runtime answers within 1 s while Redis hangs (ADR 0025, 9.), with
#: 0.25 s left for the answer's way back (a starved client saw 0.17 s). One budget per call, not per read: a
#: healthy read takes milliseconds, but on a CPU-starved machine a live Redis and the runtime together took over
#: 0.6 s (7 GetRecommendations failed during a Kafka node kill with 0.6 s), and a per-read timeout short enough
#: for the bound would fail those.
REQUEST_REDIS_BUDGET_S = 0.75
#: Past the budget a read goes on (up to REDIS_TIMEOUT_S) while this process got a Redis answer this recently:
#: Redis is live and the slowness is CPU, not an outage; a hung Redis answers nothing, so its reads end at the
#: budget. Checked again every REDIS_RECHECK_S.
REDIS_LIVE_WITHIN_S = 0.2
REDIS_RECHECK_S = 0.05
#: Reads outside a gRPC call (the model sync loops) give up after this.
REDIS_TIMEOUT_S = 2.0
METADATA_CHUNK = 500  # item hashes per script call: a few milliseconds of Redis time each

# KEYS: user_state_commands' keys in order — per subject (user, then session): history, all-types window,
# one window per event type; then the user's metadata hash. ARGV: history length, number of event types,
# "1" when the all-types window is needed (a filter on Interactions.EVENT_TYPE IN ("*")).
_USER_STATE_LUA = """
local n = tonumber(ARGV[1])
local types = tonumber(ARGV[2])
local per = 2 + types
local parts = {}
local function enc(reply)
  if #reply == 0 then return "[]" end
  return cjson.encode(reply)
end
for s = 0, 1 do
  local b = s * per
  parts[#parts + 1] = enc(redis.call("ZRANGE", KEYS[b + 1], 0, n - 1, "REV", "WITHSCORES"))
  if ARGV[3] == "1" then
    parts[#parts + 1] = enc(redis.call("ZRANGE", KEYS[b + 2], 0, -1))
  else
    parts[#parts + 1] = "[]"
  end
  for t = 1, types do
    parts[#parts + 1] = enc(redis.call("ZRANGE", KEYS[b + 2 + t], 0, -1, "REV"))
  end
end
parts[#parts + 1] = enc(redis.call("HGETALL", KEYS[2 * per + 1]))
return "[" .. table.concat(parts, ",") .. "]"
"""

_HGETALL_MANY_LUA = """
local parts = {}
for i = 1, #KEYS do
  local reply = redis.call("HGETALL", KEYS[i])
  if #reply == 0 then parts[i] = "[]" else parts[i] = cjson.encode(reply) end
end
return "[" .. table.concat(parts, ",") .. "]"
"""

# GetActionRecommendations' one read. KEYS: per subject (user, then session): the action windows of
# ``ACTION_WINDOW_TYPES`` in order, then the all-types item window; then the user's metadata hash.
_ACTION_ACTIVITY_LUA = """
local per = tonumber(ARGV[1])
local parts = {}
local function enc(reply)
  if #reply == 0 then return "[]" end
  return cjson.encode(reply)
end
for s = 0, 1 do
  for k = 1, per do
    parts[#parts + 1] = enc(redis.call("ZRANGE", KEYS[s * per + k], 0, -1, "REV", "WITHSCORES"))
  end
end
parts[#parts + 1] = enc(redis.call("HGETALL", KEYS[2 * per + 1]))
return "[" .. table.concat(parts, ",") .. "]"
"""


def parse_action_activity(replies: Sequence[Any], per: int) -> UserActivity:
    """``action_activity``'s replies: an event in both the user's and the linked session's windows (the stream
    merges a session into its user) counts once."""
    actions: dict[str, tuple[str, str, float]] = {}
    items: dict[str, float] = {}
    for s in range(2):
        for k, event_type in enumerate(ACTION_WINDOW_TYPES):
            kind = event_kind(event_type)
            flat = replies[s * per + k]
            for member, score in zip(flat[::2], flat[1::2], strict=True):
                if kind is not None:
                    actions[member] = (window_member_item(member), kind, float(score))
        flat = replies[s * per + per - 1]
        for item, count in zip(flat[::2], flat[1::2], strict=True):
            items[item] = max(items.get(item, 0.0), float(count))
    metadata = {k.upper(): v for k, v in _pairs_to_dict(replies[2 * per]).items()}
    return UserActivity(list(actions.values()), items, metadata)


def _pairs_to_dict(flat: Sequence[str]) -> dict[str, str]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


def redis_deadline() -> float:
    """When the current Redis read must have answered (``loop.time()``, i.e. ``time.monotonic()``)."""
    now = time.monotonic()
    started = call_started()
    if started is None:
        return now + REDIS_TIMEOUT_S
    return min(now + REDIS_TIMEOUT_S, started + REQUEST_REDIS_BUDGET_S)


class _Bounded:
    """One Redis read's time limit (ADR 0025, 9.): it ends at the call's budget (``redis_deadline``) unless Redis is
    visibly live, and a reply that came in with the same wake-up as the budget's end is taken, not thrown away
    (a process starved of CPU finds both due at once; a plain timeout cancels the read first)."""

    __slots__ = ("_handle", "_loop", "_state", "_timeout")

    def __init__(self, state: RedisState) -> None:
        self._state = state

    async def __aenter__(self) -> None:
        self._loop = asyncio.get_running_loop()
        budget = redis_deadline()
        self._timeout = asyncio.timeout_at(max(budget, self._loop.time() + REDIS_TIMEOUT_S))
        await self._timeout.__aenter__()
        self._handle: asyncio.Handle | None = self._loop.call_at(budget, self._judge)

    async def __aexit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: Any) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if kind is None:
            self._state.answered_at = time.monotonic()
        await self._timeout.__aexit__(kind, err, tb)  # a cancellation by the timeout raises TimeoutError

    def _judge(self) -> None:
        if self._handle is None:
            return
        if time.monotonic() - self._state.answered_at < REDIS_LIVE_WITHIN_S:
            self._handle = self._loop.call_at(self._loop.time() + REDIS_RECHECK_S, self._judge)
        else:
            self._handle = self._loop.call_soon(self._expire)  # after the wake-ups this turn already scheduled

    def _expire(self) -> None:
        if self._handle is not None:
            self._timeout.reschedule(self._loop.time())


class RedisState:
    """Reads the stream's serving state. Any Redis failure is UNAVAILABLE: never answer from a guess."""

    def __init__(self, url: str, history_length: int) -> None:
        # No per-read socket timeout (redis-py implements it with a task per read); each call is bounded by
        # one asyncio.timeout instead. Connecting keeps its own timeout.
        self._redis = async_redis_from_url(url, socket_timeout=None, socket_connect_timeout=REDIS_TIMEOUT_S)
        self._history = history_length
        self.answered_at = 0.0  # time.monotonic() of this process's last Redis answer (_Bounded)
        self._user_state = self._redis.register_script(_USER_STATE_LUA)
        self._hgetall_many = self._redis.register_script(_HGETALL_MANY_LUA)
        self._action_activity = self._redis.register_script(_ACTION_ACTIVITY_LUA)

    async def _run(self, script: Any, keys: Sequence[str], args: Sequence[Any]) -> Any:
        started = time.perf_counter()
        try:
            async with _Bounded(self):
                reply = await script(keys=keys, args=args)
            REDIS_CALL_OK.observe(time.perf_counter() - started)
            return json.loads(reply)
        except (RedisError, TimeoutError, OSError) as err:
            REDIS_CALL_ERROR.observe(time.perf_counter() - started)
            raise redis_unavailable(err) from None

    async def user_state(
        self, keys: Keys, user_id: str, event_types: Iterable[str], any_type: bool = False
    ) -> UserState:
        """The user's (and same-id session's) recent interactions, filter windows of ``event_types`` (and of
        all types when ``any_type``) and metadata, in one round trip."""
        types = sorted(set(event_types))
        commands = user_state_commands(keys, user_id, types, history=self._history)
        n_types = (len(commands) - 5) // 2
        replies = await self._run(
            self._user_state, [str(c[1]) for c in commands], [self._history, n_types, "1" if any_type else "0"]
        )
        return parse_user_state(replies, types, history=self._history)

    async def item_metadata(
        self, keys: Keys, item_ids: Sequence[str], entity: str = "item"
    ) -> dict[str, dict[str, str]]:
        """Every item's (or ``entity``'s: ``action``) metadata hash (field names upper-cased), in chunks so
        Redis is never blocked long."""
        out: dict[str, dict[str, str]] = {}
        for start in range(0, len(item_ids), METADATA_CHUNK):
            chunk = item_ids[start : start + METADATA_CHUNK]
            replies = await self._run(self._hgetall_many, [keys.metadata(entity, i) for i in chunk], [])
            for item, flat in zip(chunk, replies, strict=True):
                if flat:
                    out[item] = {k.upper(): v for k, v in _pairs_to_dict(flat).items()}
        return out

    async def impression_counts(self, keys: Keys) -> tuple[dict[str, int], dict[str, int]]:
        """Per item: interactions whose impression held it, and those that chose it (the stream's counts)."""
        started = time.perf_counter()
        try:
            async with _Bounded(self):
                pipe = self._redis.pipeline(transaction=False)
                pipe.hgetall(keys.impressions_shown())
                pipe.hgetall(keys.impressions_chosen())
                shown, chosen = await pipe.execute()
            REDIS_CALL_OK.observe(time.perf_counter() - started)
        except (RedisError, TimeoutError, OSError) as err:
            REDIS_CALL_ERROR.observe(time.perf_counter() - started)
            raise redis_unavailable(err) from None
        return {k.decode(): int(v) for k, v in shown.items()}, {k.decode(): int(v) for k, v in chosen.items()}

    async def trend_windows(self, keys: Keys, size_s: int) -> tuple[dict[str, float], dict[str, float]]:
        """Per-item interaction counts of the latest complete ``size_s`` window before the newest event time
        the stream saw (``tr:maxts``), and of the window before it (docs/specs/redis-keys.md, Trends)."""
        started = time.perf_counter()
        try:
            async with _Bounded(self):
                _start, now, before = await latest_trend_windows(self._redis, keys, size_s)
            REDIS_CALL_OK.observe(time.perf_counter() - started)
        except (RedisError, TimeoutError, OSError) as err:
            REDIS_CALL_ERROR.observe(time.perf_counter() - started)
            raise redis_unavailable(err) from None
        return now, before

    async def action_activity(self, keys: Keys, user_id: str) -> UserActivity:
        """The user's (and same-id session's) action interactions of the filter windows with their timestamps,
        the items of their item windows and their Users row, in one round trip (the Next-Best-Action input)."""
        per = len(ACTION_WINDOW_TYPES) + 1
        names: list[str] = []
        for subject in (user_subject(user_id), session_subject(user_id)):
            names.extend(keys.action_window(subject, t) for t in ACTION_WINDOW_TYPES)
            names.append(keys.window_all(subject))
        names.append(keys.metadata("user", user_id))
        replies = await self._run(self._action_activity, names, [per])
        return parse_action_activity(replies, per)

    async def action_ids(self, keys: Keys) -> list[str]:
        """Every action the stream holds a row of (SCAN over the group's ``m:action:*`` hashes: run only when
        the Actions topic moved)."""
        prefix = keys.metadata("action", "")
        started = time.perf_counter()
        try:
            async with _Bounded(self):
                found = [k async for k in self._redis.scan_iter(match=prefix + "*", count=1000)]
            REDIS_CALL_OK.observe(time.perf_counter() - started)
        except (RedisError, TimeoutError, OSError) as err:
            REDIS_CALL_ERROR.observe(time.perf_counter() - started)
            raise redis_unavailable(err) from None
        return [unescape(k.decode()[len(prefix) :]) for k in found]

    async def items_version(self, keys: Keys, dataset_type: str = "Items") -> tuple[tuple[str, str], ...]:
        """The stream's applied offsets of the Items (or ``dataset_type``'s) topic: its metadata changed iff
        they did."""
        suffix = DATASET_KINDS[dataset_type][0]
        try:
            async with _Bounded(self):
                offsets: Mapping[bytes, bytes] = await self._redis.hgetall(keys.offsets())
        except (RedisError, TimeoutError, OSError) as err:
            raise redis_unavailable(err) from None
        fields = ((k.decode(), v.decode()) for k, v in offsets.items())
        # Fields are ``items:<p>`` (legacy dataset) or ``items.<incarnation>:<p>`` (redis-keys.md).
        return tuple(sorted((k, v) for k, v in fields if k.partition(":")[0].partition(".")[0] == suffix))

    async def close(self) -> None:
        await self._redis.aclose()  # type: ignore[attr-defined]  # types-redis predates aclose


class Impressions:
    """Impressions leave the request path: a request appends its record to a queue (no JSON, no librdkafka call,
    no lock shared with librdkafka's threads, no thread wake-up while traffic flows) and a thread of their own
    encodes what gathered every ``BATCH_S`` and hands it to the producer in ``produce_batch`` calls of
    ``DRAIN_CHUNK`` records, also serving delivery reports. After a period without records the thread sleeps until
    the next request wakes it (at most ``IDLE_WAKE_S``, for the reports)."""

    #: How long records gather before a batch is produced. Each batch costs the broker and the stream's attribution
    #: worker a fixed amount besides its records: at 0.1 s the impressions cost them ~150 µs per request, at
    #: 0.5 s ~75 (ADR 0019 §12). Attribution waits 5 s for a record (``RECOMMENDATION_GRACE_S``); a hard crash
    #: loses at most this much of the queued records (a SIGTERM drains them).
    BATCH_S = 0.5
    IDLE_WAKE_S = 5.0
    #: Records encoded and handed to the producer per hold of the GIL. A whole batch (~400 records at 800 requests/s)
    #: held it for 3-6 ms, which the event loop waited out with every request in flight; 16 records hold it ~0.5 ms
    #: (``bench/impressions_stall.py``, ADR 0019 §15). The producer's 50 ms linger still sends a batch's chunks
    #: together.
    DRAIN_CHUNK = 16

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._topic = topic
        self._producer = RawProducer(producer_config(bootstrap, **{"linger.ms": 50}))
        self._pending: collections.deque[tuple[str, Mapping[str, Any]]] = collections.deque()
        self._wake = threading.Event()
        self._idle = False  # the thread waits on ``_wake``: the next record must wake it
        self._stop = False
        self._thread = threading.Thread(target=self._serve, name="impressions", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop:
            time.sleep(self.BATCH_S)
            if self._pending:
                self._drain()
            else:
                self._idle = True
                if not self._pending:  # a record queued before ``_idle`` was set would not wake us
                    self._wake.wait(self.IDLE_WAKE_S)
                self._wake.clear()
                self._idle = False
            self._producer.poll(0)

    def _drain(self) -> None:
        """Produce the records queued when it starts (those queued meanwhile wait for the next batch)."""
        left = len(self._pending)
        while left > 0 and self._pending:
            batch: list[dict[str, Any]] = []
            take = min(left, self.DRAIN_CHUNK)
            while self._pending and len(batch) < take:
                rid, body = self._pending.popleft()
                batch.append({"key": rid.encode(), "value": json.dumps(body, separators=(",", ":")).encode()})
            left -= len(batch)
            self._produce(batch)
            time.sleep(0)  # yields the GIL: the event loop runs between chunks

    def _produce(self, batch: list[dict[str, Any]]) -> None:
        try:
            self._producer.produce_batch(self._topic, batch, on_delivery=self._report)
        except BufferError:
            log.error("impressions dropped: the producer queue is full", extra={"dropped": len(batch)})
            return
        failed = [m for m in batch if "_error" in m]
        if failed:
            log.error("impressions dropped: %s", failed[0]["_error"], extra={"dropped": len(failed)})

    @staticmethod
    def _report(err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            log.error("impression delivery to %s failed: %s", msg.topic(), err.str())

    def send(self, recommendation_id: str, body: Mapping[str, Any]) -> None:
        self._pending.append((recommendation_id, body))
        if self._idle:
            self._wake.set()

    def close(self, timeout: float = 10.0) -> None:
        self._stop = True
        self._wake.set()
        self._thread.join(timeout)
        self._drain()
        remaining = self._producer.flush(timeout)
        if remaining:
            log.error("impressions undelivered at shutdown", extra={"undelivered": remaining})


def impressions_for(bootstrap: str, prefix: str) -> Impressions:
    return Impressions(bootstrap, impressions_topic(prefix))
