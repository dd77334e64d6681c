"""Request-time ``filterValues``: decoding and binding them into a parsed filter.

Personalize passes each parameter's values as one string of comma-separated, double-quoted values,
``"\\"comedy\\",\\"drama\\""`` (L15774, L15893, L16034). INCLUDE expressions need every parameter; an EXCLUDE
expression may omit them and "Amazon Personalize doesn't use that portion of the expression" (L15635,
L15778, L29031). Binding turns a parsed filter into a parameter-free ``BoundFilter`` once per request, so
evaluators (the reference one here, the runtime's vectorised one) never see a placeholder.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from tailor_shared.errors import InvalidInputException
from tailor_shared.filters.model import (
    EVENT_TYPE_FIELD,
    MAX_FILTER_VALUE_LENGTH,
    MAX_FILTER_VALUES_ENTRIES,
    MAX_PARAMETER_NAME_LENGTH,
    WILDCARD,
    Action,
    And,
    BoundAnd,
    BoundCondition,
    BoundExpression,
    BoundFilter,
    BoundNode,
    BoundOr,
    Condition,
    Expression,
    FilterExpression,
    Node,
    Parameter,
    Scalar,
    StringSet,
    parse_number,
)

_PREFIX = "Invalid filterValues: "
_KEY_RE = re.compile(r"[A-Za-z0-9_]+")


def parse_filter_value(raw: str, *, name: str = "") -> tuple[str, ...]:
    """Split one filterValues entry into its values, in order, without duplicates.

    ``"a","b"`` is the documented form (whitespace after commas tolerated, L16034); bare values
    (``a, b``, as the console accepts them, L15661) and bare numbers (``18``) are accepted too. ``\\"`` and
    ``\\\\`` escape inside quotes. An empty or blank string yields ``()``: the parameter counts as omitted.
    """
    label = f' for "{name}"' if name else ""
    values: list[str] = []
    i, n = 0, len(raw)

    def skip_blanks(j: int) -> int:
        while j < n and raw[j].isspace():
            j += 1
        return j

    i = skip_blanks(i)
    if i == n:
        return ()
    while True:
        start = i
        if raw[i] == '"':
            chars: list[str] = []
            i += 1
            while i < n and raw[i] != '"':
                if raw[i] == "\\" and i + 1 < n and raw[i + 1] in '"\\':
                    i += 1
                chars.append(raw[i])
                i += 1
            if i >= n:
                raise InvalidInputException(
                    f"{_PREFIX}unterminated quoted value{label} starting at position {start + 1}: {raw!r}"
                )
            i += 1
            value = "".join(chars)
        else:
            while i < n and raw[i] not in ',"':
                i += 1
            if i < n and raw[i] == '"':
                raise InvalidInputException(
                    f"{_PREFIX}unexpected double quote{label} at position {i + 1}; quote each whole value: {raw!r}"
                )
            value = raw[start:i].strip()
        if value == "":
            raise InvalidInputException(f"{_PREFIX}empty value{label} at position {start + 1}: {raw!r}")
        if value not in values:
            values.append(value)
        i = skip_blanks(i)
        if i == n:
            return tuple(values)
        if raw[i] != ",":
            raise InvalidInputException(f'{_PREFIX}expected "," between values{label} at position {i + 1}: {raw!r}')
        i = skip_blanks(i + 1)
        if i == n:
            raise InvalidInputException(f"{_PREFIX}trailing comma{label}: {raw!r}")


def validate_filter_values(filter_values: Mapping[str, str]) -> None:
    """The API constraints on the map itself (L29037-L29045), checked whatever the filter."""
    if len(filter_values) > MAX_FILTER_VALUES_ENTRIES:
        raise InvalidInputException(
            f"{_PREFIX}{len(filter_values)} entries; at most {MAX_FILTER_VALUES_ENTRIES} are allowed"
        )
    for key, value in filter_values.items():
        if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
            raise InvalidInputException(f"{_PREFIX}key {key!r} must match [A-Za-z0-9_]+")
        if len(key) > MAX_PARAMETER_NAME_LENGTH:
            raise InvalidInputException(f'{_PREFIX}key "{key}" is longer than {MAX_PARAMETER_NAME_LENGTH} characters')
        if not isinstance(value, str):
            raise InvalidInputException(f'{_PREFIX}the value of "{key}" must be a string')
        if len(value) > MAX_FILTER_VALUE_LENGTH:
            raise InvalidInputException(
                f'{_PREFIX}the value of "{key}" is {len(value)} characters long; '
                f"the maximum is {MAX_FILTER_VALUE_LENGTH}"
            )


def bind_filter_values(expr: FilterExpression, filter_values: Mapping[str, str] | None = None) -> BoundFilter:
    """Replace every ``$PARAM`` with its request values; drop EXCLUDE parts whose values were omitted.

    A condition whose parameter is omitted matches nothing, so it can only narrow what an EXCLUDE removes:
    in an AND chain the whole expression stops excluding, in an OR chain the other branches still apply,
    and in an IF clause the expression is not applied (ADR 0005). Keys the filter doesn't use are ignored.
    """
    supplied = dict(filter_values or {})
    validate_filter_values(supplied)
    resolved: dict[str, tuple[str, ...]] = {}
    for name in expr.parameters:
        if name in supplied:
            values = parse_filter_value(supplied[name], name=name)
            if values:
                resolved[name] = values
    bound: list[BoundExpression] = []
    for expression in expr.expressions:
        if expression.action is Action.INCLUDE:
            for condition in expression.conditions():
                if isinstance(condition.value, Parameter) and condition.value.name not in resolved:
                    raise InvalidInputException(
                        f"{_PREFIX}the filter's INCLUDE expression uses ${condition.value.name}, so filterValues "
                        f'must give a value for "{condition.value.name}" (parameter names are case-sensitive)'
                    )
        where = _bind_node(expression.where, expression, resolved, in_if=False)
        if where is None:
            continue
        if_condition: BoundNode | None = None
        if expression.if_condition is not None:
            if_condition = _bind_node(expression.if_condition, expression, resolved, in_if=True)
            if if_condition is None:
                continue
        bound.append(BoundExpression(expression.action, expression.subject, expression.dataset, where, if_condition))
    return BoundFilter(expr, tuple(bound))


def _bind_node(
    node: Node, expression: Expression, resolved: Mapping[str, tuple[str, ...]], *, in_if: bool
) -> BoundNode | None:
    """Bind a tree; ``None`` means "matches nothing" (an omitted EXCLUDE parameter), folded upwards."""
    if isinstance(node, Condition):
        return _bind_condition(node, expression, resolved, in_if=in_if)
    operands = [_bind_node(operand, expression, resolved, in_if=in_if) for operand in node.operands]
    if isinstance(node, And):
        kept = [operand for operand in operands if operand is not None]
        if len(kept) < len(operands):
            return None
        return kept[0] if len(kept) == 1 else BoundAnd(tuple(kept))
    kept = [operand for operand in operands if operand is not None]
    if not kept:
        return None
    return kept[0] if len(kept) == 1 else BoundOr(tuple(kept))


def _bind_condition(
    condition: Condition, expression: Expression, resolved: Mapping[str, tuple[str, ...]], *, in_if: bool
) -> BoundCondition | None:
    value = condition.value
    if not isinstance(value, Parameter):
        return BoundCondition(condition.field, condition.operator, value)
    values = resolved.get(value.name)
    if values is None:
        return None  # only EXCLUDE gets here: INCLUDE parameters were checked before binding
    operator = condition.operator
    if operator.is_membership:
        event_types = not in_if and expression.dataset.is_interactions
        wildcard = event_types and condition.field.name == EVENT_TYPE_FIELD and WILDCARD in values
        kept = tuple(v for v in values if not (wildcard and v == WILDCARD))
        return BoundCondition(condition.field, operator, StringSet(kept, wildcard))
    if len(values) != 1:
        raise InvalidInputException(
            f'{_PREFIX}${value.name} is compared with "{operator.value}" and takes exactly one value; got {len(values)}'
        )
    number = parse_number(values[0])
    if operator.is_range and number is None:
        raise InvalidInputException(
            f'{_PREFIX}${value.name} is compared with "{operator.value}" and needs a number; got "{values[0]}"'
        )
    return BoundCondition(condition.field, operator, Scalar(values[0], number))
