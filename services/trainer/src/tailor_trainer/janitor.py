"""The model-store janitor: deletes the model directories of deleted solution versions and recommenders
(ADR 0014). The trainer writes the model store, so it owns deleting from it.

Every ``TAILOR_TRAINER_JANITOR_INTERVAL_S`` a pass lists the store's directories (``<account folder>/<solution>/
<version dir>``, ``<account folder>/_recommenders/<recommender dir>``, and ``.<name>.tmp-<x>`` directories a
writer left; an account folder is ``<store>/_accounts/<account id>``, or the store itself for models written
before account folders), then
catches its resource view up with ``<prefix>.control.resources`` (a directory is only written for a record
that exists, so a just-created one never looks dead), and deletes the directories that no live record names
(``tailor_shared.orphans``) once they have been dead for ``TAILOR_TRAINER_JANITOR_GRACE_S``; a solution's
directory goes when it is empty and no live version of that solution name remains. Deleting is idempotent, so
a crash midway leaves the rest to the next pass. Legacy (name-only) directories of deleted legacy records
are deleted the same way: they are named by no live record either.

The store belongs to one deployment (one topic prefix): a janitor deletes whatever its own records don't
name. Turn it off (interval 0) where several deployments share a store directory. With an ``s3://`` store the
pass lists the local cache and deletes a dead directory there and under the S3 prefix (ADR 0023).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from tailor_shared import orphans
from tailor_shared.model_store import ACCOUNTS, ModelStore
from tailor_shared.resource_view import ResourceView
from tailor_trainer import metrics

log = logging.getLogger(__name__)


@dataclass
class StorePassReport:
    skipped: str | None = None
    dead: list[Path] = field(default_factory=list)
    deleted: list[Path] = field(default_factory=list)


def _subdirs(folder: Path) -> list[Path]:
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        return [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return []


def list_store(store: Path) -> list[orphans.StoreEntry]:
    """Every directory two levels below an account folder that the layout names."""
    out: list[orphans.StoreEntry] = []
    accounts = [p.name for p in _subdirs(store / ACCOUNTS)]
    for folder in orphans.account_folders(store, accounts):
        for parent in _subdirs(folder):
            if parent.name == ACCOUNTS and folder == store:
                continue
            with contextlib.suppress(FileNotFoundError):
                for child in parent.iterdir():
                    if child.is_dir():
                        entry = orphans.classify_store_entry(store, child)
                        if entry is not None:
                            out.append(entry)
    return out


class ModelStoreJanitor:
    def __init__(self, store: str | os.PathLike[str], view: ResourceView, grace_s: float) -> None:
        self.store = Path(store)  # an s3:// store's local cache: what this trainer wrote or fetched
        self._models = store if isinstance(store, ModelStore) else ModelStore(store)
        self.view = view
        self._grace = orphans.Grace(grace_s)

    def run_pass(self) -> StorePassReport:
        """One pass (blocking file-system work: run it off the event loop)."""
        report = StorePassReport()
        entries = list_store(self.store)
        try:
            self.view.catch_up()
        except Exception as err:
            report.skipped = f"resource view not caught up: {err}"
            return report
        if self.view.consumed_offset < 0:
            report.skipped = "no resource records"
            return report
        dead = orphans.dead_store_entries(self.store, entries, self.view)
        report.dead = [e.path for e in dead]
        by_path = {str(e.path): e for e in dead}
        for name in self._grace.due(list(by_path), time.monotonic()):
            entry = by_path[name]
            self._models.remove(entry.path)
            if entry.path.exists():
                continue  # something kept writing into it: the next pass tries again
            self._grace.forget(name)
            report.deleted.append(entry.path)
            kind = "recommender_dir" if entry.kind == "recommender" else f"{entry.kind}_dir"
            metrics.JANITOR_DELETED.labels(kind).inc()
            log.info("janitor: deleted a deleted resource's model directory", extra={"path": str(entry.path)})
        self._remove_empty_solution_dirs()
        return report

    def _remove_empty_solution_dirs(self) -> None:
        live = orphans.live_solution_dirs(self.store, self.view)
        accounts = [p.name for p in _subdirs(self.store / ACCOUNTS)]
        for parent in (p for folder in orphans.account_folders(self.store, accounts) for p in _subdirs(folder)):
            if parent.name.startswith("_") or parent in live:
                continue
            with contextlib.suppress(OSError):  # not empty (a writer is in it) or gone: leave it
                if time.time() - parent.stat().st_mtime < self._grace.seconds:
                    continue  # a version's job may be about to write into it
                parent.rmdir()
                metrics.JANITOR_DELETED.labels("solution_dir").inc()

    async def run(self, stopping: asyncio.Event, interval_s: float) -> None:
        while not stopping.is_set():
            try:
                report = await asyncio.to_thread(self.run_pass)
                metrics.JANITOR_PASSES.labels("skipped" if report.skipped else "ok").inc()
            except Exception as err:
                metrics.JANITOR_PASSES.labels("error").inc()
                log.warning("model store janitor pass failed", extra={"error": repr(err)})
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stopping.wait(), interval_s)
