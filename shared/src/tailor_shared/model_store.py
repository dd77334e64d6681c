"""Where model directories live in the model store (docs/specs/model-artifact.md).

The trainer writes ``<store>/<solution name>/<version id>.<incarnation>/`` for a solution version and
``<store>/_recommenders/<recommender name>.<incarnation>/<generation>/`` for a recommender's model
(recommenders have no solution versions; each training is a new generation); the runtime reads the same
paths. The incarnation is the resource record's ``_incarnation`` (ADR 0012): a resource created again under
a reused name never finds an old one's models. Records without one (created before incarnations) keep the
legacy paths, without ``.<incarnation>``. Solution names can't start with "_".

The store is a directory (``TAILOR_MODEL_STORE=/path`` or ``file://``; a shared volume / PVC when trainer and
runtime run apart) or an S3 prefix (``s3://bucket/prefix``, ADR 0023): then every process keeps a local cache
(``TAILOR_MODEL_CACHE_DIR``) under the same relative paths; the trainer ``publish``es a model directory once
written, and a runtime or batch worker ``fetch``es it before loading it. A model directory never changes once
written (a new version or generation is a new directory), so a cached copy never goes stale.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from tailor_shared import arns
from tailor_shared.incarnation import incarnation_of, is_token
from tailor_shared.locations import DEFAULT_MODEL_CACHE, Location, parse
from tailor_shared.objectstore import ObjectStore

MANIFEST = "manifest.json"  # every model directory has one (docs/specs/model-artifact.md)


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
        generation fetched first (``<version>/_updates/<g>``) does not hide the version's own files."""
        path = Path(directory)
        if self.remote is None or (path / MANIFEST).is_file():
            return path
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f".{path.name}.", dir=path.parent) as tmp:
            got = Path(tmp) / "m"
            self._objects.download_dir(self._url(path), got)
            for entry in sorted(got.iterdir(), key=lambda e: e.name == MANIFEST):
                if not (path / entry.name).exists():
                    os.replace(entry, path / entry.name)
        return path
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f".{path.name}.", dir=path.parent) as tmp:
            self._objects.download_dir(self._url(path), Path(tmp) / "m")
            try:
                os.replace(Path(tmp) / "m", path)
            except OSError:
                if not path.is_dir():  # another fetch won the race: its copy is the same model
                    raise
        return path


def _with(name: str, incarnation: str | None) -> str:
    if incarnation is None:
        return name
    if not is_token(incarnation):
        raise ValueError(f"bad incarnation {incarnation!r}")
    return f"{name}.{incarnation}"


def model_dir(store: str | os.PathLike[str], solution_version_arn: str, incarnation: str | None = None) -> Path:
    """A solution version's model directory; ``incarnation`` is its record's (None: legacy layout)."""
    parsed = arns.parse(solution_version_arn)
    if parsed is None or parsed.resource_type != "solutionVersion":
        raise ValueError(f"not a solution version ARN: {solution_version_arn}")
    solution, version = parsed.resource_id.split("/", 1)
    return Path(store) / solution / _with(version, incarnation)


def version_model_dir(store: str | os.PathLike[str], version: Any) -> Path:
    """The model directory of a solution version record (``ResourceRecord``)."""
    return model_dir(store, version.arn, incarnation_of(version.body))


def campaign_update_dir(store: str | os.PathLike[str], version: Any, generation: str) -> Path:
    """An automatic update of a solution version's model for its campaign (ADR 0022): inside the version's
    directory, so it goes with the version."""
    if not generation.isalnum():
        raise ValueError(f"bad model generation {generation!r}")
    return version_model_dir(store, version) / "_updates" / generation


def recommender_model_dir(
    store: str | os.PathLike[str], recommender_arn: str, generation: str, incarnation: str | None = None
) -> Path:
    """A recommender's model generation; ``incarnation`` is the recommender record's (None: legacy layout)."""
    parsed = arns.parse(recommender_arn)
    if parsed is None or parsed.resource_type != "recommender":
        raise ValueError(f"not a recommender ARN: {recommender_arn}")
    if not generation.isalnum():
        raise ValueError(f"bad model generation {generation!r}")
    return Path(store) / "_recommenders" / _with(parsed.resource_id, incarnation) / generation
