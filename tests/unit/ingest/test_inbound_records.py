"""Inbound topics' JSON records (ADR 0024), pure: the same rows and the same errors as the Put* call they stand
for; topic names bound to the group's incarnation; dead groups' topics found for the janitor."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tailor.events.v1 import events_pb2
from tailor_ingest import domain
from tailor_shared import orphans, schemas, topics
from tailor_shared.errors import InvalidInputException, PersonalizeError
from tailor_shared.resources import InMemoryResources, ResourceRecord
from tailor_tools import seed

PLANS = {t: domain.DatasetPlan.build(schemas.validate_schema(json.dumps(s), t)) for t, s in seed.SCHEMAS.items()}
DATASET = "arn:aws:personalize:us-east-1:000000000000:dataset/shop/ITEMS"
GOOD_EVENT: dict[str, Any] = {
    "userId": "u1",
    "sessionId": "s1",
    "eventId": "e1",
    "eventType": "click",
    "itemId": "i1",
    "sentAt": 1_700_000_000,
}


def fixed_id() -> str:
    return "generated"


def via_inbound(kind: str, value: dict[str, Any]) -> Any:
    data = domain.parse_value(json.dumps(value).encode())
    dataset_type = topics.INBOUND_KINDS[kind][0]
    try:
        return domain.inbound_rows(kind, data, PLANS[dataset_type], DATASET, fixed_id)
    except PersonalizeError as err:
        return f"{err.code}: {err.message}"


def via_put_events(value: dict[str, Any]) -> Any:
    event = {k: v for k, v in value.items() if k not in ("userId", "sessionId")}
    call = events_pb2.PutEventsRequest(
        tracking_id="t", session_id=value.get("sessionId", ""), user_id=value.get("userId", "")
    )
    call.event_list.append(events_pb2.Event(**{_snake(k): v for k, v in event.items()}))
    try:
        domain.check_put_events(call)
        return domain.put_events(call, PLANS["Interactions"], fixed_id)
    except PersonalizeError as err:
        return f"{err.code}: {err.message}"


def _snake(name: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"eventId": None},
        {"userId": None},  # anonymous
        {"eventValue": 4.5, "properties": json.dumps({"device": "ios", "numRatings": 3})},
        {"impression": ["i1", "i2"], "recommendationId": "r-1"},
        {"sessionId": None},
        {"itemId": None},
        {"eventType": "x" * 257},
        {"sentAt": -5},
        {"properties": json.dumps({"userId": "u2"})},
        {"properties": json.dumps({"color": "red"})},
        {"impression": ["a|b"]},
    ],
)
def test_an_inbound_event_is_exactly_a_one_event_put_events_call(change: dict[str, Any]) -> None:
    value = {k: v for k, v in {**GOOD_EVENT, **change}.items() if v is not None}
    assert via_inbound("events", value) == via_put_events(value)


def test_properties_may_be_an_object_and_entities_follow_put_items_rules() -> None:
    as_string = via_inbound("events", {**GOOD_EVENT, "properties": json.dumps({"device": "ios"})})
    as_object = via_inbound("events", {**GOOD_EVENT, "properties": {"device": "ios"}})
    assert as_string == as_object and as_object[0].values["DEVICE"] == "ios"
    [item] = via_inbound(
        "items",
        {"itemId": "i7", "properties": {"genres": "Comedy|Drama", "price": 9.5, "creationTimestamp": 1_700_000_000}},
    )
    assert item.values["ITEM_ID"] == "i7" and item.values["GENRES"] == "Comedy|Drama" and item.event_id is None
    assert via_inbound("items", {"properties": {"genres": "x"}}).startswith("InvalidInputException: ")
    assert "itemId" in via_inbound("items", {"properties": {"genres": "x"}})
    [user] = via_inbound("users", {"userId": "u1", "properties": {"membershipType": "gold"}})
    assert user.values["MEMBERSHIP_TYPE"] == "gold"
    [action] = via_inbound("actions", {"actionId": "a1"})
    assert action.values["ACTION_ID"] == "a1"
    [taken] = via_inbound(
        "action-interactions",
        {"actionId": "a1", "userId": "u1", "sessionId": "s1", "eventType": "Taken", "timestamp": 1_700_000_000},
    )
    assert taken.values["EVENT_TYPE"] == "Taken" and taken.event_id == "generated" and taken.session_id == "s1"
    refused = via_inbound("action-interactions", {"actionId": "a1", "sessionId": "s1", "eventType": "Bought"})
    assert "Member must be one of Viewed, Taken, Not Taken" in refused


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (b"{nope", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (None, "has no value"),
        (b" " * (domain.MAX_INBOUND_VALUE_BYTES + 1), "at most 65536 bytes"),
    ],
)
def test_a_value_that_is_not_one_json_object_is_invalid_input(value: bytes | None, message: str) -> None:
    with pytest.raises(InvalidInputException, match=message):
        domain.parse_value(value)


def test_unknown_and_mistyped_members_are_refused_not_dropped() -> None:
    typo = via_inbound("events", {**GOOD_EVENT, "itemID": "i2"})
    assert typo.startswith("InvalidInputException: 1 validation error detected: Value 'itemID' at 'itemID'")
    assert via_inbound("events", {**GOOD_EVENT, "sentAt": "soon"}).startswith("InvalidInputException: ")
    assert via_inbound("users", {"userId": 7}).startswith("InvalidInputException: ")


def test_a_derived_event_id_depends_only_on_the_records_position() -> None:
    first = domain.inbound_event_id("t.shop.0a1b2c3d.inbound.events", 2, 41)
    assert first == domain.inbound_event_id("t.shop.0a1b2c3d.inbound.events", 2, 41)
    assert re.fullmatch("[0-9a-f]{32}", first)
    others = {domain.inbound_event_id("t.shop.0a1b2c3d.inbound.events", p, o) for p, o in ((2, 42), (3, 41))}
    assert first not in others and len(others) == 2


def test_inbound_topic_names_are_bound_to_the_group_incarnation_and_never_dataset_topics() -> None:
    group = {"name": "shop", "_incarnation": "0a1b2c3d"}
    name = topics.inbound_topic("tailor", group, "events")
    assert name == "tailor.shop.0a1b2c3d.inbound.events"
    assert topics.inbound_topic("tailor", {"name": "shop"}, "items") == "tailor.shop.inbound.items"
    pattern = re.compile(topics.inbound_topic_pattern("tailor"))
    for kind in topics.INBOUND_KINDS:
        for body in (group, {"name": "shop"}):
            topic = topics.inbound_topic("tailor", body, kind)
            parsed = topics.parse_inbound_topic("tailor", topic)
            assert parsed == topics.InboundTopicName("shop", body.get("_incarnation"), kind)
            assert pattern.match(topic) and topics.parse_dataset_topic("tailor", topic) is None
            assert not any(re.match(topics.dataset_topic_pattern("tailor", t), topic) for t in topics.DATASET_KINDS)
    dataset_topic = topics.dataset_topic(
        "tailor", "shop", "Items", group_incarnation="0a1b2c3d", dataset_incarnation="1234abcd"
    )
    assert topics.parse_inbound_topic("tailor", dataset_topic) is None and not pattern.match(dataset_topic)
    with pytest.raises(ValueError):
        topics.inbound_topic("tailor", group, "clicks")


def test_the_inbound_topics_of_a_deleted_group_incarnation_are_dead() -> None:
    view = InMemoryResources()
    arn = "arn:aws:personalize:us-east-1:000000000000:dataset-group/shop"
    view.put(ResourceRecord(arn, "datasetGroup", {"name": "shop", "_incarnation": "0a1b2c3d"}))
    live = [topics.inbound_topic("p", {"name": "shop", "_incarnation": "0a1b2c3d"}, k) for k in topics.INBOUND_KINDS]
    old = topics.inbound_topic("p", {"name": "shop", "_incarnation": "ffff0000"}, "events")
    other = "p.shop.0a1b2c3d.1234abcd.interactions"
    assert orphans.dead_inbound_topics("p", [*live, old, other], view) == [old]
