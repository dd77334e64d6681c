"""The runtime against the real stack: control, ingest, stream, trainer and runtime processes under one topic
prefix; a small synthetic dataset group imported from CSV, four recipes trained by the real trainer, campaigns
deployed by the runtime; then Personalize Runtime semantics end to end (real-time events, filters,
promotions, personalized ranking, errors, Redis outage, impressions).

One module-scoped world keeps the suite short (training is the slow part); each test reads it and writes only
events for its own user. Timings (campaign deployment, event → changed recommendations) are attached to the
test reports with ``record_property`` and printed (``pytest -s``).
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import redis
from confluent_kafka import Consumer, TopicPartition

from tailor_shared import storage
from tailor_shared.errors import (
    InvalidInputException,
    ResourceNotFoundException,
    ServiceUnavailableException,
)
from tailor_shared.topics import impressions_topic
from tailor_tools import localstack, synthetic
from tailor_tools.client import Client
from tailor_tools.ports import free_port
from tests.conftest import (
    GRPC_HEALTH_NAMES,
    RunningService,
    launch,
    new_prefix,
    purge_prefix,
    wait_grpc_serving,
)

pytestmark = pytest.mark.integration

RECIPE = "arn:aws:personalize:::recipe/"
ROLE = "arn:aws:iam::000000000000:role/PersonalizeRole"
N_USERS, N_ITEMS = 150, 200
RECIPES = {
    "popularity": "aws-popularity-count",
    "sims": "aws-sims",
    "up": "aws-user-personalization-v2",
    "ranking": "aws-personalized-ranking-v2",
    "trending": "aws-trending-now",
    "up-v1": "aws-user-personalization",
}
FILTERS = {
    "no-purchased": 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")',
    "in-categories": "INCLUDE ItemID WHERE Items.CATEGORY IN ($CATEGORIES)",
    "same-category": "INCLUDE ItemID WHERE Items.CATEGORY IN CurrentItem.CATEGORY",
    "cheaper-than": "INCLUDE ItemID WHERE Items.PRICE < $MAX_PRICE",
    "unseen-in-categories": (
        'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase") | '
        "INCLUDE ItemID WHERE Items.CATEGORY IN ($CATEGORIES)"
    ),
}
T = TypeVar("T")


@dataclass
class World:
    stack: localstack.StackConfig
    prefix: str
    group_name: str
    tracking_id: str
    data: synthetic.SyntheticData
    services: dict[str, RunningService]
    control: Client
    events: Client
    runtime: Client
    campaigns: dict[str, str]
    filters: dict[str, str]
    env: dict[str, str]
    workdir: Path
    timings: dict[str, float] = field(default_factory=dict)

    def item(self, item_id: str) -> dict[str, object]:
        return next(it for it in self.data.items if it["ITEM_ID"] == item_id)

    def purchased(self, user: str) -> set[str]:
        return {
            str(r["ITEM_ID"]) for r in self.data.interactions if r["USER_ID"] == user and r["EVENT_TYPE"] == "purchase"
        }


def poll(call: Callable[[], T], until: Callable[[T], bool], timeout: float, interval: float = 0.02) -> tuple[T, float]:
    """Call until ``until(result)``; return the result and the seconds it took (fails the test on timeout)."""
    started = time.monotonic()
    while True:
        result = call()
        elapsed = time.monotonic() - started
        if until(result):
            return result, elapsed
        if elapsed > timeout:
            pytest.fail(f"condition not met after {timeout}s; last result: {result!r}"[:2000])
        time.sleep(interval)


def retry_visible(call: Callable[[], T], timeout: float = 15.0) -> T:
    """Ingest's resource view follows control's topic a few milliseconds behind control."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except ResourceNotFoundException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.fixture(scope="module")
def world(stack: localstack.StackConfig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    t0 = time.monotonic()
    prefix = new_prefix("rt")
    workdir = tmp_path_factory.mktemp("runtime-world")
    env = {
        "TAILOR_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
        "TAILOR_REDIS_URL": stack.redis_url,
        "TAILOR_TOPIC_PREFIX": prefix,
        "TAILOR_MODEL_STORE": str(workdir / "models"),
        "TAILOR_STREAM_DATA_DIR": str(workdir / "stream"),
        "TAILOR_RUNTIME_METADATA_REFRESH_S": "1",
        "TAILOR_CONTROL_QUOTAS": json.dumps({"active_campaigns_per_group": 10}),
    }
    services: dict[str, RunningService] = {}
    for n, name in enumerate(("control", "ingest", "stream", "trainer", "runtime")):
        services[name] = launch(name, env, workdir / f"{name}-{n}.log")
    clients: list[Client] = []
    try:
        for svc in services.values():
            if svc.name in GRPC_HEALTH_NAMES:
                wait_grpc_serving(svc, timeout=90)
        started_s = time.monotonic() - t0
        control = Client(services["control"].address, "control")
        events = Client(services["ingest"].address, "events")
        runtime = Client(services["runtime"].address, "runtime")
        clients += [control, events, runtime]
        data = synthetic.generate(n_users=N_USERS, n_items=N_ITEMS, seed=11)
        group_name = f"rt-{uuid.uuid4().hex[:6]}"
        group = control.call("CreateDatasetGroup", name=group_name)["datasetGroupArn"]
        control.wait_for("DescribeDatasetGroup", "datasetGroup", datasetGroupArn=group)
        datasets: dict[str, str] = {}
        for kind, schema in (("Interactions", synthetic.INTERACTIONS_SCHEMA), ("Items", synthetic.ITEMS_SCHEMA)):
            schema_arn = control.call("CreateSchema", name=f"{group_name}-{kind.lower()}", schema=json.dumps(schema))[
                "schemaArn"
            ]
            datasets[kind] = control.call(
                "CreateDataset",
                name=f"{group_name}-{kind.lower()}",
                schemaArn=schema_arn,
                datasetGroupArn=group,
                datasetType=kind,
            )["datasetArn"]
            control.wait_for("DescribeDataset", "dataset", datasetArn=datasets[kind])
        tracker = control.call("CreateEventTracker", name=f"{group_name}-web", datasetGroupArn=group)
        control.wait_for("DescribeEventTracker", "eventTracker", eventTrackerArn=tracker["eventTrackerArn"])

        for kind, rows in (("Items", data.items), ("Interactions", data.interactions)):
            path = workdir / f"{kind.lower()}.csv"
            path.write_text(synthetic.to_csv(rows))
            job = control.call(
                "CreateDatasetImportJob",
                jobName=f"{group_name}-{kind.lower()}",
                datasetArn=datasets[kind],
                dataSource={"dataLocation": path.as_uri()},
                roleArn=ROLE,
            )["datasetImportJobArn"]
            control.wait_for("DescribeDatasetImportJob", "datasetImportJob", timeout=120, datasetImportJobArn=job)
        imported_s = time.monotonic() - t0

        versions: dict[str, str] = {}
        for short, recipe in RECIPES.items():
            solution = control.call(
                "CreateSolution",
                name=f"{group_name}-{short}",
                recipeArn=RECIPE + recipe,
                datasetGroupArn=group,
                performAutoTraining=False,
            )["solutionArn"]
            control.wait_for("DescribeSolution", "solution", solutionArn=solution)
            versions[short] = control.call("CreateSolutionVersion", solutionArn=solution)["solutionVersionArn"]
        filters = {
            name: control.call(
                "CreateFilter", name=f"{group_name}-{name}", datasetGroupArn=group, filterExpression=expression
            )["filterArn"]
            for name, expression in FILTERS.items()
        }
        for arn in filters.values():
            control.wait_for("DescribeFilter", "filter", filterArn=arn)
        # The stream has applied the Items import once an item's metadata hash is in Redis; the runtime reads
        # item metadata when it loads a model (and every TAILOR_RUNTIME_METADATA_REFRESH_S).
        with storage.records(stack.kafka_bootstrap, prefix) as view:  # keys of the group's incarnation
            keys = storage.group_keys(view, prefix, group)
        probe = redis.Redis.from_url(stack.redis_url)
        last_item = str(data.items[-1]["ITEM_ID"])
        poll(lambda: probe.exists(keys.metadata("item", last_item)), bool, timeout=60, interval=0.2)
        probe.close()

        campaigns: dict[str, str] = {}
        deploy_s: dict[str, float] = {}
        for short, version in versions.items():
            control.wait_for("DescribeSolutionVersion", "solutionVersion", timeout=240, solutionVersionArn=version)
            trained_at = time.monotonic()
            config: dict[str, object] = {"enableMetadataWithRecommendations": True} if short == "popularity" else {}
            if short == "up-v1":
                config = {"itemExplorationConfig": {"explorationWeight": "0"}}
            campaigns[short] = control.call(
                "CreateCampaign", name=f"{group_name}-{short}", solutionVersionArn=version, campaignConfig=config
            )["campaignArn"]
            control.wait_for("DescribeCampaign", "campaign", timeout=60, campaignArn=campaigns[short])
            deploy_s[short] = time.monotonic() - trained_at
        w = World(
            stack,
            prefix,
            group_name,
            tracker["trackingId"],
            data,
            services,
            control,
            events,
            runtime,
            campaigns,
            filters,
            env,
            workdir,
        )
        w.timings.update(
            {
                "services_started_s": started_s,
                "imported_s": imported_s,
                "world_ready_s": time.monotonic() - t0,
                **{f"deploy_{k}_s": v for k, v in deploy_s.items()},
            }
        )
        print(f"\nruntime world ready: {json.dumps({k: round(v, 2) for k, v in w.timings.items()})}")
        yield w
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


def put_events(world: World, user: str, events: list[tuple[str, str]]) -> None:
    """PutEvents (eventType, itemId) for ``user``, in order, timestamped now."""
    now = time.time()
    world.events.call(
        "PutEvents",
        trackingId=world.tracking_id,
        userId=user,
        sessionId=f"session-{user}",
        eventList=[
            {"eventType": et, "itemId": item, "sentAt": now + k / 1000, "eventId": uuid.uuid4().hex}
            for k, (et, item) in enumerate(events)
        ],
    )


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [str(i["itemId"]) for i in items]


# --- deployment and response shape ---------------------------------------------------------------------------


def test_campaigns_become_active_when_the_runtime_loads_them(world: World, record_property: Any) -> None:
    for short, arn in world.campaigns.items():
        campaign = world.control.call("DescribeCampaign", campaignArn=arn)["campaign"]
        assert campaign["status"] == "ACTIVE", short
        record_property(f"deploy_{short}_s", round(world.timings[f"deploy_{short}_s"], 3))
    log = world.services["runtime"].log()
    assert log.count("model loaded") >= len(world.campaigns)
    for key, value in world.timings.items():
        record_property(key, round(value, 3))


def test_metrics_show_models_and_redis_round_trips(world: World) -> None:
    world.runtime.call("GetRecommendations", campaignArn=world.campaigns["up"], userId="metrics-user", numResults=3)
    runtime = world.services["runtime"]
    with urllib.request.urlopen(f"http://127.0.0.1:{runtime.metrics_port}/metrics", timeout=10) as reply:
        body = reply.read().decode()
    values = {line.split(" ")[0]: float(line.split(" ")[1]) for line in body.splitlines() if line.startswith("tailor_")}
    assert values["tailor_runtime_models_loaded_count"] == len(world.campaigns)
    up = f'resource="{world.campaigns["up"]}"'
    served = [k for k in values if k.startswith("tailor_runtime_model_info{") and up in k]
    assert len(served) == 1 and "solution/" in served[0]  # which solution version the campaign serves
    assert values['tailor_runtime_redis_call_seconds_count{outcome="ok"}'] >= 1
    assert values['tailor_runtime_grpc_requests_total{code="OK",method="GetRecommendations"}'] >= 1


def test_user_personalization_returns_num_results_with_normalised_scores(world: World) -> None:
    user = str(world.data.users[0]["USER_ID"])
    response = world.runtime.call("GetRecommendations", campaignArn=world.campaigns["up"], userId=user, numResults=17)
    items = response["itemList"]
    assert response["recommendationId"].startswith("RID-")
    assert len(response["recommendationId"]) <= 40
    assert len(items) == 17
    assert len(set(ids(items))) == 17
    assert set(ids(items)) <= set(world.data.item_category)
    scores = [float(i["score"]) for i in items]
    assert all(0 < s <= 1 for s in scores)
    assert scores == sorted(scores, reverse=True)
    assert sum(scores) <= 1 + 1e-6
    # over the whole catalogue the softmax sums to 1
    everything = world.runtime.call(
        "GetRecommendations", campaignArn=world.campaigns["up"], userId=user, numResults=N_ITEMS
    )["itemList"]
    assert len(everything) == N_ITEMS
    assert sum(float(i["score"]) for i in everything) == pytest.approx(1.0, abs=1e-4)
    # default numResults is 25; 0 is allowed
    default = world.runtime.call("GetRecommendations", campaignArn=world.campaigns["up"], userId=user)
    assert len(default["itemList"]) == 25
    zero = world.runtime.call("GetRecommendations", campaignArn=world.campaigns["up"], userId=user, numResults=0)
    assert zero.get("itemList", []) == [] and zero["recommendationId"].startswith("RID-")


def test_users_known_from_bulk_data_get_personalized_recommendations(world: World) -> None:
    """Bulk interactions reach the model through training: a trained user's input is their training-time items
    (from the model artifact), so they are not served like a new user before sending any event."""
    up = world.campaigns["up"]
    cold = ids(world.runtime.call("GetRecommendations", campaignArn=up, userId="never-seen", numResults=10)["itemList"])
    own, generic = [], []
    for user in [str(u["USER_ID"]) for u in world.data.users[10:40]]:
        favourites = set(world.data.user_favourites[user])
        items = ids(world.runtime.call("GetRecommendations", campaignArn=up, userId=user, numResults=10)["itemList"])
        assert items != cold, user
        own.append(sum(world.data.item_category[i] in favourites for i in items) / 10)
        generic.append(sum(world.data.item_category[i] in favourites for i in cold) / 10)
    mine, theirs = sum(own) / len(own), sum(generic) / len(generic)
    print(f"\nshare of a user's favourite categories: {mine:.2f} in their list, {theirs:.2f} in a new user's")
    assert mine > theirs + 0.1  # they get their own tastes


def test_sims_and_popularity_return_items_without_scores(world: World) -> None:
    counts: dict[str, int] = {}
    for row in world.data.interactions:
        counts[str(row["ITEM_ID"])] = counts.get(str(row["ITEM_ID"]), 0) + 1
    popular_item = max(counts, key=lambda i: counts[i])
    sims_arn = world.campaigns["sims"]
    sims = world.runtime.call("GetRecommendations", campaignArn=sims_arn, itemId=popular_item, numResults=10)
    assert sims["recommendationId"].startswith("RID-")
    assert len(sims["itemList"]) == 10
    assert popular_item not in ids(sims["itemList"])
    assert all("score" not in i for i in sims["itemList"])
    # an item the model never saw: popular items (L6617)
    unknown = world.runtime.call("GetRecommendations", campaignArn=sims_arn, itemId="no-such-item", numResults=10)
    assert len(unknown["itemList"]) == 10 and all("score" not in i for i in unknown["itemList"])

    popular = world.runtime.call(
        "GetRecommendations", campaignArn=world.campaigns["popularity"], userId="anyone", numResults=10
    )["itemList"]
    assert len(popular) == 10 and all("score" not in i for i in popular)
    users_per_item: dict[str, set[str]] = {}
    for row in world.data.interactions:
        users_per_item.setdefault(str(row["ITEM_ID"]), set()).add(str(row["USER_ID"]))
    most = max(len(u) for u in users_per_item.values())
    # Popularity-Count ranks by distinct users; the top item is among the most-shared in the data
    assert len(users_per_item[ids(popular)[0]]) >= 0.5 * most
    # popularity needs no user
    anonymous = world.runtime.call("GetRecommendations", campaignArn=world.campaigns["popularity"], numResults=5)
    assert len(anonymous["itemList"]) == 5


def test_metadata_columns_come_from_the_items_dataset(world: World) -> None:
    user = str(world.data.users[1]["USER_ID"])
    items = world.runtime.call(
        "GetRecommendations",
        campaignArn=world.campaigns["up"],
        userId=user,
        numResults=5,
        metadataColumns={"ITEMS": ["CATEGORY", "PRICE"]},
    )["itemList"]
    assert len(items) == 5
    for it in items:
        source = world.item(it["itemId"])
        assert it["metadata"]["CATEGORY"] == source["CATEGORY"]
        assert float(it["metadata"]["PRICE"]) == pytest.approx(float(str(source["PRICE"])))


def test_metadata_needs_enabling_except_for_v2_recipes(world: World) -> None:
    popular = world.runtime.call(
        "GetRecommendations",
        campaignArn=world.campaigns["popularity"],  # created with enableMetadataWithRecommendations
        numResults=3,
        metadataColumns={"ITEMS": ["CATEGORY"]},
    )["itemList"]
    assert [i["metadata"]["CATEGORY"] for i in popular] == [world.data.item_category[i["itemId"]] for i in popular]
    with pytest.raises(InvalidInputException):
        world.runtime.call(
            "GetRecommendations",
            campaignArn=world.campaigns["sims"],
            itemId="item-00001",
            metadataColumns={"ITEMS": ["CATEGORY"]},
        )


def test_trending_now_ranks_by_growth_in_the_streams_windows(world: World) -> None:
    """Trending-Now (default trendDiscoveryFrequency 2 hours): growth from the window before the latest complete
    one to that one, read from the stream's trend windows; then popular items."""
    size = 7200
    if time.time() % size > size - 30:  # don't straddle a window boundary while the events are applied
        time.sleep(size - time.time() % size + 1)
    end = (int(time.time()) // size) * size  # start of the window holding "now": not complete yet
    rising, steady, flat = (str(i["ITEM_ID"]) for i in world.data.items[-3:])
    plan = [  # (item, window start, events): growth = (current - previous) / (previous + 1)
        (rising, end - size, 30),  # 0 -> 30: 30
        (steady, end - 2 * size, 4),
        (steady, end - size, 24),  # 4 -> 24: 4
        (flat, end - 2 * size, 20),
        (flat, end - size, 20),  # 20 -> 20: 0
    ]
    for n, (item, start, count) in enumerate(plan):
        for first in range(0, count, 10):
            world.events.call(
                "PutEvents",
                trackingId=world.tracking_id,
                userId=f"trend-{n}-{first}",
                sessionId=f"trend-{n}-{first}",
                eventList=[
                    {"eventType": "view", "itemId": item, "sentAt": start + 60 + k, "eventId": uuid.uuid4().hex}
                    for k in range(first, min(count, first + 10))
                ],
            )
    put_events(world, "trend-now", [("view", str(world.data.items[0]["ITEM_ID"]))])  # moves the newest time on

    def trending() -> list[str]:
        reply = world.runtime.call("GetRecommendations", campaignArn=world.campaigns["trending"], numResults=25)
        return ids(reply["itemList"])

    ranked, _ = poll(trending, lambda r: rising in r[:1], timeout=20, interval=0.2)
    # Other tests' events land in the window holding "now", which is not compared yet: ours lead.
    assert ranked.index(rising) < ranked.index(steady) < ranked.index(flat), ranked
    assert len(ranked) == 25 and len(set(ranked)) == 25  # filled with popular items
    reply = world.runtime.call("GetRecommendations", campaignArn=world.campaigns["trending"], numResults=5)
    assert all("score" not in item for item in reply["itemList"])


def test_exploration_weight_of_a_user_personalization_campaign(world: World) -> None:
    """UP (v1): explorationWeight 1 gives half of the list to items within the age cut-off, drawn per user; the
    head keeps the model's ranking. Weight 0 is pure relevance."""
    up = world.campaigns["up-v1"]
    user = str(world.data.users[3]["USER_ID"])
    request = {"campaignArn": up, "userId": user, "numResults": 10}
    plain = ids(world.runtime.call("GetRecommendations", **request)["itemList"])  # deployed with weight 0

    def explore(weight: str) -> None:
        config = {"itemExplorationConfig": {"explorationWeight": weight, "explorationItemAgeCutOff": "1000"}}
        world.control.call("UpdateCampaign", campaignArn=up, campaignConfig=config)
        world.control.wait_for("DescribeCampaign", "campaign", timeout=60, campaignArn=up)

    explore("1.0")
    try:
        explored, _ = poll(lambda: ids(world.runtime.call("GetRecommendations", **request)["itemList"]),
                           lambda r: r != plain, timeout=15, interval=0.2)  # fmt: skip
        assert explored[:5] == plain[:5] and len(set(explored)) == 10
        assert explored == ids(world.runtime.call("GetRecommendations", **request)["itemList"])  # stable per user
    finally:
        explore("0")


def test_recommender_trains_serves_stops_and_starts(world: World) -> None:
    """A domain recommender (ECOMMERCE "Recommended for you"): the trainer trains its use case's recipe, a
    runtime serves it and reports ACTIVE; it drops what the user purchased; Stop/Start/Update work."""
    control, name = world.control, f"shop-{uuid.uuid4().hex[:6]}"
    schema = control.call(
        "CreateSchema", name=f"{name}-i", schema=json.dumps(synthetic.INTERACTIONS_SCHEMA), domain="ECOMMERCE"
    )["schemaArn"]
    group = control.call("CreateDatasetGroup", name=name, domain="ECOMMERCE")["datasetGroupArn"]
    control.wait_for("DescribeDatasetGroup", "datasetGroup", datasetGroupArn=group)
    dataset = control.call(
        "CreateDataset", name=f"{name}-i", schemaArn=schema, datasetGroupArn=group, datasetType="Interactions"
    )["datasetArn"]
    control.wait_for("DescribeDataset", "dataset", datasetArn=dataset)
    path = world.workdir / f"{name}.csv"
    path.write_text(synthetic.to_csv(world.data.interactions))
    job = control.call(
        "CreateDatasetImportJob", jobName=name, datasetArn=dataset, dataSource={"dataLocation": path.as_uri()},
        roleArn=ROLE,
    )["datasetImportJobArn"]  # fmt: skip
    control.wait_for("DescribeDatasetImportJob", "datasetImportJob", timeout=120, datasetImportJobArn=job)
    arn = control.call(
        "CreateRecommender", name=name, datasetGroupArn=group, recipeArn=RECIPE + "aws-ecomm-recommended-for-you"
    )["recommenderArn"]
    described = control.wait_for("DescribeRecommender", "recommender", timeout=240, recommenderArn=arn)
    assert "normalized_discounted_cumulative_gain_at_10" in described["modelMetrics"]
    assert not any(key.startswith("_") for key in described)  # the workers' bookkeeping stays private

    buyer = next(u for u in (str(r["USER_ID"]) for r in world.data.interactions if r["EVENT_TYPE"] == "purchase"))
    bought = {
        str(r["ITEM_ID"]) for r in world.data.interactions if r["USER_ID"] == buyer and r["EVENT_TYPE"] == "purchase"
    }
    # Recommended for you drops purchases (and, as these items are consumed once, everything the user had), as
    # the stream knows them: the import reaches the new group's Redis state asynchronously.
    reply, _ = poll(
        lambda: world.runtime.call("GetRecommendations", recommenderArn=arn, userId=buyer, numResults=N_ITEMS - 20),
        lambda r: not bought & set(ids(r["itemList"])),
        timeout=60,
        interval=0.5,
    )
    listed = ids(reply["itemList"])
    assert len(listed) >= N_ITEMS // 2 and not bought & set(listed)
    assert all(0 < item["score"] <= 1 for item in reply["itemList"])
    with pytest.raises(InvalidInputException):  # metadata needs enableMetadataWithRecommendations
        world.runtime.call("GetRecommendations", recommenderArn=arn, userId=buyer, metadataColumns={"ITEMS": ["X"]})

    control.call("StopRecommender", recommenderArn=arn)
    control.wait_for("DescribeRecommender", "recommender", ("INACTIVE",), timeout=30, recommenderArn=arn)
    with pytest.raises(InvalidInputException, match="stopped"):
        world.runtime.call("GetRecommendations", recommenderArn=arn, userId=buyer)
    control.call("StartRecommender", recommenderArn=arn)
    control.wait_for("DescribeRecommender", "recommender", timeout=30, recommenderArn=arn)
    assert ids(world.runtime.call("GetRecommendations", recommenderArn=arn, userId=buyer, numResults=5)["itemList"])

    control.call("UpdateRecommender", recommenderArn=arn, recommenderConfig={"enableMetadataWithRecommendations": True})
    updated = control.wait_for("DescribeRecommender", "recommender", timeout=60, recommenderArn=arn)
    assert updated["recommenderConfig"]["enableMetadataWithRecommendations"] is True
    assert updated["latestRecommenderUpdate"]["status"] == "ACTIVE"

    def with_metadata() -> bool:
        try:
            world.runtime.call("GetRecommendations", recommenderArn=arn, userId=buyer, metadataColumns={"ITEMS": ["X"]})
        except InvalidInputException:
            return False
        return True

    poll(with_metadata, bool, timeout=10, interval=0.2)  # the runtime picks the new config up on its next sync
    control.call("DeleteRecommender", recommenderArn=arn)


def test_sims_fills_up_with_popular_items(world: World) -> None:
    """Items with few or no neighbours still get numResults items: the neighbours, then popular items."""
    counts = {i: 0 for i in world.data.item_category}
    for row in world.data.interactions:
        counts[str(row["ITEM_ID"])] += 1
    for item in sorted(counts, key=lambda i: (counts[i], i))[:15]:
        items = ids(
            world.runtime.call("GetRecommendations", campaignArn=world.campaigns["sims"], itemId=item, numResults=25)[
                "itemList"
            ]
        )
        assert len(items) == 25 and len(set(items)) == 25, item
        assert item not in items


# --- real time -----------------------------------------------------------------------------------------------


def test_put_events_change_the_users_recommendations(world: World, record_property: Any) -> None:
    user = f"live-{uuid.uuid4().hex[:6]}"  # a user with no history at all
    request = {"campaignArn": world.campaigns["up"], "userId": user, "numResults": 10}
    before = ids(world.runtime.call("GetRecommendations", **request)["itemList"])
    # the user suddenly clicks items of one category that is absent from their cold-start list
    shown = {world.data.item_category[i] for i in before}
    category = next(c for c in synthetic.CATEGORIES if c not in shown)
    clicked = [i for i, c in world.data.item_category.items() if c == category][:5]
    retry_visible(lambda: put_events(world, user, [("click", i) for i in clicked]))
    sent = time.monotonic()
    after, waited = poll(
        lambda: ids(world.runtime.call("GetRecommendations", **request)["itemList"]), lambda r: r != before, timeout=10
    )
    record_property("event_to_changed_recommendations_ms", round(waited * 1000, 1))
    print(f"\nevent -> changed recommendations: {waited * 1000:.0f} ms (since PutEvents returned)")
    assert after != before
    assert time.monotonic() - sent < 10
    # the model moves towards what the user just did
    share_before = sum(world.data.item_category[i] == category for i in before)
    share_after = sum(world.data.item_category[i] == category for i in after)
    assert share_after > share_before


# --- filters -------------------------------------------------------------------------------------------------


def test_interactions_filter_excludes_what_the_user_purchased(world: World, record_property: Any) -> None:
    user = str(world.data.users[2]["USER_ID"])
    bulk_purchases = world.purchased(user)
    everything = {"campaignArn": world.campaigns["up"], "userId": user, "numResults": N_ITEMS}
    filtered = {**everything, "filterArn": world.filters["no-purchased"]}
    before = ids(world.runtime.call("GetRecommendations", **filtered)["itemList"])
    assert not set(before) & bulk_purchases  # imported purchases count in the filter window
    unfiltered = ids(world.runtime.call("GetRecommendations", **everything)["itemList"])
    assert bulk_purchases <= set(unfiltered)
    target = before[0]
    retry_visible(lambda: put_events(world, user, [("Purchase", target)]))  # event types match case-insensitively
    after, waited = poll(
        lambda: ids(world.runtime.call("GetRecommendations", **filtered)["itemList"]),
        lambda r: target not in r,
        timeout=10,
    )
    record_property("purchase_to_filtered_ms", round(waited * 1000, 1))
    assert target not in after
    assert not set(after) & bulk_purchases
    assert set(after) == set(world.data.item_category) - bulk_purchases - {target}
    assert target in ids(world.runtime.call("GetRecommendations", **everything)["itemList"])


def test_items_filter_with_a_parameter(world: World) -> None:
    user = str(world.data.users[3]["USER_ID"])
    wanted = {"books", "music"}
    items = world.runtime.call(
        "GetRecommendations",
        campaignArn=world.campaigns["up"],
        userId=user,
        numResults=N_ITEMS,
        filterArn=world.filters["in-categories"],
        filterValues={"CATEGORIES": '"books", "music"'},
    )["itemList"]
    expected = {i for i, c in world.data.item_category.items() if c in wanted}
    assert set(ids(items)) == expected
    assert all("score" in i for i in items)
    # a numeric parameter with a comparison operator
    cheap = world.runtime.call(
        "GetRecommendations",
        campaignArn=world.campaigns["up"],
        userId=user,
        numResults=N_ITEMS,
        filterArn=world.filters["cheaper-than"],
        filterValues={"MAX_PRICE": "50"},
    )["itemList"]
    assert set(ids(cheap)) == {str(it["ITEM_ID"]) for it in world.data.items if float(str(it["PRICE"])) < 50}


def test_a_narrow_filter_gives_a_short_list_of_matching_items(world: World) -> None:
    """Fewer matching items than numResults: the list is short (every catalogue item has a score, so there is
    nothing to backfill), never padded with items the filter rejects."""
    items = world.runtime.call(
        "GetRecommendations",
        campaignArn=world.campaigns["up"],
        userId="someone-new",
        numResults=50,
        filterArn=world.filters["in-categories"],
        filterValues={"CATEGORIES": '"garden"'},
    )["itemList"]
    garden = {i for i, c in world.data.item_category.items() if c == "garden"}
    assert set(ids(items)) == garden  # fewer than 50: the list is short, never padded with other categories


def test_current_item_filter_for_sims(world: World) -> None:
    counts: dict[str, int] = {}
    for row in world.data.interactions:
        counts[str(row["ITEM_ID"])] = counts.get(str(row["ITEM_ID"]), 0) + 1
    for item in sorted(counts, key=lambda i: -counts[i])[:3]:
        category = world.data.item_category[item]
        items = world.runtime.call(
            "GetRecommendations",
            campaignArn=world.campaigns["sims"],
            itemId=item,
            numResults=10,
            filterArn=world.filters["same-category"],
        )["itemList"]
        assert items, item
        assert item not in ids(items)
        assert {world.data.item_category[i] for i in ids(items)} == {category}
    # CurrentItem needs an item: not usable with a user-personalization request
    with pytest.raises(InvalidInputException):
        world.runtime.call(
            "GetRecommendations",
            campaignArn=world.campaigns["up"],
            userId="u",
            filterArn=world.filters["same-category"],
        )


def test_promotion_places_promoted_items_from_its_filter(world: World) -> None:
    user = str(world.data.users[4]["USER_ID"])
    purchased = world.purchased(user)
    request = {
        "campaignArn": world.campaigns["up"],
        "userId": user,
        "numResults": 10,
        "filterArn": world.filters["no-purchased"],
        "promotions": [
            {
                "name": "cheap-tech",
                "percentPromotedItems": 35,
                "filterArn": world.filters["in-categories"],
                "filterValues": {"CATEGORIES": '"tech"'},
            }
        ],
    }
    positions: set[tuple[int, ...]] = set()
    for _ in range(8):
        response = world.runtime.call("GetRecommendations", **request)
        items = response["itemList"]
        assert len(items) == 10
        assert len(set(ids(items))) == 10  # no duplicates between promoted and regular slots
        promoted = [i for i in items if "promotionName" in i]
        assert len(promoted) == 3  # floor(10 * 35 / 100)
        assert all(i["promotionName"] == "cheap-tech" for i in promoted)
        assert all(world.data.item_category[i["itemId"]] == "tech" for i in promoted)
        regular = [i for i in items if "promotionName" not in i]
        assert not set(ids(regular)) & purchased  # the request filter applies to the regular slots
        promoted_scores = [i["score"] for i in promoted]
        assert promoted_scores == sorted(promoted_scores, reverse=True)  # sorted among themselves
        regular_scores = [i["score"] for i in regular]
        assert regular_scores == sorted(regular_scores, reverse=True)
        positions.add(tuple(k for k, i in enumerate(items) if "promotionName" in i))
    assert len(positions) > 1  # placement is random per recommendationId


def test_promotion_on_sims_and_popularity(world: World) -> None:
    promo = [
        {
            "name": "books",
            "percentPromotedItems": 50,
            "filterArn": world.filters["in-categories"],
            "filterValues": {"CATEGORIES": '"books"'},
        }
    ]
    for arn, extra in ((world.campaigns["popularity"], {}), (world.campaigns["sims"], {"itemId": "item-00001"})):
        items = world.runtime.call("GetRecommendations", campaignArn=arn, numResults=6, promotions=promo, **extra)[
            "itemList"
        ]
        promoted = [i for i in items if i.get("promotionName") == "books"]
        assert len(items) == 6 and len(set(ids(items))) == 6
        assert len(promoted) == 3
        assert all(world.data.item_category[i["itemId"]] == "books" for i in promoted)


# --- personalized ranking -------------------------------------------------------------------------------------


def test_personalized_ranking_ranks_the_input_list_and_appends_unknown_items(world: World) -> None:
    user = str(world.data.users[5]["USER_ID"])
    known = [str(it["ITEM_ID"]) for it in world.data.items[:12]]
    inputs = [known[0], "unknown-b", *known[1:6], "unknown-a", *known[6:]]
    response = world.runtime.call(
        "GetPersonalizedRanking", campaignArn=world.campaigns["ranking"], userId=user, inputList=inputs
    )
    ranking = response["personalizedRanking"]
    assert response["recommendationId"].startswith("RID-")
    assert ids(ranking)[-2:] == ["unknown-b", "unknown-a"]  # appended at the end, in input order
    assert sorted(ids(ranking)[:-2]) == sorted(known)
    scores = [float(i["score"]) for i in ranking[:-2]]
    assert scores == sorted(scores, reverse=True)
    assert sum(scores) == pytest.approx(1.0, abs=1e-4)  # softmax over the input list
    assert all("score" not in i for i in ranking[-2:])
    # items without interactions data come after the scored ones, without a score (L6450)
    interacted = {str(r["ITEM_ID"]) for r in world.data.interactions}
    cold = [i for i in world.data.item_category if i not in interacted][:2]
    assert cold, "the synthetic data should have items nobody interacted with"
    mixed = world.runtime.call(
        "GetPersonalizedRanking",
        campaignArn=world.campaigns["ranking"],
        userId=user,
        inputList=[cold[0], "unknown-c", *known[:4], *cold[1:]],
    )["personalizedRanking"]
    assert ids(mixed) == [*ids(mixed)[:4], *cold, "unknown-c"]
    assert sorted(ids(mixed)[:4]) == sorted(known[:4])
    assert all("score" in i for i in mixed[:4]) and all("score" not in i for i in mixed[4:])
    assert sum(float(i["score"]) for i in mixed[:4]) == pytest.approx(1.0, abs=1e-4)
    # a filter removes items from the ranking
    filtered = world.runtime.call(
        "GetPersonalizedRanking",
        campaignArn=world.campaigns["ranking"],
        userId=user,
        inputList=known,
        filterArn=world.filters["in-categories"],
        filterValues={"CATEGORIES": '"books","music","movies"'},
    )["personalizedRanking"]
    assert set(ids(filtered)) == {i for i in known if world.data.item_category[i] in ("books", "music", "movies")}
    # GetRecommendations is not for ranking campaigns, and vice versa
    with pytest.raises(InvalidInputException):
        world.runtime.call("GetRecommendations", campaignArn=world.campaigns["ranking"], userId=user)
    with pytest.raises(InvalidInputException):
        world.runtime.call("GetPersonalizedRanking", campaignArn=world.campaigns["up"], userId=user, inputList=known)


# --- errors --------------------------------------------------------------------------------------------------


def test_request_errors(world: World) -> None:
    up = world.campaigns["up"]
    call = world.runtime.call
    missing_campaign = up.rsplit("/", 1)[0] + "/does-not-exist"
    with pytest.raises(ResourceNotFoundException):
        call("GetRecommendations", campaignArn=missing_campaign, userId="u")
    missing_filter = world.filters["no-purchased"].rsplit("/", 1)[0] + "/does-not-exist"
    with pytest.raises(ResourceNotFoundException):
        call("GetRecommendations", campaignArn=up, userId="u", filterArn=missing_filter)
    with pytest.raises(InvalidInputException):
        call("GetRecommendations", campaignArn=up, userId="u", numResults=501)
    assert len(call("GetRecommendations", campaignArn=up, userId="u", numResults=500)["itemList"]) == N_ITEMS
    with pytest.raises(InvalidInputException):
        call("GetRecommendations", campaignArn=up, userId="u", metadataColumns={"ITEMS": [f"C{i}" for i in range(11)]})
    with pytest.raises(InvalidInputException):  # numResults ≤ 50 with metadata
        call("GetRecommendations", campaignArn=up, userId="u", numResults=51, metadataColumns={"ITEMS": ["CATEGORY"]})
    with pytest.raises(InvalidInputException):  # an INCLUDE filter needs all of its parameters
        call("GetRecommendations", campaignArn=up, userId="u", filterArn=world.filters["in-categories"])
    with pytest.raises(InvalidInputException):
        call("GetRecommendations", campaignArn=up)  # userId is required for USER_PERSONALIZATION
    with pytest.raises(InvalidInputException):
        call("GetRecommendations", campaignArn=world.campaigns["sims"])  # itemId is required for RELATED_ITEMS
    with pytest.raises(InvalidInputException):
        call(
            "GetRecommendations",
            campaignArn=up,
            userId="u",
            promotions=[{"name": "p", "percentPromotedItems": 101, "filterArn": world.filters["in-categories"]}],
        )
    # an EXCLUDE filter's parameters may be omitted: that part is ignored (the INCLUDE part needs its own)
    items = call(
        "GetRecommendations",
        campaignArn=up,
        userId="u",
        numResults=N_ITEMS,
        filterArn=world.filters["unseen-in-categories"],
        filterValues={"CATEGORIES": '"toys"'},
    )["itemList"]
    assert {world.data.item_category[i] for i in ids(items)} == {"toys"}


def test_a_filter_of_another_dataset_group_is_refused(world: World) -> None:
    other = world.control.call("CreateDatasetGroup", name=f"other-{uuid.uuid4().hex[:6]}")["datasetGroupArn"]
    world.control.wait_for("DescribeDatasetGroup", "datasetGroup", datasetGroupArn=other)
    foreign = world.control.call(
        "CreateFilter", name=f"foreign-{uuid.uuid4().hex[:6]}", datasetGroupArn=other,
        filterExpression='EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")',
    )["filterArn"]  # fmt: skip
    world.control.wait_for("DescribeFilter", "filter", filterArn=foreign)
    with pytest.raises(InvalidInputException, match="another dataset group"):
        retry_visible(
            lambda: world.runtime.call(
                "GetRecommendations", campaignArn=world.campaigns["up"], userId="u", filterArn=foreign
            )
        )


def test_redis_outage_is_unavailable_never_a_wrong_answer(world: World) -> None:
    broken = launch("runtime", world.env, world.workdir / "runtime-99.log", TAILOR_REDIS_URL="redis://127.0.0.1:1/0")
    client = Client(broken.address, "runtime", timeout=15)
    try:
        wait_grpc_serving(broken, timeout=60)
        user = str(world.data.users[0]["USER_ID"])
        for request in (
            {"campaignArn": world.campaigns["up"], "userId": user},
            {"campaignArn": world.campaigns["popularity"], "userId": user, "filterArn": world.filters["no-purchased"]},
            {"campaignArn": world.campaigns["sims"], "itemId": "item-00001"},
        ):
            with pytest.raises(ServiceUnavailableException):
                client.call("GetRecommendations", **request)
        with pytest.raises(ServiceUnavailableException):
            client.call(
                "GetPersonalizedRanking", campaignArn=world.campaigns["ranking"], userId=user, inputList=["item-00001"]
            )
        # unknown resources are still reported as such
        with pytest.raises(ResourceNotFoundException):
            client.call("GetRecommendations", campaignArn=world.campaigns["up"] + "-nope", userId=user)
        # a replica that cannot read Redis does not fail the campaigns the healthy one serves
        time.sleep(1.0)
        for arn in world.campaigns.values():
            assert world.control.call("DescribeCampaign", campaignArn=arn)["campaign"]["status"] == "ACTIVE"
        assert world.runtime.call("GetRecommendations", campaignArn=world.campaigns["up"], userId=user)["itemList"]
        assert "Traceback" not in broken.log()  # an outage is retried, not reported as a broken model
    finally:
        client.close()
        broken.stop()


class TcpProxy:
    """A loopback TCP forwarder that can be cut (every connection closed, port refused) and restored."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._server: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(64)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        if self._server is not None:
            with contextlib.suppress(OSError):  # wakes the thread blocked in accept(); close() alone doesn't
                self._server.shutdown(socket.SHUT_RDWR)
            self._server.close()
            self._server = None
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()


def test_redis_lost_while_serving_is_unavailable_and_recovers(world: World) -> None:
    """A replica that loaded its models and then loses Redis answers UNAVAILABLE, then serves again."""
    proxy = TcpProxy(("127.0.0.1", world.stack.redis_port))
    proxy.start()
    replica = launch(
        "runtime", world.env, world.workdir / "runtime-98.log", TAILOR_REDIS_URL=f"redis://127.0.0.1:{proxy.port}/0"
    )
    client = Client(replica.address, "runtime", timeout=15)
    user = str(world.data.users[7]["USER_ID"])
    request = {"campaignArn": world.campaigns["up"], "userId": user, "numResults": 10}
    filtered = {**request, "filterArn": world.filters["no-purchased"]}
    try:
        wait_grpc_serving(replica, timeout=60)
        healthy = ids(client.call("GetRecommendations", **filtered)["itemList"])
        assert healthy == ids(world.runtime.call("GetRecommendations", **filtered)["itemList"])
        proxy.cut()
        for req in (request, filtered):
            with pytest.raises(ServiceUnavailableException):
                client.call("GetRecommendations", **req)
        proxy.start()
        recovered, _ = poll(
            lambda: _or_none(lambda: ids(client.call("GetRecommendations", **filtered)["itemList"])),
            lambda r: r is not None,
            timeout=15,
            interval=0.1,
        )
        assert recovered == healthy
    finally:
        client.close()
        replica.stop()
        proxy.cut()


def _or_none(call: Callable[[], T]) -> T | None:
    try:
        return call()
    except ServiceUnavailableException:
        return None


# --- impressions ---------------------------------------------------------------------------------------------


def test_responses_are_recorded_on_the_recommendations_topic(world: World) -> None:
    user = str(world.data.users[6]["USER_ID"])
    response = world.runtime.call("GetRecommendations", campaignArn=world.campaigns["up"], userId=user, numResults=7)
    rid = response["recommendationId"]
    ranking = world.runtime.call(
        "GetPersonalizedRanking",
        campaignArn=world.campaigns["ranking"],
        userId=user,
        inputList=["item-00003", "item-00002", "nope"],
    )
    wanted = {rid: ids(response["itemList"]), ranking["recommendationId"]: ids(ranking["personalizedRanking"])}
    topic = impressions_topic(world.prefix)
    consumer = Consumer(
        {
            "bootstrap.servers": world.stack.kafka_bootstrap,
            "group.id": f"probe-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
        }
    )
    found: dict[str, dict[str, Any]] = {}
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        partitions = list(metadata.topics[topic].partitions)
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        deadline = time.monotonic() + 15
        while len(found) < len(wanted) and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None or msg.error():
                continue
            key = (msg.key() or b"").decode()
            if key in wanted:
                found[key] = json.loads(msg.value() or b"{}")
    finally:
        consumer.close()
    assert set(found) == set(wanted)
    for key, body in found.items():
        assert body["recommendationId"] == key
        assert body["itemList"] == wanted[key]
        assert body["userId"] == user
    assert found[rid]["campaignArn"] == world.campaigns["up"]
