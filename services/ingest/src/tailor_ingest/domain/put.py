"""Put* requests (PutEvents, PutActionInteractions, PutItems, PutUsers, PutActions) -> validated Avro rows.

The handler calls ``check_put_*`` on the call's own members before any lookup, then the ``put_*`` function
with the resolved dataset's plan; every rejection names the record and the member in AWS's wording.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from tailor.events.v1 import events_pb2
from tailor_ingest.domain.errors import constraint, member_path
from tailor_ingest.domain.fields import MAX_EPOCH_SECONDS, DatasetPlan
from tailor_shared import schemas
from tailor_shared.arns import ARN_MAX_LENGTH, ARN_PATTERN
from tailor_shared.validation import (
    MAX_EVENT_ATTRIBUTION_SOURCE_LENGTH,
    MAX_EVENT_TYPE_LENGTH,
    MAX_ID_LENGTH,
    MAX_RECOMMENDATION_ID_LENGTH,
)

# --- Limits (api.md §5, §8.5; id, eventType, recommendationId lengths: tailor_shared.validation) -----------------
MAX_RECORDS_PER_CALL: Final = 10  # "up to 10 records per individual import operation" (L8245, quota L19735)
MAX_IMPRESSIONS: Final = 25  # Event.impression 1..25 items, each 1..256 (L34937)
MAX_EVENT_PROPERTIES_LENGTH: Final = 1024  # Event / ActionInteraction properties 1..1024 (L34937, L34813)
MAX_ITEM_PROPERTIES_LENGTH: Final = 32000  # Item.properties (api.md §5.3)
MAX_USER_PROPERTIES_LENGTH: Final = 24000  # User.properties (L35116)
MAX_ACTION_PROPERTIES_LENGTH: Final = 32000  # Action.properties (L34777)
MAX_EVENT_BYTES: Final = 10 * 1024  # "Maximum size of an event. 10 KB", also action interactions (L19735)
#: "The following can't be included as a keyword for properties (case insensitive)" (L34893, L35021).
FORBIDDEN_PROPERTY_KEYS: Final = frozenset(
    {"userid", "sessionid", "eventtype", "timestamp", "recommendationid", "impression"}
)
#: "You can specify Viewed, Taken, and Not Taken event types" (L34813); the guide also prints TAKEN,
#: NOT_TAKEN and "Not taken", so the check ignores case and "_" vs " " (ADR 0003).
ACTION_EVENT_TYPES: Final = frozenset({"VIEWED", "TAKEN", "NOT TAKEN"})
_ATTRIBUTION_SOURCE = re.compile(r"^[\x20-\x7E]*[\x21-\x7E]+[\x20-\x7E]*$")  # api.md §5.3


@dataclass(frozen=True)
class PreparedRow:
    """A validated row and its envelope ids (headers, not columns)."""

    values: dict[str, Any]
    event_id: str | None = None
    session_id: str | None = None
    recommendation_id: str | None = None


def _string(value: str, p: str, member: str, max_length: int, *, required: bool) -> str | None:
    """Proto3 strings default to ''; an empty optional member is absent, an empty required one is null."""
    if value == "":
        if required:
            raise constraint(None, member_path(p, member), "Member must not be null")
        return None
    if len(value) > max_length:
        raise constraint(value, member_path(p, member), f"Member must have length less than or equal to {max_length}")
    return value


def _count(n: int, path: str, maximum: int = MAX_RECORDS_PER_CALL) -> None:
    if n < 1:
        raise constraint(None, path, "Member must have length greater than or equal to 1")
    if n > maximum:
        raise constraint(f"[{n} members]", path, f"Member must have length less than or equal to {maximum}")


def _epoch(value: float, p: str, member: str) -> int:
    if value == 0:
        raise constraint(None, member_path(p, member), "Member must not be null")
    if not math.isfinite(value) or not 0 < value <= MAX_EPOCH_SECONDS:
        raise constraint(value, member_path(p, member), "Member must be a Unix epoch time in seconds")
    return int(value)


def _impressions(values: Sequence[str], p: str) -> str | None:
    if not values:
        return None
    path = member_path(p, "impression")
    _count(len(values), path, MAX_IMPRESSIONS)
    for i, item in enumerate(values, 1):
        _string(item, path, f"{i}.member", MAX_ID_LENGTH, required=True)
        if schemas.CATEGORICAL_SEPARATOR in item:
            raise constraint(item, f"{path}.{i}.member", "Member must not contain '|', the impression separator")
    joined = schemas.CATEGORICAL_SEPARATOR.join(values)
    if len(joined) > schemas.MAX_IMPRESSION_LENGTH:
        # Impression values are limited to 1000 characters including the '|' separators (L4063).
        raise constraint(
            joined,
            path,
            f"Impression values joined with '|' must have length less than or equal to {schemas.MAX_IMPRESSION_LENGTH}",
        )
    return joined


def _merge(values: dict[str, Any], name: str, value: Any, p: str, member: str) -> None:
    """A column given both as a member and inside ``properties`` (L13985 puts itemId there) must agree."""
    if value is None:
        return
    if values.get(name) is not None and values[name] != value:
        raise constraint(value, member_path(p, member), f"Member conflicts with the {name} value given in properties")
    values[name] = value


def check_put_events(request: events_pb2.PutEventsRequest) -> None:
    """The call's own members (before any lookup): trackingId, sessionId, userId, eventList (L28675)."""
    _string(request.tracking_id, "", "trackingId", MAX_ID_LENGTH, required=True)
    check_event_envelope(request)


def check_event_envelope(request: events_pb2.PutEventsRequest) -> None:
    """sessionId, userId and eventList: everything of ``check_put_events`` but the tracker, which an inbound
    topic's record does not name (its topic does; ADR 0024)."""
    _string(request.session_id, "", "sessionId", MAX_ID_LENGTH, required=True)
    _string(request.user_id, "", "userId", MAX_ID_LENGTH, required=False)
    _count(len(request.event_list), "eventList")


def put_events(
    request: events_pb2.PutEventsRequest, plan: DatasetPlan, new_event_id: Callable[[], str]
) -> list[PreparedRow]:
    """PutEvents -> Item interactions rows. userId, itemId and sentAt map to USER_ID, ITEM_ID and TIMESTAMP
    (L13840); an anonymous event (no userId) gets USER_ID "" and is keyed by its sessionId (ADR 0003).
    The caller has run ``check_put_events`` (before resolving the tracker), so the envelope is not re-checked."""
    user_id = request.user_id
    if user_id:
        plan.convert("USER_ID", user_id, "", "userId")
    session_id = request.session_id
    convert = plan.convert
    has_type, has_value = plan.has("EVENT_TYPE"), plan.has("EVENT_VALUE")
    has_impression, has_rid = plan.has("IMPRESSION"), plan.has("RECOMMENDATION_ID")
    has_source = plan.has("EVENT_ATTRIBUTION_SOURCE")
    rows: list[PreparedRow] = []
    for i, event in enumerate(request.event_list, 1):
        p = f"eventList.{i}.member"
        size = event.ByteSize()
        if size > MAX_EVENT_BYTES:
            raise constraint(f"{size} bytes", p, f"An event must be at most {MAX_EVENT_BYTES} bytes (10 KB)")
        event_type = _string(event.event_type, p, "eventType", MAX_EVENT_TYPE_LENGTH, required=True)
        timestamp = _epoch(event.sent_at, p, "sentAt")
        event_id = _string(event.event_id, p, "eventId", MAX_ID_LENGTH, required=False)
        item_id = _string(event.item_id, p, "itemId", MAX_ID_LENGTH, required=False)
        recommendation_id = _string(
            event.recommendation_id, p, "recommendationId", MAX_RECOMMENDATION_ID_LENGTH, required=False
        )
        impression = _impressions(event.impression, p) if event.impression else None
        source: str | None = None
        if event.HasField("metric_attribution"):
            member = "metricAttribution.eventAttributionSource"
            source = _string(
                event.metric_attribution.event_attribution_source,
                p,
                member,
                MAX_EVENT_ATTRIBUTION_SOURCE_LENGTH,
                required=True,
            )
            if source is not None and not _ATTRIBUTION_SOURCE.fullmatch(source):
                rule = f"Member must satisfy regular expression pattern: {_ATTRIBUTION_SOURCE.pattern}"
                raise constraint(source, member_path(p, member), rule)
        properties = event.properties
        values = (
            plan.properties(
                properties, member_path(p, "properties"), MAX_EVENT_PROPERTIES_LENGTH, FORBIDDEN_PROPERTY_KEYS, {}
            )
            if properties
            else {}
        )
        if item_id is not None:
            _merge(values, "ITEM_ID", convert("ITEM_ID", item_id, p, "itemId"), p, "itemId")
        if values.get("ITEM_ID") is None:
            raise constraint(
                None, member_path(p, "itemId"), f"Member must not be null: the {plan.label} schema requires ITEM_ID"
            )
        values["USER_ID"] = user_id
        values["TIMESTAMP"] = convert("TIMESTAMP", timestamp, p, "sentAt")
        # API members without a column in this schema are not stored (eventType is required even then, L13840).
        if has_type:
            values["EVENT_TYPE"] = convert("EVENT_TYPE", event_type, p, "eventType")
        if has_value and event.HasField("event_value"):
            _merge(values, "EVENT_VALUE", convert("EVENT_VALUE", event.event_value, p, "eventValue"), p, "eventValue")
        if impression is not None and has_impression:
            values["IMPRESSION"] = convert("IMPRESSION", impression, p, "impression")
        if recommendation_id is not None and has_rid:
            values["RECOMMENDATION_ID"] = convert("RECOMMENDATION_ID", recommendation_id, p, "recommendationId")
        if source is not None and has_source:
            member = "metricAttribution.eventAttributionSource"
            checked = convert("EVENT_ATTRIBUTION_SOURCE", source, p, member)
            _merge(values, "EVENT_ATTRIBUTION_SOURCE", checked, p, member)
        rows.append(PreparedRow(plan.complete(values, p), event_id or new_event_id(), session_id, recommendation_id))
    return rows


def check_put_action_interactions(request: events_pb2.PutActionInteractionsRequest) -> None:
    _string(request.tracking_id, "", "trackingId", MAX_ID_LENGTH, required=True)
    _count(len(request.action_interactions), "actionInteractions")


def put_action_interactions(
    request: events_pb2.PutActionInteractionsRequest, plan: DatasetPlan, new_event_id: Callable[[], str]
) -> list[PreparedRow]:
    """PutActionInteractions -> Action interactions rows; sessionId and userId are per event here (L34813).
    The caller has run ``check_put_action_interactions`` (before resolving the dataset)."""
    convert = plan.convert
    rows: list[PreparedRow] = []
    for i, event in enumerate(request.action_interactions, 1):
        p = f"actionInteractions.{i}.member"
        size = event.ByteSize()
        if size > MAX_EVENT_BYTES:
            raise constraint(
                f"{size} bytes", p, f"An action interaction must be at most {MAX_EVENT_BYTES} bytes (10 KB)"
            )
        action_id = _string(event.action_id, p, "actionId", MAX_ID_LENGTH, required=True)
        event_type = _string(event.event_type, p, "eventType", MAX_EVENT_TYPE_LENGTH, required=True)
        assert event_type is not None
        if event_type.upper().replace("_", " ") not in ACTION_EVENT_TYPES:
            raise constraint(event_type, member_path(p, "eventType"), "Member must be one of Viewed, Taken, Not Taken")
        session_id = _string(event.session_id, p, "sessionId", MAX_ID_LENGTH, required=True)
        timestamp = _epoch(event.timestamp, p, "timestamp")
        user_id = _string(event.user_id, p, "userId", MAX_ID_LENGTH, required=False) or ""
        event_id = _string(event.event_id, p, "eventId", MAX_ID_LENGTH, required=False)
        recommendation_id = _string(
            event.recommendation_id, p, "recommendationId", MAX_RECOMMENDATION_ID_LENGTH, required=False
        )
        impression = _impressions(event.impression, p)
        values = plan.properties(
            event.properties,
            member_path(p, "properties"),
            MAX_EVENT_PROPERTIES_LENGTH,
            FORBIDDEN_PROPERTY_KEYS,
            {"ACTION_ID": "actionId"},
        )
        values["ACTION_ID"] = convert("ACTION_ID", action_id, p, "actionId")
        values["USER_ID"] = convert("USER_ID", user_id, p, "userId") if user_id else ""
        values["EVENT_TYPE"] = convert("EVENT_TYPE", event_type, p, "eventType")
        values["TIMESTAMP"] = convert("TIMESTAMP", timestamp, p, "timestamp")
        # Impressions are accepted but "Amazon Personalize doesn't use impressions data from action
        # interaction events" (L34813); stored when the schema has the column.
        if impression is not None and plan.has("IMPRESSION"):
            values["IMPRESSION"] = convert("IMPRESSION", impression, p, "impression")
        if recommendation_id is not None and plan.has("RECOMMENDATION_ID"):
            values["RECOMMENDATION_ID"] = convert("RECOMMENDATION_ID", recommendation_id, p, "recommendationId")
        rows.append(PreparedRow(plan.complete(values, p), event_id or new_event_id(), session_id, recommendation_id))
    return rows


@dataclass(frozen=True)
class EntityKind:
    """PutItems / PutUsers / PutActions differ only in names and the properties limit (api.md §5.3)."""

    dataset_type: str
    list_member: str  # items | users | actions
    id_member: str  # itemId | userId | actionId
    id_field: str  # ITEM_ID | USER_ID | ACTION_ID
    max_properties: int


ITEMS_KIND: Final = EntityKind(schemas.ITEMS, "items", "itemId", "ITEM_ID", MAX_ITEM_PROPERTIES_LENGTH)
USERS_KIND: Final = EntityKind(schemas.USERS, "users", "userId", "USER_ID", MAX_USER_PROPERTIES_LENGTH)
ACTIONS_KIND: Final = EntityKind(schemas.ACTIONS, "actions", "actionId", "ACTION_ID", MAX_ACTION_PROPERTIES_LENGTH)


def check_put_entities(kind: EntityKind, dataset_arn: str, count: int) -> None:
    _string(dataset_arn, "", "datasetArn", ARN_MAX_LENGTH, required=True)
    if not ARN_PATTERN.fullmatch(dataset_arn):
        raise constraint(
            dataset_arn, "datasetArn", f"Member must satisfy regular expression pattern: {ARN_PATTERN.pattern}"
        )
    _count(count, kind.list_member)


def put_entities(kind: EntityKind, records: Sequence[tuple[str, str]], plan: DatasetPlan) -> list[PreparedRow]:
    """(id, properties) pairs -> rows; the same id again replaces the record (upsert, L8315)."""
    rows: list[PreparedRow] = []
    for i, (entity_id, properties) in enumerate(records, 1):
        p = f"{kind.list_member}.{i}.member"
        checked = _string(entity_id, p, kind.id_member, MAX_ID_LENGTH, required=True)
        values = plan.properties(
            properties, member_path(p, "properties"), kind.max_properties, frozenset(), {kind.id_field: kind.id_member}
        )
        values[kind.id_field] = plan.convert(kind.id_field, checked, p, kind.id_member)
        rows.append(PreparedRow(plan.complete(values, p)))
    return rows
