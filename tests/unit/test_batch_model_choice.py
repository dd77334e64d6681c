"""Which model a batch inference job scores (L5378, ADR 0022): the latest automatic update of its solution
version when that version is its solution's latest fully trained one, else the version's own model."""

from __future__ import annotations

from pathlib import Path

from tailor_shared import model_store, storage
from tailor_shared.resources import InMemoryResources, ResourceRecord

BASE = "arn:aws:personalize:us-east-1:000000000000:"
SOLUTION = BASE + "solution/up"


def _version(view: InMemoryResources, name: str, created: float, mode: str = "FULL") -> ResourceRecord:
    arn = f"{SOLUTION}/{name}"
    body = {"solutionVersionArn": arn, "solutionArn": SOLUTION, "status": "ACTIVE", "trainingMode": mode,
            "creationDateTime": created}  # fmt: skip
    record = ResourceRecord(arn, "solutionVersion", body, SOLUTION)
    view.put(record)
    return record


def _campaign(view: InMemoryResources, name: str, version: str, generation: str | None, updated: float) -> None:
    body: dict[str, object] = {"solutionVersionArn": version, "status": "ACTIVE", "lastUpdatedDateTime": updated}
    if generation is not None:
        body |= {"_model": generation, "_modelOf": version}
    view.put(ResourceRecord(BASE + f"campaign/{name}", "campaign", body, SOLUTION))


def test_a_batch_job_scores_the_latest_update_of_the_latest_full_version(tmp_path: Path) -> None:
    view = InMemoryResources()
    v1 = _version(view, "v1", 1.0)
    own = model_store.version_model_dir(tmp_path, v1)
    assert storage.updated_version_dir(view, tmp_path, v1.arn) == own  # no campaign: no update
    _campaign(view, "a", v1.arn, None, 5.0)
    assert storage.updated_version_dir(view, tmp_path, v1.arn) == own  # a campaign never updated
    _campaign(view, "b", v1.arn, "gen1", 10.0)
    _campaign(view, "c", v1.arn, "gen2", 20.0)
    assert storage.updated_version_dir(view, tmp_path, v1.arn) == model_store.campaign_update_dir(tmp_path, v1, "gen2")
    # An UPDATE version is not fully trained: v1 stays the one that gets updates.
    _version(view, "u1", 30.0, mode="UPDATE")
    assert storage.updated_version_dir(view, tmp_path, v1.arn) == model_store.campaign_update_dir(tmp_path, v1, "gen2")
    # A newer fully trained version: a job on the older one gets no update ("no update occurs").
    _version(view, "v2", 40.0)
    assert storage.updated_version_dir(view, tmp_path, v1.arn) == own
