"""The filter language: every guide example parses and filters hand-made data as described; bad input fails.

Test ids carry the guide line (``L15403`` = line in ``spec/seeds/personalize-developer-guide.txt``) of the
example they reproduce. Data is tiny and hand-made so each expected set can be checked by eye.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from tailor_shared.errors import InvalidInputException, LimitExceededException
from tailor_shared.filters import (
    Action,
    And,
    BoundFilter,
    Condition,
    CurrentItemRef,
    Dataset,
    Expression,
    FieldRef,
    FieldType,
    FilterExpression,
    InteractionHistory,
    Metadata,
    Operator,
    Or,
    Parameter,
    Scalar,
    StringSet,
    Subject,
    bind_filter_values,
    check_dataset_group_field_limit,
    check_filter_fields,
    evaluate_for_action,
    evaluate_for_item,
    evaluate_for_user,
    field_types_from_avro,
    parse_filter_expression,
    parse_filter_value,
)
from tailor_shared.schemas import avro_record

# --- hand-made data -----------------------------------------------------------------------------------

ITEMS: dict[str, Metadata] = {
    "i1": {
        "GENRE": "Comedy",
        "GENRES": "Comedy|Drama",
        "CATEGORY": "clothing",
        "CATEGORY_L1": "shoe",
        "CATEGORY_L2": "boot",
        "PRICE": 10.0,
        "CREATION_TIMESTAMP": 100,
        "OWNER": "in-house",
        "AVAILABLE": "True",
        "DOWNLOAD_COUNT": 50,
    },
    "i2": {
        "GENRE": "Drama",
        "GENRES": "Drama",
        "CATEGORY": "clothing",
        "CATEGORY_L1": "shoe",
        "CATEGORY_L2": "sneaker",
        "PRICE": 30.0,
        "CREATION_TIMESTAMP": 200,
        "OWNER": "partner",
        "AVAILABLE": "False",
        "DOWNLOAD_COUNT": 500,
    },
    "i3": {
        "GENRE": "Comedy|Horror",
        "GENRES": "Horror",
        "CATEGORY": "electronics",
        "CATEGORY_L1": "watch",
        "CATEGORY_L2": "luxury",
        "PRICE": 50.0,
        "CREATION_TIMESTAMP": 300,
        "OWNER": "in-house",
        "AVAILABLE": "True",
        "DOWNLOAD_COUNT": 300,
    },
    "i4": {
        "GENRE": None,
        "GENRES": "Action",
        "CATEGORY": "books",
        "CATEGORY_L1": "watch",
        "CATEGORY_L2": "sport",
        "PRICE": 20,
        "CREATION_TIMESTAMP": 400,
        "DOWNLOAD_COUNT": 10,
    },
    "i5": {
        "GENRE": "Action",
        "CATEGORY": "electronics",
        "CATEGORY_L1": "shoe",
        "PRICE": 60.0,
        "CREATION_TIMESTAMP": 500,
    },
}
ALL_ITEMS = set(ITEMS)
#: The request user's recent item interactions by event type, most recent first.
ITEM_HISTORY: InteractionHistory = {
    "click": ["i2", "i4"],
    "stream": ["i3"],
    "favorite": ["i5"],
    "purchased": ["i1"],
}

ACTIONS: dict[str, Metadata] = {
    "a1": {"CATEGORY": "subscription", "VALUE": 8, "MEMBERSHIP_LEVEL": "Premium"},
    "a2": {"CATEGORY": "upsell", "VALUE": 3, "MEMBERSHIP_LEVEL": "Basic"},
    "a3": {"CATEGORY": "loyalty", "VALUE": 5, "MEMBERSHIP_LEVEL": "Premium|Basic"},
    "a4": {"CATEGORY": "upsell", "VALUE": 10},
}
ALL_ACTIONS = set(ACTIONS)
ACTION_HISTORY: InteractionHistory = {"TAKEN": ["a1"], "NOT_TAKEN": ["a2", "a3"], "VIEWED": ["a4"]}

#: Candidate users of a segment: (Users record, own interactions by event type).
USERS: dict[str, tuple[Metadata, InteractionHistory]] = {
    "u1": ({"MEMBERSHIP_STATUS": "gold", "AGE": 30}, {"click": ["i1"]}),
    "u2": ({"MEMBERSHIP_STATUS": "silver|student", "AGE": 17}, {"rating": ["i2"]}),
    "u3": ({"MEMBERSHIP_STATUS": "bronze", "AGE": 45}, {}),
    "u4": ({"AGE": 22}, {"purchase": ["i3"], "click": []}),
}
ALL_USERS = set(USERS)


def bound(expression: str, filter_values: Mapping[str, str] | None = None) -> BoundFilter:
    return bind_filter_values(parse_filter_expression(expression), filter_values)


def items_passing(
    expression: str,
    filter_values: Mapping[str, str] | None = None,
    *,
    catalog: Mapping[str, Metadata] = ITEMS,
    user: Metadata | None = None,
    history: InteractionHistory | None = ITEM_HISTORY,
    current_item: Metadata | None = None,
    window: int = 100,
) -> set[str]:
    flt = bound(expression, filter_values)
    return {
        item_id
        for item_id, metadata in catalog.items()
        if evaluate_for_item(
            flt,
            item_id,
            metadata,
            user_metadata=user,
            user_interactions=history,
            current_item_metadata=current_item,
            interactions_window=window,
        )
    }


def actions_passing(
    expression: str,
    filter_values: Mapping[str, str] | None = None,
    *,
    user: Metadata | None = None,
    history: InteractionHistory | None = ACTION_HISTORY,
    window: int = 300,
) -> set[str]:
    flt = bound(expression, filter_values)
    return {
        action_id
        for action_id, metadata in ACTIONS.items()
        if evaluate_for_action(
            flt,
            action_id,
            metadata,
            user_metadata=user,
            user_action_interactions=history,
            interactions_window=window,
        )
    }


def users_passing(expression: str, filter_values: Mapping[str, str] | None = None) -> set[str]:
    flt = bound(expression, filter_values)
    return {
        user_id
        for user_id, (metadata, history) in USERS.items()
        if evaluate_for_user(flt, metadata, user_interactions=history)
    }


# --- every example of the guide's "Filter expression examples" section (L15378-L15570) ----------------

ItemCase = tuple[str, dict[str, str], dict[str, Any], set[str]]

ITEM_EXAMPLES: dict[str, ItemCase] = {
    # Item interaction data (L15399)
    "L15403-exclude-event-type-param": (
        "EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ($EVENT_TYPE)",
        {"EVENT_TYPE": '"click"'},
        {},
        {"i1", "i3", "i5"},
    ),
    "L15407-exclude-clicked-or-streamed": (
        'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click", "stream")',
        {},
        {},
        {"i1", "i5"},
    ),
    "L15411-include-only-clicked (space after the dot, as printed)": (
        'INCLUDE ItemID WHERE Interactions. EVENT_TYPE IN ("click")',
        {},
        {},
        {"i2", "i4"},
    ),
    # Item data (L15413)
    "L15417-exclude-category-param": (
        "EXCLUDE ItemID WHERE Items.CATEGORY IN ($CATEGORY)",
        {"CATEGORY": '"clothing","books"'},
        {},
        {"i3", "i5"},
    ),
    "L15422-cheaper-than-and-same-genre-as-current-item": (
        "INCLUDE ItemID WHERE Items.PRICE < CurrentItem.PRICE AND Items.GENRE IN\nCurrentItem.GENRE",
        {},
        {"current_item": {"PRICE": 40, "GENRE": "Comedy|Drama"}},
        {"i1", "i2"},
    ),
    "L15429-exclude-shoes-that-are-not-boots": (
        'EXCLUDE ItemID WHERE Items.CATEGORY_L1 IN ("shoe") AND Items.CATEGORY_L2 NOT IN ("boot")',
        {},
        {},
        {"i1", "i3", "i4"},
    ),
    "L15434-price-at-most-param": (
        "INCLUDE ItemID WHERE Items.PRICE <= $PRICE",
        {"PRICE": '"20"'},
        {},
        {"i1", "i4"},
    ),
    "L15439-created-before-param": (
        "INCLUDE ItemID WHERE Items.CREATION_TIMESTAMP < $DATE",
        {"DATE": "300"},
        {},
        {"i1", "i2"},
    ),
    "L15448-include-genre-param": (
        "INCLUDE ItemID WHERE Items.GENRE IN ($GENRE)",
        {"GENRE": '"Comedy"'},
        {},
        {"i1", "i3"},
    ),
    "L15452-cheaper-than-current-and-created-after-param": (
        "INCLUDE ItemID WHERE Items.PRICE < CurrentItem.PRICE AND Items.CREATION_TIMESTAMP >\n$DATE",
        {"DATE": '"150"'},
        {"current_item": {"PRICE": 40}},
        {"i2", "i4"},
    ),
    # User data (L15455)
    "L15459-exclude-genre-if-age-matches": (
        "EXCLUDE ItemID WHERE Items.GENRE IN ($GENRE) IF CurrentUser.AGE = $AGE",
        {"GENRE": '"Comedy"', "AGE": '"30"'},
        {"user": {"AGE": 30}},
        {"i2", "i4", "i5"},
    ),
    "L15459-exclude-genre-if-age-matches (other age: not applied)": (
        "EXCLUDE ItemID WHERE Items.GENRE IN ($GENRE) IF CurrentUser.AGE = $AGE",
        {"GENRE": '"Comedy"', "AGE": '"30"'},
        {"user": {"AGE": 25}},
        ALL_ITEMS,
    ),
    "L15464-luxury-watches-if-over-18": (
        'INCLUDE ItemID WHERE Items.CATEGORY_L1 IN ("watch") AND Items.CATEGORY_L2 IN ("luxury")\n'
        "IF CurrentUser.AGE > 18",
        {},
        {"user": {"AGE": 30}},
        {"i3"},
    ),
    "L15464-luxury-watches-if-over-18 (minor: not applied)": (
        'INCLUDE ItemID WHERE Items.CATEGORY_L1 IN ("watch") AND Items.CATEGORY_L2 IN ("luxury")\n'
        "IF CurrentUser.AGE > 18",
        {},
        {"user": {"AGE": 16}},
        ALL_ITEMS,
    ),
    # Combining multiple expressions (L15537)
    "L15552-include-category-or-favorites": (
        "INCLUDE ItemID WHERE Items.CATEGORY IN ($CATEGORY) | INCLUDE ItemID WHERE\n"
        'Interactions.EVENT_TYPE IN ("favorite")',
        {"CATEGORY": '"books"'},
        {},
        {"i4", "i5"},
    ),
    "L15568-include-genre-minus-clicked-or-streamed": (
        "INCLUDE ItemID WHERE Items.GENRE IN ($GENRE) | EXCLUDE ItemID WHERE\n"
        'Interactions.EVENT_TYPE IN ("click", "stream")',
        {"GENRE": '"Comedy", "Drama"'},
        {},
        {"i1"},
    ),
}

# Examples elsewhere in the guide: promotions, console, CLI, SDK, FAQ, troubleshooting, expression builder.
OTHER_ITEM_EXAMPLES: dict[str, ItemCase] = {
    "L11846-promote-in-house": ('INCLUDE ItemID WHERE Items.OWNER IN ("in-house")', {}, {}, {"i1", "i3"}),
    "L11850-promote-new-items": (
        "INCLUDE ItemID WHERE Items.CREATION_TIMESTAMP > $DATE",
        {"DATE": "300"},
        {},
        {"i4", "i5"},
    ),
    "L11854-available-clothing": (
        'INCLUDE ItemID WHERE Items.CATEGORY IN ("clothing") AND Items.AVAILABLE IN ("True")',
        {},
        {},
        {"i1"},
    ),
    "L11868-clothing-or-new": (
        'INCLUDE ItemID WHERE Items.CATEGORY IN ("clothing") OR Items.CREATION_TIMESTAMP > $DATE',
        {"DATE": "400"},
        {},
        {"i1", "i2", "i5"},
    ),
    "L15627-console-lowercase-field": (
        'EXCLUDE ItemID WHERE Interactions.event_type IN ("click")',
        {},
        {},
        {"i1", "i3", "i5"},
    ),
    "L15761-cli-quoted-parameter": (
        'EXCLUDE ItemID WHERE Items.CATEGORY IN ("$CATEGORY")',
        {"CATEGORY": '"electronics"'},
        {},
        {"i1", "i2", "i4"},
    ),
    "L15825-sdk-create": (
        "EXCLUDE ItemID WHERE Items.CATEGORY IN ($CATEGORY)",
        {"CATEGORY": '"electronics"'},
        {},
        {"i1", "i2", "i4"},
    ),
    "L18445-faq-remove-purchased": (
        'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchased")',
        {},
        {},
        {"i2", "i3", "i4", "i5"},
    ),
    "L18535-valid-rewrite-of-not-in-placeholder": (
        "EXCLUDE ItemID WHERE Items.GENRE IN ($GENRE)",
        {"GENRE": '"Drama"'},
        {},
        {"i1", "i3", "i4", "i5"},
    ),
    "L15719-expression-builder-example": (
        "EXCLUDE ItemID WHERE Items.GENRES IN $GENRES AND Items.DOWNLOAD_COUNT > 200 IF currentUser.AGE > 17",
        {"GENRES": '"Drama","Horror"'},
        {"user": {"AGE": 30}},
        {"i1", "i4", "i5"},
    ),
    "L15719-expression-builder-example (17-year-old: not applied)": (
        "EXCLUDE ItemID WHERE Items.GENRES IN $GENRES AND Items.DOWNLOAD_COUNT > 200 IF currentUser.AGE > 17",
        {"GENRES": '"Drama","Horror"'},
        {"user": {"AGE": 17}},
        ALL_ITEMS,
    ),
}


@pytest.mark.parametrize(
    ("expression", "values", "context", "expected"),
    list(ITEM_EXAMPLES.values()),
    ids=list(ITEM_EXAMPLES),
)
def test_guide_item_examples(
    expression: str, values: dict[str, str], context: dict[str, Any], expected: set[str]
) -> None:
    assert items_passing(expression, values, **context) == expected


@pytest.mark.parametrize(
    ("expression", "values", "context", "expected"),
    list(OTHER_ITEM_EXAMPLES.values()),
    ids=list(OTHER_ITEM_EXAMPLES),
)
def test_other_guide_item_examples(
    expression: str, values: dict[str, str], context: dict[str, Any], expected: set[str]
) -> None:
    assert items_passing(expression, values, **context) == expected


USER_EXAMPLES: dict[str, tuple[str, dict[str, str], set[str]]] = {
    "L15476-include-membership-param": (
        "INCLUDE UserID WHERE Users.MEMBERSHIP_STATUS IN ($MEMBERSHIP)",
        {"MEMBERSHIP": '"gold","student"'},
        {"u1", "u2"},
    ),
    "L15480-exclude-younger-than-param": ("EXCLUDE UserID WHERE Users.AGE < $AGE", {"AGE": "21"}, {"u1", "u3", "u4"}),
    "L15486-include-clicked-or-rated": (
        'INCLUDE UserID WHERE Interactions.EVENT_TYPE IN ("click", "rating")',
        {},
        {"u1", "u2"},
    ),
    "L15490-exclude-event-type-param": (
        "EXCLUDE UserID WHERE Interactions.EVENT_TYPE IN ($EVENT_TYPE)",
        {"EVENT_TYPE": '"purchase"'},
        {"u1", "u2", "u3"},
    ),
}


@pytest.mark.parametrize(("expression", "values", "expected"), list(USER_EXAMPLES.values()), ids=list(USER_EXAMPLES))
def test_guide_user_segment_examples(expression: str, values: dict[str, str], expected: set[str]) -> None:
    assert users_passing(expression, values) == expected


ActionCase = tuple[str, dict[str, str], Metadata | None, set[str]]

ACTION_EXAMPLES: dict[str, ActionCase] = {
    "L15506-include-interacted-event-type-param (event types ignore case)": (
        "INCLUDE ActionID WHERE Action_Interactions.EVENT_TYPE IN ($EVENT_TYPE)",
        {"EVENT_TYPE": '"taken"'},
        None,
        {"a1"},
    ),
    "L15510-exclude-not-taken": (
        'EXCLUDE ActionID WHERE Action_Interactions.EVENT_TYPE IN ("NOT_TAKEN")',
        {},
        None,
        {"a1", "a4"},
    ),
    "L15516-exclude-category-param": (
        "EXCLUDE ActionID WHERE Actions.CATEGORY IN ($CATEGORY)",
        {"CATEGORY": '"upsell"'},
        None,
        {"a1", "a3"},
    ),
    "L15521-value-greater-than-param": (
        "INCLUDE ActionID WHERE Actions.VALUE > ($VALUE)",
        {"VALUE": '"5"'},
        None,
        {"a1", "a4"},
    ),
    "L15529-premium-actions-for-premium-users (singular Action., as printed)": (
        'INCLUDE ActionID WHERE Action.MEMBERSHIP_LEVEL IN ("Premium") IF CurrentUser.MEMBERSHIP\n= $PREMIUM',
        {"PREMIUM": '"premium"'},
        {"MEMBERSHIP": "premium"},
        {"a1", "a3"},
    ),
    "L15529-premium-actions-for-premium-users (basic user: not applied)": (
        'INCLUDE ActionID WHERE Action.MEMBERSHIP_LEVEL IN ("Premium") IF CurrentUser.MEMBERSHIP\n= $PREMIUM',
        {"PREMIUM": '"premium"'},
        {"MEMBERSHIP": "basic"},
        ALL_ACTIONS,
    ),
    "L15535-exclude-low-value-for-premium-users": (
        "EXCLUDE ActionID WHERE Actions.VALUE < ($VALUE) IF CurrentUser.MEMBERSHIP = $PREMIUM",
        {"VALUE": '"5"', "PREMIUM": '"premium"'},
        {"MEMBERSHIP": "premium"},
        {"a1", "a3", "a4"},
    ),
}


@pytest.mark.parametrize(
    ("expression", "values", "user", "expected"), list(ACTION_EXAMPLES.values()), ids=list(ACTION_EXAMPLES)
)
def test_guide_action_examples(
    expression: str, values: dict[str, str], user: Metadata | None, expected: set[str]
) -> None:
    assert actions_passing(expression, values, user=user) == expected


def test_every_example_of_the_examples_section_is_covered() -> None:
    """24 distinct expressions are printed between L15378 and L15570; all of them are exercised above."""
    section = {e for e, _, _, _ in ITEM_EXAMPLES.values()}
    section |= {e for e, _, _ in USER_EXAMPLES.values()}
    section |= {e for e, _, _, _ in ACTION_EXAMPLES.values()}
    assert len(section) == 24


# --- structure exposed to the control service and the runtime -----------------------------------------


def test_ast_of_a_guide_example() -> None:
    parsed = parse_filter_expression(
        "EXCLUDE ItemID WHERE Items.GENRE IN ($GENRE) AND Items.DOWNLOAD_COUNT > 200 IF CurrentUser.AGE > 17"
    )
    assert parsed.expressions == (
        Expression(
            action=Action.EXCLUDE,
            subject=Subject.ITEM_ID,
            dataset=Dataset.ITEMS,
            where=And(
                (
                    Condition(FieldRef(Dataset.ITEMS, "GENRE"), Operator.IN, Parameter("GENRE")),
                    Condition(FieldRef(Dataset.ITEMS, "DOWNLOAD_COUNT"), Operator.GT, Scalar("200", 200.0)),
                )
            ),
            if_condition=Condition(FieldRef(Dataset.USERS, "AGE"), Operator.GT, Scalar("17", 17.0)),
        ),
    )
    assert parsed.fields == frozenset({"Items.GENRE", "Items.DOWNLOAD_COUNT", "Users.AGE"})
    assert parsed.parameters == ("GENRE",)
    assert parsed.datasets == frozenset({Dataset.ITEMS, Dataset.USERS})
    assert parsed.subject is Subject.ITEM_ID
    assert parsed.uses_current_user and not parsed.uses_current_item and not parsed.uses_user_interactions
    assert parsed.requires_user_id


def test_summary_properties_of_chained_expressions() -> None:
    parsed = parse_filter_expression(
        "INCLUDE ItemID WHERE Items.PRICE < CurrentItem.PRICE AND Items.GENRE IN CurrentItem.GENRE_L2 | "
        "EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ($EVENT) | INCLUDE ItemID WHERE Items.GENRE IN ($G)"
    )
    assert [e.action for e in parsed.expressions] == [Action.INCLUDE, Action.EXCLUDE, Action.INCLUDE]
    assert parsed.fields == frozenset({"Items.PRICE", "Items.GENRE", "Items.GENRE_L2", "Interactions.EVENT_TYPE"})
    assert parsed.parameters == ("EVENT", "G")
    assert parsed.datasets == frozenset({Dataset.ITEMS, Dataset.INTERACTIONS})
    assert parsed.uses_current_item and parsed.uses_user_interactions and not parsed.uses_current_user
    first = parsed.expressions[0].where
    assert isinstance(first, And)
    assert first.operands[1] == Condition(FieldRef(Dataset.ITEMS, "GENRE"), Operator.IN, CurrentItemRef("GENRE_L2"))


def test_segment_filter_on_interactions_does_not_need_a_request_user() -> None:
    parsed = parse_filter_expression('INCLUDE UserID WHERE Interactions.EVENT_TYPE IN ("click")')
    assert not parsed.uses_user_interactions and not parsed.requires_user_id


def test_parameters_are_deduplicated_in_first_use_order() -> None:
    parsed = parse_filter_expression(
        "INCLUDE ItemID WHERE Items.A IN ($X) OR Items.B IN ($Y) OR Items.C IN ($X) IF CurrentUser.D = $Z"
    )
    assert parsed.parameters == ("X", "Y", "Z")


def test_and_binds_tighter_than_or() -> None:
    parsed = parse_filter_expression('INCLUDE ItemID WHERE Items.A IN ("x") OR Items.B IN ("y") AND Items.C IN ("z")')
    where = parsed.expressions[0].where
    assert isinstance(where, Or)
    assert isinstance(where.operands[0], Condition) and isinstance(where.operands[1], And)
    catalog: dict[str, Metadata] = {
        "ax": {"A": "x"},
        "by": {"B": "y"},
        "byz": {"B": "y", "C": "z"},
        "cz": {"C": "z"},
    }
    passing = items_passing(
        'INCLUDE ItemID WHERE Items.A IN ("x") OR Items.B IN ("y") AND Items.C IN ("z")', catalog=catalog
    )
    assert passing == {"ax", "byz"}


def test_keywords_and_identifiers_are_case_insensitive() -> None:
    lower = parse_filter_expression('include itemid where items.genre in ("Comedy") if currentuser.age > 18')
    upper = parse_filter_expression('INCLUDE ItemID WHERE Items.GENRE IN ("Comedy") IF CurrentUser.AGE > 18')
    assert lower.expressions == upper.expressions
    assert lower.fields == frozenset({"Items.GENRE", "Users.AGE"})


def test_whitespace_and_newlines_between_tokens() -> None:
    parsed = parse_filter_expression(
        '  EXCLUDE\tItemID\nWHERE Items . CATEGORY   IN(\n"a" ,"b"\n)  |EXCLUDE ItemID WHERE Items.X>=-1.5e2 '
    )
    first, second = parsed.expressions
    assert first.where == Condition(FieldRef(Dataset.ITEMS, "CATEGORY"), Operator.IN, StringSet(("a", "b")))
    assert second.where == Condition(FieldRef(Dataset.ITEMS, "X"), Operator.GE, Scalar("-1.5e2", -150.0))


def test_optional_parentheses_around_single_values() -> None:
    bare = parse_filter_expression("INCLUDE ItemID WHERE Items.G IN CurrentItem.G AND Items.P > $P AND Items.Q < .5")
    wrapped = parse_filter_expression(
        "INCLUDE ItemID WHERE Items.G IN (CurrentItem.G) AND Items.P > ($P) AND Items.Q < (.5)"
    )
    assert bare.expressions == wrapped.expressions
    where = bare.expressions[0].where
    assert isinstance(where, And)
    assert [c.value for c in where.operands if isinstance(c, Condition)] == [
        CurrentItemRef("G"),
        Parameter("P"),
        Scalar(".5", 0.5),
    ]


def test_string_literal_escapes() -> None:
    parsed = parse_filter_expression(r'INCLUDE ItemID WHERE Items.TITLE IN ("say \"hi\"", "back\\slash", "a|b")')
    condition = parsed.expressions[0].where
    assert isinstance(condition, Condition)
    assert condition.value == StringSet(('say "hi"', "back\\slash", "a|b"))


def test_wildcard_spellings() -> None:
    for written in ('("*")', "(*)", '("click", "*")'):
        parsed = parse_filter_expression(f"EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN {written}")
        condition = parsed.expressions[0].where
        assert isinstance(condition, Condition) and isinstance(condition.value, StringSet)
        assert condition.value.wildcard


def test_equality_with_string_literal_and_number_in_parentheses() -> None:
    parsed = parse_filter_expression('INCLUDE ItemID WHERE Items.X != "a" AND Items.Y = (3)')
    where = parsed.expressions[0].where
    assert isinstance(where, And)
    assert [c.value for c in where.operands if isinstance(c, Condition)] == [Scalar("a", None), Scalar("3", 3.0)]


def test_expression_of_exactly_maximum_length_is_accepted() -> None:
    head = 'INCLUDE ItemID WHERE Items.GENRE IN ("'
    text = head + "x" * (2500 - len(head) - 2) + '")'
    assert len(text) == 2500
    assert parse_filter_expression(text).fields == frozenset({"Items.GENRE"})


def test_five_distinct_fields_are_allowed_counting_current_user_and_current_item() -> None:
    parsed = parse_filter_expression(
        'INCLUDE ItemID WHERE Items.A IN ("a") AND Items.B < CurrentItem.C | '
        'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("x") | '
        "INCLUDE ItemID WHERE Items.A IN CurrentItem.A IF CurrentUser.D = 1"
    )
    assert parsed.fields == frozenset({"Items.A", "Items.B", "Items.C", "Interactions.EVENT_TYPE", "Users.D"})
    with pytest.raises(InvalidInputException, match="6 distinct dataset fields"):
        parse_filter_expression(
            'INCLUDE ItemID WHERE Items.A IN ("a") AND Items.B < CurrentItem.C | '
            'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("x") | '
            "INCLUDE ItemID WHERE Items.A IN CurrentItem.A IF CurrentUser.D = 1 AND CurrentUser.E = 2"
        )


# --- errors -------------------------------------------------------------------------------------------

BAD_EXPRESSIONS: dict[str, tuple[str, str]] = {
    "empty": ("", "Invalid filter expression: the filter expression is empty"),
    "blank": ("   \n", "the filter expression is empty"),
    "over-long": ('INCLUDE ItemID WHERE Items.G IN ("' + "x" * 2500 + '")', "the maximum is 2500"),
    "no action": ('ItemID WHERE Items.G IN ("a")', 'expected "INCLUDE" or "EXCLUDE", found "ItemID" at position 1'),
    "bad subject": (
        'INCLUDE Item WHERE Items.G IN ("a")',
        'expected "ItemID", "ActionID" or "UserID" after "INCLUDE", found "Item" at position 9',
    ),
    "missing WHERE": (
        'INCLUDE ItemID Items.GENRE IN ("a")',
        'expected "WHERE" after "ItemID", found "Items" at position 16',
    ),
    "nothing after WHERE": ("INCLUDE ItemID WHERE", 'expected a dataset field such as Items.GENRES after "WHERE"'),
    "unknown dataset": ('INCLUDE ItemID WHERE Products.G IN ("a")', 'unknown dataset "Products" at position 22'),
    "missing dot": ('INCLUDE ItemID WHERE Items G IN ("a")', 'expected "." and a field name after "Items"'),
    "missing field": ('INCLUDE ItemID WHERE Items. IN ("a")', 'expected a field name after "."'),
    "missing operator": (
        'INCLUDE ItemID WHERE Items.G ("a")',
        "expected an operator (IN, NOT IN, =, !=, <, <=, >, >=)",
    ),
    "NOT without IN": ('INCLUDE ItemID WHERE Items.G NOT ("a")', 'expected "IN" after "NOT", found "("'),
    "unknown operator": ('INCLUDE ItemID WHERE Items.G ~ ("a")', 'unexpected character "~" at position 30'),
    "bang alone": ("INCLUDE ItemID WHERE Items.G ! 3", 'unexpected character "!" at position 30; did you mean "!="?'),
    "missing value after IN": (
        "INCLUDE ItemID WHERE Items.G IN",
        'expected a value list such as ("a", "b"), a $PARAMETER or CurrentItem after "IN", found the end',
    ),
    "empty IN list": ("INCLUDE ItemID WHERE Items.G IN ()", 'expected a value after "(", found ")" at position 34'),
    "trailing comma in list": (
        'INCLUDE ItemID WHERE Items.G IN ("a",)',
        'expected a value in double quotes, such as "comedy" after ","',
    ),
    "unclosed paren": (
        'INCLUDE ItemID WHERE Items.G IN ("a", "b"',
        'expected ")", found the end of the expression at position 42',
    ),
    "unbalanced closing paren": ('INCLUDE ItemID WHERE Items.G IN ("a"))', 'found ")" at position 38'),
    "missing comma": (
        'INCLUDE ItemID WHERE Items.G IN ("a" "b")',
        'expected "," or ")" after ""a"", found ""b"" at position 38',
    ),
    "unterminated string": ('INCLUDE ItemID WHERE Items.G IN ("a)', "unterminated string starting at position 34"),
    "single quotes": ("INCLUDE ItemID WHERE Items.G IN ('a')", "unexpected single quote at position 34"),
    "curly quotes": ("INCLUDE ItemID WHERE Items.G IN (\u201ca\u201d)", 'unexpected character "\u201c" at position 34'),
    "empty string": ('INCLUDE ItemID WHERE Items.G IN ("")', 'empty string "" at position 34'),
    "unquoted number in IN": ("INCLUDE ItemID WHERE Items.G IN (5)", "unquoted number 5 in an IN list at position 34"),
    "bare word in IN": (
        "INCLUDE ItemID WHERE Items.G IN (comedy)",
        'expected a value in double quotes, such as "comedy"',
    ),
    "bad parameter name": (
        "INCLUDE ItemID WHERE Items.G IN ($)",
        'expected a parameter name (letters, digits, "_") after "$" at position 34',
    ),
    "bad parameter character": ("INCLUDE ItemID WHERE Items.G IN ($-A)", 'after "$" at position 34'),
    "over-long parameter name": (
        "INCLUDE ItemID WHERE Items.G IN ($" + "P" * 51 + ")",
        "is longer than 50 characters at position 34",
    ),
    "two parameters in a list": (
        "INCLUDE ItemID WHERE Items.G IN ($A, $B)",
        'expected ")" after a parameter, found ","',
    ),
    "parameter mixed with values": (
        'INCLUDE ItemID WHERE Items.G IN ("a", $B)',
        "parameter $B in a list of values at position 39",
    ),
    "parameter with NOT IN (L18531)": (
        "INCLUDE ItemID WHERE Items.GENRE NOT IN ($GENRE)",
        "Invalid input symbol: $GENRE. Placeholders are not allowed with NOT_IN operator at position 41",
    ),
    "string with range operator": (
        'INCLUDE ItemID WHERE Items.PRICE < "cheap"',
        'string "cheap" after "<" at position 36',
    ),
    "missing comparison value": (
        "INCLUDE ItemID WHERE Items.PRICE <",
        'expected a number, a $PARAMETER or CurrentItem.<field> after "<"',
    ),
    "list after comparison": (
        'INCLUDE ItemID WHERE Items.PRICE = ("1", "2")',
        'expected ")" after ""1"", found "," at position 40',
    ),
    "reversed comparison": (
        "INCLUDE ItemID WHERE 18 < Items.AGE",
        'expected a dataset field such as Items.GENRES after "WHERE", found "18"',
    ),
    "dangling AND": (
        'INCLUDE ItemID WHERE Items.G IN ("a") AND',
        'expected a dataset field such as Items.GENRES after "AND"',
    ),
    "trailing junk": (
        'INCLUDE ItemID WHERE Items.G IN ("a") LIMIT 5',
        'expected AND, OR, IF, "|" or the end of the expression after ")", found "LIMIT"',
    ),
    "grouping parentheses": (
        'INCLUDE ItemID WHERE (Items.G IN ("a"))',
        'expected a dataset field such as Items.GENRES after "WHERE", found "("',
    ),
    "empty expression after pipe": (
        'INCLUDE ItemID WHERE Items.G IN ("a") |',
        'expected "INCLUDE" or "EXCLUDE" after "|"',
    ),
    "double pipe": (
        'INCLUDE ItemID WHERE Items.G IN ("a") || INCLUDE ItemID WHERE Items.H IN ("b")',
        'expected "INCLUDE" or "EXCLUDE" after "|", found "|"',
    ),
    "mixed datasets in one expression": (
        'INCLUDE ItemID WHERE Items.G IN ("a") AND Interactions.EVENT_TYPE IN ("click")',
        "a condition on the Interactions dataset chained to conditions on Items at position 43",
    ),
    "mixed datasets with OR": (
        'INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click") OR Items.G IN ("a")',
        "a condition on the Items dataset chained to conditions on Interactions",
    ),
    "Users in WHERE of an item filter": (
        "INCLUDE ItemID WHERE Users.AGE > 18",
        "the Users dataset can't be used in the WHERE clause of an ItemID filter at position 22",
    ),
    "Actions in an item filter": (
        "INCLUDE ItemID WHERE Actions.V > 1",
        "the Actions dataset can't be used when filtering by ItemID",
    ),
    "Items in an action filter": (
        'INCLUDE ActionID WHERE Items.G IN ("a")',
        "the Items dataset can't be used when filtering by ActionID",
    ),
    "item interactions in an action filter": (
        'EXCLUDE ActionID WHERE Interactions.EVENT_TYPE IN ("click")',
        "the Interactions dataset can't be used when filtering by ActionID",
    ),
    "action interactions in an item filter": (
        'EXCLUDE ItemID WHERE Action_Interactions.EVENT_TYPE IN ("TAKEN")',
        "the Action_Interactions dataset can't be used when filtering by ItemID",
    ),
    "Items in a segment filter": (
        'INCLUDE UserID WHERE Items.G IN ("a")',
        "the Items dataset can't be used when filtering by UserID",
    ),
    "interaction field other than EVENT_TYPE": (
        'EXCLUDE ItemID WHERE Interactions.DEVICE IN ("ios")',
        'field "DEVICE" of Interactions at position 35; Interactions can be filtered only by EVENT_TYPE',
    ),
    "comparison on event type": (
        'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE = "click"',
        'operator "=" on Interactions.EVENT_TYPE at position 48; event types support only IN and NOT IN',
    ),
    "wildcard outside event type": ('INCLUDE ItemID WHERE Items.G IN ("*")', 'wildcard "*" on Items.G at position 33'),
    "action expiration field": (
        "INCLUDE ActionID WHERE Actions.ACTION_EXPIRATION_TIMESTAMP > 5",
        "Actions.ACTION_EXPIRATION_TIMESTAMP can't be used in a filter",
    ),
    "action repeat frequency": (
        "INCLUDE ActionID WHERE Actions.REPEAT_FREQUENCY > 5",
        "Actions.REPEAT_FREQUENCY can't be used in a filter at position 32",
    ),
    "CurrentUser in WHERE": (
        "INCLUDE ItemID WHERE CurrentUser.AGE > 5",
        "CurrentUser in a WHERE condition at position 22",
    ),
    "CurrentItem on the left": (
        "INCLUDE ItemID WHERE CurrentItem.PRICE > 5",
        "CurrentItem before the operator at position 22",
    ),
    "CurrentItem in an action filter": (
        "INCLUDE ActionID WHERE Actions.V < CurrentItem.V",
        "CurrentItem compared with Actions.V at position 36",
    ),
    "CurrentItem in an IF": (
        'INCLUDE ItemID WHERE Items.G IN ("a") IF CurrentUser.G IN CurrentItem.G',
        "CurrentItem compared with Users.G",
    ),
    "CurrentItem with interactions": (
        "EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN CurrentItem.G",
        "CurrentItem compared with Interactions.EVENT_TYPE",
    ),
    "IF on a non-user field": (
        'INCLUDE ItemID WHERE Items.G IN ("a") IF Items.H = 1',
        'expected "CurrentUser.<field>" (an IF condition checks only the CurrentUser) after "IF", found "Items"',
    ),
    "OR in IF": (
        'INCLUDE ItemID WHERE Items.G IN ("a") IF CurrentUser.A = 1 OR CurrentUser.B = 2',
        '"OR" in an IF condition at position 60',
    ),
    "second IF": (
        'INCLUDE ItemID WHERE Items.G IN ("a") IF CurrentUser.A = 1 IF CurrentUser.B = 2',
        "a second IF at position 60",
    ),
    "condition after IF": (
        'INCLUDE ItemID WHERE Items.G IN ("a") IF CurrentUser.A = 1 AND Items.H IN ("b")',
        'expected "CurrentUser.<field>"',
    ),
    "IF in a segment filter": (
        'INCLUDE UserID WHERE Users.A IN ("a") IF CurrentUser.B = 1',
        "IF is not allowed in a UserID (user segment) filter at position 39",
    ),
    "mixed subjects": (
        'INCLUDE ItemID WHERE Items.G IN ("a") | INCLUDE ActionID WHERE Actions.C IN ("b")',
        "expression 2 filters ActionID but expression 1 filters ItemID at position 41",
    ),
    "too many fields": (
        "INCLUDE ItemID WHERE " + " AND ".join(f'Items.F{i} IN ("a")' for i in range(6)),
        "the filter uses 6 distinct dataset fields (Items.F0, Items.F1, Items.F2, Items.F3, Items.F4, "
        "Items.F5); a filter can use at most 5",
    ),
    "too many parameters": (
        "INCLUDE ItemID WHERE " + " OR ".join(f"Items.G IN ($P{i})" for i in range(26)),
        "the filter uses 26 distinct parameters; at most 25",
    ),
}


@pytest.mark.parametrize(("expression", "message"), list(BAD_EXPRESSIONS.values()), ids=list(BAD_EXPRESSIONS))
def test_bad_expressions_are_rejected_precisely(expression: str, message: str) -> None:
    with pytest.raises(InvalidInputException) as caught:
        parse_filter_expression(expression)
    assert caught.value.code == "InvalidInputException"
    assert caught.value.message.startswith("Invalid filter expression: ")
    assert message in caught.value.message


def test_error_positions_are_one_based_offsets() -> None:
    text = "EXCLUDE ItemID WHERE Items.GENRE IN ($GENRE) | INCLUDE ItemID WHERE Items.GENRE NOT IN ($X)"
    with pytest.raises(InvalidInputException) as caught:
        parse_filter_expression(text)
    position = int(caught.value.message.split("at position ")[1].split(";")[0])
    assert text[position - 1 :].startswith("($X)")


def test_non_string_expression_is_rejected() -> None:
    with pytest.raises(InvalidInputException, match="must be a string"):
        parse_filter_expression(42)  # type: ignore[arg-type]


# --- filterValues -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param('"drama"', ("drama",), id="L16034-one-value"),
        pytest.param('"horror", "comedy", "drama"', ("horror", "comedy", "drama"), id="L16034-spaces-after-commas"),
        pytest.param('"horror","comedy","drama"', ("horror", "comedy", "drama"), id="L16041-batch-line"),
        pytest.param('"value1","value2","value3"', ("value1", "value2", "value3"), id="L15790-cli"),
        pytest.param('"comedy", "drama", "horror"', ("comedy", "drama", "horror"), id="L15893-sdk"),
        pytest.param('"value1, value2"', ("value1, value2",), id="L11923-comma-inside-quotes-is-one-value"),
        pytest.param('"United States"', ("United States",), id="L16055-space-inside-value"),
        pytest.param("comedy, drama", ("comedy", "drama"), id="console-style-unquoted"),
        pytest.param("18", ("18",), id="bare-number"),
        pytest.param('"a","a","b"', ("a", "b"), id="duplicates-dropped"),
        pytest.param(r'"say \"hi\""', ('say "hi"',), id="escaped-quote"),
        pytest.param("", (), id="empty-is-omitted"),
        pytest.param("   ", (), id="blank-is-omitted"),
    ],
)
def test_parse_filter_value(raw: str, expected: tuple[str, ...]) -> None:
    assert parse_filter_value(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param('"United States""', 'expected "," between values', id="L16056-stray-quote"),
        pytest.param('"a', "unterminated quoted value", id="unterminated"),
        pytest.param('"a",', "trailing comma", id="trailing-comma"),
        pytest.param('"a",,"b"', "empty value", id="empty-between-commas"),
        pytest.param('"a" "b"', 'expected "," between values', id="missing-comma"),
        pytest.param('ab"c"', "unexpected double quote", id="quote-inside-bare-value"),
        pytest.param('""', "empty value", id="empty-quoted"),
    ],
)
def test_parse_filter_value_errors(raw: str, message: str) -> None:
    with pytest.raises(InvalidInputException, match=message):
        parse_filter_value(raw, name="GENRE")


def test_filter_values_map_limits() -> None:
    flt = parse_filter_expression("EXCLUDE ItemID WHERE Items.GENRE IN ($GENRE)")
    with pytest.raises(InvalidInputException, match="26 entries; at most 25"):
        bind_filter_values(flt, {f"K{i}": '"v"' for i in range(26)})
    with pytest.raises(InvalidInputException, match=r"must match \[A-Za-z0-9_\]\+"):
        bind_filter_values(flt, {"GEN-RE": '"v"'})
    with pytest.raises(InvalidInputException, match="longer than 50 characters"):
        bind_filter_values(flt, {"K" * 51: '"v"'})
    with pytest.raises(InvalidInputException, match="1001 characters long; the maximum is 1000"):
        bind_filter_values(flt, {"GENRE": '"' + "v" * 999 + '"'})
    bind_filter_values(flt, {f"K{i}": '"v"' for i in range(24)} | {"GENRE": '"' + "v" * 998 + '"'})


def test_include_parameters_are_required() -> None:
    flt = parse_filter_expression("INCLUDE ItemID WHERE Items.GENRE IN ($GENRE)")
    with pytest.raises(InvalidInputException, match='must give a value for "GENRE"'):
        bind_filter_values(flt, {})
    with pytest.raises(InvalidInputException, match='must give a value for "GENRE"'):
        bind_filter_values(flt, {"genre": '"Comedy"'})  # names are case-sensitive
    with pytest.raises(InvalidInputException, match='must give a value for "GENRE"'):
        bind_filter_values(flt, {"GENRE": ""})  # an empty value counts as omitted


def test_include_parameter_in_if_clause_is_required() -> None:
    flt = parse_filter_expression('INCLUDE ItemID WHERE Items.GENRE IN ("a") IF CurrentUser.AGE > $AGE')
    with pytest.raises(InvalidInputException, match='must give a value for "AGE"'):
        bind_filter_values(flt, None)


def test_omitted_exclude_parameter_drops_the_expression() -> None:
    """L15635: with EXCLUDE, omitted values mean that portion isn't used to filter."""
    assert items_passing("EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ($EVENT_TYPE)") == ALL_ITEMS
    assert items_passing("EXCLUDE ItemID WHERE Items.CATEGORY IN ($CATEGORY)", {"CATEGORY": " "}) == ALL_ITEMS
    assert bound("EXCLUDE ItemID WHERE Items.CATEGORY IN ($CATEGORY)").expressions == ()


def test_omitted_exclude_parameter_in_and_chain_stops_the_whole_expression() -> None:
    passing = items_passing(
        "EXCLUDE ItemID WHERE Items.GENRES IN $GENRES AND Items.DOWNLOAD_COUNT > 200 IF CurrentUser.AGE > 17",
        user={"AGE": 30},
    )
    assert passing == ALL_ITEMS


def test_omitted_exclude_parameter_in_or_chain_keeps_the_other_branch() -> None:
    passing = items_passing('EXCLUDE ItemID WHERE Items.GENRE IN ($GENRE) OR Items.CATEGORY IN ("books")')
    assert passing == ALL_ITEMS - {"i4"}
    with_value = items_passing(
        'EXCLUDE ItemID WHERE Items.GENRE IN ($GENRE) OR Items.CATEGORY IN ("books")', {"GENRE": '"Action"'}
    )
    assert with_value == ALL_ITEMS - {"i4", "i5"}


def test_omitted_exclude_parameter_in_if_clause_means_not_applied() -> None:
    passing = items_passing(
        "EXCLUDE ItemID WHERE Items.GENRE IN ($GENRE) IF CurrentUser.AGE = $AGE",
        {"GENRE": '"Comedy"'},
        user={"AGE": 30},
    )
    assert passing == ALL_ITEMS


def test_omitted_parameter_of_one_exclude_leaves_the_others() -> None:
    passing = items_passing(
        "EXCLUDE ItemID WHERE Items.CATEGORY IN ($CATEGORY) | "
        "EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ($EVENT_TYPE)",
        {"EVENT_TYPE": '"click"'},
    )
    assert passing == {"i1", "i3", "i5"}


def test_unused_filter_values_are_ignored() -> None:
    assert items_passing('INCLUDE ItemID WHERE Items.OWNER IN ("in-house")', {"OTHER": '"x"'}) == {"i1", "i3"}


def test_scalar_parameter_takes_exactly_one_value() -> None:
    flt = parse_filter_expression("INCLUDE ItemID WHERE Items.PRICE <= $PRICE")
    with pytest.raises(
        InvalidInputException, match=r'\$PRICE is compared with "<=" and takes exactly one value; got 2'
    ):
        bind_filter_values(flt, {"PRICE": '"10","20"'})


def test_range_parameter_needs_a_number() -> None:
    flt = parse_filter_expression("INCLUDE ItemID WHERE Items.PRICE <= $PRICE")
    with pytest.raises(InvalidInputException, match=r'\$PRICE is compared with "<=" and needs a number; got "cheap"'):
        bind_filter_values(flt, {"PRICE": '"cheap"'})


def test_numeric_parameter_quoted_or_bare() -> None:
    assert items_passing("INCLUDE ItemID WHERE Items.PRICE <= $PRICE", {"PRICE": "20"}) == {"i1", "i4"}
    assert items_passing("INCLUDE ItemID WHERE Items.PRICE <= $PRICE", {"PRICE": '"20.5"'}) == {"i1", "i4"}


def test_wildcard_event_type_parameter() -> None:
    assert (
        items_passing("EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ($EVENT_TYPE)", {"EVENT_TYPE": '"*"'}) == set()
    )
    # On an Items field "*" is just a string.
    assert items_passing("EXCLUDE ItemID WHERE Items.GENRE IN ($G)", {"G": '"*"'}) == ALL_ITEMS


# --- evaluation semantics -----------------------------------------------------------------------------


def test_include_and_exclude_combine_as_union_minus_union_in_any_order() -> None:
    a = 'INCLUDE ItemID WHERE Items.CATEGORY IN ("clothing")'
    b = 'INCLUDE ItemID WHERE Items.CATEGORY IN ("books")'
    c = "EXCLUDE ItemID WHERE Items.PRICE > 25"
    d = 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchased")'
    expected = {"i4"}  # (i1, i2 | i4) - (i2, i3, i5 | i1)
    assert items_passing(" | ".join([a, b, c, d])) == expected
    assert items_passing(" | ".join([d, c, b, a])) == expected
    assert items_passing(" | ".join([c, a, d, b])) == expected


def test_exclude_only_filters_keep_everything_else() -> None:
    assert items_passing(
        'EXCLUDE ItemID WHERE Items.OWNER IN ("in-house") | EXCLUDE ItemID WHERE Items.PRICE > 55'
    ) == {
        "i2",
        "i4",
    }


def test_include_gated_off_by_if_does_not_restrict() -> None:
    gated = 'INCLUDE ItemID WHERE Items.CATEGORY IN ("books") IF CurrentUser.AGE > 18'
    other = 'INCLUDE ItemID WHERE Items.OWNER IN ("in-house")'
    assert items_passing(gated, user={"AGE": 10}) == ALL_ITEMS
    assert items_passing(gated, user={"AGE": 30}) == {"i4"}
    assert items_passing(f"{gated} | {other}", user={"AGE": 10}) == {"i1", "i3"}
    assert items_passing(f"{gated} | {other}", user={"AGE": 30}) == {"i1", "i3", "i4"}


def test_if_without_a_known_user_is_not_applied() -> None:
    expression = 'INCLUDE ItemID WHERE Items.CATEGORY IN ("books") IF CurrentUser.AGE > 18'
    assert items_passing(expression, user=None) == ALL_ITEMS
    assert items_passing(expression, user={"GENDER": "x"}) == ALL_ITEMS


def test_if_clause_with_several_and_conditions() -> None:
    expression = (
        'EXCLUDE ItemID WHERE Items.OWNER IN ("partner") IF CurrentUser.AGE >= 18 AND CurrentUser.TIER IN ("free")'
    )
    assert items_passing(expression, user={"AGE": 18, "TIER": "trial|free"}) == ALL_ITEMS - {"i2"}
    assert items_passing(expression, user={"AGE": 18, "TIER": "paid"}) == ALL_ITEMS
    assert items_passing(expression, user={"AGE": 17, "TIER": "free"}) == ALL_ITEMS


def test_include_on_interactions_with_no_history_keeps_nothing() -> None:
    assert items_passing('INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")', history=None) == set()
    assert items_passing('INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")', history={}) == set()


def test_categorical_multi_values_match_any() -> None:
    assert items_passing('INCLUDE ItemID WHERE Items.GENRE IN ("Horror")') == {"i3"}
    assert items_passing('INCLUDE ItemID WHERE Items.GENRES IN ("Drama")') == {"i1", "i2"}
    catalog: dict[str, Metadata] = {"seq": {"GENRE": ["Horror", "Drama"]}, "str": {"GENRE": "Horror"}}
    assert items_passing('INCLUDE ItemID WHERE Items.GENRE IN ("Drama")', catalog=catalog) == {"seq"}


def test_not_in_passes_when_no_value_matches_including_missing() -> None:
    passing = items_passing('INCLUDE ItemID WHERE Items.GENRE NOT IN ("Comedy")')
    assert passing == {"i2", "i4", "i5"}  # i3 is Comedy|Horror; i4 has no genre


def test_item_strings_match_exactly_but_event_types_ignore_case() -> None:
    assert items_passing('INCLUDE ItemID WHERE Items.GENRE IN ("comedy")') == set()
    assert items_passing('INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("CLICK")') == {"i2", "i4"}
    assert items_passing('INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")', history={"Click": ["i1"]}) == {
        "i1"
    }


def test_not_in_on_event_types() -> None:
    # Items whose interactions with this user include no click: never-touched items count too.
    assert items_passing('INCLUDE ItemID WHERE Interactions.EVENT_TYPE NOT IN ("click")') == {"i1", "i3", "i5"}


def test_wildcard_matches_any_interaction() -> None:
    assert items_passing(
        'INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")', history={"click": ["i1"], "buy": ["i3"]}
    ) == {
        "i1",
        "i3",
    }
    assert items_passing("EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN (*)") == set()


def test_item_interaction_window_is_100_most_recent_per_event_type() -> None:
    catalog: dict[str, Metadata] = {f"m{i}": {} for i in range(102)}
    clicks = [f"m{i}" for i in range(101)]  # most recent first: m100 is the 101st most recent click
    history: InteractionHistory = {"click": clicks, "view": ["m100"]}
    passing = items_passing(
        'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")', catalog=catalog, history=history
    )
    assert passing == {"m100", "m101"}
    passing_views = items_passing(
        'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click", "view")', catalog=catalog, history=history
    )
    assert passing_views == {"m101"}  # within the view window even though outside the click window
    assert items_passing(
        'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")', catalog=catalog, history=history, window=101
    ) == {"m101"}


def test_action_interaction_window_is_300_most_recent_per_event_type() -> None:
    flt = bound('EXCLUDE ActionID WHERE Action_Interactions.EVENT_TYPE IN ("TAKEN")')
    taken = [f"x{i}" for i in range(301)]
    history: InteractionHistory = {"TAKEN": taken}
    assert not evaluate_for_action(flt, "x299", {}, user_action_interactions=history)
    assert evaluate_for_action(flt, "x300", {}, user_action_interactions=history)


def test_numeric_comparisons_and_missing_values() -> None:
    catalog: dict[str, Metadata] = {
        "int": {"N": 18},
        "float": {"N": 18.0},
        "text": {"N": "18"},
        "other": {"N": 19},
        "missing": {},
        "word": {"N": "eighteen"},
    }
    assert items_passing("INCLUDE ItemID WHERE Items.N = 18", catalog=catalog) == {"int", "float", "text"}
    assert items_passing("INCLUDE ItemID WHERE Items.N != 18", catalog=catalog) == {"other", "word"}
    assert items_passing("INCLUDE ItemID WHERE Items.N > 18", catalog=catalog) == {"other"}
    assert items_passing("INCLUDE ItemID WHERE Items.N >= 18", catalog=catalog) == {"int", "float", "text", "other"}
    assert items_passing("INCLUDE ItemID WHERE Items.N < 19", catalog=catalog) == {"int", "float", "text"}
    assert items_passing("INCLUDE ItemID WHERE Items.N <= 17.5", catalog=catalog) == set()


def test_equality_on_strings() -> None:
    catalog: dict[str, Metadata] = {"p": {"TIER": "premium"}, "b": {"TIER": "basic"}, "pb": {"TIER": "basic|premium"}}
    assert items_passing('INCLUDE ItemID WHERE Items.TIER = "premium"', catalog=catalog) == {"p", "pb"}
    assert items_passing('INCLUDE ItemID WHERE Items.TIER != "premium"', catalog=catalog) == {"b"}


def test_field_names_are_matched_case_insensitively_in_metadata() -> None:
    catalog: dict[str, Metadata] = {"x": {"genre": "Comedy"}, "y": {"Genre": "Drama"}}
    assert items_passing('INCLUDE ItemID WHERE Items.GENRE IN ("Comedy")', catalog=catalog) == {"x"}


def test_current_item_missing_field_fails_the_comparison() -> None:
    expression = "INCLUDE ItemID WHERE Items.PRICE < CurrentItem.PRICE"
    assert items_passing(expression, current_item={}) == set()
    assert items_passing(expression, current_item={"PRICE": 25}) == {"i1", "i4"}


def test_current_item_filter_needs_a_current_item() -> None:
    flt = bound("INCLUDE ItemID WHERE Items.PRICE < CurrentItem.PRICE")
    with pytest.raises(InvalidInputException, match="needs a related-items request"):
        evaluate_for_item(flt, "i1", ITEMS["i1"])


def test_filter_subject_must_match_the_request() -> None:
    item_filter = bound('INCLUDE ItemID WHERE Items.G IN ("a")')
    action_filter = bound('INCLUDE ActionID WHERE Actions.G IN ("a")')
    user_filter = bound('INCLUDE UserID WHERE Users.G IN ("a")')
    with pytest.raises(InvalidInputException, match="filters ItemID and can't be applied to action recommendations"):
        evaluate_for_action(item_filter, "a1", {})
    with pytest.raises(InvalidInputException, match="filters ActionID and can't be applied to item recommendations"):
        evaluate_for_item(action_filter, "i1", {})
    with pytest.raises(InvalidInputException, match="filters UserID and can't be applied to item recommendations"):
        evaluate_for_item(user_filter, "i1", {})
    with pytest.raises(InvalidInputException, match="filters ItemID and can't be applied to user segments"):
        evaluate_for_user(item_filter, {})


def test_unknown_candidate_metadata_is_treated_as_empty() -> None:
    flt = bound('EXCLUDE ItemID WHERE Items.GENRE IN ("Comedy")')
    assert evaluate_for_item(flt, "new", None)
    flt_include = bound('INCLUDE ItemID WHERE Items.GENRE IN ("Comedy")')
    assert not evaluate_for_item(flt_include, "new", None)


# --- schema-aware checks at CreateFilter ---------------------------------------------------------------

ITEMS_SCHEMA = avro_record(
    "Items",
    "ITEM_ID",
    {"name": "GENRES", "type": ["null", "string"], "categorical": True},
    {"name": "TITLE", "type": "string"},
    {"name": "DESCRIPTION", "type": ["string", "null"], "textual": True},
    {"name": "PRICE", "type": "float"},
    {"name": "CREATION_TIMESTAMP", "type": "long"},
    {"name": "AVAILABLE", "type": "boolean"},
)
USERS_SCHEMA = avro_record(
    "Users", "USER_ID", {"name": "age", "type": "int"}, {"name": "MEMBERSHIP", "type": "string", "categorical": True}
)


def _field_types() -> dict[str, FieldType]:
    return field_types_from_avro(Dataset.ITEMS, json.dumps(ITEMS_SCHEMA)) | field_types_from_avro(
        Dataset.USERS, USERS_SCHEMA
    )


def test_field_types_from_avro() -> None:
    assert _field_types() == {
        "Items.ITEM_ID": FieldType.STRING,
        "Items.GENRES": FieldType.CATEGORICAL,
        "Items.TITLE": FieldType.STRING,
        "Items.DESCRIPTION": FieldType.TEXTUAL,
        "Items.PRICE": FieldType.NUMERIC,
        "Items.CREATION_TIMESTAMP": FieldType.NUMERIC,
        "Items.AVAILABLE": FieldType.BOOLEAN,
        "Users.USER_ID": FieldType.STRING,
        "Users.AGE": FieldType.NUMERIC,
        "Users.MEMBERSHIP": FieldType.CATEGORICAL,
    }


def test_valid_filters_pass_the_schema_check() -> None:
    for expression in (
        "INCLUDE ItemID WHERE Items.GENRES IN ($G) AND Items.PRICE < CurrentItem.PRICE IF CurrentUser.AGE > 18",
        'EXCLUDE ItemID WHERE Items.TITLE IN ("Up") | EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")',
        'INCLUDE ItemID WHERE Items.PRICE = 3 AND Items.GENRES = "Drama" IF CurrentUser.MEMBERSHIP = $M',
    ):
        check_filter_fields(parse_filter_expression(expression), _field_types())


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        pytest.param(
            'INCLUDE ItemID WHERE Items.COLOR IN ("red")',
            "Items.COLOR at position 22 is not a field",
            id="unknown-field",
        ),
        pytest.param(
            'EXCLUDE ItemID WHERE Items.DESCRIPTION IN ("x")',
            "Items.DESCRIPTION at position 22 is unstructured text (textual)",
            id="L15282-textual",
        ),
        pytest.param(
            'INCLUDE ItemID WHERE Items.AVAILABLE IN ("True")',
            "Items.AVAILABLE at position 22 is boolean",
            id="L15289-boolean",
        ),
        pytest.param(
            "INCLUDE ItemID WHERE Items.GENRES > 3",
            '">" compares numbers, but Items.GENRES is a categorical field',
            id="range-on-string",
        ),
        pytest.param(
            'INCLUDE ItemID WHERE Items.PRICE IN ("3")',
            '"IN" matches strings, but Items.PRICE is a numeric field',
            id="in-on-number",
        ),
        pytest.param(
            "INCLUDE ItemID WHERE Items.PRICE < CurrentItem.GENRES",
            "but Items.GENRES is a categorical field",
            id="current-item-type",
        ),
        pytest.param(
            'INCLUDE ItemID WHERE Items.PRICE = "cheap"',
            'Items.PRICE is numeric and can\'t equal the string "cheap"',
            id="numeric-vs-string",
        ),
        pytest.param(
            'INCLUDE ItemID WHERE Items.GENRES IN ("a") IF CurrentUser.MEMBERSHIP > 2',
            "Users.MEMBERSHIP is a categorical field",
            id="if-range-on-string",
        ),
        pytest.param(
            'INCLUDE UserID WHERE Users.COUNTRY IN ("JP")',
            "Users.COUNTRY at position 22 is not a field of the Users schema",
            id="unknown-user-field",
        ),
        pytest.param(
            "INCLUDE ActionID WHERE Actions.VALUE > 3",
            "uses the Actions dataset, but the dataset group has no Actions dataset",
            id="missing-dataset",
        ),
    ],
)
def test_schema_check_rejections(expression: str, message: str) -> None:
    with pytest.raises(InvalidInputException) as caught:
        check_filter_fields(parse_filter_expression(expression), _field_types())
    assert message in caught.value.message


def test_dataset_group_field_limit() -> None:
    existing = [
        parse_filter_expression('INCLUDE ItemID WHERE Items.A IN ("a") AND Items.B IN ("b") AND Items.C IN ("c")'),
        parse_filter_expression('INCLUDE ItemID WHERE Items.D IN ("a") AND Items.E IN ("b") IF CurrentUser.F = 1'),
    ]
    ok = parse_filter_expression(
        'INCLUDE ItemID WHERE Items.A IN ("a") OR Items.G IN ("b") | '
        'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("x")'
    )
    check_dataset_group_field_limit(ok, existing)  # A..G + Interactions.EVENT_TYPE = 8 distinct
    too_many = parse_filter_expression(
        'INCLUDE ItemID WHERE Items.H IN ("a") AND Items.I IN ("b") AND Items.J IN ("c") AND Items.K IN ("d")'
    )
    with pytest.raises(LimitExceededException, match="would use 12 distinct dataset fields"):
        check_dataset_group_field_limit(too_many, [*existing, ok])
    just_enough = parse_filter_expression('INCLUDE ItemID WHERE Items.H IN ("a") AND Items.I IN ("b")')
    check_dataset_group_field_limit(just_enough, [*existing, ok])  # exactly 10


def test_parsed_filters_are_hashable_values() -> None:
    text = 'INCLUDE ItemID WHERE Items.GENRE IN ("a", "b") IF CurrentUser.AGE > 3'
    first, second = parse_filter_expression(text), parse_filter_expression(text)
    assert first == second and hash(first) == hash(second)
    assert isinstance(first, FilterExpression)
    assert bind_filter_values(first) == bind_filter_values(second)
