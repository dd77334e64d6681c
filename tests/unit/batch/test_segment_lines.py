"""Batch segment lines (Item-Affinity, Item-Attribute-Affinity): parsing, attribute queries, output shapes,
limits, and users ranked over chunks as over the whole user set."""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pytest

from tailor_batch.domain.lines import LineError
from tailor_batch.domain.segments import (
    ITEM_AFFINITY,
    ITEM_ATTRIBUTE_AFFINITY,
    Condition,
    check_query_count,
    matching_items,
    parse_attributes,
    parse_segment_line,
    rank_users,
    segment_line,
)


def test_attribute_expressions_are_and_joined_equalities() -> None:
    text = 'ITEMS.genres = "Comedy" AND items.GENRES = "Action" and ITEMS.price >= 10.5'
    assert parse_attributes(text) == (
        Condition("GENRES", "=", "Comedy"),
        Condition("GENRES", "=", "Action"),
        Condition("PRICE", ">=", 10.5),
    )
    assert parse_attributes('ITEMS.title = "say \\"hi\\""') == (Condition("TITLE", "=", 'say "hi"'),)
    for bad in ('ITEMS.genres IN ("Comedy")', 'ITEMS.genres = "a" OR ITEMS.genres = "b"', 'genres = "a"', " "):
        with pytest.raises(LineError):
            parse_attributes(bad)
    with pytest.raises(LineError, match="strings with = only"):
        parse_attributes('ITEMS.genres > "a"')


def test_lines_per_recipe() -> None:
    line = parse_segment_line({"itemId": "105", "filterValues": {"C": '"x"'}}, ITEM_AFFINITY)
    assert (line.item_id, dict(line.filter_values)) == ("105", {"C": '"x"'})
    with pytest.raises(LineError, match="needs itemId"):
        parse_segment_line({"itemAttributes": 'ITEMS.a = "b"'}, ITEM_AFFINITY)
    with pytest.raises(LineError, match="needs itemAttributes"):
        parse_segment_line({"itemId": "1"}, ITEM_ATTRIBUTE_AFFINITY)
    with pytest.raises(LineError, match="filterValues"):
        parse_segment_line({"itemId": "1", "filterValues": {"C": 1}}, ITEM_AFFINITY)


def test_output_lines_are_the_guides_examples() -> None:
    assert json.loads(segment_line({"itemId": "105"}, ITEM_AFFINITY, ["106", "107", "49"])) == {
        "input": {"itemId": "105"},
        "output": {"recommendedUsers": ["106", "107", "49"]},
    }
    query = {"itemAttributes": 'ITEMS.genres = "Comedy" AND ITEMS.genres = "Action"'}
    assert json.loads(segment_line(query, ITEM_ATTRIBUTE_AFFINITY, ["25", "78"])) == {
        **query,
        "output": {"recommendedUsers": ["25", "78"]},
    }


def test_matching_items_and_query_limits() -> None:
    metadata = {"a": {"GENRES": "Comedy|Action", "PRICE": "5"}, "b": {"GENRES": "Comedy", "PRICE": "20"}}
    items = ["a", "b", "c"]
    assert matching_items(parse_attributes('ITEMS.genres = "Comedy"'), items, metadata).tolist() == [0, 1]
    both = parse_attributes('ITEMS.genres = "Comedy" AND ITEMS.genres = "Action"')
    assert matching_items(both, items, metadata).tolist() == [0]
    assert matching_items(parse_attributes("ITEMS.price > 10"), items, metadata).tolist() == [1]
    assert matching_items(parse_attributes('ITEMS.genres = "Horror"'), items, metadata).size == 0
    assert check_query_count(ITEM_AFFINITY, 500, "in.json") is None
    assert "at most 500 items" in str(check_query_count(ITEM_AFFINITY, 501, "in.json"))
    assert "at most 10 item attribute queries" in str(check_query_count(ITEM_ATTRIBUTE_AFFINITY, 11, "in.json"))


class _Model:
    """Users' scores are a fixed random matrix; a user's history is its row number."""

    def __init__(self, n_users: int, n_items: int) -> None:
        self.user_ids: Sequence[str] = [f"u{k}" for k in range(n_users)]
        self._scores = np.random.default_rng(1).normal(size=(n_users, n_items)).astype(np.float32)

    def trained_histories(self, start: int, stop: int) -> list[list[int]]:
        return [[k] for k in range(start, stop)]

    def score_histories(self, histories: Sequence[Sequence[int]]) -> npt.NDArray[np.float32]:
        return self._scores[[h[0] for h in histories]]


def test_rank_users_in_chunks_equals_one_chunk_and_applies_the_filter() -> None:
    model = _Model(300, 40)
    queries = [np.asarray([3]), np.asarray([5, 6, 7])]
    whole = rank_users(model, queries, 20, 300, lambda a, b: None)
    assert rank_users(model, queries, 20, 64, lambda a, b: None) == whole
    assert len(whole[0]) == 20 and len(set(whole[0])) == 20
    odd = rank_users(model, queries, 20, 64, lambda a, b: np.asarray([[k % 2 == 1] * 2 for k in range(a, b)]))
    assert all(int(u[1:]) % 2 == 1 for segment in odd for u in segment)
    assert rank_users(model, queries, 1000, 64, lambda a, b: None)[0].__len__() == 300
