"""A real faust-streaming worker consumes a topic on the local broker and writes to the local Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from confluent_kafka import Producer

from tailor_shared.kafka import TopicSpec, ensure_topics
from tailor_tools import localstack

pytestmark = pytest.mark.integration


def test_faust_agent_writes_redis(
    stack: localstack.StackConfig, topic_prefix: str, unique: str, redis_client: redis.Redis[bytes], tmp_path: Path
) -> None:
    topic = f"{topic_prefix}.faust"
    key = f"test:{unique}:faust"
    ensure_topics(stack.kafka_bootstrap, [TopicSpec(topic)])
    producer = Producer({"bootstrap.servers": stack.kafka_bootstrap, "enable.idempotence": True})
    for i in range(20):
        producer.produce(topic, value=f"ev{i}".encode(), key=b"u1")
    assert producer.flush(30) == 0

    env = {
        **os.environ,
        "PROBE_TOPIC": topic,
        "PROBE_REDIS_KEY": key,
        "PROBE_APP_ID": f"{topic_prefix}-app",
        "PROBE_KAFKA": stack.kafka_bootstrap,
        "PROBE_REDIS_URL": stack.redis_url,
    }
    app = Path(__file__).with_name("faust_probe_app.py")
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, str(app), "worker", "-l", "info", "--without-web"],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 90
        while redis_client.llen(key) < 20 and time.monotonic() < deadline and worker.poll() is None:
            time.sleep(0.2)
        got = redis_client.lrange(key, 0, -1)
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
        log.close()
    assert got == [f"ev{i}".encode() for i in range(20)], (tmp_path / "worker.log").read_text()[-3000:]
