"""Where a resource's data lives, looked up from its resource records (ADR 0012).

Storage names are bound to a resource's incarnation (the worker-private ``_incarnation`` of its record on
``<prefix>.control.resources``), which Describe* responses never show. Code outside the services that needs
a name - a direct Kafka producer, a benchmark, a test - reads the records and derives it here; the
derivations themselves live in one place each (``topics.dataset_topic_for``, ``redis_keys.Keys.for_group``,
``model_store``).

```python
from tailor_shared import storage

with storage.records(bootstrap, prefix) as view:
    topic = storage.dataset_topic(view, prefix, dataset_arn)
```
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tailor_shared import model_store, topics
from tailor_shared.errors import ResourceNotFoundException
from tailor_shared.incarnation import incarnation_of
from tailor_shared.redis_keys import Keys
from tailor_shared.resource_view import ResourceView
from tailor_shared.resources import ResourceReader, ResourceRecord


def _get(view: ResourceReader, arn: str, resource_type: str) -> ResourceRecord:
    record = view.get(arn)
    if record is None or record.resource_type != resource_type:
        raise ResourceNotFoundException(f"Could not find the {resource_type} {arn}.")
    return record


def dataset_topic(view: ResourceReader, prefix: str, dataset_arn: str) -> str:
    """The Kafka topic of the dataset's current incarnation."""
    dataset = _get(view, dataset_arn, "dataset")
    group = _get(view, str(dataset.body.get("datasetGroupArn") or dataset.parent_arn), "datasetGroup")
    return topics.dataset_topic_for(prefix, group, dataset)


def group_keys(view: ResourceReader, prefix: str, dataset_group_arn: str) -> Keys:
    """The Redis keys of the dataset group's current incarnation."""
    return Keys.for_group(prefix, _get(view, dataset_group_arn, "datasetGroup"))


def solution_version_dir(view: ResourceReader, store: str | os.PathLike[str], solution_version_arn: str) -> Path:
    """The model directory of a solution version."""
    return model_store.version_model_dir(store, _get(view, solution_version_arn, "solutionVersion"))


def updated_version_dir(
    view: ResourceReader, store: str | os.PathLike[str], solution_version_arn: str, account: str | None = None
) -> Path:
    """The model a batch inference job on a solution version scores: the version's latest automatic update when
    it is its solution's latest fully trained version (L5378: "If you don't specify the latest solution version,
    no update occurs"), else the version's own model. The update is the one a campaign on the version received
    last (ADR 0022: the trainer updates the version's model for its campaigns every two hours); a batch job does
    not start an update of its own. With ``account`` (the batch job's), a version of another account raises
    AccessDeniedException (ADR 0028 §6)."""
    version = _get(view, solution_version_arn, "solutionVersion")
    model_store.version_model_dir(store, version, account)
    solution_arn = str(version.body.get("solutionArn") or version.parent_arn or "")
    full = [
        v for v in view.list("solutionVersion", solution_arn)
        if v.body.get("status") == "ACTIVE" and v.body.get("trainingMode") != "UPDATE"
    ]  # fmt: skip
    newest = max(full, key=lambda v: float(v.body.get("creationDateTime") or 0.0), default=None)
    if newest is None or newest.arn != version.arn:
        return model_store.version_model_dir(store, version)
    updated = [
        c for c in view.list("campaign")
        if c.body.get("status") == "ACTIVE" and c.body.get("solutionVersionArn") == version.arn
        and c.body.get("_modelOf") == version.arn and isinstance(c.body.get("_model"), str)
    ]  # fmt: skip
    if not updated:
        return model_store.version_model_dir(store, version)
    latest = max(updated, key=lambda c: (float(c.body.get("lastUpdatedDateTime") or 0.0), c.arn))
    return model_store.campaign_update_dir(store, version, str(latest.body["_model"]))


def recommender_dir(view: ResourceReader, store: str | os.PathLike[str], recommender_arn: str, generation: str) -> Path:
    """The directory of one model generation of a recommender."""
    record = _get(view, recommender_arn, "recommender")
    return model_store.recommender_model_dir(store, recommender_arn, generation, incarnation_of(record))


@contextmanager
def records(bootstrap: str, prefix: str, timeout: float = 60.0) -> Iterator[ResourceView]:
    """A started ``ResourceView`` of ``<prefix>.control.resources`` (everything on it at start applied)."""
    view = ResourceView(bootstrap, prefix)
    view.start()
    try:
        view.wait_ready(timeout)
        yield view
    finally:
        view.stop()
