"""Record -> operation rules, topic parsing, resource resolution and the Lua payload (pure, no broker)."""

from __future__ import annotations

import json
import re

import pytest

from tailor_shared import redis_keys as rk
from tailor_shared.records import DecodedRecord
from tailor_shared.resources import InMemoryResources
from tailor_shared.topics import H_EVENT_ID, H_SESSION_ID, H_SOURCE
from tailor_stream.domain import (
    BadRecord,
    Batch,
    InteractionOp,
    MetadataOp,
    OpsConfig,
    TopicPartitionState,
    build_op,
    field_kinds,
    parse_dataset_topic,
)
from tailor_stream.lua import decode_result, encode_batch
from tailor_stream.processor import Resolver, dataset_topics_regex
from tailor_tools import workload as wl

NOW = 1_700_000_000
KEYS = rk.Keys("p", "g")


def interaction(row: dict[str, object], **headers: str) -> InteractionOp:
    op = build_op(KEYS, "Interactions", DecodedRecord(headers, row), b"k", b"v", {}, OpsConfig(), NOW)
    assert isinstance(op, InteractionOp)
    return op


def test_dataset_topics_parse_and_match_one_pattern() -> None:
    assert parse_dataset_topic("tailor", "tailor.movies.interactions") is not None
    parsed = parse_dataset_topic("tailor", "tailor.my-shop.action-interactions")
    assert parsed is not None and (parsed.dataset_group, parsed.dataset_type) == ("my-shop", "Action_Interactions")
    for other in ("tailor.control.resources", "tailor.dead-letters", "other.movies.items", "tailor.a.b.items"):
        assert parse_dataset_topic("tailor", other) is None
    pattern = re.compile(dataset_topics_regex("test-1.x"))
    assert pattern.match("test-1.x.shop.items")
    assert not pattern.match("test-1Yx.shop.items")  # the prefix's dot is literal
    assert not pattern.match("test-1.x.control.resources")
    assert not pattern.match("test-1.x.shop.items.extra")


def test_field_kinds_follow_the_schema_flags() -> None:
    kinds = field_kinds(wl.SCHEMAS["Items"])
    assert kinds == {
        "ITEM_ID": "s",
        "GENRES": "c",
        "BRAND": "s",
        "PRICE": "n",
        "DESCRIPTION": "x",
        "CREATION_TIMESTAMP": "n",
    }


def test_a_user_event_with_a_session_links_it() -> None:
    op = interaction(
        {"USER_ID": "u1", "ITEM_ID": "i1", "TIMESTAMP": NOW, "EVENT_TYPE": "Click"}, **{H_SESSION_ID: "s1"}
    )
    assert (op.subject, op.anonymous, op.link) == (rk.user_subject("u1"), False, rk.session_subject("s1"))
    assert op.event_type == "click"
    assert op.history_member is not None and rk.parse_history_member(op.history_member, NOW).event_type == "Click"


@pytest.mark.parametrize("user", ["", "s1"])
def test_events_without_a_distinct_user_belong_to_the_session(user: str) -> None:
    op = interaction({"USER_ID": user, "ITEM_ID": "i1", "TIMESTAMP": NOW, "EVENT_TYPE": "x"}, **{H_SESSION_ID: "s1"})
    assert (op.subject, op.anonymous, op.link) == (rk.session_subject("s1"), True, None)


def test_event_id_is_the_dedup_identity_else_the_content() -> None:
    row = {"USER_ID": "u1", "ITEM_ID": "i1", "TIMESTAMP": NOW, "EVENT_TYPE": "x"}
    assert interaction(row, **{H_EVENT_ID: "e1"}).token == rk.event_token("e1")
    assert interaction(row).token == rk.content_token(b"k", b"v")


def test_bulk_rows_have_no_history_entry() -> None:
    row = {"USER_ID": "u1", "ITEM_ID": "i1", "TIMESTAMP": NOW, "EVENT_TYPE": "x"}
    assert interaction(row, **{H_SOURCE: "bulk"}).history_member is None
    assert interaction(row, **{H_SOURCE: "put"}).history_member is not None


@pytest.mark.parametrize(
    ("dataset_type", "row", "headers"),
    [
        ("Interactions", {"USER_ID": "u1", "TIMESTAMP": NOW}, {}),
        ("Interactions", {"USER_ID": "u1", "ITEM_ID": "i1", "TIMESTAMP": None}, {}),
        ("Interactions", {"USER_ID": "", "ITEM_ID": "i1", "TIMESTAMP": NOW}, {}),
        ("Action_Interactions", {"USER_ID": "u1", "ITEM_ID": "i1", "TIMESTAMP": NOW}, {}),
        ("Items", {"GENRES": "x"}, {}),
    ],
)
def test_rows_that_do_not_fit_their_dataset_are_bad_records(
    dataset_type: str, row: dict[str, object], headers: dict[str, str]
) -> None:
    with pytest.raises(BadRecord) as err:
        build_op(KEYS, dataset_type, DecodedRecord(headers, row), None, None, {}, OpsConfig(), NOW)
    assert err.value.reason == "schema-mismatch"


def test_metadata_op_lists_every_field_with_its_index_kind() -> None:
    kinds = field_kinds(wl.SCHEMAS["Items"])
    row = {"ITEM_ID": "i:1", "GENRES": "A|B", "BRAND": None, "PRICE": float("nan"), "DESCRIPTION": "d"}
    op = build_op(KEYS, "Items", DecodedRecord({}, row), None, None, kinds, OpsConfig(), NOW)
    assert isinstance(op, MetadataOp)
    assert op.key == KEYS.metadata("item", "i:1")
    assert op.fields == (("GENRES", "c", "A|B"), ("BRAND", "s", None), ("PRICE", "x", "nan"), ("DESCRIPTION", "x", "d"))


def test_lua_payload_omits_absent_values_and_numbers_partitions_from_one() -> None:
    op = interaction({"USER_ID": "u1", "ITEM_ID": "i1", "TIMESTAMP": NOW, "EVENT_TYPE": "x"}, **{H_SOURCE: "bulk"})
    meta = build_op(
        KEYS, "Items", DecodedRecord({}, {"ITEM_ID": "i2", "BRAND": None}), None, None, {}, OpsConfig(), NOW
    )
    batch = Batch(KEYS, OpsConfig(), [TopicPartitionState("interactions:3", True, 12)], [(0, 11, op), (0, 12, meta)])
    payload = json.loads(encode_batch(batch))
    assert payload["ns"] == KEYS.ns and payload["tp"] == [["interactions:3", 1, 12, -1]]
    first, second = payload["r"]
    assert first["p"] == 1 and "mh" not in first and "ln" not in first and first["tw"]
    assert len(payload["tw"]) == len(first["tw"]) and payload["tmax"] == NOW
    assert second["f"] == [["BRAND", "x"]]
    assert "null" not in encode_batch(batch)
    assert decode_result([b"LOST", b"interactions:3"]).lost == "interactions:3"
    assert decode_result([b"OK", 2, 1, 0]).duplicates == 1


def test_resolver_answers_from_the_resource_view() -> None:
    group = wl.DatasetGroup("p", "g")
    resolver = Resolver(InMemoryResources(group.resources()))
    assert resolver.dataset_group_arn("g") == group.arn
    assert resolver.dataset_group_arn("nope") is None
    fp = group.codecs["Items"].fingerprint
    assert resolver.kinds(fp)["GENRES"] == "c"
    assert resolver.codecs.get(fp) is not None
    resolver.check_dataset(group.dataset_arns["Items"], group.arn, "Items")
    resolver.check_dataset("arn:unknown", group.arn, "Items")  # not in the view (yet): the topic decides
    with pytest.raises(BadRecord) as err:
        resolver.check_dataset(group.dataset_arns["Users"], group.arn, "Items")
    assert err.value.reason == "dataset-mismatch"
