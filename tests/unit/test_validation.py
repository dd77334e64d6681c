"""AWS's validation wording (tailor_shared.validation): one builder for every service's messages."""

from __future__ import annotations

from tailor_shared import validation as v
from tailor_shared.errors import InvalidInputException


def test_the_counted_message_names_value_member_and_rule() -> None:
    err = v.validation_error("x", "eventList.1.member.itemId", "Member must not be null")
    assert isinstance(err, InvalidInputException)
    assert err.message == (
        "1 validation error detected: Value 'x' at 'eventList.1.member.itemId' failed to satisfy constraint: "
        "Member must not be null"
    )


def test_null_and_hidden_values() -> None:
    assert v.validation_error(None, "name", "r").message.endswith(
        "Value null at 'name' failed to satisfy constraint: r"
    )
    assert v.constraint_message(v.NO_VALUE, "schema", "r") == "Value at 'schema' failed to satisfy constraint: r"


def test_the_short_form_echoes_json_and_cuts_long_values() -> None:
    assert v.quoted_short({"a": 1}) == """'{"a": 1}'"""
    assert v.quoted({"a": 1}) == "'{'a': 1}'"
    long = "x" * 81
    assert v.quoted_short(long) == f"'{'x' * 77}...'"
    assert v.quoted_short("x" * 80) == f"'{'x' * 80}'"
    assert v.validation_error(long, "p", "r", v.quoted_short).message.count("x") == 77
