"""With a dependency down (Kafka, Redis hung or gone), every API answers within 1 s with a typed, retryable
error or its usual answer, and acknowledges nothing it did not write (ADR 0025).

The test brings up a Kafka broker and a Redis of its own (the project's ``localstack`` on free ports under a
temporary state directory, because it stops them), control, ingest, the runtime and the AWS gateway in front of
them, with request quotas on and a lease of one call, so that every Put* and runtime call reads Redis first:

- Redis stopped (SIGSTOP: connections hang) and then killed: every API of every service answers within 1 s (the
  quota check gives up after 0.25 s and admits; the runtime's Redis reads answer ``ServiceUnavailableException``
  by ``REQUEST_REDIS_BUDGET_S``: tests/cluster checks that path with a campaign and Sentinel);
- the broker ``kill -9``ed: mutations (control's Create*, ingest's Put*, also through the gateway) answer
  ``ServiceUnavailableException`` within 1 s once the broker is known down, and a call caught in flight at the
  moment of the crash within control's write timeout; reads answer from the services' views as before;
- the broker back after an outage long enough for librdkafka's reconnect backoff to have grown: ingest and
  control write again within ``BACK_WITHIN_S`` (the backoff is capped, ``tailor_shared.kafka``), and nothing
  refused is there.
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tailor_shared import storage
from tailor_shared.dataset_reader import read_dataset
from tailor_shared.errors import (
    PersonalizeError,
    ResourceAlreadyExistsException,
    ServiceUnavailableException,
)
from tailor_tools import localstack, synthetic
from tailor_tools.client import Client
from tailor_tools.identity import default_credential
from tailor_tools.ports import free_port
from tests.conftest import RunningService, launch, wait_grpc_serving, wait_http_health

pytestmark = pytest.mark.integration

#: Every API answers within this (ADR 0025); also a call refused because the broker is known down.
ANSWERED_WITHIN_S = 1.0
#: A call already in flight at the crash is answered once a probe confirms the broker down, before control's
#: write timeout (TAILOR_CONTROL_WRITE_TIMEOUT_MS, 3 s) would answer it.
IN_FLIGHT_WITHIN_S = 1.5
#: Once the broker answers again, each process writes again within this (its reconnect backoff is capped at
#: 0.5 s; librdkafka's default of 10 s made control refuse for ~14 s after a long outage).
BACK_WITHIN_S = 2.0
#: Long enough for an uncapped reconnect backoff (100 ms doubling to 10 s) to reach its maximum.
OUTAGE_S = 12.0
#: Quotas far above this test's rate, with a lease of one call: each Put* and runtime call asks Redis.
QUOTAS = json.dumps({"PutEvents": 10_000, "GetRecommendations": 10_000, "RuntimeTotal": 10_000})


def timed(call: Callable[[], Any]) -> tuple[float, BaseException | None]:
    started = time.monotonic()
    try:
        call()
    except (PersonalizeError, ClientError) as err:
        return time.monotonic() - started, err
    return time.monotonic() - started, None


def error_code(err: BaseException | None) -> str | None:
    """The Personalize exception name of a gRPC client's or boto3's error (None: no error)."""
    if isinstance(err, ClientError):
        return str(err.response["Error"]["Code"])
    return None if err is None else type(err).__name__


def answer_all(calls: Mapping[str, Callable[[], Any]]) -> dict[str, tuple[float, str | None]]:
    return {name: (seconds, error_code(err)) for name, (seconds, err) in ((n, timed(c)) for n, c in calls.items())}


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


def _aws(service: str, gateway: RunningService) -> Any:
    return boto3.client(
        service,
        endpoint_url=f"http://{gateway.address}",
        region_name="us-east-1",
        aws_access_key_id=default_credential().access_key_id,
        aws_secret_access_key=default_credential().secret_access_key,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=30, connect_timeout=5),
    )


def test_with_a_dependency_down_every_api_answers_within_1s_and_acknowledges_nothing(
    own_stack: localstack.StackConfig, tmp_path: Path, record_property: Callable[[str, Any], None]
) -> None:
    env = {
        "TAILOR_KAFKA_BOOTSTRAP": own_stack.kafka_bootstrap,
        "TAILOR_REDIS_URL": own_stack.redis_url,
        "TAILOR_TOPIC_PREFIX": "test-ff",
        "TAILOR_MODEL_STORE": str(tmp_path / "models"),
        "TAILOR_INGEST_WORKER": "false",
        "TAILOR_INGEST_PRODUCE_TIMEOUT_MS": "5000",  # this busy machine; refusals below do not wait for it
        "TAILOR_REQUEST_QUOTAS": QUOTAS,
        "TAILOR_REQUEST_QUOTA_LEASE": "0",
    }
    services: list[RunningService] = [launch(n, env, tmp_path / f"{n}.log") for n in ("control", "ingest", "runtime")]
    gateway = launch(
        "gateway",
        env,
        tmp_path / "gateway.log",
        TAILOR_GATEWAY_CONTROL_ADDRESS=services[0].address,
        TAILOR_GATEWAY_EVENTS_ADDRESS=services[1].address,
        TAILOR_GATEWAY_RUNTIME_ADDRESS=services[2].address,
    )
    services.append(gateway)
    clients: list[Client] = []
    timings: dict[str, float] = {}
    try:
        for svc in services[:3]:
            wait_grpc_serving(svc, timeout=90)
        wait_http_health(gateway, timeout=90)
        control, events, runtime = (
            Client(services[0].address, "control", timeout=60),
            Client(services[1].address, "events", timeout=60),
            Client(services[2].address, "runtime", timeout=60),
        )
        clients += [control, events, runtime]
        aws, aws_events, aws_runtime = (
            _aws(n, gateway) for n in ("personalize", "personalize-events", "personalize-runtime")
        )
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
        tracking_id = tracker["trackingId"]

        def event(event_id: str) -> dict[str, Any]:
            return {"eventType": "click", "itemId": "i1", "sentAt": time.time(), "eventId": event_id}

        def put(event_id: str) -> None:
            events.call("PutEvents", trackingId=tracking_id, userId="u1", sessionId="s1", eventList=[event(event_id)])

        def aws_put(event_id: str) -> None:
            aws_events.put_events(
                trackingId=tracking_id,
                userId="u1",
                sessionId="s1",
                eventList=[{"eventType": "click", "itemId": "i1", "sentAt": time.time(), "eventId": event_id}],
            )

        deadline = time.monotonic() + 60
        while (err := timed(lambda: put("before"))[1]) is not None:  # the first write to a new topic is slow
            assert isinstance(err, ServiceUnavailableException) and time.monotonic() < deadline, err
        missing_campaign = group.replace(":dataset-group/", ":campaign/") + "-none"

        # --- Redis hung (SIGSTOP), then gone (kill -9): nothing here needs Redis but the quota checks, which
        # give up and admit. Each call is a new event or a read; all answer as if Redis were there.
        def redis_calls(tag: str) -> dict[str, Callable[[], Any]]:
            return {
                "PutEvents": lambda: put(f"redis-{tag}"),
                "gateway PutEvents": lambda: aws_put(f"redis-{tag}-aws"),
                "CreateSchema": lambda: control.call(
                    "CreateSchema", name=f"ff-{tag}", schema=json.dumps(synthetic.INTERACTIONS_SCHEMA)
                ),
                "DescribeDatasetGroup": lambda: control.call("DescribeDatasetGroup", datasetGroupArn=group),
                "gateway DescribeDatasetGroup": lambda: aws.describe_dataset_group(datasetGroupArn=group),
                "GetRecommendations": lambda: runtime.call(
                    "GetRecommendations", campaignArn=missing_campaign, userId="u1"
                ),
                "gateway GetRecommendations": lambda: aws_runtime.get_recommendations(
                    campaignArn=missing_campaign, userId="u1"
                ),
            }

        for warm in redis_calls("warm").values():  # connections, and botocore's first-call set-up
            timed(warm)
        expected = {
            "GetRecommendations": "ResourceNotFoundException",
            "gateway GetRecommendations": "ResourceNotFoundException",
        }
        redis_pid = localstack.running_pid(own_stack, "redis")
        assert redis_pid is not None
        os.kill(redis_pid, signal.SIGSTOP)
        try:
            hung = answer_all(redis_calls("hung"))
        finally:
            os.kill(redis_pid, signal.SIGCONT)
        os.kill(redis_pid, signal.SIGKILL)
        localstack.reap(redis_pid)
        gone = answer_all(redis_calls("gone"))
        localstack.start_redis(own_stack)
        for phase, answers in (("Redis hung", hung), ("Redis gone", gone)):
            for name, (seconds, code) in answers.items():
                assert code == expected.get(name), f"{phase}: {name} answered {code}"
                assert seconds < ANSWERED_WITHIN_S, f"{phase}: {name} took {seconds:.2f}s"
                timings[f"{phase} {name}"] = seconds

        # --- kill -9 the broker, and one create caught in flight at that moment
        pid = localstack.running_pid(own_stack, "kafka")
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        localstack.reap(pid)
        killed = time.monotonic()
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
            "gateway CreateDatasetGroup": lambda: aws.create_dataset_group(name="ff-refused-aws"),
            "gateway PutEvents": lambda: aws_put("refused-aws"),
        }
        answers = answer_all(refused)
        for name, (seconds, code) in answers.items():
            assert code == "ServiceUnavailableException", f"{name}: {code}"
            assert seconds < ANSWERED_WITHIN_S, f"{name} took {seconds:.2f}s"
            timings[f"Kafka down {name}"] = seconds
        # Reads need no broker: answered from the views; the runtime needs no Kafka to serve.
        reads = {
            "DescribeDatasetGroup": lambda: control.call("DescribeDatasetGroup", datasetGroupArn=group),
            "ListDatasetGroups": lambda: control.call("ListDatasetGroups"),
            "gateway DescribeDatasetGroup": lambda: aws.describe_dataset_group(datasetGroupArn=group),
            "GetRecommendations": lambda: runtime.call("GetRecommendations", campaignArn=missing_campaign, userId="u1"),
            "gateway GetRecommendations": lambda: aws_runtime.get_recommendations(
                campaignArn=missing_campaign, userId="u1"
            ),
        }
        for name, (seconds, code) in answer_all(reads).items():
            assert code == expected.get(name) and seconds < ANSWERED_WITHIN_S, (name, seconds, code)
            timings[f"Kafka down {name}"] = seconds

        # --- The broker comes back after a long outage: ingest and control write again at once, and nothing
        # refused was written.
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - killed)))
        localstack.start_kafka(own_stack)
        restarted = time.monotonic()
        back_name = f"ff-back-{uuid.uuid4().hex[:4]}"
        back_in: dict[str, float] = {}
        writes = {
            "PutEvents": lambda: put("after"),
            "CreateDatasetGroup": lambda: control.call("CreateDatasetGroup", name=back_name),
        }
        while len(back_in) < len(writes):
            for name, write in writes.items():
                if name in back_in:
                    continue
                _, err = timed(write)
                # an answered-late create landed: control is back
                if err is None or isinstance(err, ResourceAlreadyExistsException):
                    back_in[name] = time.monotonic() - restarted
                else:
                    assert isinstance(err, ServiceUnavailableException), err
                    assert time.monotonic() - restarted < 60, f"{name} still refused 60 s after the broker returned"
            time.sleep(0.1)
        for name, seconds in back_in.items():
            timings[f"back {name}"] = seconds
        for name, seconds in back_in.items():
            assert seconds < BACK_WITHIN_S, f"{name} wrote again only {seconds:.1f}s after the broker answered"
        back = next(
            g["datasetGroupArn"] for g in control.call("ListDatasetGroups")["datasetGroups"] if g["name"] == back_name
        )
        control.wait_for("DescribeDatasetGroup", "datasetGroup", datasetGroupArn=back)
        names = {g["name"] for g in control.call("ListDatasetGroups")["datasetGroups"]}
        assert not {"ff-refused", "ff-refused-aws"} & names
        schemas = {s["name"] for s in control.call("ListSchemas")["schemas"]}
        assert "ff-refused" not in schemas and {"ff-hung", "ff-gone"} <= schemas
        assert (
            control.call("DescribeEventTracker", eventTrackerArn=tracker["eventTrackerArn"])["eventTracker"]["status"]
            == "ACTIVE"
        )
        with storage.records(own_stack.kafka_bootstrap, "test-ff") as view:
            topic = storage.dataset_topic(view, "test-ff", dataset)
        on_topic = read_dataset(
            own_stack.kafka_bootstrap, topic, "Interactions", synthetic.INTERACTIONS_SCHEMA, meta_columns=True
        ).columns["_event_id"]
        written = {f"redis-{tag}{aws}" for tag in ("warm", "hung", "gone") for aws in ("", "-aws")}
        assert set(on_topic) == {"before", *written, "after"}
        timings["in-flight CreateDatasetGroup"] = in_flight_s
        for name, seconds in timings.items():
            record_property(name.replace(" ", "_"), round(seconds, 3))
        print("\n" + json.dumps({n: round(s, 3) for n, s in timings.items()}, indent=1))
    finally:
        for client in clients:
            client.close()
        for svc in services:
            svc.stop()
