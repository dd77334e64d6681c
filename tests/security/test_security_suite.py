"""The security suite (issue 18): every API — control, ingest, runtime (gRPC) and the AWS gateway (HTTP) —
answers unauthenticated, wrongly signed, expired, unknown-key, policy-denied and cross-account calls with its
typed error and changes nothing (no record reaches Kafka under the world's prefix); and no secret reaches a
service's log (at DEBUG), an error message or a metric.

Two accounts on one deployment (ADR 0028): alice (admin) and reader (read-only) in 111111111111, bob (admin)
in 222222222222. Real processes on the real stack; authentication is on by default (nothing sets
TAILOR_AUTH_REQUIRED).
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import boto3
import botocore.auth
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError
from confluent_kafka.admin import AdminClient

from tailor_shared import arns
from tailor_shared.auth import Credential
from tailor_shared.dataset_reader import end_offsets
from tailor_shared.errors import (
    AccessDeniedException,
    InvalidInputException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    PersonalizeError,
    ResourceNotFoundException,
    UnrecognizedClientException,
)
from tailor_shared.schemas import avro_record
from tailor_tools import localstack
from tailor_tools.client import Client
from tests.conftest import (
    RunningService,
    launch,
    new_prefix,
    purge_prefix,
    wait_grpc_serving,
    wait_http_health,
)
from tests.support.identities import write_credentials

pytestmark = pytest.mark.integration

REGION = "us-east-1"
A, B = "111111111111", "222222222222"
ALICE = Credential("ALICEACCESSKEY0001", "alice-secret-0123456789-abcdef", A, f"arn:aws:iam::{A}:user/alice")
READER = Credential("READERACCESSKEY001", "reader-secret-0123456789-abcdef", A, f"arn:aws:iam::{A}:user/reader")
BOB = Credential("BOBACCESSKEY000001", "bob-secret-0123456789-abcdefgh", B, f"arn:aws:iam::{B}:user/bob")
WRONG = Credential(ALICE.access_key_id, "not-alices-secret-0123456789", A, ALICE.principal_arn)
UNKNOWN = Credential("NOSUCHACCESSKEY001", "whatever-secret-0123456789", A, f"arn:aws:iam::{A}:user/nobody")
ADMIN = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "personalize:*", "Resource": "*"}]}
READ_ONLY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["personalize:Describe*", "personalize:List*", "personalize:Get*"],
            "Resource": "*",
        }
    ],
}
ALICE_S3 = "s3://sec-alice-data/"  # alice's bucket: never touched, every call naming it is refused at the door
SECRETS = [c.secret_access_key for c in (ALICE, READER, BOB, WRONG, UNKNOWN)]
INTERACTIONS = avro_record("Interactions", "USER_ID", "ITEM_ID", "EVENT_TYPE", "TIMESTAMP")
ITEMS = avro_record("Items", "ITEM_ID", {"name": "GENRES", "type": ["null", "string"], "categorical": True})


def _expired() -> datetime:
    return datetime.now(UTC) - timedelta(minutes=20)


@dataclass
class World:
    services: dict[str, RunningService]
    prefix: str
    bootstrap: str
    group: str  # alice's dataset group
    items: str  # alice's Items dataset
    tracking_id: str  # alice's event tracker
    filter: str  # alice's filter
    workdir: Path  # alice's and bob's file locations are its alice/ and bob/ folders; the model store its models/
    campaign: str  # a campaign ARN in alice's account (never created: authorisation comes first)

    def address(self, service: str) -> str:
        return self.services[service].address

    def kafka_offsets(self) -> dict[str, int]:
        """Every non-empty topic under the world's prefix -> its total end offset (what a change would move;
        an empty topic a service creates in the background changes nothing)."""
        topics = AdminClient({"bootstrap.servers": self.bootstrap}).list_topics(timeout=30).topics
        offsets = {t: sum(end_offsets(self.bootstrap, t).values()) for t in topics if t.startswith(self.prefix)}
        return {t: n for t, n in offsets.items() if n}

    def settle(self, timeout: float = 60) -> None:
        """Until nothing moves on Kafka for 2 s: the set-up's own background writes (statuses becoming ACTIVE)
        are over, so any later change is a call's."""
        deadline = time.monotonic() + timeout
        last = self.kafka_offsets()
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < 2:
            assert time.monotonic() < deadline, "Kafka never settled after the set-up"
            time.sleep(0.5)
            now = self.kafka_offsets()
            if now != last:
                last, quiet_since = now, time.monotonic()


@pytest.fixture(scope="module")
def world(stack: localstack.StackConfig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    prefix = new_prefix("sec")
    workdir = tmp_path_factory.mktemp("security")
    credentials = write_credentials(workdir / "credentials.json", (ALICE, READER, BOB))
    policies = workdir / "policies.json"
    policies.write_text(
        json.dumps(
            {
                "principals": {
                    ALICE.principal_arn: [ADMIN],
                    READER.principal_arn: [READ_ONLY],
                    BOB.principal_arn: [ADMIN],
                }
            }
        )
    )
    env = {
        "TAILOR_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
        "TAILOR_REDIS_URL": stack.redis_url,
        "TAILOR_TOPIC_PREFIX": prefix,
        "TAILOR_MODEL_STORE": str(workdir / "models"),
        "TAILOR_CREDENTIALS_FILE": str(credentials),
        "TAILOR_POLICIES_FILE": str(policies),
        "TAILOR_LOG_LEVEL": "DEBUG",  # the widest log a secret could leak into
        # Each account's data locations (ADR 0028 §5); the deployment's own account (000000000000) owns the rest.
        "TAILOR_ACCOUNT_LOCATIONS": json.dumps(
            {A: [ALICE_S3, f"file://{workdir}/alice/"], B: [f"file://{workdir}/bob/"]}
        ),
        "TAILOR_INGEST_WORKER": "false",
    }
    services: dict[str, RunningService] = {}
    for name in ("control", "ingest", "runtime"):
        services[name] = launch(name, env, workdir / f"{name}.log")
    try:
        for svc in services.values():
            wait_grpc_serving(svc, timeout=90)
        services["gateway"] = launch(
            "gateway",
            env,
            workdir / "gateway.log",
            TAILOR_GATEWAY_CONTROL_ADDRESS=services["control"].address,
            TAILOR_GATEWAY_EVENTS_ADDRESS=services["ingest"].address,
            TAILOR_GATEWAY_RUNTIME_ADDRESS=services["runtime"].address,
        )
        wait_http_health(services["gateway"])
        alice = Client(services["control"].address, "control", credential=ALICE, region=REGION)
        try:
            group = alice.call("CreateDatasetGroup", name="shop")["datasetGroupArn"]
            alice.wait_for("DescribeDatasetGroup", "datasetGroup", datasetGroupArn=group)
            datasets = {}
            for kind, schema in (("Interactions", INTERACTIONS), ("Items", ITEMS)):
                schema_arn = alice.call("CreateSchema", name=f"shop-{kind.lower()}", schema=json.dumps(schema))
                datasets[kind] = alice.call(
                    "CreateDataset",
                    name=f"shop-{kind.lower()}",
                    schemaArn=schema_arn["schemaArn"],
                    datasetGroupArn=group,
                    datasetType=kind,
                )["datasetArn"]
                alice.wait_for("DescribeDataset", "dataset", datasetArn=datasets[kind])
            tracker = alice.call("CreateEventTracker", name="shop-tracker", datasetGroupArn=group)
            alice.wait_for("DescribeEventTracker", "eventTracker", eventTrackerArn=tracker["eventTrackerArn"])
            filter_arn = alice.call(
                "CreateFilter",
                name="shop-no-clicked",
                datasetGroupArn=group,
                filterExpression='EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")',
            )["filterArn"]
            alice.wait_for("DescribeFilter", "filter", filterArn=filter_arn)
        finally:
            alice.close()
        world = World(
            services,
            prefix,
            stack.kafka_bootstrap,
            group,
            datasets["Items"],
            tracker["trackingId"],
            filter_arn,
            workdir,
            arns.campaign_arn(REGION, A, "shop-home"),
        )
        world.settle()
        yield world
    finally:
        for svc in services.values():
            svc.stop()
        purge_prefix(stack, prefix)


def _refused(call: Callable[[], object]) -> PersonalizeError:
    with pytest.raises(PersonalizeError) as err:
        call()
    return err.value


def _bad_callers(address: str, api: str) -> dict[str, tuple[Client, type[PersonalizeError]]]:
    """The callers every API must refuse before doing anything, with the error each gets."""
    return {
        "unsigned": (Client(address, api, signed=False), MissingAuthenticationTokenException),
        "wrong secret": (Client(address, api, credential=WRONG, region=REGION), InvalidSignatureException),
        "unknown key": (Client(address, api, credential=UNKNOWN, region=REGION), UnrecognizedClientException),
        "expired": (Client(address, api, credential=ALICE, region=REGION, clock=_expired), InvalidSignatureException),
    }


def _assert_refused_and_unchanged(
    world: World, api: str, operation: str, denied: dict[str, Client], **request: Any
) -> None:
    """The four unauthenticated callers and each ``denied`` caller are refused with their typed errors, and no
    record reached Kafka under the world's prefix."""
    before = world.kafka_offsets()
    service = {"control": "control", "events": "ingest", "runtime": "runtime"}[api]
    callers = _bad_callers(world.address(service), api)
    try:
        for label, (client, expected) in callers.items():
            err = _refused(partial(client.call, operation, **request))
            assert type(err) is expected, (label, err)
            if label == "expired":
                assert "Signature expired" in err.message
        for label, client in denied.items():
            err = _refused(partial(client.call, operation, **request))
            assert isinstance(err, AccessDeniedException), (label, err)
            assert f"personalize:{operation}" in err.message
    finally:
        for client, _ in callers.values():
            client.close()
    assert world.kafka_offsets() == before, f"{operation}: a refused call changed something"


def test_control_refuses_and_isolates_accounts(world: World) -> None:
    world.settle()  # an earlier test's own writes (bob's dataset group) are over
    address = world.address("control")
    alice, reader, bob = (Client(address, "control", credential=c, region=REGION) for c in (ALICE, READER, BOB))
    try:
        # Every refusal, for a write (create) and a destructive call (delete) on alice's resources.
        _assert_refused_and_unchanged(world, "control", "CreateDatasetGroup", {"reader": reader}, name="evil")
        _assert_refused_and_unchanged(
            world, "control", "DeleteDatasetGroup", {"reader": reader, "bob": bob}, datasetGroupArn=world.group
        )
        # Cross-account: bob can neither see, list into, use nor delete alice's resources.
        _assert_refused_and_unchanged(
            world, "control", "DescribeDatasetGroup", {"bob": bob}, datasetGroupArn=world.group
        )
        _assert_refused_and_unchanged(world, "control", "DescribeFilter", {"bob": bob}, filterArn=world.filter)
        _assert_refused_and_unchanged(world, "control", "ListDatasets", {"bob": bob}, datasetGroupArn=world.group)
        _assert_refused_and_unchanged(
            world,
            "control",
            "CreateSolution",  # bob's own solution ARN, over alice's dataset group: a referenced ARN counts
            {"bob": bob},
            name="steal",
            datasetGroupArn=world.group,
            recipeArn="arn:aws:personalize:::recipe/aws-user-personalization",
        )
        # Lists show one's own account only; the same name in two accounts is two resources.
        assert world.group not in {g["datasetGroupArn"] for g in bob.call("ListDatasetGroups").get("datasetGroups", [])}
        assert world.group in {g["datasetGroupArn"] for g in alice.call("ListDatasetGroups")["datasetGroups"]}
        assert not bob.call("ListSchemas").get("schemas") and alice.call("ListSchemas")["schemas"]
        bobs = bob.call("CreateDatasetGroup", name="shop")["datasetGroupArn"]
        assert bobs == arns.dataset_group_arn(REGION, B, "shop")  # the caller's account is in the ARN
        assert world.group == arns.dataset_group_arn(REGION, A, "shop")
        bob.wait_for("DescribeDatasetGroup", "datasetGroup", datasetGroupArn=bobs)
        assert [g["datasetGroupArn"] for g in bob.call("ListDatasetGroups").get("datasetGroups", [])] == [bobs]
        assert reader.call("DescribeDatasetGroup", datasetGroupArn=world.group)["datasetGroup"]["name"] == "shop"
        bob.call("DeleteDatasetGroup", datasetGroupArn=bobs)
        assert alice.call("DescribeDatasetGroup", datasetGroupArn=world.group)["datasetGroup"]["status"] == "ACTIVE"
    finally:
        for c in (alice, reader, bob):
            c.close()


def test_ingest_refuses_and_isolates_accounts(world: World) -> None:
    world.settle()  # an earlier test's own writes (bob's dataset group) are over
    address = world.address("ingest")
    alice, reader, bob = (Client(address, "events", credential=c, region=REGION) for c in (ALICE, READER, BOB))
    event = {"eventType": "click", "sentAt": 1_700_000_000, "itemId": "i1"}
    try:
        put_events = {"trackingId": world.tracking_id, "sessionId": "s", "userId": "u", "eventList": [event]}
        # bob holds alice's trackingId: it is alice's tracker, so he may not write through it.
        _assert_refused_and_unchanged(world, "events", "PutEvents", {"reader": reader, "bob": bob}, **put_events)
        items = {"datasetArn": world.items, "items": [{"itemId": "i1"}]}
        _assert_refused_and_unchanged(world, "events", "PutItems", {"reader": reader, "bob": bob}, **items)
        world.settle()
        before = world.kafka_offsets()
        deadline = time.monotonic() + 15
        while True:  # ingest's resource view follows control's topic a little behind
            try:
                alice.call("PutEvents", **put_events)
                break
            except (AccessDeniedException, ResourceNotFoundException):
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert world.kafka_offsets() != before  # the owner's write goes through: the refusals above were real
    finally:
        for c in (alice, reader, bob):
            c.close()


def test_runtime_refuses_and_isolates_accounts(world: World) -> None:
    world.settle()  # an earlier test's own writes (bob's dataset group) are over
    address = world.address("runtime")
    alice, bob = (Client(address, "runtime", credential=c, region=REGION) for c in (ALICE, BOB))
    try:
        request = {"campaignArn": world.campaign, "userId": "u1"}
        _assert_refused_and_unchanged(world, "runtime", "GetRecommendations", {"bob": bob}, **request)
        # bob's own campaign with alice's filter: the filter is alice's data, refused before anything runs.
        own = {"campaignArn": arns.campaign_arn(REGION, B, "mine"), "userId": "u1"}
        _assert_refused_and_unchanged(
            world, "runtime", "GetRecommendations", {"bob": bob}, filterArn=world.filter, **own
        )
        # Past authorisation the campaigns do not exist: ResourceNotFound shows the owners' calls get through.
        assert isinstance(_refused(lambda: bob.call("GetRecommendations", **own)), ResourceNotFoundException)
        assert isinstance(_refused(lambda: alice.call("GetRecommendations", **request)), ResourceNotFoundException)
    finally:
        alice.close()
        bob.close()


def _location_requests(world: World, account: str, location: str) -> dict[str, dict[str, Any]]:
    """Every operation that names a data location, each acting on ``account``'s own (never created) resources
    and naming ``location``: only the location can make the door refuse it."""
    group = arns.dataset_group_arn(REGION, account, "shop")
    dataset = arns.dataset_arn(REGION, account, "shop", "INTERACTIONS")
    version = arns.solution_version_arn(arns.solution_arn(REGION, account, "shop-up"), "abcd1234")
    role = f"arn:aws:iam::{account}:role/personalize"
    own = f"file://{world.workdir}/{'alice' if account == A else 'bob'}/"
    return {
        "CreateDatasetImportJob": {
            "jobName": "steal", "datasetArn": dataset, "dataSource": {"dataLocation": location}, "roleArn": role
        },
        "CreateDatasetExportJob": {
            "jobName": "leak", "datasetArn": dataset, "roleArn": role,
            "jobOutput": {"s3DataDestination": {"path": location}},
        },
        "CreateDataDeletionJob": {
            "jobName": "wipe", "datasetGroupArn": group, "dataSource": {"dataLocation": location}, "roleArn": role
        },
        "CreateBatchInferenceJob": {  # reads one's own input, writes into the other location
            "jobName": "spill", "solutionVersionArn": version, "roleArn": role,
            "jobInput": {"s3DataSource": {"path": own + "users.json"}},
            "jobOutput": {"s3DataDestination": {"path": location}},
        },
        "CreateBatchSegmentJob": {  # reads the other location's items
            "jobName": "peek", "solutionVersionArn": version, "roleArn": role,
            "jobInput": {"s3DataSource": {"path": location + "items.json"}},
            "jobOutput": {"s3DataDestination": {"path": own}},
        },
        "CreateMetricAttribution": {
            "name": "report", "datasetGroupArn": group,
            "metrics": [{"eventType": "click", "expression": "SAMPLECOUNT()", "metricName": "clicks"}],
            "metricsOutputConfig": {"roleArn": role, "s3DataDestination": {"path": location}},
        },
    }  # fmt: skip


def test_no_account_names_another_accounts_data_locations_or_the_model_store(world: World) -> None:
    """Bob's jobs over his own resources that name alice's bucket or folder, and anyone's naming the model
    store, are refused with InvalidInputException before anything runs; the same jobs over his own folder pass
    the door (and find that his resources don't exist)."""
    world.settle()
    before = world.kafka_offsets()
    address = world.address("control")
    alice, bob = (Client(address, "control", credential=c, region=REGION) for c in (ALICE, BOB))
    store = f"file://{world.workdir}/models/{A}/"
    try:
        attempts = [
            (bob, B, ALICE_S3 + "exports/"),
            (bob, B, f"file://{world.workdir}/alice/in/"),
            (bob, B, f"file://{world.workdir}/bob/../alice/in/"),  # no way out of one's folder
            (bob, B, "s3://unlisted-bucket/"),  # the deployment's own account's
            (alice, A, store),  # the model store is no account's
        ]
        for client, account, location in attempts:
            for operation, request in _location_requests(world, account, location).items():
                err = _refused(partial(client.call, operation, **request))
                assert isinstance(err, InvalidInputException), (operation, location, err)
                assert err.message.startswith(f"Insufficient privileges for accessing data in {location}"), err
                assert "111111111111" not in err.message or client is alice  # says nothing of the owner
        for operation, request in _location_requests(world, B, f"file://{world.workdir}/bob/out/").items():
            assert isinstance(_refused(partial(bob.call, operation, **request)), ResourceNotFoundException), operation
        boto_bob = _boto(world, BOB)
        request = _location_requests(world, B, ALICE_S3)["CreateDatasetImportJob"]
        assert _code(lambda: boto_bob.create_dataset_import_job(**request)) == "InvalidInputException"
        boto_bob.close()
    finally:
        alice.close()
        bob.close()
    assert world.kafka_offsets() == before, "a refused job changed something"


def test_no_account_reaches_another_accounts_models(world: World) -> None:
    """Every way a call could load or extend a model names its solution version (or campaign): with alice's,
    bob is refused before anything is looked up, whatever his policies, and nothing changes. The runtime and
    batch workers also read a model only through the campaign's or job's own account folder of the model store
    (tests/unit/runtime/test_runtime_auto_update_target.py, tests/unit/test_storage_names.py)."""
    world.settle()
    bob = Client(world.address("control"), "control", credential=BOB, region=REGION)
    solution = arns.solution_arn(REGION, A, "shop-up")
    version = arns.solution_version_arn(solution, "abcd1234")
    own = f"file://{world.workdir}/bob/"
    role = f"arn:aws:iam::{B}:role/personalize"
    requests: dict[str, dict[str, Any]] = {
        "CreateCampaign": {"name": "mine", "solutionVersionArn": version},
        "CreateBatchInferenceJob": {
            "jobName": "score", "solutionVersionArn": version, "roleArn": role,
            "jobInput": {"s3DataSource": {"path": own + "users.json"}},
            "jobOutput": {"s3DataDestination": {"path": own + "out/"}},
        },
        "CreateBatchSegmentJob": {
            "jobName": "segments", "solutionVersionArn": version, "roleArn": role,
            "jobInput": {"s3DataSource": {"path": own + "items.json"}},
            "jobOutput": {"s3DataDestination": {"path": own + "out/"}},
        },
        "CreateSolutionVersion": {"solutionArn": solution, "trainingMode": "UPDATE"},
        "DescribeSolutionVersion": {"solutionVersionArn": version},
        "GetSolutionMetrics": {"solutionVersionArn": version},
    }  # fmt: skip
    try:
        for operation, request in requests.items():
            _assert_refused_and_unchanged(world, "control", operation, {"bob": bob}, **request)
    finally:
        bob.close()


def _boto(world: World, credential: Credential | None, service: str = "personalize") -> Any:
    retry = Config(retries={"max_attempts": 1, "mode": "standard"})
    config = retry.merge(Config(signature_version=UNSIGNED)) if credential is None else retry
    key = credential or UNKNOWN  # boto3 wants some key even when it will not sign
    return boto3.client(
        service,
        endpoint_url=f"http://{world.address('gateway')}",
        region_name=REGION,
        aws_access_key_id=key.access_key_id,
        aws_secret_access_key=key.secret_access_key,
        config=config,
    )


def _code(call: Callable[[], object]) -> str:
    with pytest.raises(ClientError) as err:
        call()
    return str(err.value.response["Error"]["Code"])


def test_gateway_refuses_and_isolates_accounts(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    world.settle()
    before = world.kafka_offsets()
    unsigned, wrong, unknown, reader, bob, alice = (_boto(world, c) for c in (None, WRONG, UNKNOWN, READER, BOB, ALICE))
    assert _code(lambda: unsigned.create_dataset_group(name="evil")) == "MissingAuthenticationTokenException"
    assert _code(lambda: wrong.create_dataset_group(name="evil")) == "InvalidSignatureException"
    assert _code(lambda: unknown.create_dataset_group(name="evil")) == "UnrecognizedClientException"
    assert _code(lambda: reader.create_dataset_group(name="evil")) == "AccessDeniedException"
    assert _code(lambda: bob.delete_dataset_group(datasetGroupArn=world.group)) == "AccessDeniedException"
    assert _code(lambda: bob.describe_dataset_group(datasetGroupArn=world.group)) == "AccessDeniedException"
    bob_events = _boto(world, BOB, "personalize-events")
    put = {"trackingId": world.tracking_id, "sessionId": "s", "userId": "u"}
    event = {"eventType": "click", "sentAt": datetime.now(UTC), "itemId": "i1"}
    assert _code(lambda: bob_events.put_events(**put, eventList=[event])) == "AccessDeniedException"
    bob_runtime = _boto(world, BOB, "personalize-runtime")
    assert _code(lambda: bob_runtime.get_recommendations(campaignArn=world.campaign, userId="u")) == (
        "AccessDeniedException"
    )
    assert world.group not in {g["datasetGroupArn"] for g in bob.list_dataset_groups().get("datasetGroups", [])}
    # Expired: botocore signs with the time it reads from botocore.auth.get_current_datetime.
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: _expired().replace(tzinfo=None))
    assert _code(lambda: alice.create_dataset_group(name="evil")) == "InvalidSignatureException"
    monkeypatch.undo()
    assert alice.describe_dataset_group(datasetGroupArn=world.group)["datasetGroup"]["name"] == "shop"
    assert world.kafka_offsets() == before
    for client in (unsigned, wrong, unknown, reader, bob, alice, bob_events, bob_runtime):
        client.close()


def test_secrets_never_reach_logs_errors_or_metrics(world: World) -> None:
    """After a wrong signature (which logs its canonical request at DEBUG) and the refusals of the other tests,
    no secret is in any service's log, in the error a caller got, or on any /metrics page."""
    wrong = Client(world.address("control"), "control", credential=WRONG, region=REGION)
    try:
        err = _refused(lambda: wrong.call("DescribeDatasetGroup", datasetGroupArn=world.group))
    finally:
        wrong.close()
    assert isinstance(err, InvalidSignatureException)
    bob = _boto(world, BOB)
    with pytest.raises(ClientError) as http_err:
        bob.describe_dataset_group(datasetGroupArn=world.group)
    bob.close()
    texts = {"grpc error": err.message, "http error": json.dumps(http_err.value.response, default=str)}
    for name, svc in world.services.items():
        texts[f"{name} log"] = svc.log()
        with urllib.request.urlopen(f"http://127.0.0.1:{svc.metrics_port}/metrics", timeout=10) as reply:
            texts[f"{name} metrics"] = reply.read().decode()
    assert "mismatch" in texts["control log"].lower() or "canonical" in texts["control log"].lower(), (
        "the DEBUG log of a wrong signature is what this test reads: it must be there"
    )
    for where, text in texts.items():
        for secret in SECRETS:
            assert secret not in text, f"a secret reached the {where}"
