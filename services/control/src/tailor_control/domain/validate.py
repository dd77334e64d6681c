"""Request field validation with the constraints the API reference prints for each member.

Messages follow AWS's standard validation wording ("Value 'x' at 'name' failed to satisfy constraint: ...")
so clients and people see what they would see from Personalize, always naming the offending field.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

from tailor_shared import arns
from tailor_shared.errors import InvalidInputException
from tailor_shared.validation import validation_error

#: NAME: "Minimum length of 1. Maximum length of 63." Pattern ``^[a-zA-Z0-9][a-zA-Z0-9\-_]*``.
NAME_PATTERN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-_]*")
NAME_PATTERN_TEXT = r"^[a-zA-Z0-9][a-zA-Z0-9\-_]*"
NAME_MAX = 63
#: S3PATH: ``(s3|http|https)://.+`` max 256 (S3DataConfig.path, DataSource.dataLocation). Tailor also
#: accepts ``file://`` so a self-hosted stack can read and write local files (ADR 0002).
S3_PATH_PATTERN = re.compile(r"(s3|http|https|file)://.+")
S3_PATH_PATTERN_TEXT = "(s3|http|https)://.+"
S3_PATH_MAX = 256
# The ARN patterns as messages print them; the compiled patterns and lengths are tailor_shared.arns'.
ARN_PATTERN_TEXT = arns.ARN_PATTERN.pattern
LOOSE_ARN_PATTERN_TEXT = arns.LOOSE_ARN_PATTERN.pattern
ROLE_PATTERN_TEXT = arns.ROLE_ARN_PATTERN.pattern
KMS_PATTERN_TEXT = arns.KMS_ARN_PATTERN.pattern
#: SMAP: "Map Entries: Maximum number of 100 items", key max 256, value max 1000.
SMAP_MAX_ENTRIES = 100
SMAP_KEY_MAX = 256
SMAP_VALUE_MAX = 1000


def invalid(message: str) -> InvalidInputException:
    return InvalidInputException(message)


def constraint(value: Any, path: str, rule: str) -> InvalidInputException:
    return validation_error(value, path, rule)


def tag_chars_ok(text: str) -> bool:
    """Tag pattern ``^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$``: letters, separators, numbers and ``_.:/=+-@``."""
    for ch in text:
        if ch in "_.:/=+-@":
            continue
        if unicodedata.category(ch)[0] not in ("L", "Z", "N"):
            return False
    return True


class Request:
    """Typed, validating access to one request object (or a nested member, with ``prefix`` for messages)."""

    def __init__(self, data: Mapping[str, Any] | None, prefix: str = "") -> None:
        self.data: Mapping[str, Any] = data or {}
        self.prefix = prefix

    def path(self, field: str) -> str:
        return f"{self.prefix}{field}"

    def has(self, field: str) -> bool:
        return self.data.get(field) is not None

    def raw(self, field: str) -> Any:
        return self.data.get(field)

    # --- scalars -------------------------------------------------------------------------------------

    def string(
        self,
        field: str,
        *,
        required: bool = False,
        min_len: int = 0,
        max_len: int | None = None,
        pattern: re.Pattern[str] | None = None,
        pattern_text: str | None = None,
    ) -> str | None:
        value = self.data.get(field)
        path = self.path(field)
        if value is None:
            if required:
                raise constraint(None, path, "Member must not be null")
            return None
        if not isinstance(value, str):
            raise constraint(value, path, "Member must be a string")
        if len(value) < min_len:
            raise constraint(value, path, f"Member must have length greater than or equal to {min_len}")
        if max_len is not None and len(value) > max_len:
            raise constraint(value, path, f"Member must have length less than or equal to {max_len}")
        if pattern is not None and not pattern.fullmatch(value):
            raise constraint(
                value, path, f"Member must satisfy regular expression pattern: {pattern_text or pattern.pattern}"
            )
        return value

    def req_string(self, field: str, **kwargs: Any) -> str:
        value = self.string(field, required=True, **kwargs)
        assert value is not None
        return value

    def name(self, field: str = "name", *, required: bool = True) -> str | None:
        return self.string(
            field,
            required=required,
            min_len=1,
            max_len=NAME_MAX,
            pattern=NAME_PATTERN,
            pattern_text=NAME_PATTERN_TEXT,
        )

    def req_name(self, field: str = "name") -> str:
        value = self.name(field, required=True)
        assert value is not None
        return value

    def arn(self, field: str, *, required: bool = False, loose: bool = False) -> str | None:
        pattern = arns.LOOSE_ARN_PATTERN if loose else arns.ARN_PATTERN
        text = LOOSE_ARN_PATTERN_TEXT if loose else ARN_PATTERN_TEXT
        return self.string(field, required=required, max_len=arns.ARN_MAX_LENGTH, pattern=pattern, pattern_text=text)

    def req_arn(self, field: str, *, loose: bool = False) -> str:
        value = self.arn(field, required=True, loose=loose)
        assert value is not None
        return value

    def role_arn(self, field: str = "roleArn", *, required: bool = True) -> str | None:
        return self.string(
            field,
            required=required,
            max_len=arns.ARN_MAX_LENGTH,
            pattern=arns.ROLE_ARN_PATTERN,
            pattern_text=ROLE_PATTERN_TEXT,
        )

    def kms_arn(self, field: str = "kmsKeyArn") -> str | None:
        return self.string(
            field, max_len=arns.KMS_ARN_MAX_LENGTH, pattern=arns.KMS_ARN_PATTERN, pattern_text=KMS_PATTERN_TEXT
        )

    def s3_path(self, field: str, *, required: bool) -> str | None:
        return self.string(
            field,
            required=required,
            max_len=S3_PATH_MAX,
            pattern=S3_PATH_PATTERN,
            pattern_text=S3_PATH_PATTERN_TEXT,
        )

    def enum(
        self,
        field: str,
        values: Iterable[str],
        *,
        required: bool = False,
        default: str | None = None,
        case_insensitive: bool = False,
    ) -> str | None:
        allowed = list(values)
        value = self.string(field, required=required)
        if value is None:
            return default
        if case_insensitive:
            for v in allowed:
                if v.lower() == value.lower():
                    return v
        elif value in allowed:
            return value
        raise constraint(value, self.path(field), f"Member must satisfy enum value set: [{', '.join(allowed)}]")

    def boolean(self, field: str, default: bool) -> bool:
        value = self.data.get(field)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise constraint(value, self.path(field), "Member must be a boolean")
        return value

    def opt_boolean(self, field: str) -> bool | None:
        return None if self.data.get(field) is None else self.boolean(field, False)

    def integer(
        self,
        field: str,
        *,
        required: bool = False,
        minimum: int | None = None,
        maximum: int | None = None,
        default: int | None = None,
    ) -> int | None:
        value = self.data.get(field)
        path = self.path(field)
        if value is None:
            if required:
                raise constraint(None, path, "Member must not be null")
            return default
        # proto3 JSON renders int64 as a string; accept integral strings too.
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
            value = int(value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise constraint(value, path, "Member must be an integer")
        if minimum is not None and value < minimum:
            raise constraint(value, path, f"Member must have value greater than or equal to {minimum}")
        if maximum is not None and value > maximum:
            raise constraint(value, path, f"Member must have value less than or equal to {maximum}")
        return value

    # --- structures ----------------------------------------------------------------------------------

    def obj(self, field: str, *, required: bool = False) -> Request | None:
        value = self.data.get(field)
        path = self.path(field)
        if value is None:
            if required:
                raise constraint(None, path, "Member must not be null")
            return None
        if not isinstance(value, Mapping):
            raise constraint(value, path, "Member must be a structure")
        return Request(value, prefix=f"{path}.")

    def req_obj(self, field: str) -> Request:
        value = self.obj(field, required=True)
        assert value is not None
        return value

    def array(
        self, field: str, *, required: bool = False, min_items: int = 0, max_items: int | None = None
    ) -> list[Any] | None:
        value = self.data.get(field)
        path = self.path(field)
        if value is None:
            if required:
                raise constraint(None, path, "Member must not be null")
            return None
        if not isinstance(value, list | tuple):
            raise constraint(value, path, "Member must be a list")
        if len(value) < min_items:
            raise constraint(value, path, f"Member must have length greater than or equal to {min_items}")
        if max_items is not None and len(value) > max_items:
            raise constraint(value, path, f"Member must have length less than or equal to {max_items}")
        return list(value)

    def smap(
        self,
        field: str,
        *,
        max_entries: int = SMAP_MAX_ENTRIES,
        key_max: int = SMAP_KEY_MAX,
        value_max: int = SMAP_VALUE_MAX,
    ) -> dict[str, str] | None:
        """A string->string map with the SMAP limits (hyperparameters, exploration config, ...)."""
        value = self.data.get(field)
        path = self.path(field)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise constraint(value, path, "Member must be a map")
        if len(value) > max_entries:
            raise constraint(dict(value), path, f"Member must have length less than or equal to {max_entries}")
        out: dict[str, str] = {}
        for k, v in value.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise constraint(dict(value), path, "Map keys and values must be strings")
            if len(k) > key_max:
                raise constraint(k, f"{path}.key", f"Member must have length less than or equal to {key_max}")
            if len(v) > value_max:
                raise constraint(v, f"{path}.{k}", f"Member must have length less than or equal to {value_max}")
            out[k] = v
        return out


def s3_data_config(req: Request, field: str, *, required: bool) -> dict[str, Any] | None:
    """S3DataConfig: ``path`` (req, S3PATH) and optional ``kmsKeyArn`` (KMS)."""
    sub = req.obj(field, required=required)
    if sub is None:
        return None
    out: dict[str, Any] = {"path": sub.s3_path("path", required=True)}
    kms = sub.kms_arn("kmsKeyArn")
    if kms is not None:
        out["kmsKeyArn"] = kms
    return out


def data_source(req: Request, field: str = "dataSource") -> dict[str, Any]:
    """DataSource: ``dataLocation`` (S3PATH). The type marks it optional, but an import or deletion job
    without a location has nothing to read, so Tailor requires it (ADR 0002)."""
    sub = req.req_obj(field)
    return {"dataLocation": sub.s3_path("dataLocation", required=True)}


def item_exploration_config(req: Request, field: str = "itemExplorationConfig") -> dict[str, str] | None:
    """itemExplorationConfig's shape (SMAP); its keys and values are the recipe's to check (catalogue)."""
    return req.smap(field)


_DATASET_TYPE_KEYS = ("INTERACTIONS", "ITEMS", "USERS", "ACTIONS", "ACTION_INTERACTIONS")


def excluded_dataset_columns(req: Request, field: str = "excludedDatasetColumns") -> dict[str, list[str]] | None:
    """TrainingDataConfig.excludedDatasetColumns: <= 3 keys (dataset types), <= 50 columns each, each
    column <= 150 chars. Accepts protobuf's ``{"values": [...]}`` list wrapper as well."""
    value = req.raw(field)
    path = req.path(field)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise constraint(value, path, "Member must be a map")
    if len(value) > 3:
        raise constraint(dict(value), path, "Member must have length less than or equal to 3")
    out: dict[str, list[str]] = {}
    for key, cols in value.items():
        if isinstance(cols, Mapping):
            cols = cols.get("values") or []
        if not isinstance(key, str) or key.upper() not in _DATASET_TYPE_KEYS:
            raise constraint(key, f"{path}.key", f"Member must be a dataset type: [{', '.join(_DATASET_TYPE_KEYS)}]")
        if not isinstance(cols, list | tuple) or len(cols) > 50:
            raise constraint(cols, f"{path}.{key}", "Member must have length less than or equal to 50")
        names: list[str] = []
        for col in cols:
            if not isinstance(col, str) or len(col) > 150:
                raise constraint(col, f"{path}.{key}.member", "Member must have length less than or equal to 150")
            names.append(col)
        out[key] = names
    return out
