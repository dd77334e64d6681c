"""Batch segment jobs against the real stack: control, ingest, stream, trainer and the batch worker as processes
under one topic prefix; a small synthetic dataset group (interactions, items, users); Item-Affinity and
Item-Attribute-Affinity trained through CreateSolution / CreateSolutionVersion. Each segment must be the
training users ranked by the model's probability for the query's items (computed here from the model
directory with a plain full sort), with the job's user filter applied per line, in the guide's output shapes.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis

from tailor_shared import storage
from tailor_shared.config import S3Settings
from tailor_shared.errors import InvalidInputException
from tailor_shared.objectstore import ObjectStore
from tailor_shared.scoring.loader import LoadedModel
from tailor_shared.scoring.segments import probabilities
from tailor_tools import localstack, synthetic
from tailor_tools.client import Client
from tests.conftest import RunningService, launch, new_prefix, purge_prefix, wait_grpc_serving
from tests.integration.test_runtime_service import poll

pytestmark = pytest.mark.integration

RECIPE = "arn:aws:personalize:::recipe/"
ROLE = "arn:aws:iam::000000000000:role/PersonalizeRole"
RECIPES = {"item": "aws-item-affinity", "attribute": "aws-item-attribute-affinity"}
SMALL = {"algorithmHyperParameters": {"hidden_dimension": "32"}}
USER_FILTER = "EXCLUDE UserID WHERE Users.SEGMENT IN ($SEGMENT)"


@dataclass
class World:
    prefix: str
    workdir: Path  # run_segment_job downloads a job's output folder from the S3 server under it
    objects: ObjectStore
    bucket: str  # on the stack's S3 server: every job reads and writes s3://<bucket>/<job>/...
    data: synthetic.SyntheticData
    control: Client
    versions: dict[str, str]
    models: dict[str, LoadedModel]
    user_filter: str
    services: dict[str, RunningService]


@pytest.fixture(scope="module")
def world(stack: localstack.StackConfig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    prefix = new_prefix("segment")
    workdir = tmp_path_factory.mktemp("segment-world")
    env = {
        "TAILOR_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
        "TAILOR_REDIS_URL": stack.redis_url,
        "TAILOR_TOPIC_PREFIX": prefix,
        "TAILOR_MODEL_STORE": str(workdir / "models"),
        "TAILOR_STREAM_DATA_DIR": str(workdir / "stream"),
        "TAILOR_BATCH_CHUNK": "16",  # several user chunks even on small data
    }
    services: dict[str, RunningService] = {}
    objects = ObjectStore(S3Settings.from_env(stack.s3_env()))
    objects.create_bucket(prefix)
    for n, name in enumerate(("control", "ingest", "stream", "trainer", "batch")):
        services[name] = launch(name, env, workdir / f"{name}-{n}.log")
    control: Client | None = None
    try:
        for svc in services.values():
            if svc.name != "stream":
                wait_grpc_serving(svc, timeout=90)
        control = Client(services["control"].address, "control")
        data = synthetic.generate(n_users=60, n_items=80, seed=5)
        name = f"sg-{uuid.uuid4().hex[:6]}"
        group = control.call("CreateDatasetGroup", name=name)["datasetGroupArn"]
        control.wait_for("DescribeDatasetGroup", "datasetGroup", datasetGroupArn=group)
        kinds = (
            ("Interactions", synthetic.INTERACTIONS_SCHEMA, data.interactions),
            ("Items", synthetic.ITEMS_SCHEMA, data.items),
            ("Users", synthetic.USERS_SCHEMA, data.users),
        )
        for kind, schema, rows in kinds:
            schema_arn = control.call("CreateSchema", name=f"{name}-{kind.lower()}", schema=json.dumps(schema))[
                "schemaArn"
            ]
            dataset = control.call(
                "CreateDataset",
                name=f"{name}-{kind.lower()}",
                schemaArn=schema_arn,
                datasetGroupArn=group,
                datasetType=kind,
            )["datasetArn"]
            control.wait_for("DescribeDataset", "dataset", datasetArn=dataset)
            path = workdir / f"{kind.lower()}.csv"
            path.write_text(synthetic.to_csv(rows))
            job = control.call(
                "CreateDatasetImportJob",
                jobName=f"{name}-{kind.lower()}",
                datasetArn=dataset,
                dataSource={"dataLocation": path.as_uri()},
                roleArn=ROLE,
            )["datasetImportJobArn"]
            control.wait_for("DescribeDatasetImportJob", "datasetImportJob", timeout=120, datasetImportJobArn=job)
        versions: dict[str, str] = {}
        for short, recipe in RECIPES.items():
            solution = control.call(
                "CreateSolution",
                name=f"{name}-{short}",
                recipeArn=RECIPE + recipe,
                datasetGroupArn=group,
                solutionConfig=SMALL,
            )["solutionArn"]
            control.wait_for("DescribeSolution", "solution", solutionArn=solution)
            versions[short] = control.call("CreateSolutionVersion", solutionArn=solution)["solutionVersionArn"]
        user_filter = control.call(
            "CreateFilter", name=f"{name}-users", datasetGroupArn=group, filterExpression=USER_FILTER
        )["filterArn"]
        control.wait_for("DescribeFilter", "filter", filterArn=user_filter)
        with storage.records(stack.kafka_bootstrap, prefix) as view:
            keys = storage.group_keys(view, prefix, group)
        probe = redis.Redis.from_url(stack.redis_url)
        last_item, last_user = str(data.items[-1]["ITEM_ID"]), str(data.users[-1]["USER_ID"])
        poll(lambda: probe.exists(keys.metadata("item", last_item)), bool, timeout=60, interval=0.2)
        poll(lambda: probe.exists(keys.metadata("user", last_user)), bool, timeout=60, interval=0.2)
        probe.close()
        for version in versions.values():
            described = control.wait_for(
                "DescribeSolutionVersion", "solutionVersion", timeout=240, solutionVersionArn=version
            )
            assert described["status"] == "ACTIVE", described
        with storage.records(stack.kafka_bootstrap, prefix) as view:
            models = {
                short: LoadedModel(storage.solution_version_dir(view, str(workdir / "models"), arn))
                for short, arn in versions.items()
            }
        yield World(prefix, workdir, objects, prefix, data, control, versions, models, user_filter, services)
    except BaseException:
        for svc in services.values():
            print(f"--- {svc.name} log (tail) ---\n{svc.log()[-3000:]}")
        raise
    finally:
        if control is not None:
            control.close()
        for svc in services.values():
            svc.stop()
        purge_prefix(stack, prefix)
        objects.delete_bucket(prefix)


def run_segment_job(
    world: World, version: str, files: dict[str, list[Any]], **extra: Any
) -> tuple[dict[str, Any], Path]:
    job_name = f"seg-{uuid.uuid4().hex[:8]}"
    for file_name, lines in files.items():
        text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)
        world.objects.write_bytes(f"s3://{world.bucket}/{job_name}/in/{file_name}", (text + "\n").encode())
    arn = world.control.call(
        "CreateBatchSegmentJob",
        jobName=job_name,
        solutionVersionArn=version,
        jobInput={"s3DataSource": {"path": f"s3://{world.bucket}/{job_name}/in/"}},
        jobOutput={"s3DataDestination": {"path": f"s3://{world.bucket}/{job_name}/out/"}},
        roleArn=ROLE,
        **extra,
    )["batchSegmentJobArn"]
    job = world.control.wait_for(
        "DescribeBatchSegmentJob",
        "batchSegmentJob",
        statuses=("ACTIVE", "CREATE FAILED"),
        timeout=120,
        batchSegmentJobArn=arn,
    )
    out = world.workdir / "out" / job_name
    if world.objects.list_objects(f"s3://{world.bucket}/{job_name}/out/"):
        world.objects.download_dir(f"s3://{world.bucket}/{job_name}/out/", out)
    return job, out


def read_out(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def expected_segment(
    model: LoadedModel, items: list[str], k: int, excluded: frozenset[str] | set[str] = frozenset()
) -> list[str]:
    """The reference: every training user's probability mass on ``items``, one full sort (ties: user order)."""
    users = list(model.user_ids)
    probs = probabilities(model.score_histories(model.trained_histories(0, len(users))))
    index = {item: n for n, item in enumerate(model.item_ids)}
    mass = probs[:, [index[i] for i in items]].sum(axis=1)
    order = np.lexsort((np.arange(len(users)), -mass))
    return [users[u] for u in order if users[u] not in excluded][:k]


def test_item_affinity_segments(world: World) -> None:
    model = world.models["item"]
    items = [str(i["ITEM_ID"]) for i in world.data.items[:6]]
    lines: list[Any] = [{"itemId": i} for i in items] + [{"itemId": "no-such-item"}, "{oops", {"userId": "1"}]
    job, out = run_segment_job(world, world.versions["item"], {"items.json": lines}, numResults=7)
    assert job["status"] == "ACTIVE", job
    assert job["numResults"] == 7
    results = read_out(out / "items.json.out")
    assert [r["input"] for r in results] == lines
    for item, line in zip(items, results, strict=False):
        assert set(line) == {"input", "output"}
        assert line["output"]["recommendedUsers"] == expected_segment(model, [item], 7)
    unknown, malformed, wrong = results[len(items) :]
    assert "no-such-item" in unknown["error"] and "output" not in unknown
    assert "not valid JSON" in malformed["error"]
    assert "itemId" in wrong["error"]


def test_user_filter_values_per_line(world: World) -> None:
    model = world.models["item"]
    segment_of = {str(u["USER_ID"]): str(u["SEGMENT"]) for u in world.data.users}
    segments = sorted(set(segment_of.values()))
    item = str(world.data.items[0]["ITEM_ID"])
    lines: list[Any] = [{"itemId": item, "filterValues": {"SEGMENT": f'"{s}"'}} for s in segments[:2]]
    lines.append({"itemId": item})  # no value for $SEGMENT: the expression is left out, as online
    job, out = run_segment_job(
        world, world.versions["item"], {"f.json": lines}, numResults=10, filterArn=world.user_filter
    )
    assert job["status"] == "ACTIVE", job
    results = read_out(out / "f.json.out")
    for segment, line in zip(segments[:2], results, strict=False):
        users = line["output"]["recommendedUsers"]
        assert users and segment not in {segment_of[u] for u in users}
        excluded = {u for u, s in segment_of.items() if s == segment}
        assert users == expected_segment(model, [item], 10, excluded)
    assert results[2]["output"]["recommendedUsers"] == expected_segment(model, [item], 10)


def test_item_attribute_affinity_segments(world: World) -> None:
    model = world.models["attribute"]
    category = {str(i["ITEM_ID"]): str(i["CATEGORY"]) for i in world.data.items}
    price = {str(i["ITEM_ID"]): float(str(i["PRICE"])) for i in world.data.items}
    first, second = sorted(set(category.values()))[:2]
    cheap = sorted(price.values())[len(price) // 2]
    queries = [
        {"itemAttributes": f'ITEMS.CATEGORY = "{first}"'},
        {"itemAttributes": f'ITEMS.category = "{second}" AND ITEMS.PRICE <= {cheap}'},
        {"itemAttributes": 'ITEMS.CATEGORY = "no-such-category"'},
        {"itemAttributes": 'ITEMS.CATEGORY IN ("x")'},
    ]
    job, out = run_segment_job(world, world.versions["attribute"], {"q.json": queries}, numResults=5)
    assert job["status"] == "ACTIVE", job
    results = read_out(out / "q.json.out")
    known = set(model.item_ids)
    wanted = [
        [i for i in category if i in known and category[i] == first],
        [i for i in category if i in known and category[i] == second and price[i] <= cheap],
    ]
    for query, items, line in zip(queries, wanted, results, strict=False):
        assert set(line) == {"itemAttributes", "output"}  # the guide's shape: no "input" wrapper
        assert line["itemAttributes"] == query["itemAttributes"]
        assert line["output"]["recommendedUsers"] == expected_segment(model, items, 5)
    assert "No item" in results[2]["error"]
    assert "Invalid item attribute expression" in results[3]["error"]


def test_segment_metrics_and_bad_jobs(world: World) -> None:
    described = world.control.call("DescribeSolutionVersion", solutionVersionArn=world.versions["attribute"])
    metrics = world.control.call("GetSolutionMetrics", solutionVersionArn=world.versions["attribute"])["metrics"]
    assert described["solutionVersion"]["status"] == "ACTIVE"
    assert set(metrics) >= {"coverage", "hits_at_1_percent", "recall_at_1_percent"}
    too_many = [{"itemAttributes": 'ITEMS.CATEGORY = "a"'}] * 11
    job, _ = run_segment_job(world, world.versions["attribute"], {"many.json": too_many})
    assert job["status"] == "CREATE FAILED" and "at most 10" in job["failureReason"]
    job, _ = run_segment_job(world, world.versions["item"], {})
    assert job["status"] == "CREATE FAILED" and "Invalid S3 input path" in job["failureReason"]
    with pytest.raises(InvalidInputException, match="CreateBatchSegmentJob"):
        world.control.call(
            "CreateBatchInferenceJob",
            jobName="not-a-segment",
            solutionVersionArn=world.versions["item"],
            jobInput={"s3DataSource": {"path": "s3://bucket/x/"}},
            jobOutput={"s3DataDestination": {"path": "s3://bucket/y/"}},
            roleArn=ROLE,
        )
