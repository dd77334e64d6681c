"""Batch inference lines (data-events-filters-batch.md §5.2, §5.5): parsing per recipe type, the guide's output
shapes, per-line errors, the input limits and the S3-prefix rule for input files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tailor_batch.adapters import input_files, read_lines
from tailor_batch.domain.lines import (
    MAX_INPUT_FILES,
    LineError,
    check_inputs,
    error_line,
    output_line,
    output_name,
    parse_line,
    parse_object,
)


def test_lines_per_recipe_type() -> None:
    line = parse_line({"userId": "5", "filterValues": {"GENRES": '"horror"'}}, "USER_PERSONALIZATION")
    assert line.user_id == "5" and line.filter_values == {"GENRES": '"horror"'}
    ranking = parse_line({"userId": "891", "itemList": ["27", "886", "101"]}, "PERSONALIZED_RANKING")
    assert ranking.item_list == ("27", "886", "101")
    assert parse_line({"itemId": "105"}, "RELATED_ITEMS").item_id == "105"
    assert parse_line({"userId": "12"}, "POPULAR_ITEMS").user_id == "12"
    assert parse_line({}, "POPULAR_ITEMS").user_id is None


@pytest.mark.parametrize(
    ("obj", "recipe_type", "message"),
    [
        ({}, "USER_PERSONALIZATION", "userId"),
        ({"userId": 7}, "USER_PERSONALIZATION", "string"),
        ({"userId": "x" * 257}, "USER_PERSONALIZATION", "256"),
        ({"userId": "1"}, "PERSONALIZED_RANKING", "itemList"),
        ({"userId": "1", "itemList": []}, "PERSONALIZED_RANKING", "itemList"),
        ({"userId": "1", "itemList": ["a"] * 501}, "PERSONALIZED_RANKING", "500"),
        ({"userId": "1", "itemList": [3]}, "PERSONALIZED_RANKING", "itemList"),
        ({"userId": "1"}, "RELATED_ITEMS", "itemId"),
        ({"userId": "1", "filterValues": {"A": 1}}, "USER_PERSONALIZATION", "filterValues"),
        ({"userId": "1", "filterValues": "A"}, "USER_PERSONALIZATION", "filterValues"),
    ],
)
def test_bad_lines_are_errors(obj: dict[str, object], recipe_type: str, message: str) -> None:
    with pytest.raises(LineError, match=message):
        parse_line(obj, recipe_type)


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '"text"', "42"])
def test_a_line_must_be_a_json_object(text: str) -> None:
    with pytest.raises(LineError):
        parse_object(text)


def test_output_lines_are_shaped_as_the_guides_examples() -> None:
    ranked = output_line({"userId": "891", "itemList": ["27", "886", "101"]}, "PERSONALIZED_RANKING",
                         ["27", "101", "886"], [0.48421, 0.28133, 0.23446], None)  # fmt: skip
    assert json.loads(ranked) == {
        "input": {"userId": "891", "itemList": ["27", "886", "101"]},
        "output": {"recommendedItems": ["27", "101", "886"], "scores": [0.48421, 0.28133, 0.23446]},
    }
    related = output_line({"itemId": "105"}, "RELATED_ITEMS", ["106", "107", "49"], [None] * 3, None)
    assert json.loads(related) == {"input": {"itemId": "105"}, "output": {"recommendedItems": ["106", "107", "49"]}}
    popular = output_line({"userId": "12"}, "POPULAR_ITEMS", ["105", "106"], [None, None], None)
    assert json.loads(popular)["output"] == {"recommendedItems": ["105", "106"]}
    v2 = output_line({"userId": "4638"}, "USER_PERSONALIZATION", ["1", "2"], [0.0152238, None],
                     [(), ("Popular item",)])  # fmt: skip
    assert json.loads(v2)["output"] == {
        "recommendedItems": ["1", "2"],
        "scores": [0.0152238, None],
        "reasons": [[], ["Popular item"]],
    }
    assert json.loads(error_line("{oops", "bad")) == {"input": "{oops", "error": "bad"}
    assert output_name("users.json") == "users.json.out"


def test_input_limits() -> None:
    assert check_inputs([]) is not None and "Invalid S3 input path" in str(check_inputs([]))
    assert check_inputs([10] * MAX_INPUT_FILES) is None
    assert "at most 1000" in str(check_inputs([10] * (MAX_INPUT_FILES + 1)))
    assert "1 GB" in str(check_inputs([600 * 1024**2, 600 * 1024**2]))


def test_an_input_path_is_a_prefix(tmp_path: Path) -> None:
    """s3://bucket/folderName also matches folderName_test/... ; a trailing / restricts it to one folder."""
    for rel in ("folder/a.json", "folder/sub/b.json", "folder_test/c.json", "other/d.json", "folder/.hidden"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text('{"userId": "1"}\n\n{"userId": "2"}\n')
    names = [p.relative_to(tmp_path).as_posix() for p in input_files(str(tmp_path / "folder"))]
    assert names == ["folder/a.json", "folder/sub/b.json", "folder_test/c.json"]
    names = [p.relative_to(tmp_path).as_posix() for p in input_files(str(tmp_path / "folder") + "/")]
    assert names == ["folder/a.json", "folder/sub/b.json"]
    assert input_files(str(tmp_path / "missing") + "/") == []
    assert [n for n, _ in read_lines(tmp_path / "folder" / "a.json")] == [1, 3]  # blank lines skipped
