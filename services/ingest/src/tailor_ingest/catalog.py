"""Tracking ids and dataset ARNs -> ingest targets, cached per resource-view generation.

An adapter over the resource view (a listener and a lock), so not domain code: resolution itself is
``domain.targets``; this module only remembers its answers until a resource they depend on changes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from tailor_ingest import domain
from tailor_shared.resource_view import ResourceView
from tailor_shared.resources import ResourceReader, ResourceRecord

#: The resource types a target is resolved from (see ``domain.dataset_target``).
_RESOLVED_FROM = frozenset({"eventTracker", "dataset", "datasetGroup", "schema"})


class Catalog:
    """Tracking ids and dataset ARNs -> targets, cached until any resource changes (the view tells us)."""

    def __init__(self, view: ResourceReader, prefix: str) -> None:
        self._view = view
        self._prefix = prefix
        self._generation = 0
        self._cache: dict[tuple[str, str], tuple[int, domain.Target]] = {}
        self._lock = threading.Lock()

    def attach(self, view: ResourceView) -> None:
        view.add_listener(self._changed)

    def _changed(self, _arn: str, record: ResourceRecord | None) -> None:
        if record is not None and record.resource_type not in _RESOLVED_FROM:
            return  # e.g. a solution version's progress: no target depends on it
        with self._lock:
            self._generation += 1
            self._cache.clear()

    def _get(self, kind: str, key: str, resolve: Callable[[], domain.Target]) -> domain.Target:
        generation = self._generation
        hit = self._cache.get((kind, key))
        if hit is not None and hit[0] == generation:
            return hit[1]
        target = resolve()
        with self._lock:
            if self._generation == generation:
                self._cache[(kind, key)] = (generation, target)
        return target

    def event_tracker(self, tracking_id: str) -> domain.Target:
        return self._get(
            "events", tracking_id, lambda: domain.resolve_event_tracker(self._view, tracking_id, self._prefix)
        )

    def action_tracker(self, tracking_id: str) -> domain.Target:
        return self._get(
            "actions", tracking_id, lambda: domain.resolve_action_tracker(self._view, tracking_id, self._prefix)
        )

    def tracker_arn(self, tracking_id: str) -> str | None:
        """The event tracker (PutEvents) or Action interactions dataset (PutActionInteractions) a trackingId
        belongs to: the resource a policy names to allow writing through it (ADR 0026)."""
        for resource_type in ("eventTracker", "dataset"):
            for record in self._view.list(resource_type):
                if tracking_id and record.body.get("trackingId") == tracking_id:
                    return record.arn
        return None

    def dataset(self, dataset_arn: str, dataset_type: str) -> domain.Target:
        return self._get(
            dataset_type,
            dataset_arn,
            lambda: domain.resolve_dataset(self._view, dataset_arn, dataset_type, self._prefix),
        )

    def inbound(self, group_name: str, group_incarnation: str | None, dataset_type: str) -> domain.Target:
        return self._get(
            f"inbound:{dataset_type}",
            f"{group_name}.{group_incarnation}",
            lambda: domain.resolve_inbound(self._view, group_name, group_incarnation, dataset_type, self._prefix),
        )
