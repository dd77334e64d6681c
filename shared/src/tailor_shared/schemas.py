"""Personalize dataset schemas (Avro JSON): parsing and validation exactly as the Developer Guide states.

Two entry points mirror the two API calls that see a schema. ``parse_schema`` runs at CreateSchema time
(name, schema, domain: no dataset type is given, but the record name must be a dataset type, L7695, so
the type-specific rules run there already). ``check_schema_for_dataset`` runs at CreateDataset time,
when the dataset type and the dataset group's domain are known. ``ParsedSchema`` is what the ingest
path uses afterwards to validate CSV rows and Put* records (field types, categorical / textual flags,
per-field character limits, camelCase property keys).

Line references (Lnnnn) point into spec/seeds/personalize-developer-guide.txt; every decision the
guide leaves open is recorded in docs/adr/0004-schemas-and-recipes.md.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal

import fastavro

from tailor_shared.errors import InvalidInputException
from tailor_shared.validation import (
    MAX_EVENT_ATTRIBUTION_SOURCE_LENGTH,
    MAX_EVENT_TYPE_LENGTH,
    MAX_ID_LENGTH,
    MAX_RECOMMENDATION_ID_LENGTH,
    NO_VALUE,
    constraint_message,
)

# --- Dataset types and domains ---------------------------------------------------------------------
# CreateDataset.datasetType: "One of the following (case insensitive) values" (L20914).
INTERACTIONS: Final = "Interactions"
ITEMS: Final = "Items"
USERS: Final = "Users"
ACTIONS: Final = "Actions"
ACTION_INTERACTIONS: Final = "Action_Interactions"
DATASET_TYPES: Final[tuple[str, ...]] = (INTERACTIONS, ITEMS, USERS, ACTIONS, ACTION_INTERACTIONS)

ECOMMERCE: Final = "ECOMMERCE"
VIDEO_ON_DEMAND: Final = "VIDEO_ON_DEMAND"
DOMAINS: Final[tuple[str, ...]] = (ECOMMERCE, VIDEO_ON_DEMAND)  # CreateSchema.domain valid values (L22231)
# "You can't create next best action resources, including Actions and Action Interactions datasets, in
# a domain dataset group" (L3943, L4216, L4272).
DOMAIN_DATASET_TYPES: Final[tuple[str, ...]] = (INTERACTIONS, ITEMS, USERS)

# --- Limits ----------------------------------------------------------------------------------------
MAX_SCHEMA_LENGTH: Final = 20000  # CreateSchema.schema "Maximum length of 20000" (L22231)
# Avro types a field may use (L4336 "Schema data types").
SUPPORTED_TYPES: Final = frozenset({"float", "double", "int", "long", "string", "boolean", "null"})
NUMERIC_TYPES: Final = frozenset({"float", "double", "int", "long"})
_COMPLEX_TYPES: Final = frozenset({"record", "array", "map", "enum", "fixed"})
# Max metadata fields: Users 25, Items 100, Actions 10 (L4825); Item interactions 5 excluding reserved
# fields (L4437, quota L19687); Action interactions 5 (label-less Actions quota table L19719-L19733, ADR 0004).
MAX_METADATA_FIELDS: Final[dict[str, int]] = {
    USERS: 25,
    ITEMS: 100,
    ACTIONS: 10,
    INTERACTIONS: 5,
    ACTION_INTERACTIONS: 5,
}
MAX_TEXTUAL_FIELDS: Final = 1  # "You can add at most 1 textual field" (L4172, quota L19713)
# Optional Item interactions columns (EVENT_TYPE, EVENT_VALUE, custom metadata) plus distinct event
# types in the data (L4437, quota L19686); checked when training, see check_event_type_budget.
MAX_INTERACTIONS_COLUMNS_AND_EVENT_TYPES: Final = 10
# MAX_ID_LENGTH, MAX_EVENT_TYPE_LENGTH, ...: member limits the services share, from tailor_shared.validation.
MAX_CATEGORICAL_LENGTH: Final = 1000  # categorical values, import fails if longer (L4063, L19688)
MAX_IMPRESSION_LENGTH: Final = 1000  # impression values incl. the '|' separators (L4063)
MAX_TEXTUAL_LENGTH: Final = 20000  # textual values are truncated, not rejected (L4176)
MAX_TEXTUAL_LENGTH_ZH_JA: Final = 7000  # Chinese and Japanese text (L4176)
CATEGORICAL_SEPARATOR: Final = "|"  # multi-valued categorical and impression values (L4947, L4086)

# Reserved keywords "can't be in your data" (L4323): the ingest path rejects them as values.
RESERVED_KEYWORDS: Final = frozenset(
    {
        "EVENT_TYPE",
        "EVENT_VALUE",
        "IMPRESSION",
        "RECOMMENDATION_ID",
        "EVENT_ATTRIBUTION_SOURCE",
        "CREATION_TIMESTAMP",
        "VALUE",
        "ACTION_EXPIRATION_TIMESTAMP",
        "EXPIRATION_TIMESTAMP",
        "REPEAT_FREQUENCY",
    }
)
# The Actions expiration keyword is printed both ways (L4842, L8671 vs L4813, L6816): accept both.
ACTION_EXPIRATION_FIELDS: Final[tuple[str, ...]] = ("ACTION_EXPIRATION_TIMESTAMP", "EXPIRATION_TIMESTAMP")

_AVRO_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NON_ALNUM = re.compile(r"[^0-9A-Za-z]")
# Han, Hiragana, Katakana (and half-width Katakana): text in these scripts gets the 7,000-char limit.
_ZH_JA = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f]")

Role = Literal["required", "reserved", "metadata"]
Kind = Literal["plain", "categorical", "textual", "any"]


def _normalized(name: str) -> str:
    """The identity of a field name: alphanumerics only, case-folded.

    "Schema fields must have unique alphanumeric names" (L4322); camelCase property keys in Put* calls
    (``CREATION_TIMESTAMP`` -> ``creationTimestamp``, L8671) resolve to fields through the same form.
    """
    return _NON_ALNUM.sub("", name).casefold()


def camel_case(name: str) -> str:
    """Schema field name -> Put* ``properties`` key: ``NUM_RATINGS`` -> ``numRatings`` (L8345, L8504, L8671)."""
    parts = [p for p in name.split("_") if p]
    if not parts:
        return name
    return parts[0].lower() + "".join(p[:1].upper() + p[1:].lower() for p in parts[1:])


# --- Parsed form -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class SchemaField:
    """One flat schema field as the ingest path needs it."""

    name: str
    types: tuple[str, ...]  # the declared Avro types in union order, "null" included when nullable
    categorical: bool = False
    textual: bool = False
    has_default: bool = False
    default: object = None
    role: Role = "metadata"  # required field, reserved keyword, or metadata (set by the dataset rules)
    max_length: int | None = None  # character limit for string values; textual values are truncated

    @property
    def nullable(self) -> bool:
        return "null" in self.types

    @property
    def value_type(self) -> str:
        """The one non-null Avro type (a union may only add "null", ADR 0004)."""
        return next(t for t in self.types if t != "null")

    @property
    def is_string(self) -> bool:
        return self.value_type == "string"

    @property
    def is_numeric(self) -> bool:
        return self.value_type in NUMERIC_TYPES

    @property
    def property_key(self) -> str:
        """The camelCase key this field takes in PutItems / PutUsers / PutActions / PutEvents properties."""
        return camel_case(self.name)

    @property
    def used_in_training(self) -> bool:
        """Booleans, impressions and plain custom strings are never trained on (L8800, L4326, L4324)."""
        if self.value_type == "boolean" or self.name == "IMPRESSION":
            return False
        if self.is_string and self.role == "metadata":
            return self.categorical or self.textual
        return True


@dataclass(frozen=True)
class ParsedSchema:
    """A validated schema. ``dataset_type`` comes from the record name, which must be a dataset type."""

    name: str
    dataset_type: str
    domain: str | None
    fields: tuple[SchemaField, ...]
    namespace: str | None = None
    avro_json: str = field(default="", repr=False)  # canonical JSON of the Avro record (fastavro input)

    def field(self, name: str) -> SchemaField | None:
        """The field with exactly this name, or None."""
        return next((f for f in self.fields if f.name == name), None)

    def property_field(self, key: str) -> SchemaField | None:
        """The field a Put* ``properties`` key (camelCase, any case) refers to, or None."""
        wanted = _normalized(key)
        return next((f for f in self.fields if _normalized(f.name) == wanted), None)

    @property
    def field_names(self) -> tuple[str, ...]:
        """Field names in schema order, which is also the required CSV column order (L4319)."""
        return tuple(f.name for f in self.fields)

    def required_fields(self) -> tuple[SchemaField, ...]:
        return tuple(f for f in self.fields if f.role == "required")

    def reserved_fields(self) -> tuple[SchemaField, ...]:
        return tuple(f for f in self.fields if f.role == "reserved")

    def metadata_fields(self) -> tuple[SchemaField, ...]:
        """Fields that are neither required nor system reserved keywords (domain attribute keywords such
        as GENRES or PRICE count as metadata, ADR 0004)."""
        return tuple(f for f in self.fields if f.role == "metadata")

    def categorical_fields(self) -> tuple[SchemaField, ...]:
        return tuple(f for f in self.fields if f.categorical)

    def textual_field(self) -> SchemaField | None:
        return next((f for f in self.fields if f.textual), None)

    def avro_schema(self) -> dict[str, Any]:
        """A fresh copy of the Avro record, ready for ``fastavro.parse_schema`` / ``AvroCodec``."""
        result: dict[str, Any] = json.loads(self.avro_json)
        return result


# --- Field rules (required fields and reserved keywords per dataset type and domain) ----------------
@dataclass(frozen=True)
class FieldRule:
    """The type a required field or reserved keyword must have, as the guide's tables print it."""

    name: str
    types: frozenset[str]  # allowed non-null Avro types
    nullable: bool = False
    kind: Kind = "any"  # plain string: never categorical/textual; categorical/textual: flag must be true
    metadata: bool = False  # domain attribute keywords count as metadata fields
    max_length: int | None = None

    def describe(self) -> str:
        """How the guide prints the rule, e.g. ``categorical string, null``."""
        base = "/".join(sorted(self.types))
        if self.kind in ("categorical", "textual"):
            base = f"{self.kind} {base}"
        return f"{base}, null" if self.nullable else base


def _string(name: str, *, nullable: bool = False, max_length: int | None = None) -> FieldRule:
    return FieldRule(name, frozenset({"string"}), nullable, "plain", max_length=max_length)


def _categorical(name: str, *, nullable: bool = True) -> FieldRule:
    return FieldRule(name, frozenset({"string"}), nullable, "categorical", True, MAX_CATEGORICAL_LENGTH)


def _textual(name: str) -> FieldRule:
    return FieldRule(name, frozenset({"string"}), True, "textual", True, MAX_TEXTUAL_LENGTH)


def _long(name: str, *, nullable: bool = False) -> FieldRule:
    return FieldRule(name, frozenset({"long"}), nullable)


def _float(name: str, *, nullable: bool = True, metadata: bool = False) -> FieldRule:
    return FieldRule(name, frozenset({"float"}), nullable, metadata=metadata)


_USER_ID = _string("USER_ID", max_length=MAX_ID_LENGTH)
_ITEM_ID = _string("ITEM_ID", max_length=MAX_ID_LENGTH)
_ACTION_ID = _string("ACTION_ID", max_length=MAX_ID_LENGTH)
_TIMESTAMP = _long("TIMESTAMP")
# EVENT_TYPE: "You must define an EVENT_TYPE field as a string and can't be set as categorical" (L4833).
_EVENT_TYPE = _string("EVENT_TYPE", max_length=MAX_EVENT_TYPE_LENGTH)
_EVENT_VALUE = _float("EVENT_VALUE")  # float, null (L4834)
_IMPRESSION = _string("IMPRESSION", nullable=True, max_length=MAX_IMPRESSION_LENGTH)  # (L4836)
_RECOMMENDATION_ID = _string("RECOMMENDATION_ID", nullable=True, max_length=MAX_RECOMMENDATION_ID_LENGTH)
_EVENT_ATTRIBUTION_SOURCE = _string(
    "EVENT_ATTRIBUTION_SOURCE", nullable=True, max_length=MAX_EVENT_ATTRIBUTION_SOURCE_LENGTH
)  # (table L4805)
_CREATION_TIMESTAMP = _long("CREATION_TIMESTAMP")  # long, not null (L4835, tables L4809, L4598)

# Custom dataset groups: table L4798-L4818, reserved-keyword list L4829-L4845.
_CUSTOM_REQUIRED: Final[dict[str, tuple[FieldRule, ...]]] = {
    INTERACTIONS: (_USER_ID, _ITEM_ID, _TIMESTAMP),
    USERS: (_USER_ID,),
    ITEMS: (_ITEM_ID,),
    ACTIONS: (_ACTION_ID,),
    ACTION_INTERACTIONS: (_USER_ID, _ACTION_ID, _EVENT_TYPE, _TIMESTAMP),
}
_CUSTOM_RESERVED: Final[dict[str, tuple[FieldRule, ...]]] = {
    INTERACTIONS: (_EVENT_TYPE, _EVENT_VALUE, _IMPRESSION, _RECOMMENDATION_ID, _EVENT_ATTRIBUTION_SOURCE),
    USERS: (),
    ITEMS: (_CREATION_TIMESTAMP,),
    ACTIONS: (
        _CREATION_TIMESTAMP,
        _long("VALUE", nullable=True),  # L4841 (the table cell is garbled at L4812)
        _long("ACTION_EXPIRATION_TIMESTAMP", nullable=True),  # L4842
        _long("EXPIRATION_TIMESTAMP", nullable=True),  # spelling of the table L4813 and L6816
        _long("REPEAT_FREQUENCY", nullable=True),  # L4843
    ),
    ACTION_INTERACTIONS: (_IMPRESSION, _RECOMMENDATION_ID),
}

# Domain dataset groups. Interactions: EVENT_TYPE becomes required (L4425 VOD, L4614 ECOMMERCE).
_DOMAIN_INTERACTIONS_REQUIRED = (_USER_ID, _ITEM_ID, _TIMESTAMP, _EVENT_TYPE)
_DOMAIN_INTERACTIONS_RESERVED = (_EVENT_VALUE, _IMPRESSION, _RECOMMENDATION_ID, _EVENT_ATTRIBUTION_SOURCE)
_DOMAIN_REQUIRED: Final[dict[tuple[str, str], tuple[FieldRule, ...]]] = {
    (VIDEO_ON_DEMAND, INTERACTIONS): _DOMAIN_INTERACTIONS_REQUIRED,
    (VIDEO_ON_DEMAND, USERS): (_USER_ID,),
    # VOD Items: ITEM_ID, GENRES (categorical string), CREATION_TIMESTAMP (long) (table L4395, L4493).
    (VIDEO_ON_DEMAND, ITEMS): (_ITEM_ID, _categorical("GENRES", nullable=False), _CREATION_TIMESTAMP),
    (ECOMMERCE, INTERACTIONS): _DOMAIN_INTERACTIONS_REQUIRED,
    (ECOMMERCE, USERS): (_USER_ID,),
    # ECOMMERCE Items: ITEM_ID, PRICE (float), CATEGORY_L1 (categorical string) (table L4586, L4714).
    (ECOMMERCE, ITEMS): (
        _ITEM_ID,
        _float("PRICE", nullable=False, metadata=True),
        _categorical("CATEGORY_L1", nullable=False),
    ),
}
_DOMAIN_RESERVED: Final[dict[tuple[str, str], tuple[FieldRule, ...]]] = {
    (VIDEO_ON_DEMAND, INTERACTIONS): _DOMAIN_INTERACTIONS_RESERVED,
    (VIDEO_ON_DEMAND, USERS): (_categorical("SUBSCRIPTION_MODEL"),),  # L4456
    (VIDEO_ON_DEMAND, ITEMS): (  # L4500-L4507 and table L4395; PRICE/DURATION nullable (ADR 0004)
        _float("PRICE", metadata=True),
        _float("DURATION", metadata=True),
        _categorical("GENRE_L2"),
        _categorical("GENRE_L3"),
        _float("AVERAGE_RATING", metadata=True),
        _textual("PRODUCT_DESCRIPTION"),
        _categorical("CONTENT_OWNER"),
        _categorical("CONTENT_CLASSIFICATION"),
    ),
    (ECOMMERCE, INTERACTIONS): _DOMAIN_INTERACTIONS_RESERVED,
    (ECOMMERCE, USERS): (),
    (ECOMMERCE, ITEMS): (  # L4718-L4726; CREATION_TIMESTAMP long per the table, not float (ADR 0004)
        _categorical("CATEGORY_L2"),
        _categorical("CATEGORY_L3"),
        _textual("PRODUCT_DESCRIPTION"),
        _CREATION_TIMESTAMP,
        _categorical("AGE_GROUP"),
        _categorical("ADULT"),
        _categorical("GENDER"),
    ),
}


def field_rules(dataset_type: str, domain: str | None = None) -> tuple[tuple[FieldRule, ...], tuple[FieldRule, ...]]:
    """(required fields, reserved keywords) for a dataset type in a Custom or Domain dataset group."""
    if domain is None:
        return _CUSTOM_REQUIRED[dataset_type], _CUSTOM_RESERVED[dataset_type]
    return _DOMAIN_REQUIRED[(domain, dataset_type)], _DOMAIN_RESERVED[(domain, dataset_type)]


# --- Normalisation of API inputs --------------------------------------------------------------------
def normalize_dataset_type(dataset_type: str) -> str:
    """CreateDataset's datasetType is case insensitive (L20914); return the guide's spelling."""
    for canonical in DATASET_TYPES:
        if isinstance(dataset_type, str) and dataset_type.casefold() == canonical.casefold():
            return canonical
    raise InvalidInputException(
        constraint_message(
            dataset_type, "datasetType", f"Member must be one of [{', '.join(DATASET_TYPES)}] (case insensitive)"
        )
    )


def normalize_domain(domain: str | None) -> str | None:
    """Check a ``domain`` parameter: absent means a Custom dataset group (L22231)."""
    if domain is None or domain == "":
        return None
    if domain not in DOMAINS:
        raise InvalidInputException(
            constraint_message(domain, "domain", f"Member must satisfy enum value set: [{', '.join(DOMAINS)}]")
        )
    return domain


def _dataset_type_from_record_name(name: str) -> str:
    """The record name must be a dataset type: "the schema name must match one of the types of datasets
    recognized by Amazon Personalize" (L7695, L3950). Compared like field names (alphanumerics, any
    case), ADR 0004."""
    for canonical in DATASET_TYPES:
        if _normalized(name) == _normalized(canonical):
            return canonical
    raise InvalidInputException(
        f"The schema name '{name}' must match one of the dataset types: {', '.join(DATASET_TYPES)}."
    )


# --- Parsing ----------------------------------------------------------------------------------------
def _parse_types(field_name: str, raw: object) -> tuple[str, ...]:
    if isinstance(raw, str):
        declared: list[object] = [raw]
    elif isinstance(raw, list):
        declared = list(raw)
        if not declared:
            raise InvalidInputException(f"Field '{field_name}' has an empty type union.")
    elif isinstance(raw, dict):
        # "Schemas must be flat JSON files without nested structures" (L4320).
        raise InvalidInputException(
            f"Field '{field_name}' has a nested type. Schemas must be flat, without nested structures."
        )
    else:
        raise InvalidInputException(f"Field '{field_name}' must have a 'type'.")
    types: list[str] = []
    for t in declared:
        if isinstance(t, dict | list) or (isinstance(t, str) and t in _COMPLEX_TYPES):
            # "Amazon Personalize schemas don't support complex types such as arrays and maps" (L4321).
            raise InvalidInputException(
                f"Field '{field_name}' uses a complex type. Complex types such as arrays and maps and "
                "nested records aren't supported."
            )
        if not isinstance(t, str) or t not in SUPPORTED_TYPES:
            raise InvalidInputException(
                f"Field '{field_name}' has unsupported type {json.dumps(t)}. Supported types: "
                "float, double, int, long, string, boolean, null."
            )
        if t in types:
            raise InvalidInputException(f"Field '{field_name}' repeats type '{t}' in its union.")
        types.append(t)
    non_null = [t for t in types if t != "null"]
    if not non_null:
        raise InvalidInputException(f"Field '{field_name}' must have a type other than null.")
    if len(non_null) > 1:
        raise InvalidInputException(
            f"Field '{field_name}' combines types {non_null}. A field has one type, optionally with null."
        )
    return tuple(types)


def _default_matches(avro_type: str, value: object) -> bool:
    """Avro: a field default must match the first type of its union."""
    if avro_type == "null":
        return value is None
    if avro_type == "boolean":
        return isinstance(value, bool)
    if avro_type in ("int", "long"):
        return isinstance(value, int) and not isinstance(value, bool)
    if avro_type in ("float", "double"):
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, str)


def _flag(field_name: str, raw: dict[str, Any], key: str) -> bool:
    value = raw.get(key, False)
    if not isinstance(value, bool):
        raise InvalidInputException(f"The '{key}' attribute of field '{field_name}' must be true or false.")
    return value


def _parse_field(index: int, raw: object) -> SchemaField:
    if not isinstance(raw, dict):
        raise InvalidInputException(f"Schema field #{index + 1} must be a JSON object.")
    name = raw.get("name")
    if not isinstance(name, str) or not _AVRO_NAME.fullmatch(name):
        raise InvalidInputException(
            f"Schema field #{index + 1} has an invalid name {json.dumps(name)}: an Avro name starts with a "
            "letter or '_' and contains only letters, digits and '_'."
        )
    types = _parse_types(name, raw.get("type"))
    categorical = _flag(name, raw, "categorical")
    textual = _flag(name, raw, "textual")
    value_type = next(t for t in types if t != "null")
    if categorical and textual:
        raise InvalidInputException(f"Field '{name}' can't be both categorical and textual.")
    if categorical and value_type != "string":
        # "To use categorical data, add a field of type string and set ... categorical" (L4947).
        raise InvalidInputException(f"Field '{name}' is categorical, so its type must be string.")
    if textual and value_type != "string":
        # "Textual fields must be of the type string" (L4330).
        raise InvalidInputException(f"Field '{name}' is textual, so its type must be string.")
    has_default = "default" in raw
    default = raw.get("default")
    if has_default and not _default_matches(types[0], default):
        raise InvalidInputException(f"The default value of field '{name}' must match its first type '{types[0]}'.")
    max_length: int | None = None
    if categorical:
        max_length = MAX_CATEGORICAL_LENGTH
    elif textual:
        max_length = MAX_TEXTUAL_LENGTH
    return SchemaField(name, types, categorical, textual, has_default, default, "metadata", max_length)


def parse_schema(schema: str, domain: str | None = None) -> ParsedSchema:
    """CreateSchema-time validation: Avro record shape, supported types, limits, flags, and the rules of
    the dataset type the record name names (for ``domain``'s dataset groups when a domain is given)."""
    domain = normalize_domain(domain)
    if not isinstance(schema, str) or not schema.strip():
        raise InvalidInputException(constraint_message(NO_VALUE, "schema", "Member must not be null"))
    if len(schema) > MAX_SCHEMA_LENGTH:
        raise InvalidInputException(
            constraint_message(NO_VALUE, "schema", f"Member must have length less than or equal to {MAX_SCHEMA_LENGTH}")
        )
    try:
        raw = json.loads(schema)
    except json.JSONDecodeError as exc:
        raise InvalidInputException(
            f"The schema is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
        ) from exc
    # "You must define the schema in Avro format" (L4318): a record with a name and fields.
    if not isinstance(raw, dict) or raw.get("type") != "record":
        raise InvalidInputException('The schema must be an Avro record: {"type": "record", ...}.')
    name = raw.get("name")
    if not isinstance(name, str) or not _AVRO_NAME.fullmatch(name):
        raise InvalidInputException(f"The schema has an invalid record name {json.dumps(name)}.")
    dataset_type = _dataset_type_from_record_name(name)
    namespace = raw.get("namespace")
    if namespace is not None and (
        not isinstance(namespace, str)
        or (namespace and not all(_AVRO_NAME.fullmatch(part) for part in namespace.split(".")))
    ):
        raise InvalidInputException(
            f"The schema has an invalid namespace {json.dumps(namespace)}: use dot-separated Avro names, "
            "e.g. com.amazonaws.personalize.schema."
        )
    raw_fields = raw.get("fields")
    if not isinstance(raw_fields, list) or not raw_fields:
        raise InvalidInputException("The schema must have a non-empty 'fields' array.")
    fields = [_parse_field(i, f) for i, f in enumerate(raw_fields)]
    seen: dict[str, str] = {}
    for f in fields:
        key = _normalized(f.name)
        if key in seen:
            # "you can't add both a GENRES_FIELD_1 field and a GENRESFIELD1 field" (L4322).
            raise InvalidInputException(
                f"Schema fields must have unique alphanumeric names: '{seen[key]}' and '{f.name}' conflict."
            )
        seen[key] = f.name
    try:
        fastavro.parse_schema(raw)
    except Exception as exc:  # fastavro raises several unrelated types; any of them means "not Avro"
        raise InvalidInputException(f"The schema is not a valid Avro schema: {exc}") from exc
    if domain is not None and dataset_type not in DOMAIN_DATASET_TYPES:
        raise InvalidInputException(
            f"{dataset_type} datasets can't be created in a Domain dataset group, so a {domain} schema "
            f"can't be named {name}."
        )
    checked = _apply_rules(tuple(fields), dataset_type, domain)
    return ParsedSchema(
        name=name,
        dataset_type=dataset_type,
        domain=domain,
        fields=checked,
        namespace=namespace,
        avro_json=json.dumps(raw, sort_keys=True, separators=(",", ":")),
    )


def _label(dataset_type: str, domain: str | None) -> str:
    return f"{domain} {dataset_type}" if domain else dataset_type


def _a(text: str, capital: bool = False) -> str:
    """The article for a label ("an Items schema", "a Users schema") so messages read naturally."""
    article = "an" if text[0] in "AEIOU" else "a"
    return f"{article.capitalize() if capital else article} {text}"


def _check_rule(f: SchemaField, rule: FieldRule, role: str, label: str) -> None:
    if f.value_type not in rule.types:
        raise InvalidInputException(
            f"The {role} field {f.name} of {_a(label)} schema must be of type {rule.describe()}."
        )
    if f.nullable and not rule.nullable:
        raise InvalidInputException(
            f"The {role} field {f.name} of {_a(label)} schema must be of type {rule.describe()}; it can't be null."
        )
    if rule.kind == "plain" and (f.categorical or f.textual):
        # "reserved string fields can't be categorical" (L4323).
        raise InvalidInputException(f"The {role} string field {f.name} can't be categorical or textual.")
    if rule.kind == "categorical" and not f.categorical:
        # "Reserved categorical string fields must have the categorical attribute set to true" (L4323).
        raise InvalidInputException(
            f"The {role} field {f.name} of {_a(label)} schema must have the categorical attribute set to true."
        )
    if rule.kind == "textual" and not f.textual:
        raise InvalidInputException(
            f"The {role} field {f.name} of {_a(label)} schema must have the textual attribute set to true."
        )


def _apply_rules(fields: tuple[SchemaField, ...], dataset_type: str, domain: str | None) -> tuple[SchemaField, ...]:
    """Check required fields, reserved keywords, metadata counts and textual rules; assign roles."""
    required, reserved = field_rules(dataset_type, domain)
    label = _label(dataset_type, domain)
    rules: dict[str, tuple[str, FieldRule]] = {r.name: ("required", r) for r in required}
    for r in reserved:
        rules.setdefault(r.name, ("reserved", r))
    by_normalized = {_normalized(name): name for name in rules}
    names = {f.name for f in fields}

    for f in fields:
        keyword = by_normalized.get(_normalized(f.name))
        if keyword is not None and keyword != f.name:
            # Keywords are matched by exact spelling; a look-alike would silently lose its meaning.
            raise InvalidInputException(
                f"Field '{f.name}' looks like the {label} keyword {keyword}; spell it exactly {keyword}."
            )
    for rule in required:
        if rule.name not in names:
            raise InvalidInputException(
                f"The {label} schema is missing the required field {rule.name} ({rule.describe()})."
            )
    if dataset_type == ACTIONS and all(n in names for n in ACTION_EXPIRATION_FIELDS):
        raise InvalidInputException(
            "An Actions schema can have ACTION_EXPIRATION_TIMESTAMP or EXPIRATION_TIMESTAMP, not both."
        )

    checked: list[SchemaField] = []
    for f in fields:
        entry = rules.get(f.name)
        if entry is None:
            checked.append(f)
            continue
        role_name, rule = entry
        _check_rule(f, rule, role_name, label)
        role: Role = "metadata" if rule.metadata else ("required" if role_name == "required" else "reserved")
        max_length = rule.max_length if rule.max_length is not None else f.max_length
        checked.append(replace(f, role=role, max_length=max_length))

    textual = [f for f in checked if f.textual]
    if textual and dataset_type != ITEMS:
        # "only Items schemas support fields with the textual attribute" (L4324, L4826).
        raise InvalidInputException(
            f"Field '{textual[0].name}' is textual, but only Items schemas support textual fields."
        )
    if len(textual) > MAX_TEXTUAL_FIELDS:
        raise InvalidInputException(
            f"An Items schema can have at most {MAX_TEXTUAL_FIELDS} textual field; found "
            f"{', '.join(f.name for f in textual)}."
        )

    metadata = [f for f in checked if f.role == "metadata"]
    limit = MAX_METADATA_FIELDS[dataset_type]
    if len(metadata) > limit:
        extra = " excluding reserved fields" if dataset_type in (INTERACTIONS, ACTION_INTERACTIONS) else ""
        raise InvalidInputException(
            f"{_a(label, True)} schema can have at most {limit} metadata fields{extra}; found {len(metadata)}."
        )
    if dataset_type in (USERS, ITEMS, ACTIONS):
        # "Users, Items, and Actions schemas require at least one metadata field" (L4824): categorical
        # string or numerical, or textual for Items (table L4798-L4818).
        usable = [f for f in metadata if f.is_numeric or f.categorical or f.textual]
        if not usable:
            kinds = "a categorical string or a numerical field"
            if dataset_type == ITEMS:
                kinds = "a categorical or textual string or a numerical field"
            raise InvalidInputException(
                f"{_a(label, True)} schema must have at least one metadata field ({kinds}) besides its required fields."
            )
    return tuple(checked)


def check_schema_for_dataset(parsed: ParsedSchema, dataset_type: str, domain: str | None = None) -> ParsedSchema:
    """CreateDataset-time validation: the schema fits this dataset type in a dataset group of ``domain``
    (None = Custom dataset group). Returns the schema with roles computed for that dataset."""
    dataset_type = normalize_dataset_type(dataset_type)
    domain = normalize_domain(domain)
    if domain is not None and dataset_type not in DOMAIN_DATASET_TYPES:
        # L3943: no Actions / Action interactions datasets in a Domain dataset group.
        raise InvalidInputException(f"You can't create an {dataset_type} dataset in a Domain dataset group.")
    if parsed.domain != domain:
        # CreateSchema.domain: "specify the domain you chose when you created the Domain dataset group".
        schema_domain = parsed.domain or "no domain (Custom)"
        group_domain = domain or "a Custom dataset group"
        raise InvalidInputException(
            f"The schema's domain ({schema_domain}) must match the dataset group's domain ({group_domain})."
        )
    if parsed.dataset_type != dataset_type:
        # "The dataset-type must match the schema name" (L2970).
        raise InvalidInputException(f"The dataset type {dataset_type} must match the schema name {parsed.name}.")
    return replace(parsed, fields=_apply_rules(parsed.fields, dataset_type, domain))


def validate_schema(schema: str, dataset_type: str | None = None, domain: str | None = None) -> ParsedSchema:
    """Parse ``schema`` (CreateSchema rules) and, when ``dataset_type`` is given, check it for that
    dataset in a dataset group of ``domain`` (CreateDataset rules)."""
    parsed = parse_schema(schema, domain)
    if dataset_type is not None:
        parsed = check_schema_for_dataset(parsed, dataset_type, domain)
    return parsed


# --- Data-time helpers (used by ingest and training) -----------------------------------------------
def textual_limit(value: str) -> int:
    """20,000 characters, or 7,000 for Chinese and Japanese text (L4176); one language per item."""
    return MAX_TEXTUAL_LENGTH_ZH_JA if _ZH_JA.search(value) else MAX_TEXTUAL_LENGTH


def check_string_value(f: SchemaField, value: str) -> str:
    """Apply a string field's character limit: textual values are truncated (L4176), anything else that
    is too long is rejected with the import error's wording (L18487)."""
    if f.textual:
        return value[: textual_limit(value)]
    if f.max_length is not None and len(value) > f.max_length:
        raise InvalidInputException(f"Length cannot be more than {f.max_length} characters for {f.name}.")
    return value


def check_event_type_budget(parsed: ParsedSchema, distinct_event_types: int) -> None:
    """Item interactions: optional columns (EVENT_TYPE, EVENT_VALUE, custom metadata) plus the number of
    distinct event types in the data must be at most 10 (L4437, quota L19686). Checked at training."""
    counted = [f for f in parsed.fields if f.role == "metadata" or f.name in ("EVENT_TYPE", "EVENT_VALUE")]
    total = len(counted) + distinct_event_types
    if total > MAX_INTERACTIONS_COLUMNS_AND_EVENT_TYPES:
        raise InvalidInputException(
            f"The Item interactions dataset has {len(counted)} optional metadata columns and "
            f"{distinct_event_types} distinct event types; together they can be at most "
            f"{MAX_INTERACTIONS_COLUMNS_AND_EVENT_TYPES}."
        )


# --- Writing schemas ---------------------------------------------------------------------------------
# The namespace and version the guide's schema examples use (L4866-L4920, L7698-L7716).
AVRO_NAMESPACE: Final = "com.amazonaws.personalize.schema"
# Columns written the same way in every schema: the ids and EVENT_TYPE are strings, TIMESTAMP is a long.
_PLAIN_COLUMNS: Final[dict[str, str]] = {
    "USER_ID": "string",
    "ITEM_ID": "string",
    "ACTION_ID": "string",
    "EVENT_TYPE": "string",
    "TIMESTAMP": "long",
}


def avro_record(name: str, *fields: str | dict[str, Any]) -> dict[str, Any]:
    """A dataset schema as the guide writes one: an Avro record named for its dataset type (L7695) in the
    guide's namespace, version 1.0, with ``fields`` in order. A field is its Avro definition, or just the
    name of a plain column (USER_ID, ITEM_ID, ACTION_ID, EVENT_TYPE, TIMESTAMP). ``json.dumps`` the result
    for CreateSchema; ``parse_schema`` is what checks it."""
    written = [{"name": f, "type": _PLAIN_COLUMNS[f]} if isinstance(f, str) else dict(f) for f in fields]
    return {"type": "record", "name": name, "namespace": AVRO_NAMESPACE, "fields": written, "version": "1.0"}
