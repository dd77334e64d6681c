"""Tag validation (Tag data type and "Tagging Amazon Personalize resources", L17990-18040).

A request may carry up to 200 Tag objects, but a resource may hold only 50 tags; keys and values are
case-sensitive, keys 1-128 and values 0-256 characters from ``[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]``, and neither
may start with ``aws:`` (reserved for AWS, L18035).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tailor_control.domain.validate import Request, constraint, tag_chars_ok
from tailor_shared.errors import InvalidInputException, TooManyTagKeysException, TooManyTagsException

MAX_TAGS_PER_REQUEST = 200
TAG_KEY_MAX = 128
TAG_VALUE_MAX = 256
TAG_PATTERN_TEXT = r"^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$"
RESERVED_PREFIX = "aws:"


def _check_key(key: Any, path: str) -> str:
    if key is None:
        raise constraint(None, path, "Member must not be null")
    if not isinstance(key, str):
        raise constraint(key, path, "Member must be a string")
    if not 1 <= len(key) <= TAG_KEY_MAX:
        raise constraint(key, path, f"Member must have length between 1 and {TAG_KEY_MAX}")
    if not tag_chars_ok(key):
        raise constraint(key, path, f"Member must satisfy regular expression pattern: {TAG_PATTERN_TEXT}")
    if key.lower().startswith(RESERVED_PREFIX):
        raise InvalidInputException(f"Tag keys can't start with '{RESERVED_PREFIX}': {key}")
    return key


def _check_value(value: Any, path: str) -> str:
    if value is None:
        return ""  # proto3 JSON omits an empty string; the empty value is legal (0-256).
    if not isinstance(value, str):
        raise constraint(value, path, "Member must be a string")
    if len(value) > TAG_VALUE_MAX:
        raise constraint(value, path, f"Member must have length less than or equal to {TAG_VALUE_MAX}")
    if not tag_chars_ok(value):
        raise constraint(value, path, f"Member must satisfy regular expression pattern: {TAG_PATTERN_TEXT}")
    if value.lower().startswith(RESERVED_PREFIX):
        raise InvalidInputException(f"Tag values can't start with '{RESERVED_PREFIX}': {value}")
    return value


def parse_tags(req: Request, field: str = "tags", *, required: bool = False) -> dict[str, str]:
    """Validate a ``tags`` array into a key->value dict; a key may appear only once (L18033)."""
    items = req.array(field, required=required, max_items=MAX_TAGS_PER_REQUEST) or []
    out: dict[str, str] = {}
    for i, item in enumerate(items):
        path = f"{req.path(field)}.{i + 1}"
        if not isinstance(item, Mapping):
            raise constraint(item, path, "Member must be a structure")
        key = _check_key(item.get("tagKey"), f"{path}.member.tagKey")
        value = _check_value(item.get("tagValue"), f"{path}.member.tagValue")
        if key in out:
            raise InvalidInputException(f"Duplicate tag key in request: {key}")
        out[key] = value
    return out


def check_tag_count(tags: Mapping[str, str], limit: int) -> None:
    """At most ``limit`` (50) tags per resource: TooManyTagsException past it."""
    if len(tags) > limit:
        raise TooManyTagsException(
            "You have exceeded the maximum number of tags you can apply to this resource. "
            f"A resource can have at most {limit} tags; this request would leave {len(tags)}."
        )


def parse_tag_keys(req: Request, limit: int, field: str = "tagKeys") -> list[str]:
    """UntagResource.tagKeys: 0-200 keys, each 1-128 with the tag pattern; more keys than a resource can
    carry (50) is TooManyTagKeysException."""
    items = req.array(field, required=True, max_items=MAX_TAGS_PER_REQUEST) or []
    if len(items) > limit:
        raise TooManyTagKeysException(
            f"The request contains more tag keys than can be associated with a resource ({limit} tag keys per "
            "resource)."
        )
    return [_check_key(k, f"{req.path(field)}.{i + 1}.member") for i, k in enumerate(items)]


def as_tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"tagKey": k, "tagValue": v} for k, v in sorted(tags.items())]
