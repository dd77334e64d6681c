"""Reference evaluator: does one candidate (item, action or segment user) pass a bound filter?

This defines the semantics; the runtime compiles the same rules into vector masks over a model's item
index and is tested against this. The rules (guide lines and ADR 0005):

* Expressions chained with ``|`` are evaluated independently; the result is (union of INCLUDE matches, or
  everything when no INCLUDE applies) minus (union of EXCLUDE matches), in any order (L15537-L15563).
* An ``IF CurrentUser...`` clause gates its whole expression: when it is false (or the request has no
  known user) the expression is not applied.
* Categorical strings are multi-valued, ``|``-separated (L4517): ``IN`` matches when any value is in the
  list, ``NOT IN`` when none is (so a missing value passes ``NOT IN``). Comparisons need a value: a missing
  one fails every comparison, ``!=`` included. Only event types match case-insensitively (L15284).
* ``Interactions.EVENT_TYPE`` of an item is the set of event types the request user has with it within the
  most recent 100 per event type (300 for actions) (L15258, L15262); for a segment filter it is the event
  types the candidate user has at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tailor_shared.errors import InvalidInputException
from tailor_shared.filters.model import (
    ACTION_INTERACTIONS_WINDOW,
    ITEM_INTERACTIONS_WINDOW,
    Action,
    BoundAnd,
    BoundCondition,
    BoundFilter,
    BoundNode,
    CurrentItemRef,
    Operator,
    Scalar,
    StringSet,
    Subject,
    parse_number,
)

#: A metadata value as stored: categorical strings may hold several ``|``-separated values; a sequence is
#: taken as already split.
MetadataValue = str | int | float | bool | Sequence[str] | None
Metadata = Mapping[str, MetadataValue]
#: The request user's recent interactions: event type -> interacted item (or action) ids, most recent first.
InteractionHistory = Mapping[str, Sequence[str]]


@dataclass(frozen=True)
class _Subject:
    """What a condition reads: a metadata record and the event types linked to it."""

    metadata: Mapping[str, MetadataValue]
    event_types: frozenset[str]


def evaluate_for_item(
    bound: BoundFilter,
    item_id: str,
    item_metadata: Metadata | None,
    *,
    user_metadata: Metadata | None = None,
    user_interactions: InteractionHistory | None = None,
    current_item_metadata: Metadata | None = None,
    interactions_window: int = ITEM_INTERACTIONS_WINDOW,
) -> bool:
    """Whether ``item_id`` may be recommended. ``user_metadata`` is the CurrentUser's Users record (None:
    no user or not in the Users dataset); ``current_item_metadata`` is the related-items request's item."""
    _require_subject(bound, Subject.ITEM_ID, "item recommendations")
    if current_item_metadata is None and bound.filter.uses_current_item:
        raise InvalidInputException(
            "The filter uses CurrentItem, which needs a related-items request that names an item"
        )
    return _evaluate(
        bound,
        _Subject(_normalise(item_metadata), _linked_event_types(item_id, user_interactions, interactions_window)),
        user_metadata,
        current_item_metadata,
    )


def evaluate_for_action(
    bound: BoundFilter,
    action_id: str,
    action_metadata: Metadata | None,
    *,
    user_metadata: Metadata | None = None,
    user_action_interactions: InteractionHistory | None = None,
    interactions_window: int = ACTION_INTERACTIONS_WINDOW,
) -> bool:
    """Whether ``action_id`` may be recommended (GetActionRecommendations)."""
    _require_subject(bound, Subject.ACTION_ID, "action recommendations")
    linked = _linked_event_types(action_id, user_action_interactions, interactions_window)
    return _evaluate(bound, _Subject(_normalise(action_metadata), linked), user_metadata, None)


def evaluate_for_user(
    bound: BoundFilter,
    user_metadata: Metadata | None,
    *,
    user_interactions: InteractionHistory | None = None,
) -> bool:
    """Whether a candidate user may appear in a user segment (batch segment jobs, L15468-L15490)."""
    _require_subject(bound, Subject.USER_ID, "user segments")
    own = frozenset(event_type.casefold() for event_type, ids in (user_interactions or {}).items() if ids)
    return _evaluate(bound, _Subject(_normalise(user_metadata), own), None, None)


def user_condition_holds(if_condition: BoundNode, user_metadata: Metadata | None) -> bool:
    """Whether an ``IF CurrentUser...`` clause holds for the request user (None: no known user -> False).
    The runtime's vectorised filters gate each expression with this, so both share one semantics."""
    if user_metadata is None:
        return False
    return _matches(if_condition, _Subject(_normalise(user_metadata), frozenset()), None)


def metadata_strings(value: MetadataValue) -> tuple[str, ...]:
    """A stored metadata value as the strings a filter compares (categorical ``a|b`` is two values)."""
    return _strings(value)


def _require_subject(bound: BoundFilter, subject: Subject, what: str) -> None:
    if bound.subject is not subject:
        raise InvalidInputException(
            f"The filter filters {bound.subject.value} and can't be applied to {what}, "
            f"which need a {subject.value} filter"
        )


def _evaluate(
    bound: BoundFilter,
    candidate: _Subject,
    user_metadata: Metadata | None,
    current_item_metadata: Metadata | None,
) -> bool:
    current_user = None if user_metadata is None else _Subject(_normalise(user_metadata), frozenset())
    current_item = None if current_item_metadata is None else _normalise(current_item_metadata)
    included: bool | None = None  # None: no INCLUDE expression applies
    for expression in bound.expressions:
        if expression.if_condition is not None and (
            current_user is None or not _matches(expression.if_condition, current_user, None)
        ):
            continue
        matched = _matches(expression.where, candidate, current_item)
        if expression.action is Action.EXCLUDE:
            if matched:
                return False
        else:
            included = bool(included) or matched
    return included is not False


def _matches(node: BoundNode, subject: _Subject, current_item: Mapping[str, MetadataValue] | None) -> bool:
    if isinstance(node, BoundCondition):
        return _condition(node, subject, current_item)
    if isinstance(node, BoundAnd):
        return all(_matches(operand, subject, current_item) for operand in node.operands)
    return any(_matches(operand, subject, current_item) for operand in node.operands)


def _condition(condition: BoundCondition, subject: _Subject, current_item: Mapping[str, MetadataValue] | None) -> bool:
    value = condition.value
    if condition.field.dataset.is_interactions:
        assert isinstance(value, StringSet)  # the parser allows only IN / NOT IN on event types
        wanted = {v.casefold() for v in value.values}
        hit = bool(subject.event_types) if value.wildcard else not wanted.isdisjoint(subject.event_types)
        return hit if condition.operator is Operator.IN else not hit
    mine = _strings(subject.metadata.get(condition.field.name))
    if condition.operator.is_membership:
        if isinstance(value, CurrentItemRef):
            theirs: tuple[str, ...] = _strings(current_item.get(value.name)) if current_item else ()
        else:
            assert isinstance(value, StringSet)
            theirs = value.values
        hit = not set(theirs).isdisjoint(mine)
        return hit if condition.operator is Operator.IN else not hit
    if isinstance(value, CurrentItemRef):
        others = _strings(current_item.get(value.name)) if current_item else ()
    else:
        assert isinstance(value, Scalar)
        others = (value.text,)
    if not mine or not others:
        return False
    if condition.operator is Operator.NE:
        return not any(_equal(a, b) for a in mine for b in others)
    return any(_compare(condition.operator, a, b) for a in mine for b in others)


def _equal(a: str, b: str) -> bool:
    """Numbers compare as numbers (``18`` = ``18.0``), anything else as exact strings."""
    x, y = parse_number(a), parse_number(b)
    if x is not None and y is not None:
        return x == y
    return a == b


def _compare(operator: Operator, a: str, b: str) -> bool:
    if operator is Operator.EQ:
        return _equal(a, b)
    x, y = parse_number(a), parse_number(b)
    if x is None or y is None:
        return False
    if operator is Operator.LT:
        return x < y
    if operator is Operator.LE:
        return x <= y
    if operator is Operator.GT:
        return x > y
    return x >= y


def _strings(value: MetadataValue) -> tuple[str, ...]:
    """A stored value as the strings a filter sees; categorical ``a|b`` is two values (L4517)."""
    if value is None:
        return ()
    if isinstance(value, bool):
        return ("True" if value else "False",)
    if isinstance(value, int):
        return (str(value),)
    if isinstance(value, float):
        return (str(int(value)) if value.is_integer() else repr(value),)
    if isinstance(value, str):
        return tuple(part for part in value.split("|") if part)
    return tuple(str(part) for part in value if part)


def _normalise(metadata: Metadata | None) -> dict[str, MetadataValue]:
    """Field names are case-insensitive in expressions (ADR 0005): look them up upper-cased."""
    return {key.upper(): value for key, value in (metadata or {}).items()}


def _linked_event_types(candidate_id: str, history: InteractionHistory | None, window: int) -> frozenset[str]:
    """Event types by which the request user reached the candidate, within the per-type window."""
    if not history:
        return frozenset()
    return frozenset(event_type.casefold() for event_type, ids in history.items() if candidate_id in ids[:window])
