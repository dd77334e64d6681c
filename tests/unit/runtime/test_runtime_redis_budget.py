"""A request's Redis reads share one budget from the start of its gRPC call (ADR 0025: every API answers within
1 s while Redis hangs): a read that hangs ends at the call's deadline as ServiceUnavailableException."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tailor_runtime import adapters
from tailor_shared import grpc_server
from tailor_shared.errors import ServiceUnavailableException


async def _hangs(keys: Any = None, args: Any = None) -> str:
    await asyncio.sleep(3600)
    return "[]"


async def _hung_read(started_ago_s: float | None) -> float:
    if started_ago_s is not None:
        grpc_server._CALL_STARTED.set(time.monotonic() - started_ago_s)
    state = adapters.RedisState("redis://127.0.0.1:1/0", history_length=10)  # never connected: the read hangs
    begun = time.monotonic()
    try:
        with pytest.raises(ServiceUnavailableException, match="no answer in time"):
            await state._run(_hangs, [], [])
    finally:
        await state.close()
    return time.monotonic() - begun


def test_a_hung_read_ends_at_the_calls_deadline() -> None:
    # The call began a while ago (auth, quota check, a first read): 0.3 s of its budget are left, not a whole
    # per-read timeout (REDIS_TIMEOUT_S, 2 s).
    waited = asyncio.run(_hung_read(adapters.REQUEST_REDIS_BUDGET_S - 0.3))
    assert waited < 0.3 + 0.25


def test_a_call_past_its_budget_does_not_wait_at_all() -> None:
    waited = asyncio.run(_hung_read(adapters.REQUEST_REDIS_BUDGET_S + 0.1))
    assert waited < 0.25


def test_outside_a_call_a_read_waits_the_plain_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(adapters, "REDIS_TIMEOUT_S", 0.2)
    waited = asyncio.run(_hung_read(None))
    assert waited < 0.2 + 0.25
