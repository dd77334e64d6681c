"""Deleting deletes (ADR 0014): which stored names belong to no live incarnation (``tailor_shared.orphans``),
the grace rule, and the stream catching its view up before it calls a topic dead."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tailor_shared import incarnation, model_store, orphans, topics
from tailor_shared.redis_keys import Keys
from tailor_shared.resources import InMemoryResources, ResourceRecord
from tailor_stream.domain import parse_dataset_topic
from tailor_stream.processor import Resolver

P = "tailor"
ACCOUNT = "arn:aws:personalize:us-east-1:000000000000"
G1, G2, D1, D2, D3 = "0a1b2c3d", "1a1b2c3d", "deadbeef", "feedbeef", "cafebabe"


def _group(name: str, inc: str | None) -> ResourceRecord:
    body: dict[str, object] = {"name": name, "datasetGroupArn": f"{ACCOUNT}:dataset-group/{name}"}
    if inc is not None:
        body[incarnation.FIELD] = inc
    return ResourceRecord(f"{ACCOUNT}:dataset-group/{name}", "datasetGroup", body)


def _dataset(group: str, dataset_type: str, inc: str | None) -> ResourceRecord:
    group_arn = f"{ACCOUNT}:dataset-group/{group}"
    arn = f"{ACCOUNT}:dataset/{group}/{dataset_type.upper()}"
    body: dict[str, object] = {"datasetArn": arn, "datasetGroupArn": group_arn, "datasetType": dataset_type}
    if inc is not None:
        body[incarnation.FIELD] = inc
    return ResourceRecord(arn, "dataset", body, parent_arn=group_arn)


def _view() -> InMemoryResources:
    """Live: group "shop" (G1) with Interactions D1; legacy group "old" with a legacy Items dataset."""
    return InMemoryResources(
        [
            _group("shop", G1),
            _dataset("shop", "Interactions", D1),
            _group("old", None),
            _dataset("old", "Items", None),
        ]
    )


def test_dead_topics_are_those_no_live_dataset_names() -> None:
    view = _view()
    live = {f"{P}.shop.{G1}.{D1}.interactions", f"{P}.old.items"}
    assert orphans.live_dataset_topics(P, view) == live
    dead = [
        f"{P}.shop.{G2}.{D1}.interactions",  # a deleted incarnation of the group
        f"{P}.shop.{G1}.{D2}.interactions",  # a deleted incarnation of the dataset
        f"{P}.shop.{G1}.{D1}.items",  # a dataset type the group no longer has
        f"{P}.gone.interactions",  # a deleted legacy group's topic
        f"{P}.old.interactions",  # a deleted legacy dataset of a live legacy group
        f"{P}.old.{D3}.items",  # an incarnation of a dataset of the legacy group that is gone
    ]
    others = [f"{P}.control.resources", f"{P}.jobs", f"{P}.dead-letters", "other.shop.interactions", f"{P}x.a.items"]
    assert orphans.dead_dataset_topics(P, [*live, *dead, *others], view) == sorted(dead)


def test_dead_group_tags_and_key_parsing() -> None:
    view = _view()
    assert set(orphans.live_group_tags(P, view)) == {f"shop.{G1}", "old"}
    assert orphans.tag_of_key(P, f"{P}:{{shop.{G1}}}:u:x:h") == f"shop.{G1}"
    assert orphans.tag_of_key(P, f"{P}:{{old}}:offsets") == "old"
    assert orphans.tag_of_key(P, f"{P}:{{bad tag}}:offsets") is None
    assert orphans.tag_of_key(P, "other:{shop}:offsets") is None
    assert orphans.tag_of_key(P, f"{P}:shop:offsets") is None
    tags = [f"shop.{G1}", "old", f"shop.{G2}", "gone", f"old.{G2}", "not a tag"]
    assert orphans.dead_group_tags(P, tags, view) == sorted(["gone", f"old.{G2}", f"shop.{G2}"])
    # Keys.for_group and the parser agree.
    assert orphans.parse_group_tag(Keys.for_group(P, _group("shop", G1)).dataset_group) == ("shop", G1)


def test_stale_offsets_fields_of_a_live_group() -> None:
    view = _view()
    shop = view.get(f"{ACCOUNT}:dataset-group/shop")
    assert shop is not None
    fields = [f"interactions.{D1}:0", f"interactions.{D1}:3", f"interactions.{D2}:1", f"items.{D3}:0", "junk"]
    assert orphans.stale_offsets_fields(P, shop, fields, view) == [f"interactions.{D2}:1", f"items.{D3}:0"]
    old = view.get(f"{ACCOUNT}:dataset-group/old")
    assert old is not None
    assert orphans.stale_offsets_fields(P, old, ["items:0", "items:1", "interactions:0"], view) == ["interactions:0"]


def test_dead_model_store_entries(tmp_path: Path) -> None:
    store = tmp_path
    mine = store / "_accounts" / "000000000000"  # the records' account folder (ADR 0028 §6)
    version = ResourceRecord(f"{ACCOUNT}:solution/up/v1", "solutionVersion", {incarnation.FIELD: D1})
    legacy_version = ResourceRecord(f"{ACCOUNT}:solution/up/v0", "solutionVersion", {})
    recommender = ResourceRecord(f"{ACCOUNT}:recommender/for-you", "recommender", {incarnation.FIELD: D2})
    view = InMemoryResources([version, legacy_version, recommender])
    live_version = model_store.version_model_dir(store, version)
    live_legacy = model_store.version_model_dir(store, legacy_version)
    live_rec = model_store.recommender_model_dir(store, recommender.arn, "g1", D2).parent
    assert live_version == mine / "up" / f"v1.{D1}" and live_rec == mine / "_recommenders" / f"for-you.{D2}"
    assert orphans.live_model_dirs(store, view) == {live_version, live_legacy, live_rec}
    paths = {
        live_version: "version",
        live_legacy: "version",
        live_rec: "recommender",
        mine / "up" / f"v1.{D3}": "version",  # an older incarnation of the version's name
        mine / "up" / "v9": "version",  # a deleted legacy version
        mine / "gone" / f"v2.{D1}": "version",  # a deleted solution's version
        mine / "_recommenders" / "for-you": "recommender",  # the deleted legacy recommender of that name
        mine / "_recommenders" / f"other.{D1}": "recommender",
        mine / "up" / f".v1.{D1}.tmp-0badf00d": "partial",  # a live version being written
        mine / "gone" / f".v3.{D1}.tmp-12ab34cd": "partial",  # a deleted one's unfinished write
        store / "_accounts" / "222222222222" / "up" / f"v1.{D1}": "version",  # another account's name: not live
        store / "up" / f"v1.{D1}": "version",  # written before account folders and never moved: not live
        store / "_recommenders" / f"for-you.{D2}": "recommender",
    }
    entries = [orphans.classify_store_entry(store, p) for p in paths]
    assert [e.kind if e else None for e in entries] == list(paths.values())
    assert orphans.classify_store_entry(store, mine / "up") is None
    assert orphans.classify_store_entry(store, store / "_accounts" / "000000000000") is None
    assert orphans.classify_store_entry(store, store / ".hidden" / "x") is None
    dead = orphans.dead_store_entries(store, [e for e in entries if e is not None], view)
    assert {e.path for e in dead} == {
        mine / "up" / f"v1.{D3}",
        mine / "up" / "v9",
        mine / "gone" / f"v2.{D1}",
        mine / "_recommenders" / "for-you",
        mine / "_recommenders" / f"other.{D1}",
        mine / "gone" / f".v3.{D1}.tmp-12ab34cd",
        store / "_accounts" / "222222222222" / "up" / f"v1.{D1}",
        store / "up" / f"v1.{D1}",
        store / "_recommenders" / f"for-you.{D2}",
    }
    assert orphans.live_solution_dirs(store, view) == {mine / "up"}


def test_grace_needs_two_passes_spanning_the_period() -> None:
    grace = orphans.Grace(10.0)
    assert grace.due(["a", "b"], 100.0) == []
    assert grace.due(["a", "b"], 105.0) == []
    assert grace.due(["a"], 110.0) == ["a"]  # b is live again (or gone): forgotten
    assert grace.due(["a", "b"], 111.0) == ["a"]
    assert grace.due(["b"], 121.0) == ["b"]
    zero = orphans.Grace(0.0)
    assert zero.due(["x"], 1.0) == []  # never on the first sighting
    assert zero.due(["x"], 1.5) == ["x"]


class _LaggingView(InMemoryResources):
    """A view that receives a record only when it is caught up (a ResourceView whose consumer lags)."""

    def __init__(self, records: list[ResourceRecord], later: list[ResourceRecord]) -> None:
        super().__init__(records)
        self._later = later
        self.catch_ups = 0

    def catch_up(self, timeout: float = 30.0) -> None:
        self.catch_ups += 1
        for record in self._later:
            self.put(record)
        self._later = []


def test_the_stream_catches_its_view_up_before_calling_a_topic_dead() -> None:
    new_group, new_dataset = _group("fresh", G2), _dataset("fresh", "Interactions", D2)
    view = _LaggingView(list(_view()._by_arn.values()), [new_group, new_dataset])
    resolver = Resolver(view)
    fresh = topics.dataset_topic_for(P, new_group, new_dataset)
    dead = f"{P}.shop.{G2}.{D1}.interactions"
    parsed = [(name, parse_dataset_topic(P, name)) for name in (fresh, dead)]
    assert all(t is not None for _, t in parsed)
    assert not resolver.live(parsed[0][1])  # type: ignore[arg-type]
    asyncio.run(resolver.confirm_dead([(n, t) for n, t in parsed if t is not None]))
    assert view.catch_ups == 1
    assert resolver.live(parsed[0][1])  # type: ignore[arg-type]  # a new group, not a dead one
    assert not resolver.live(parsed[1][1])  # type: ignore[arg-type]
    asyncio.run(resolver.confirm_dead([(n, t) for n, t in parsed if t is not None]))
    assert view.catch_ups == 1  # a topic judged dead after a catch-up costs no more
