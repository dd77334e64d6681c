"""Impressions reach User-Personalization training through the real stack (ADR 0022 §15): control, ingest and
trainer processes on real Kafka. PutEvents carry explicit impressions (the IMPRESSION column) or a
recommendationId whose item list the runtime published (implicit impressions); the trainer reads both and
trains the shown items that were not chosen as negatives, which its manifest counts."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from tailor_shared import storage
from tailor_shared.schemas import avro_record
from tailor_shared.topics import impressions_topic
from tailor_tools.client import Client
from tests.conftest import RunningService
from tests.integration.test_ingest_with_control import retry_until_visible
from tests.support.worlds import events_group

pytestmark = pytest.mark.integration

SCHEMA = avro_record(
    "Interactions", "USER_ID", "ITEM_ID", "EVENT_TYPE", {"name": "IMPRESSION", "type": ["null", "string"]}, "TIMESTAMP"
)
UP = "arn:aws:personalize:::recipe/aws-user-personalization"
USERS, PER_USER = 30, 40  # 1,200 events: above the 1,000-interaction minimum


def _put(events: Client, tracking_id: str, user: str, batch: list[dict[str, Any]]) -> None:
    retry_until_visible(
        lambda: events.call("PutEvents", trackingId=tracking_id, userId=user, sessionId=user, eventList=batch)
    )


def test_put_events_impressions_are_trained_on_as_negatives(
    spawn_service: Callable[..., RunningService], tmp_path: Path
) -> None:
    control = spawn_service("control")
    ingest = spawn_service("ingest")
    spawn_service("trainer", wait=False, TAILOR_TRAINER_JANITOR_INTERVAL_S="0", TAILOR_TRAINER_MAX_TRAINING_SECONDS="5")
    bootstrap, prefix = control.env["TAILOR_KAFKA_BOOTSTRAP"], control.env["TAILOR_TOPIC_PREFIX"]
    personalize = Client(control.address, "control")
    events = Client(ingest.address, "events")
    world = events_group(personalize, "imp", SCHEMA)
    group, tracker = world.group, world.tracker

    # A GetRecommendations answer as the runtime publishes it: RID-1 showed i0, i1 and i2.
    producer = Producer({"bootstrap.servers": bootstrap})
    body = {"recommendationId": "RID-1", "campaignArn": "arn:campaign", "itemList": ["i0", "i1", "i2"], "timestamp": 0}
    producer.produce(impressions_topic(prefix), json.dumps(body).encode(), b"RID-1")
    assert producer.flush(30) == 0

    # Every user: events on i0..i22; every 4th event shows explicit impressions (the chosen item, i0, i1), every
    # 4th (offset 1) names RID-1 (i0, i1, i2 shown), every 4th (offset 2) names RID-1 and explicit impressions,
    # which win. The negatives: the shown items other than the chosen one.
    expected_rows = expected_negatives = 0
    for u in range(USERS):
        sent: list[dict[str, Any]] = []
        for k in range(PER_USER):
            item = f"i{(u * 7 + k) % 23}"
            event: dict[str, Any] = {"eventType": "click", "itemId": item, "sentAt": 1_700_000_000 + u * 1000 + k}
            shown: set[str] = set()
            if k % 4 in (0, 2):
                event["impression"] = [item, "i0", "i1"]
                shown = {"i0", "i1"}
            if k % 4 in (1, 2):
                event["recommendationId"] = "RID-1"
                shown = shown or {"i0", "i1", "i2"}
            negatives = len(shown - {item})
            expected_rows += negatives > 0
            expected_negatives += negatives
            sent.append(event)
        for start in range(0, PER_USER, 10):
            _put(events, tracker["trackingId"], f"u{u}", sent[start : start + 10])

    solution = personalize.call(
        "CreateSolution", name="up", recipeArn=UP, datasetGroupArn=group, performAutoTraining=False,
        solutionConfig={"algorithmHyperParameters": {"hidden_dimension": "32", "bptt": "8"}},
    )["solutionArn"]  # fmt: skip
    personalize.wait_for("DescribeSolution", "solution", solutionArn=solution)
    version_arn = personalize.call("CreateSolutionVersion", solutionArn=solution)["solutionVersionArn"]
    version = personalize.wait_for(
        "DescribeSolutionVersion", "solutionVersion", ("ACTIVE", "CREATE FAILED"), timeout=240,
        solutionVersionArn=version_arn,
    )  # fmt: skip
    assert version["status"] == "ACTIVE", version.get("failureReason")
    with storage.records(bootstrap, prefix) as view:
        model_dir = storage.solution_version_dir(view, control.env["TAILOR_MODEL_STORE"], version_arn)
    data = json.loads((model_dir / "manifest.json").read_text())["data"]
    assert data["interactionsAfterFiltering"] == USERS * PER_USER
    assert data["interactionsWithImpressions"] == expected_rows
    assert data["impressionNegatives"] == expected_negatives
