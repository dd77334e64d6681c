"""advance / apply_job_status used directly (the servicer's entry points), and handle's dispatch."""

from __future__ import annotations

from typing import Any

import pytest

from tailor_control.domain import OPERATIONS, Context, Delete, Effects, Put, advance, apply_job_status, handle
from tailor_shared.errors import InvalidInputException
from tailor_shared.resources import InMemoryResources, ResourceRecord
from tests.support.control_plane import InMemoryControlPlane

CTX = Context(region="us-west-2", account_id="123456789012", now=100.0)


def test_operations_cover_the_control_plane() -> None:
    assert len(OPERATIONS) == 70
    assert {"CreateDatasetGroup", "UpdateRecommender", "ListMetricAttributionMetrics", "TagResource"} <= OPERATIONS
    assert not any(op.startswith(("Put", "GetRecommendations")) for op in OPERATIONS)


def test_handle_rejects_unknown_operations() -> None:
    with pytest.raises(InvalidInputException, match="Unknown operation"):
        handle("PutEvents", {}, InMemoryResources(), CTX)


def test_handle_is_pure() -> None:
    view = InMemoryResources()
    outcome = handle("CreateDatasetGroup", {"name": "g"}, view, CTX)
    assert len(view) == 0  # nothing written: the caller applies the changes
    (change,) = outcome.changes
    assert isinstance(change, Put) and change.record.resource_type == "datasetGroup"
    assert change.record.body["creationDateTime"] == 100.0 and change.record.parent_arn is None
    assert outcome.jobs == ()


def test_advance_is_idempotent_once_applied() -> None:
    view = InMemoryResources()
    for change in handle("CreateDatasetGroup", {"name": "g"}, view, CTX).changes:
        assert isinstance(change, Put)
        view.put(change.record)
    effects = advance(view, Context("us-west-2", "123456789012", 101.0))
    assert isinstance(effects, Effects) and len(effects) == 1 and effects.jobs == ()
    (put,) = effects.changes
    assert isinstance(put, Put) and put.record.body["status"] == "ACTIVE"
    view.put(put.record)
    assert advance(view, Context("us-west-2", "123456789012", 102.0)) == ()


def test_delete_cascade_removes_history(plane: InMemoryControlPlane, group: str, interactions: str) -> None:
    role = "arn:aws:iam::123456789012:role/R"
    job = plane.call(
        "CreateDatasetImportJob",
        {"jobName": "imp", "datasetArn": interactions, "dataSource": {"dataLocation": "s3://b/x"}, "roleArn": role},
    )["datasetImportJobArn"]
    plane.report({"resourceArn": job, "status": "ACTIVE"})
    deletion = plane.call(
        "CreateDataDeletionJob",
        {"jobName": "del", "datasetGroupArn": group, "dataSource": {"dataLocation": "s3://b/u"}, "roleArn": role},
    )["dataDeletionJobArn"]
    plane.report({"resourceArn": deletion, "status": "COMPLETED"})
    plane.call("DeleteDataset", {"datasetArn": interactions})
    plane.call("DeleteDatasetGroup", {"datasetGroupArn": group})
    changes = plane.advance()
    deleted = {c.arn for c in changes if isinstance(c, Delete)}
    assert deleted == {group, interactions, job, deletion}
    assert len(plane.store) == 1  # only the schema remains


def test_delete_group_blocked_by_running_data_deletion(plane: InMemoryControlPlane, group: str) -> None:
    plane.call(
        "CreateDataDeletionJob",
        {
            "jobName": "del",
            "datasetGroupArn": group,
            "dataSource": {"dataLocation": "s3://b/u"},
            "roleArn": "arn:aws:iam::123456789012:role/R",
        },
    )
    with pytest.raises(Exception, match="data deletion job in progress"):
        plane.call("DeleteDatasetGroup", {"datasetGroupArn": group})


@pytest.mark.parametrize(
    "update",
    [
        None,
        "ACTIVE",
        {},
        {"resourceArn": 5, "status": "ACTIVE"},
        {"resourceArn": "arn:aws:personalize:us-west-2:123456789012:solution/none/1", "status": "ACTIVE"},
        {"status": "ACTIVE"},
    ],
)
def test_malformed_status_reports_are_ignored(plane: InMemoryControlPlane, update: Any) -> None:
    assert apply_job_status(plane.store, update, CTX) == ()


def test_illegal_transitions_are_ignored(plane: InMemoryControlPlane, solution: str, group: str) -> None:
    arn = plane.call("CreateSolutionVersion", {"solutionArn": solution})["solutionVersionArn"]
    assert plane.report({"resourceArn": arn, "status": "INACTIVE"}) == ()
    assert plane.report({"resourceArn": arn, "status": "CREATE STOPPED"}) == ()
    plane.report({"resourceArn": arn, "status": "ACTIVE"})
    assert plane.report({"resourceArn": arn, "status": "CREATE FAILED"}) == ()  # terminal
    assert plane.body(arn)["status"] == "ACTIVE"
    # Control owns dataset groups' lifecycle: workers can't move them.
    assert plane.report({"resourceArn": group, "status": "CREATE FAILED"}) == ()


def test_worker_fields_are_checked(plane: InMemoryControlPlane, solution: str) -> None:
    arn = plane.call("CreateSolutionVersion", {"solutionArn": solution})["solutionVersionArn"]
    plane.report(
        {
            "resourceArn": arn,
            "status": "ACTIVE",
            "fields": {
                "trainingHours": -1,
                "metrics": {"coverage": "high"},
                "status": "HACKED",
                "solutionArn": "x",
                "tunedHPOParams": {"algorithmHyperParameters": {"hidden_dimension": "64"}},
                "_modelUri": "file:///models/x.onnx",
                "_updateFromStatus": "ACTIVE",
            },
        }
    )
    body = plane.body(arn)
    assert body["status"] == "ACTIVE" and body["solutionArn"] == solution
    assert "trainingHours" not in body and "metrics" not in body
    assert body["tunedHPOParams"] == {"algorithmHyperParameters": {"hidden_dimension": "64"}}
    assert body["_modelUri"] == "file:///models/x.onnx" and "_updateFromStatus" not in body
    described = plane.call("DescribeSolutionVersion", {"solutionVersionArn": arn})["solutionVersion"]
    assert "_modelUri" not in described


def test_auto_ml_result_is_ignored_on_a_solution_without_auto_ml(plane: InMemoryControlPlane, solution: str) -> None:
    """performAutoML is refused at CreateSolution, so no worker's autoMLResult can land on a solution."""
    version = plane.call("CreateSolutionVersion", {"solutionArn": solution})["solutionVersionArn"]
    best = "arn:aws:personalize:::recipe/aws-hrnn"
    plane.report({"resourceArn": version, "status": "ACTIVE", "fields": {"autoMLResult": {"bestRecipeArn": best}}})
    assert plane.body(version)["status"] == "ACTIVE"
    assert "autoMLResult" not in plane.call("DescribeSolution", {"solutionArn": solution})["solution"]


def test_records_round_trip_through_json(plane: InMemoryControlPlane, campaign: str) -> None:
    record = plane.store.get(campaign)
    assert record is not None
    assert ResourceRecord.from_json(record.to_json()) == record


def test_progress_reports_merge_private_fields_only_while_in_flight(
    plane: InMemoryControlPlane, interactions: str
) -> None:
    arn = plane.call(
        "CreateDatasetImportJob",
        {
            "jobName": "imp",
            "datasetArn": interactions,
            "dataSource": {"dataLocation": "s3://b/x"},
            "roleArn": "arn:aws:iam::123456789012:role/R",
        },
    )["datasetImportJobArn"]
    plane.report({"resourceArn": arn, "status": "CREATE IN_PROGRESS", "fields": {"_progressPercent": 0.0}})
    plane.report({"resourceArn": arn, "status": "CREATE IN_PROGRESS", "fields": {"_progressPercent": 40.0}})
    assert plane.body(arn)["_progressPercent"] == 40.0
    assert plane.report({"resourceArn": arn, "status": "CREATE IN_PROGRESS"}) == ()
    plane.report({"resourceArn": arn, "status": "ACTIVE", "fields": {"_progressPercent": 100.0}})
    assert plane.report({"resourceArn": arn, "status": "ACTIVE", "fields": {"_progressPercent": 1.0}}) == ()
    assert plane.body(arn)["_progressPercent"] == 100.0
    described = plane.call("DescribeDatasetImportJob", {"datasetImportJobArn": arn})["datasetImportJob"]
    assert "_progressPercent" not in described
