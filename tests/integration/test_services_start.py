"""Every service starts against the real stack, answers health, exposes /metrics, and stops on SIGTERM."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable

import pytest

from tests.conftest import GRPC_HEALTH_NAMES, RunningService

pytestmark = pytest.mark.integration


def _http_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return int(resp.status), bytes(resp.read())
    except OSError:
        return 0, b""


@pytest.mark.parametrize("name", sorted(GRPC_HEALTH_NAMES))
def test_grpc_service_starts_serves_health_and_metrics_and_stops(
    name: str, spawn_service: Callable[..., RunningService]
) -> None:
    svc = spawn_service(name)  # waits for gRPC health SERVING, fails with the log otherwise
    code, body = _http_get(f"http://127.0.0.1:{svc.metrics_port}/metrics")
    assert code == 200 and b"python_info" in body
    rc = svc.stop()
    log = svc.log()
    assert rc == 0, log[-3000:]
    assert '"msg":"stopped"' in log


def test_stream_worker_starts_serves_health_and_metrics_and_stops(
    spawn_service: Callable[..., RunningService],
) -> None:
    svc = spawn_service("stream", wait=False)
    code, body = 0, b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and svc.proc.poll() is None:
        code, body = _http_get(f"http://127.0.0.1:{svc.port}/health")
        if code == 200:
            break
        time.sleep(0.3)
    assert code == 200 and b"SERVING" in body, svc.log()[-3000:]
    code, body = _http_get(f"http://127.0.0.1:{svc.port}/metrics")
    assert code == 200 and b"python_info" in body
    assert svc.stop() == 0, svc.log()[-3000:]


def test_gateway_starts_serves_health_and_metrics_and_stops(spawn_service: Callable[..., RunningService]) -> None:
    svc = spawn_service("gateway", TAILOR_AUTH_DEV="1")  # waits for GET /health
    code, body = _http_get(f"http://127.0.0.1:{svc.port}/health")
    assert code == 200 and b"SERVING" in body
    code, body = _http_get(f"http://127.0.0.1:{svc.metrics_port}/metrics")
    assert code == 200 and b"python_info" in body
    assert svc.stop() == 0, svc.log()[-3000:]
    assert "DEVELOPMENT CREDENTIAL ENABLED" in svc.log()


def test_gateway_refuses_to_start_without_credentials(spawn_service: Callable[..., RunningService]) -> None:
    svc = spawn_service("gateway", wait=False, TAILOR_AUTH_DEV="", TAILOR_CREDENTIALS_FILE="")
    assert svc.proc.wait(60) != 0
    assert "no credentials configured" in svc.log()
