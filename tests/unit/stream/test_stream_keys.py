"""Redis key layout and value formats shared by the stream and the runtime (tailor_shared.redis_keys)."""

from __future__ import annotations

import itertools

import pytest

from tailor_shared import redis_keys as rk


def test_escape_is_reversible_and_keeps_distinct_ids_apart() -> None:
    ids = ["a", "a:b", "a%3Ab", "a%b", "*", "%2A", "x:y:z", "ü:ñ", ""]
    escaped = [rk.escape(i) for i in ids]
    assert len(set(escaped)) == len(ids)
    assert all(":" not in e and "*" not in e for e in escaped)
    assert [rk.unescape(e) for e in escaped] == ids


def test_keys_share_the_dataset_group_hash_tag_and_never_collide() -> None:
    keys = rk.Keys("tailor", "movies")
    built = [
        keys.history(rk.user_subject("u1")),
        keys.history(rk.session_subject("u1")),
        keys.window(rk.user_subject("u1"), "click"),
        keys.window(rk.user_subject("u1:w"), "click"),
        keys.window_all(rk.user_subject("u1")),
        keys.action_window(rk.user_subject("u1"), "click"),
        keys.metadata("item", "i1"),
        keys.metadata("user", "i1"),
        keys.value_index("item", "genres", "Comedy"),
        keys.numeric_index("item", "PRICE"),
        keys.popularity_count(),
        keys.popularity_count("click"),
        keys.popularity_hll("i1", "click"),
        keys.trend(3600, 7200),
        keys.offsets(),
    ]
    assert len(set(built)) == len(built)
    assert all(k.startswith("tailor:{movies}:") for k in built)
    # Redis Cluster hashes only the text inside the first {...}: one slot per dataset group.
    assert {k[k.index("{") + 1 : k.index("}")] for k in built} == {"movies"}
    assert keys.value_index("item", "genres", "Comedy") == "tailor:{movies}:ix:item:GENRES:Comedy"


def test_event_types_are_case_folded_and_star_is_reserved_for_all_types() -> None:
    keys = rk.Keys("p", "g")
    subject = rk.user_subject("u")
    assert keys.window(subject, "Click") == keys.window(subject, "CLICK") == keys.window(subject, "click")
    assert keys.popularity_count("*") != keys.popularity_count()
    assert keys.popularity_count().endswith(":pop:n:*")


def test_tokens_are_fixed_width_and_identify_events() -> None:
    assert len(rk.event_token("e1")) == rk.TOKEN_LEN
    assert rk.event_token("e1") == rk.event_token("e1") != rk.event_token("e2")
    assert rk.content_token(b"k", b"v") == rk.content_token(b"k", b"v") != rk.content_token(b"k", b"w")
    assert rk.content_token(b"ab", b"") != rk.content_token(b"a", b"b")


def test_members_round_trip() -> None:
    token = rk.event_token("e1")
    member = rk.history_member(token, "item:1", "Click", 2.5)
    entry = rk.parse_history_member(member.encode(), 1700000000.0)
    assert (entry.item_id, entry.event_type, entry.event_value, entry.timestamp, entry.token) == (
        "item:1",
        "Click",
        2.5,
        1700000000.0,
        token,
    )
    assert rk.window_member_item(rk.window_member(token, "i|x").encode()) == "i|x"


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, None), (True, "True"), (False, "False"), (3, "3"), (3.0, "3"), (2.5, "2.5"), ("a|b", "a|b")],
)
def test_metadata_values_are_stored_as_filters_see_them(value: object, text: str | None) -> None:
    assert rk.format_value(value) == text


def test_categorical_values_split_on_pipe() -> None:
    assert rk.split_categorical("Comedy|Drama||") == ["Comedy", "Drama"]


def test_user_state_is_one_pipeline_and_merges_the_same_id_session() -> None:
    keys = rk.Keys("p", "g")
    commands = rk.user_state_commands(keys, "abc", ["Click", "click", "watch"])
    # user and session: history, any-type window, two event types; then the Users row
    assert len(commands) == 2 * (2 + 2) + 1
    t1, t2 = rk.event_token("1"), rk.event_token("2")
    replies: list[object] = [
        [(rk.history_member(t1, "i1", "click", None).encode(), 20.0)],  # user history
        [b"i1"],  # user any-type
        [rk.window_member(t1, "i1").encode()],  # user click window
        [],  # user watch window
        [rk.history_member(t2, "i2", "watch", 1.0).encode(), b"30"],  # session history (flat reply)
        [b"i2"],
        [],
        [rk.window_member(t2, "i2").encode()],
        {b"AGE": b"30"},
    ]
    state = rk.parse_user_state(replies, ["Click", "watch"])
    assert [e.item_id for e in state.history] == ["i2", "i1"]
    assert state.windows == {"click": ["i1"], "watch": ["i2"]}
    assert state.any_type_items == frozenset({"i1", "i2"})
    assert state.metadata == {"AGE": "30"}


def test_key_builders_accept_every_combination_without_ambiguity() -> None:
    keys = rk.Keys("p", "g")
    ids = ["a", "a:b", "b", "a:b:c"]
    built = {keys.window(rk.user_subject(u), t) for u, t in itertools.product(ids, ["x", "x:y", "y", "b:x"])}
    assert len(built) == len(ids) * 4
