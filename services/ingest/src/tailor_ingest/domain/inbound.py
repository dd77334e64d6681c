"""Inbound topics (ADR 0024): one record's JSON value -> the rows the equivalent Put* call would write.

A record on an inbound topic carries Personalize's own JSON for *one* record: a PutEvents event with the call's
``userId`` and ``sessionId`` beside the event's members, a PutItems item, a PutUsers user, a PutActions action or
a PutActionInteractions action interaction. It is turned into the one-record Put* request it stands for and goes
through exactly the Put* rules (``put``): a record is accepted on a topic exactly when the API would accept it,
and a rejection carries the API's exception and wording (member paths as in that one-record call). The only
addition: ``properties`` may also be a JSON object (the API takes it as a string; it is serialized compactly).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any, Final

from google.protobuf import json_format
from google.protobuf.message import Message

from tailor.events.v1 import events_pb2
from tailor_ingest.domain.errors import constraint
from tailor_ingest.domain.fields import DatasetPlan, normalized_key
from tailor_ingest.domain.put import (
    ACTIONS_KIND,
    ITEMS_KIND,
    USERS_KIND,
    EntityKind,
    PreparedRow,
    check_event_envelope,
    check_put_entities,
    put_action_interactions,
    put_entities,
    put_events,
)
from tailor_shared.errors import InvalidInputException

#: An inbound value larger than this is refused before parsing (the largest Put* record, an item with 32,000
#: characters of properties, fits easily).
MAX_INBOUND_VALUE_BYTES: Final = 64 * 1024

#: The members a record of each kind may have (camelCase, as in the API's JSON).
_EVENT_MEMBERS: Final = frozenset(
    {
        "eventId",
        "eventType",
        "eventValue",
        "impression",
        "itemId",
        "metricAttribution",
        "properties",
        "recommendationId",
        "sentAt",
    }
)
_ENVELOPE_MEMBERS: Final = frozenset({"userId", "sessionId"})
_ACTION_INTERACTION_MEMBERS: Final = frozenset(
    {
        "actionId",
        "eventId",
        "eventType",
        "impression",
        "properties",
        "recommendationId",
        "sessionId",
        "timestamp",
        "userId",
    }
)
_ENTITY_KINDS: Final[dict[str, EntityKind]] = {"items": ITEMS_KIND, "users": USERS_KIND, "actions": ACTIONS_KIND}
_ENTITY_MESSAGES: Final[dict[str, Callable[[], Message]]] = {
    "items": events_pb2.Item,
    "users": events_pb2.User,
    "actions": events_pb2.Action,
}


#: Schema Registry Avro (ADR 0024 §7): the dataset columns that are members of the Put* record, by
#: ``normalized_key`` (so ``USER_ID`` and ``userId`` both name it); every other column is a property.
_COLUMN_MEMBERS: Final[dict[str, dict[str, str]]] = {
    "events": {
        "userid": "userId",
        "sessionid": "sessionId",
        "eventid": "eventId",
        "itemid": "itemId",
        "eventtype": "eventType",
        "eventvalue": "eventValue",
        "timestamp": "sentAt",
        "sentat": "sentAt",
        "impression": "impression",
        "recommendationid": "recommendationId",
        "eventattributionsource": "metricAttribution",
    },
    "action-interactions": {
        "userid": "userId",
        "sessionid": "sessionId",
        "eventid": "eventId",
        "actionid": "actionId",
        "eventtype": "eventType",
        "timestamp": "timestamp",
        "impression": "impression",
        "recommendationid": "recommendationId",
    },
    "items": {"itemid": "itemId"},
    "users": {"userid": "userId"},
    "actions": {"actionid": "actionId"},
}


def user_session_id(user_id: str) -> str:
    """The session of a user's rows that name none: 32 hex characters derived from the user id."""
    return hashlib.sha256(f"session/{user_id}".encode()).hexdigest()[:32]


def avro_members(
    kind: str, record: Mapping[str, Any], session_id: str | None = None, event_id: str | None = None
) -> dict[str, Any]:
    """A record decoded from the Confluent wire format (a dataset row: ``USER_ID``, ``TIMESTAMP``, …) -> the JSON
    members ``inbound_rows`` checks, so Avro and JSON records obey the same rules. A row has no session: an
    event's ``sessionId`` is the ``tailor-session-id`` header, else one derived from the user id (one session per
    user; not the user id itself, which the stream reads as an anonymous event); its ``eventId`` the
    ``tailor-event-id`` header when the row has none. ``IMPRESSION`` is pipe-separated as in the
    dataset; null columns are absent."""
    members: dict[str, Any] = {}
    properties: dict[str, Any] = {}
    names = _COLUMN_MEMBERS[kind]
    for column, value in record.items():
        if value is None:
            continue
        member = names.get(normalized_key(column))
        if member is None:
            properties[column] = value
        elif member == "metricAttribution":
            members[member] = {"eventAttributionSource": value}
        elif member == "impression" and isinstance(value, str):
            members[member] = value.split("|")
        else:
            members[member] = value
    if properties:
        members["properties"] = properties
    if kind in ("events", "action-interactions"):
        if "sessionId" not in members and (session_id or "userId" in members):
            members["sessionId"] = session_id or user_session_id(str(members["userId"]))
        if "eventId" not in members and event_id:
            members["eventId"] = event_id
    return members


def inbound_event_id(topic: str, partition: int, offset: int) -> str:
    """The eventId of an event that gave none, derived from where it was read (32 hex characters like a
    generated one): forwarded again after a crash, it gets the same id and the repeat is dropped downstream."""
    return hashlib.sha256(f"{topic}/{partition}/{offset}".encode()).hexdigest()[:32]


def parse_value(value: bytes | None) -> dict[str, Any]:
    """The record's value as a JSON object."""
    if value is None:
        raise InvalidInputException("The record has no value: an inbound record's value is one JSON object.")
    if len(value) > MAX_INBOUND_VALUE_BYTES:
        raise InvalidInputException(
            f"The record's value is {len(value)} bytes; an inbound record is at most {MAX_INBOUND_VALUE_BYTES} bytes."
        )
    try:
        data = json.loads(value)
    except (ValueError, UnicodeDecodeError) as err:
        raise InvalidInputException(f"The record's value is not valid JSON: {err}.") from None
    if not isinstance(data, dict):
        raise InvalidInputException("The record's value must be a JSON object.")
    return data


def _members(data: Mapping[str, Any], allowed: frozenset[str], what: str) -> dict[str, Any]:
    """Unknown members are refused (a typo must not silently drop a field); null means absent; an object
    ``properties`` becomes the API's JSON string."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key not in allowed:
            raise constraint(key, key, f"Member is not a member of {what} (members: {', '.join(sorted(allowed))})")
        if value is None:
            continue
        if key == "properties" and isinstance(value, dict):
            value = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        out[key] = value
    return out


def _message(data: Mapping[str, Any], message: Message) -> Message:
    """Members -> the API's message (types as the API's JSON protocol takes them)."""
    try:
        json_format.ParseDict(dict(data), message)
    except json_format.ParseError as err:
        text = str(err).split(" at ", 1)[0]
        raise InvalidInputException(f"1 validation error detected: {text}") from None
    return message


def inbound_rows(
    kind: str, data: Mapping[str, Any], plan: DatasetPlan, dataset_arn: str, event_id: Callable[[], str]
) -> list[PreparedRow]:
    """One inbound record's value (``parse_value``) -> its row, by the rules of the Put* call it stands for.
    ``event_id`` gives the eventId of an event that has none (``inbound_event_id``)."""
    if kind == "events":
        members = _members(data, _EVENT_MEMBERS | _ENVELOPE_MEMBERS, "a PutEvents event")
        envelope = {k: members.pop(k) for k in _ENVELOPE_MEMBERS if k in members}
        request = _message({**envelope, "eventList": [members]}, events_pb2.PutEventsRequest())
        assert isinstance(request, events_pb2.PutEventsRequest)
        check_event_envelope(request)
        return put_events(request, plan, event_id)
    if kind == "action-interactions":
        members = _members(data, _ACTION_INTERACTION_MEMBERS, "a PutActionInteractions action interaction")
        actions = _message({"actionInteractions": [members]}, events_pb2.PutActionInteractionsRequest())
        assert isinstance(actions, events_pb2.PutActionInteractionsRequest)
        return put_action_interactions(actions, plan, event_id)
    entity = _ENTITY_KINDS.get(kind)
    if entity is None:
        raise ValueError(f"unknown inbound kind {kind!r}")
    allowed = frozenset({entity.id_member, "properties"})
    members = _members(data, allowed, f"a Put{entity.list_member.capitalize()} {entity.list_member[:-1]}")
    record: Any = _message(members, _ENTITY_MESSAGES[kind]())  # an Item, User or Action
    check_put_entities(entity, dataset_arn, 1)
    entity_id = str(getattr(record, entity.id_member.replace("Id", "_id")))
    return put_entities(entity, [(entity_id, str(record.properties))], plan)
