"""Every service starts against the real stack, answers health, exposes /metrics, and stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tailor_shared import localstack

pytestmark = pytest.mark.integration

GRPC_SERVICES = {
    "control": "tailor.control.v1.PersonalizeControl",
    "ingest": "tailor.events.v1.PersonalizeEvents",
    "runtime": "tailor.runtime.v1.PersonalizeRuntime",
    "trainer": "",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _http_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return int(resp.status), bytes(resp.read())
    except OSError:
        return 0, b""


def _spawn(
    name: str, stack: localstack.StackConfig, prefix: str, tmp_path: Path
) -> tuple[subprocess.Popen[bytes], int, int]:
    port, metrics = free_port(), free_port()
    env = {
        **os.environ,
        "TAILOR_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
        "TAILOR_REDIS_URL": stack.redis_url,
        "TAILOR_TOPIC_PREFIX": prefix,
        f"TAILOR_{name.upper()}_PORT": str(port),
        f"TAILOR_{name.upper()}_METRICS_PORT": str(metrics),
        "TAILOR_STREAM_DATA_DIR": str(tmp_path / "stream"),
    }
    out = (tmp_path / f"{name}.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", f"tailor_{name}"], env=env, stdout=out, stderr=subprocess.STDOUT)
    return proc, port, metrics


def _stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        return -9


@pytest.mark.parametrize("name", sorted(GRPC_SERVICES))
def test_grpc_service_starts_serves_health_and_metrics_and_stops(
    name: str, stack: localstack.StackConfig, topic_prefix: str, tmp_path: Path
) -> None:
    proc, port, metrics = _spawn(name, stack, topic_prefix, tmp_path)
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        stub = health_pb2_grpc.HealthStub(channel)
        status = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status = stub.Check(health_pb2.HealthCheckRequest(service=GRPC_SERVICES[name]), timeout=1).status
                break
            except grpc.RpcError:
                time.sleep(0.2)
        channel.close()
        assert status == health_pb2.HealthCheckResponse.SERVING, (tmp_path / f"{name}.log").read_text()[-3000:]
        code, body = _http_get(f"http://127.0.0.1:{metrics}/metrics")
        assert code == 200 and b"python_info" in body
    finally:
        rc = _stop(proc)
    log = (tmp_path / f"{name}.log").read_text()
    assert rc == 0, log[-3000:]
    assert '"msg":"stopped"' in log


def test_stream_worker_starts_serves_health_and_metrics_and_stops(
    stack: localstack.StackConfig, topic_prefix: str, tmp_path: Path
) -> None:
    proc, port, _metrics = _spawn("stream", stack, topic_prefix, tmp_path)
    try:
        code, body = 0, b""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            code, body = _http_get(f"http://127.0.0.1:{port}/health")
            if code == 200:
                break
            time.sleep(0.3)
        assert code == 200 and b"SERVING" in body, (tmp_path / "stream.log").read_text()[-3000:]
        code, body = _http_get(f"http://127.0.0.1:{port}/metrics")
        assert code == 200 and b"python_info" in body
    finally:
        rc = _stop(proc)
    assert rc == 0, (tmp_path / "stream.log").read_text()[-3000:]
