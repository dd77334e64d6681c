"""Checks that need the dataset group's schemas: field existence and types, and the group-wide field quota.

Parsing alone can't know that ``Items.DESCRIPTION`` is textual or ``Items.AVAILABLE`` boolean; CreateFilter
runs these checks with the field types of the dataset group's schemas so bad filters fail at creation, not
silently at request time.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

from tailor_shared.errors import InvalidInputException, LimitExceededException
from tailor_shared.filters.model import (
    EVENT_TYPE_FIELD,
    MAX_DISTINCT_FIELDS_PER_DATASET_GROUP,
    Condition,
    CurrentItemRef,
    Dataset,
    FieldRef,
    FilterExpression,
    Operator,
    Scalar,
)

_PREFIX = "Invalid filter expression: "
_NUMERIC_AVRO_TYPES = frozenset({"int", "long", "float", "double"})


class FieldType(StrEnum):
    """How a schema field can be filtered."""

    CATEGORICAL = "categorical"  # string with "categorical": true; |-separated multi-values
    STRING = "string"  # plain string: not trained on, but filterable (L4200)
    TEXTUAL = "textual"  # unstructured text: never filterable (L15282)
    NUMERIC = "numeric"  # int, long, float, double
    BOOLEAN = "boolean"  # never filterable (L15289, L18539)

    @property
    def is_string(self) -> bool:
        return self in (FieldType.CATEGORICAL, FieldType.STRING)


def field_types_from_avro(dataset: Dataset, schema: Mapping[str, Any] | str) -> dict[str, FieldType]:
    """``{"Items.GENRES": FieldType.CATEGORICAL, ...}`` from a Personalize Avro schema (JSON or parsed)."""
    parsed: Mapping[str, Any] = json.loads(schema) if isinstance(schema, str) else schema
    types: dict[str, FieldType] = {}
    for avro_field in parsed.get("fields", []):
        kind = _avro_kind(avro_field.get("type"))
        if kind is None:
            continue
        name = f"{dataset.value}.{str(avro_field['name']).upper()}"
        if kind == "string":
            if avro_field.get("textual"):
                types[name] = FieldType.TEXTUAL
            elif avro_field.get("categorical"):
                types[name] = FieldType.CATEGORICAL
            else:
                types[name] = FieldType.STRING
        elif kind in _NUMERIC_AVRO_TYPES:
            types[name] = FieldType.NUMERIC
        elif kind == "boolean":
            types[name] = FieldType.BOOLEAN
    return types


def _avro_kind(avro_type: Any) -> str | None:
    """The non-null primitive of a field type: ``"string"``, ``["null", "long"]``, ``{"type": "float"}``."""
    if isinstance(avro_type, str):
        return None if avro_type == "null" else avro_type
    if isinstance(avro_type, list):
        kinds = [k for k in (_avro_kind(t) for t in avro_type) if k is not None]
        return kinds[0] if len(kinds) == 1 else None
    if isinstance(avro_type, Mapping):
        return _avro_kind(avro_type.get("type"))
    return None


def check_filter_fields(expr: FilterExpression, field_types: Mapping[str, FieldType]) -> None:
    """Reject unknown, textual and boolean fields and operators that don't fit a field's type.

    ``field_types`` holds every field of the dataset group's datasets, keyed ``Dataset.FIELD`` (see
    ``field_types_from_avro``). Interactions' EVENT_TYPE needs no schema entry: every event has one.
    """
    types = {_canonical(key): kind for key, kind in field_types.items()}
    present = {key.partition(".")[0] for key in types}
    for expression in expr.expressions:
        for condition in expression.conditions():
            if condition.field.dataset.is_interactions and condition.field.name == EVENT_TYPE_FIELD:
                continue
            kind = _field_type(condition.field, condition, types, present)
            _check_operator(condition, condition.field, kind)
            if isinstance(condition.value, CurrentItemRef):
                other = _field_type(condition.value.field, condition, types, present)
                _check_operator(condition, condition.value.field, other)
            elif isinstance(condition.value, Scalar) and kind is FieldType.NUMERIC and condition.value.number is None:
                raise InvalidInputException(
                    f'{_PREFIX}{condition.field} is numeric and can\'t equal the string "{condition.value.text}" '
                    f"at position {condition.position}"
                )


def _canonical(key: str) -> str:
    dataset, _, name = key.partition(".")
    return f"{dataset}.{name.upper()}"


def _field_type(ref: FieldRef, condition: Condition, types: Mapping[str, FieldType], present: set[str]) -> FieldType:
    if ref.dataset.value not in present:
        raise InvalidInputException(
            f"{_PREFIX}{ref} at position {condition.position} uses the {ref.dataset.value} dataset, "
            f"but the dataset group has no {ref.dataset.value} dataset"
        )
    kind = types.get(ref.qualified)
    if kind is None:
        raise InvalidInputException(
            f"{_PREFIX}{ref} at position {condition.position} is not a field of the {ref.dataset.value} schema"
        )
    if kind is FieldType.TEXTUAL:
        raise InvalidInputException(
            f"{_PREFIX}{ref} at position {condition.position} is unstructured text (textual), which filters can't use"
        )
    if kind is FieldType.BOOLEAN:
        raise InvalidInputException(
            f"{_PREFIX}{ref} at position {condition.position} is boolean, which filters can't use; store "
            '"True"/"False" in a string field or 0/1 in an int field instead'
        )
    return kind


def _check_operator(condition: Condition, ref: FieldRef, kind: FieldType) -> None:
    operator = condition.operator
    if operator.is_range and kind is not FieldType.NUMERIC:
        raise InvalidInputException(
            f'{_PREFIX}"{operator.value}" compares numbers, but {ref} is a {kind.value} field '
            f"(at position {condition.position})"
        )
    if operator in (Operator.IN, Operator.NOT_IN) and not kind.is_string:
        raise InvalidInputException(
            f'{_PREFIX}"{operator.value}" matches strings, but {ref} is a {kind.value} field; '
            f"use = or != for numbers (at position {condition.position})"
        )


def check_dataset_group_field_limit(new: FilterExpression, existing: Iterable[FilterExpression]) -> None:
    """At most 10 distinct dataset fields across a dataset group's filters (L15290, L19747)."""
    fields = set(new.fields)
    for other in existing:
        fields |= other.fields
    if len(fields) > MAX_DISTINCT_FIELDS_PER_DATASET_GROUP:
        raise LimitExceededException(
            f"The dataset group's filters would use {len(fields)} distinct dataset fields "
            f"({', '.join(sorted(fields))}); the maximum is {MAX_DISTINCT_FIELDS_PER_DATASET_GROUP}"
        )
