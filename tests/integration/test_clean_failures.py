"""Clean failures against real processes (found by a fuzzer and by fault injection):

- the runtime answers an ARN of another resource type with ResourceNotFoundException and a malformed ARN with
  InvalidInputException, never UNAVAILABLE ("not deployed yet");
- an error echoing a 20,000-character input reaches the client typed from every service (not gRPC's untyped
  RESOURCE_EXHAUSTED for an oversized ``grpc-message``);
- PutEvents while the broker is down fails within about a second with ServiceUnavailableException and
  acknowledges nothing; what was acknowledged before is on the topic afterwards. The shared local broker is
  never touched: the test runs its own single-node broker (``tailor_tools.localstack`` on free ports in a
  temporary directory) and freezes (SIGSTOP), thaws and kills that one.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from confluent_kafka import Consumer
from google.protobuf import json_format

from tailor.control.v1 import control_pb2, control_pb2_grpc
from tailor.events.v1 import events_pb2, events_pb2_grpc
from tailor.runtime.v1 import runtime_pb2, runtime_pb2_grpc
from tailor_shared.errors import (
    MAX_MESSAGE_BYTES,
    InvalidInputException,
    PersonalizeError,
    ResourceNotFoundException,
    ServiceUnavailableException,
    from_rpc_error,
)
from tailor_shared.records import header_dict
from tailor_shared.schemas import avro_record
from tailor_shared.topics import H_EVENT_ID
from tailor_tools import localstack
from tailor_tools.client import Client, channel
from tailor_tools.ports import free_port
from tests.conftest import RunningService

pytestmark = pytest.mark.integration

SCHEMA = avro_record("Interactions", "USER_ID", "ITEM_ID", "EVENT_TYPE", "TIMESTAMP")
HUGE = 20_000
_APIS: dict[str, tuple[Any, Any]] = {
    "control": (control_pb2, control_pb2_grpc.PersonalizeControlStub),
    "events": (events_pb2, events_pb2_grpc.PersonalizeEventsStub),
    "runtime": (runtime_pb2, runtime_pb2_grpc.PersonalizeRuntimeStub),
}


def rpc_error(
    svc: RunningService, api: str, operation: str, **request: Any
) -> tuple[grpc.StatusCode, PersonalizeError]:
    """Call ``operation`` expecting an error: the gRPC status the client saw and the typed error it rebuilds."""
    module, stub_cls = _APIS[api]
    stub = stub_cls(channel(svc.address))
    method = getattr(stub, operation)
    message = json_format.ParseDict(request, getattr(module, f"{operation}Request")())
    with pytest.raises(grpc.RpcError) as info:
        method(message, timeout=10)
    err: Any = info.value
    return err.code(), from_rpc_error(err)


def expect(
    svc: RunningService, api: str, operation: str, status: grpc.StatusCode, cls: type[PersonalizeError], **request: Any
) -> PersonalizeError:
    code, err = rpc_error(svc, api, operation, **request)
    assert (code, type(err)) == (status, cls), f"{operation} {str(request)[:200]}: {code} {err}"
    assert len(err.message.encode()) <= MAX_MESSAGE_BYTES
    return err


def test_runtime_refuses_other_arns_typed_and_every_service_cuts_huge_values(
    spawn_service: Callable[..., RunningService],
) -> None:
    control = spawn_service("control")
    personalize = Client(control.address, "control")
    schema_arn = personalize.call("CreateSchema", name="clicks", schema=json.dumps(SCHEMA))["schemaArn"]
    group_arn = personalize.call("CreateDatasetGroup", name="shop")["datasetGroupArn"]
    personalize.wait_for("DescribeDatasetGroup", "datasetGroup", datasetGroupArn=group_arn)
    personalize.close()
    # Started after the records exist: the runtime's view has them once it is SERVING.
    runtime = spawn_service("runtime")
    ingest = spawn_service("ingest", TAILOR_INGEST_WORKER="false")
    not_found, invalid = grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT
    campaign_prefix = group_arn.split(":dataset-group/")[0] + ":campaign/"

    # ARNs of other resource types name no model: ResourceNotFoundException (404), never "retry shortly".
    for arn in (group_arn, schema_arn):
        err = expect(runtime, "runtime", "GetRecommendations", not_found, ResourceNotFoundException, campaignArn=arn)
        assert err.message == f"Campaign {arn} does not exist."
        expect(runtime, "runtime", "GetRecommendations", not_found, ResourceNotFoundException, recommenderArn=arn)
        expect(
            runtime,
            "runtime",
            "GetPersonalizedRanking",
            not_found,
            ResourceNotFoundException,
            campaignArn=arn,
            userId="u1",
            inputList=["i1"],
        )
        expect(runtime, "runtime", "GetActionRecommendations", not_found, ResourceNotFoundException, campaignArn=arn)
    expect(
        runtime,
        "runtime",
        "GetRecommendations",
        not_found,
        ResourceNotFoundException,
        campaignArn=campaign_prefix + "missing",
        userId="u1",
    )

    # Malformed ARNs are validation errors.
    for arn in ("campaign/c1", "arn:aws:personalize:us-east-1:000000000000", "arn:aws:s3:::bucket/key"):
        err = expect(runtime, "runtime", "GetRecommendations", invalid, InvalidInputException, campaignArn=arn)
        assert "campaignArn" in err.message
    expect(runtime, "runtime", "GetRecommendations", invalid, InvalidInputException, recommenderArn="not-an-arn")

    # 20,000-character values: typed errors with cut messages from the runtime, control and ingest.
    huge_arn = campaign_prefix + "x" * HUGE
    for operation, extra in (
        ("GetRecommendations", {"userId": "u1"}),
        ("GetPersonalizedRanking", {"userId": "u1", "inputList": ["i1"]}),
        ("GetActionRecommendations", {}),
    ):
        err = expect(runtime, "runtime", operation, invalid, InvalidInputException, campaignArn=huge_arn, **extra)
        assert "characters cut" in err.message and err.message.endswith("less than or equal to 256")
    expect(
        runtime,
        "runtime",
        "GetRecommendations",
        invalid,
        InvalidInputException,
        campaignArn="€" * HUGE,
        userId="€" * HUGE,
    )
    expect(control, "control", "CreateDatasetGroup", invalid, InvalidInputException, name="x" * HUGE)
    expect(
        control,
        "control",
        "DescribeDatasetGroup",
        invalid,
        InvalidInputException,
        datasetGroupArn=group_arn + "x" * HUGE,
    )
    expect(
        ingest,
        "events",
        "PutEvents",
        invalid,
        InvalidInputException,
        trackingId="t" * HUGE,
        sessionId="s",
        eventList=[{"eventType": "click", "sentAt": 1_700_000_000}],
    )


# --- PutEvents while the broker is down ------------------------------------------------------------------


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[localstack.StackConfig]:
    """A single-node broker of this test's own (about 3 s to start), stopped (or already killed) at teardown."""
    shared = localstack.StackConfig.from_env()
    state = tmp_path / "own-kafka"
    state.mkdir()
    (state / "kafka-libs").symlink_to(shared.kafka_libs)
    cfg = localstack.StackConfig(state_dir=state, kafka_port=free_port(), controller_port=free_port())
    start_broker(cfg)
    yield cfg
    with contextlib.suppress(ProcessLookupError, FileNotFoundError, ValueError):
        os.kill(broker_pid(cfg), signal.SIGCONT)  # a frozen broker could not stop
    localstack.stop_process(cfg, "kafka")


def start_broker(cfg: localstack.StackConfig) -> None:
    """``localstack.start_kafka`` in a child process: the broker outlives it (its own session), and this process
    keeps no handle of a process it never waits for."""
    code = (
        "import sys; from pathlib import Path; from tailor_tools import localstack; "
        "localstack.start_kafka(localstack.StackConfig(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])))"
    )
    argv = [sys.executable, "-c", code, str(cfg.state_dir), str(cfg.kafka_port), str(cfg.controller_port)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=150, check=False)
    if done.returncode != 0:
        pytest.fail(f"the test's own broker did not start:\n{done.stdout}\n{done.stderr}", pytrace=False)


def broker_pid(cfg: localstack.StackConfig) -> int:
    return int(cfg.pid_file("kafka").read_text().strip())


def put_event(events: Client, tracking_id: str, event_id: str) -> None:
    events.call(
        "PutEvents",
        trackingId=tracking_id,
        sessionId="s1",
        userId="u1",
        eventList=[{"eventId": event_id, "eventType": "click", "itemId": "i1", "sentAt": 1_700_000_000}],
    )


def timed_put(events: Client, tracking_id: str, event_id: str) -> tuple[float, PersonalizeError | None]:
    start = time.monotonic()
    try:
        put_event(events, tracking_id, event_id)
    except PersonalizeError as err:
        return time.monotonic() - start, err
    return time.monotonic() - start, None


def put_until_acknowledged(
    events: Client, tracking_id: str, acknowledged: list[str], tried: list[str], timeout: float = 30
) -> None:
    """Put one event, retrying what a retrying client retries (not visible yet, unavailable) until it is ok;
    the ids of attempts that failed go to ``tried`` (they may still land)."""
    deadline = time.monotonic() + timeout
    while True:
        event_id = uuid.uuid4().hex
        try:
            put_event(events, tracking_id, event_id)
        except (ResourceNotFoundException, ServiceUnavailableException):
            tried.append(event_id)
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
            continue
        acknowledged.append(event_id)
        return


def assert_fails_fast_and_typed(events: Client, tracking_id: str, tried: list[str], calls: int = 5) -> None:
    """Every call fails typed within about a second; once the broker is known down, at once."""
    durations = []
    for _ in range(calls):
        event_id = uuid.uuid4().hex
        tried.append(event_id)
        elapsed, err = timed_put(events, tracking_id, event_id)
        assert isinstance(err, ServiceUnavailableException), f"acknowledged or mistyped while down: {err!r}"
        assert elapsed < 1.5, f"PutEvents took {elapsed:.2f}s while the broker is down"
        durations.append(elapsed)
        time.sleep(0.2)
    print("PutEvents while the broker is down, seconds:", " ".join(f"{d:.3f}" for d in durations))
    assert min(durations[1:]) < 0.2, f"never refused at once while known down: {durations}"


def event_ids_on(cfg: localstack.StackConfig, prefix: str) -> list[str]:
    """Every event id on the interactions topics of ``prefix`` on the test's broker."""
    consumer = Consumer(
        {
            "bootstrap.servers": cfg.kafka_bootstrap,
            "group.id": f"check-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    try:
        topics = [t for t in consumer.list_topics(timeout=10).topics if t.startswith(prefix) and "interactions" in t]
        assert topics, "no interactions topic"
        consumer.subscribe(topics)
        ids: list[str] = []
        idle_since = time.monotonic()
        while time.monotonic() - idle_since < 3:
            msg = consumer.poll(0.2)
            if msg is None or msg.error() is not None:
                continue
            idle_since = time.monotonic()
            headers = msg.headers()
            pairs = list(headers.items()) if isinstance(headers, dict) else headers or []
            event_id = header_dict(pairs).get(H_EVENT_ID)
            if event_id is not None:
                ids.append(event_id)
        return ids
    finally:
        consumer.close()


def test_put_events_fails_fast_while_the_broker_is_down_and_loses_nothing_acknowledged(
    own_broker: localstack.StackConfig, spawn_service: Callable[..., RunningService], topic_prefix: str
) -> None:
    env = {"TAILOR_KAFKA_BOOTSTRAP": own_broker.kafka_bootstrap}
    control = spawn_service("control", **env)
    ingest = spawn_service("ingest", TAILOR_INGEST_WORKER="false", **env)
    personalize = Client(control.address, "control")
    events = Client(ingest.address, "events", timeout=10)  # the client's deadline: well above the 1 s asked for
    schema_arn = personalize.call("CreateSchema", name="clicks", schema=json.dumps(SCHEMA))["schemaArn"]
    group_arn = personalize.call("CreateDatasetGroup", name="shop")["datasetGroupArn"]
    personalize.wait_for("DescribeDatasetGroup", "datasetGroup", datasetGroupArn=group_arn)
    dataset_arn = personalize.call(
        "CreateDataset", name="clicks", schemaArn=schema_arn, datasetGroupArn=group_arn, datasetType="Interactions"
    )["datasetArn"]
    personalize.wait_for("DescribeDataset", "dataset", datasetArn=dataset_arn)
    tracker = personalize.call("CreateEventTracker", name="web", datasetGroupArn=group_arn)
    personalize.wait_for("DescribeEventTracker", "eventTracker", eventTrackerArn=tracker["eventTrackerArn"])
    tracking_id = tracker["trackingId"]

    acknowledged: list[str] = []
    refused: list[str] = []
    for _ in range(5):
        put_until_acknowledged(events, tracking_id, acknowledged, refused)
    pid = broker_pid(own_broker)

    # Frozen broker (connections open, nothing answers): the bounded wait, then refused at once.
    os.kill(pid, signal.SIGSTOP)
    assert_fails_fast_and_typed(events, tracking_id, refused)
    os.kill(pid, signal.SIGCONT)
    for _ in range(5):
        put_until_acknowledged(events, tracking_id, acknowledged, refused)

    # Killed broker (connections refused).
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.3)
    assert_fails_fast_and_typed(events, tracking_id, refused)

    # Back up: every acknowledged event is on the topic (refused ones may or may not have landed).
    start_broker(own_broker)
    put_until_acknowledged(events, tracking_id, acknowledged, refused)
    on_topic = event_ids_on(own_broker, topic_prefix)
    missing = set(acknowledged) - set(on_topic)
    assert not missing, f"{len(missing)} acknowledged events lost"
    assert set(on_topic) <= set(acknowledged) | set(refused)
    events.close()
    personalize.close()
