"""A dataset group deleted and created again under the same name starts empty (ADR 0012, DESIGN "identity").

The real control, ingest, stream and trainer processes on the real Kafka and Redis: events sent with
PutEvents to a dataset group train an ACTIVE Popularity-Count version; after the tracker, the solution, the
dataset and the group are deleted and the group and dataset are created again by the same names, the new
dataset has a new, empty topic, the new group has no Redis keys until new events arrive (and then only those),
and a Popularity-Count version of the new, empty group fails for too little data instead of training on the
deleted group's events.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis

from tailor_shared import redis_keys as rk
from tailor_shared import storage
from tailor_shared.dataset_reader import count_records
from tailor_shared.schemas import avro_record
from tailor_tools.client import Client
from tests.conftest import RunningService, wait_gone
from tests.integration.test_ingest_with_control import retry_until_visible

pytestmark = pytest.mark.integration

SCHEMA = avro_record("Interactions", "USER_ID", "ITEM_ID", "EVENT_TYPE", "TIMESTAMP")
POPULARITY = "arn:aws:personalize:::recipe/aws-popularity-count"
USERS, PER_USER, ITEMS = 40, 30, 60  # 1,200 events: above the 1,000-interaction minimum


def _group_and_dataset(personalize: Client, schema_arn: str) -> tuple[str, str]:
    group = personalize.call("CreateDatasetGroup", name="shop")["datasetGroupArn"]
    personalize.wait_for("DescribeDatasetGroup", "datasetGroup", datasetGroupArn=group)
    dataset = personalize.call(
        "CreateDataset", name="clicks", schemaArn=schema_arn, datasetGroupArn=group, datasetType="Interactions"
    )["datasetArn"]
    personalize.wait_for("DescribeDataset", "dataset", datasetArn=dataset)
    return group, dataset


def _tracker(personalize: Client, group: str) -> dict[str, Any]:
    tracker = personalize.call("CreateEventTracker", name="web", datasetGroupArn=group)
    personalize.wait_for("DescribeEventTracker", "eventTracker", eventTrackerArn=tracker["eventTrackerArn"])
    return tracker


def _put(events: Client, tracking_id: str, user: str, items: list[str], first_ts: float) -> None:
    """One PutEvents call: ``items`` clicked one second apart from ``first_ts`` on."""
    retry_until_visible(
        lambda: events.call(
            "PutEvents",
            trackingId=tracking_id,
            userId=user,
            sessionId=f"s-{user}",
            eventList=[{"eventType": "click", "itemId": item, "sentAt": first_ts + k} for k, item in enumerate(items)],
        )
    )


def _train(personalize: Client, group: str, name: str) -> dict[str, Any]:
    solution = personalize.call(
        "CreateSolution", name=name, recipeArn=POPULARITY, datasetGroupArn=group, performAutoTraining=False
    )["solutionArn"]
    personalize.wait_for("DescribeSolution", "solution", solutionArn=solution)
    version = personalize.call("CreateSolutionVersion", solutionArn=solution)["solutionVersionArn"]
    return personalize.wait_for(
        "DescribeSolutionVersion",
        "solutionVersion",
        ("ACTIVE", "CREATE FAILED"),
        timeout=180,
        solutionVersionArn=version,
    )


def _poll(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def _keys_of(client: redis.Redis[bytes], keys: rk.Keys) -> set[bytes]:
    return set(client.scan_iter(match=keys.pattern(), count=1000))


def test_a_dataset_group_created_again_under_its_name_starts_empty(
    spawn_service: Callable[..., RunningService],
) -> None:
    control = spawn_service("control")
    ingest = spawn_service("ingest")
    # The janitors are off: this test looks at the deleted incarnation's storage while it still exists
    # (deleting it is tests/integration/test_deletion.py's subject, ADR 0014).
    spawn_service("stream", wait=False, TAILOR_STREAM_JANITOR_INTERVAL_S="0")
    spawn_service("trainer", wait=False, TAILOR_TRAINER_JANITOR_INTERVAL_S="0")
    bootstrap, prefix = control.env["TAILOR_KAFKA_BOOTSTRAP"], control.env["TAILOR_TOPIC_PREFIX"]
    personalize = Client(control.address, "control")
    events = Client(ingest.address, "events")
    probe: redis.Redis[bytes] = redis.Redis.from_url(control.env["TAILOR_REDIS_URL"])
    try:
        schema_arn = personalize.call("CreateSchema", name="clicks", schema=json.dumps(SCHEMA))["schemaArn"]

        # --- the first life: 1,200 events, a Popularity-Count version trained on them ---------------------
        group, dataset = _group_and_dataset(personalize, schema_arn)
        tracker = _tracker(personalize, group)
        start_ts = time.time() - 2 * USERS * PER_USER
        for u in range(USERS):
            items = [f"i{(u * 7 + k) % ITEMS}" for k in range(PER_USER)]  # distinct items, distinct timestamps
            for k in range(0, PER_USER, 10):  # PutEvents takes at most 10 events
                _put(events, tracker["trackingId"], f"u{u}", items[k : k + 10], start_ts + u * PER_USER + k)
        with storage.records(bootstrap, prefix) as view:
            old_topic = storage.dataset_topic(view, prefix, dataset)
            old_keys = storage.group_keys(view, prefix, group)
        assert count_records(bootstrap, old_topic) == USERS * PER_USER
        last = old_keys.history(rk.user_subject(f"u{USERS - 1}"))
        _poll(lambda: probe.zcard(last) == min(PER_USER, rk.HISTORY_CAP), "the stream to apply the events")
        old_state = _keys_of(probe, old_keys)
        assert len(old_state) > USERS
        first = _train(personalize, group, "popular")
        assert first["status"] == "ACTIVE", first.get("failureReason")

        # --- delete everything, as the guide orders it ------------------------------------------------------
        solution = first["solutionArn"]
        personalize.call("DeleteSolution", solutionArn=solution)
        wait_gone(personalize.call, "DescribeSolution", solutionArn=solution)
        personalize.call("DeleteEventTracker", eventTrackerArn=tracker["eventTrackerArn"])
        wait_gone(personalize.call, "DescribeEventTracker", eventTrackerArn=tracker["eventTrackerArn"])
        personalize.call("DeleteDataset", datasetArn=dataset)
        wait_gone(personalize.call, "DescribeDataset", datasetArn=dataset)
        personalize.call("DeleteDatasetGroup", datasetGroupArn=group)
        wait_gone(personalize.call, "DescribeDatasetGroup", datasetGroupArn=group)

        # --- the second life: same names, same ARNs, nothing of the first ---------------------------------
        again, dataset_again = _group_and_dataset(personalize, schema_arn)
        assert (again, dataset_again) == (group, dataset)
        with storage.records(bootstrap, prefix) as view:
            new_topic = storage.dataset_topic(view, prefix, dataset_again)
            new_keys = storage.group_keys(view, prefix, again)
        assert new_topic != old_topic and new_keys.ns != old_keys.ns
        assert count_records(bootstrap, new_topic) == 0
        assert count_records(bootstrap, old_topic) == USERS * PER_USER  # kept (janitor off), and never read
        assert not _keys_of(probe, new_keys)

        second = _train(personalize, again, "popular-again")
        assert second["status"] == "CREATE FAILED"
        assert "fewer than 1000 interactions" in second.get("failureReason", "")

        # New events reach the new incarnation only: the same user's history holds exactly them.
        tracker = _tracker(personalize, again)
        _put(events, tracker["trackingId"], "u0", ["i1", "i2", "i3"], time.time() - 10)
        history = new_keys.history(rk.user_subject("u0"))
        _poll(lambda: probe.zcard(history) == 3, "the stream to apply the new events")
        assert count_records(bootstrap, new_topic) == 3
        members = probe.zrange(history, 0, -1, withscores=True)
        assert [rk.parse_history_member(m, score).item_id for m, score in members] == ["i1", "i2", "i3"]
        assert int(probe.hget(new_keys.stats(), "events") or 0) == 3
        assert _keys_of(probe, old_keys) >= old_state  # kept (janitor off), and nobody reads them
    finally:
        probe.close()
        personalize.close()
        events.close()
