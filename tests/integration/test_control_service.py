"""The control service over gRPC against the real Kafka broker: the guide's getting-started flow, typed
errors, pagination, delete-in-use, and recovery of every resource after a restart."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable, Iterator

import grpc
import pytest

from tailor.control.v1 import control_pb2, control_pb2_grpc
from tailor_shared.errors import (
    ERROR_TYPE_METADATA_KEY,
    InvalidInputException,
    InvalidNextTokenException,
    LimitExceededException,
    ResourceAlreadyExistsException,
    ResourceInUseException,
    ResourceNotFoundException,
)
from tailor_shared.schemas import avro_record
from tailor_tools.client import Client, channel
from tests.conftest import RunningService, wait_gone

pytestmark = pytest.mark.integration

INTERACTIONS_SCHEMA = avro_record("Interactions", "USER_ID", "ITEM_ID", "TIMESTAMP")


@pytest.fixture
def control(spawn_service: Callable[..., RunningService]) -> Iterator[tuple[RunningService, Client]]:
    svc = spawn_service("control", TAILOR_CONTROL_QUOTAS=json.dumps({"active_schemas": 2000}))
    client = Client(svc.address, "control")
    yield svc, client
    client.close()


def test_getting_started_sdk_for_python_flow(control: tuple[RunningService, Client]) -> None:
    """The guide's "Getting started (SDK for Python (Boto3))" custom flow, L3268-3460, as far as control goes."""
    _, personalize = control
    recipes = personalize.call("ListRecipes")["recipes"]
    assert any(r["recipeArn"] == "arn:aws:personalize:::recipe/aws-user-personalization-v2" for r in recipes)

    schema_arn = personalize.call(
        "CreateSchema", name="getting-started-schema", schema=json.dumps(INTERACTIONS_SCHEMA)
    )["schemaArn"]
    assert schema_arn == "arn:aws:personalize:us-east-1:000000000000:schema/getting-started-schema"

    dsg_arn = personalize.call("CreateDatasetGroup", name="getting-started-dsg")["datasetGroupArn"]
    described = personalize.call("DescribeDatasetGroup", datasetGroupArn=dsg_arn)["datasetGroup"]
    assert described["name"] == "getting-started-dsg"
    assert described["status"] in ("CREATE PENDING", "CREATE IN_PROGRESS", "ACTIVE")
    assert personalize.wait_for("DescribeDatasetGroup", "datasetGroup", datasetGroupArn=dsg_arn)["status"] == "ACTIVE"

    dataset_arn = personalize.call(
        "CreateDataset", name="datase_name", schemaArn=schema_arn, datasetGroupArn=dsg_arn, datasetType="Interactions"
    )["datasetArn"]
    assert dataset_arn.endswith(":dataset/getting-started-dsg/INTERACTIONS")
    personalize.wait_for("DescribeDataset", "dataset", datasetArn=dataset_arn)

    job_arn = personalize.call(
        "CreateDatasetImportJob",
        jobName="JobName",
        datasetArn=dataset_arn,
        dataSource={"dataLocation": "file:///tmp/does-not-matter.csv"},
        roleArn="arn:aws:iam::000000000000:role/PersonalizeRole",
        importMode="FULL",
    )["datasetImportJobArn"]
    job = personalize.call("DescribeDatasetImportJob", datasetImportJobArn=job_arn)["datasetImportJob"]
    assert job["jobName"] == "JobName"
    # No import worker runs in this test: the job waits for one, as Personalize's would in its queue.
    assert job["status"] == "CREATE PENDING"

    solution_arn = personalize.call(
        "CreateSolution",
        name="solution-name",
        recipeArn="arn:aws:personalize:::recipe/aws-user-personalization-v2",
        datasetGroupArn=dsg_arn,
    )["solutionArn"]
    solution = personalize.wait_for("DescribeSolution", "solution", solutionArn=solution_arn)
    assert solution["recipeArn"].endswith("aws-user-personalization-v2")

    sv_arn = personalize.call("CreateSolutionVersion", solutionArn=solution_arn)["solutionVersionArn"]
    assert sv_arn.startswith(solution_arn + "/")
    sv = personalize.call("DescribeSolutionVersion", solutionVersionArn=sv_arn)["solutionVersion"]
    assert sv["status"] == "CREATE PENDING"  # the trainer takes it from the jobs topic
    with pytest.raises(ResourceInUseException):
        personalize.call("CreateCampaign", name="campaign-name", solutionVersionArn=sv_arn)


def test_errors_are_typed_over_grpc(control: tuple[RunningService, Client]) -> None:
    svc, personalize = control
    with pytest.raises(ResourceNotFoundException):
        personalize.call(
            "DescribeDatasetGroup", datasetGroupArn="arn:aws:personalize:us-east-1:000000000000:dataset-group/nope"
        )
    with pytest.raises(InvalidInputException, match="name"):
        personalize.call("CreateDatasetGroup", name="-bad name-")
    personalize.call("CreateDatasetGroup", name="dup")
    with pytest.raises(ResourceAlreadyExistsException):
        personalize.call("CreateDatasetGroup", name="dup")
    with pytest.raises(InvalidInputException):
        personalize.call("CreateSchema", name="broken", schema="{not json")

    # The raw gRPC view: status code plus the Personalize exception name in trailing metadata.
    raw = channel(svc.address)
    stub = control_pb2_grpc.PersonalizeControlStub(raw)
    with pytest.raises(grpc.RpcError) as info:
        stub.DescribeSchema(
            control_pb2.DescribeSchemaRequest(schema_arn="arn:aws:personalize:us-east-1:000000000000:schema/x")
        )
    raw.close()
    err = info.value
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert (ERROR_TYPE_METADATA_KEY, "ResourceNotFoundException") in tuple(err.trailing_metadata())


def test_pagination_and_quota(control: tuple[RunningService, Client]) -> None:
    _, personalize = control
    for i in range(5):
        personalize.call("CreateDatasetGroup", name=f"group-{i}")
    with pytest.raises(LimitExceededException):
        personalize.call("CreateDatasetGroup", name="group-6")  # 5 active dataset groups per region
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        page = personalize.call("ListDatasetGroups", maxResults=2, **({"nextToken": token} if token else {}))
        assert len(page["datasetGroups"]) <= 2
        seen.extend(g["name"] for g in page["datasetGroups"])
        pages += 1
        token = page.get("nextToken")
        if not token:
            break
    assert sorted(seen) == [f"group-{i}" for i in range(5)]
    assert pages == 3
    with pytest.raises(InvalidNextTokenException):
        personalize.call("ListDatasetGroups", nextToken="garbage")
    with pytest.raises(InvalidInputException):
        personalize.call("ListDatasetGroups", maxResults=101)


def test_delete_in_use_then_in_order(control: tuple[RunningService, Client]) -> None:
    _, personalize = control
    dsg = personalize.call("CreateDatasetGroup", name="in-use")["datasetGroupArn"]
    personalize.wait_for("DescribeDatasetGroup", "datasetGroup", datasetGroupArn=dsg)
    schema = personalize.call("CreateSchema", name="in-use-schema", schema=json.dumps(INTERACTIONS_SCHEMA))["schemaArn"]
    dataset = personalize.call(
        "CreateDataset", name="ds", schemaArn=schema, datasetGroupArn=dsg, datasetType="Interactions"
    )["datasetArn"]
    personalize.wait_for("DescribeDataset", "dataset", datasetArn=dataset)
    with pytest.raises(ResourceInUseException):
        personalize.call("DeleteDatasetGroup", datasetGroupArn=dsg)
    with pytest.raises(ResourceInUseException):
        personalize.call("DeleteSchema", schemaArn=schema)
    personalize.call("DeleteDataset", datasetArn=dataset)
    wait_gone(personalize.call, "DescribeDataset", datasetArn=dataset)
    personalize.call("DeleteDatasetGroup", datasetGroupArn=dsg)
    wait_gone(personalize.call, "DescribeDatasetGroup", datasetGroupArn=dsg)
    personalize.call("DeleteSchema", schemaArn=schema)
    with pytest.raises(ResourceNotFoundException):
        personalize.call("DescribeSchema", schemaArn=schema)


def test_restart_recovers_every_resource_from_kafka(
    control: tuple[RunningService, Client], spawn_service: Callable[..., RunningService]
) -> None:
    """1,000 resources survive a SIGKILL of control; the new process has no Redis at all (it never uses it)."""
    svc, personalize = control
    for i in range(1000):
        personalize.call("CreateSchema", name=f"schema-{i:04d}", schema=json.dumps(INTERACTIONS_SCHEMA))
    dsg = personalize.call("CreateDatasetGroup", name="survivor", tags=[{"tagKey": "team", "tagValue": "recs"}])[
        "datasetGroupArn"
    ]
    personalize.wait_for("DescribeDatasetGroup", "datasetGroup", datasetGroupArn=dsg)
    before = _all_schemas(personalize)
    assert len(before) == 1000
    assert svc.stop(signal.SIGKILL) != 0

    fresh = spawn_service(
        "control", TAILOR_REDIS_URL="redis://127.0.0.1:1/0", TAILOR_CONTROL_QUOTAS=json.dumps({"active_schemas": 2000})
    )
    again = Client(fresh.address, "control")
    try:
        assert _all_schemas(again) == before
        group = again.call("DescribeDatasetGroup", datasetGroupArn=dsg)["datasetGroup"]
        assert group["status"] == "ACTIVE"
        assert again.call("ListTagsForResource", resourceArn=dsg)["tags"] == [{"tagKey": "team", "tagValue": "recs"}]
        with pytest.raises(ResourceAlreadyExistsException):
            again.call("CreateSchema", name="schema-0999", schema=json.dumps(INTERACTIONS_SCHEMA))
    finally:
        again.close()


def _all_schemas(client: Client) -> dict[str, str]:
    out: dict[str, str] = {}
    token: str | None = None
    while True:
        page = client.call("ListSchemas", maxResults=100, **({"nextToken": token} if token else {}))
        out.update({s["schemaArn"]: s["name"] for s in page["schemas"]})
        token = page.get("nextToken")
        if not token:
            return out
