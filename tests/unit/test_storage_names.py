"""Storage is bound to a resource's incarnation, never to its name alone (ADR 0012): the naming functions
(name + incarnation -> topic, Redis keys, model directory), the legacy layout of records without one, control
giving each storage-owning resource a fresh incarnation that responses never show, and the stream refusing
the topics of deleted incarnations."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tailor_shared import incarnation, model_store, storage, topics
from tailor_shared import redis_keys as rk
from tailor_shared.errors import AccessDeniedException, ResourceNotFoundException
from tailor_shared.resources import InMemoryResources, ResourceRecord
from tailor_stream.processor import Resolver, dataset_topics_regex, offsets_field
from tailor_tools import seed
from tests.support.control_plane import InMemoryControlPlane
from tests.support.schemas import INTERACTIONS

G, D = "0a1b2c3d", "deadbeef"
GROUP_ARN = "arn:aws:personalize:us-east-1:000000000000:dataset-group/shop"
DATASET_ARN = "arn:aws:personalize:us-east-1:000000000000:dataset/shop/INTERACTIONS"
VERSION_ARN = "arn:aws:personalize:us-east-1:000000000000:solution/up/abcd1234"
RECOMMENDER_ARN = "arn:aws:personalize:us-east-1:000000000000:recommender/for-you"


def _group(token: str | None) -> dict[str, object]:
    body: dict[str, object] = {"name": "shop", "datasetGroupArn": GROUP_ARN, "status": "ACTIVE"}
    if token is not None:
        body[incarnation.FIELD] = token
    return body


def _dataset(token: str | None, dataset_type: str = "Interactions") -> dict[str, object]:
    body: dict[str, object] = {"datasetArn": DATASET_ARN, "datasetGroupArn": GROUP_ARN, "datasetType": dataset_type}
    if token is not None:
        body[incarnation.FIELD] = token
    return body


# --- incarnation tokens --------------------------------------------------------------------------------------


def test_tokens_are_fresh_hex_and_validated() -> None:
    tokens = {incarnation.new_incarnation() for _ in range(200)}
    assert len(tokens) == 200
    assert all(re.fullmatch(r"[0-9a-f]{8}", t) for t in tokens)
    assert incarnation.incarnation_of({"name": "x"}) is None  # a legacy record
    assert incarnation.incarnation_of(ResourceRecord(GROUP_ARN, "datasetGroup", _group(G))) == G
    for bad in ("", "DEADBEEF", "dead.eef", "0a1b2c3d4", 12345678):
        with pytest.raises(ValueError):
            incarnation.incarnation_of({incarnation.FIELD: bad})


# --- topics ------------------------------------------------------------------------------------------------


def test_dataset_topic_names_from_name_and_incarnations() -> None:
    assert topics.dataset_topic("tailor", "shop", "Interactions") == "tailor.shop.interactions"
    assert topics.dataset_topic_for("tailor", _group(None), _dataset(None)) == "tailor.shop.interactions"
    assert topics.dataset_topic_for("tailor", _group(None), _dataset(D)) == f"tailor.shop.{D}.interactions"
    assert topics.dataset_topic_for("tailor", _group(G), _dataset(D)) == f"tailor.shop.{G}.{D}.interactions"
    records = (
        ResourceRecord(GROUP_ARN, "datasetGroup", _group(G)),
        ResourceRecord(DATASET_ARN, "dataset", _dataset(D)),
    )
    assert topics.dataset_topic_for("p", *records) == f"p.shop.{G}.{D}.interactions"
    # datasetType is case insensitive, as CreateDataset's.
    assert topics.dataset_topic_for("p", _group(G), _dataset(D, "ACTION_INTERACTIONS")).endswith(
        f"{G}.{D}.action-interactions"
    )
    # A new incarnation of the group or of the dataset alone is a new topic.
    names = {topics.dataset_topic_for("p", _group(g), _dataset(d)) for g in (G, "11111111") for d in (D, "22222222")}
    assert len(names) == 4


def test_dataset_topic_rejects_impossible_or_bad_incarnations() -> None:
    with pytest.raises(ValueError):  # a group with an incarnation only has datasets with one
        topics.dataset_topic_for("p", _group(G), _dataset(None))
    with pytest.raises(ValueError):
        topics.dataset_topic("p", "shop", "Items", group_incarnation="nothex!!", dataset_incarnation=D)
    spec = topics.topic_spec(f"p.shop.{G}.{D}.items", "Items")
    assert (spec.name, spec.partitions) == (f"p.shop.{G}.{D}.items", 2)
    assert topics.dataset_topic_spec("p", "shop", "Items", group_incarnation=G, dataset_incarnation=D) == spec


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        ("t.x.shop.interactions", ("shop", "Interactions", None, None)),
        (f"t.x.shop.{D}.items", ("shop", "Items", None, D)),
        (f"t.x.my-shop_1.{G}.{D}.action-interactions", ("my-shop_1", "Action_Interactions", G, D)),
        (f"t.x.{G}.{G}.{D}.users", (G, "Users", G, D)),  # a group may be named like a token
    ],
)
def test_dataset_topics_parse_back_and_match_the_subscription(name: str, parts: tuple[object, ...]) -> None:
    parsed = topics.parse_dataset_topic("t.x", name)
    assert parsed is not None
    assert (parsed.dataset_group, parsed.dataset_type, parsed.group_incarnation, parsed.dataset_incarnation) == parts
    kwargs = {"group_incarnation": parts[2], "dataset_incarnation": parts[3]}
    assert topics.dataset_topic("t.x", str(parts[0]), str(parts[1]), **kwargs) == name
    assert re.match(dataset_topics_regex("t.x"), name)


@pytest.mark.parametrize(
    "name",
    [
        "t.x.shop.clicks",
        "t.x.shop.DEADBEEF.interactions",
        "t.x.shop.abc.interactions",
        f"t.x.shop.{G}.{D}.{D}.interactions",
        "t.x.control.resources",
        "t.x.trainer-jobs",
        "other.shop.interactions",
    ],
)
def test_other_topics_are_not_dataset_topics(name: str) -> None:
    assert topics.parse_dataset_topic("t.x", name) is None
    assert not re.match(dataset_topics_regex("t.x"), name)


# --- Redis keys -----------------------------------------------------------------------------------------------


def test_group_keys_are_bound_to_the_group_incarnation() -> None:
    legacy = rk.Keys.for_group("tailor", _group(None))
    assert legacy == rk.Keys("tailor", "shop") and legacy.ns == "tailor:{shop}"
    current = rk.Keys.for_group("tailor", ResourceRecord(GROUP_ARN, "datasetGroup", _group(G)))
    assert current.ns == f"tailor:{{shop.{G}}}"
    assert current.history(rk.user_subject("u1")) == f"tailor:{{shop.{G}}}:u:u1:h"
    assert rk.group_tag("shop", G) == f"shop.{G}" and rk.group_tag("shop", None) == "shop"
    # Two incarnations share no key, and neither's SCAN pattern matches the other's keys.
    other = rk.Keys.for_group("tailor", _group("11111111"))
    assert not current.offsets().startswith(other.ns) and not other.offsets().startswith(current.ns)
    assert not legacy.offsets().startswith(current.ns + ":")
    # The topic knows its group's storage name (the stream derives keys from the topic alone).
    parsed = topics.parse_dataset_topic("tailor", topics.dataset_topic_for("tailor", _group(G), _dataset(D)))
    assert parsed is not None and parsed.group_tag == current.dataset_group


def test_offsets_fields_are_bound_to_the_dataset_incarnation() -> None:
    legacy = topics.parse_dataset_topic("p", "p.shop.items")
    current = topics.parse_dataset_topic("p", f"p.shop.{G}.{D}.items")
    assert legacy is not None and current is not None
    assert offsets_field(legacy, 1) == "items:1"
    assert offsets_field(current, 1) == f"items.{D}:1"


# --- model store ----------------------------------------------------------------------------------------------


def test_model_dirs_are_bound_to_the_resource_incarnation(tmp_path: Path) -> None:
    mine = tmp_path / "_accounts" / "000000000000"  # the ARNs' account's folder (ADR 0028 §6)
    assert model_store.model_dir(tmp_path, VERSION_ARN) == mine / "up" / "abcd1234"
    assert model_store.model_dir(tmp_path, VERSION_ARN, D) == mine / "up" / f"abcd1234.{D}"
    record = ResourceRecord(VERSION_ARN, "solutionVersion", {incarnation.FIELD: D})
    assert model_store.version_model_dir(tmp_path, record) == mine / "up" / f"abcd1234.{D}"
    legacy = ResourceRecord(VERSION_ARN, "solutionVersion", {})
    assert model_store.version_model_dir(tmp_path, legacy) == mine / "up" / "abcd1234"
    assert (
        model_store.recommender_model_dir(tmp_path, RECOMMENDER_ARN, "g1") == mine / "_recommenders" / "for-you" / "g1"
    )
    assert model_store.recommender_model_dir(tmp_path, RECOMMENDER_ARN, "g1", G) == (
        mine / "_recommenders" / f"for-you.{G}" / "g1"
    )
    with pytest.raises(ValueError):
        model_store.model_dir(tmp_path, VERSION_ARN, "../../x")
    with pytest.raises(ValueError):  # an account field that is not 12 digits never becomes a path
        model_store.model_dir(tmp_path, VERSION_ARN.replace(":000000000000:", ":..:"))


def test_a_model_is_read_only_through_its_own_account(tmp_path: Path) -> None:
    record = ResourceRecord(VERSION_ARN, "solutionVersion", {incarnation.FIELD: D})
    own = model_store.version_model_dir(tmp_path, record, "000000000000")
    assert own == model_store.version_model_dir(tmp_path, record)
    with pytest.raises(AccessDeniedException, match="not in account 111111111111"):
        model_store.version_model_dir(tmp_path, record, "111111111111")  # a campaign or job of another account
    with pytest.raises(AccessDeniedException):
        model_store.campaign_update_dir(tmp_path, record, "gen1", "111111111111")


# --- the lookup helper ------------------------------------------------------------------------------------------


def test_storage_names_are_looked_up_from_the_records(tmp_path: Path) -> None:
    group = seed.group_records("shop", {"Interactions": INTERACTIONS})
    view = InMemoryResources(group.records)
    topic = storage.dataset_topic(view, "p", group.dataset_arn("Interactions"))
    assert topic == group.topic("p", "Interactions")
    assert re.fullmatch(r"p\.shop\.[0-9a-f]{8}\.[0-9a-f]{8}\.interactions", topic)
    assert storage.group_keys(view, "p", group.group_arn).dataset_group.startswith("shop.")
    with pytest.raises(ResourceNotFoundException):
        storage.dataset_topic(view, "p", DATASET_ARN.replace("shop", "gone"))
    view.put(ResourceRecord(VERSION_ARN, "solutionVersion", {incarnation.FIELD: D}))
    mine = tmp_path / "_accounts" / "000000000000"
    assert storage.solution_version_dir(view, tmp_path, VERSION_ARN) == mine / "up" / f"abcd1234.{D}"
    view.put(ResourceRecord(RECOMMENDER_ARN, "recommender", {incarnation.FIELD: G}))
    assert (
        storage.recommender_dir(view, tmp_path, RECOMMENDER_ARN, "g2") == mine / "_recommenders" / f"for-you.{G}" / "g2"
    )


# --- control -------------------------------------------------------------------------------------------------


def test_control_gives_each_incarnation_a_new_token_that_responses_never_show() -> None:
    plane = InMemoryControlPlane()
    seen: list[tuple[str, str]] = []
    for _ in range(2):
        group = str(plane.call("CreateDatasetGroup", {"name": "shop"})["datasetGroupArn"])
        plane.advance()
        schema = plane.call("CreateSchema", {"name": f"s{len(seen)}", "schema": INTERACTIONS})["schemaArn"]
        dataset = str(
            plane.call(
                "CreateDataset",
                {"name": "clicks", "datasetGroupArn": group, "datasetType": "Interactions", "schemaArn": schema},
            )["datasetArn"]
        )
        plane.advance()
        tokens = (plane.body(group)[incarnation.FIELD], plane.body(dataset)[incarnation.FIELD])
        assert all(incarnation.is_token(t) for t in tokens)
        seen.append(tokens)
        described = [
            plane.call("DescribeDatasetGroup", {"datasetGroupArn": group})["datasetGroup"],
            plane.call("DescribeDataset", {"datasetArn": dataset})["dataset"],
            *plane.call("ListDatasetGroups", {})["datasetGroups"],
            *plane.call("ListDatasets", {"datasetGroupArn": group})["datasets"],
        ]
        assert not [key for body in described for key in body if key.startswith("_")]
        plane.call("DeleteDataset", {"datasetArn": dataset})
        plane.advance()
        plane.call("DeleteDatasetGroup", {"datasetGroupArn": group})
        plane.advance()
        with pytest.raises(KeyError):  # tombstoned
            plane.body(group)
    # Same names, same ARNs, new incarnations: the second life starts with empty storage.
    assert seen[0][0] != seen[1][0] and seen[0][1] != seen[1][1]


def test_only_storage_owners_get_an_incarnation() -> None:
    plane = InMemoryControlPlane()
    group = str(plane.call("CreateDatasetGroup", {"name": "shop"})["datasetGroupArn"])
    schema = str(plane.call("CreateSchema", {"name": "s", "schema": INTERACTIONS})["schemaArn"])
    assert incarnation.FIELD in plane.body(group)
    assert incarnation.FIELD not in plane.body(schema)


# --- the stream -------------------------------------------------------------------------------------------------


def _view(group_token: str | None, dataset_token: str | None) -> InMemoryResources:
    view = InMemoryResources()
    view.put(ResourceRecord(GROUP_ARN, "datasetGroup", _group(group_token)))
    view.put(ResourceRecord(DATASET_ARN, "dataset", _dataset(dataset_token), parent_arn=GROUP_ARN))
    return view


def _topic(name: str) -> topics.DatasetTopicName:
    parsed = topics.parse_dataset_topic("p", name)
    assert parsed is not None
    return parsed


def test_the_stream_accepts_only_the_live_incarnations_topics() -> None:
    resolver = Resolver(_view(G, D))
    live = _topic(f"p.shop.{G}.{D}.interactions")
    assert resolver.dataset_group_arn("shop", G) == GROUP_ARN
    assert resolver.dataset_live(GROUP_ARN, live)
    # The topics of a deleted group of the same name, of a deleted dataset, and the legacy topic are dead.
    assert resolver.dataset_group_arn("shop", "11111111") is None
    assert resolver.dataset_group_arn("shop", None) is None
    assert not resolver.dataset_live(GROUP_ARN, _topic(f"p.shop.{G}.22222222.interactions"))
    assert not resolver.dataset_live(GROUP_ARN, _topic(f"p.shop.{G}.{D}.items"))  # no Items dataset


def test_the_stream_keeps_reading_legacy_topics_until_their_dataset_is_deleted() -> None:
    legacy = _topic("p.shop.interactions")
    view = _view(None, None)
    resolver = Resolver(view)
    assert resolver.dataset_group_arn("shop", None) == GROUP_ARN
    assert resolver.dataset_live(GROUP_ARN, legacy)
    view.delete(DATASET_ARN)
    assert not Resolver(view).dataset_live(GROUP_ARN, legacy)
    # The legacy Interactions dataset was deleted and created again (now with an incarnation) in the legacy
    # group: its old topic is dead, the new one (group part legacy) is live.
    view = _view(None, D)
    resolver = Resolver(view)
    assert not resolver.dataset_live(GROUP_ARN, legacy)
    assert resolver.dataset_live(GROUP_ARN, _topic(f"p.shop.{D}.interactions"))


def test_the_stream_notices_a_group_created_again() -> None:
    view = _view(G, D)
    resolver = Resolver(view)
    assert resolver.dataset_group_arn("shop", G) == GROUP_ARN
    view.delete(GROUP_ARN)  # the view moves on: the resolver looks again
    assert resolver.dataset_group_arn("shop", G) is None
    view.put(ResourceRecord(GROUP_ARN, "datasetGroup", _group("11111111")))
    assert resolver.dataset_group_arn("shop", G) is None
    assert resolver.dataset_group_arn("shop", "11111111") == GROUP_ARN
