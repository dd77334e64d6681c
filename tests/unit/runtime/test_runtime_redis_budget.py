"""A request's Redis reads share one budget from the start of its gRPC call (ADR 0025: every API answers within
1 s while Redis hangs): a read that hangs ends at the call's deadline as ServiceUnavailableException. A live Redis
on a CPU-starved machine does not trip it: a reply that arrived while the process waited for CPU is taken, and a
read goes on past the budget while other reads of the process are answered."""

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


def test_a_reply_that_came_in_while_the_process_was_starved_is_taken() -> None:
    """The reply and the budget's end are due in the same wake-up (the event loop was blocked past both): a plain
    timeout cancelled the read and answered ServiceUnavailableException although Redis had answered."""

    async def starved() -> Any:
        grpc_server._CALL_STARTED.set(time.monotonic())
        loop = asyncio.get_running_loop()
        reply: asyncio.Future[str] = loop.create_future()
        budget_end = time.monotonic() + adapters.REQUEST_REDIS_BUDGET_S
        loop.call_at(budget_end - 0.1, time.sleep, 0.3)  # the process gets no CPU across the budget's end
        loop.call_at(budget_end - 0.05, reply.set_result, '["ok"]')  # Redis answered in the meantime

        async def answers(keys: Any = None, args: Any = None) -> str:
            return await reply

        state = adapters.RedisState("redis://127.0.0.1:1/0", history_length=10)
        try:
            return await state._run(answers, [], [])
        finally:
            await state.close()

    assert asyncio.run(starved()) == ["ok"]


def test_a_read_goes_on_past_the_budget_while_redis_answers_other_reads() -> None:
    """Redis is live (the process's other reads are answered) but this read is slow: it is not cut at the budget;
    once nothing is answered any more, it ends within REDIS_LIVE_WITHIN_S + REDIS_RECHECK_S."""

    async def slow_but_live() -> tuple[Any, float]:
        grpc_server._CALL_STARTED.set(time.monotonic())
        state = adapters.RedisState("redis://127.0.0.1:1/0", history_length=10)
        late = adapters.REQUEST_REDIS_BUDGET_S + 0.3

        async def slow(keys: Any = None, args: Any = None) -> str:
            await asyncio.sleep(late)
            return '["late"]'

        async def quick(keys: Any = None, args: Any = None) -> str:
            return "[]"

        async def others() -> None:
            while True:
                await state._run(quick, [], [])
                await asyncio.sleep(0.02)

        background = asyncio.create_task(others())
        try:
            got = await state._run(slow, [], [])
            background.cancel()
            begun = time.monotonic()
            with pytest.raises(ServiceUnavailableException, match="no answer in time"):
                await state._run(_hangs, [], [])
            return got, time.monotonic() - begun
        finally:
            background.cancel()
            await state.close()

    got, hung_for = asyncio.run(slow_but_live())
    assert got == ["late"]
    assert hung_for < adapters.REDIS_LIVE_WITHIN_S + adapters.REDIS_RECHECK_S + 0.25
