"""Put* validation and conversion (pure): every limit of the guide with bad input, and the row mapping."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tailor.events.v1 import events_pb2
from tailor_ingest import domain
from tailor_shared import schemas
from tailor_shared.errors import InvalidInputException, ResourceInUseException, ResourceNotFoundException
from tailor_shared.incarnation import incarnation_of
from tailor_shared.resources import InMemoryResources
from tailor_tools import seed

PLANS = {t: domain.DatasetPlan.build(schemas.validate_schema(json.dumps(s), t)) for t, s in seed.SCHEMAS.items()}
IDS = iter(range(1_000_000))


def next_id() -> str:
    return f"generated-{next(IDS)}"


def event(**overrides: Any) -> events_pb2.Event:
    fields: dict[str, Any] = {"event_type": "click", "item_id": "i1", "sent_at": 1_700_000_000.0}
    fields.update(overrides)
    return events_pb2.Event(**fields)


def put_events(*events: events_pb2.Event, **request: Any) -> list[domain.PreparedRow]:
    fields: dict[str, Any] = {"tracking_id": "t-1", "session_id": "s-1", "user_id": "u-1"}
    fields.update(request)
    call = events_pb2.PutEventsRequest(event_list=events, **fields)
    domain.check_put_events(call)  # as the handler does, once, before resolving the tracker
    return domain.put_events(call, PLANS["Interactions"], next_id)


def rejected(call: Callable[[], object]) -> str:
    with pytest.raises(InvalidInputException) as info:
        call()
    return info.value.message


# --- PutEvents: mapping -------------------------------------------------------------------------------------------
def test_put_events_maps_members_and_properties_to_the_schema_row() -> None:
    rows = put_events(
        event(
            event_id="e-1",
            event_value=4.5,
            impression=["i1", "i2", "i3"],
            recommendation_id="RID-1",
            metric_attribution=events_pb2.MetricAttribution(event_attribution_source="email"),
            properties=json.dumps({"numRatings": "12", "device": "phone|tablet"}),
        )
    )
    assert len(rows) == 1
    assert rows[0].values == {
        "USER_ID": "u-1",
        "ITEM_ID": "i1",
        "TIMESTAMP": 1_700_000_000,
        "EVENT_TYPE": "click",
        "EVENT_VALUE": 4.5,
        "IMPRESSION": "i1|i2|i3",
        "RECOMMENDATION_ID": "RID-1",
        "EVENT_ATTRIBUTION_SOURCE": "email",
        "DEVICE": "phone|tablet",
        "NUM_RATINGS": 12,
    }
    assert (rows[0].event_id, rows[0].session_id, rows[0].recommendation_id) == ("e-1", "s-1", "RID-1")


def test_put_events_generates_event_ids_and_keeps_anonymous_users_by_session() -> None:
    rows = put_events(event(), event(item_id="i2"), user_id="")
    assert [r.values["USER_ID"] for r in rows] == ["", ""]
    assert all(r.session_id == "s-1" for r in rows)
    assert len({r.event_id for r in rows}) == 2 and all(r.event_id for r in rows)
    assert rows[0].values["EVENT_VALUE"] is None and rows[0].values["DEVICE"] is None


def test_item_id_and_event_value_may_come_inside_properties() -> None:
    # The guide's Python example puts itemId and eventValue in properties (L13985).
    rows = put_events(event(item_id="", properties=json.dumps({"itemId": "choc-panama", "eventValue": 4})))
    assert rows[0].values["ITEM_ID"] == "choc-panama" and rows[0].values["EVENT_VALUE"] == 4.0
    message = rejected(lambda: put_events(event(item_id="a", properties=json.dumps({"itemId": "b"}))))
    assert "eventList.1.member.itemId" in message and "conflicts" in message


def test_an_event_without_an_item_id_is_rejected() -> None:
    message = rejected(lambda: put_events(event(), event(item_id="")))
    assert "eventList.2.member.itemId" in message and "ITEM_ID" in message


# --- PutEvents: every limit ---------------------------------------------------------------------------------------
LONG = "x" * 257


@pytest.mark.parametrize(
    ("request_fields", "path", "fragment"),
    [
        ({"tracking_id": ""}, "trackingId", "must not be null"),
        ({"tracking_id": LONG}, "trackingId", "less than or equal to 256"),
        ({"session_id": ""}, "sessionId", "must not be null"),
        ({"session_id": LONG}, "sessionId", "less than or equal to 256"),
        ({"user_id": LONG}, "userId", "less than or equal to 256"),
    ],
)
def test_put_events_envelope_limits(request_fields: dict[str, Any], path: str, fragment: str) -> None:
    message = rejected(lambda: put_events(event(), **request_fields))
    assert f"at '{path}'" in message and fragment in message


def test_put_events_takes_one_to_ten_events() -> None:
    assert "greater than or equal to 1" in rejected(lambda: put_events())
    assert "less than or equal to 10" in rejected(lambda: put_events(*[event() for _ in range(11)]))
    assert len(put_events(*[event(item_id=f"i{n}") for n in range(10)])) == 10


@pytest.mark.parametrize(
    ("overrides", "member", "fragment"),
    [
        ({"event_type": ""}, "eventType", "must not be null"),
        ({"event_type": LONG}, "eventType", "less than or equal to 256"),
        ({"sent_at": 0.0}, "sentAt", "must not be null"),
        ({"sent_at": 1_700_000_000_000.0}, "sentAt", "epoch time in seconds"),
        ({"sent_at": -5.0}, "sentAt", "epoch time in seconds"),
        ({"sent_at": float("nan")}, "sentAt", "epoch time in seconds"),
        ({"event_id": LONG}, "eventId", "less than or equal to 256"),
        ({"item_id": LONG}, "itemId", "less than or equal to 256"),
        ({"recommendation_id": "R" * 41}, "recommendationId", "less than or equal to 40"),
        ({"impression": [f"i{n}" for n in range(26)]}, "impression", "less than or equal to 25"),
        ({"impression": ["ok", LONG]}, "impression.2.member", "less than or equal to 256"),
        ({"impression": ["ok", ""]}, "impression.2.member", "must not be null"),
        ({"impression": ["a|b"]}, "impression.1.member", "separator"),
        ({"impression": ["x" * 45] * 25}, "impression", "1000"),
        ({"event_value": float("inf")}, "eventValue", "finite"),
        ({"event_type": "EVENT_TYPE"}, "eventType", "reserved keyword"),
        (
            {"metric_attribution": events_pb2.MetricAttribution(event_attribution_source="")},
            "metricAttribution.eventAttributionSource",
            "must not be null",
        ),
        (
            {"metric_attribution": events_pb2.MetricAttribution(event_attribution_source="s" * 1025)},
            "metricAttribution.eventAttributionSource",
            "less than or equal to 1024",
        ),
        (
            {"metric_attribution": events_pb2.MetricAttribution(event_attribution_source="   ")},
            "metricAttribution.eventAttributionSource",
            "regular expression",
        ),
        (
            {"metric_attribution": events_pb2.MetricAttribution(event_attribution_source="caf\u00e9")},
            "metricAttribution.eventAttributionSource",
            "regular expression",
        ),
    ],
)
def test_event_member_limits_name_the_record_and_the_field(
    overrides: dict[str, Any], member: str, fragment: str
) -> None:
    message = rejected(lambda: put_events(event(), event(), event(**overrides)))
    assert f"at 'eventList.3.member.{member}'" in message, message
    assert fragment in message, message


@pytest.mark.parametrize(
    ("properties", "fragment"),
    [
        ("{" + '"device": "' + "p" * 1030 + '"}', "less than or equal to 1024"),
        ("not json", "JSON string map"),
        ('["device"]', "JSON string map"),
        ('{"userId": "u"}', "can't be included as a keyword"),
        ('{"SESSIONID": "s"}', "can't be included as a keyword"),
        ('{"eventType": "x"}', "can't be included as a keyword"),
        ('{"timestamp": 1}', "can't be included as a keyword"),
        ('{"recommendationId": "r"}', "can't be included as a keyword"),
        ('{"Impression": "i"}', "can't be included as a keyword"),
        ('{"colour": "red"}', "does not match a field"),
        ('{"device": ["a", "b"]}', "join multiple categorical values with '|'"),
        ('{"device": "EVENT_VALUE"}', "reserved keyword"),
        ('{"numRatings": "many"}', "not a valid int"),
        ('{"numRatings": 3000000000}', "out of range"),
        ('{"numRatings": 1.5}', "whole number"),
        ('{"device": "a", "DEVICE": "b"}', "repeats the field"),
    ],
)
def test_event_properties_are_checked_against_the_interactions_schema(properties: str, fragment: str) -> None:
    message = rejected(lambda: put_events(event(properties=properties)))
    assert "eventList.1.member.properties" in message, message
    assert fragment in message, message


def test_categorical_values_are_limited_to_1000_characters_including_separators() -> None:
    ok = "|".join(["abcd"] * 200)[:1000]
    assert put_events(event(properties=json.dumps({"device": ok})))[0].values["DEVICE"] == ok
    too_long = json.dumps({"device": "a|" * 500 + "b"})  # 1001 characters
    assert "Length cannot be more than 1000 characters for DEVICE" in rejected(
        lambda: put_events(event(properties=too_long))
    )


def test_an_event_over_10_kb_is_rejected() -> None:
    big = event(
        event_type="\U0001f600" * 256,
        event_id="\U0001f600" * 256,
        item_id="\U0001f600" * 256,
        properties=json.dumps({"device": "\U0001f600" * 1000}, ensure_ascii=False),
        impression=["\U0001f600" * 38] * 25,
        recommendation_id="\U0001f600" * 40,
        metric_attribution=events_pb2.MetricAttribution(event_attribution_source="s" * 1024),
    )
    assert big.ByteSize() > domain.MAX_EVENT_BYTES
    message = rejected(lambda: put_events(event(), big))
    assert "eventList.2.member" in message and "10 KB" in message


# --- PutActionInteractions -------------------------------------------------------------------------------------------
def action_event(**overrides: Any) -> events_pb2.ActionInteraction:
    fields: dict[str, Any] = {"action_id": "a1", "event_type": "Taken", "session_id": "s1", "timestamp": 1_700_000_000}
    fields.update(overrides)
    return events_pb2.ActionInteraction(**fields)


def put_actions(*items: events_pb2.ActionInteraction) -> list[domain.PreparedRow]:
    request = events_pb2.PutActionInteractionsRequest(tracking_id="t", action_interactions=items)
    domain.check_put_action_interactions(request)
    return domain.put_action_interactions(request, PLANS["Action_Interactions"], next_id)


def test_put_action_interactions_rows() -> None:
    rows = put_actions(action_event(user_id="u1", impression=["a1", "a2"]), action_event(event_type="not_taken"))
    assert rows[0].values == {
        "USER_ID": "u1",
        "ACTION_ID": "a1",
        "EVENT_TYPE": "Taken",
        "TIMESTAMP": 1_700_000_000,
        "IMPRESSION": "a1|a2",
    }
    assert rows[1].values["USER_ID"] == "" and rows[1].session_id == "s1"


@pytest.mark.parametrize(
    ("overrides", "member", "fragment"),
    [
        ({"action_id": ""}, "actionId", "must not be null"),
        ({"action_id": LONG}, "actionId", "less than or equal to 256"),
        ({"event_type": "Clicked"}, "eventType", "Viewed, Taken, Not Taken"),
        ({"event_type": ""}, "eventType", "must not be null"),
        ({"session_id": ""}, "sessionId", "must not be null"),
        ({"timestamp": 0}, "timestamp", "must not be null"),
        ({"user_id": LONG}, "userId", "less than or equal to 256"),
        ({"recommendation_id": "R" * 41}, "recommendationId", "less than or equal to 40"),
        ({"impression": ["a"] * 26}, "impression", "less than or equal to 25"),
        ({"properties": '{"impression": "x"}'}, "properties", "can't be included as a keyword"),
        ({"properties": '{"actionId": "x"}'}, "properties", "pass it as actionId"),
    ],
)
def test_action_interaction_limits(overrides: dict[str, Any], member: str, fragment: str) -> None:
    message = rejected(lambda: put_actions(action_event(), action_event(**overrides)))
    assert f"actionInteractions.2.member.{member}" in message, message
    assert fragment in message, message


def test_action_interactions_take_one_to_ten() -> None:
    assert "less than or equal to 10" in rejected(lambda: put_actions(*[action_event()] * 11))
    assert "actionInteractions" in rejected(lambda: put_actions())


# --- PutItems / PutUsers / PutActions ---------------------------------------------------------------------------------
def put(kind: domain.EntityKind, *records: tuple[str, str]) -> list[domain.PreparedRow]:
    return domain.put_entities(kind, records, PLANS[kind.dataset_type])


def test_put_items_converts_properties_by_field_type() -> None:
    props = json.dumps({"genres": "Horror|Action", "price": "9.5", "creationTimestamp": "1700000000"})
    [row] = put(domain.ITEMS_KIND, ("i1", props))
    assert row.values == {
        "ITEM_ID": "i1",
        "GENRES": "Horror|Action",
        "PRICE": 9.5,
        "CREATION_TIMESTAMP": 1_700_000_000,
        "DESCRIPTION": None,
    }


def test_textual_values_are_truncated_not_rejected() -> None:
    props = json.dumps({"creationTimestamp": 1, "description": "w" * 25_000})
    [row] = put(domain.ITEMS_KIND, ("i1", props))
    assert len(row.values["DESCRIPTION"]) == schemas.MAX_TEXTUAL_LENGTH


@pytest.mark.parametrize(
    ("kind", "records", "path", "fragment"),
    [
        (domain.ITEMS_KIND, [("i1", "{}")], "items.1.member.properties", "Missing key 'creationTimestamp'"),
        (domain.ITEMS_KIND, [("i1", '{"creationTimestamp": 1}'), ("", "{}")], "items.2.member.itemId", "not be null"),
        (domain.ITEMS_KIND, [(LONG, "{}")], "items.1.member.itemId", "less than or equal to 256"),
        (
            domain.ITEMS_KIND,
            [("i1", '{"itemId": "i2", "creationTimestamp": 1}')],
            "items.1.member.properties",
            "pass it as itemId",
        ),
        (
            domain.ITEMS_KIND,
            [("i1", '{"creationTimestamp": 1700000000000}')],
            "items.1.member.properties",
            "epoch time in seconds",
        ),
        (
            domain.ITEMS_KIND,
            [("i1", json.dumps({"creationTimestamp": 1, "genres": "g" * 32000}))],
            "items.1.member.properties",
            "less than or equal to 32000",
        ),
        (
            domain.USERS_KIND,
            [("u1", json.dumps({"membershipType": "m" * 24000}))],
            "users.1.member.properties",
            "less than or equal to 24000",
        ),
        (domain.USERS_KIND, [("u1", '{"age": "old"}')], "users.1.member.properties", "not a valid int"),
        (domain.USERS_KIND, [("u1", '{"unknown": 1}')], "users.1.member.properties", "does not match a field"),
        (
            domain.ACTIONS_KIND,
            [("a1", '{"value": 11, "repeatFrequency": 1}')],
            "actions.1.member.properties",
            "between 1 and 10",
        ),
        (
            domain.ACTIONS_KIND,
            [("a1", '{"value": 5, "repeatFrequency": 31}')],
            "actions.1.member.properties",
            "between 0 and 30",
        ),
        (domain.ACTIONS_KIND, [("a1", '{"value": "0"}')], "actions.1.member.properties", "between 1 and 10"),
    ],
)
def test_entity_limits(kind: domain.EntityKind, records: list[tuple[str, str]], path: str, fragment: str) -> None:
    message = rejected(lambda: put(kind, *records))
    assert path in message and fragment in message, message


def test_entity_calls_take_one_to_ten_records_and_a_dataset_arn() -> None:
    arn = "arn:aws:personalize:us-east-1:000000000000:dataset/g/ITEMS"
    domain.check_put_entities(domain.ITEMS_KIND, arn, 10)
    assert "less than or equal to 10" in rejected(lambda: domain.check_put_entities(domain.ITEMS_KIND, arn, 11))
    assert "'items'" in rejected(lambda: domain.check_put_entities(domain.ITEMS_KIND, arn, 0))
    assert "datasetArn" in rejected(lambda: domain.check_put_entities(domain.USERS_KIND, "nope", 1))
    assert "datasetArn" in rejected(lambda: domain.check_put_entities(domain.USERS_KIND, "", 1))


def test_put_actions_and_users_rows() -> None:
    [action] = put(
        domain.ACTIONS_KIND, ("a1", '{"value": "10", "membershipLevel": "Deluxe|Premium", "repeatFrequency": 7}')
    )
    assert action.values == {
        "ACTION_ID": "a1",
        "VALUE": 10,
        "MEMBERSHIP_LEVEL": "Deluxe|Premium",
        "REPEAT_FREQUENCY": 7,
    }
    [user] = put(domain.USERS_KIND, ("u1", ""))
    assert user.values == {"USER_ID": "u1", "AGE": None, "MEMBERSHIP_TYPE": None}


# --- Resolving trackers and datasets -------------------------------------------------------------------------------
def test_resolution_errors() -> None:
    group = seed.group_records("g1", seed.SCHEMAS)
    view = InMemoryResources(group.records)
    assert group.tracking_id is not None and group.action_tracking_id is not None
    target = domain.resolve_event_tracker(view, group.tracking_id, "tailor")
    assert (target.topic, target.dataset_type) == (group.topic("tailor", "Interactions"), "Interactions")
    # The topic is bound to the group's and the dataset's incarnations (ADR 0012).
    tokens = [incarnation_of(group.record(a)) for a in (group.group_arn, group.dataset_arn("Interactions"))]
    assert target.topic == f"tailor.g1.{tokens[0]}.{tokens[1]}.interactions"
    assert domain.resolve_action_tracker(view, group.action_tracking_id, "p").topic == group.topic(
        "p", "Action_Interactions"
    )
    assert domain.resolve_dataset(view, group.dataset_arn("Items"), "Items", "p").topic == group.topic("p", "Items")
    with pytest.raises(ResourceNotFoundException):
        domain.resolve_event_tracker(view, "unknown", "p")
    with pytest.raises(ResourceNotFoundException):
        domain.resolve_action_tracker(view, group.tracking_id, "p")
    with pytest.raises(ResourceNotFoundException):
        domain.resolve_dataset(view, group.dataset_arn("Items") + "X", "Items", "p")
    with pytest.raises(InvalidInputException):
        domain.resolve_dataset(view, group.dataset_arn("Users"), "Items", "p")
    pending = seed.group_records("g2", {"Items": seed.SCHEMAS["Items"]}, status="CREATE PENDING")
    with pytest.raises(ResourceInUseException):
        domain.resolve_dataset(InMemoryResources(pending.records), pending.dataset_arn("Items"), "Items", "p")
