"""The filter language's syntax tree, limits and bound (parameter-free) form.

Everything is a frozen dataclass so a parsed filter can be cached per filter ARN and shared between
requests, and a bound filter can be cached per (filter ARN, filterValues). Line references ``Lnnnn`` point
into the Developer Guide (``spec/seeds/personalize-developer-guide.txt``); decisions the guide leaves open
are recorded in ``docs/adr/0005-filter-language.md``.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

# --- limits -------------------------------------------------------------------------------------------

#: CreateFilter ``filterExpression`` length constraints (L21796).
MIN_EXPRESSION_LENGTH = 1
MAX_EXPRESSION_LENGTH = 2500
#: Distinct dataset fields in one filter, one expression or chained (L15290, quota table L19746).
MAX_DISTINCT_FIELDS_PER_FILTER = 5
#: Distinct dataset fields across all filters of a dataset group (L15290, L19747).
MAX_DISTINCT_FIELDS_PER_DATASET_GROUP = 10
#: Filters per dataset group (L19745); enforced by the control service, kept here with its siblings.
MAX_FILTERS_PER_DATASET_GROUP = 10
#: Most recent item interactions per user per event type a filter sees (L15258, L19748; adjustable).
ITEM_INTERACTIONS_WINDOW = 100
#: Most recent action interactions per user per event type a filter sees (L15262, L19749; adjustable).
ACTION_INTERACTIONS_WINDOW = 300
#: ``filterValues``: at most 25 entries, key <= 50 chars matching ``[A-Za-z0-9_]+``, value <= 1000 chars
#: (GetRecommendations API reference, L29037-L29045). A parameter name is a filterValues key, so the same
#: rules bound ``$NAME`` in an expression, and a filter can't have more parameters than the map can carry.
MAX_FILTER_VALUES_ENTRIES = 25
MAX_PARAMETER_NAME_LENGTH = 50
MAX_FILTER_VALUE_LENGTH = 1000
MAX_PARAMETERS_PER_FILTER = MAX_FILTER_VALUES_ENTRIES

#: Action fields Personalize applies automatically and forbids in filters (L15268, L15293). Both spellings
#: of the expiration field appear in the guide (L4842 vs L4813).
RESTRICTED_ACTION_FIELDS = frozenset({"ACTION_EXPIRATION_TIMESTAMP", "EXPIRATION_TIMESTAMP", "REPEAT_FREQUENCY"})
#: The only field an interactions dataset can be filtered by (L15256, L15283).
EVENT_TYPE_FIELD = "EVENT_TYPE"
#: The all-event-types wildcard (L15362).
WILDCARD = "*"


_NUMBER_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def parse_number(text: str) -> float | None:
    """The number a value spells (``18``, ``-2.5``, ``1e3``), or None; NaN/inf are not numbers here."""
    stripped = text.strip()
    if not _NUMBER_RE.fullmatch(stripped):
        return None
    return float(stripped)


# --- enums --------------------------------------------------------------------------------------------


class Action(StrEnum):
    """INCLUDE keeps only matching candidates; EXCLUDE drops them (L15320)."""

    INCLUDE = "INCLUDE"
    EXCLUDE = "EXCLUDE"


class Subject(StrEnum):
    """What the filter removes: items, actions, or users of a segment (L15324)."""

    ITEM_ID = "ItemID"
    ACTION_ID = "ActionID"
    USER_ID = "UserID"


class Dataset(StrEnum):
    """Dataset names as written in expressions (L15250-L15268)."""

    ITEMS = "Items"
    USERS = "Users"
    INTERACTIONS = "Interactions"
    ACTIONS = "Actions"
    ACTION_INTERACTIONS = "Action_Interactions"

    @property
    def is_interactions(self) -> bool:
        return self in (Dataset.INTERACTIONS, Dataset.ACTION_INTERACTIONS)


#: Datasets a WHERE clause may use, by subject. Users reach item/action filters only through
#: ``IF CurrentUser.<field>`` (L15264, L15344); segments filter candidate users by Users and Interactions
#: (L15266, L15468-L15490); actions by Actions and Action_Interactions (L15260, L15268, L15539).
WHERE_DATASETS: dict[Subject, tuple[Dataset, ...]] = {
    Subject.ITEM_ID: (Dataset.ITEMS, Dataset.INTERACTIONS),
    Subject.ACTION_ID: (Dataset.ACTIONS, Dataset.ACTION_INTERACTIONS),
    Subject.USER_ID: (Dataset.USERS, Dataset.INTERACTIONS),
}


class Operator(StrEnum):
    """Operators of a condition (L15352-L15358)."""

    IN = "IN"
    NOT_IN = "NOT IN"
    EQ = "="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="

    @property
    def is_membership(self) -> bool:
        return self in (Operator.IN, Operator.NOT_IN)

    @property
    def is_range(self) -> bool:
        """Ordering operators: they only make sense on numbers."""
        return self in (Operator.LT, Operator.LE, Operator.GT, Operator.GE)


# --- syntax tree --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldRef:
    """``Dataset.FIELD``; field names are case-insensitive and kept upper-case (ADR 0005)."""

    dataset: Dataset
    name: str

    @property
    def qualified(self) -> str:
        return f"{self.dataset.value}.{self.name}"

    def __str__(self) -> str:
        return self.qualified


@dataclass(frozen=True)
class StringSet:
    """The string values of an IN list, in written order without duplicates; ``wildcard`` is ``*``."""

    values: tuple[str, ...]
    wildcard: bool = False


@dataclass(frozen=True)
class Scalar:
    """One comparison value; ``number`` is set when the text is a number, so ``=`` can compare either way."""

    text: str
    number: float | None


@dataclass(frozen=True)
class Parameter:
    """A ``$NAME`` placeholder, filled from ``filterValues[NAME]`` at request time (L15368-L15376)."""

    name: str


@dataclass(frozen=True)
class CurrentItemRef:
    """``CurrentItem.FIELD``: a field of the item in a related-items request (L15346-L15350)."""

    name: str

    @property
    def field(self) -> FieldRef:
        return FieldRef(Dataset.ITEMS, self.name)


#: A right-hand side as written; a bound filter never holds a ``Parameter``.
Value = StringSet | Scalar | Parameter | CurrentItemRef
ResolvedValue = StringSet | Scalar | CurrentItemRef


@dataclass(frozen=True)
class Condition:
    """``field operator value``. In an IF clause ``field`` is the current user's (``CurrentUser.X``)."""

    field: FieldRef
    operator: Operator
    value: Value
    position: int = dataclasses.field(default=0, compare=False)  # 1-based offset of the field in the expression


@dataclass(frozen=True)
class And:
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    operands: tuple[Node, ...]


Node = Condition | And | Or


def iter_conditions(node: Node | None) -> Iterator[Condition]:
    """Every leaf of a condition tree, left to right."""
    if node is None:
        return
    if isinstance(node, Condition):
        yield node
        return
    for operand in node.operands:
        yield from iter_conditions(operand)


@dataclass(frozen=True)
class Expression:
    """One ``INCLUDE|EXCLUDE <subject> WHERE ... [IF ...]`` between ``|`` separators."""

    action: Action
    subject: Subject
    dataset: Dataset  # the dataset of every WHERE condition (L15332)
    where: Node
    if_condition: Node | None = None  # conditions on CurrentUser, AND-ed (L15340)
    position: int = dataclasses.field(default=0, compare=False)  # 1-based offset of INCLUDE/EXCLUDE

    def conditions(self) -> Iterator[Condition]:
        yield from iter_conditions(self.where)
        yield from iter_conditions(self.if_condition)


@dataclass(frozen=True)
class FilterExpression:
    """A parsed, validated filter: what CreateFilter stores and what the runtime compiles.

    ``fields`` are canonical ``Dataset.FIELD`` names (CurrentUser.X counts as Users.X and CurrentItem.X as
    Items.X, since the limit counts dataset fields); ``parameters`` are ``$`` names in first-use order.
    """

    text: str
    expressions: tuple[Expression, ...]
    fields: frozenset[str]
    parameters: tuple[str, ...]
    datasets: frozenset[Dataset]

    @property
    def subject(self) -> Subject:
        return self.expressions[0].subject

    @functools.cached_property  # read per request by the runtime: walk the tree once
    def uses_current_item(self) -> bool:
        """Only valid with related-items recipes (L15291); the runtime checks the recipe."""
        return any(isinstance(c.value, CurrentItemRef) for e in self.expressions for c in e.conditions())

    @functools.cached_property
    def uses_current_user(self) -> bool:
        """True when some expression has an IF CurrentUser clause: the request then needs a userId."""
        return any(e.if_condition is not None for e in self.expressions)

    @functools.cached_property
    def uses_user_interactions(self) -> bool:
        """True when the request user's interaction history is read (item or action filters only)."""
        return self.subject is not Subject.USER_ID and any(e.dataset.is_interactions for e in self.expressions)

    @functools.cached_property
    def requires_user_id(self) -> bool:
        """Whether a request must carry a userId even where it is otherwise optional (L5496, L5595)."""
        return self.uses_current_user or self.uses_user_interactions


# --- bound form ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BoundCondition:
    """A condition with its parameter replaced by request values."""

    field: FieldRef
    operator: Operator
    value: ResolvedValue


@dataclass(frozen=True)
class BoundAnd:
    operands: tuple[BoundNode, ...]


@dataclass(frozen=True)
class BoundOr:
    operands: tuple[BoundNode, ...]


BoundNode = BoundCondition | BoundAnd | BoundOr


def iter_bound_conditions(node: BoundNode | None) -> Iterator[BoundCondition]:
    if node is None:
        return
    if isinstance(node, BoundCondition):
        yield node
        return
    for operand in node.operands:
        yield from iter_bound_conditions(operand)


@dataclass(frozen=True)
class BoundExpression:
    action: Action
    subject: Subject
    dataset: Dataset
    where: BoundNode
    if_condition: BoundNode | None = None

    @functools.cached_property  # read per request by the runtime: walk the tree once per binding
    def item_only(self) -> bool:
        """Whether ``where`` reads the catalogue only (no interactions, no CurrentItem): its items are the same
        for every request on a catalogue."""
        return not self.dataset.is_interactions and not any(
            c.field.dataset.is_interactions or isinstance(c.value, CurrentItemRef)
            for c in iter_bound_conditions(self.where)
        )

    @functools.cached_property
    def window_types(self) -> tuple[frozenset[str], bool] | None:
        """For a ``where`` that is one ``Interactions.EVENT_TYPE IN (...)`` condition (the usual "exclude what
        the user bought"): the case-folded event types and whether it names every type (``"*"``); its items are
        the user's interactions of those types, a few positions rather than a catalogue-wide condition. None
        for any other ``where``."""
        where = self.where
        if not (
            isinstance(where, BoundCondition)
            and where.field.dataset.is_interactions
            and where.operator is Operator.IN
            and isinstance(where.value, StringSet)
        ):
            return None
        return frozenset(v.casefold() for v in where.value.values), where.value.wildcard


@dataclass(frozen=True)
class BoundFilter:
    """A filter ready to evaluate: parameter-free; EXCLUDE parts whose values were omitted are gone."""

    filter: FilterExpression
    expressions: tuple[BoundExpression, ...]

    @property
    def subject(self) -> Subject:
        return self.filter.subject

    @functools.cached_property
    def item_only(self) -> bool:
        """Whether the filter's items depend on the catalogue only (every part item-only, no IF on the user):
        the same for every request, so they can be kept per catalogue."""
        return all(e.item_only and e.if_condition is None for e in self.expressions)

    @functools.cached_property
    def windows(self) -> tuple[tuple[str, ...], bool]:
        """``interaction_windows`` of this filter alone, once per binding (the runtime caches its bindings)."""
        types: set[str] = set()
        wildcard = False
        for expression in self.expressions:
            for condition in iter_bound_conditions(expression.where):
                value = condition.value
                if isinstance(value, StringSet):
                    wildcard = wildcard or value.wildcard
                    if expression.dataset is Dataset.INTERACTIONS:
                        types.update(value.values)
        types.discard(WILDCARD)
        return tuple(sorted(types)), wildcard

    @property
    def includes(self) -> tuple[BoundExpression, ...]:
        return tuple(e for e in self.expressions if e.action is Action.INCLUDE)

    @property
    def excludes(self) -> tuple[BoundExpression, ...]:
        return tuple(e for e in self.expressions if e.action is Action.EXCLUDE)


def interaction_windows(*filters: BoundFilter | None) -> tuple[tuple[str, ...], bool]:
    """The event types whose interaction windows the filters read (sorted), and whether one reads every type's
    (``EVENT_TYPE IN ("*")``): what a caller must read for the user before it applies them."""
    present = [bound.windows for bound in filters if bound is not None]
    if len(present) == 1:
        return present[0]
    types: set[str] = set()
    wildcard = False
    for event_types, any_type in present:
        types.update(event_types)
        wildcard = wildcard or any_type
    return tuple(sorted(types)), wildcard
