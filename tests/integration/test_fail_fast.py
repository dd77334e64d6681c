"""With Kafka down, every API answers fast with a typed, retryable error and acknowledges nothing (ADR 0025).

The test brings up a Kafka broker and a Redis of its own (the project's ``localstack`` on free ports under a
temporary state directory, because it kills the broker), control, ingest and the runtime against them, then
``kill -9``s the broker:

- mutations (control's Create*, ingest's Put*) answer ``ServiceUnavailableException`` within 1 s once the
  broker is known down, and a call caught in flight at the moment of the crash within control's write timeout;
- reads answer from the services' views as before (Describe*, List*; the runtime needs no Kafka to serve);
- nothing refused is there after the broker is back, and writes go through again.

The runtime with Redis down answers ``ServiceUnavailableException`` too: tests/integration/test_runtime_service.py
(``test_redis_outage_is_unavailable_never_a_wrong_answer``, ``test_redis_lost_while_serving_…``).
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tailor_shared import storage
from tailor_shared.dataset_reader import read_dataset
from tailor_shared.errors import (
    PersonalizeError,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
    ServiceUnavailableException,
)
from tailor_tools import localstack, synthetic
from tailor_tools.client import Client
from tests.conftest import RunningService, free_port, launch, wait_grpc_serving

pytestmark = pytest.mark.integration

#: Once the broker is known down (librdkafka reports every broker down, a probe confirms it), a call is refused
#: before it does anything.
REFUSED_WITHIN_S = 1.0
#: A call already in flight at the crash is answered once a probe confirms the broker down, before control's
#: write timeout (TAILOR_CONTROL_WRITE_TIMEOUT_MS, 3 s) would answer it.
IN_FLIGHT_WITHIN_S = 1.5


def timed(call: Callable[[], Any]) -> tuple[float, BaseException | None]:
    started = time.monotonic()
    try:
        call()
    except PersonalizeError as err:
        return time.monotonic() - started, err
    return time.monotonic() - started, None


@pytest.fixture
def own_stack(tmp_path: Path) -> Iterator[localstack.StackConfig]:
    base = localstack.StackConfig.from_env()
    cfg = localstack.StackConfig(
        state_dir=tmp_path / "stack",
        kafka_port=free_port(),
        controller_port=free_port(),
        redis_port=free_port(),
        kafka_heap="384m",
    )
    cfg.state_dir.mkdir()
    cfg.kafka_libs.symlink_to(base.kafka_libs, target_is_directory=True)
    try:
        localstack.up(cfg)
        yield cfg
    finally:
        localstack.down(cfg)


def test_with_kafka_down_every_api_answers_at_once_and_acknowledges_nothing(
    own_stack: localstack.StackConfig, tmp_path: Path, record_property: Callable[[str, Any], None]
) -> None:
    env = {
        "TAILOR_KAFKA_BOOTSTRAP": own_stack.kafka_bootstrap,
        "TAILOR_REDIS_URL": own_stack.redis_url,
        "TAILOR_TOPIC_PREFIX": "test-ff",
        "TAILOR_MODEL_STORE": str(tmp_path / "models"),
        "TAILOR_INGEST_WORKER": "false",
        "TAILOR_INGEST_PRODUCE_TIMEOUT_MS": "5000",  # this busy machine; refusals below do not wait for it
    }
    services: list[RunningService] = [launch(n, env, tmp_path / f"{n}.log") for n in ("control", "ingest", "runtime")]
    clients: list[Client] = []
    try:
        for svc in services:
            wait_grpc_serving(svc, timeout=90)
        control, events, runtime = (
            Client(services[0].address, "control", timeout=60),
            Client(services[1].address, "events", timeout=60),
            Client(services[2].address, "runtime", timeout=60),
        )
        clients += [control, events, runtime]
        group = control.call("CreateDatasetGroup", name="ff-live")["datasetGroupArn"]
        control.wait_for("DescribeDatasetGroup", "datasetGroup", datasetGroupArn=group)
        schema = control.call("CreateSchema", name="ff-i", schema=json.dumps(synthetic.INTERACTIONS_SCHEMA))
        dataset = control.call(
            "CreateDataset",
            name="ff-i",
            schemaArn=schema["schemaArn"],
            datasetGroupArn=group,
            datasetType="Interactions",
        )["datasetArn"]
        control.wait_for("DescribeDataset", "dataset", datasetArn=dataset)
        tracker = control.call("CreateEventTracker", name="ff-web", datasetGroupArn=group)
        control.wait_for("DescribeEventTracker", "eventTracker", eventTrackerArn=tracker["eventTrackerArn"])

        def put(event_id: str) -> None:
            events.call(
                "PutEvents",
                trackingId=tracker["trackingId"],
                userId="u1",
                sessionId="s1",
                eventList=[{"eventType": "click", "itemId": "i1", "sentAt": time.time(), "eventId": event_id}],
            )

        deadline = time.monotonic() + 60
        while (err := timed(lambda: put("before"))[1]) is not None:  # the first write to a new topic is slow
            assert isinstance(err, ServiceUnavailableException) and time.monotonic() < deadline, err

        # kill -9 the broker, and one create caught in flight at that moment
        pid = localstack._pid(own_stack, "kafka")
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        localstack.reap(pid)
        in_flight_s, in_flight_err = timed(lambda: control.call("CreateDatasetGroup", name="ff-in-flight"))
        assert isinstance(in_flight_err, ServiceUnavailableException), in_flight_err
        assert in_flight_s < IN_FLIGHT_WITHIN_S, in_flight_s
        time.sleep(1.0)

        refused = {
            "CreateDatasetGroup": lambda: control.call("CreateDatasetGroup", name="ff-refused"),
            "CreateSchema": lambda: control.call(
                "CreateSchema", name="ff-refused", schema=json.dumps(synthetic.INTERACTIONS_SCHEMA)
            ),
            "DeleteEventTracker": lambda: control.call(
                "DeleteEventTracker", eventTrackerArn=tracker["eventTrackerArn"]
            ),
            "PutEvents": lambda: put("refused"),
        }
        answers = {name: timed(call) for name, call in refused.items()}
        for name, (seconds, err) in answers.items():
            assert isinstance(err, ServiceUnavailableException), f"{name}: {err!r}"
            assert seconds < REFUSED_WITHIN_S, f"{name} took {seconds:.2f}s"
        # Reads need no broker: answered from the views.
        reads = {
            "DescribeDatasetGroup": lambda: control.call("DescribeDatasetGroup", datasetGroupArn=group),
            "ListDatasetGroups": lambda: control.call("ListDatasetGroups"),
        }
        for name, call in reads.items():
            seconds, err = timed(call)
            assert err is None and seconds < REFUSED_WITHIN_S, (name, seconds, err)
        seconds, err = timed(lambda: runtime.call("GetRecommendations", campaignArn=group + "-none", userId="u1"))
        assert isinstance(err, ResourceNotFoundException) and seconds < REFUSED_WITHIN_S, (seconds, err)

        # The broker comes back: writes go through again, and nothing refused was written.
        localstack.start_kafka(own_stack)
        deadline = time.monotonic() + 60
        while True:
            seconds, err = timed(lambda: put("after"))
            if err is None:
                break
            assert isinstance(err, ServiceUnavailableException) and time.monotonic() < deadline, err
            time.sleep(0.5)
        # Each process learns on its own that the broker is back (its producer reconnects with backoff): control
        # may still refuse for a few seconds after ingest writes again.
        back_name = f"ff-back-{uuid.uuid4().hex[:4]}"
        while True:
            seconds, err = timed(lambda: control.call("CreateDatasetGroup", name=back_name))
            if err is None or isinstance(err, ResourceAlreadyExistsException):  # an answered-late write landed
                break
            assert isinstance(err, ServiceUnavailableException) and time.monotonic() < deadline, err
            time.sleep(0.5)
        back = next(
            g["datasetGroupArn"] for g in control.call("ListDatasetGroups")["datasetGroups"] if g["name"] == back_name
        )
        control.wait_for("DescribeDatasetGroup", "datasetGroup", datasetGroupArn=back)
        names = {g["name"] for g in control.call("ListDatasetGroups")["datasetGroups"]}
        assert "ff-refused" not in names
        schemas = {s["name"] for s in control.call("ListSchemas")["schemas"]}
        assert "ff-refused" not in schemas
        assert (
            control.call("DescribeEventTracker", eventTrackerArn=tracker["eventTrackerArn"])["eventTracker"]["status"]
            == "ACTIVE"
        )
        with storage.records(own_stack.kafka_bootstrap, "test-ff") as view:
            topic = storage.dataset_topic(view, "test-ff", dataset)
        on_topic = read_dataset(
            own_stack.kafka_bootstrap, topic, "Interactions", synthetic.INTERACTIONS_SCHEMA, meta_columns=True
        ).columns["_event_id"]
        assert set(on_topic) == {"before", "after"}
        for name, (seconds, _) in answers.items():
            record_property(f"{name}_refused_s", round(seconds, 3))
        record_property("in_flight_create_s", round(in_flight_s, 3))
        print("\n" + json.dumps({n: round(s, 3) for n, (s, _) in answers.items()} | {"in_flight": in_flight_s}))
    finally:
        for client in clients:
            client.close()
        for svc in services:
            svc.stop()
