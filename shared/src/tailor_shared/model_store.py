"""Where model directories live in the model store (docs/specs/model-artifact.md).

Each account has its own folder, ``<store>/_accounts/<account id>/`` (ADR 0028 §6): the trainer writes
``<account folder>/<solution name>/<version id>.<incarnation>/`` for a solution version and
``<account folder>/_recommenders/<recommender name>.<incarnation>/<generation>/`` for a recommender's model
(recommenders have no solution versions; each training is a new generation); the runtime and batch workers read
the same paths. The account is the one in the resource's ARN, and a reader passes the account it acts for (the
campaign's, the recommender's, the batch job's): a model of another account is never loaded. The incarnation is
the resource record's ``_incarnation`` (ADR 0012): a resource created again under a reused name never finds an
old one's models. Records without one (created before incarnations) keep the legacy names, without
``.<incarnation>``. Solution names can't start with "_", so ``_accounts`` and ``_recommenders`` name no solution.
Stores written before account folders (``<store>/<solution name>/...``, ``<store>/_recommenders/...``) are
moved into them by the trainer at start-up (``migrate_to_accounts``), and until then read where they are.

The store is a directory (``TAILOR_MODEL_STORE=/path`` or ``file://``; a shared volume / PVC when trainer and
runtime run apart) or an S3 prefix (``s3://bucket/prefix``, ADR 0023): then every process keeps a local cache
(``TAILOR_MODEL_CACHE_DIR``) under the same relative paths; the trainer ``publish``es a model directory once
written, and a runtime or batch worker ``fetch``es it before loading it. A model directory never changes once
written (a new version or generation is a new directory), so a cached copy never goes stale.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tailor_shared import arns
from tailor_shared.errors import AccessDeniedException
from tailor_shared.incarnation import incarnation_of, is_token
from tailor_shared.locations import DEFAULT_MODEL_CACHE, Location, parse
from tailor_shared.objectstore import ObjectStore

MANIFEST = "manifest.json"  # every model directory has one (docs/specs/model-artifact.md)
ACCOUNTS = "_accounts"  # <store>/_accounts/<account id>/: one folder per account (ADR 0028 §6)
RECOMMENDERS = "_recommenders"
_ACCOUNT = re.compile(r"^[0-9]{12}$")


class ModelStore(os.PathLike[str]):
    """A model store; ``os.fspath`` of it is its local root (the store, or the cache of a remote one), so the
    path functions below take it wherever they take a directory."""

    def __init__(
        self, location: str | os.PathLike[str], objects: ObjectStore | None = None, cache_dir: str = ""
    ) -> None:
        text = os.fspath(location)
        self.remote: Location | None = None
        if text.startswith("s3://"):
            self.remote = parse(text).child("")
            self.root = Path(cache_dir or DEFAULT_MODEL_CACHE).resolve()
        else:
            self.root = Path(parse(text).key if text.startswith("file://") else text)
        self._objects = objects or ObjectStore()

    def __fspath__(self) -> str:
        return str(self.root)

    def __repr__(self) -> str:
        return f"ModelStore({self.remote.url if self.remote else str(self.root)!r})"

    def _url(self, directory: Path) -> str:
        assert self.remote is not None
        return self.remote.child(Path(directory).resolve().relative_to(self.root).as_posix()).url

    def publish(self, directory: str | os.PathLike[str]) -> float:
        """Upload a model directory the trainer wrote (no-op for a local store); returns the seconds it took."""
        if self.remote is None:
            return 0.0
        started = time.perf_counter()
        self._objects.upload_dir(Path(directory), self._url(Path(directory)))
        return time.perf_counter() - started

    def remove(self, directory: str | os.PathLike[str]) -> None:
        """Delete a model directory: the local one (the store, or the cache) and the S3 copy."""
        shutil.rmtree(directory, ignore_errors=True)
        if self.remote is not None:
            self._objects.delete_prefix(self._url(Path(directory)))

    def fetch(self, directory: str | os.PathLike[str]) -> Path:
        """The model directory on local disk, downloaded from a remote store unless the cache has it complete
        (its ``manifest.json``, moved in last). It is downloaded under a temporary name and moved in entry by
        entry, so a concurrent or interrupted fetch never leaves a model without its manifest, and an update
        generation fetched first (``<version>/_updates/<g>``) does not hide the version's own files. A model
        the trainer has not moved into its account folder yet is read where it is (``legacy_dir``)."""
        path = Path(directory)
        if (path / MANIFEST).is_file():
            return path
        legacy = legacy_dir(self.root, path)
        if self.remote is None:
            return legacy if legacy is not None and (legacy / MANIFEST).is_file() else path
        if not self._download(path) and legacy is not None and self._download(legacy):
            return legacy
        return path

    def _download(self, path: Path) -> bool:
        """Download one model directory into the cache; False when the store has nothing under it."""
        if (path / MANIFEST).is_file():
            return True
        if not self._objects.list_objects(self._url(path)):
            return False
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f".{path.name}.", dir=path.parent) as tmp:
            got = Path(tmp) / "m"
            self._objects.download_dir(self._url(path), got)
            for entry in sorted(got.iterdir(), key=lambda e: e.name == MANIFEST):
                if not (path / entry.name).exists():
                    os.replace(entry, path / entry.name)
        return True

    def move(self, source: Path, target: Path) -> bool:
        """Move a model directory within the store (``migrate_to_accounts``); False when there is none at
        ``source`` or one at ``target`` already. Local: a rename. S3: a copy under the new prefix, then the
        old prefix deleted (the copy is complete before anything is deleted)."""
        if self.remote is None:
            if not source.is_dir() or target.exists():
                return False
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)
            return True
        if self._objects.list_objects(self._url(target)) or not self._objects.list_objects(self._url(source)):
            return False
        with tempfile.TemporaryDirectory(dir=self.root.parent if self.root.parent.is_dir() else None) as tmp:
            self._objects.download_dir(self._url(source), Path(tmp) / "m")
            self._objects.upload_dir(Path(tmp) / "m", self._url(target))
        self._objects.delete_prefix(self._url(source))
        shutil.rmtree(source, ignore_errors=True)
        return True


def _with(name: str, incarnation: str | None) -> str:
    if incarnation is None:
        return name
    if not is_token(incarnation):
        raise ValueError(f"bad incarnation {incarnation!r}")
    return f"{name}.{incarnation}"


def account_dir(store: str | os.PathLike[str], account: str) -> Path:
    """The account's folder of the store: every model of its solution versions and recommenders is under it."""
    if not _ACCOUNT.match(account):
        raise ValueError(f"bad account id {account!r}")
    return Path(store) / ACCOUNTS / account


def legacy_dir(store: str | os.PathLike[str], directory: str | os.PathLike[str]) -> Path | None:
    """Where a model directory was before account folders (``<store>/<rest>`` for ``<store>/_accounts/<account>/
    <rest>``); None for a path outside an account folder."""
    try:
        parts = Path(directory).relative_to(Path(store)).parts
    except ValueError:
        return None
    if len(parts) < 3 or parts[0] != ACCOUNTS:
        return None
    return Path(store).joinpath(*parts[2:])


def migrate_to_accounts(models: ModelStore, live: Iterable[Path]) -> list[Path]:
    """Move the live model directories of a store written before account folders into them (the trainer, at
    start-up; ``live`` are the account-folder paths the live records name). Returns the directories moved."""
    moved = []
    for target in sorted(live):
        source = legacy_dir(models.root, target)
        if source is not None and models.move(source, target):
            moved.append(target)
    return moved


def _owned(arn: str, resource_type: str, account: str | None) -> arns.ParsedArn:
    """The parsed ARN, once it is of ``resource_type`` and of ``account`` (the account a reader acts for)."""
    parsed = arns.parse(arn)
    if parsed is None or parsed.resource_type != resource_type:
        raise ValueError(f"not a {resource_type} ARN: {arn}")
    if account is not None and parsed.account != account:
        raise AccessDeniedException(f"The model of {arn} is not in account {account}'s model store folder.")
    return parsed


def model_dir(
    store: str | os.PathLike[str], solution_version_arn: str, incarnation: str | None = None, account: str | None = None
) -> Path:
    """A solution version's model directory; ``incarnation`` is its record's (None: legacy names). With
    ``account`` (the campaign's or batch job's), a version of another account raises AccessDeniedException."""
    parsed = _owned(solution_version_arn, "solutionVersion", account)
    solution, version = parsed.resource_id.split("/", 1)
    return account_dir(store, parsed.account) / solution / _with(version, incarnation)


def version_model_dir(store: str | os.PathLike[str], version: Any, account: str | None = None) -> Path:
    """The model directory of a solution version record (``ResourceRecord``)."""
    return model_dir(store, version.arn, incarnation_of(version.body), account)


def campaign_update_dir(
    store: str | os.PathLike[str], version: Any, generation: str, account: str | None = None
) -> Path:
    """An automatic update of a solution version's model for its campaign (ADR 0022): inside the version's
    directory, so it goes with the version."""
    if not generation.isalnum():
        raise ValueError(f"bad model generation {generation!r}")
    return version_model_dir(store, version, account) / "_updates" / generation


def recommender_model_dir(
    store: str | os.PathLike[str], recommender_arn: str, generation: str, incarnation: str | None = None
) -> Path:
    """A recommender's model generation; ``incarnation`` is the recommender record's (None: legacy names). A
    recommender serves only its own model, so the ARN's account is the reader's."""
    parsed = _owned(recommender_arn, "recommender", None)
    if not generation.isalnum():
        raise ValueError(f"bad model generation {generation!r}")
    return account_dir(store, parsed.account) / RECOMMENDERS / _with(parsed.resource_id, incarnation) / generation
