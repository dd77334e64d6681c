"""Control's mutating calls are bounded while Kafka is down (ADR 0025): refused at once when the broker is known
down, answered as soon as it becomes known down mid-write, and never longer than the write timeout; the write
keeps the lock until it is over, so the next change never overtakes it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any, cast

from tailor_control.adapters import ResourceWriter
from tailor_control.domain import Delete, Job, Put, Quotas
from tailor_control.handlers import ControlHandlers
from tailor_shared.config import CommonSettings
from tailor_shared.errors import ServiceUnavailableException
from tailor_shared.resource_view import ResourceView
from tailor_shared.resources import InMemoryResources
from tests.support.control_plane import fold


class FakeWriter:
    """Folds writes into an in-memory store; ``hold`` makes writes wait, ``down`` plays the producer's health."""

    def __init__(self, store: InMemoryResources) -> None:
        self.store = store
        self.down = False
        self.hold = asyncio.Event()
        self.hold.set()
        self.writes = 0

    def check_available(self) -> None:
        if self.down:
            raise ServiceUnavailableException("Kafka is unavailable")

    @property
    def broker_down(self) -> bool:
        return self.down

    async def write(self, changes: Sequence[Put | Delete], jobs: Sequence[Job], now: float) -> None:
        await self.hold.wait()
        fold(self.store, changes)
        self.writes += 1


def handlers(timeout_s: float = 3.0) -> tuple[ControlHandlers, FakeWriter]:
    store = InMemoryResources()
    writer = FakeWriter(store)
    settings = CommonSettings(service="control")
    view = cast(ResourceView, store)
    return ControlHandlers(settings, view, cast(ResourceWriter, writer), Quotas(), timeout_s), writer


async def timed(call: Any) -> tuple[float, BaseException | None]:
    started = time.monotonic()
    try:
        await call
    except ServiceUnavailableException as err:
        return time.monotonic() - started, err
    return time.monotonic() - started, None


async def test_a_change_is_refused_at_once_while_kafka_is_known_down() -> None:
    control, writer = handlers()
    writer.down = True
    seconds, err = await timed(control.call("CreateDatasetGroup", {"name": "g"}))
    assert isinstance(err, ServiceUnavailableException) and seconds < 0.1
    assert writer.writes == 0
    assert (await control.call("ListDatasetGroups", {}))["datasetGroups"] == []  # reads are served


async def test_a_write_in_flight_is_answered_when_kafka_becomes_known_down_and_keeps_the_lock() -> None:
    control, writer = handlers()
    writer.hold.clear()  # the broker does not acknowledge
    call = asyncio.create_task(control.call("CreateDatasetGroup", {"name": "g"}))
    await asyncio.sleep(0.2)
    writer.down = True
    seconds, err = await timed(call)
    assert isinstance(err, ServiceUnavailableException) and "may still be applied" in str(err)
    assert seconds < 0.2  # answered within a poll of the broker becoming known down, not at the 3 s timeout
    writer.down = False
    # The write still holds the lock: the next change waits for it, then both land in order.
    second = asyncio.create_task(control.call("CreateDatasetGroup", {"name": "h"}))
    await asyncio.sleep(0.1)
    assert not second.done()
    writer.hold.set()
    await second
    assert writer.writes == 2


async def test_a_write_that_takes_too_long_is_answered_at_the_timeout() -> None:
    control, writer = handlers(timeout_s=0.3)
    writer.hold.clear()
    seconds, err = await timed(control.call("CreateDatasetGroup", {"name": "g"}))
    assert isinstance(err, ServiceUnavailableException) and 0.25 < seconds < 1.0
    # A change that cannot get the lock within the timeout is refused without changing anything.
    seconds, err = await timed(control.call("CreateDatasetGroup", {"name": "h"}))
    assert isinstance(err, ServiceUnavailableException) and "nothing was changed" in str(err)
    writer.hold.set()
    await asyncio.sleep(0.05)
    assert writer.writes == 1


async def test_a_normal_write_answers_with_the_domain_response() -> None:
    control, writer = handlers()
    reply = await control.call("CreateDatasetGroup", {"name": "g"})
    assert reply["datasetGroupArn"].endswith(":dataset-group/g") and writer.writes == 1
