"""boto3, unchanged, against Tailor through the AWS gateway: the guide's "Getting started (SDK for Python (Boto3))"
custom flow end to end, paginators, the typed exceptions the guide lists, and SigV4 (bad signatures refused).

Every service runs as a process against the real Kafka and Redis under one topic prefix (control, ingest,
stream, trainer, runtime, gateway); the only client is boto3 from PyPI with ``endpoint_url`` and the documented
development credential. One module-scoped world (training is the slow part).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config

from tailor_tools import localstack, synthetic
from tailor_tools.identity import default_credential
from tests.conftest import (
    GRPC_HEALTH_NAMES,
    RunningService,
    launch,
    new_prefix,
    purge_prefix,
    wait_grpc_serving,
    wait_http_health,
)

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

#: The development identity (docs/specs/auth.md) that every service started by the tests accepts.
_DEV = default_credential()
DEV_KEY, DEV_SECRET = _DEV.access_key_id, _DEV.secret_access_key
REGION = "us-east-1"
ROLE = "arn:aws:iam::000000000000:role/PersonalizeRole"
RECIPE = "arn:aws:personalize:::recipe/"
T = TypeVar("T")


@dataclass
class World:
    endpoint: str
    prefix: str
    name: str
    services: dict[str, RunningService]
    personalize: Any
    events: Any
    runtime: Any
    data: synthetic.SyntheticData
    arns: dict[str, str]
    tracking_id: str


def clients(endpoint: str, key: str = DEV_KEY, secret: str = DEV_SECRET) -> tuple[Any, Any, Any]:
    config = Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=120)
    make = [
        boto3.client(
            name,
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            config=config,
        )
        for name in ("personalize", "personalize-events", "personalize-runtime")
    ]
    return make[0], make[1], make[2]


def wait_status(describe: Callable[..., Any], key: str, timeout: float = 120, **request: str) -> dict[str, Any]:
    """The guide's polling loop: describe until ACTIVE (or CREATE FAILED, which fails the test)."""
    deadline = time.monotonic() + timeout
    while True:
        resource: dict[str, Any] = describe(**request)[key]
        if resource["status"] == "ACTIVE":
            return resource
        assert resource["status"] != "CREATE FAILED", resource.get("failureReason")
        assert time.monotonic() < deadline, f"{key} still {resource['status']}"
        time.sleep(0.2)


def retry_visible(call: Callable[[], T], exceptions: Any, timeout: float = 15) -> T:
    """Ingest's resource view follows control's topic a few milliseconds behind."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except exceptions.ResourceNotFoundException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.fixture(scope="module")
def world(stack: localstack.StackConfig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    prefix = new_prefix("gw")
    workdir = tmp_path_factory.mktemp("gateway-world")
    env = {
        "TAILOR_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
        "TAILOR_REDIS_URL": stack.redis_url,
        "TAILOR_TOPIC_PREFIX": prefix,
        "TAILOR_MODEL_STORE": str(workdir / "models"),
        "TAILOR_STREAM_DATA_DIR": str(workdir / "stream"),
        "TAILOR_RUNTIME_METADATA_REFRESH_S": "1",
    }
    services: dict[str, RunningService] = {}
    opened: list[Any] = []
    for name in ("control", "ingest", "stream", "trainer", "runtime"):
        services[name] = launch(name, env, workdir / f"{name}.log")
    try:
        for svc in services.values():
            if svc.name in GRPC_HEALTH_NAMES:
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
        endpoint = f"http://{services['gateway'].address}"
        personalize, events, runtime = clients(endpoint)
        opened += [personalize, events, runtime]
        data = synthetic.generate(n_users=80, n_items=120, seed=5)
        name = f"gs-{uuid.uuid4().hex[:6]}"
        arns: dict[str, str] = {}

        # Step 1: verify the environment (the guide lists the recipes).
        recipes = personalize.list_recipes()["recipes"]
        assert any(r["recipeArn"] == RECIPE + "aws-user-personalization-v2" for r in recipes)

        # Step 2: import data — schemas, dataset group, datasets, import jobs.
        for kind, schema in (("Interactions", synthetic.INTERACTIONS_SCHEMA), ("Items", synthetic.ITEMS_SCHEMA)):
            arns[f"schema-{kind}"] = personalize.create_schema(
                name=f"{name}-{kind.lower()}", schema=json.dumps(schema)
            )["schemaArn"]
        arns["group"] = personalize.create_dataset_group(name=name)["datasetGroupArn"]
        group = wait_status(personalize.describe_dataset_group, "datasetGroup", datasetGroupArn=arns["group"])
        assert group["name"] == name and isinstance(group["creationDateTime"], dt.datetime)
        for kind, rows in (("Items", data.items), ("Interactions", data.interactions)):
            arns[kind] = personalize.create_dataset(
                name=f"{name}-{kind.lower()}",
                schemaArn=arns[f"schema-{kind}"],
                datasetGroupArn=arns["group"],
                datasetType=kind,
            )["datasetArn"]
            wait_status(personalize.describe_dataset, "dataset", datasetArn=arns[kind])
            path = workdir / f"{kind.lower()}.csv"
            path.write_text(synthetic.to_csv(rows))
            job = personalize.create_dataset_import_job(
                jobName=f"{name}-{kind.lower()}",
                datasetArn=arns[kind],
                dataSource={"dataLocation": path.as_uri()},
                roleArn=ROLE,
                importMode="FULL",
            )["datasetImportJobArn"]
            wait_status(personalize.describe_dataset_import_job, "datasetImportJob", 180, datasetImportJobArn=job)

        # Step 3: solutions and solution versions (User-Personalization-v2, Personalized-Ranking-v2).
        for short, recipe in (("up", "aws-user-personalization-v2"), ("ranking", "aws-personalized-ranking-v2")):
            arns[f"solution-{short}"] = personalize.create_solution(
                name=f"{name}-{short}", recipeArn=RECIPE + recipe, datasetGroupArn=arns["group"]
            )["solutionArn"]
            wait_status(personalize.describe_solution, "solution", solutionArn=arns[f"solution-{short}"])
            arns[f"version-{short}"] = personalize.create_solution_version(solutionArn=arns[f"solution-{short}"])[
                "solutionVersionArn"
            ]
        for short in ("up", "ranking"):
            wait_status(
                personalize.describe_solution_version,
                "solutionVersion",
                300,
                solutionVersionArn=arns[f"version-{short}"],
            )

        # Step 4: campaigns.
        for short in ("up", "ranking"):
            arns[f"campaign-{short}"] = personalize.create_campaign(
                name=f"{name}-{short}",
                solutionVersionArn=arns[f"version-{short}"],
                minProvisionedTPS=1,
                campaignConfig={"enableMetadataWithRecommendations": True},
            )["campaignArn"]
        for short in ("up", "ranking"):
            wait_status(personalize.describe_campaign, "campaign", campaignArn=arns[f"campaign-{short}"])

        # Event tracker and filters for the recommendation steps.
        tracker = personalize.create_event_tracker(name=f"{name}-web", datasetGroupArn=arns["group"])
        wait_status(personalize.describe_event_tracker, "eventTracker", eventTrackerArn=tracker["eventTrackerArn"])
        arns["tracker"] = tracker["eventTrackerArn"]
        for short, expression in (
            ("in-categories", "INCLUDE ItemID WHERE Items.CATEGORY IN ($CATEGORIES)"),
            ("cheap", "INCLUDE ItemID WHERE Items.PRICE < 20"),
        ):
            arns[f"filter-{short}"] = personalize.create_filter(
                name=f"{name}-{short}", datasetGroupArn=arns["group"], filterExpression=expression
            )["filterArn"]
            wait_status(personalize.describe_filter, "filter", filterArn=arns[f"filter-{short}"])
        yield World(
            endpoint,
            prefix,
            name,
            services,
            personalize,
            events,
            runtime,
            data,
            arns,
            tracker["trackingId"],
        )
    except BaseException:
        for svc in services.values():
            print(f"--- {svc.name} log (tail) ---\n{svc.log()[-3000:]}")
        raise
    finally:
        for client in opened:
            client.close()
        for svc in services.values():
            svc.stop()
        purge_prefix(stack, prefix)


def user_of(world: World, k: int = 0) -> str:
    return str(world.data.users[k]["USER_ID"])


# --- the getting-started flow's results --------------------------------------------------------------------


def test_describe_calls_return_personalize_shapes_and_datetimes(world: World) -> None:
    p = world.personalize
    campaign = p.describe_campaign(campaignArn=world.arns["campaign-up"])["campaign"]
    assert campaign["status"] == "ACTIVE"
    assert campaign["minProvisionedTPS"] == 1
    assert campaign["campaignConfig"]["enableMetadataWithRecommendations"] is True
    assert isinstance(campaign["creationDateTime"], dt.datetime) and campaign["creationDateTime"].tzinfo
    version = p.describe_solution_version(solutionVersionArn=world.arns["version-up"])["solutionVersion"]
    assert version["status"] == "ACTIVE" and version["solutionVersionArn"].startswith(world.arns["solution-up"])
    metrics = p.get_solution_metrics(solutionVersionArn=world.arns["version-up"])["metrics"]
    assert "precision_at_25" in metrics
    schema = p.describe_schema(schemaArn=world.arns["schema-Items"])["schema"]
    assert json.loads(schema["schema"])["name"] == "Items"
    assert world.arns["group"] == f"arn:aws:personalize:{REGION}:000000000000:dataset-group/{world.name}"


def test_get_recommendations_after_put_events(world: World) -> None:
    user = user_of(world, 1)
    before = world.runtime.get_recommendations(campaignArn=world.arns["campaign-up"], userId=user, numResults=10)
    assert len(before["itemList"]) == 10 and before["recommendationId"]
    assert all("itemId" in item for item in before["itemList"])
    clicked = [str(it["ITEM_ID"]) for it in world.data.items[:3]]
    now = dt.datetime.now(dt.UTC)
    world.events.put_events(
        trackingId=world.tracking_id,
        userId=user,
        sessionId=f"s-{user}",
        eventList=[
            {"eventType": "click", "itemId": item, "sentAt": now + dt.timedelta(milliseconds=k)}
            for k, item in enumerate(clicked)
        ],
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        after = world.runtime.get_recommendations(campaignArn=world.arns["campaign-up"], userId=user, numResults=10)
        if [i["itemId"] for i in after["itemList"]] != [i["itemId"] for i in before["itemList"]]:
            return
        time.sleep(0.2)
    pytest.fail("recommendations did not change after PutEvents")


def test_get_recommendations_with_a_filter_a_promotion_and_metadata(world: World) -> None:
    user = user_of(world, 2)
    category = synthetic.CATEGORIES[0]
    response = world.runtime.get_recommendations(
        campaignArn=world.arns["campaign-up"],
        userId=user,
        numResults=10,
        filterArn=world.arns["filter-in-categories"],
        filterValues={"CATEGORIES": f'"{category}"'},
        metadataColumns={"ITEMS": ["CATEGORY", "PRICE"]},
        promotions=[{"name": "cheap", "percentPromotedItems": 20, "filterArn": world.arns["filter-cheap"]}],
    )
    items = response["itemList"]
    assert items
    promoted = [i for i in items if i.get("promotionName") == "cheap"]
    regular = [i for i in items if "promotionName" not in i]
    assert promoted, items
    assert all(float(i["metadata"]["PRICE"]) < 20 for i in promoted)
    assert all(i["metadata"]["CATEGORY"] == category for i in regular)


def test_get_personalized_ranking(world: World) -> None:
    candidates = [str(it["ITEM_ID"]) for it in world.data.items[10:25]]
    response = world.runtime.get_personalized_ranking(
        campaignArn=world.arns["campaign-ranking"], userId=user_of(world, 3), inputList=candidates
    )
    ranked = [i["itemId"] for i in response["personalizedRanking"]]
    assert sorted(ranked) == sorted(candidates)
    scored = [i for i in response["personalizedRanking"] if "score" in i]
    assert scored and [i["score"] for i in scored] == sorted((i["score"] for i in scored), reverse=True)
    # Items without interactions data come last, without a score (L6450).
    assert response["personalizedRanking"][: len(scored)] == scored


def test_put_items_and_users_through_the_events_client(world: World) -> None:
    world.events.put_items(
        datasetArn=world.arns["Items"],
        items=[
            {
                "itemId": "gw-new-item",
                "properties": json.dumps({"category": "books", "price": 3.5, "creationTimestamp": 1_700_000_000}),
            }
        ],
    )
    with pytest.raises(world.events.exceptions.ResourceNotFoundException):
        world.events.put_users(
            datasetArn=world.arns["Items"].replace("/ITEMS", "/USERS"),
            users=[{"userId": "u1", "properties": json.dumps({"segment": "a"})}],
        )


# --- paginators ----------------------------------------------------------------------------------------------


def test_paginators_follow_next_tokens(world: World) -> None:
    p = world.personalize
    pages = list(
        p.get_paginator("list_datasets").paginate(datasetGroupArn=world.arns["group"], PaginationConfig={"PageSize": 1})
    )
    assert len(pages) >= 2 and all(len(page["datasets"]) <= 1 for page in pages)
    assert {d["datasetArn"] for page in pages for d in page["datasets"]} == {
        world.arns["Items"],
        world.arns["Interactions"],
    }
    assert "nextToken" in pages[0]
    filters = p.get_paginator("list_filters").paginate(
        datasetGroupArn=world.arns["group"], PaginationConfig={"PageSize": 1}
    )
    assert {f["filterArn"] for page in filters for f in page["Filters"]} == {
        world.arns["filter-in-categories"],
        world.arns["filter-cheap"],
    }
    recipes = p.get_paginator("list_recipes").paginate().build_full_result()["recipes"]
    assert len(recipes) == len(p.list_recipes(maxResults=100)["recipes"])


# --- typed exceptions ----------------------------------------------------------------------------------------


def test_typed_exceptions_of_the_control_plane(world: World) -> None:
    p = world.personalize
    missing = f"arn:aws:personalize:{REGION}:000000000000:campaign/{world.name}-nope"
    with pytest.raises(p.exceptions.ResourceNotFoundException) as not_found:
        p.describe_campaign(campaignArn=missing)
    assert not_found.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert not_found.value.response["Error"]["Message"]
    with pytest.raises(p.exceptions.ResourceAlreadyExistsException):
        p.create_dataset_group(name=world.name)
    with pytest.raises(p.exceptions.InvalidInputException):
        p.create_dataset_group(name="not a valid name!")
    with pytest.raises(p.exceptions.ResourceInUseException):
        p.delete_dataset_group(datasetGroupArn=world.arns["group"])
    with pytest.raises(p.exceptions.InvalidNextTokenException):
        p.list_dataset_groups(nextToken="not-a-token-tailor-issued")
    tags = [{"tagKey": f"k{i}", "tagValue": "v"} for i in range(51)]
    with pytest.raises(p.exceptions.TooManyTagsException):
        p.tag_resource(resourceArn=world.arns["filter-cheap"], tags=tags)
    with pytest.raises(p.exceptions.TooManyTagKeysException):
        p.untag_resource(resourceArn=world.arns["filter-cheap"], tagKeys=[f"k{i}" for i in range(51)])
    # LimitExceededException: Personalize allows 10 filters per dataset group (two exist).
    made = []
    with pytest.raises(p.exceptions.LimitExceededException):
        for i in range(12):
            made.append(
                p.create_filter(
                    name=f"{world.name}-limit-{i}",
                    datasetGroupArn=world.arns["group"],
                    filterExpression='EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("view")',
                )["filterArn"]
            )
    assert len(made) == 8  # the world's teardown removes them with the topic prefix


def test_typed_exceptions_of_events_and_runtime_carry_aws_statuses(world: World) -> None:
    missing = f"arn:aws:personalize:{REGION}:000000000000:campaign/{world.name}-nope"
    with pytest.raises(world.runtime.exceptions.ResourceNotFoundException) as not_found:
        world.runtime.get_recommendations(campaignArn=missing, userId="u1")
    assert not_found.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(world.runtime.exceptions.InvalidInputException) as invalid:
        world.runtime.get_recommendations(campaignArn=world.arns["campaign-up"])  # no userId
    assert invalid.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    now = dt.datetime.now(dt.UTC)
    with pytest.raises(world.events.exceptions.InvalidInputException) as bad_event:
        world.events.put_events(
            trackingId=world.tracking_id,
            sessionId="s",
            eventList=[{"eventType": "click", "itemId": "i", "sentAt": now, "properties": "not json"}],
        )
    assert bad_event.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(world.events.exceptions.ResourceNotFoundException) as no_tracker:
        world.events.put_events(
            trackingId="00000000-0000-0000-0000-000000000000",
            sessionId="s",
            eventList=[{"eventType": "click", "itemId": "i", "sentAt": now}],
        )
    assert no_tracker.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_unknown_operation_is_aws_s_error(world: World) -> None:
    request = urllib.request.Request(
        world.endpoint + "/",
        data=b"{}",
        headers={"X-Amz-Target": "AmazonPersonalize.NoSuchThing", "Content-Type": "application/x-amz-json-1.1"},
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=10)
    with err.value:
        assert err.value.code == 400
        body = json.loads(err.value.read())
    assert body["__type"] == "UnknownOperationException"
    huge = urllib.request.Request(world.endpoint + "/recommendations", data=b"x" * (5 * 1024 * 1024))
    with pytest.raises(urllib.error.HTTPError) as too_large:
        urllib.request.urlopen(huge, timeout=30)
    with too_large.value:
        assert too_large.value.code == 413
        assert too_large.value.headers["x-amzn-ErrorType"] == "RequestEntityTooLargeException"
    # botocore's model is newer than the protos: its UpdateSolution is answered, not left hanging.
    with pytest.raises(botocore.exceptions.ClientError) as newer:
        world.personalize.update_solution(solutionArn=world.arns["solution-up"], performAutoTraining=False)
    assert newer.value.response["Error"]["Code"] == "UnknownOperationException"
    assert "not implemented by Tailor yet" in newer.value.response["Error"]["Message"]


def test_client_errors_are_botocore_client_errors(world: World) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as err:
        world.personalize.describe_dataset_group(
            datasetGroupArn=f"arn:aws:personalize:{REGION}:000000000000:dataset-group/{world.name}-x"
        )
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"


# --- SigV4: the gateway verifies every request --------------------------------------------------------------


def _auth_error(call: Callable[[], object]) -> tuple[str, int, str]:
    with pytest.raises(botocore.exceptions.ClientError) as err:
        call()
    response = err.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Message"]


def test_wrong_secret_unknown_key_and_unsigned_requests_are_refused(world: World) -> None:
    wrong, wrong_events, wrong_runtime = clients(world.endpoint, secret="not-the-dev-secret")
    unknown, _, _ = clients(world.endpoint, key="AKIANOBODYKNOWSTHIS")
    unsigned = boto3.client(
        "personalize",
        endpoint_url=world.endpoint,
        region_name=REGION,
        config=Config(signature_version=botocore.UNSIGNED, retries={"max_attempts": 1}),
    )
    try:
        code, status, message = _auth_error(wrong.list_recipes)
        assert (code, status) == ("InvalidSignatureException", 403)
        assert "signature we calculated does not match" in message
        assert _auth_error(
            lambda: wrong_runtime.get_recommendations(campaignArn=world.arns["campaign-up"], userId="u")
        )[:2] == ("InvalidSignatureException", 403)
        assert _auth_error(
            lambda: wrong_events.put_events(
                trackingId=world.tracking_id,
                sessionId="s",
                eventList=[{"eventType": "click", "itemId": "i", "sentAt": dt.datetime.now(dt.UTC)}],
            )
        )[:2] == ("InvalidSignatureException", 403)
        assert _auth_error(unknown.list_recipes)[:2] == ("UnrecognizedClientException", 403)
        assert _auth_error(unsigned.list_recipes)[:2] == ("MissingAuthenticationTokenException", 403)
    finally:
        for client in (wrong, wrong_events, wrong_runtime, unknown, unsigned):
            client.close()


def test_expired_signatures_are_refused(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore signs with the time get_current_datetime gives it: 20 minutes ago is past AWS's 15-minute window."""
    import botocore.auth

    real: Callable[[], dt.datetime] = botocore.auth.get_current_datetime  # type: ignore[attr-defined]  # not in stubs
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: real() - dt.timedelta(minutes=20))
    code, status, _message = _auth_error(world.personalize.list_recipes)
    assert (code, status) == ("InvalidSignatureException", 403)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", real)
    assert world.personalize.list_recipes()["recipes"]


def test_the_aws_cli_works_against_the_gateway(world: World) -> None:
    """README's `aws personalize ...` example: the AWS CLI (awscli from PyPI) with the development credential."""
    aws = Path(sys.executable).parent / "aws"
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": DEV_KEY,
        "AWS_SECRET_ACCESS_KEY": DEV_SECRET,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }

    def run(*args: str) -> Any:
        out = subprocess.run(
            [str(aws), *args, "--endpoint-url", world.endpoint, "--output", "json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    group = run("personalize", "describe-dataset-group", "--dataset-group-arn", world.arns["group"])
    assert group["datasetGroup"]["status"] == "ACTIVE"
    campaign, user = world.arns["campaign-up"], user_of(world, 4)
    recs = run(
        "personalize-runtime",
        "get-recommendations",
        "--campaign-arn",
        campaign,
        "--user-id",
        user,
        "--num-results",
        "3",
    )
    assert len(recs["itemList"]) == 3
