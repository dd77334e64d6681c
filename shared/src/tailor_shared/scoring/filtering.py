"""Filters compiled to boolean masks over a model's item index.

The reference semantics are ``tailor_shared.filters.evaluate_for_item``; this module computes the same
answer for every catalogue item at once. Item metadata is indexed once per catalogue (value -> item mask,
numeric columns as float arrays), so a request costs a handful of numpy operations plus the user's
interaction windows, which the caller reads from Redis in its one pipelined round trip.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from tailor_shared.errors import InvalidInputException
from tailor_shared.filters import (
    Action,
    BoundAnd,
    BoundCondition,
    BoundFilter,
    BoundNode,
    CurrentItemRef,
    Metadata,
    Operator,
    Scalar,
    StringSet,
    Subject,
    metadata_strings,
    parse_number,
    user_condition_holds,
)

Mask = npt.NDArray[np.bool_]
MASK_CACHE_BYTES = 64 * 2**20  # per catalogue: 64 masks of a 1,000,000-item catalogue, 6,500 of 10,000 items


@dataclass
class ItemIndex:
    """A catalogue (the model's item index) with its metadata indexed for vectorised filtering."""

    item_ids: Sequence[str]
    position: dict[str, int] = field(init=False)
    # column -> value -> positions (not a catalogue-sized mask per value: a unique-per-item column would cost
    # n^2 bytes — 1 TB at 1,000,000 items)
    _values: dict[str, dict[str, npt.NDArray[np.int64]]] = field(init=False, default_factory=dict)
    _numbers: dict[str, npt.NDArray[np.float64]] = field(init=False, default_factory=dict)
    _present: dict[str, Mask] = field(init=False, default_factory=dict)
    # Item-only filter expressions (no user data, no CurrentItem) -> their read-only mask: the same for every
    # request until the catalogue's metadata changes, which builds a new index. Bounded by MASK_CACHE_BYTES.
    # Also the catalogue-level part of a filter (``filter_parts``), keyed by its expressions.
    _masks: dict[Hashable, Mask] = field(init=False, default_factory=dict)
    # Item-only filters -> (the filter, its items' ascending positions), keyed by the bound filter's identity (the
    # runtime and the batch worker keep one object per filter and values): no tree hashing per request.
    _positions: dict[int, tuple[BoundFilter, npt.NDArray[np.int64]]] = field(init=False, default_factory=dict)
    metadata: Mapping[str, Metadata] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.position = {item: i for i, item in enumerate(self.item_ids)}
        n = len(self.item_ids)
        columns: dict[str, dict[str, list[int]]] = {}
        numbers: dict[str, npt.NDArray[np.float64]] = {}
        present: dict[str, list[int]] = {}
        for item, meta in self.metadata.items():
            i = self.position.get(item)
            if i is None:
                continue
            for key, raw in meta.items():
                name = key.upper()
                values = metadata_strings(raw)
                if not values:
                    continue
                present.setdefault(name, []).append(i)
                bucket = columns.setdefault(name, {})
                for v in values:
                    bucket.setdefault(v, []).append(i)
                if len(values) == 1:
                    num = parse_number(values[0])
                    if num is not None:
                        column = numbers.get(name)
                        if column is None:  # not setdefault: its default array would be built per item, O(n^2)
                            column = numbers[name] = np.full(n, np.nan)
                        column[i] = num
        for name, bucket in columns.items():
            self._values[name] = {v: np.asarray(idx, dtype=np.int64) for v, idx in bucket.items()}
        self._numbers = numbers
        self._present = {name: _mask(n, idx) for name, idx in present.items()}

    def __len__(self) -> int:
        return len(self.item_ids)

    def values_mask(self, name: str, values: Sequence[str]) -> Mask:
        bucket = self._values.get(name.upper(), {})
        out = np.zeros(len(self), dtype=bool)
        for v in values:
            hit = bucket.get(v)
            if hit is not None:
                out[hit] = True
        return out

    def present_mask(self, name: str) -> Mask:
        return self._present.get(name.upper(), np.zeros(len(self), dtype=bool))

    def numbers(self, name: str) -> npt.NDArray[np.float64]:
        return self._numbers.get(name.upper(), np.full(len(self), np.nan))

    def cached_mask(self, node: Hashable, compute: Callable[[], Mask]) -> Mask:
        """``compute()``'s mask for an item-only ``node``, computed once per catalogue (read-only)."""
        mask = self._masks.get(node)
        if mask is None:
            mask = compute()
            mask.flags.writeable = False
            if (len(self._masks) + 1) * max(len(self), 1) > MASK_CACHE_BYTES:
                self._masks.clear()  # many distinct filter values: start over rather than grow without bound
            self._masks[node] = mask
        return mask

    def filter_positions(self, bound: BoundFilter) -> npt.NDArray[np.int64] | None:
        """The ascending positions of the items an item-only filter (``BoundFilter.item_only``) lets through,
        computed once per catalogue (read-only); None for a filter that reads the request's data."""
        if not bound.item_only or bound.subject is not Subject.ITEM_ID:
            return None
        entry = self._positions.get(id(bound))
        if entry is not None and entry[0] is bound:
            return entry[1]
        positions = np.flatnonzero(filter_mask(bound, self, FilterInputs()))
        positions.flags.writeable = False
        if (len(self._positions) + 1) * max(len(self), 1) * 8 > MASK_CACHE_BYTES:
            self._positions.clear()
        self._positions[id(bound)] = (bound, positions)
        return positions

    def ids_mask(self, ids: Sequence[str]) -> Mask:
        out = np.zeros(len(self), dtype=bool)
        idx = [self.position[i] for i in ids if i in self.position]
        out[idx] = True
        return out


def _mask(n: int, indices: list[int]) -> Mask:
    out = np.zeros(n, dtype=bool)
    out[indices] = True
    return out


@dataclass(frozen=True)
class FilterInputs:
    """Per-request data a filter reads besides the catalogue."""

    user_metadata: Metadata | None = None
    interactions: Mapping[str, Sequence[str]] | None = None  # event type -> item ids, most recent first
    current_item_metadata: Metadata | None = None
    window: int = 100


def filter_mask(bound: BoundFilter, index: ItemIndex, inputs: FilterInputs, subject: Subject = Subject.ITEM_ID) -> Mask:
    """The items (or, with ``subject`` ActionID, the actions of an action index: reference
    ``evaluate_for_action``) that pass: (union of applicable INCLUDEs, or all) minus (union of applicable
    EXCLUDEs).

    Per request it builds one catalogue-sized array, the answer: item-only expressions are cached masks of the
    catalogue, and an expression on the user's interactions of some event types (``window_types``) is the
    positions of those items, set in the answer directly (ADR 0019 §9)."""
    if bound.subject is not subject:
        kind = "item" if subject is Subject.ITEM_ID else "action"
        raise InvalidInputException(
            f"The filter filters {bound.subject.value} and can't be applied to {kind} recommendations"
        )
    if bound.filter.uses_current_item and inputs.current_item_metadata is None:
        raise InvalidInputException(
            "The filter uses CurrentItem, which needs a related-items request that names an item"
        )
    linked: dict[str, Mask] | None = None
    include_masks: list[Mask] = []
    include_positions: list[list[int]] = []
    exclude_masks: list[Mask] = []
    exclude_positions: list[list[int]] = []
    for expression in bound.expressions:
        if expression.if_condition is not None and not user_condition_holds(
            expression.if_condition, inputs.user_metadata
        ):
            continue
        include = expression.action is Action.INCLUDE
        where = expression.where
        window = expression.window_types
        if window is not None:
            (include_positions if include else exclude_positions).append(_window_positions(index, inputs, *window))
            continue
        if expression.item_only:
            matched = _item_mask(index, where)
        else:
            if linked is None:
                linked = _linked(index, inputs)
            matched = _node(where, index, linked, inputs.current_item_metadata)
        (include_masks if include else exclude_masks).append(matched)
    return _compose(len(index), include_masks, include_positions, exclude_masks, exclude_positions)


def _item_mask(index: ItemIndex, node: BoundNode) -> Mask:
    """An item-only expression's mask, computed once per catalogue (read-only)."""
    return index.cached_mask(node, functools.partial(_node, node, index, {}, None))


def _compose(
    size: int,
    include_masks: Sequence[Mask],
    include_positions: Sequence[list[int]],
    exclude_masks: Sequence[Mask],
    exclude_positions: Sequence[list[int]],
) -> Mask:
    """(The union of the INCLUDE parts, or every item when there are none) less the union of the EXCLUDE parts:
    always a new, writable array (the caller edits it; cached masks are read-only)."""
    if include_masks:
        out = include_masks[0].copy()
        for mask in include_masks[1:]:
            out |= mask
    elif include_positions:
        out = np.zeros(size, dtype=bool)
    else:
        out = np.ones(size, dtype=bool)
    for positions in include_positions:
        out[positions] = True
    for mask in exclude_masks:
        np.greater(out, mask, out=out)  # out & ~mask, without the ~mask temporary
    for positions in exclude_positions:
        out[positions] = False
    return out


def filter_parts(bound: BoundFilter, index: ItemIndex, inputs: FilterInputs) -> tuple[Mask, list[int]] | None:
    """``filter_mask``'s answer split in two, when it has this form: a catalogue-level mask (the item-metadata
    expressions: read-only, computed once per catalogue, the same array for every request with these expressions)
    less the positions the user's interactions exclude (``EXCLUDE ... Interactions.EVENT_TYPE IN (...)``).
    Candidate retrieval keeps per-mask structures keyed by that array (ADR 0019 §11). None for any other filter
    (an INCLUDE of the user's interactions, a condition mixing user data into an item expression, CurrentItem) and
    for a catalogue-level part allowing every item (nothing to key: ``Allowed``'s base is then None)."""
    if bound.subject is not Subject.ITEM_ID or bound.filter.uses_current_item:
        return None
    includes: list[BoundNode] = []
    excludes: list[BoundNode] = []
    excluded: list[int] = []
    for expression in bound.expressions:
        if expression.if_condition is not None and not user_condition_holds(
            expression.if_condition, inputs.user_metadata
        ):
            continue
        include = expression.action is Action.INCLUDE
        if not include and expression.window_types is not None:
            excluded.extend(_window_positions(index, inputs, *expression.window_types))
        elif expression.item_only:
            (includes if include else excludes).append(expression.where)
        else:
            return None
    if not includes and not excludes:
        return None

    if len(includes) == 1 and not excludes:
        return _item_mask(index, includes[0]), excluded

    def compose() -> Mask:
        masks = functools.partial(_item_mask, index)
        return _compose(len(index), [*map(masks, includes)], [], [*map(masks, excludes)], [])

    return index.cached_mask(("parts", tuple(includes), tuple(excludes)), compose), excluded


def _window_positions(index: ItemIndex, inputs: FilterInputs, types: frozenset[str], every: bool) -> list[int]:
    """Positions of the items the user reached by one of ``types`` (case-folded; ``every``: any type) within
    the window, as ``_linked`` gathers them."""
    position = index.position
    out: list[int] = []
    for event_type, ids in _window_ids(inputs):
        if every or event_type in types:
            out.extend(p for p in map(position.get, ids) if p is not None)
    return out


def _window_ids(inputs: FilterInputs) -> Iterator[tuple[str, Sequence[str]]]:
    """Per event type the user interacted by (case-folded, possibly repeated): the item ids within the window."""
    for event_type, ids in (inputs.interactions or {}).items():
        yield event_type.casefold(), ids[: inputs.window]


def _linked(index: ItemIndex, inputs: FilterInputs) -> dict[str, Mask]:
    """Per (case-folded) event type: the items the user reached by it within the window."""
    out: dict[str, Mask] = {}
    for key, ids in _window_ids(inputs):
        mask = index.ids_mask(list(ids))
        out[key] = out[key] | mask if key in out else mask
    return out


def _node(node: BoundNode, index: ItemIndex, linked: dict[str, Mask], current: Metadata | None) -> Mask:
    if isinstance(node, BoundCondition):
        return _condition(node, index, linked, current)
    masks = [_node(op, index, linked, current) for op in node.operands]
    out = masks[0].copy()
    for m in masks[1:]:
        if isinstance(node, BoundAnd):
            out &= m
        else:
            out |= m
    return out


def _condition(cond: BoundCondition, index: ItemIndex, linked: dict[str, Mask], current: Metadata | None) -> Mask:
    n = len(index)
    value = cond.value
    if cond.field.dataset.is_interactions:
        assert isinstance(value, StringSet)
        hit = np.zeros(n, dtype=bool)
        if value.wildcard:
            for mask in linked.values():
                hit |= mask
        else:
            for v in value.values:
                by_type = linked.get(v.casefold())
                if by_type is not None:
                    hit |= by_type
        return hit if cond.operator is Operator.IN else ~hit
    name = cond.field.name
    current_meta = {k.upper(): v for k, v in (current or {}).items()}
    if cond.operator.is_membership:
        if isinstance(value, CurrentItemRef):
            wanted: tuple[str, ...] = metadata_strings(current_meta.get(value.name))
        else:
            assert isinstance(value, StringSet)
            wanted = value.values
        hit = index.values_mask(name, wanted)
        return hit if cond.operator is Operator.IN else ~hit
    if isinstance(value, CurrentItemRef):
        others = metadata_strings(current_meta.get(value.name))
    else:
        assert isinstance(value, Scalar)
        others = (value.text,)
    present = index.present_mask(name)
    if not others:
        return np.zeros(n, dtype=bool)
    numeric = [parse_number(o) for o in others]
    if cond.operator in (Operator.EQ, Operator.NE):
        equal = index.values_mask(name, others)
        nums = index.numbers(name)
        for num in numeric:
            if num is not None:
                equal |= nums == num
        return equal if cond.operator is Operator.EQ else (present & ~equal)
    nums = index.numbers(name)
    out = np.zeros(n, dtype=bool)
    with np.errstate(invalid="ignore"):
        for num in numeric:
            if num is None:
                continue
            if cond.operator is Operator.LT:
                out |= nums < num
            elif cond.operator is Operator.LE:
                out |= nums <= num
            elif cond.operator is Operator.GT:
                out |= nums > num
            else:
                out |= nums >= num
    return out
