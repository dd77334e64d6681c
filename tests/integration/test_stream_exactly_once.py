"""Effectively-once across a crash, and the rebuild command, with real worker processes.

A worker (``python -m tailor_stream``) is SIGKILLed while events stream in, a new one takes over, and the
final Redis state must equal a clean single pass (the reference model over the same records). Then
``python -m tailor_stream rebuild`` wipes Redis and replays Kafka: the state must come back identical.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from tailor_shared import redis_keys as rk
from tailor_stream.domain import OpsConfig
from tailor_stream.processor import close_redis
from tailor_stream.rebuild import wipe
from tailor_stream.snapshot import diff, read_snapshot
from tailor_tools import localstack
from tailor_tools import workload as wl
from tailor_tools.ports import free_port
from tests.support import stream_oracle as oracle

pytestmark = pytest.mark.integration


def _env(stack: localstack.StackConfig, prefix: str, tmp_path: Path, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "TAILOR_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
        "TAILOR_REDIS_URL": stack.redis_url,
        "TAILOR_TOPIC_PREFIX": prefix,
        "TAILOR_STREAM_PORT": str(port),
        "TAILOR_STREAM_DATA_DIR": str(tmp_path / "stream"),
        "TAILOR_STREAM_SCRIPT_RECORDS": "64",  # many small atomic calls: the kill lands between or inside them
        "TAILOR_STREAM_BATCH_MAX": "300",
        "TAILOR_STREAM_SESSION_TIMEOUT_MS": "6000",  # the broker's minimum: a killed worker's partitions free up fast
    }


def _spawn(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "tailor_stream", *args], env=env, stdout=out, stderr=subprocess.STDOUT
        )


def _http_get(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bytes(resp.read())
    except OSError:
        return b""


async def test_sigkill_mid_stream_then_restart_equals_one_clean_pass_and_rebuild_reproduces_it(
    stack: localstack.StackConfig, topic_prefix: str, tmp_path: Path
) -> None:
    now = int(time.time())
    shop = wl.DatasetGroup(topic_prefix, "shop")
    shop.create(stack.kafka_bootstrap)
    records = wl.to_records(shop, list(wl.mixed_workload(3, 9000, now)))
    keys = rk.Keys(topic_prefix, "shop")
    redis: aioredis.Redis[bytes] = aioredis.Redis.from_url(stack.redis_url)
    log = tmp_path / "stream.log"
    port = free_port()
    env = _env(stack, topic_prefix, tmp_path, port)

    def produce_steadily() -> None:  # ~4,000 records/s, so the worker is killed with records still coming
        for i in range(0, len(records), 400):
            wl.produce(stack.kafka_bootstrap, records[i : i + 400])
            time.sleep(0.1)

    first = _spawn(env, log)
    producer = threading.Thread(target=produce_steadily, daemon=True)
    second: subprocess.Popen[bytes] | None = None
    try:
        producer.start()
        deadline = time.monotonic() + 60
        while int(await redis.hget(keys.stats(), "records") or 0) < 1500:
            assert time.monotonic() < deadline and first.poll() is None, log.read_text()[-3000:]
            await asyncio.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        applied_at_kill = int(await redis.hget(keys.stats(), "records") or 0)
        assert applied_at_kill < len(records), "the worker finished before it was killed"

        second = _spawn(env, log)
        await asyncio.to_thread(producer.join, 60)
        topics = [shop.topic(t) for t in wl.SCHEMAS]
        expected = oracle.expected_offsets(topic_prefix, wl.high_watermarks(stack.kafka_bootstrap, topics))
        deadline = time.monotonic() + 90
        while True:
            stored = {k.decode(): v.decode() for k, v in (await redis.hgetall(keys.offsets())).items()}
            if stored == expected[keys.offsets()]:
                break
            assert time.monotonic() < deadline and second.poll() is None, log.read_text()[-3000:]
            await asyncio.sleep(0.05)

        after_crash = await read_snapshot(redis, topic_prefix)
        single_pass = oracle.reference_snapshot(shop, records, OpsConfig(), now)
        got = {k: v for k, v in after_crash.items() if k != keys.offsets()}
        assert got == single_pass, "\n".join(diff(got, single_pass))

        body = _http_get(f"http://127.0.0.1:{port}/metrics")
        for name in ("events_processed_total", "consumer_lag_records", "processing_latency_seconds", "state_rewinds"):
            assert f"tailor_stream_{name}".encode() in body, name
        assert b'"SERVING"' in _http_get(f"http://127.0.0.1:{port}/health")

        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0, log.read_text()[-3000:]
        second = None

        # The rebuild command: wipe, replay everything from Kafka, exit.
        rebuild = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "tailor_stream", "rebuild"],
            env=env,
            capture_output=True,
            timeout=120,
        )
        assert rebuild.returncode == 0, rebuild.stdout[-2000:] + rebuild.stderr[-2000:]
        rebuilt = await read_snapshot(redis, topic_prefix)
        assert rebuilt == after_crash, "\n".join([*diff(rebuilt, after_crash), rebuild.stdout.decode()[-600:]])
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(10)
        await wipe(redis, topic_prefix)
        await close_redis(redis)
