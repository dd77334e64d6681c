"""Which stored data belongs to no live resource incarnation (ADR 0014: deleting deletes).

Pure functions of a resource view (``ResourceReader``) and of names found in storage — Kafka topic names,
Redis group tags and offsets fields, model-store paths — plus ``Grace``, the clock-driven rule that a name must
stay dead for a while before it is deleted. No I/O: the storage janitors (the stream's for topics and Redis,
the trainer's for the model store) list what exists, ask here what is dead, and delete it.

Liveness is always judged from the *records* (ADR 0012): a topic, tag or directory is live exactly when some
record in the view names it through the one naming function for it (``topics.dataset_topic_for``,
``redis_keys.Keys.for_group``, ``model_store``). Legacy records (no ``_incarnation``) name their legacy storage,
so a deleted legacy resource's name-only storage is dead too. Callers must pass a view that is caught up with
the resources topic (``ResourceView.catch_up``) *after* they listed the storage: every piece of storage is
made only once its record exists, so a just-created resource is then never judged dead.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tailor_shared import generations, incarnation, model_store, topics
from tailor_shared.redis_keys import Keys
from tailor_shared.resources import ResourceReader, ResourceRecord

_NAME = r"[A-Za-z0-9][A-Za-z0-9_-]*"
_TAG = re.compile(rf"^({_NAME})(?:\.([0-9a-f]{{{incarnation.LENGTH}}}))?$")
#: ``<suffix>.<dataset inc>:<partition>`` or (legacy dataset) ``<suffix>:<partition>`` (tailor_stream.processor).
_OFFSETS_FIELD = re.compile(rf"^([a-z-]+)(?:\.([0-9a-f]{{{incarnation.LENGTH}}}))?:(\d+)$")


# --- dataset topics ------------------------------------------------------------------------------------------


def live_dataset_topics(prefix: str, view: ResourceReader) -> set[str]:
    """The topic of every dataset in the view (of its group's live incarnation), plus the generations a running
    data deletion job still uses (the topic it writes, the one whose tail it copies; ADR 0015)."""
    out: set[str] = set()
    in_use = generations.incarnations_in_use(view)
    for group in view.list("datasetGroup"):
        for dataset in view.list("dataset", group.arn):
            try:
                out.add(topics.dataset_topic_for(prefix, group, dataset))
                for inc in in_use.get(dataset.arn, ()):
                    out.add(topics.dataset_topic_for(prefix, group, {**dataset.body, incarnation.FIELD: inc}))
            except (KeyError, ValueError):  # a malformed record names no storage
                continue
    return out


def dead_dataset_topics(prefix: str, names: Iterable[str], view: ResourceReader) -> list[str]:
    """The dataset topics among ``names`` (any topic names, e.g. the broker's list) that no live dataset owns.
    Topics that are not dataset topics of ``prefix`` are never returned."""
    live = live_dataset_topics(prefix, view)
    return sorted(n for n in names if topics.parse_dataset_topic(prefix, n) is not None and n not in live)


def dead_inbound_topics(prefix: str, names: Iterable[str], view: ResourceReader) -> list[str]:
    """The inbound topics among ``names`` (ADR 0024) whose dataset group incarnation is no longer live."""
    live: set[str] = set()
    for group in view.list("datasetGroup"):
        try:
            live.update(topics.inbound_topic(prefix, group, kind) for kind in topics.INBOUND_KINDS)
        except (KeyError, ValueError):
            continue
    return sorted(n for n in names if topics.parse_inbound_topic(prefix, n) is not None and n not in live)


# --- Redis group tags ----------------------------------------------------------------------------------------


def parse_group_tag(tag: str) -> tuple[str, str | None] | None:
    """``<name>.<inc>`` or a legacy ``<name>`` -> (name, incarnation); None for anything else."""
    found = _TAG.match(tag)
    return None if found is None else (found.group(1), found.group(2))


def tag_of_key(prefix: str, key: str) -> str | None:
    """The group tag of a stream key ``<prefix>:{<tag>}:...`` (None for other keys or unparsable tags)."""
    head = prefix + ":{"
    if not key.startswith(head):
        return None
    end = key.find("}:", len(head))
    if end < 0:
        return None
    tag = key[len(head) : end]
    return tag if parse_group_tag(tag) is not None else None


def live_group_tags(prefix: str, view: ResourceReader) -> dict[str, ResourceRecord]:
    """Group tag -> the live dataset group record that owns it."""
    out: dict[str, ResourceRecord] = {}
    for group in view.list("datasetGroup"):
        try:
            out[Keys.for_group(prefix, group).dataset_group] = group
        except (KeyError, ValueError):
            continue
    return out


def dead_group_tags(prefix: str, tags: Iterable[str], view: ResourceReader) -> list[str]:
    """The tags among ``tags`` that no live dataset group owns (unparsable tags are never returned)."""
    live = live_group_tags(prefix, view)
    return sorted({t for t in tags if parse_group_tag(t) is not None and t not in live})


def stale_offsets_fields(prefix: str, group: ResourceRecord, fields: Iterable[str], view: ResourceReader) -> list[str]:
    """Fields of a live group's offsets hash that belong to no live dataset of the group: the group's Redis
    still holds state the stream derived from a deleted dataset (ADR 0014 §4). Unparsable fields are ignored."""
    live: set[tuple[str, str | None]] = set()
    in_use = generations.incarnations_in_use(view)
    for dataset in view.list("dataset", group.arn):
        bodies = [dataset.body, *({**dataset.body, incarnation.FIELD: inc} for inc in in_use.get(dataset.arn, ()))]
        for body in bodies:
            try:
                name = topics.parse_dataset_topic(prefix, topics.dataset_topic_for(prefix, group, body))
            except (KeyError, ValueError):
                continue
            if name is not None:
                live.add((name.suffix, name.dataset_incarnation))
    out = []
    for raw in fields:
        found = _OFFSETS_FIELD.match(raw)
        if found is not None and (found.group(1), found.group(2)) not in live:
            out.append(raw)
    return sorted(out)


def group_tag_of_topic(prefix: str, topic: str) -> str | None:
    name = topics.parse_dataset_topic(prefix, topic)
    return None if name is None else name.group_tag


# --- model store ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoreEntry:
    """A directory of the model store that belongs to one resource incarnation.

    ``kind``: ``version`` (``<account folder>/<solution>/<version dir>``), ``recommender``
    (``<account folder>/_recommenders/<recommender dir>``, all its generations) or ``partial`` (a
    ``.<name>.tmp-<x>`` directory a writer left, ``target`` being the directory it was to become). The account
    folder is ``<store>/_accounts/<account id>``, or the store itself for a store written before them."""

    path: Path
    kind: str
    target: Path | None = None


RECOMMENDERS = model_store.RECOMMENDERS
_PARTIAL = re.compile(r"^\.(.+)\.tmp-[0-9a-f]+$")


def account_folders(store: Path, folders: Iterable[str]) -> list[Path]:
    """The folders model directories sit two levels below: each ``<store>/_accounts/<account id>`` of
    ``folders`` (the names listed under ``_accounts``), and the store itself (models written before accounts)."""
    out = [store]
    for name in sorted(folders):
        with contextlib.suppress(ValueError):
            out.append(model_store.account_dir(store, name))
    return out


def classify_store_entry(store: Path, path: Path) -> StoreEntry | None:
    """What a directory two levels below an account folder (or, written before accounts, below the store) is
    (None: not something the model store layout names)."""
    try:
        rel = path.relative_to(store)
    except ValueError:
        return None
    parts = rel.parts[2:] if rel.parts[:1] == (model_store.ACCOUNTS,) else rel.parts
    if len(parts) != 2:
        return None
    parent, name = parts
    if parent.startswith("."):
        return None
    partial = _PARTIAL.match(name)
    if partial is not None:
        return StoreEntry(path, "partial", path.parent / partial.group(1))
    if name.startswith("."):
        return None
    return StoreEntry(path, "recommender" if parent == RECOMMENDERS else "version")


def live_model_dirs(store: Path, view: ResourceReader) -> set[Path]:
    """Every directory a live record names: solution versions' model dirs and recommenders' dirs (the parent
    of their generations)."""
    out: set[Path] = set()
    for version in view.list("solutionVersion"):
        try:
            out.add(model_store.version_model_dir(store, version))
        except (KeyError, ValueError):
            continue
    for recommender in view.list("recommender"):
        try:
            inc = incarnation.incarnation_of(recommender)
            out.add(model_store.recommender_model_dir(store, recommender.arn, "g", inc).parent)
        except (KeyError, ValueError):
            continue
    return out


def dead_store_entries(store: Path, entries: Iterable[StoreEntry], view: ResourceReader) -> list[StoreEntry]:
    """Entries that belong to no live record. A partial directory is dead when its target is (a job of a live
    resource may still be writing it)."""
    live = live_model_dirs(store, view)
    out = []
    for entry in entries:
        own = entry.target if entry.kind == "partial" else entry.path
        if own is not None and own not in live:
            out.append(entry)
    return sorted(out, key=lambda e: str(e.path))


def live_solution_dirs(store: Path, view: ResourceReader) -> set[Path]:
    """The solution folders that hold a live solution version's model (they must stay)."""
    out: set[Path] = set()
    for version in view.list("solutionVersion"):
        with contextlib.suppress(KeyError, ValueError):
            out.add(model_store.version_model_dir(store, version).parent)
    return out


# --- grace ---------------------------------------------------------------------------------------------------


@dataclass
class Grace:
    """A name is deleted only after it was seen dead in passes spanning ``seconds`` (and at least two passes):
    a writer whose view lags (it made the storage of a resource deleted a moment later) has settled by then.
    Memory only: a restarted janitor starts counting again, which only delays a deletion."""

    seconds: float
    _first: dict[str, float] = field(default_factory=dict)

    def due(self, dead: Iterable[str], now: float) -> list[str]:
        """Record this pass's dead names; return those dead for at least ``seconds``. Names no longer dead
        (deleted, or live again) are forgotten."""
        current = list(dict.fromkeys(dead))
        first = {name: self._first.get(name, now) for name in current}
        self._first = first
        return [name for name in current if name in first and now - first[name] >= self.seconds and now > first[name]]

    def forget(self, name: str) -> None:
        self._first.pop(name, None)
