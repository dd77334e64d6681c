"""Dataset schema validation against the Developer Guide's examples and rules (Lnnnn = guide line)."""

from __future__ import annotations

import copy
import json
from typing import Any

import fastavro
import pytest

from tailor_shared.errors import InvalidInputException
from tailor_shared.schemas import (
    ACTION_INTERACTIONS,
    ACTIONS,
    ECOMMERCE,
    INTERACTIONS,
    ITEMS,
    USERS,
    VIDEO_ON_DEMAND,
    ParsedSchema,
    avro_record,
    camel_case,
    check_event_type_budget,
    check_schema_for_dataset,
    check_string_value,
    normalize_dataset_type,
    parse_schema,
    validate_schema,
)


def f(name: str, avro_type: Any, **attrs: Any) -> dict[str, Any]:
    return {"name": name, "type": avro_type, **attrs}


# --- The guide's schemas ---------------------------------------------------------------------------
# Interactions schema example (custom), L4866-L4920.
CUSTOM_INTERACTIONS = avro_record(
    "Interactions",
    f("USER_ID", "string"),
    f("ITEM_ID", "string"),
    f("EVENT_TYPE", "string"),
    f("EVENT_VALUE", ["float", "null"]),
    f("LOCATION", "string", categorical=True),
    f("DEVICE", ["string", "null"], categorical=True),
    f("TIMESTAMP", "long"),
    f("IMPRESSION", "string"),
)
# Minimal Item interactions schema, L2932-L2951 and L7698-L7716 (also the CloudFormation sample L18670).
MINIMAL_INTERACTIONS = avro_record(
    "Interactions", f("USER_ID", "string"), f("ITEM_ID", "string"), f("TIMESTAMP", "long")
)
# Interactions with a non-null EVENT_VALUE, L5240-L5265.
INTERACTIONS_WITH_EVENT_VALUE = avro_record(
    "Interactions",
    f("USER_ID", "string"),
    f("ITEM_ID", "string"),
    f("EVENT_TYPE", "string"),
    f("EVENT_VALUE", "float"),
    f("TIMESTAMP", "long"),
)
# Users schema example (custom), L4953-L4966 (its first lines are cut off in the seed).
CUSTOM_USERS = avro_record("Users", f("USER_ID", "string"), f("AGE", "int"), f("GENDER", "string", categorical=True))
# Items dataset schema example (custom), L4996-L5020.
CUSTOM_ITEMS = avro_record(
    "Items",
    f("ITEM_ID", "string"),
    f("GENRES", ["null", "string"], categorical=True),
    f("CREATION_TIMESTAMP", "long"),
    f("DESCRIPTION", ["null", "string"], textual=True),
)
# Actions dataset schema example (custom), L5056-L5085.
CUSTOM_ACTIONS = avro_record(
    "Actions",
    f("ACTION_ID", "string"),
    f("VALUE", ["null", "long"]),
    f("MEMBERSHIP_LEVEL", ["null", "string"], categorical=True),
    f("CREATION_TIMESTAMP", "long"),
    f("REPEAT_FREQUENCY", ["long", "null"]),
)
# Action interactions dataset schema example (custom), L5120-L5135 (record name cut off in the seed).
CUSTOM_ACTION_INTERACTIONS = avro_record(
    "Action_Interactions",
    f("USER_ID", "string"),
    f("ACTION_ID", "string"),
    f("EVENT_TYPE", "string"),
    f("TIMESTAMP", "long"),
)
# Domain default schemas: VIDEO_ON_DEMAND Interactions (getting started, L2337-L2360), Users (L4468-L4485),
# Items (L4529-L4560); ECOMMERCE Interactions (L4636-L4660), Users (L4688-L4705), Items (L4750-L4775).
DOMAIN_INTERACTIONS = avro_record(
    "Interactions", f("USER_ID", "string"), f("ITEM_ID", "string"), f("EVENT_TYPE", "string"), f("TIMESTAMP", "long")
)
VOD_USERS = avro_record("Users", f("USER_ID", "string"), f("SUBSCRIPTION_MODEL", "string", categorical=True))
VOD_ITEMS = avro_record(
    "Items", f("ITEM_ID", "string"), f("GENRES", ["string"], categorical=True), f("CREATION_TIMESTAMP", "long")
)
ECOMM_USERS = avro_record("Users", f("USER_ID", "string"), f("MEMBERSHIP_STATUS", "string", categorical=True))
ECOMM_ITEMS = avro_record(
    "Items", f("ITEM_ID", "string"), f("PRICE", "float"), f("CATEGORY_L1", ["string"], categorical=True)
)
# A VOD Items schema using every reserved keyword of L4500-L4507.
VOD_ITEMS_FULL = avro_record(
    "Items",
    f("ITEM_ID", "string"),
    f("GENRES", "string", categorical=True),
    f("CREATION_TIMESTAMP", "long"),
    f("PRICE", ["float", "null"]),
    f("DURATION", "float"),
    f("GENRE_L2", ["null", "string"], categorical=True),
    f("GENRE_L3", ["null", "string"], categorical=True),
    f("AVERAGE_RATING", ["null", "float"]),
    f("PRODUCT_DESCRIPTION", ["null", "string"], textual=True),
    f("CONTENT_OWNER", ["null", "string"], categorical=True),
    f("CONTENT_CLASSIFICATION", ["null", "string"], categorical=True),
)


def js(schema: dict[str, Any]) -> str:
    return json.dumps(schema)


@pytest.mark.parametrize(
    ("schema", "dataset_type"),
    [
        (CUSTOM_INTERACTIONS, INTERACTIONS),
        (MINIMAL_INTERACTIONS, INTERACTIONS),
        (INTERACTIONS_WITH_EVENT_VALUE, INTERACTIONS),
        (CUSTOM_USERS, USERS),
        (CUSTOM_ITEMS, ITEMS),
        (CUSTOM_ACTIONS, ACTIONS),
        (CUSTOM_ACTION_INTERACTIONS, ACTION_INTERACTIONS),
    ],
)
def test_guide_custom_examples_are_valid(schema: dict[str, Any], dataset_type: str) -> None:
    parsed = validate_schema(js(schema), dataset_type)
    assert parsed.dataset_type == dataset_type
    assert parsed.domain is None
    assert parsed.field_names == tuple(x["name"] for x in schema["fields"])
    fastavro.parse_schema(parsed.avro_schema())  # what the ingest codec will do with it


@pytest.mark.parametrize(
    ("schema", "dataset_type", "domain"),
    [
        (DOMAIN_INTERACTIONS, INTERACTIONS, VIDEO_ON_DEMAND),
        (VOD_USERS, USERS, VIDEO_ON_DEMAND),
        (VOD_ITEMS, ITEMS, VIDEO_ON_DEMAND),
        (VOD_ITEMS_FULL, ITEMS, VIDEO_ON_DEMAND),
        (DOMAIN_INTERACTIONS, INTERACTIONS, ECOMMERCE),
        (ECOMM_USERS, USERS, ECOMMERCE),
        (ECOMM_ITEMS, ITEMS, ECOMMERCE),
    ],
)
def test_guide_domain_schemas_are_valid_for_their_domain(
    schema: dict[str, Any], dataset_type: str, domain: str
) -> None:
    parsed = validate_schema(js(schema), dataset_type, domain)
    assert parsed.domain == domain
    assert parsed.dataset_type == dataset_type


def test_avro_record_writes_plain_columns_as_the_guide_does() -> None:
    written = avro_record("Interactions", "USER_ID", "ITEM_ID", "TIMESTAMP")
    assert written == MINIMAL_INTERACTIONS  # the guide's minimal schema, L2932-L2951
    parsed = parse_schema(json.dumps(written))
    assert (parsed.dataset_type, parsed.namespace) == (INTERACTIONS, "com.amazonaws.personalize.schema")
    custom = avro_record("Actions", "ACTION_ID", f("VALUE", ["null", "long"]))
    assert custom["fields"] == [f("ACTION_ID", "string"), f("VALUE", ["null", "long"])]
    with pytest.raises(KeyError):
        avro_record("Items", "PRICE")  # only the plain columns go by name


def test_custom_interactions_roles_and_limits() -> None:
    parsed = validate_schema(js(CUSTOM_INTERACTIONS), INTERACTIONS)
    roles = {x.name: x.role for x in parsed.fields}
    assert roles == {
        "USER_ID": "required",
        "ITEM_ID": "required",
        "TIMESTAMP": "required",
        "EVENT_TYPE": "reserved",
        "EVENT_VALUE": "reserved",
        "IMPRESSION": "reserved",
        "LOCATION": "metadata",
        "DEVICE": "metadata",
    }
    assert [x.name for x in parsed.metadata_fields()] == ["LOCATION", "DEVICE"]
    assert [x.name for x in parsed.categorical_fields()] == ["LOCATION", "DEVICE"]
    limits = {x.name: x.max_length for x in parsed.fields}
    assert limits["USER_ID"] == 256 and limits["ITEM_ID"] == 256
    assert limits["IMPRESSION"] == 1000 and limits["LOCATION"] == 1000
    assert limits["EVENT_TYPE"] == 256 and limits["TIMESTAMP"] is None
    device = parsed.field("DEVICE")
    assert device is not None and device.nullable and device.value_type == "string"
    assert parsed.field("device") is None  # exact names; property keys are looked up separately
    impression = parsed.field("IMPRESSION")
    assert impression is not None and not impression.used_in_training  # impressions never trained on (L8800)
    event_value = parsed.property_field("eventValue")
    assert event_value is not None and event_value.name == "EVENT_VALUE"


def test_items_helpers_and_property_keys() -> None:
    parsed = validate_schema(js(CUSTOM_ITEMS), ITEMS)
    textual = parsed.textual_field()
    assert textual is not None and textual.name == "DESCRIPTION" and textual.max_length == 20000
    assert [x.name for x in parsed.metadata_fields()] == ["GENRES", "DESCRIPTION"]
    assert [x.name for x in parsed.reserved_fields()] == ["CREATION_TIMESTAMP"]
    assert [x.name for x in parsed.required_fields()] == ["ITEM_ID"]
    creation = parsed.property_field("creationTimestamp")
    assert creation is not None and creation.property_key == "creationTimestamp"
    assert parsed.property_field("nope") is None


def test_camel_case_matches_put_examples() -> None:
    # L8671: ACTION_EXPIRATION_TIMESTAMP -> actionExpirationTimestamp, CREATION_TIMESTAMP -> creationTimestamp
    assert camel_case("ACTION_EXPIRATION_TIMESTAMP") == "actionExpirationTimestamp"
    assert camel_case("CREATION_TIMESTAMP") == "creationTimestamp"
    assert camel_case("NUMBER_OF_RATINGS") == "numberOfRatings"
    assert camel_case("GENRES") == "genres"


def test_used_in_training_flags() -> None:
    schema = avro_record(
        "Users",
        f("USER_ID", "string"),
        f("AGE", "int"),
        f("NAME", "string"),
        f("VIP", "boolean"),
        f("TIER", "string", categorical=True),
    )
    parsed = validate_schema(js(schema), USERS)
    used = {x.name: x.used_in_training for x in parsed.fields}
    assert used == {"USER_ID": True, "AGE": True, "NAME": False, "VIP": False, "TIER": True}


def test_record_name_is_the_dataset_type_in_any_case() -> None:
    assert parse_schema(js({**MINIMAL_INTERACTIONS, "name": "interactions"})).dataset_type == INTERACTIONS
    parsed = parse_schema(js({**CUSTOM_ACTION_INTERACTIONS, "name": "ActionInteractions"}))
    assert parsed.dataset_type == ACTION_INTERACTIONS


def test_dataset_type_is_case_insensitive() -> None:
    assert normalize_dataset_type("INTERACTIONS") == INTERACTIONS
    assert normalize_dataset_type("action_interactions") == ACTION_INTERACTIONS
    parsed = validate_schema(js(MINIMAL_INTERACTIONS), "interactions")
    assert parsed.dataset_type == INTERACTIONS


def test_expiration_timestamp_is_accepted_in_both_spellings() -> None:
    for name in ("ACTION_EXPIRATION_TIMESTAMP", "EXPIRATION_TIMESTAMP"):
        schema = avro_record(
            "Actions", f("ACTION_ID", "string"), f("TIER", "int"), f("VALUE", "long"), f(name, ["null", "long"])
        )
        parsed = validate_schema(js(schema), ACTIONS)
        field = parsed.field(name)
        assert field is not None and field.role == "reserved"


def test_avro_default_matching_first_type_is_accepted() -> None:
    schema = avro_record(
        "Users", f("USER_ID", "string"), f("AGE", ["null", "int"], default=None), f("SCORE", "double", default=1)
    )
    parsed = validate_schema(js(schema), USERS)
    age = parsed.field("AGE")
    assert age is not None and age.has_default and age.default is None


# --- Rules, each with a bad input -------------------------------------------------------------------
def with_fields(base: dict[str, Any], *fields: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    out["fields"].extend(fields)
    return out


def without(base: dict[str, Any], name: str) -> dict[str, Any]:
    out = copy.deepcopy(base)
    out["fields"] = [x for x in out["fields"] if x["name"] != name]
    return out


def replaced(base: dict[str, Any], field_name: str, /, **changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for x in out["fields"]:
        if x["name"] == field_name:
            x.update(changes)
            for key in [k for k, v in changes.items() if v is None and k != "default"]:
                del x[key]
    return out


def many(prefix: str, count: int) -> list[dict[str, Any]]:
    return [f(f"{prefix}{i}", "int") for i in range(count)]


USERS_BASE = avro_record("Users", f("USER_ID", "string"), f("AGE", "int"))
ITEMS_BASE = avro_record("Items", f("ITEM_ID", "string"), f("PRICE", "float"))
ACTIONS_BASE = avro_record("Actions", f("ACTION_ID", "string"), f("LEVEL", "string", categorical=True))

BAD_SCHEMAS: list[tuple[str, Any, str | None, str | None, str]] = [
    # (id, schema (dict or raw string), dataset type, domain, expected message fragment)
    ("not-json", "{not json", None, None, "not valid JSON"),
    ("empty", "   ", None, None, "must not be null"),
    ("too-long", js(MINIMAL_INTERACTIONS) + " " * 20000, None, None, "less than or equal to 20000"),
    ("not-a-record", js({"type": "enum", "name": "Interactions"}), None, None, "must be an Avro record"),
    ("array-top-level", "[]", None, None, "must be an Avro record"),
    ("record-name-not-a-dataset-type", {**MINIMAL_INTERACTIONS, "name": "Events"}, None, None, "must match one of"),
    ("record-name-invalid", {**MINIMAL_INTERACTIONS, "name": "1Interactions"}, None, None, "invalid record name"),
    ("namespace-invalid", {**MINIMAL_INTERACTIONS, "namespace": "com..x"}, None, None, "invalid namespace"),
    ("no-fields", {**MINIMAL_INTERACTIONS, "fields": []}, None, None, "non-empty 'fields'"),
    ("field-not-object", {**MINIMAL_INTERACTIONS, "fields": ["USER_ID"]}, None, None, "must be a JSON object"),
    ("field-name-invalid", with_fields(MINIMAL_INTERACTIONS, f("MY-FIELD", "int")), None, None, "invalid name"),
    ("field-without-type", with_fields(MINIMAL_INTERACTIONS, {"name": "X"}), None, None, "must have a 'type'"),
    (
        "nested-record",
        with_fields(MINIMAL_INTERACTIONS, f("X", {"type": "record", "name": "N", "fields": []})),
        None,
        None,
        "nested type",
    ),
    ("array-type", with_fields(MINIMAL_INTERACTIONS, f("X", ["null", "array"])), None, None, "complex type"),
    ("map-in-union", with_fields(MINIMAL_INTERACTIONS, f("X", [{"type": "map"}])), None, None, "complex type"),
    ("list-in-union", with_fields(MINIMAL_INTERACTIONS, f("X", [["string"]])), None, None, "complex type"),
    ("bytes-type", with_fields(MINIMAL_INTERACTIONS, f("X", "bytes")), None, None, "unsupported type"),
    ("empty-union", with_fields(MINIMAL_INTERACTIONS, f("X", [])), None, None, "empty type union"),
    ("repeated-union", with_fields(MINIMAL_INTERACTIONS, f("X", ["int", "int"])), None, None, "repeats type"),
    ("null-only", with_fields(MINIMAL_INTERACTIONS, f("X", "null")), None, None, "other than null"),
    ("two-types", with_fields(MINIMAL_INTERACTIONS, f("X", ["int", "string"])), None, None, "combines types"),
    (
        "categorical-not-bool",
        with_fields(MINIMAL_INTERACTIONS, f("X", "string", categorical="yes")),
        None,
        None,
        "must be true or false",
    ),
    (
        "categorical-int",
        with_fields(MINIMAL_INTERACTIONS, f("X", "int", categorical=True)),
        None,
        None,
        "categorical, so its type must be string",
    ),
    (
        "textual-long",
        with_fields(ITEMS_BASE, f("X", "long", textual=True)),
        None,
        None,
        "textual, so its type must be string",
    ),
    (
        "categorical-and-textual",
        with_fields(ITEMS_BASE, f("X", "string", categorical=True, textual=True)),
        None,
        None,
        "both categorical and textual",
    ),
    ("default-mismatch", with_fields(USERS_BASE, f("X", ["null", "int"], default=3)), None, None, "default value"),
    (
        "alphanumeric-duplicate",
        with_fields(USERS_BASE, f("GENRES_FIELD_1", "int"), f("GENRESFIELD1", "int")),
        None,
        None,
        "unique alphanumeric names",
    ),
    (
        "case-duplicate",
        with_fields(USERS_BASE, f("GENRE", "int"), f("genre", "int")),
        None,
        None,
        "unique alphanumeric names",
    ),
    (
        "keyword-look-alike",
        replaced(MINIMAL_INTERACTIONS, "USER_ID", name="user_id"),
        None,
        None,
        "spell it exactly USER_ID",
    ),
    # Required fields and their types (custom table L4798-L4818).
    ("interactions-missing-user-id", without(MINIMAL_INTERACTIONS, "USER_ID"), None, None, "required field USER_ID"),
    ("interactions-missing-item-id", without(MINIMAL_INTERACTIONS, "ITEM_ID"), None, None, "required field ITEM_ID"),
    (
        "interactions-missing-timestamp",
        without(MINIMAL_INTERACTIONS, "TIMESTAMP"),
        None,
        None,
        "required field TIMESTAMP (long)",
    ),
    (
        "timestamp-int",
        replaced(MINIMAL_INTERACTIONS, "TIMESTAMP", type="int"),
        None,
        None,
        "TIMESTAMP of an Interactions schema must be of type long",
    ),
    (
        "user-id-nullable",
        replaced(MINIMAL_INTERACTIONS, "USER_ID", type=["null", "string"]),
        None,
        None,
        "can't be null",
    ),
    ("user-id-long", replaced(MINIMAL_INTERACTIONS, "USER_ID", type="long"), None, None, "must be of type string"),
    (
        "user-id-categorical",
        replaced(MINIMAL_INTERACTIONS, "USER_ID", categorical=True),
        None,
        None,
        "USER_ID can't be categorical",
    ),
    # Reserved keywords and their types (L4832-L4844).
    (
        "event-type-categorical",
        with_fields(MINIMAL_INTERACTIONS, f("EVENT_TYPE", "string", categorical=True)),
        None,
        None,
        "EVENT_TYPE can't be categorical",
    ),
    ("event-type-nullable", with_fields(MINIMAL_INTERACTIONS, f("EVENT_TYPE", ["null", "string"])), None, None, "null"),
    (
        "event-value-double",
        with_fields(MINIMAL_INTERACTIONS, f("EVENT_VALUE", "double")),
        None,
        None,
        "EVENT_VALUE of an Interactions schema must be of type float",
    ),
    ("impression-int", with_fields(MINIMAL_INTERACTIONS, f("IMPRESSION", "int")), None, None, "IMPRESSION"),
    (
        "recommendation-id-categorical",
        with_fields(MINIMAL_INTERACTIONS, f("RECOMMENDATION_ID", "string", categorical=True)),
        None,
        None,
        "RECOMMENDATION_ID can't be categorical",
    ),
    (
        "attribution-source-long",
        with_fields(MINIMAL_INTERACTIONS, f("EVENT_ATTRIBUTION_SOURCE", "long")),
        None,
        None,
        "EVENT_ATTRIBUTION_SOURCE",
    ),
    (
        "creation-timestamp-nullable",
        with_fields(ITEMS_BASE, f("CREATION_TIMESTAMP", ["null", "long"])),
        None,
        None,
        "CREATION_TIMESTAMP of an Items schema must be of type long; it can't be null",
    ),
    ("actions-value-string", with_fields(ACTIONS_BASE, f("VALUE", "string")), None, None, "VALUE of an Actions"),
    (
        "actions-repeat-frequency-int",
        with_fields(ACTIONS_BASE, f("REPEAT_FREQUENCY", "int")),
        None,
        None,
        "REPEAT_FREQUENCY",
    ),
    (
        "actions-two-expirations",
        with_fields(ACTIONS_BASE, f("ACTION_EXPIRATION_TIMESTAMP", "long"), f("EXPIRATION_TIMESTAMP", "long")),
        None,
        None,
        "not both",
    ),
    ("actions-missing-action-id", without(ACTIONS_BASE, "ACTION_ID"), None, None, "required field ACTION_ID"),
    (
        "action-interactions-missing-event-type",
        without(CUSTOM_ACTION_INTERACTIONS, "EVENT_TYPE"),
        None,
        None,
        "required field EVENT_TYPE",
    ),
    ("items-missing-item-id", without(ITEMS_BASE, "ITEM_ID"), None, None, "required field ITEM_ID"),
    ("users-missing-user-id", without(USERS_BASE, "USER_ID"), None, None, "required field USER_ID"),
    # Metadata requirements and limits (L4822-L4826, L4437).
    ("users-no-metadata", without(USERS_BASE, "AGE"), None, None, "at least one metadata field"),
    (
        "users-plain-string-only",
        replaced(USERS_BASE, "AGE", type="string"),
        None,
        None,
        "at least one metadata field (a categorical string or a numerical field)",
    ),
    ("users-boolean-only", replaced(USERS_BASE, "AGE", type="boolean"), None, None, "at least one metadata field"),
    (
        "items-only-creation-timestamp",
        avro_record("Items", f("ITEM_ID", "string"), f("CREATION_TIMESTAMP", "long")),
        None,
        None,
        "at least one metadata field (a categorical or textual string",
    ),
    (
        "actions-no-metadata",
        avro_record("Actions", f("ACTION_ID", "string"), f("VALUE", "long")),
        None,
        None,
        "metadata",
    ),
    ("users-26-metadata", with_fields(USERS_BASE, *many("M", 25)), None, None, "at most 25 metadata fields; found 26"),
    ("items-101-metadata", with_fields(ITEMS_BASE, *many("M", 100)), None, None, "at most 100 metadata fields"),
    ("actions-11-metadata", with_fields(ACTIONS_BASE, *many("M", 10)), None, None, "at most 10 metadata fields"),
    (
        "interactions-6-metadata",
        with_fields(CUSTOM_INTERACTIONS, *many("M", 4)),
        None,
        None,
        "at most 5 metadata fields excluding reserved fields; found 6",
    ),
    (
        "action-interactions-6-metadata",
        with_fields(CUSTOM_ACTION_INTERACTIONS, *many("M", 6)),
        None,
        None,
        "at most 5 metadata fields",
    ),
    # Textual fields (L4172, L4324).
    (
        "textual-in-users",
        with_fields(USERS_BASE, f("BIO", "string", textual=True)),
        None,
        None,
        "only Items schemas support textual fields",
    ),
    (
        "two-textual",
        with_fields(ITEMS_BASE, f("A", "string", textual=True), f("B", "string", textual=True)),
        None,
        None,
        "at most 1 textual field",
    ),
    # Domains (L4374-L4777).
    ("unknown-domain", MINIMAL_INTERACTIONS, None, "RETAIL", "enum value set: [ECOMMERCE, VIDEO_ON_DEMAND]"),
    ("domain-actions", ACTIONS_BASE, None, ECOMMERCE, "can't be created in a Domain dataset group"),
    (
        "domain-action-interactions",
        CUSTOM_ACTION_INTERACTIONS,
        None,
        VIDEO_ON_DEMAND,
        "can't be created in a Domain dataset group",
    ),
    (
        "domain-interactions-missing-event-type",
        MINIMAL_INTERACTIONS,
        None,
        ECOMMERCE,
        "ECOMMERCE Interactions schema is missing the required field EVENT_TYPE",
    ),
    ("vod-items-missing-genres", without(VOD_ITEMS, "GENRES"), None, VIDEO_ON_DEMAND, "required field GENRES"),
    (
        "vod-items-missing-creation-timestamp",
        without(VOD_ITEMS, "CREATION_TIMESTAMP"),
        None,
        VIDEO_ON_DEMAND,
        "required field CREATION_TIMESTAMP",
    ),
    (
        "vod-items-genres-not-categorical",
        replaced(VOD_ITEMS, "GENRES", categorical=None),
        None,
        VIDEO_ON_DEMAND,
        "GENRES of a VIDEO_ON_DEMAND Items schema must have the categorical attribute set to true",
    ),
    (
        "vod-items-genre-l2-not-categorical",
        with_fields(VOD_ITEMS, f("GENRE_L2", ["null", "string"])),
        None,
        VIDEO_ON_DEMAND,
        "GENRE_L2 of a VIDEO_ON_DEMAND Items schema must have the categorical attribute",
    ),
    (
        "vod-items-description-not-textual",
        with_fields(VOD_ITEMS, f("PRODUCT_DESCRIPTION", ["null", "string"])),
        None,
        VIDEO_ON_DEMAND,
        "must have the textual attribute set to true",
    ),
    (
        "vod-items-duration-long",
        with_fields(VOD_ITEMS, f("DURATION", "long")),
        None,
        VIDEO_ON_DEMAND,
        "DURATION of a VIDEO_ON_DEMAND Items schema must be of type float",
    ),
    (
        "vod-users-subscription-not-categorical",
        replaced(VOD_USERS, "SUBSCRIPTION_MODEL", categorical=None),
        None,
        VIDEO_ON_DEMAND,
        "SUBSCRIPTION_MODEL of a VIDEO_ON_DEMAND Users schema must have the categorical attribute",
    ),
    ("ecomm-items-missing-price", without(ECOMM_ITEMS, "PRICE"), None, ECOMMERCE, "required field PRICE (float)"),
    (
        "ecomm-items-price-nullable",
        replaced(ECOMM_ITEMS, "PRICE", type=["null", "float"]),
        None,
        ECOMMERCE,
        "PRICE of an ECOMMERCE Items schema must be of type float; it can't be null",
    ),
    (
        "ecomm-items-price-double",
        replaced(ECOMM_ITEMS, "PRICE", type="double"),
        None,
        ECOMMERCE,
        "must be of type float",
    ),
    (
        "ecomm-items-category-not-categorical",
        replaced(ECOMM_ITEMS, "CATEGORY_L1", categorical=None),
        None,
        ECOMMERCE,
        "CATEGORY_L1 of an ECOMMERCE Items schema must have the categorical attribute",
    ),
    (
        "ecomm-items-gender-not-categorical",
        with_fields(ECOMM_ITEMS, f("GENDER", ["null", "string"])),
        None,
        ECOMMERCE,
        "GENDER",
    ),
    (
        "ecomm-users-no-metadata",
        without(ECOMM_USERS, "MEMBERSHIP_STATUS"),
        None,
        ECOMMERCE,
        "at least one metadata field",
    ),
    # CreateDataset-time checks.
    ("unknown-dataset-type", MINIMAL_INTERACTIONS, "Events", None, "at 'datasetType'"),
    ("dataset-type-mismatch", MINIMAL_INTERACTIONS, ITEMS, None, "must match the schema name Interactions"),
]


@pytest.mark.parametrize(
    ("schema", "dataset_type", "domain", "fragment"),
    [pytest.param(s, t, d, m, id=i) for i, s, t, d, m in BAD_SCHEMAS],
)
def test_rule_violations_are_rejected(schema: Any, dataset_type: str | None, domain: str | None, fragment: str) -> None:
    raw = schema if isinstance(schema, str) else js(schema)
    with pytest.raises(InvalidInputException) as exc:
        validate_schema(raw, dataset_type, domain)
    assert fragment in exc.value.message
    assert exc.value.code == "InvalidInputException"


def test_schema_exactly_at_the_size_limit_is_accepted() -> None:
    raw = js(MINIMAL_INTERACTIONS)
    padded = raw + " " * (20000 - len(raw))
    assert len(padded) == 20000
    assert parse_schema(padded).dataset_type == INTERACTIONS


def test_metadata_limits_are_inclusive() -> None:
    assert len(validate_schema(js(with_fields(USERS_BASE, *many("M", 24))), USERS).metadata_fields()) == 25
    assert len(validate_schema(js(with_fields(ACTIONS_BASE, *many("M", 9))), ACTIONS).metadata_fields()) == 10
    five = with_fields(MINIMAL_INTERACTIONS, *many("M", 5), f("EVENT_TYPE", "string"), f("IMPRESSION", "string"))
    assert len(validate_schema(js(five), INTERACTIONS).metadata_fields()) == 5


# --- CreateDataset: domains of schema and dataset group ---------------------------------------------
@pytest.mark.parametrize(
    ("schema_domain", "group_domain", "fragment"),
    [
        (None, ECOMMERCE, "schema's domain (no domain (Custom)) must match the dataset group's domain (ECOMMERCE)"),
        (ECOMMERCE, None, "must match the dataset group's domain (a Custom dataset group)"),
        (VIDEO_ON_DEMAND, ECOMMERCE, "(VIDEO_ON_DEMAND) must match the dataset group's domain (ECOMMERCE)"),
    ],
)
def test_schema_domain_must_match_dataset_group(
    schema_domain: str | None, group_domain: str | None, fragment: str
) -> None:
    parsed = parse_schema(js(DOMAIN_INTERACTIONS), schema_domain)
    with pytest.raises(InvalidInputException) as exc:
        check_schema_for_dataset(parsed, INTERACTIONS, group_domain)
    assert fragment in exc.value.message


def test_no_actions_datasets_in_domain_dataset_groups() -> None:
    parsed = parse_schema(js(CUSTOM_ACTIONS))
    with pytest.raises(InvalidInputException, match="Domain dataset group"):
        check_schema_for_dataset(parsed, "actions", VIDEO_ON_DEMAND)


def test_check_schema_for_dataset_returns_the_schema() -> None:
    parsed = parse_schema(js(ECOMM_ITEMS), ECOMMERCE)
    checked = check_schema_for_dataset(parsed, "ITEMS", ECOMMERCE)
    assert isinstance(checked, ParsedSchema)
    assert checked.field_names == ("ITEM_ID", "PRICE", "CATEGORY_L1")
    # Domain attribute keywords count as metadata (the VOD/ECOMMERCE Users+Items defaults rely on it).
    assert [x.name for x in checked.metadata_fields()] == ["PRICE", "CATEGORY_L1"]


# --- Data-time helpers -------------------------------------------------------------------------------
def test_string_limits_use_the_import_error_wording() -> None:
    parsed = validate_schema(js(CUSTOM_INTERACTIONS), INTERACTIONS)
    user_id, location, impression = parsed.field("USER_ID"), parsed.field("LOCATION"), parsed.field("IMPRESSION")
    assert user_id is not None and location is not None and impression is not None
    assert check_string_value(user_id, "u" * 256) == "u" * 256
    with pytest.raises(InvalidInputException, match=r"Length cannot be more than 256 characters for USER_ID\."):
        check_string_value(user_id, "u" * 257)
    with pytest.raises(InvalidInputException, match="1000 characters for LOCATION"):
        check_string_value(location, "x" * 1001)
    with pytest.raises(InvalidInputException, match="1000 characters for IMPRESSION"):
        check_string_value(impression, "|".join(["1234"] * 201))


def test_textual_values_are_truncated_not_rejected() -> None:
    parsed = validate_schema(js(CUSTOM_ITEMS), ITEMS)
    description = parsed.textual_field()
    assert description is not None
    assert len(check_string_value(description, "a" * 25000)) == 20000
    assert len(check_string_value(description, "映画" * 5000)) == 7000  # Chinese/Japanese limit (L4176)


def test_event_type_budget_counts_optional_columns() -> None:
    parsed = validate_schema(js(CUSTOM_INTERACTIONS), INTERACTIONS)
    # EVENT_TYPE, EVENT_VALUE, LOCATION, DEVICE = 4 optional columns (IMPRESSION is not counted).
    check_event_type_budget(parsed, 6)
    with pytest.raises(InvalidInputException, match="4 optional metadata columns and 7 distinct event types"):
        check_event_type_budget(parsed, 7)
