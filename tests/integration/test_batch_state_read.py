"""The batch worker's one-call state read (``RedisReader.user_states``, a Lua call per chunk) returns, on real
Redis, exactly the states the per-command pipeline of ``user_state_commands`` gives: users with histories,
windows of several event types, a same-id session, metadata, odd characters, and users with nothing stored."""

from __future__ import annotations

import pytest
import redis

from tailor_batch.adapters import RedisReader
from tailor_shared import redis_keys as rk
from tailor_tools import localstack

pytestmark = pytest.mark.integration

TYPES = ("click", "Watch")


def _write(client: redis.Redis[bytes], keys: rk.Keys, users: list[str]) -> None:
    pipe = client.pipeline(transaction=False)
    for n, user in enumerate(users):
        if n % 4 == 3:
            continue  # nothing stored for this one
        subjects = [rk.user_subject(user), rk.session_subject(user)] if n % 2 else [rk.user_subject(user)]
        for s, subject in enumerate(subjects):
            for k in range(n % 7 + 1):
                token = f"{n:08x}{k:04x}{s:04x}"  # the session's events are other events than the user's
                item, event_type = f"i:{(n * 5 + k) % 13}%", TYPES[k % 2]
                score = 1000 + 2 * k + s
                pipe.zadd(keys.history(subject), {rk.history_member(token, item, event_type, k * 0.5): score})
                pipe.zadd(keys.window_all(subject), {rk.window_member(token, item): score})
                pipe.zadd(keys.window(subject, event_type), {rk.window_member(token, item): score})
        if n % 3:
            pipe.hset(keys.metadata("user", user), mapping={"AGE": str(20 + n), "TIER": "gold é"})
    pipe.execute()


def _pipelined(client: redis.Redis[bytes], keys: rk.Keys, users: list[str], history: int) -> list[rk.UserState]:
    out = []
    for user in users:
        pipe = client.pipeline(transaction=False)
        for command in rk.user_state_commands(keys, user, TYPES, history=history):
            pipe.execute_command(*command)  # type: ignore[no-untyped-call]
        out.append(rk.parse_user_state(pipe.execute(), TYPES, history=history))
    return out


@pytest.mark.parametrize("any_type", [False, True])
def test_one_call_read_equals_the_pipeline(
    stack: localstack.StackConfig, redis_client: redis.Redis[bytes], unique: str, any_type: bool
) -> None:
    keys = rk.Keys(f"test:{unique}", "grp.1")
    users = [f"u{n}" for n in range(40)] + ["a:b*c%d"]
    _write(redis_client, keys, users)
    history = 5  # shorter than some histories: the cut is the same
    reader = RedisReader(stack.redis_url, history)
    try:
        got = reader.user_states(keys, users, TYPES, any_type)
    finally:
        reader.close()
    want = _pipelined(redis_client, keys, users, history)
    assert len(got) == len(want)
    assert any(s.history for s in want) and any(not s.history for s in want) and any(s.metadata for s in want)
    for g, w in zip(got, want, strict=True):
        assert g.history == w.history
        assert g.metadata == w.metadata
        assert {k: v for k, v in g.windows.items() if k != "*"} == w.windows
        if any_type:
            assert g.any_type_items == w.any_type_items
            assert sorted(g.windows["*"]) == sorted(w.any_type_items)
        else:
            assert "*" not in g.windows
