"""Batch segment jobs' pure core (data-events-filters-batch.md §5.4; L13184-L13570): input lines -> queries,
the users of every query ranked over the model's training users, segments -> the guide's output lines.

Item-Affinity lines are ``{"itemId": "105"}``; Item-Attribute-Affinity lines are ``{"itemAttributes":
"ITEMS.genres = \\"Comedy\\" AND ITEMS.genres = \\"Action\\""}`` — conditions on the Items dataset's columns
joined by ``AND`` only, ``=`` for strings (categorical values match any of an item's ``|``-separated values),
``=``, ``<``, ``<=``, ``>``, ``>=`` for numbers (ADR 0016). A line that cannot be answered gets
``{"input": <line>, "error": "<why>"}``; the job goes on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import numpy as np
import numpy.typing as npt

from tailor_batch.domain.lines import LineError, _identifier, _string_map
from tailor_shared.filters.model import parse_number
from tailor_shared.scoring.segments import TopUsers, probabilities, query_values

ITEM_AFFINITY: Final = "aws-item-affinity"
ITEM_ATTRIBUTE_AFFINITY: Final = "aws-item-attribute-affinity"
#: Queries per input file: "a maximum of 500 items" (L6887) / "a maximum of 10 queries" (L6930).
MAX_QUERIES_PER_FILE: Final = {ITEM_AFFINITY: 500, ITEM_ATTRIBUTE_AFFINITY: 10}
DEFAULT_USERS: Final = 25  # numResults' default (recipes.md §10)
MAX_EXPRESSION_LENGTH: Final = 1000

_CONDITION = re.compile(
    r"""\s*ITEMS\.(?P<field>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op><=|>=|=|<|>)\s*
        (?:"(?P<string>(?:[^"\\]|\\.)*)"|(?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?))\s*$""",
    re.IGNORECASE | re.VERBOSE,
)
_AND = re.compile(r"\s+AND\s+", re.IGNORECASE)


@dataclass(frozen=True)
class Condition:
    field: str  # upper case, as item metadata is indexed
    operator: str
    value: str | float


@dataclass(frozen=True)
class SegmentLine:
    """One input line, checked."""

    raw: Mapping[str, Any]
    item_id: str | None = None
    conditions: tuple[Condition, ...] = ()
    filter_values: Mapping[str, str] = field(default_factory=dict)


def recipe_of(recipe_arn: str) -> str:
    """The recipe name of a USER_SEGMENTATION model (``aws-item-affinity`` / ``aws-item-attribute-affinity``)."""
    return recipe_arn.rsplit("/", 1)[-1]


def parse_attributes(text: str) -> tuple[Condition, ...]:
    """``ITEMS.<column> <op> <value>`` conditions joined by AND (no OR, no IN, no parentheses)."""
    if not text.strip():
        raise LineError("itemAttributes must not be empty")
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise LineError(f"itemAttributes must have length less than or equal to {MAX_EXPRESSION_LENGTH}")
    out: list[Condition] = []
    for part in _AND.split(text.strip()):
        match = _CONDITION.match(part)
        if match is None:
            raise LineError(
                f'Invalid item attribute expression: {part.strip()!r}; use ITEMS.<column> = "<value>" '
                "(numbers may use =, <, <=, >, >=), joined with AND"
            )
        string = match.group("string")
        if string is not None and match.group("op") != "=":
            raise LineError("Item attribute expressions compare strings with = only")
        value: str | float = string.replace('\\"', '"') if string is not None else float(match.group("number"))
        out.append(Condition(match.group("field").upper(), match.group("op"), value))
    return tuple(out)


def parse_segment_line(obj: Mapping[str, Any], recipe: str) -> SegmentLine:
    filter_values = _string_map(obj, "filterValues")
    if recipe == ITEM_AFFINITY:
        return SegmentLine(obj, item_id=_identifier(obj, "itemId", required=True), filter_values=filter_values)
    text = obj.get("itemAttributes")
    if not isinstance(text, str):
        raise LineError("The input line needs itemAttributes, a string")
    return SegmentLine(obj, conditions=parse_attributes(text), filter_values=filter_values)


def _holds(condition: Condition, value: str | None) -> bool:
    if value is None:
        return False
    if isinstance(condition.value, str):
        return condition.value in value.split("|")
    number = parse_number(value)
    if number is None:
        return False
    target = condition.value
    return {
        "=": number == target,
        "<": number < target,
        "<=": number <= target,
        ">": number > target,
        ">=": number >= target,
    }[condition.operator]


def matching_items(
    conditions: Sequence[Condition], item_ids: Sequence[str], metadata: Mapping[str, Mapping[str, str]]
) -> npt.NDArray[np.int64]:
    """The model's item indices whose metadata satisfies every condition."""
    rows = [
        k
        for k, item in enumerate(item_ids)
        if all(_holds(c, (metadata.get(item) or {}).get(c.field)) for c in conditions)
    ]
    return np.asarray(rows, dtype=np.int64)


def check_query_count(recipe: str, n_lines: int, file_name: str) -> str | None:
    """The failureReason when a file holds more queries than the recipe allows, else None."""
    limit = MAX_QUERIES_PER_FILE.get(recipe)
    if limit is not None and n_lines > limit:
        what = "items" if recipe == ITEM_AFFINITY else "item attribute queries"
        return f"{file_name} has {n_lines} input lines; a batch segment job file holds at most {limit} {what}"
    return None


def segment_line(raw: Mapping[str, Any], recipe: str, users: Sequence[str]) -> str:
    """The guide's output: Item-Affinity wraps the input (``{"input": ..., "output": ...}``); Item-Attribute-Affinity
    lines keep the input's fields at the top level next to ``output`` (the guide's examples)."""
    output = {"recommendedUsers": list(users)}
    line = {"input": raw, "output": output} if recipe == ITEM_AFFINITY else {**raw, "output": output}
    return json.dumps(line, separators=(",", ":"))


class SegmentModel(Protocol):
    user_ids: Sequence[str]

    def trained_histories(self, start: int, stop: int) -> list[list[int]]: ...

    def score_histories(self, histories: Sequence[Sequence[int]]) -> npt.NDArray[np.float32]: ...


#: (first user row, stop row) -> (users in the chunk, queries) allowed mask, or None when nothing is filtered.
Allowed = Callable[[int, int], npt.NDArray[np.bool_] | None]


def rank_users(
    model: SegmentModel,
    queries: Sequence[npt.NDArray[np.int64]],
    num_results: int,
    chunk: int,
    allowed: Allowed,
    progress: Callable[[int], None] | None = None,
) -> list[list[str]]:
    """Each query's ``num_results`` best users, best first: the training users scored ``chunk`` at a time in
    one model run (their histories at training time), softmax over the catalogue, summed over the query's
    items (``tailor_shared.scoring.segments``)."""
    n_users = len(model.user_ids)
    top = TopUsers(len(queries), min(num_results, n_users))
    if queries:
        for start in range(0, n_users, chunk):
            stop = min(start + chunk, n_users)
            scores = model.score_histories(model.trained_histories(start, stop))
            values = query_values(probabilities(scores), queries)
            top.add(values, np.arange(start, stop, dtype=np.int64), allowed(start, stop))
            if progress is not None:
                progress(stop)
    return [[model.user_ids[int(r)] for r in rows] for rows in top.result()]
