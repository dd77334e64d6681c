"""Batch inference and batch segment jobs (api.md §1.14-1.15)."""

from __future__ import annotations

import pytest

from tailor_control.domain import Quotas
from tailor_shared.errors import (
    InvalidInputException,
    LimitExceededException,
    ResourceAlreadyExistsException,
    ResourceInUseException,
    ResourceNotFoundException,
)
from tests.support.control_plane import InMemoryControlPlane

ROLE = "arn:aws:iam::123456789012:role/PersonalizeRole"
RECIPE = "arn:aws:personalize:::recipe/"
IO = {
    "jobInput": {"s3DataSource": {"path": "s3://b/in.json"}},
    "jobOutput": {
        "s3DataDestination": {"path": "s3://b/out/", "kmsKeyArn": "arn:aws:kms:us-west-2:123456789012:key/k"}
    },
}


def _trained(plane: InMemoryControlPlane, group: str, name: str, recipe: str) -> str:
    solution = plane.call(
        "CreateSolution",
        {"name": name, "datasetGroupArn": group, "recipeArn": RECIPE + recipe, "performAutoTraining": False},
    )["solutionArn"]
    plane.advance()
    version = str(plane.call("CreateSolutionVersion", {"solutionArn": solution})["solutionVersionArn"])
    plane.report({"resourceArn": version, "status": "ACTIVE"})
    return version


def _batch(plane: InMemoryControlPlane, version: str, name: str = "b", **extra: object) -> str:
    request = {"jobName": name, "solutionVersionArn": version, "roleArn": ROLE, **IO, **extra}
    return str(plane.call("CreateBatchInferenceJob", request)["batchInferenceJobArn"])


def test_batch_inference_job_lifecycle(plane: InMemoryControlPlane, version: str) -> None:
    arn = _batch(
        plane, version, numResults=25, batchInferenceJobConfig={"itemExplorationConfig": {"explorationWeight": "0.2"}}
    )
    assert arn == "arn:aws:personalize:us-west-2:123456789012:batch-inference-job/b"
    described = plane.call("DescribeBatchInferenceJob", {"batchInferenceJobArn": arn})["batchInferenceJob"]
    assert described["status"] == "PENDING"
    assert described["batchInferenceJobMode"] == "BATCH_INFERENCE" and described["numResults"] == 25
    assert described["jobOutput"]["s3DataDestination"]["kmsKeyArn"].endswith(":key/k")
    job = plane.jobs[-1]
    assert (job.job_type, job.payload["recipeArn"]) == ("BATCH_INFERENCE", RECIPE + "aws-user-personalization")
    plane.report({"resourceArn": arn, "status": "CREATE IN_PROGRESS"})  # alias of the printed "IN PROGRESS"
    assert plane.body(arn)["status"] == "IN PROGRESS"
    plane.report({"resourceArn": arn, "status": "ACTIVE"})
    summary = plane.call("ListBatchInferenceJobs", {"solutionVersionArn": version})["batchInferenceJobs"][0]
    assert (summary["status"], summary["batchInferenceJobMode"]) == ("ACTIVE", "BATCH_INFERENCE")
    with pytest.raises(ResourceAlreadyExistsException):
        _batch(plane, version)


def test_batch_inference_validation(plane: InMemoryControlPlane, version: str) -> None:
    with pytest.raises(InvalidInputException, match="at 'jobInput'"):
        plane.call("CreateBatchInferenceJob", {"jobName": "b", "solutionVersionArn": version, "roleArn": ROLE})
    with pytest.raises(InvalidInputException, match=r"jobInput\.s3DataSource\.path"):
        _batch(plane, version, jobInput={"s3DataSource": {"path": "b/in.json"}})
    with pytest.raises(InvalidInputException, match="BATCH_INFERENCE, THEME_GENERATION"):
        _batch(plane, version, batchInferenceJobMode="THEMES")
    with pytest.raises(InvalidInputException, match="greater than or equal to 1"):
        _batch(plane, version, numResults=0)
    with pytest.raises(InvalidInputException, match="at 'jobName'"):
        _batch(plane, version, name="bad name")
    with pytest.raises(ResourceNotFoundException):
        _batch(plane, version, filterArn="arn:aws:personalize:us-west-2:123456789012:filter/none")


def test_batch_inference_recipe_rules(plane: InMemoryControlPlane, group: str, interactions: str, version: str) -> None:
    trending = _trained(plane, group, "trend", "aws-trending-now")
    with pytest.raises(InvalidInputException, match="can't get batch recommendations"):
        _batch(plane, trending, name="t")
    with pytest.raises(InvalidInputException, match="Similar-Items"):
        _batch(plane, version, name="theme", batchInferenceJobMode="THEME_GENERATION")
    similar = _trained(plane, group, "similar", "aws-similar-items")
    with pytest.raises(InvalidInputException, match="themeGenerationConfig"):
        _batch(plane, similar, name="theme", batchInferenceJobMode="THEME_GENERATION")
    with pytest.raises(InvalidInputException, match="Content Generator needs a generative model"):
        _batch(
            plane,
            similar,
            name="theme",
            batchInferenceJobMode="THEME_GENERATION",
            themeGenerationConfig={"fieldsForThemeGeneration": {"itemName": "TITLE"}},
        )
    affinity = _trained(plane, group, "aff", "aws-item-affinity")
    with pytest.raises(InvalidInputException, match="CreateBatchSegmentJob"):
        _batch(plane, affinity, name="a")


def test_batch_inference_needs_active_version_and_filter(
    plane: InMemoryControlPlane, group: str, solution: str
) -> None:
    pending = plane.call("CreateSolutionVersion", {"solutionArn": solution})["solutionVersionArn"]
    with pytest.raises(ResourceInUseException, match="must be ACTIVE"):
        _batch(plane, pending)
    plane.report({"resourceArn": pending, "status": "ACTIVE"})
    expression = 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")'
    filter_arn = plane.call("CreateFilter", {"name": "f", "datasetGroupArn": group, "filterExpression": expression})[
        "filterArn"
    ]
    with pytest.raises(ResourceInUseException, match="Filter"):
        _batch(plane, pending, filterArn=filter_arn)
    plane.advance()
    arn = _batch(plane, pending, filterArn=filter_arn)
    assert plane.body(arn)["filterArn"] == filter_arn


def test_pending_batch_inference_quota(plane: InMemoryControlPlane, version: str) -> None:
    plane.quotas = Quotas(pending_batch_inference_jobs=1)
    first = _batch(plane, version, name="a")
    with pytest.raises(LimitExceededException, match="batch inference jobs"):
        _batch(plane, version, name="b")
    plane.report({"resourceArn": first, "status": "CREATE FAILED", "failureReason": "bad input"})
    assert plane.body(first)["failureReason"] == "bad input"
    _batch(plane, version, name="b")


def test_batch_segment_job(plane: InMemoryControlPlane, group: str, interactions: str, version: str) -> None:
    affinity = _trained(plane, group, "aff", "aws-item-affinity")
    request = {"jobName": "seg", "solutionVersionArn": affinity, "roleArn": ROLE, **IO}
    arn = plane.call("CreateBatchSegmentJob", {**request, "numResults": 1000})["batchSegmentJobArn"]
    assert arn.endswith(":batch-segment-job/seg")
    described = plane.call("DescribeBatchSegmentJob", {"batchSegmentJobArn": arn})["batchSegmentJob"]
    assert (described["status"], described["numResults"]) == ("PENDING", 1000)
    assert plane.jobs[-1].job_type == "BATCH_SEGMENT"
    assert (
        plane.call("ListBatchSegmentJobs", {"solutionVersionArn": affinity})["batchSegmentJobs"][0]["jobName"] == "seg"
    )
    with pytest.raises(InvalidInputException, match="less than or equal to 5000000"):
        plane.call("CreateBatchSegmentJob", {**request, "jobName": "big", "numResults": 5_000_001})
    with pytest.raises(InvalidInputException, match="USER_SEGMENTATION"):
        plane.call("CreateBatchSegmentJob", {**request, "jobName": "up", "solutionVersionArn": version})


def test_pending_batch_segment_quota(plane: InMemoryControlPlane, group: str, interactions: str) -> None:
    plane.quotas = Quotas(pending_batch_segment_jobs=1)
    affinity = _trained(plane, group, "aff", "aws-item-affinity")
    request = {"solutionVersionArn": affinity, "roleArn": ROLE, **IO}
    plane.call("CreateBatchSegmentJob", {**request, "jobName": "a"})
    with pytest.raises(LimitExceededException, match="batch segment jobs"):
        plane.call("CreateBatchSegmentJob", {**request, "jobName": "b"})


def test_batch_jobs_take_filters_of_their_subject(
    plane: InMemoryControlPlane, group: str, items: str, version: str
) -> None:
    def make(name: str, expression: str) -> str:
        arn = plane.call("CreateFilter", {"name": name, "datasetGroupArn": group, "filterExpression": expression})
        return str(arn["filterArn"])

    item_filter = make("items", 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")')
    clicked = make("clicked", 'INCLUDE UserID WHERE Interactions.EVENT_TYPE IN ("click")')
    plane.advance()
    with pytest.raises(InvalidInputException, match="batch inference jobs need an ItemID filter"):
        _batch(plane, version, filterArn=clicked)
    affinity = _trained(plane, group, "aff", "aws-item-affinity")
    attribute = _trained(plane, group, "attr", "aws-item-attribute-affinity")
    request = {"solutionVersionArn": affinity, "roleArn": ROLE, **IO}
    with pytest.raises(InvalidInputException, match="batch segment jobs need a UserID filter"):
        plane.call("CreateBatchSegmentJob", {**request, "jobName": "s1", "filterArn": item_filter})
    assert plane.call("CreateBatchSegmentJob", {**request, "jobName": "s2", "filterArn": clicked})
    request["solutionVersionArn"] = attribute
    with pytest.raises(InvalidInputException, match="item interaction filter"):
        plane.call("CreateBatchSegmentJob", {**request, "jobName": "s3", "filterArn": clicked})
    assert plane.call("CreateBatchSegmentJob", {**request, "jobName": "s4"})
