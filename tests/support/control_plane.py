"""An in-memory control plane: the domain plus a dict-backed view, applying its own effects.

It is what the servicer does minus Kafka (the view is an ``InMemoryResources`` that effects are folded
into at once), which makes it the harness for unit tests of control semantics and a reference for how
``handle``, ``advance`` and ``apply_job_status`` compose. Time is passed in, or taken from a simulated
clock (``now``) that moves one second per step unless told otherwise, so runs are reproducible.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tailor_control.domain import handle
from tailor_control.domain.lifecycle import advance, apply_job_status
from tailor_control.domain.model import Change, Context, Delete, Job, Put, Quotas
from tailor_shared.resources import InMemoryResources


def fold(store: InMemoryResources, changes: Iterable[Change]) -> None:
    """Apply changes to a store, in order (what consuming the compacted topic does)."""
    for change in changes:
        if isinstance(change, Put):
            store.put(change.record)
        elif isinstance(change, Delete):
            store.delete(change.arn)


class InMemoryControlPlane:
    def __init__(
        self,
        region: str = "us-west-2",
        account_id: str = "123456789012",
        quotas: Quotas | None = None,
        start: float = 1_700_000_000.0,
    ) -> None:
        self.now = start
        self.region = region
        self.account_id = account_id
        self.quotas = quotas or Quotas()
        self.store = InMemoryResources()
        self.jobs: list[Job] = []

    def _at(self, now: float | None) -> Context:
        self.now = self.now + 1.0 if now is None else now
        return Context(self.region, self.account_id, self.now, self.quotas)

    def tick(self, seconds: float) -> float:
        """Move the simulated clock forward (e.g. past the first automatic training hour)."""
        self.now += seconds
        return self.now

    def call(self, operation: str, request: Mapping[str, Any], now: float | None = None) -> dict[str, Any]:
        """One API call; its changes are visible to the next call (read-your-writes)."""
        outcome = handle(operation, request, self.store, self._at(now))
        fold(self.store, outcome.changes)
        self.jobs.extend(outcome.jobs)
        return outcome.response

    def advance(self, now: float | None = None) -> tuple[Change, ...]:
        effects = advance(self.store, self._at(now))
        fold(self.store, effects.changes)
        self.jobs.extend(effects.jobs)
        return effects.changes

    def body(self, arn: str) -> Mapping[str, Any]:
        """The stored body of a resource (KeyError when absent)."""
        record = self.store.get(arn)
        if record is None:
            raise KeyError(arn)
        return record.body

    def report(self, update: Mapping[str, Any], now: float | None = None) -> tuple[Change, ...]:
        """A worker's status report."""
        effects = apply_job_status(self.store, update, self._at(now))
        fold(self.store, effects.changes)
        self.jobs.extend(effects.jobs)
        return effects.changes
