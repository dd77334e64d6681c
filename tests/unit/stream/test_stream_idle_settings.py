"""The stream's idle-cost settings (ADR 0030): heartbeats, fetch waits, and a Faust worker without Kafka clients."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tailor_shared.errors import InvalidInputException
from tailor_shared.kafka import IDLE_FETCH_WAIT_MS
from tailor_stream.app import StreamBoot
from tailor_stream.config import StreamSettings
from tailor_stream.processor import consumer_config


def test_heartbeats_default_to_a_third_of_the_session_and_can_be_set_per_deployment() -> None:
    assert StreamSettings.from_env({}).heartbeat_interval_ms == 3333
    six = StreamSettings.from_env({"TAILOR_STREAM_SESSION_TIMEOUT_MS": "6000"})
    assert six.heartbeat_interval_ms == 2000
    fast = StreamSettings.from_env(
        {"TAILOR_STREAM_SESSION_TIMEOUT_MS": "6000", "TAILOR_STREAM_HEARTBEAT_INTERVAL_MS": "600"}
    )
    assert consumer_config(fast, "g")["heartbeat_interval_ms"] == 600
    assert consumer_config(fast, "g")["session_timeout_ms"] == 6000
    assert consumer_config(fast, "g")["consumer_timeout_ms"] == 5000  # aiokafka's idle fetch task: 200 ms


@pytest.mark.parametrize("heartbeat", ["6000", "9000", "0"])
def test_a_heartbeat_not_below_the_session_timeout_stops_the_start(heartbeat: str) -> None:
    with pytest.raises(InvalidInputException, match="TAILOR_STREAM_HEARTBEAT_INTERVAL_MS"):
        StreamSettings.from_env(
            {"TAILOR_STREAM_SESSION_TIMEOUT_MS": "6000", "TAILOR_STREAM_HEARTBEAT_INTERVAL_MS": heartbeat}
        )


def test_the_state_consumer_keeps_its_fetch_wait_and_a_caller_may_wait_longer() -> None:
    settings = StreamSettings.from_env({"TAILOR_STREAM_FETCH_WAIT_MS": "700"})
    assert consumer_config(settings, "g")["fetch_max_wait_ms"] == 700
    assert consumer_config(settings, "g", IDLE_FETCH_WAIT_MS)["fetch_max_wait_ms"] == IDLE_FETCH_WAIT_MS


def test_the_faust_worker_starts_no_kafka_client_and_no_sensors() -> None:
    """Faust's consumer group (it subscribed to nothing) fetched and heartbeated, and its Monitor sampled, all idle."""
    app = SimpleNamespace(
        conf=SimpleNamespace(web_enabled=True),
        _web_server_service=None,
        **{name: object() for name in ("cache", "web", "agents", "consumer", "producer", "topics", "tables")},
        sensors=[object()],
    )
    started = list(StreamBoot(app).server())  # type: ignore[arg-type]
    assert started == [app.cache, app.web, app.agents]
