"""The model store on the stack's S3 server (ADR 0023): the trainer uploads a model, runtimes load it into their
own caches (no volume shared with the trainer or each other), and a replica started later fetches it too."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tailor_shared import incarnation, model_store, orphans
from tailor_shared.config import S3Settings
from tailor_shared.model_store import ModelStore, migrate_to_accounts
from tailor_shared.objectstore import ObjectStore
from tailor_shared.resources import InMemoryResources, ResourceRecord
from tailor_shared.schemas import avro_record
from tailor_tools import localstack
from tailor_tools.client import Client
from tests.conftest import RunningService, wait_grpc_serving

SCHEMA = avro_record("Interactions", "USER_ID", "ITEM_ID", "TIMESTAMP")
POPULARITY = "arn:aws:personalize:::recipe/aws-popularity-count"
ROLE = "arn:aws:iam::000000000000:role/PersonalizeRole"
ACCOUNT = "arn:aws:personalize:us-east-1:111111111111"
D1 = "deadbeef"


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


def test_an_s3_store_written_before_account_folders_is_read_then_moved(s3_bucket: str, tmp_path: Path) -> None:
    """ADR 0028 §6 on the real S3 server: a runtime reads a model at its pre-account key until the trainer's
    start-up move, which copies it under the account folder and deletes the old keys."""
    objects = ObjectStore(S3Settings.from_env(localstack.StackConfig.from_env().s3_env()))
    legacy = f"s3://{s3_bucket}/models/up/v1.{D1}/"
    objects.write_bytes(legacy + "manifest.json", b"version")
    objects.write_bytes(legacy + "_updates/gen1/manifest.json", b"update")
    version = ResourceRecord(f"{ACCOUNT}:solution/up/v1", "solutionVersion", {incarnation.FIELD: D1})
    runtime = ModelStore(f"s3://{s3_bucket}/models", objects, str(tmp_path / "runtime-cache"))
    scoped = model_store.version_model_dir(runtime, version)
    read = runtime.fetch(scoped)
    assert read == Path(runtime) / "up" / f"v1.{D1}" and (read / "manifest.json").read_bytes() == b"version"

    trainer = ModelStore(f"s3://{s3_bucket}/models", objects, str(tmp_path / "trainer-cache"))
    live = orphans.live_model_dirs(Path(trainer), InMemoryResources([version]))
    assert migrate_to_accounts(trainer, live) == [model_store.version_model_dir(trainer, version)]
    assert not objects.list_objects(legacy)
    moved = {o.name for o in objects.list_objects(f"s3://{s3_bucket}/models/_accounts/111111111111/up/v1.{D1}/")}
    assert moved == {"manifest.json", "_updates/gen1/manifest.json"}
    fresh = ModelStore(f"s3://{s3_bucket}/models", objects, str(tmp_path / "fresh-cache"))
    update = model_store.campaign_update_dir(fresh, version, "gen1")
    assert fresh.fetch(update) == update and (update / "manifest.json").read_bytes() == b"update"
    assert migrate_to_accounts(trainer, live) == []
