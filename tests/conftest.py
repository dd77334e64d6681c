"""Test harness: the real local stack (Kafka + Redis), and per-test isolation.

The ``stack`` session fixture brings the project's local stack up (or uses the one already running);
if it cannot, the tests that need it fail with the reason — they never skip.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from tailor_shared.errors import ResourceNotFoundException
from tailor_tools import localstack
from tailor_tools.client import health_serving


@pytest.fixture(scope="session")
def stack() -> localstack.StackConfig:
    cfg = localstack.StackConfig.from_env()
    try:
        localstack.up(cfg)
    except localstack.StackError as err:
        pytest.fail(f"the local stack (Kafka + Redis) could not start: {err}", pytrace=False)
    return cfg


@pytest.fixture
def unique() -> str:
    """A short unique token for topic names, group ids, key prefixes and resource names."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def topic_prefix(unique: str) -> str:
    return f"test-{unique}"


@pytest.fixture
def redis_client(stack: localstack.StackConfig, unique: str) -> Iterator[redis.Redis[bytes]]:
    """A client whose keys the test must prefix with ``test:<unique>:``; they are deleted afterwards."""
    client = redis.Redis.from_url(stack.redis_url)
    yield client
    for key in client.scan_iter(match=f"test:{unique}:*", count=1000):
        client.delete(key)
    client.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningService:
    """A service process started by a test; ``stop`` sends a signal and returns the exit code."""

    name: str
    port: int
    metrics_port: int
    proc: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return -9


GRPC_HEALTH_NAMES = {
    "control": "tailor.control.v1.PersonalizeControl",
    "ingest": "tailor.events.v1.PersonalizeEvents",
    "runtime": "tailor.runtime.v1.PersonalizeRuntime",
    "trainer": "",
}


def wait_grpc_serving(svc: RunningService, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and svc.proc.poll() is None:
        if health_serving(svc.address, GRPC_HEALTH_NAMES[svc.name]):
            return
        time.sleep(0.1)
    pytest.fail(f"{svc.name} did not become SERVING; log:\n{svc.log()[-4000:]}", pytrace=False)


@pytest.fixture
def spawn_service(
    stack: localstack.StackConfig, tmp_path: Path, topic_prefix: str
) -> Iterator[Callable[..., RunningService]]:
    """Start ``python -m tailor_<name>`` against the real stack under this test's topic prefix, wait until
    it serves, and stop it (SIGTERM) at teardown. Extra env vars may be passed as keyword arguments."""
    started: list[RunningService] = []

    def start(name: str, wait: bool = True, **env: str) -> RunningService:
        port, metrics = free_port(), free_port()
        full_env = {
            **os.environ,
            "TAILOR_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
            "TAILOR_REDIS_URL": stack.redis_url,
            "TAILOR_TOPIC_PREFIX": topic_prefix,
            f"TAILOR_{name.upper()}_PORT": str(port),
            f"TAILOR_{name.upper()}_METRICS_PORT": str(metrics),
            "TAILOR_STREAM_DATA_DIR": str(tmp_path / f"stream-{len(started)}"),
            "TAILOR_MODEL_STORE": str(tmp_path / "models"),  # shared by this test's trainer and runtime
            **env,
        }
        log_path = tmp_path / f"{name}-{len(started)}.log"
        with log_path.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", f"tailor_{name}"], env=full_env, stdout=out, stderr=subprocess.STDOUT
            )
        svc = RunningService(name, port, metrics, proc, log_path, full_env)
        started.append(svc)
        if wait and name in GRPC_HEALTH_NAMES:
            wait_grpc_serving(svc)
        return svc

    yield start
    for svc in started:
        svc.stop()


def wait_gone(call: Callable[..., object], operation: str, timeout: float = 30, **request: str) -> None:
    """Poll a Describe call until it raises ResourceNotFoundException (a deletion finishes asynchronously)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            call(operation, **request)
        except ResourceNotFoundException:
            return
        time.sleep(0.1)
    raise AssertionError(f"{operation} {request} still exists")
