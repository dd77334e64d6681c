"""Acknowledged events survive restarts of the ingest process under load (the real process, real Kafka).

A graceful restart (SIGTERM: stop accepting, finish in-flight calls, flush) leaves exactly the acknowledged
events on the topic. A crash (SIGKILL) loses no acknowledged event either; events of calls that were in
flight when the process died may or may not be there (their callers got an error, not an acknowledgement).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tailor.events.v1 import events_pb2, events_pb2_grpc
from tailor_shared.dataset_reader import read_dataset
from tailor_tools import identity, localstack, seed
from tailor_tools.client import aio_channel
from tailor_tools.ports import free_port

pytestmark = pytest.mark.integration

CONCURRENCY = 8
EVENTS_PER_CALL = 10


def spawn(stack: localstack.StackConfig, prefix: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TAILOR_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
        "TAILOR_TOPIC_PREFIX": prefix,
        "TAILOR_INGEST_PORT": str(port),
        "TAILOR_INGEST_METRICS_PORT": "0",
        "TAILOR_INGEST_WORKER": "false",
        **identity.ensure(stack.state_dir).env(),
    }
    with log.open("ab") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([sys.executable, "-m", "tailor_ingest"], env=env, stdout=out, stderr=subprocess.STDOUT)


async def wait_serving(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    async with aio_channel(f"127.0.0.1:{port}", signed=False) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError:
                await asyncio.sleep(0.2)
    text = await asyncio.to_thread(log.read_text)
    raise AssertionError(f"ingest did not start: {text[-3000:]}")


@dataclass
class Load:
    """Closed-loop PutEvents with unique event ids; records what was attempted and what was acknowledged."""

    tracking_id: str
    port: int
    attempted: set[str] = field(default_factory=set)
    acked: set[str] = field(default_factory=set)
    errors: int = 0
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def worker(self, w: int) -> None:
        async with aio_channel(f"127.0.0.1:{self.port}") as channel:
            stub = events_pb2_grpc.PersonalizeEventsStub(channel)
            n = 0
            while not self.stop.is_set():
                ids = [f"w{w}-c{n}-e{k}" for k in range(EVENTS_PER_CALL)]
                n += 1
                request = events_pb2.PutEventsRequest(
                    tracking_id=self.tracking_id,
                    session_id=f"s{w}",
                    user_id=f"u{w}",
                    event_list=[
                        events_pb2.Event(
                            event_id=i, event_type="click", item_id=f"i{n % 97}", sent_at=1_700_000_000 + n
                        )
                        for i in ids
                    ],
                )
                self.attempted.update(ids)
                try:
                    await stub.PutEvents(request, timeout=10)
                except grpc.aio.AioRpcError:
                    self.errors += 1  # never retried: its events are not acknowledged
                    await asyncio.sleep(0.05)
                    continue
                self.acked.update(ids)

    async def run(self) -> None:
        await asyncio.gather(*(self.worker(w) for w in range(CONCURRENCY)))


async def restart_under_load(
    stack: localstack.StackConfig, prefix: str, tmp_path: Path, sig: signal.Signals
) -> tuple[Load, list[str]]:
    group = seed.seed_group(stack.kafka_bootstrap, prefix, "live", {"Interactions": seed.SCHEMAS["Interactions"]})
    assert group.tracking_id is not None
    port = free_port()
    log = tmp_path / "ingest.log"
    proc = spawn(stack, prefix, port, log)
    await wait_serving(port, proc, log)
    load = Load(group.tracking_id, port)
    running = asyncio.create_task(load.run())
    try:
        await asyncio.sleep(2.0)
        acked_before = len(load.acked)
        proc.send_signal(sig)
        await asyncio.to_thread(proc.wait, 30)
        assert proc.returncode == (0 if sig == signal.SIGTERM else -signal.SIGKILL), log.read_text()[-3000:]
        proc = spawn(stack, prefix, port, log)
        await wait_serving(port, proc, log)
        await asyncio.sleep(2.0)
        assert len(load.acked) > acked_before  # the load went on against the new process
    finally:
        load.stop.set()
        await running
        proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(proc.wait, 30)
    topic = group.topic(prefix, "Interactions")
    snapshot = read_dataset(
        stack.kafka_bootstrap,
        topic,
        "Interactions",
        seed.SCHEMAS["Interactions"],
        meta_columns=True,
        dedupe_event_ids=False,
    )
    return load, snapshot.columns["_event_id"].tolist()


async def test_graceful_restart_keeps_exactly_the_acknowledged_events(
    stack: localstack.StackConfig, topic_prefix: str, tmp_path: Path
) -> None:
    load, on_topic = await restart_under_load(stack, topic_prefix, tmp_path, signal.SIGTERM)
    assert len(load.acked) > 500 and load.errors > 0  # calls did hit the restart
    assert len(on_topic) == len(set(on_topic))  # no duplicates (idempotent producer)
    assert len(on_topic) == len(load.acked)
    assert set(on_topic) == load.acked


async def test_a_crash_loses_no_acknowledged_event(
    stack: localstack.StackConfig, topic_prefix: str, tmp_path: Path
) -> None:
    load, on_topic = await restart_under_load(stack, topic_prefix, tmp_path, signal.SIGKILL)
    assert len(load.acked) > 500
    assert len(on_topic) == len(set(on_topic))
    assert load.acked <= set(on_topic) <= load.attempted
    # Only calls in flight at the crash can have written unacknowledged events.
    assert len(on_topic) - len(load.acked) <= CONCURRENCY * EVENTS_PER_CALL
