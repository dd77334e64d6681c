"""Pure validation and conversion of the ingest path: Put* requests and bulk CSV rows -> Avro rows.

No I/O here. The servicer resolves resources through a ``ResourceReader`` and the import job hands in CSV text
rows; this module decides what is valid and builds the row dicts in the dataset's Avro schema. Every limit
cites the Developer Guide (Lnnnn = line in spec/seeds/personalize-developer-guide.txt) and every rejection
names the record and the field, in AWS's validation wording, because a client must be able to fix its
request from the message alone. Decisions the guide leaves open: docs/adr/0003-ingest-and-import.md.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from tailor.events.v1 import events_pb2
from tailor_shared import schemas, topics
from tailor_shared.avro import AvroCodec
from tailor_shared.errors import InvalidInputException, ResourceInUseException, ResourceNotFoundException
from tailor_shared.resources import ResourceReader, ResourceRecord
from tailor_shared.schemas import ParsedSchema, SchemaField

# --- Limits (api.md §5, §8.5) ------------------------------------------------------------------------------
MAX_RECORDS_PER_CALL: Final = 10  # "up to 10 records per individual import operation" (L8245, quota L19735)
MAX_ID_LENGTH: Final = 256  # userId/itemId/actionId/sessionId/trackingId/eventId 1..256 (L28675, L34937)
MAX_EVENT_TYPE_LENGTH: Final = 256  # Event.eventType 1..256 (L34937)
MAX_RECOMMENDATION_ID_LENGTH: Final = 40  # Event.recommendationId 1..40 (L34937)
MAX_ATTRIBUTION_SOURCE_LENGTH: Final = 1024  # MetricAttribution.eventAttributionSource (api.md §5.3)
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
#: Timestamps are "Unix epoch time format, in seconds" (L4148, L34853, L5200). A value past 2286-11-20 is
#: a millisecond timestamp by mistake; rejecting it beats silently dating events 50,000 years ahead.
MAX_EPOCH_SECONDS: Final = 9_999_999_999
EPOCH_FIELDS: Final = frozenset({"TIMESTAMP", "CREATION_TIMESTAMP", *schemas.ACTION_EXPIRATION_FIELDS})
#: Actions: "An action's value can be 1 - 10" (L4244); repeat frequency in days, "with a maximum of 30" (L4238).
ACTION_RANGES: Final[dict[str, tuple[int, int]]] = {"VALUE": (1, 10), "REPEAT_FREQUENCY": (0, 30)}
#: "your CSV file must have at minimum 1000 interaction records" (L7629, quota L19691); appending to an
#: Action interactions dataset needs "at minimum 1000 new ... action interaction records" (L7979).
MIN_BULK_INTERACTIONS: Final = 1000
#: Bulk size per import job: FULL 100 GB, INCREMENTAL 1 GB (quota L19689).
MAX_IMPORT_BYTES: Final[dict[str, int]] = {"FULL": 100 * 1024**3, "INCREMENTAL": 1024**3}
_INT_RANGE: Final[dict[str, tuple[int, int]]] = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
_NON_ALNUM = re.compile(r"[^0-9A-Za-z]")

IMPORT_JOB_TYPES: Final = frozenset({"DATASET_IMPORT", "CreateDatasetImportJob"})
EXPORT_JOB_TYPES: Final = frozenset({"DATASET_EXPORT", "CreateDatasetExportJob"})


# --- Errors --------------------------------------------------------------------------------------------------
def _show(value: object) -> str:
    if value is None:
        return "null"
    text = value if isinstance(value, str) else json.dumps(value)
    return f"'{text[:77]}...'" if len(text) > 80 else f"'{text}'"


def constraint(value: object, path: str, rule: str) -> InvalidInputException:
    """AWS's validation wording, naming the member path (``eventList.2.member.eventType``, 1-based)."""
    return InvalidInputException(
        f"1 validation error detected: Value {_show(value)} at '{path}' failed to satisfy constraint: {rule}"
    )


class FieldError(ValueError):
    """A value that does not fit its schema field; the caller adds where it was (record path or CSV line)."""


class ImportFailure(Exception):
    """An import or export job cannot complete; ``reason`` becomes the job's failureReason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def normalized_key(name: str) -> str:
    """Field identity for camelCase property keys: alphanumerics, case-folded (``numRatings`` = NUM_RATINGS)."""
    return _NON_ALNUM.sub("", name).casefold()


# --- One schema field: conversion from JSON (Put*) and from CSV text (bulk) -----------------------------------
@dataclass(frozen=True)
class ColumnRule:
    """How values of one schema field are checked: its Avro type, length limit, reserved-keyword ban, epoch
    seconds for timestamps, and the Actions value ranges."""

    field: SchemaField
    kind: str  # the non-null Avro type, computed once
    epoch: bool = False
    low: int | None = None
    high: int | None = None

    @property
    def name(self) -> str:
        return self.field.name

    def missing(self) -> Any:
        """The value of an absent or empty input: the field's default, null, or an error."""
        f = self.field
        if f.has_default:
            return f.default
        if f.nullable:
            return None
        raise FieldError(f"{f.name} is required and can't be empty")

    # -- strings
    def _string(self, text: str) -> str:
        f = self.field
        if text in schemas.RESERVED_KEYWORDS:
            # "The keywords can't be in your data" (L4323).
            raise FieldError(f"the reserved keyword {text} can't be a value of {f.name}")
        # Textual values are truncated, other strings over their limit are rejected (L4176, L18487).
        try:
            return schemas.check_string_value(f, text)
        except InvalidInputException as err:
            raise FieldError(err.message) from None

    # -- numbers
    def _integer(self, value: int) -> int:
        lo, hi = _INT_RANGE[self.kind]
        if not lo <= value <= hi:
            raise FieldError(f"{value} is out of range for the {self.kind} field {self.name}")
        if self.epoch and not 0 <= value <= MAX_EPOCH_SECONDS:
            raise FieldError(f"{self.name} must be a Unix epoch time in seconds, got {value}")
        if self.low is not None and self.high is not None and not self.low <= value <= self.high:
            raise FieldError(f"{self.name} must be between {self.low} and {self.high}, got {value}")
        return value

    def _float(self, value: float) -> float:
        if not math.isfinite(value):
            raise FieldError(f"{self.name} must be a finite number")
        return value

    def from_text(self, text: str) -> Any:
        """A CSV cell (bulk format rules, L5200-5299): empty means null; numbers must parse."""
        if text == "":
            return self.missing()
        t = self.kind
        if t == "string":
            return self._string(text)
        if t in ("int", "long"):
            return self._integer(_parse_int(text, self.name, t))
        if t in ("float", "double"):
            try:
                number = float(text)
            except ValueError:
                raise FieldError(f"'{text[:40]}' is not a valid {t} for {self.name}") from None
            return self._float(number)
        low = text.strip().lower()
        if low in ("true", "false"):
            return low == "true"
        raise FieldError(f"'{text[:40]}' is not a valid boolean (true or false) for {self.name}")

    def from_json(self, value: Any) -> Any:
        """A ``properties`` value: the guide's examples send strings (``{"numberOfRatings": "12"}``, L34937),
        so numbers may arrive as strings and strings as numbers."""
        if value is None:
            return self.missing()
        if isinstance(value, list | dict):
            hint = " (join multiple categorical values with '|')" if self.field.categorical else ""
            raise FieldError(f"{self.name} takes a single value, not a JSON {type(value).__name__}{hint}")
        if isinstance(value, str):
            return self.from_text(value)
        t = self.kind
        if t == "string":
            text = ("true" if value else "false") if isinstance(value, bool) else json.dumps(value)
            return self._string(text)
        if isinstance(value, bool):
            if t == "boolean":
                return value
            raise FieldError(f"{self.name} is a {t} field, not a boolean")
        if t in ("int", "long"):
            if isinstance(value, float):
                if not value.is_integer():
                    raise FieldError(f"{value} is not a whole number for the {t} field {self.name}")
                value = int(value)
            return self._integer(int(value))
        if t in ("float", "double"):
            return self._float(float(value))
        raise FieldError(f"{self.name} is a boolean field: use true or false")

    def _bounds(self) -> tuple[int, int]:
        return (0, MAX_EPOCH_SECONDS) if self.epoch else _INT_RANGE[self.kind]

    def json_converter(self) -> Callable[[Any], Any]:
        """``from_json`` with a fast path for the common case (the right JSON type, within limits)."""
        slow = self.from_json
        f = self.field
        if self.kind == "string" and not f.textual:
            limit = f.max_length if f.max_length is not None else 1 << 62
            reserved = schemas.RESERVED_KEYWORDS

            def string_value(value: Any) -> Any:
                if value.__class__ is str and value and len(value) <= limit and value not in reserved:
                    return value
                return slow(value)

            return string_value
        if self.kind in ("int", "long") and self.low is None:
            lo, hi = self._bounds()

            def int_value(value: Any) -> Any:
                if value.__class__ is int and lo <= value <= hi:
                    return value
                return slow(value)

            return int_value
        if self.kind in ("float", "double"):
            isfinite = math.isfinite

            def float_value(value: Any) -> Any:
                if value.__class__ is float and isfinite(value):
                    return value
                return slow(value)

            return float_value
        return slow

    def text_converter(self) -> Callable[[str], Any]:
        """A specialised closure for the bulk path, where this runs once per cell (millions of times)."""
        f = self.field
        if self.kind == "string" and not f.textual:
            limit = f.max_length if f.max_length is not None else 1 << 62
            reserved = schemas.RESERVED_KEYWORDS
            slow = self.from_text

            def string_cell(text: str) -> Any:
                if text and len(text) <= limit and text not in reserved:
                    return text
                return slow(text)

            return string_cell
        if self.kind in ("int", "long") and self.low is None:
            lo, hi = self._bounds()
            slow = self.from_text

            def int_cell(text: str) -> Any:
                try:
                    value = int(text)
                except ValueError:
                    return slow(text)
                if lo <= value <= hi:
                    return value
                return slow(text)

            return int_cell
        if self.kind in ("float", "double"):
            slow = self.from_text
            isfinite = math.isfinite

            def float_cell(text: str) -> Any:
                try:
                    value = float(text)
                except ValueError:
                    return slow(text)
                if isfinite(value):
                    return value
                return slow(text)

            return float_cell
        return self.from_text


def _parse_int(text: str, name: str, avro_type: str) -> int:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        raise FieldError(f"'{text[:40]}' is not a valid {avro_type} for {name}") from None
    if not number.is_integer():
        raise FieldError(f"'{text[:40]}' is not a whole number for the {avro_type} field {name}")
    return int(number)


# --- A dataset's plan: every field's rule and the property-key index ------------------------------------------
@dataclass(frozen=True)
class DatasetPlan:
    """What the ingest path needs to know about one dataset's schema, computed once per schema."""

    dataset_type: str
    schema: ParsedSchema
    rules: Mapping[str, ColumnRule]  # schema order
    by_property: Mapping[str, str]  # normalized camelCase key -> field name
    converters: Mapping[str, Callable[[Any], Any]]  # field name -> ColumnRule.json_converter()

    @classmethod
    def build(cls, schema: ParsedSchema) -> DatasetPlan:
        rules: dict[str, ColumnRule] = {}
        for f in schema.fields:
            low, high = (None, None)
            if schema.dataset_type == schemas.ACTIONS:
                low, high = ACTION_RANGES.get(f.name, (None, None))
            kind = f.value_type
            epoch = f.name in EPOCH_FIELDS and kind in ("int", "long")
            rules[f.name] = ColumnRule(f, kind, epoch=epoch, low=low, high=high)
        return cls(
            schema.dataset_type,
            schema,
            rules,
            {normalized_key(f.name): f.name for f in schema.fields},
            {name: rule.json_converter() for name, rule in rules.items()},
        )

    @property
    def label(self) -> str:
        """How the guide names the dataset in messages ("Item interactions", L3935)."""
        return {"Interactions": "Item interactions", "Action_Interactions": "Action interactions"}.get(
            self.dataset_type, self.dataset_type
        )

    def has(self, name: str) -> bool:
        return name in self.rules

    def convert(self, name: str, value: Any, p: str, member: str) -> Any:
        """Check one value against its field; ``p``/``member`` name it in the error (built only on error)."""
        try:
            return self.converters[name](value)
        except FieldError as err:
            raise constraint(value, _at(p, member), str(err)) from None

    def properties(
        self, raw: str, path: str, max_length: int, forbidden: frozenset[str], reserved: Mapping[str, str]
    ) -> dict[str, Any]:
        """Parse a ``properties`` JSON string map: keys are camelCase schema field names (L34937); keys in
        ``forbidden`` are refused (case-insensitively); fields in ``reserved`` belong to a request member."""
        if raw == "":
            return {}
        if len(raw) > max_length:
            raise constraint(raw, path, f"Member must have length less than or equal to {max_length}")
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise constraint(raw, path, 'Member must be a JSON string map, e.g. {"numberOfRatings": "12"}')
        out: dict[str, Any] = {}
        for key, value in data.items():
            if key.lower() in forbidden:
                raise constraint(key, path, f"'{key}' can't be included as a keyword for properties")
            name = self.by_property.get(normalized_key(key))
            if name is None:
                raise constraint(
                    key, path, f"Key '{key}' does not match a field of the {self.label} dataset's schema "
                    f"(fields: {', '.join(schemas.camel_case(n) for n in self.rules)})"
                )
            if name in reserved:
                raise constraint(key, path, f"'{key}' is the {name} column: pass it as {reserved[name]}")
            if name in out:
                raise constraint(key, path, f"Key '{key}' repeats the field {name}")
            out[name] = self.convert(name, value, path, key)
        return out

    def complete(self, values: Mapping[str, Any], path: str) -> dict[str, Any]:
        """The full Avro row: given values, else the default or null; a missing non-null field is an error."""
        row: dict[str, Any] = {}
        for name, rule in self.rules.items():
            if name in values:
                row[name] = values[name]
                continue
            try:
                row[name] = rule.missing()
            except FieldError:
                raise constraint(
                    None, f"{path}.properties",
                    f"Missing key '{schemas.camel_case(name)}': the {self.label} schema's field {name} can't be null",
                ) from None
        return row


# --- Targets: where a call's rows go ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """A dataset ready to receive rows: its plan, Avro codec and topic."""

    dataset_arn: str
    dataset_type: str
    dataset_group_arn: str
    dataset_group_name: str
    schema_arn: str
    plan: DatasetPlan
    codec: AvroCodec
    topic: str


def _require_active(record: ResourceRecord, what: str) -> None:
    """Put* calls need an ACTIVE resource; others are ResourceInUseException (409, api.md §5)."""
    status = record.body.get("status")
    if status is not None and status != "ACTIVE":
        raise ResourceInUseException(f"{what} {record.arn} is {status}; it must be ACTIVE to receive records.")


def _group_name(group: ResourceRecord) -> str:
    name = group.body.get("name")
    return str(name) if name else group.arn.rsplit("/", 1)[-1]


def dataset_target(view: ResourceReader, dataset: ResourceRecord, prefix: str) -> Target:
    """Resolve a dataset record to its schema, plan and topic."""
    dataset_type = schemas.normalize_dataset_type(str(dataset.body.get("datasetType")))
    group_arn = str(dataset.body.get("datasetGroupArn") or dataset.parent_arn or "")
    group = view.get(group_arn)
    if group is None:
        raise ResourceNotFoundException(f"Could not find the dataset group {group_arn} of dataset {dataset.arn}.")
    schema_arn = str(dataset.body.get("schemaArn"))
    schema_record = view.get(schema_arn)
    if schema_record is None:
        raise ResourceNotFoundException(f"Could not find the schema {schema_arn} of dataset {dataset.arn}.")
    text = str(schema_record.body["schema"])
    parsed = schemas.check_schema_for_dataset(
        schemas.parse_schema(text, schema_record.body.get("domain")), dataset_type, group.body.get("domain")
    )
    name = _group_name(group)
    return Target(
        dataset_arn=dataset.arn,
        dataset_type=dataset_type,
        dataset_group_arn=group.arn,
        dataset_group_name=name,
        schema_arn=schema_arn,
        plan=DatasetPlan.build(parsed),
        codec=AvroCodec(text),
        topic=topics.dataset_topic(prefix, name, dataset_type),
    )


def resolve_dataset(view: ResourceReader, dataset_arn: str, dataset_type: str, prefix: str) -> Target:
    """PutItems / PutUsers / PutActions: the dataset ARN must name an ACTIVE dataset of that type."""
    record = view.get(dataset_arn)
    if record is None or record.resource_type != "dataset":
        raise ResourceNotFoundException(f"Could not find the specified resource: dataset {dataset_arn}.")
    actual = schemas.normalize_dataset_type(str(record.body.get("datasetType")))
    if actual != dataset_type:
        raise InvalidInputException(
            f"Dataset {dataset_arn} is an {actual} dataset; this operation writes to an {dataset_type} dataset."
        )
    _require_active(record, "Dataset")
    return dataset_target(view, record, prefix)


def resolve_event_tracker(view: ResourceReader, tracking_id: str, prefix: str) -> Target:
    """PutEvents: the tracking ID names an event tracker, whose dataset group's Item interactions dataset
    receives the events (L13697-13830)."""
    tracker = next((r for r in view.list("eventTracker") if r.body.get("trackingId") == tracking_id), None)
    if tracker is None:
        raise ResourceNotFoundException(f"Could not find an event tracker with trackingId {tracking_id}.")
    _require_active(tracker, "Event tracker")
    group_arn = str(tracker.body.get("datasetGroupArn") or tracker.parent_arn or "")
    dataset = next(
        (
            d
            for d in view.list("dataset")
            if d.body.get("datasetGroupArn") == group_arn and d.body.get("datasetType") == schemas.INTERACTIONS
        ),
        None,
    )
    if dataset is None:
        raise ResourceNotFoundException(f"Dataset group {group_arn} has no Item interactions dataset.")
    _require_active(dataset, "Dataset")
    return dataset_target(view, dataset, prefix)


def resolve_action_tracker(view: ResourceReader, tracking_id: str, prefix: str) -> Target:
    """PutActionInteractions: the tracking ID is the Action interactions dataset's own (L14244)."""
    dataset = next(
        (
            d
            for d in view.list("dataset")
            if d.body.get("trackingId") == tracking_id and d.body.get("datasetType") == schemas.ACTION_INTERACTIONS
        ),
        None,
    )
    if dataset is None:
        raise ResourceNotFoundException(f"Could not find an Action interactions dataset with trackingId {tracking_id}.")
    _require_active(dataset, "Dataset")
    return dataset_target(view, dataset, prefix)


# --- Put* requests -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PreparedRow:
    """A validated row and its envelope ids (headers, not columns)."""

    values: dict[str, Any]
    event_id: str | None = None
    session_id: str | None = None
    recommendation_id: str | None = None


def _at(p: str, member: str) -> str:
    """Member paths are built only for messages (this runs for every field of every event)."""
    return f"{p}.{member}" if p else member


def _string(value: str, p: str, member: str, max_length: int, *, required: bool) -> str | None:
    """Proto3 strings default to ''; an empty optional member is absent, an empty required one is null."""
    if value == "":
        if required:
            raise constraint(None, _at(p, member), "Member must not be null")
        return None
    if len(value) > max_length:
        raise constraint(value, _at(p, member), f"Member must have length less than or equal to {max_length}")
    return value


def _count(n: int, path: str, maximum: int = MAX_RECORDS_PER_CALL) -> None:
    if n < 1:
        raise constraint(None, path, "Member must have length greater than or equal to 1")
    if n > maximum:
        raise constraint(f"[{n} members]", path, f"Member must have length less than or equal to {maximum}")


def _epoch(value: float, p: str, member: str) -> int:
    if value == 0:
        raise constraint(None, _at(p, member), "Member must not be null")
    if not math.isfinite(value) or not 0 < value <= MAX_EPOCH_SECONDS:
        raise constraint(value, _at(p, member), "Member must be a Unix epoch time in seconds")
    return int(value)


def _impressions(values: Sequence[str], p: str) -> str | None:
    if not values:
        return None
    path = _at(p, "impression")
    _count(len(values), path, MAX_IMPRESSIONS)
    for i, item in enumerate(values, 1):
        _string(item, path, f"{i}.member", MAX_ID_LENGTH, required=True)
        if schemas.CATEGORICAL_SEPARATOR in item:
            raise constraint(item, f"{path}.{i}.member", "Member must not contain '|', the impression separator")
    joined = schemas.CATEGORICAL_SEPARATOR.join(values)
    if len(joined) > schemas.MAX_IMPRESSION_LENGTH:
        # Impression values are limited to 1000 characters including the '|' separators (L4063).
        raise constraint(
            joined, path, f"Impression values joined with '|' must have length less than or equal to "
            f"{schemas.MAX_IMPRESSION_LENGTH}"
        )
    return joined


def _merge(values: dict[str, Any], name: str, value: Any, p: str, member: str) -> None:
    """A column given both as a member and inside ``properties`` (L13985 puts itemId there) must agree."""
    if value is None:
        return
    if values.get(name) is not None and values[name] != value:
        raise constraint(value, _at(p, member), f"Member conflicts with the {name} value given in properties")
    values[name] = value


def check_put_events(request: events_pb2.PutEventsRequest) -> None:
    """The call's own members (before any lookup): trackingId, sessionId, userId, eventList (L28675)."""
    _string(request.tracking_id, "", "trackingId", MAX_ID_LENGTH, required=True)
    _string(request.session_id, "", "sessionId", MAX_ID_LENGTH, required=True)
    _string(request.user_id, "", "userId", MAX_ID_LENGTH, required=False)
    _count(len(request.event_list), "eventList")


def put_events(
    request: events_pb2.PutEventsRequest, plan: DatasetPlan, new_event_id: Callable[[], str]
) -> list[PreparedRow]:
    """PutEvents -> Item interactions rows. userId, itemId and sentAt map to USER_ID, ITEM_ID and TIMESTAMP
    (L13840); an anonymous event (no userId) gets USER_ID "" and is keyed by its sessionId (ADR 0003)."""
    check_put_events(request)
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
                event.metric_attribution.event_attribution_source, p, member, MAX_ATTRIBUTION_SOURCE_LENGTH,
                required=True,
            )
            if source is not None and not _ATTRIBUTION_SOURCE.fullmatch(source):
                rule = f"Member must satisfy regular expression pattern: {_ATTRIBUTION_SOURCE.pattern}"
                raise constraint(source, _at(p, member), rule)
        properties = event.properties
        values = (
            plan.properties(properties, _at(p, "properties"), MAX_EVENT_PROPERTIES_LENGTH, FORBIDDEN_PROPERTY_KEYS, {})
            if properties
            else {}
        )
        if item_id is not None:
            _merge(values, "ITEM_ID", convert("ITEM_ID", item_id, p, "itemId"), p, "itemId")
        if values.get("ITEM_ID") is None:
            raise constraint(
                None, _at(p, "itemId"), f"Member must not be null: the {plan.label} schema requires ITEM_ID"
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
    """PutActionInteractions -> Action interactions rows; sessionId and userId are per event here (L34813)."""
    check_put_action_interactions(request)
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
            raise constraint(event_type, _at(p, "eventType"), "Member must be one of Viewed, Taken, Not Taken")
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
            _at(p, "properties"),
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
_ARN = re.compile(r"arn:([a-z\d-]+):personalize:.*:.*:.+")


def check_put_entities(kind: EntityKind, dataset_arn: str, count: int) -> None:
    _string(dataset_arn, "", "datasetArn", 256, required=True)
    if not _ARN.fullmatch(dataset_arn):
        raise constraint(dataset_arn, "datasetArn", f"Member must satisfy regular expression pattern: {_ARN.pattern}")
    _count(count, kind.list_member)


def put_entities(kind: EntityKind, records: Sequence[tuple[str, str]], plan: DatasetPlan) -> list[PreparedRow]:
    """(id, properties) pairs -> rows; the same id again replaces the record (upsert, L8315)."""
    rows: list[PreparedRow] = []
    for i, (entity_id, properties) in enumerate(records, 1):
        p = f"{kind.list_member}.{i}.member"
        checked = _string(entity_id, p, kind.id_member, MAX_ID_LENGTH, required=True)
        values = plan.properties(
            properties, _at(p, "properties"), kind.max_properties, frozenset(), {kind.id_field: kind.id_member}
        )
        values[kind.id_field] = plan.convert(kind.id_field, checked, p, kind.id_member)
        rows.append(PreparedRow(plan.complete(values, p)))
    return rows


# --- Bulk CSV (L5200-5299, L18483-18489) --------------------------------------------------------------------------
@dataclass(frozen=True)
class CsvLayout:
    """How one file's columns map to schema fields; built from its header row."""

    width: int
    columns: tuple[tuple[int, str, Callable[[str], Any]], ...]  # (position, field, converter)
    constants: Mapping[str, Any]  # fields the file doesn't have: default or null

    def convert(self, cells: Sequence[str]) -> dict[str, Any]:
        """One CSV record -> Avro row; raises ``RowError`` naming the column of the first bad value."""
        if len(cells) != self.width:
            raise RowError(None, f"the record has {len(cells)} values but the header has {self.width} columns")
        row = dict(self.constants)
        name = ""
        try:
            for position, name, converter in self.columns:
                row[name] = converter(cells[position])
        except FieldError as err:
            raise RowError(name, str(err)) from None
        return row


class RowError(ValueError):
    def __init__(self, column: str | None, message: str) -> None:
        super().__init__(message)
        self.column = column
        self.message = message


def csv_layout(header: Sequence[str], plan: DatasetPlan) -> CsvLayout:
    """Header names must be schema fields; fields that can't be null must be present (L5200, L18483)."""
    names = [h.strip() for h in header]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ImportFailure(f"Input CSV has duplicate columns:[{', '.join(dup)}]")
    unknown = [n for n in names if n not in plan.rules]
    if unknown:
        raise ImportFailure(
            f"Input CSV has columns that are not in the schema:[{', '.join(unknown)}]. "
            f"Schema fields: [{', '.join(plan.rules)}]"
        )
    missing: list[str] = []
    constants: dict[str, Any] = {}
    for name, rule in plan.rules.items():
        if name in names:
            continue
        try:
            constants[name] = rule.missing()
        except FieldError:
            missing.append(name)
    if missing:
        raise ImportFailure(f"Input CSV is missing the following columns:[{', '.join(missing)}]")
    columns = tuple((names.index(n), n, plan.rules[n].text_converter()) for n in plan.rules if n in names)
    return CsvLayout(len(names), columns, constants)


def import_failure(dataset_type: str, detail: str) -> str:
    """The guide's failure wording: "Failed to create a data import job for <dataset type> dataset..." (L18483)."""
    return f"Failed to create a data import job for {dataset_type} dataset. {detail}"


def row_failure(file_name: str, line: int, record: int, err: RowError) -> str:
    where = f"Input CSV {file_name} line {line} (record {record})"
    return f"{where}, column {err.column}: {err.message}" if err.column else f"{where}: {err.message}"


def check_record_count(dataset_type: str, import_mode: str, rows: int) -> None:
    """At least 1000 interaction records per job (L7629, L19691; appending action interactions: L7979)."""
    needs_minimum = dataset_type == schemas.INTERACTIONS or (
        dataset_type == schemas.ACTION_INTERACTIONS and import_mode == "INCREMENTAL"
    )
    if needs_minimum and rows < MIN_BULK_INTERACTIONS:
        what = "interaction" if dataset_type == schemas.INTERACTIONS else "new action interaction"
        raise ImportFailure(
            f"Input data must have at minimum {MIN_BULK_INTERACTIONS} {what} records; found {rows}."
        )
    if rows == 0:
        raise ImportFailure("Input data has no records.")


def check_import_size(import_mode: str, total_bytes: int) -> None:
    limit = MAX_IMPORT_BYTES[import_mode]
    if total_bytes > limit:
        raise ImportFailure(
            f"Input data is {total_bytes} bytes; an import job with {import_mode} import mode reads at most "
            f"{limit // 1024**3} GB."
        )


def local_path(location: str, s3_root: str | None) -> str:
    """A data location -> a local path: ``file://`` URLs and plain paths as they are; ``s3://bucket/key``
    under ``s3_root`` when the operator configured one (ADR 0003); http(s) is not supported."""
    if location.startswith("file://"):
        rest = location[len("file://") :]
        if rest.startswith("localhost/"):
            rest = rest[len("localhost") :]
        if not rest.startswith("/"):
            raise ImportFailure(f"Invalid Data location {location}: use file:///absolute/path")
        return _unquote(rest)
    if location.startswith("s3://"):
        if not s3_root:
            raise ImportFailure(
                f"Invalid Data location {location}: this Tailor installation reads file:// locations; set "
                "TAILOR_INGEST_S3_ROOT to map s3://bucket/key to a local directory."
            )
        return s3_root.rstrip("/") + "/" + _unquote(location[len("s3://") :])
    if location.startswith("/"):
        return location
    raise ImportFailure(f"Invalid Data location {location}: use a file:// URL (or s3:// with TAILOR_INGEST_S3_ROOT).")


def _unquote(text: str) -> str:
    """Percent-decoding for paths (``%20``), without importing urllib into the pure core."""
    if "%" not in text:
        return text
    return re.sub(rb"%([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), text.encode()).decode(
        "utf-8", "replace"
    )


# --- Export (L14627-14892) ----------------------------------------------------------------------------------------
EXPORT_SOURCES: Final[dict[str, tuple[str, ...]]] = {
    "BULK": (topics.SOURCE_BULK,),
    "PUT": (topics.SOURCE_PUT,),
    "ALL": (topics.SOURCE_PUT, topics.SOURCE_BULK),
}


def check_exportable(dataset_type: str) -> None:
    """"You can't export data from an Actions or Action interactions dataset" (L14627 ff.)."""
    if dataset_type in (schemas.ACTIONS, schemas.ACTION_INTERACTIONS):
        raise ImportFailure(f"You can't export an {dataset_type} dataset.")


def export_latest_per_id(mode: str, dataset_type: str) -> bool:
    """ALL mode keeps only the newest Items/Users record per ID; interactions and single-source modes keep
    every row (only exact duplicates go)."""
    return mode == "ALL" and dataset_type in (schemas.ITEMS, schemas.USERS)


def drop_exact_duplicates(rows: Sequence[tuple[Any, ...]]) -> list[int]:
    """Indices of the first occurrence of each distinct row ("identical in all fields → exported once")."""
    seen: set[tuple[Any, ...]] = set()
    keep: list[int] = []
    for i, row in enumerate(rows):
        if row not in seen:
            seen.add(row)
            keep.append(i)
    return keep


def csv_cell(value: Any) -> str:
    """A value as the import path reads it back: null -> empty, booleans lower case, floats shortest repr."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return repr(value)
    return str(value)


def progress_percent(phase: int, fraction: float) -> float:
    """Import progress: validating (phase 0) is the first 60 %, writing (phase 1) the rest; never 100 before
    the job is done."""
    fraction = min(max(fraction, 0.0), 1.0)
    percent = 60.0 * fraction if phase == 0 else 60.0 + 40.0 * fraction
    return round(min(percent, 99.0), 1)
