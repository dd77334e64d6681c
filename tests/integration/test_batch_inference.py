"""Batch inference against the real stack: control, ingest, stream, trainer, runtime and the batch worker as
processes under one topic prefix; a small synthetic dataset group, four recipes trained and deployed. Every
answered batch line must equal what GetRecommendations / GetPersonalizedRanking return for the same request on
a campaign of the same solution version (ADR 0016) — same model, filters and ranking code.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from tailor_shared import storage
from tailor_shared.config import S3Settings
from tailor_shared.errors import InvalidInputException, PersonalizeError
from tailor_shared.objectstore import ObjectStore
from tailor_tools import localstack, synthetic
from tailor_tools.client import Client
from tests.conftest import RunningService, launch, new_prefix, purge_prefix, wait_grpc_serving
from tests.integration.test_runtime_service import poll

pytestmark = pytest.mark.integration

RECIPE = "arn:aws:personalize:::recipe/"
ROLE = "arn:aws:iam::000000000000:role/PersonalizeRole"
RECIPES = {
    "up": "aws-user-personalization-v2",
    "ranking": "aws-personalized-ranking-v2",
    "sims": "aws-sims",
    "popularity": "aws-popularity-count",
    "trending": "aws-trending-now",
}
FILTERS = {
    "in-categories": "INCLUDE ItemID WHERE Items.CATEGORY IN ($CATEGORIES)",
    "no-purchased": 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")',
}


@dataclass
class World:
    prefix: str
    workdir: Path
    s3_root: Path  # where run_job downloads a job's output folder from the S3 server
    data: synthetic.SyntheticData
    control: Client
    runtime: Client
    versions: dict[str, str]
    campaigns: dict[str, str]
    filters: dict[str, str]
    services: dict[str, RunningService]
    bucket: str  # on the stack's S3 server: every job reads and writes s3://<bucket>/<job>/...

    @property
    def objects(self) -> ObjectStore:
        return ObjectStore(S3Settings.from_env(localstack.StackConfig.from_env().s3_env()))


@pytest.fixture(scope="module")
def world(stack: localstack.StackConfig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    prefix = new_prefix("batch")
    workdir = tmp_path_factory.mktemp("batch-world")
    s3_root = workdir / "s3"
    env = {
        "TAILOR_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
        "TAILOR_REDIS_URL": stack.redis_url,
        "TAILOR_TOPIC_PREFIX": prefix,
        "TAILOR_MODEL_STORE": str(workdir / "models"),
        "TAILOR_STREAM_DATA_DIR": str(workdir / "stream"),
        "TAILOR_CONTROL_QUOTAS": json.dumps({"active_campaigns_per_group": 10}),
    }
    services: dict[str, RunningService] = {}
    objects = ObjectStore(S3Settings.from_env(stack.s3_env()))
    objects.create_bucket(prefix)
    for n, name in enumerate(("control", "ingest", "stream", "trainer", "runtime", "batch")):
        services[name] = launch(name, env, workdir / f"{name}-{n}.log")
    clients: list[Client] = []
    try:
        for svc in services.values():
            if svc.name != "stream":
                wait_grpc_serving(svc, timeout=90)
        control = Client(services["control"].address, "control")
        runtime = Client(services["runtime"].address, "runtime")
        clients += [control, runtime]
        data = synthetic.generate(n_users=60, n_items=80, seed=5)
        name = f"bt-{uuid.uuid4().hex[:6]}"
        group = control.call("CreateDatasetGroup", name=name)["datasetGroupArn"]
        control.wait_for("DescribeDatasetGroup", "datasetGroup", datasetGroupArn=group)
        datasets: dict[str, str] = {}
        for kind, schema in (("Interactions", synthetic.INTERACTIONS_SCHEMA), ("Items", synthetic.ITEMS_SCHEMA)):
            schema_arn = control.call("CreateSchema", name=f"{name}-{kind.lower()}", schema=json.dumps(schema))[
                "schemaArn"
            ]
            datasets[kind] = control.call(
                "CreateDataset",
                name=f"{name}-{kind.lower()}",
                schemaArn=schema_arn,
                datasetGroupArn=group,
                datasetType=kind,
            )["datasetArn"]
            control.wait_for("DescribeDataset", "dataset", datasetArn=datasets[kind])
        for kind, rows in (("Items", data.items), ("Interactions", data.interactions)):
            path = workdir / f"{kind.lower()}.csv"
            path.write_text(synthetic.to_csv(rows))
            job = control.call(
                "CreateDatasetImportJob",
                jobName=f"{name}-{kind.lower()}",
                datasetArn=datasets[kind],
                dataSource={"dataLocation": path.as_uri()},
                roleArn=ROLE,
            )["datasetImportJobArn"]
            control.wait_for("DescribeDatasetImportJob", "datasetImportJob", timeout=120, datasetImportJobArn=job)
        versions: dict[str, str] = {}
        for short, recipe in RECIPES.items():
            solution = control.call(
                "CreateSolution", name=f"{name}-{short}", recipeArn=RECIPE + recipe, datasetGroupArn=group
            )["solutionArn"]
            control.wait_for("DescribeSolution", "solution", solutionArn=solution)
            versions[short] = control.call("CreateSolutionVersion", solutionArn=solution)["solutionVersionArn"]
        filters = {
            f: control.call("CreateFilter", name=f"{name}-{f}", datasetGroupArn=group, filterExpression=e)["filterArn"]
            for f, e in FILTERS.items()
        }
        for arn in filters.values():
            control.wait_for("DescribeFilter", "filter", filterArn=arn)
        with storage.records(stack.kafka_bootstrap, prefix) as view:
            keys = storage.group_keys(view, prefix, group)
        probe = redis.Redis.from_url(stack.redis_url)
        last_item = str(data.items[-1]["ITEM_ID"])
        poll(lambda: probe.exists(keys.metadata("item", last_item)), bool, timeout=60, interval=0.2)
        probe.close()
        campaigns: dict[str, str] = {}
        for short, version in versions.items():
            control.wait_for("DescribeSolutionVersion", "solutionVersion", timeout=240, solutionVersionArn=version)
            if short == "trending":
                continue
            campaigns[short] = control.call("CreateCampaign", name=f"{name}-{short}", solutionVersionArn=version)[
                "campaignArn"
            ]
        for arn in campaigns.values():
            control.wait_for("DescribeCampaign", "campaign", timeout=60, campaignArn=arn)
        yield World(prefix, workdir, s3_root, data, control, runtime, versions, campaigns, filters, services, prefix)
    except BaseException:
        for svc in services.values():
            print(f"--- {svc.name} log (tail) ---\n{svc.log()[-3000:]}")
        raise
    finally:
        for client in clients:
            client.close()
        for svc in services.values():
            svc.stop()
        purge_prefix(stack, prefix)
        objects.delete_bucket(prefix)


def run_job(world: World, version: str, files: dict[str, list[Any]], **extra: Any) -> tuple[dict[str, Any], Path]:
    """Write the input files under s3://<bucket>/<job>/in/ on the S3 server, run a batch inference job, wait
    for its outcome, and download its output folder."""
    job_name = f"job-{uuid.uuid4().hex[:8]}"
    for file_name, lines in files.items():
        text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)
        world.objects.write_bytes(f"s3://{world.bucket}/{job_name}/in/{file_name}", (text + "\n").encode())
    arn = world.control.call(
        "CreateBatchInferenceJob",
        jobName=job_name,
        solutionVersionArn=version,
        jobInput={"s3DataSource": {"path": f"s3://{world.bucket}/{job_name}/in/"}},
        jobOutput={"s3DataDestination": {"path": f"s3://{world.bucket}/{job_name}/out/"}},
        roleArn=ROLE,
        **extra,
    )["batchInferenceJobArn"]
    job = world.control.wait_for(
        "DescribeBatchInferenceJob",
        "batchInferenceJob",
        statuses=("ACTIVE", "CREATE FAILED"),
        timeout=120,
        batchInferenceJobArn=arn,
    )
    out = world.s3_root / job_name / "out"
    if world.objects.list_objects(f"s3://{world.bucket}/{job_name}/out/"):
        world.objects.download_dir(f"s3://{world.bucket}/{job_name}/out/", out)
    return job, out


def read_out(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-6)


def online(world: World, operation: str, **request: Any) -> dict[str, Any] | str:
    try:
        return world.runtime.call(operation, **request)
    except PersonalizeError as err:
        return err.message


def assert_same_recommendations(
    world: World, campaign: str, line: dict[str, Any], num_results: int, filter_arn: str | None
) -> None:
    request: dict[str, Any] = {"campaignArn": campaign, "numResults": num_results}
    for key in ("userId", "itemId", "filterValues"):
        if key in line["input"]:
            request[key] = line["input"][key]
    if filter_arn:
        request["filterArn"] = filter_arn
    answer = online(world, "GetRecommendations", **request)
    if isinstance(answer, str):
        assert line.get("error"), (line, answer)
        return
    assert "error" not in line, (line, answer)
    expected = answer.get("itemList", [])
    out = line["output"]
    assert out["recommendedItems"] == [i["itemId"] for i in expected], (line, answer)
    if "scores" in out:
        assert all(close(s, i.get("score")) for s, i in zip(out["scores"], expected, strict=True)), (line, answer)
    else:
        assert all("score" not in i for i in expected)
    if "reasons" in out:
        assert out["reasons"] == [i.get("reason", []) for i in expected]


def test_user_personalization_lines_equal_get_recommendations(world: World) -> None:
    users = [str(u["USER_ID"]) for u in world.data.users[:25]] + ["no-such-user"]
    lines: list[Any] = [{"userId": u} for u in users]
    job, out = run_job(world, world.versions["up"], {"users.json": lines[:13], "more.json": lines[13:]}, numResults=7)
    assert job["status"] == "ACTIVE", job
    assert sorted(p.name for p in out.iterdir()) == ["more.json.out", "users.json.out"]
    results = read_out(out / "users.json.out") + read_out(out / "more.json.out")
    assert [r["input"] for r in results] == lines
    for line in results:
        assert len(line["output"]["recommendedItems"]) == 7
        assert len(line["output"]["reasons"]) == 7
        assert_same_recommendations(world, world.campaigns["up"], line, 7, None)


def test_filter_values_per_line_and_bad_lines(world: World) -> None:
    users = [str(u["USER_ID"]) for u in world.data.users[:10]]
    categories = sorted({str(i["CATEGORY"]) for i in world.data.items})
    lines: list[Any] = [
        {"userId": u, "filterValues": {"CATEGORIES": f'"{categories[k % len(categories)]}"'}}
        for k, u in enumerate(users)
    ]
    lines += ["{not json", {"itemId": "1"}, [1, 2], {"userId": users[0], "filterValues": {"CATEGORIES": 5}}]
    filter_arn = world.filters["in-categories"]
    job, out = run_job(world, world.versions["up"], {"f.json": lines}, numResults=5, filterArn=filter_arn)
    assert job["status"] == "ACTIVE", job
    results = read_out(out / "f.json.out")
    assert len(results) == len(lines)
    by_category = {str(i["ITEM_ID"]): str(i["CATEGORY"]) for i in world.data.items}
    for line, given in zip(results[: len(users)], lines, strict=False):
        wanted = given["filterValues"]["CATEGORIES"].strip('"')
        assert {by_category[i] for i in line["output"]["recommendedItems"]} <= {wanted}
        assert_same_recommendations(world, world.campaigns["up"], line, 5, filter_arn)
    bad = results[len(users) :]
    assert all("error" in line and "output" not in line for line in bad), bad
    assert bad[0]["input"] == "{not json"
    assert "userId" in bad[1]["error"]
    assert "filterValues" in bad[3]["error"]


def test_a_finished_job_does_not_hold_its_filter(world: World) -> None:
    """A filter can't be deleted while a batch job using it is pending or in progress; once the worker has
    finished the job (here CREATE FAILED: no input), the delete goes through."""
    name = f"nofile-{uuid.uuid4().hex[:6]}"
    filter_arn = world.filters["no-purchased"]
    arn = world.control.call(
        "CreateBatchInferenceJob",
        jobName=name,
        solutionVersionArn=world.versions["up"],
        filterArn=filter_arn,
        jobInput={"s3DataSource": {"path": f"s3://{world.bucket}/{name}/in/"}},
        jobOutput={"s3DataDestination": {"path": f"s3://{world.bucket}/{name}/out/"}},
        roleArn=ROLE,
    )["batchInferenceJobArn"]
    job = world.control.wait_for(
        "DescribeBatchInferenceJob",
        "batchInferenceJob",
        statuses=("ACTIVE", "CREATE FAILED"),
        timeout=60,
        batchInferenceJobArn=arn,
    )
    assert job["status"] == "CREATE FAILED"
    world.control.call("DeleteFilter", filterArn=filter_arn)


def test_personalized_ranking_lines_equal_get_personalized_ranking(world: World) -> None:
    items = [str(i["ITEM_ID"]) for i in world.data.items]
    lines = [
        {"userId": str(u["USER_ID"]), "itemList": [items[(k * 7 + j) % len(items)] for j in range(5)] + ["unknown"]}
        for k, u in enumerate(world.data.users[:15])
    ]
    lines.append({"userId": "u-x"})  # no itemList: an error line
    job, out = run_job(world, world.versions["ranking"], {"r.json": lines})
    assert job["status"] == "ACTIVE", job
    results = read_out(out / "r.json.out")
    for line in results[:-1]:
        answer = world.runtime.call(
            "GetPersonalizedRanking",
            campaignArn=world.campaigns["ranking"],
            userId=line["input"]["userId"],
            inputList=line["input"]["itemList"],
        )
        expected = answer["personalizedRanking"]
        assert line["output"]["recommendedItems"] == [i["itemId"] for i in expected]
        assert line["output"]["recommendedItems"][-1] == "unknown"
        assert all(close(s, i.get("score")) for s, i in zip(line["output"]["scores"], expected, strict=True))
    assert "itemList" in results[-1]["error"]


def test_related_and_popular_items_lines_equal_get_recommendations(world: World) -> None:
    items = [{"itemId": str(i["ITEM_ID"])} for i in world.data.items[:12]] + [{"itemId": "nope"}]
    job, out = run_job(world, world.versions["sims"], {"i.json": items}, numResults=4)
    assert job["status"] == "ACTIVE", job
    for line in read_out(out / "i.json.out"):
        assert "scores" not in line["output"]
        assert line["input"]["itemId"] not in line["output"]["recommendedItems"]
        assert_same_recommendations(world, world.campaigns["sims"], line, 4, None)
    users = [{"userId": str(u["USER_ID"])} for u in world.data.users[:5]]
    job, out = run_job(world, world.versions["popularity"], {"p.json": users}, numResults=3)
    assert job["status"] == "ACTIVE", job
    results = read_out(out / "p.json.out")
    assert len({tuple(r["output"]["recommendedItems"]) for r in results}) == 1
    for line in results:
        assert set(line["output"]) == {"recommendedItems"}
        assert_same_recommendations(world, world.campaigns["popularity"], line, 3, None)


def test_bad_jobs_fail_with_a_reason_or_are_refused(world: World) -> None:
    with pytest.raises(InvalidInputException, match=r"(?i)trending-now"):
        run_job(world, world.versions["trending"], {"x.json": [{"userId": "1"}]})
    name = f"missing-{uuid.uuid4().hex[:6]}"
    arn = world.control.call(
        "CreateBatchInferenceJob",
        jobName=name,
        solutionVersionArn=world.versions["up"],
        jobInput={"s3DataSource": {"path": f"s3://{world.bucket}/{name}/nothing-here/"}},
        jobOutput={"s3DataDestination": {"path": f"s3://{world.bucket}/{name}/out/"}},
        roleArn=ROLE,
    )["batchInferenceJobArn"]
    job = world.control.wait_for(
        "DescribeBatchInferenceJob",
        "batchInferenceJob",
        statuses=("ACTIVE", "CREATE FAILED"),
        timeout=60,
        batchInferenceJobArn=arn,
    )
    assert job["status"] == "CREATE FAILED"
    assert "Invalid S3 input path" in job["failureReason"]
    assert world.objects.list_objects(f"s3://{world.bucket}/{name}/out/") == []
    # Batch jobs can't be deleted (the guide's FAQ): there is no DeleteBatchInferenceJob.
    with pytest.raises(AttributeError):
        world.control.call("DeleteBatchInferenceJob", batchInferenceJobArn=arn)
