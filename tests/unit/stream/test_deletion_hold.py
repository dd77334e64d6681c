"""The stream holds a dataset group while a data deletion job rewrites it (ADR 0015 §4): records of the group's
topics are neither applied nor dead-lettered but read again after the job, and the generation the job replaced is
never replayed. Pure logic with fakes for the consumer and Redis (the integration test runs the real thing)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiokafka import TopicPartition

from tailor_shared import topics
from tailor_shared.resources import InMemoryResources, ResourceRecord
from tailor_stream.config import StreamSettings
from tailor_stream.processor import Applier, Resolver

P = "tailor"
G = "arn:aws:personalize:us-east-1:000000000000:dataset-group/shop"
D = "arn:aws:personalize:us-east-1:000000000000:dataset/shop/INTERACTIONS"
J = "arn:aws:personalize:us-east-1:000000000000:data-deletion-job/forget"
GI, OLD, NEW = "11111111", "aaaaaaaa", "bbbbbbbb"


class View(InMemoryResources):
    """A view whose position moves with every change, as a ResourceView's offset does."""

    consumed_offset = 0

    def put(self, record: ResourceRecord) -> None:
        super().put(record)
        self.consumed_offset += 1


@dataclass
class FakeConsumer:
    tps: set[TopicPartition]
    seeks: list[tuple[TopicPartition, int]] = field(default_factory=list)
    paused: set[TopicPartition] = field(default_factory=set)

    def assignment(self) -> set[TopicPartition]:
        return self.tps

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append((tp, offset))

    def pause(self, *tps: TopicPartition) -> None:
        self.paused.update(tps)

    def resume(self, *tps: TopicPartition) -> None:
        self.paused.difference_update(tps)

    async def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: 42 for tp in tps}


class NoState:
    """Redis without any offsets hash (the job wiped the group)."""

    def pipeline(self, transaction: bool = False) -> NoState:
        self._replies: list[list[None]] = []
        return self

    def hmget(self, _key: str, fields: list[str]) -> None:
        self._replies.append([None] * len(fields))

    async def execute(self) -> list[list[None]]:
        return self._replies


@dataclass
class Msg:
    topic: str
    partition: int
    offset: int
    key: bytes = b"u1"
    value: bytes = b""
    headers: tuple[tuple[str, bytes], ...] = ()
    timestamp: int = 0


def _topic(inc: str) -> str:
    return topics.dataset_topic(P, "shop", "Interactions", group_incarnation=GI, dataset_incarnation=inc)


def _records(view: View, dataset_inc: str, job: dict[str, Any]) -> None:
    view.put(ResourceRecord(G, "datasetGroup", {"name": "shop", "_incarnation": GI, "status": "ACTIVE"}))
    body = {"datasetType": "Interactions", "datasetGroupArn": G, "_incarnation": dataset_inc}
    view.put(ResourceRecord(D, "dataset", body, G))
    view.put(ResourceRecord(J, "dataDeletionJob", {"datasetGroupArn": G, **job}, G))


def test_a_group_under_deletion_is_held_then_replayed_without_its_old_generation() -> None:
    view = View()
    generations = {D: {"from": OLD, "to": NEW}}
    _records(view, OLD, {"status": "IN_PROGRESS", "_generations": generations})
    old, new = TopicPartition(_topic(OLD), 0), TopicPartition(_topic(NEW), 1)
    consumer = FakeConsumer({old, new})
    settings = StreamSettings.from_env({"TAILOR_TOPIC_PREFIX": P})
    applier = Applier(settings, NoState(), Resolver(view), None, consumer)  # type: ignore[arg-type]

    prepared = applier.prepare({new: [Msg(new.topic, 1, 5), Msg(new.topic, 1, 6)], old: [Msg(old.topic, 0, 9)]})
    assert (prepared.calls, prepared.dead, prepared.tps) == ([], [], [])  # nothing applied, nothing dead-lettered
    assert sorted(consumer.seeks, key=str) == sorted([(new, 5), (old, 9)], key=str)
    assert consumer.paused == {old, new} == applier.held

    asyncio.run(applier.release_held())  # still running: still held
    assert consumer.paused == {old, new}

    # The job switched the dataset and completed: resume, replay the new generation, skip the old one.
    consumer.seeks.clear()
    _records(view, NEW, {"status": "COMPLETED", "_generations": generations, "_switched": True})
    asyncio.run(applier.release_held())
    assert consumer.paused == set() == applier.held
    assert dict(consumer.seeks) == {new: 0, old: 42}


def test_other_groups_and_finished_jobs_are_not_held() -> None:
    view = View()
    _records(view, OLD, {"status": "COMPLETED"})
    tp = TopicPartition(_topic(OLD), 0)
    consumer = FakeConsumer({tp})
    settings = StreamSettings.from_env({"TAILOR_TOPIC_PREFIX": P})
    applier = Applier(settings, NoState(), Resolver(view), None, consumer)  # type: ignore[arg-type]
    topic = applier.topic(tp.topic)
    assert topic is not None
    assert not applier.resolver.held(topic)
    assert not applier.resolver.retired(topic)
