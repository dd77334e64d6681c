"""One schema field's rule (``ColumnRule``) and a dataset's plan (``DatasetPlan``): how a value from a Put*
request (JSON) or a bulk CSV cell (text) is checked and converted to the dataset's Avro row."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from tailor_ingest.domain.errors import FieldError, constraint, member_path
from tailor_shared import schemas
from tailor_shared.errors import InvalidInputException
from tailor_shared.schemas import ParsedSchema, SchemaField

#: Timestamps are "Unix epoch time format, in seconds" (L4148, L34853, L5200). A value past 2286-11-20 is
#: a millisecond timestamp by mistake; rejecting it beats silently dating events 50,000 years ahead.
MAX_EPOCH_SECONDS: Final = 9_999_999_999
EPOCH_FIELDS: Final = frozenset({"TIMESTAMP", "CREATION_TIMESTAMP", *schemas.ACTION_EXPIRATION_FIELDS})
#: Actions: "An action's value can be 1 - 10" (L4244); repeat frequency in days, "with a maximum of 30" (L4238).
ACTION_RANGES: Final[dict[str, tuple[int, int]]] = {"VALUE": (1, 10), "REPEAT_FREQUENCY": (0, 30)}
_INT_RANGE: Final[dict[str, tuple[int, int]]] = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
_NON_ALNUM = re.compile(r"[^0-9A-Za-z]")


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
            raise constraint(value, member_path(p, member), str(err)) from None

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
                    key,
                    path,
                    f"Key '{key}' does not match a field of the {self.label} dataset's schema "
                    f"(fields: {', '.join(schemas.camel_case(n) for n in self.rules)})",
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
                    None,
                    f"{path}.properties",
                    f"Missing key '{schemas.camel_case(name)}': the {self.label} schema's field {name} can't be null",
                ) from None
        return row
