"""Dataset generations of data deletion jobs (ADR 0015): what the records say is in use, held or retired,
and that storage cleanup (tailor_shared.orphans) keeps a running job's topics."""

from __future__ import annotations

from tailor_shared import generations, orphans, topics
from tailor_shared.resources import InMemoryResources, ResourceRecord

P = "tailor"
G = "arn:aws:personalize:us-east-1:000000000000:dataset-group/shop"
D = "arn:aws:personalize:us-east-1:000000000000:dataset/shop/INTERACTIONS"
J = "arn:aws:personalize:us-east-1:000000000000:data-deletion-job/forget"
OLD, NEW = "aaaaaaaa", "bbbbbbbb"


def _view(job_body: dict[str, object], dataset_inc: str = OLD) -> InMemoryResources:
    return InMemoryResources(
        [
            ResourceRecord(G, "datasetGroup", {"name": "shop", "_incarnation": "11111111", "status": "ACTIVE"}),
            ResourceRecord(
                D, "dataset", {"datasetType": "Interactions", "datasetGroupArn": G, "_incarnation": dataset_inc}, G
            ),
            ResourceRecord(J, "dataDeletionJob", {"datasetGroupArn": G, **job_body}, G),
        ]
    )


def _topic(inc: str) -> str:
    return topics.dataset_topic(P, "shop", "Interactions", group_incarnation="11111111", dataset_incarnation=inc)


def test_a_running_job_holds_its_group_and_keeps_both_generations() -> None:
    gens = {D: {"from": OLD, "to": NEW}}
    view = _view({"status": "IN_PROGRESS", "_generations": gens})
    assert generations.group_held(view, G)
    assert generations.incarnations_in_use(view) == {D: frozenset({OLD, NEW})}
    assert generations.retired_incarnations(view, G) == frozenset()
    # The janitor's liveness: the new topic being written and the old one are both live.
    assert orphans.dead_dataset_topics(P, [_topic(OLD), _topic(NEW), _topic("cccccccc")], view) == [_topic("cccccccc")]
    # After the switch the old generation is retired, and still in use until the tail is copied.
    view = _view({"status": "IN_PROGRESS", "_generations": gens, "_switched": True}, dataset_inc=NEW)
    assert generations.retired_incarnations(view, G) == frozenset({OLD})
    assert orphans.dead_dataset_topics(P, [_topic(OLD), _topic(NEW)], view) == []


def test_a_finished_job_leaves_the_old_generation_dead() -> None:
    gens = {D: {"from": OLD, "to": NEW}}
    view = _view({"status": "COMPLETED", "_generations": gens, "_switched": True}, dataset_inc=NEW)
    assert not generations.group_held(view, G)
    assert generations.incarnations_in_use(view) == {}
    assert orphans.dead_dataset_topics(P, [_topic(OLD), _topic(NEW)], view) == [_topic(OLD)]
    group = view.get(G)
    assert group is not None
    assert orphans.stale_offsets_fields(P, group, [f"interactions.{OLD}:0", f"interactions.{NEW}:0"], view) == [
        f"interactions.{OLD}:0"
    ]


def test_pending_or_malformed_jobs_hold_nothing() -> None:
    assert not generations.group_held(_view({"status": "PENDING"}), G)
    bad = {D: {"from": "not-a-token", "to": NEW}, "x": "y"}
    view = _view({"status": "IN_PROGRESS", "_generations": bad})
    assert generations.generations_of(view.get(J) or {}) == []
    assert not generations.group_held(view, G)
