"""The model store on the stack's S3 server (ADR 0023): the trainer uploads a model, runtimes load it into their
own caches (no volume shared with the trainer or each other), and a replica started later fetches it too."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tailor_shared.config import S3Settings
from tailor_shared.objectstore import ObjectStore
from tailor_shared.schemas import avro_record
from tailor_tools import localstack
from tailor_tools.client import Client
from tests.conftest import RunningService, wait_grpc_serving

SCHEMA = avro_record("Interactions", "USER_ID", "ITEM_ID", "TIMESTAMP")
POPULARITY = "arn:aws:personalize:::recipe/aws-popularity-count"
ROLE = "arn:aws:iam::000000000000:role/PersonalizeRole"


def test_runtimes_load_models_from_the_s3_model_store(
    spawn_service: Callable[..., RunningService], s3_bucket: str, tmp_path: Path
) -> None:
    objects = ObjectStore(S3Settings.from_env(localstack.StackConfig.from_env().s3_env()))
    rows = ["USER_ID,ITEM_ID,TIMESTAMP"] + [
        f"u{u},i{(u * 7 + k) % 60},{1_700_000_000 + k}" for u in range(40) for k in range(30)
    ]
    objects.write_bytes(f"s3://{s3_bucket}/in/clicks.csv", ("\n".join(rows) + "\n").encode())
    store = {"TAILOR_MODEL_STORE": f"s3://{s3_bucket}/models"}
    control = spawn_service("control")
    spawn_service("ingest")
    spawn_service("trainer", wait=False, TAILOR_MODEL_CACHE_DIR=str(tmp_path / "trainer-cache"), **store)
    runtime = spawn_service("runtime", TAILOR_MODEL_CACHE_DIR=str(tmp_path / "runtime-1"), **store)
    personalize = Client(control.address, "control")
    schema = personalize.call("CreateSchema", name="clicks", schema=json.dumps(SCHEMA))["schemaArn"]
    group = personalize.call("CreateDatasetGroup", name="shop")["datasetGroupArn"]
    personalize.wait_for("DescribeDatasetGroup", "datasetGroup", datasetGroupArn=group)
    dataset = personalize.call(
        "CreateDataset", name="clicks", schemaArn=schema, datasetGroupArn=group, datasetType="Interactions"
    )["datasetArn"]
    personalize.wait_for("DescribeDataset", "dataset", datasetArn=dataset)
    job = personalize.call(
        "CreateDatasetImportJob", jobName="clicks", datasetArn=dataset, roleArn=ROLE,
        dataSource={"dataLocation": f"s3://{s3_bucket}/in/"},
    )["datasetImportJobArn"]  # fmt: skip
    personalize.wait_for("DescribeDatasetImportJob", "datasetImportJob", timeout=120, datasetImportJobArn=job)
    solution = personalize.call("CreateSolution", name="popular", recipeArn=POPULARITY, datasetGroupArn=group)[
        "solutionArn"
    ]
    personalize.wait_for("DescribeSolution", "solution", solutionArn=solution)
    version = personalize.call("CreateSolutionVersion", solutionArn=solution)["solutionVersionArn"]
    personalize.wait_for("DescribeSolutionVersion", "solutionVersion", timeout=180, solutionVersionArn=version)
    uploaded = objects.list_objects(f"s3://{s3_bucket}/models/")
    assert any(o.name.endswith("manifest.json") for o in uploaded), [o.name for o in uploaded]

    campaign = personalize.call("CreateCampaign", name="popular", solutionVersionArn=version, minProvisionedTPS=3)
    described = personalize.wait_for("DescribeCampaign", "campaign", timeout=60, campaignArn=campaign["campaignArn"])
    assert described["minProvisionedTPS"] == 3
    request = {"campaignArn": campaign["campaignArn"], "numResults": 10}
    first = [i["itemId"] for i in Client(runtime.address, "runtime").call("GetRecommendations", **request)["itemList"]]
    assert len(first) == 10
    # A replica started now, with an empty cache of its own, fetches the model from S3 and serves the same.
    replica = spawn_service("runtime", wait=False, TAILOR_MODEL_CACHE_DIR=str(tmp_path / "runtime-2"), **store)
    wait_grpc_serving(replica, timeout=90)
    again = [i["itemId"] for i in Client(replica.address, "runtime").call("GetRecommendations", **request)["itemList"]]
    assert again == first
    assert any((tmp_path / "runtime-2").rglob("manifest.json")), "the replica's own cache holds the model"
