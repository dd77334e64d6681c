"""The jobs platform's pure parts: job types and their owners, the wire format, the worker's routing."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from tailor_shared.jobs import (
    FOLLOWS_RESOURCES,
    OWNERS,
    JobRecord,
    JobType,
    JobWorker,
    Owner,
    Route,
    StatusUpdate,
    jobs_group,
    owned_by,
    route,
)

CONTROL = Path(__file__).resolve().parents[2] / "services" / "control" / "src" / "tailor_control"


def _emitted_job_types() -> dict[str, list[str]]:
    """Every ``Job(...)`` control's code builds: the JobType member named in it -> where."""
    found: dict[str, list[str]] = {}
    for path in sorted(CONTROL.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name != "Job":
                continue
            where = f"{path.relative_to(CONTROL)}:{node.lineno}"
            first = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "job_type"), None)
            assert (
                isinstance(first, ast.Attribute) and isinstance(first.value, ast.Name) and first.value.id == "JobType"
            ), f"{where}: a job's type must be a JobType member"
            found.setdefault(first.attr, []).append(where)
    return found


def test_every_job_type_control_emits_has_an_owner() -> None:
    emitted = _emitted_job_types()
    assert emitted, "expected control to build jobs"
    for name, where in emitted.items():
        assert name in JobType.__members__, f"{where}: unknown job type {name}"
        assert JobType[name] in OWNERS, f"{where}: {name} has no owner in tailor_shared.jobs.OWNERS"


def test_owner_table_is_complete_and_has_no_dead_types() -> None:
    assert set(OWNERS) == set(JobType)
    assert set(_emitted_job_types()) == set(JobType.__members__), "a job type nobody emits should be removed"


def test_owners_of_the_current_workers() -> None:
    assert owned_by(Owner.INGEST) == {JobType.DATASET_IMPORT, JobType.DATASET_EXPORT}
    assert owned_by(Owner.TRAINER) == {
        JobType.SOLUTION_VERSION,
        JobType.RECOMMENDER_CREATE,
        JobType.RECOMMENDER_UPDATE,
        JobType.RECOMMENDER_RETRAIN,
        JobType.CAMPAIGN_AUTO_UPDATE,
    }
    assert owned_by(Owner.BATCH) == {JobType.BATCH_INFERENCE, JobType.BATCH_SEGMENT}
    assert owned_by(Owner.DATA_DELETION) == {JobType.DATA_DELETION}
    assert owned_by(FOLLOWS_RESOURCES) == {
        JobType.SOLUTION_VERSION_STOP,
        JobType.CAMPAIGN_DEPLOY,
        JobType.CAMPAIGN_UPDATE,
        JobType.RECOMMENDER_START,
        JobType.RECOMMENDER_STOP,
    }


def test_worker_groups_keep_their_names() -> None:
    assert jobs_group("tailor", Owner.INGEST) == "tailor.ingest-jobs"
    assert jobs_group("tailor", Owner.TRAINER) == "tailor.trainer-jobs"
    with pytest.raises(ValueError):
        jobs_group("tailor", FOLLOWS_RESOURCES)


def test_records_already_on_the_topic_still_parse() -> None:
    raw = (
        b'{"jobType":"SOLUTION_VERSION","resourceArn":"arn:sv","resourceType":"solutionVersion",'
        b'"payload":{"trainingMode":"FULL"},"dispatchedAt":1700000000.5}'
    )
    job = JobRecord.from_json(raw)
    assert job.job_type is JobType.SOLUTION_VERSION and job.job_type == "SOLUTION_VERSION"
    assert (job.resource_arn, job.payload["trainingMode"], job.dispatched_at) == ("arn:sv", "FULL", 1700000000.5)
    assert json.loads(job.to_json()) == json.loads(raw)


@pytest.mark.parametrize(
    "raw",
    [b"", b"[]", b"{}", b'{"jobType":"NO_SUCH_JOB","resourceArn":"a","resourceType":"t","dispatchedAt":1}'],
)
def test_what_is_not_a_known_job_is_rejected(raw: bytes) -> None:
    with pytest.raises(ValueError):
        JobRecord.from_json(raw)


def test_status_update_wire_format() -> None:
    update = StatusUpdate("arn:x", "CREATE FAILED", "bad input", {"_progressPercent": 10.0})
    assert StatusUpdate.parse(update.to_json()) == {
        "resourceArn": "arn:x",
        "status": "CREATE FAILED",
        "failureReason": "bad input",
        "fields": {"_progressPercent": 10.0},
    }


def _job(job_type: JobType) -> bytes:
    return JobRecord(job_type, f"arn:{job_type.value}", "t", {}, 1.0).to_json()


def test_route_runs_only_unfinished_jobs_of_its_own_types() -> None:
    mine = frozenset({JobType.DATASET_IMPORT})
    asked: list[str] = []

    def finished(job: JobRecord) -> bool:
        asked.append(job.resource_arn)
        return job.resource_arn == "arn:done"

    assert route(_job(JobType.DATASET_IMPORT), mine, finished)[0] is Route.RUN
    assert route(_job(JobType.SOLUTION_VERSION), mine, finished)[0] is Route.NOT_OURS
    assert asked == ["arn:DATASET_IMPORT"], "finished() is asked only about our own jobs"
    done = JobRecord(JobType.DATASET_IMPORT, "arn:done", "t", {}, 1.0).to_json()
    assert route(done, mine, finished)[0] is Route.FINISHED
    assert route(b"not json", mine, finished) == (Route.MALFORMED, None)
    assert route(None, mine, finished) == (Route.MALFORMED, None)


def test_a_worker_takes_only_its_owners_job_types() -> None:
    with pytest.raises(ValueError, match="SOLUTION_VERSION"):
        JobWorker("127.0.0.1:1", "p", Owner.INGEST, {JobType.SOLUTION_VERSION: lambda _job: None})
    with pytest.raises(ValueError):
        JobWorker("127.0.0.1:1", "p", FOLLOWS_RESOURCES, {})
    worker = JobWorker("127.0.0.1:1", "p", Owner.TRAINER, {JobType.RECOMMENDER_CREATE: lambda _job: None})
    assert worker.group == "p.trainer-jobs"
