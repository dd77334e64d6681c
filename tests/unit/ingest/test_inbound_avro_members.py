"""Schema Registry Avro on inbound topics (ADR 0024 §7), pure: a dataset row decoded from the Confluent wire
format becomes the JSON members of the Put* record, so it gets the same row (and the same errors) as that JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tailor_ingest import domain
from tailor_ingest.registry import is_wire_format, schema_id, subject
from tailor_shared import schemas
from tailor_shared.errors import InvalidInputException
from tailor_tools import seed

PLANS = {t: domain.DatasetPlan.build(schemas.validate_schema(json.dumps(s), t)) for t, s in seed.SCHEMAS.items()}
DATASET = "arn:aws:personalize:us-east-1:000000000000:dataset/shop/X"


def _rows(kind: str, data: dict[str, Any]) -> list[tuple[Any, ...]]:
    plan = PLANS[{"events": "Interactions", "items": "Items", "action-interactions": "Action_Interactions"}[kind]]
    rows = domain.inbound_rows(kind, data, plan, DATASET, lambda: "derived")
    return [(sorted(r.values.items()), r.event_id, r.session_id, r.recommendation_id) for r in rows]


def test_an_interactions_row_is_the_put_events_event_it_stands_for() -> None:
    row = {
        "USER_ID": "u1",
        "ITEM_ID": "i1",
        "TIMESTAMP": 1_700_000_000,
        "EVENT_TYPE": "click",
        "EVENT_VALUE": 2.5,
        "IMPRESSION": "i1|i2",
        "RECOMMENDATION_ID": "r1",
        "EVENT_ATTRIBUTION_SOURCE": "email",
        "DEVICE": "ios",
        "NUM_RATINGS": 3,
    }
    members = domain.avro_members("events", row, session_id="s1", event_id="e1")
    as_json = {
        "userId": "u1",
        "sessionId": "s1",
        "eventId": "e1",
        "itemId": "i1",
        "sentAt": 1_700_000_000,
        "eventType": "click",
        "eventValue": 2.5,
        "impression": ["i1", "i2"],
        "recommendationId": "r1",
        "metricAttribution": {"eventAttributionSource": "email"},
        "properties": {"DEVICE": "ios", "NUM_RATINGS": 3},
    }
    assert members == as_json
    assert _rows("events", members) == _rows("events", {**as_json, "properties": {"device": "ios", "numRatings": 3}})


def test_a_row_without_session_gets_one_per_user_never_the_user_id() -> None:
    row = {"USER_ID": "u1", "ITEM_ID": "i1", "TIMESTAMP": 1_700_000_000, "EVENT_TYPE": "click", "DEVICE": None}
    members = domain.avro_members("events", row)
    assert members["sessionId"] == domain.avro_members("events", row)["sessionId"] != "u1"
    assert members["sessionId"] != domain.avro_members("events", {**row, "USER_ID": "u2"})["sessionId"]
    assert "properties" not in members and "eventId" not in members  # null columns are absent
    [(_, event_id, session, _)] = _rows("events", members)
    assert event_id == "derived" and session == members["sessionId"]


def test_avro_rows_break_the_same_rules_with_the_same_words() -> None:
    row = {"USER_ID": "u1", "ITEM_ID": "i1", "TIMESTAMP": 99_999_999_999, "EVENT_TYPE": "click"}
    with pytest.raises(InvalidInputException, match=r"eventList\.1\.member\.sentAt.*Unix epoch time in seconds"):
        _rows("events", domain.avro_members("events", row))
    t0 = 1_700_000_000
    item = domain.avro_members("items", {"ITEM_ID": "i1", "GENRES": "a|b", "CREATION_TIMESTAMP": t0})
    assert item == {"itemId": "i1", "properties": {"GENRES": "a|b", "CREATION_TIMESTAMP": t0}}
    same = {"itemId": "i1", "properties": {"genres": "a|b", "creationTimestamp": t0}}
    assert _rows("items", item) == _rows("items", same)
    action = domain.avro_members(
        "action-interactions", {"USER_ID": "u1", "ACTION_ID": "a1", "EVENT_TYPE": "TAKEN", "TIMESTAMP": 1_700_000_000}
    )
    assert action["actionId"] == "a1" and action["timestamp"] == 1_700_000_000 and action["sessionId"] != "u1"
    assert len(_rows("action-interactions", action)) == 1


def test_the_confluent_wire_format_header() -> None:
    assert is_wire_format(b"\x00\x00\x00\x00\x07\x02a") and schema_id(b"\x00\x00\x00\x00\x07\x02a") == 7
    assert not is_wire_format(b'{"userId":"u1"}') and not is_wire_format(b"") and not is_wire_format(None)
    with pytest.raises(InvalidInputException, match="has 3 bytes; its header alone is 5"):
        schema_id(b"\x00\x00\x01")
    assert subject("p.shop.0a1b2c3d.inbound.events") == "p.shop.0a1b2c3d.inbound.events-value"
