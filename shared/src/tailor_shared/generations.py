"""Dataset topic generations: how a data deletion job erases users from append-only topics (ADR 0015).

A data deletion job rewrites each user-keyed dataset of its dataset group (Interactions, Users,
Action_Interactions) into a new topic without the users' rows, under a fresh dataset incarnation (the
topic name is ``topics.dataset_topic_for`` of it), and control then switches the dataset record's
``_incarnation`` to it: every reader and writer that derives names from the records moves at once, and the
old topic is dead. The job record (``dataDeletionJob``, written by control from the worker's reports) says
what is in transition, in worker-private body fields:

* ``_generations``: dataset ARN -> ``{"from": <old incarnation>, "to": <new incarnation>}``, reported by the
  worker before it creates any new topic;
* ``_switched``: true once the worker asked control to switch (control then rewrites the datasets' records);
* ``_copied``: dataset ARN -> {partition: next offset of the old topic to copy} at the switch (a retried
  job copies the old topic's tail from there).

While a job is ``IN_PROGRESS`` with ``_generations``, both incarnations of each dataset are *in use*: the new
topic is being written and the old one still receives writes from producers that have not switched yet
(its tail is copied until they have). Code that deletes dead storage must keep both
(``incarnations_in_use``); the stream holds the group's partitions (``group_held``) so that nothing is
applied to Redis from a half-written generation or while the job rebuilds the group's state. Once the job is
COMPLETED or FAILED the old incarnation is dead like any deleted one (``retired_incarnations``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tailor_shared.incarnation import is_token
from tailor_shared.resources import ResourceReader, ResourceRecord

DATA_DELETION_JOB = "dataDeletionJob"
GENERATIONS = "_generations"
SWITCHED = "_switched"
COPIED = "_copied"
#: The one status in which a job's generations are in transition (data deletion jobs' own vocabulary).
IN_PROGRESS = "IN_PROGRESS"


@dataclass(frozen=True)
class Generation:
    """One dataset's move from its old topic incarnation to the rewritten one."""

    dataset_arn: str
    previous: str  # the dataset's incarnation when the job started
    next: str  # the incarnation of the rewritten topic


def generations_of(body: Mapping[str, Any] | ResourceRecord) -> list[Generation]:
    """The well-formed generations a job record (or its body) names; anything malformed is ignored."""
    if not isinstance(body, Mapping):
        body = body.body
    raw = body.get(GENERATIONS)
    out: list[Generation] = []
    if not isinstance(raw, Mapping):
        return out
    for arn, gen in raw.items():
        if not isinstance(arn, str) or not isinstance(gen, Mapping):
            continue
        previous, nxt = gen.get("from"), gen.get("to")
        if isinstance(previous, str) and isinstance(nxt, str) and is_token(previous) and is_token(nxt):
            out.append(Generation(arn, previous, nxt))
    return out


def generations_body(generations: list[Generation]) -> dict[str, dict[str, str]]:
    return {g.dataset_arn: {"from": g.previous, "to": g.next} for g in generations}


def running(view: ResourceReader, group_arn: str | None = None) -> list[ResourceRecord]:
    """Data deletion jobs IN_PROGRESS that have announced generations (of one dataset group if given)."""
    return [
        job
        for job in view.list(DATA_DELETION_JOB, group_arn)
        if job.body.get("status") == IN_PROGRESS and generations_of(job)
    ]


def group_held(view: ResourceReader, group_arn: str) -> bool:
    """Must the stream leave this dataset group's topics alone for now (a deletion job is rewriting them)?"""
    return bool(running(view, group_arn))


def incarnations_in_use(view: ResourceReader) -> dict[str, frozenset[str]]:
    """Dataset ARN -> incarnations besides the record's own that running deletion jobs still use (the new
    topic being written, the old one whose tail is being copied): storage cleanup must keep their topics."""
    out: dict[str, set[str]] = {}
    for job in running(view):
        for gen in generations_of(job):
            out.setdefault(gen.dataset_arn, set()).update((gen.previous, gen.next))
    return {arn: frozenset(incs) for arn, incs in out.items()}


def retired_incarnations(view: ResourceReader, group_arn: str) -> frozenset[str]:
    """Old dataset incarnations that a deletion job of the group switched away from: their topics are dead
    for good (a rebuild need not replay them)."""
    out: set[str] = set()
    for job in view.list(DATA_DELETION_JOB, group_arn):
        if job.body.get(SWITCHED):
            out.update(g.previous for g in generations_of(job))
    return frozenset(out)
