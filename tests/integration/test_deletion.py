"""Deleting deletes (ADR 0014): the real control, ingest, stream, trainer and runtime processes on the real Kafka
and Redis. A deleted dataset group's topics and Redis keys go, also when the stream is killed midway; a second,
live group is untouched; a deleted dataset's state leaves its surviving group; a deleted solution version's
model directory goes and a deleted campaign is no longer served.
"""

from __future__ import annotations

import json
import signal
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import redis
from confluent_kafka.admin import AdminClient
from prometheus_client.parser import text_string_to_metric_families

from tailor_shared import incarnation, storage, topics
from tailor_shared import redis_keys as rk
from tailor_shared.errors import ResourceNotFoundException
from tailor_shared.schemas import avro_record
from tailor_tools import seed
from tailor_tools.client import Client
from tests.conftest import RunningService, wait_gone
from tests.integration.test_ingest_with_control import retry_until_visible

pytestmark = pytest.mark.integration

INTERACTIONS = avro_record("Interactions", "USER_ID", "ITEM_ID", "EVENT_TYPE", "TIMESTAMP")
ITEMS = avro_record("Items", "ITEM_ID", {"name": "GENRES", "type": ["null", "string"], "categorical": True})
POPULARITY = "arn:aws:personalize:::recipe/aws-popularity-count"
#: A janitor that acts within about two seconds of a deletion.
STREAM_JANITOR = {
    "TAILOR_STREAM_JANITOR_INTERVAL_S": "0.5",
    "TAILOR_STREAM_JANITOR_GRACE_S": "1",
    "TAILOR_STREAM_JANITOR_SWEEP_S": "5",
}
TRAINER_JANITOR = {"TAILOR_TRAINER_JANITOR_INTERVAL_S": "0.5", "TAILOR_TRAINER_JANITOR_GRACE_S": "1"}


def _poll(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def _topics(bootstrap: str) -> set[str]:
    return set(AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=30).topics)


def _usage(stream: RunningService, tag: str) -> tuple[float | None, float | None]:
    """The stream's storage gauges for a group tag: (records, Redis keys); None where the series is absent."""
    with urllib.request.urlopen(f"http://127.0.0.1:{stream.port}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.labels.get("group") == tag:
                found[sample.name] = sample.value
    return found.get("tailor_stream_dataset_group_records"), found.get("tailor_stream_dataset_group_redis_keys_count")


def _keys_of(client: redis.Redis[bytes], keys: rk.Keys) -> set[bytes]:
    return set(client.scan_iter(match=keys.pattern(), count=1000))


@contextmanager
def _clients(control: RunningService, ingest: RunningService) -> Iterator[tuple[Client, Client, redis.Redis[bytes]]]:
    personalize = Client(control.address, "control")
    events = Client(ingest.address, "events")
    probe: redis.Redis[bytes] = redis.Redis.from_url(control.env["TAILOR_REDIS_URL"])
    try:
        yield personalize, events, probe
    finally:
        probe.close()
        personalize.close()
        events.close()


def _group(personalize: Client, name: str, schema_arn: str) -> dict[str, str]:
    group = personalize.call("CreateDatasetGroup", name=name)["datasetGroupArn"]
    personalize.wait_for("DescribeDatasetGroup", "datasetGroup", datasetGroupArn=group)
    dataset = personalize.call(
        "CreateDataset", name=f"{name}-clicks", schemaArn=schema_arn, datasetGroupArn=group, datasetType="Interactions"
    )["datasetArn"]
    personalize.wait_for("DescribeDataset", "dataset", datasetArn=dataset)
    tracker = personalize.call("CreateEventTracker", name=f"{name}-web", datasetGroupArn=group)
    personalize.wait_for("DescribeEventTracker", "eventTracker", eventTrackerArn=tracker["eventTrackerArn"])
    return {
        "group": group,
        "dataset": dataset,
        "tracker": tracker["eventTrackerArn"],
        "trackingId": tracker["trackingId"],
    }


def _put(events: Client, tracking_id: str, user: str, items: list[str], first_ts: float) -> None:
    retry_until_visible(
        lambda: events.call(
            "PutEvents",
            trackingId=tracking_id,
            userId=user,
            sessionId=f"s-{user}",
            eventList=[{"eventType": "click", "itemId": item, "sentAt": first_ts + k} for k, item in enumerate(items)],
        )
    )


def _delete_group(personalize: Client, g: dict[str, str]) -> None:
    personalize.call("DeleteEventTracker", eventTrackerArn=g["tracker"])
    wait_gone(personalize.call, "DescribeEventTracker", eventTrackerArn=g["tracker"])
    personalize.call("DeleteDataset", datasetArn=g["dataset"])
    wait_gone(personalize.call, "DescribeDataset", datasetArn=g["dataset"])
    personalize.call("DeleteDatasetGroup", datasetGroupArn=g["group"])
    wait_gone(personalize.call, "DescribeDatasetGroup", datasetGroupArn=g["group"])


def _two_groups_with_state(
    personalize: Client, events: Client, probe: redis.Redis[bytes], bootstrap: str, prefix: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Groups "doomed" and "kept", each with events the stream applied; their topics and keys."""
    schema = personalize.call("CreateSchema", name="clicks", schema=json.dumps(INTERACTIONS))["schemaArn"]
    out = []
    for name in ("doomed", "kept"):
        g: dict[str, Any] = _group(personalize, name, schema)
        for u in range(5):
            _put(events, g["trackingId"], f"u{u}", [f"i{k}" for k in range(4)], time.time() - 100)
        with storage.records(bootstrap, prefix) as view:
            g["topic"] = storage.dataset_topic(view, prefix, g["dataset"])
            g["keys"] = storage.group_keys(view, prefix, g["group"])
        history = g["keys"].history(rk.user_subject("u4"))
        _poll(lambda h=history: probe.zcard(h) == 4, f"the stream to apply {name}'s events")  # type: ignore[misc]
        out.append(g)
    return out[0], out[1]


def test_a_deleted_dataset_group_loses_its_topics_and_keys_and_a_live_one_keeps_its_own(
    spawn_service: Callable[..., RunningService],
) -> None:
    control = spawn_service("control")
    ingest = spawn_service("ingest")
    stream = spawn_service("stream", wait=False, **STREAM_JANITOR)
    bootstrap, prefix = control.env["TAILOR_KAFKA_BOOTSTRAP"], control.env["TAILOR_TOPIC_PREFIX"]
    with _clients(control, ingest) as (personalize, events, probe):
        doomed, kept = _two_groups_with_state(personalize, events, probe, bootstrap, prefix)
        kept_keys = {k: probe.dump(k) for k in _keys_of(probe, kept["keys"])}
        assert kept_keys and _keys_of(probe, doomed["keys"])
        # The storage each group uses is reported (records on its topics, keys from the janitor's sweep).
        doomed_tag, kept_tag = doomed["keys"].dataset_group, kept["keys"].dataset_group
        _poll(
            lambda: _usage(stream, kept_tag) == (20.0, float(len(kept_keys))) and _usage(stream, doomed_tag)[0] == 20,
            "the storage gauges of both groups",
            timeout=30,
        )

        # Each group's inbound topics (ADR 0024) are its storage too.
        with storage.records(bootstrap, prefix) as view:
            inbound = {g["group"]: topics.inbound_topic(prefix, view.get(g["group"]), "events") for g in (doomed, kept)}
        _poll(lambda: set(inbound.values()) <= _topics(bootstrap), "both groups' inbound topics", timeout=30)

        _delete_group(personalize, doomed)
        deleted_at = time.monotonic()
        _poll(lambda: doomed["topic"] not in _topics(bootstrap), "the deleted group's topic to go", timeout=30)
        _poll(lambda: not _keys_of(probe, doomed["keys"]), "the deleted group's keys to go", timeout=30)
        _poll(lambda: inbound[doomed["group"]] not in _topics(bootstrap), "its inbound topics to go", timeout=30)
        assert time.monotonic() - deleted_at < 30

        assert kept["topic"] in _topics(bootstrap) and inbound[kept["group"]] in _topics(bootstrap)
        assert {k: probe.dump(k) for k in _keys_of(probe, kept["keys"])} == kept_keys  # untouched
        _poll(lambda: _usage(stream, doomed_tag) == (None, None), "the deleted group's storage series to go")
        # The kept group still works: a new event lands in its state.
        _put(events, kept["trackingId"], "u0", ["i9"], time.time())
        _poll(lambda: probe.zcard(kept["keys"].history(rk.user_subject("u0"))) == 5, "a new event of the kept group")


def test_a_deletion_interrupted_by_a_killed_stream_finishes_after_its_restart(
    spawn_service: Callable[..., RunningService],
) -> None:
    control = spawn_service("control")
    ingest = spawn_service("ingest")
    stream = spawn_service("stream", wait=False, **STREAM_JANITOR)
    bootstrap, prefix = control.env["TAILOR_KAFKA_BOOTSTRAP"], control.env["TAILOR_TOPIC_PREFIX"]
    with _clients(control, ingest) as (personalize, events, probe):
        doomed, kept = _two_groups_with_state(personalize, events, probe, bootstrap, prefix)
        kept_keys = {k: probe.dump(k) for k in _keys_of(probe, kept["keys"])}

        doomed_keys = {k: probe.dump(k) for k in _keys_of(probe, doomed["keys"])}
        offsets = doomed["keys"].offsets().encode()
        assert offsets in doomed_keys

        # Killed right after the deletes are acknowledged (within about its grace period).
        _delete_group(personalize, doomed)
        stream.stop(signal.SIGKILL)
        # And what a crash inside the key deletion leaves, whatever the killed janitor got to: about half of the
        # keys gone, the offsets hash (deleted last) still there.
        others = sorted(k for k in doomed_keys if k != offsets)
        probe.unlink(*others[: len(others) // 2])
        for key in [*others[len(others) // 2 :], offsets]:
            if not probe.exists(key):
                probe.restore(key, 0, doomed_keys[key])
        assert len(_keys_of(probe, doomed["keys"])) == len(doomed_keys) - len(others) // 2

        spawn_service("stream", wait=False, **STREAM_JANITOR)
        _poll(lambda: not _keys_of(probe, doomed["keys"]), "the restarted janitor to finish the keys", timeout=45)
        assert doomed["topic"] not in _topics(bootstrap)
        assert kept["topic"] in _topics(bootstrap)
        assert {k: probe.dump(k) for k in _keys_of(probe, kept["keys"])} == kept_keys


def test_a_deleted_dataset_leaves_its_surviving_groups_state(spawn_service: Callable[..., RunningService]) -> None:
    control = spawn_service("control")
    ingest = spawn_service("ingest")
    spawn_service("stream", wait=False, **STREAM_JANITOR)
    bootstrap, prefix = control.env["TAILOR_KAFKA_BOOTSTRAP"], control.env["TAILOR_TOPIC_PREFIX"]
    with _clients(control, ingest) as (personalize, events, probe):
        schema = personalize.call("CreateSchema", name="clicks", schema=json.dumps(INTERACTIONS))["schemaArn"]
        item_schema = personalize.call("CreateSchema", name="items", schema=json.dumps(ITEMS))["schemaArn"]
        g = _group(personalize, "shop", schema)
        items = personalize.call(
            "CreateDataset", name="shop-items", schemaArn=item_schema, datasetGroupArn=g["group"], datasetType="Items"
        )["datasetArn"]
        personalize.wait_for("DescribeDataset", "dataset", datasetArn=items)
        _put(events, g["trackingId"], "u0", ["i1", "i2", "i3"], time.time() - 100)
        retry_until_visible(
            lambda: events.call(
                "PutItems",
                datasetArn=items,
                items=[
                    {"itemId": "i1", "properties": json.dumps({"genres": "Horror"})},
                    {"itemId": "i2", "properties": json.dumps({"genres": "Drama"})},
                ],
            )
        )
        with storage.records(bootstrap, prefix) as view:
            keys = storage.group_keys(view, prefix, g["group"])
            items_topic = storage.dataset_topic(view, prefix, items)
        history, meta = keys.history(rk.user_subject("u0")), keys.metadata("item", "i1")
        _poll(lambda: probe.zcard(history) == 3 and probe.exists(meta) == 1, "the stream to apply events and items")
        assert probe.hget(meta, "GENRES") == b"Horror"

        personalize.call("DeleteDataset", datasetArn=items)
        wait_gone(personalize.call, "DescribeDataset", datasetArn=items)
        _poll(lambda: items_topic not in _topics(bootstrap), "the Items dataset's topic to go", timeout=30)
        _poll(
            lambda: not any(b":m:item:" in k for k in _keys_of(probe, keys)),
            "the deleted dataset's item metadata to leave the group's state",
            timeout=30,
        )
        # The group's live Interactions dataset was replayed into its state: the history is whole again.
        _poll(lambda: probe.zcard(history) == 3, "the live topics to be replayed")
        fields = {f.decode() for f in probe.hkeys(keys.offsets())}
        assert fields and all(f.startswith("interactions.") for f in fields), fields
        assert (
            personalize.call("DescribeDatasetGroup", datasetGroupArn=g["group"])["datasetGroup"]["status"] == "ACTIVE"
        )


def _serves(runtime: Client, **target: str) -> bool:
    try:
        runtime.call("GetRecommendations", userId="u1", numResults=5, **target)
    except ResourceNotFoundException:
        return False
    return True


def test_deleted_campaigns_solutions_and_recommenders_are_unloaded_and_their_models_deleted(
    spawn_service: Callable[..., RunningService],
) -> None:
    control = spawn_service("control")
    ingest = spawn_service("ingest")
    spawn_service("stream", wait=False, **STREAM_JANITOR)
    trainer = spawn_service("trainer", **TRAINER_JANITOR)
    runtime_svc = spawn_service("runtime")
    bootstrap, prefix = control.env["TAILOR_KAFKA_BOOTSTRAP"], control.env["TAILOR_TOPIC_PREFIX"]
    store = Path(trainer.env["TAILOR_MODEL_STORE"])
    runtime = Client(runtime_svc.address, "runtime")
    with _clients(control, ingest) as (personalize, events, _probe):
        try:
            schema = personalize.call(
                "CreateSchema", name="views", schema=json.dumps(INTERACTIONS), domain="ECOMMERCE"
            )["schemaArn"]
            group = personalize.call("CreateDatasetGroup", name="shop", domain="ECOMMERCE")["datasetGroupArn"]
            personalize.wait_for("DescribeDatasetGroup", "datasetGroup", datasetGroupArn=group)
            dataset = personalize.call(
                "CreateDataset", name="views", schemaArn=schema, datasetGroupArn=group, datasetType="Interactions"
            )["datasetArn"]
            personalize.wait_for("DescribeDataset", "dataset", datasetArn=dataset)
            tracker = personalize.call("CreateEventTracker", name="web", datasetGroupArn=group)
            personalize.wait_for("DescribeEventTracker", "eventTracker", eventTrackerArn=tracker["eventTrackerArn"])
            start = time.time() - 5000
            for u in range(40):  # 1,200 views: above Popularity-Count's 1,000-interaction minimum
                for k in range(0, 30, 10):
                    items = [f"i{(u * 7 + j) % 60}" for j in range(k, k + 10)]
                    retry_until_visible(
                        lambda u=u, k=k, items=items: events.call(  # type: ignore[misc]
                            "PutEvents",
                            trackingId=tracker["trackingId"],
                            userId=f"u{u}",
                            sessionId=f"s-{u}",
                            eventList=[
                                {"eventType": "View", "itemId": item, "sentAt": start + u * 30 + k + j}
                                for j, item in enumerate(items)
                            ],
                        )
                    )
            solution = personalize.call(
                "CreateSolution", name="popular", recipeArn=POPULARITY, datasetGroupArn=group, performAutoTraining=False
            )["solutionArn"]
            personalize.wait_for("DescribeSolution", "solution", solutionArn=solution)
            version = personalize.call("CreateSolutionVersion", solutionArn=solution)["solutionVersionArn"]
            recommender = personalize.call(
                "CreateRecommender",
                name="most-viewed",
                datasetGroupArn=group,
                recipeArn="arn:aws:personalize:::recipe/aws-ecomm-popular-items-by-views",
            )["recommenderArn"]
            trained = personalize.wait_for(
                "DescribeSolutionVersion", "solutionVersion", timeout=180, solutionVersionArn=version
            )
            assert trained["status"] == "ACTIVE", trained.get("failureReason")
            served = personalize.wait_for("DescribeRecommender", "recommender", timeout=180, recommenderArn=recommender)
            assert served["status"] == "ACTIVE", served.get("failureReason")
            with storage.records(bootstrap, prefix) as view:
                model_dir = storage.solution_version_dir(view, store, version)
                record = view.get(recommender)
                assert record is not None
                recommender_dir = storage.recommender_dir(view, store, recommender, str(record.body["_model"])).parent
            assert (model_dir / "manifest.json").is_file()
            assert recommender_dir.is_dir()
            campaign = personalize.call("CreateCampaign", name="popular", solutionVersionArn=version)["campaignArn"]
            personalize.wait_for("DescribeCampaign", "campaign", timeout=60, campaignArn=campaign)
            assert _serves(runtime, campaignArn=campaign)
            assert _serves(runtime, recommenderArn=recommender)

            personalize.call("DeleteCampaign", campaignArn=campaign)
            wait_gone(personalize.call, "DescribeCampaign", campaignArn=campaign)
            _poll(lambda: not _serves(runtime, campaignArn=campaign), "the runtime to drop the campaign", timeout=30)
            assert model_dir.is_dir()  # the version is still live: its model stays

            personalize.call("DeleteRecommender", recommenderArn=recommender)
            wait_gone(personalize.call, "DescribeRecommender", recommenderArn=recommender)
            _poll(
                lambda: not _serves(runtime, recommenderArn=recommender),
                "the runtime to drop the recommender",
                timeout=30,
            )
            _poll(lambda: not recommender_dir.exists(), "the deleted recommender's models to go", timeout=30)

            personalize.call("DeleteSolution", solutionArn=solution)
            wait_gone(personalize.call, "DescribeSolution", solutionArn=solution)
            _poll(lambda: not model_dir.exists(), "the deleted version's model directory to go", timeout=30)
            _poll(lambda: not model_dir.parent.exists(), "the deleted solution's directory to go", timeout=30)
        finally:
            runtime.close()


def _legacy_group(name: str) -> seed.SeededGroup:
    """Records of a dataset group and dataset created before incarnations (no ``_incarnation``, ADR 0012 §5)."""
    group = seed.group_records(name, {"Interactions": INTERACTIONS})
    legacy = tuple(replace(r, body={k: v for k, v in r.body.items() if k != incarnation.FIELD}) for r in group.records)
    return replace(group, records=legacy)


def test_a_deleted_legacy_group_loses_its_name_only_topic_and_keys(
    spawn_service: Callable[..., RunningService],
) -> None:
    control = spawn_service("control")
    bootstrap, prefix = control.env["TAILOR_KAFKA_BOOTSTRAP"], control.env["TAILOR_TOPIC_PREFIX"]
    doomed, kept = _legacy_group("oldshop"), _legacy_group("oldkept")
    seed.publish(bootstrap, prefix, [*doomed.records, *kept.records])
    ingest = spawn_service("ingest")
    spawn_service("stream", wait=False, **STREAM_JANITOR)
    with _clients(control, ingest) as (personalize, events, probe):
        for g in (doomed, kept):
            assert g.topic(prefix, "Interactions") == f"{prefix}.{g.name}.interactions"  # the legacy layout
            assert g.tracking_id is not None
            _put(events, g.tracking_id, "u0", ["i1", "i2"], time.time() - 10)
            history = rk.Keys(prefix, g.name).history(rk.user_subject("u0"))
            _poll(lambda h=history: probe.zcard(h) == 2, f"the stream to apply {g.name}'s events")  # type: ignore[misc]
        kept_keys = {k: probe.dump(k) for k in _keys_of(probe, rk.Keys(prefix, kept.name))}

        tracker = next(r.arn for r in doomed.records if r.resource_type == "eventTracker")
        _delete_group(
            personalize,
            {"tracker": tracker, "dataset": doomed.dataset_arn("Interactions"), "group": doomed.group_arn},
        )
        topic = doomed.topic(prefix, "Interactions")
        _poll(lambda: topic not in _topics(bootstrap), "the deleted legacy group's topic to go", timeout=30)
        _poll(lambda: not _keys_of(probe, rk.Keys(prefix, doomed.name)), "its keys to go", timeout=30)
        assert kept.topic(prefix, "Interactions") in _topics(bootstrap)
        assert {k: probe.dump(k) for k in _keys_of(probe, rk.Keys(prefix, kept.name))} == kept_keys
