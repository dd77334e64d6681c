"""Test harness: the real local stack (Kafka, Redis, S3), and per-test isolation.

The ``stack`` session fixture brings the project's local stack up (or uses the one already running);
if it cannot, the tests that need it fail with the reason — they never skip.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from confluent_kafka.admin import AdminClient

from tailor_shared.config import S3Settings
from tailor_shared.errors import ResourceNotFoundException
from tailor_shared.objectstore import ObjectStore
from tailor_tools import identity, localstack
from tailor_tools.client import health_serving
from tailor_tools.ports import free_port

#: Every topic prefix a test uses starts with this, so what a run leaves behind can be found.
TEST_PREFIX = "test-"

#: The prefixes this session handed out: the leftover check looks only under them, so two suites can share one
#: stack (a helper's run does not see another run's live topics as its own leftovers).
_SESSION_PREFIXES: set[str] = set()
#: The S3 buckets this session made (``s3_bucket``); each must be gone at the end.
_SESSION_BUCKETS: set[str] = set()


def new_prefix(tag: str = "") -> str:
    """A fresh test prefix (``test-<tag>-<hex>``), registered for this session's leftover check."""
    prefix = f"{TEST_PREFIX}{tag + '-' if tag else ''}{uuid.uuid4().hex[:10]}"
    _SESSION_PREFIXES.add(prefix)
    return prefix


def _ours(name: str) -> bool:
    return any(name.startswith(p) for p in _SESSION_PREFIXES)


def leftovers(cfg: localstack.StackConfig) -> tuple[set[str], set[str]]:
    """The topics and Redis keys on the stack now under a prefix this session handed out."""
    admin = AdminClient({"bootstrap.servers": cfg.kafka_bootstrap})
    topics = {t for t in admin.list_topics(timeout=30).topics if t.startswith(TEST_PREFIX) and _ours(t)}
    client = redis.Redis.from_url(cfg.redis_url)
    try:
        keys = {k.decode() for k in client.scan_iter(match="test[-:]*", count=1000)}
    finally:
        client.close()
    return topics, {k for k in keys if _ours(k)}


def purge_prefix(cfg: localstack.StackConfig, prefix: str) -> None:
    """Delete what a test made under ``prefix`` (call it after the test's services have stopped)."""
    assert prefix.startswith(TEST_PREFIX) and len(prefix) > len(TEST_PREFIX), prefix
    localstack.purge_prefix(cfg, prefix)


@pytest.fixture(scope="session")
def stack() -> Iterator[localstack.StackConfig]:
    """The real stack. At the end of the session, nothing this run made may be left on it: a test that
    leaves topics or keys behind fails the run here."""
    cfg = localstack.StackConfig.from_env()
    try:
        localstack.up(cfg)
    except localstack.StackError as err:
        pytest.fail(f"the local stack (Kafka + Redis) could not start: {err}", pytrace=False)
    before_topics, before_keys = leftovers(cfg)
    yield cfg
    after_topics, after_keys = leftovers(cfg)
    new_topics, new_keys = sorted(after_topics - before_topics), sorted(after_keys - before_keys)
    assert not new_topics and not new_keys, (
        f"the tests left {len(new_topics)} topics and {len(new_keys)} Redis keys behind: "
        f"{new_topics[:20]} {new_keys[:20]}"
    )
    store = ObjectStore(S3Settings.from_env(cfg.s3_env()))
    buckets = sorted(b for b in _SESSION_BUCKETS if store.bucket_exists(b))
    assert not buckets, f"the tests left S3 buckets behind: {buckets}"


@pytest.fixture
def unique() -> str:
    """A short unique token for topic names, group ids, key prefixes and resource names."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def topic_prefix(stack: localstack.StackConfig, unique: str) -> Iterator[str]:
    """This test's topic and Redis-key prefix; what the test made under it is deleted afterwards (fixtures that
    start services under it depend on this one, so they stop first)."""
    prefix = f"{TEST_PREFIX}{unique}"
    _SESSION_PREFIXES.add(prefix)
    yield prefix
    purge_prefix(stack, prefix)


@pytest.fixture
def s3_bucket(stack: localstack.StackConfig, unique: str) -> Iterator[str]:
    """A fresh bucket on the stack's S3 server; it and everything in it are deleted afterwards."""
    bucket = f"{TEST_PREFIX}{unique}"
    store = ObjectStore(S3Settings.from_env(stack.s3_env()))
    _SESSION_BUCKETS.add(bucket)
    store.create_bucket(bucket)
    yield bucket
    store.delete_bucket(bucket)


@pytest.fixture
def redis_client(stack: localstack.StackConfig, unique: str) -> Iterator[redis.Redis[bytes]]:
    """A client whose keys the test must prefix with ``test:<unique>:``; they are deleted afterwards."""
    client = redis.Redis.from_url(stack.redis_url)
    _SESSION_PREFIXES.add(f"test:{unique}:")
    yield client
    for key in client.scan_iter(match=f"test:{unique}:*", count=1000):
        client.delete(key)
    client.close()


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
            # Reap it: a Popen collected while its child still runs is a ResourceWarning, which -W error turns into
            # a failure of whichever later test the garbage collector happens to run in.
            self.proc.wait()
            return -9


GRPC_HEALTH_NAMES = {
    "control": "tailor.control.v1.PersonalizeControl",
    "ingest": "tailor.events.v1.PersonalizeEvents",
    "runtime": "tailor.runtime.v1.PersonalizeRuntime",
    "trainer": "",
    "batch": "",
}


def wait_grpc_serving(svc: RunningService, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and svc.proc.poll() is None:
        if health_serving(svc.address, GRPC_HEALTH_NAMES[svc.name]):
            return
        time.sleep(0.1)
    pytest.fail(f"{svc.name} did not become SERVING; log:\n{svc.log()[-4000:]}", pytrace=False)


#: Services whose port is HTTP with GET /health (the gateway; the stream's Faust web is waited for by its tests).
HTTP_HEALTH = frozenset({"gateway"})


def wait_http_health(svc: RunningService, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and svc.proc.poll() is None:
        try:
            with urllib.request.urlopen(f"http://{svc.address}/health", timeout=1) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    pytest.fail(f"{svc.name} did not serve /health; log:\n{svc.log()[-4000:]}", pytrace=False)


def launch(name: str, env: Mapping[str, str], log_path: Path, **extra: str) -> RunningService:
    """Start ``python -m tailor_<name>`` on free ports with ``env`` (then ``extra``) over this process's
    environment and the development identity's credentials and policies, logging to ``log_path``; it does not
    wait. Tests use ``spawn_service``; module-scoped worlds call this and stop what they started."""
    port, metrics = free_port(), free_port()
    cfg = localstack.StackConfig.from_env()
    full_env = {
        **os.environ,
        **cfg.s3_env(),
        **identity.ensure(cfg.state_dir).env(),  # authentication is on: the clients sign with this identity
        **env,
        f"TAILOR_{name.upper()}_PORT": str(port),
        f"TAILOR_{name.upper()}_METRICS_PORT": str(metrics),
        **extra,
    }
    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", f"tailor_{name}"], env=full_env, stdout=out, stderr=subprocess.STDOUT
        )
    return RunningService(name, port, metrics, proc, log_path, full_env)


@pytest.fixture
def spawn_service(
    stack: localstack.StackConfig, tmp_path: Path, topic_prefix: str
) -> Iterator[Callable[..., RunningService]]:
    """Start ``python -m tailor_<name>`` against the real stack under this test's topic prefix, wait until
    it serves, and stop it (SIGTERM) at teardown. Extra env vars may be passed as keyword arguments."""
    started: list[RunningService] = []

    def start(name: str, wait: bool = True, **env: str) -> RunningService:
        base = {
            "TAILOR_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
            "TAILOR_REDIS_URL": stack.redis_url,
            "TAILOR_TOPIC_PREFIX": topic_prefix,
            "TAILOR_STREAM_DATA_DIR": str(tmp_path / f"stream-{len(started)}"),
            "TAILOR_MODEL_STORE": str(tmp_path / "models"),  # shared by this test's trainer and runtime
        }
        svc = launch(name, base, tmp_path / f"{name}-{len(started)}.log", **env)
        started.append(svc)
        if wait and name in GRPC_HEALTH_NAMES:
            wait_grpc_serving(svc)
        elif wait and name in HTTP_HEALTH:
            wait_http_health(svc)
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
