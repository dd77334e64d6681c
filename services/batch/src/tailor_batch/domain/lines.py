"""Batch inference JSON lines (data-events-filters-batch.md §5.2, §5.5; L12485-L12930): one input object per
line -> a request; the answer -> the output line, shaped as the guide's examples for each recipe type.

A line that cannot be processed gets ``{"input": <the line as read>, "error": "<why>"}`` and the job goes on
(ADR 0016). Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tailor_shared.validation import MAX_ID_LENGTH

MAX_INPUT_LIST = 500  # as GetPersonalizedRanking's inputList
MAX_INPUT_FILES = 1000  # "up to 1000 input files" (L12787; quotas L19760)
MAX_INPUT_BYTES = 1024**3  # "1 GB of input data in total"
MAX_RECORDS_PER_FILE = 50_000_000  # "50 million records per input file"
DEFAULT_RESULTS = 25  # the console's default; the API leaves numResults optional
OUTPUT_SUFFIX = ".out"  # <input-name>.out (L12831)

#: The input field each recipe type needs (the guide's input examples).
RECIPE_TYPES = ("USER_PERSONALIZATION", "PERSONALIZED_RANKING", "RELATED_ITEMS", "POPULAR_ITEMS")


class LineError(ValueError):
    """Why one input line cannot be answered; its message goes into the line's ``error``."""


@dataclass(frozen=True)
class InferenceLine:
    """One input line, checked: what the request of the line asks."""

    raw: Mapping[str, Any]  # the object as read, echoed as "input"
    user_id: str | None = None
    item_id: str | None = None
    item_list: tuple[str, ...] = ()
    filter_values: Mapping[str, str] = field(default_factory=dict)
    context: Mapping[str, str] = field(default_factory=dict)


def _identifier(obj: Mapping[str, Any], name: str, required: bool) -> str | None:
    value = obj.get(name)
    if value is None or value == "":
        if required:
            raise LineError(f"The input line needs {name}")
        return None
    if not isinstance(value, str):
        raise LineError(f"{name} must be a string")
    if len(value) > MAX_ID_LENGTH:
        raise LineError(f"{name} must have length less than or equal to {MAX_ID_LENGTH}")
    return value


def _string_map(obj: Mapping[str, Any], name: str) -> dict[str, str]:
    value = obj.get(name)
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise LineError(f"{name} must be a map of strings to strings")
    return dict(value)


def parse_object(text: str) -> Mapping[str, Any]:
    """The line's JSON object; LineError for anything else (the error line then echoes the text)."""
    try:
        value = json.loads(text)
    except ValueError as err:
        raise LineError(f"The input line is not valid JSON: {err}") from None
    if not isinstance(value, dict):
        raise LineError("The input line must be a JSON object")
    return value


def parse_line(obj: Mapping[str, Any], recipe_type: str) -> InferenceLine:
    """The request of one input object for a solution version of ``recipe_type``."""
    filter_values = _string_map(obj, "filterValues")
    context = _string_map(obj, "context")
    if recipe_type == "RELATED_ITEMS":
        item = _identifier(obj, "itemId", required=True)
        return InferenceLine(obj, item_id=item, filter_values=filter_values, context=context)
    if recipe_type == "PERSONALIZED_RANKING":
        user = _identifier(obj, "userId", required=True)
        items = obj.get("itemList")
        if not isinstance(items, list) or not items:
            raise LineError("The input line needs itemList, a non-empty list of item IDs")
        if len(items) > MAX_INPUT_LIST:
            raise LineError(f"itemList can contain at most {MAX_INPUT_LIST} items")
        if not all(isinstance(i, str) and 0 < len(i) <= MAX_ID_LENGTH for i in items):
            raise LineError(f"itemList items must be strings of 1-{MAX_ID_LENGTH} characters")
        return InferenceLine(obj, user_id=user, item_list=tuple(items), filter_values=filter_values, context=context)
    user = _identifier(obj, "userId", required=recipe_type == "USER_PERSONALIZATION")
    return InferenceLine(obj, user_id=user, filter_values=filter_values, context=context)


def output_line(
    raw: Mapping[str, Any],
    recipe_type: str,
    items: Sequence[str],
    scores: Sequence[float | None],
    reasons: Sequence[Sequence[str]] | None,
) -> str:
    """The guide's output line: ``recommendedItems``, then ``scores`` for scored recipes (USER_PERSONALIZATION,
    PERSONALIZED_RANKING; ``null`` for an item shown without a score, as a UP-v2 popular backfill), then
    ``reasons`` (User-Personalization-v2: one list per item, possibly empty)."""
    output: dict[str, Any] = {"recommendedItems": list(items)}
    if recipe_type in ("USER_PERSONALIZATION", "PERSONALIZED_RANKING"):
        output["scores"] = [None if s is None else round(float(s), 7) for s in scores]
    if reasons is not None:
        output["reasons"] = [list(r) for r in reasons]
    return json.dumps({"input": raw, "output": output}, separators=(",", ":"))


def error_line(raw: Mapping[str, Any] | str, message: str) -> str:
    return json.dumps({"input": raw, "error": message}, separators=(",", ":"))


def output_name(input_name: str) -> str:
    return input_name + OUTPUT_SUFFIX


def check_inputs(sizes: Sequence[int]) -> str | None:
    """The guide's input limits; the failureReason when they are exceeded, else None."""
    if not sizes:
        return "Invalid S3 input path: no input file matches the path"
    if len(sizes) > MAX_INPUT_FILES:
        return f"The input path matches {len(sizes)} files; a batch job reads at most {MAX_INPUT_FILES}"
    total = sum(sizes)
    if total > MAX_INPUT_BYTES:
        return f"The input files hold {total} bytes; a batch job reads at most 1 GB"
    return None
