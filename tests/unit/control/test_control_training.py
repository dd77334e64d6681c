"""Solutions, solution versions, automatic training (api.md §1.10-1.11)."""

from __future__ import annotations

import pytest

from tailor_control.domain import Quotas
from tailor_shared.errors import (
    InvalidInputException,
    LimitExceededException,
    ResourceInUseException,
    ResourceNotFoundException,
)
from tests.support.control_plane import InMemoryControlPlane

ACCOUNT_PREFIX = "arn:aws:personalize:us-west-2:123456789012:"
RECIPE = "arn:aws:personalize:::recipe/"


def _solution(
    plane: InMemoryControlPlane, group: str, name: str, recipe: str = "aws-user-personalization", **extra: object
) -> str:
    request = {"name": name, "datasetGroupArn": group, "recipeArn": RECIPE + recipe, **extra}
    return str(plane.call("CreateSolution", request)["solutionArn"])


def test_create_solution_defaults(plane: InMemoryControlPlane, group: str, interactions: str) -> None:
    arn = _solution(plane, group, "s1", "aws-user-personalization-v2")
    assert arn == ACCOUNT_PREFIX + "solution/s1"
    described = plane.call("DescribeSolution", {"solutionArn": arn})["solution"]
    assert described["status"] == "CREATE PENDING"
    assert described["performAutoTraining"] is True
    assert described["performAutoML"] is False and described["performHPO"] is False
    assert described["solutionConfig"]["autoTrainingConfig"] == {"schedulingExpression": "rate(7 days)"}
    assert described["solutionConfig"]["algorithmHyperParameters"]["apply_recency_bias"] == "true"
    assert "latestSolutionVersion" not in described
    plane.advance()
    summary = plane.call("ListSolutions", {"datasetGroupArn": group})["solutions"][0]
    assert summary == {
        "solutionArn": arn,
        "name": "s1",
        "recipeArn": RECIPE + "aws-user-personalization-v2",
        "status": "ACTIVE",
        "creationDateTime": summary["creationDateTime"],
        "lastUpdatedDateTime": summary["lastUpdatedDateTime"],
    }


@pytest.mark.parametrize(
    ("extra", "error", "fragment"),
    [
        ({"recipeArn": None}, InvalidInputException, "recipeArn is required when performAutoML is false"),
        ({"performAutoML": True}, InvalidInputException, "you must omit recipeArn"),
        ({"recipeArn": RECIPE + "aws-nope"}, ResourceNotFoundException, "aws-nope"),
        ({"recipeArn": RECIPE + "aws-ecomm-recommended-for-you"}, InvalidInputException, "CreateRecommender"),
        ({"recipeArn": "recipe/x"}, InvalidInputException, "at 'recipeArn'"),
        ({"eventType": "x" * 257}, InvalidInputException, "at 'eventType'"),
        ({"performHPO": "yes"}, InvalidInputException, "at 'performHPO'"),
        (
            {"solutionConfig": {"autoTrainingConfig": {"schedulingExpression": "rate(31 days)"}}},
            InvalidInputException,
            "1 to 30 days",
        ),
        (
            {"solutionConfig": {"autoTrainingConfig": {"schedulingExpression": "every week"}}},
            InvalidInputException,
            "solutionConfig.autoTrainingConfig.schedulingExpression",
        ),
        (
            {"solutionConfig": {"algorithmHyperParameters": {"no_such_param": "1"}}},
            InvalidInputException,
            "no_such_param",
        ),
        (
            {"solutionConfig": {"hpoConfig": {"hpoObjective": {"type": "Maximize"}}}},
            InvalidInputException,
            "hpoObjective",
        ),
        (
            {"solutionConfig": {"hpoConfig": {"hpoResourceConfig": {"maxNumberOfTrainingJobs": "41"}}}},
            InvalidInputException,
            "between 1 and 40",
        ),
        (
            {"solutionConfig": {"optimizationObjective": {"objectiveSensitivity": "EXTREME"}}},
            InvalidInputException,
            "LOW, MEDIUM, HIGH, OFF",
        ),
        (
            {"solutionConfig": {"trainingDataConfig": {"excludedDatasetColumns": {"EVENTS": ["A"]}}}},
            InvalidInputException,
            "dataset type",
        ),
    ],
)
def test_create_solution_validation(
    plane: InMemoryControlPlane,
    group: str,
    interactions: str,
    extra: dict[str, object],
    error: type[Exception],
    fragment: str,
) -> None:
    request: dict[str, object] = {
        "name": "s",
        "datasetGroupArn": group,
        "recipeArn": RECIPE + "aws-user-personalization",
    }
    request.update(extra)
    request = {k: v for k, v in request.items() if v is not None}
    with pytest.raises(error) as err:
        plane.call("CreateSolution", request)
    assert fragment in str(err.value)


def test_recipe_must_support_the_config_member(plane: InMemoryControlPlane, group: str, interactions: str) -> None:
    with pytest.raises(InvalidInputException, match=r"doesn't support solutionConfig\.hpoConfig"):
        _solution(plane, group, "t", "aws-trending-now", solutionConfig={"hpoConfig": {}})


@pytest.mark.parametrize(
    "config",
    [None, {"autoMLConfig": {"recipeList": [RECIPE + "aws-hrnn", RECIPE + "aws-hrnn-metadata"]}}],
)
def test_auto_ml_is_refused_at_create_never_accepted_and_failed_later(
    plane: InMemoryControlPlane, group: str, interactions: str, config: dict[str, object] | None
) -> None:
    """performAutoML only chooses among the HRNN recipes (L6324), which are no longer available (L6106): refused
    at CreateSolution with the guide's reason, so no solution exists whose versions could only fail."""
    request: dict[str, object] = {"name": "auto", "datasetGroupArn": group, "performAutoML": True}
    if config is not None:
        request["solutionConfig"] = config
    with pytest.raises(InvalidInputException) as err:
        plane.call("CreateSolution", request)
    assert "AutoML is only performed using the HRNN recipes" in str(err.value)
    assert "no longer available" in str(err.value)
    assert plane.call("ListSolutions", {"datasetGroupArn": group})["solutions"] == []
    assert plane.jobs == []
    # performAutoML false (the default) with a recipe is the way to create a solution.
    assert plane.call(
        "CreateSolution",
        {"name": "auto", "datasetGroupArn": group, "performAutoML": False, "recipeArn": RECIPE + "aws-sims"},
    )["solutionArn"]


def test_next_best_action_not_in_domain_group(plane: InMemoryControlPlane, domain_group: str) -> None:
    with pytest.raises(InvalidInputException, match="next best action"):
        _solution(plane, domain_group, "nba", "aws-next-best-action")


def test_solution_quota(plane: InMemoryControlPlane, group: str, interactions: str) -> None:
    plane.quotas = Quotas(active_solutions_per_group=1)
    _solution(plane, group, "a")
    with pytest.raises(LimitExceededException, match="active solutions"):
        _solution(plane, group, "b")


def test_solution_version_lifecycle(plane: InMemoryControlPlane, solution: str) -> None:
    with pytest.raises(InvalidInputException, match="AUTOTRAIN"):
        plane.call("CreateSolutionVersion", {"solutionArn": solution, "trainingMode": "AUTOTRAIN"})
    response = plane.call("CreateSolutionVersion", {"solutionArn": solution, "name": "v1"})
    arn = response["solutionVersionArn"]
    assert arn.startswith(solution + "/") and len(arn.rsplit("/", 1)[1]) == 8
    job = plane.jobs[-1]
    assert (job.job_type, job.resource_type, job.payload["trainingMode"]) == (
        "SOLUTION_VERSION",
        "solutionVersion",
        "FULL",
    )
    with pytest.raises(ResourceInUseException, match="already has a solution version in training"):
        plane.call("CreateSolutionVersion", {"solutionArn": solution})
    with pytest.raises(ResourceInUseException, match="must be ACTIVE"):
        plane.call("GetSolutionMetrics", {"solutionVersionArn": arn})
    plane.report({"resourceArn": arn, "status": "CREATE IN_PROGRESS"})
    plane.report(
        {
            "resourceArn": arn,
            "status": "ACTIVE",
            "fields": {"trainingHours": 1.5, "metrics": {"coverage": 0.25, "precision_at_5": 0.1}},
        }
    )
    described = plane.call("DescribeSolutionVersion", {"solutionVersionArn": arn})["solutionVersion"]
    assert described["status"] == "ACTIVE" and described["trainingHours"] == 1.5
    assert described["trainingType"] == "MANUAL" and described["name"] == "v1"
    assert described["recipeArn"] == RECIPE + "aws-user-personalization"
    assert "metrics" not in described
    metrics = plane.call("GetSolutionMetrics", {"solutionVersionArn": arn})
    assert metrics == {"solutionVersionArn": arn, "metrics": {"coverage": 0.25, "precision_at_5": 0.1}}
    latest = plane.call("DescribeSolution", {"solutionArn": solution})["solution"]["latestSolutionVersion"]
    assert latest["solutionVersionArn"] == arn and latest["status"] == "ACTIVE"
    listed = plane.call("ListSolutionVersions", {"solutionArn": solution})["solutionVersions"]
    assert [v["solutionVersionArn"] for v in listed] == [arn]


def test_create_solution_version_needs_active_solution(
    plane: InMemoryControlPlane, group: str, interactions: str
) -> None:
    arn = _solution(plane, group, "pending")
    with pytest.raises(ResourceInUseException, match="must be ACTIVE"):
        plane.call("CreateSolutionVersion", {"solutionArn": arn})
    with pytest.raises(ResourceNotFoundException):
        plane.call("CreateSolutionVersion", {"solutionArn": ACCOUNT_PREFIX + "solution/none"})
    with pytest.raises(ResourceNotFoundException):
        plane.call("ListSolutionVersions", {"solutionArn": ACCOUNT_PREFIX + "solution/none"})


def test_update_training_mode_rules(plane: InMemoryControlPlane, group: str, interactions: str, solution: str) -> None:
    with pytest.raises(
        InvalidInputException, match="active solution version created from the input solution using the FULL"
    ):
        plane.call("CreateSolutionVersion", {"solutionArn": solution, "trainingMode": "UPDATE"})
    full = plane.call("CreateSolutionVersion", {"solutionArn": solution})["solutionVersionArn"]
    plane.report({"resourceArn": full, "status": "ACTIVE"})
    update = plane.call("CreateSolutionVersion", {"solutionArn": solution, "trainingMode": "UPDATE"})
    assert plane.body(update["solutionVersionArn"])["trainingMode"] == "UPDATE"
    other = _solution(plane, group, "sims", "aws-sims", performAutoTraining=False)
    plane.advance()
    with pytest.raises(InvalidInputException, match="User-Personalization or HRNN-Coldstart"):
        plane.call("CreateSolutionVersion", {"solutionArn": other, "trainingMode": "UPDATE"})


def test_pending_solution_version_quota(
    plane: InMemoryControlPlane, group: str, interactions: str, solution: str
) -> None:
    plane.quotas = Quotas(pending_solution_versions=1)
    other = _solution(plane, group, "other", performAutoTraining=False)
    plane.advance()
    plane.call("CreateSolutionVersion", {"solutionArn": solution})
    with pytest.raises(LimitExceededException, match="solution versions"):
        plane.call("CreateSolutionVersion", {"solutionArn": other})


def test_stop_solution_version(plane: InMemoryControlPlane, solution: str) -> None:
    pending = plane.call("CreateSolutionVersion", {"solutionArn": solution})["solutionVersionArn"]
    plane.call("StopSolutionVersionCreation", {"solutionVersionArn": pending})
    assert plane.body(pending)["status"] == "CREATE STOPPED"
    assert plane.jobs[-1].job_type == "SOLUTION_VERSION_STOP"
    plane.report({"resourceArn": pending, "status": "ACTIVE"})  # a late report is ignored
    assert plane.body(pending)["status"] == "CREATE STOPPED"
    running = plane.call("CreateSolutionVersion", {"solutionArn": solution})["solutionVersionArn"]
    plane.report({"resourceArn": running, "status": "CREATE IN_PROGRESS"})
    plane.call("StopSolutionVersionCreation", {"solutionVersionArn": running})
    assert plane.body(running)["status"] == "CREATE STOPPING"
    plane.report({"resourceArn": running, "status": "CREATE STOPPED"})
    assert plane.body(running)["status"] == "CREATE STOPPED"
    with pytest.raises(ResourceInUseException, match="can be stopped"):
        plane.call("StopSolutionVersionCreation", {"solutionVersionArn": running})


def test_failed_training_records_reason(plane: InMemoryControlPlane, solution: str) -> None:
    arn = plane.call("CreateSolutionVersion", {"solutionArn": solution})["solutionVersionArn"]
    plane.report({"resourceArn": arn, "status": "CREATE FAILED", "failureReason": "Not enough interactions"})
    described = plane.call("DescribeSolutionVersion", {"solutionVersionArn": arn})["solutionVersion"]
    assert (described["status"], described["failureReason"]) == ("CREATE FAILED", "Not enough interactions")


def test_automatic_training_starts_an_hour_after_active(
    plane: InMemoryControlPlane, group: str, interactions: str
) -> None:
    arn = _solution(plane, group, "auto", "aws-user-personalization-v2", solutionConfig={
        "autoTrainingConfig": {"schedulingExpression": "rate(2 days)"}
    })  # fmt: skip
    active_at = plane.now + 1
    plane.advance(active_at)
    plane.advance(active_at + 3599)
    assert plane.store.list("solutionVersion", arn) == []
    plane.advance(active_at + 3600)
    versions = plane.store.list("solutionVersion", arn)
    assert len(versions) == 1
    assert (versions[0].body["trainingMode"], versions[0].body["trainingType"]) == ("AUTOTRAIN", "AUTOMATIC")
    assert plane.jobs[-1].job_type == "SOLUTION_VERSION"
    plane.advance(active_at + 3601)  # idempotent: nothing new while it trains
    assert len(plane.store.list("solutionVersion", arn)) == 1
    plane.report({"resourceArn": versions[0].arn, "status": "ACTIVE"}, now=active_at + 7200)
    plane.advance(active_at + 3600 + 2 * 86400 - 1)
    assert len(plane.store.list("solutionVersion", arn)) == 1
    plane.advance(active_at + 3600 + 2 * 86400)
    assert len(plane.store.list("solutionVersion", arn)) == 2


def test_manual_version_within_the_hour_skips_first_auto_training(
    plane: InMemoryControlPlane, group: str, interactions: str
) -> None:
    arn = _solution(plane, group, "auto", "aws-user-personalization-v2")
    active_at = plane.now + 1
    plane.advance(active_at)
    manual = plane.call("CreateSolutionVersion", {"solutionArn": arn}, now=active_at + 60)["solutionVersionArn"]
    plane.report({"resourceArn": manual, "status": "ACTIVE"}, now=active_at + 120)
    plane.advance(active_at + 3600)
    assert len(plane.store.list("solutionVersion", arn)) == 1
    plane.advance(active_at + 3600 + 7 * 86400)
    assert len(plane.store.list("solutionVersion", arn)) == 2


def test_automatic_training_skipped_for_want_of_new_data_keeps_the_schedule(
    plane: InMemoryControlPlane, group: str, interactions: str
) -> None:
    """ "Automatic training occurs only if you imported ... interaction data since the last training" (L10003):
    the trainer answers SKIPPED; the version goes away as if never created and the next run is due a full
    interval after the skipped one (not at once, not from the last real training)."""
    arn = _solution(plane, group, "auto", "aws-user-personalization-v2", solutionConfig={
        "autoTrainingConfig": {"schedulingExpression": "rate(2 days)"}
    })  # fmt: skip
    active_at = plane.now + 1
    plane.advance(active_at)
    plane.advance(active_at + 3600)
    (first,) = plane.store.list("solutionVersion", arn)
    plane.report({"resourceArn": first.arn, "status": "ACTIVE"}, now=active_at + 7200)
    second_due = active_at + 3600 + 2 * 86400
    plane.advance(second_due)
    (second,) = [v for v in plane.store.list("solutionVersion", arn) if v.arn != first.arn]
    assert second.body["trainingMode"] == "AUTOTRAIN"
    plane.report({"resourceArn": second.arn, "status": "SKIPPED"}, now=second_due + 5)
    assert plane.store.get(second.arn) is None
    listed = plane.call("ListSolutionVersions", {"solutionArn": arn})["solutionVersions"]
    assert [v["solutionVersionArn"] for v in listed] == [first.arn]
    described = plane.call("DescribeSolution", {"solutionArn": arn})["solution"]
    assert described["latestSolutionVersion"]["solutionVersionArn"] == first.arn
    assert "_lastAutoTraining" not in described
    plane.advance(second_due + 10)
    plane.advance(second_due + 2 * 86400 - 1)
    assert [v.arn for v in plane.store.list("solutionVersion", arn)] == [first.arn]
    plane.advance(second_due + 2 * 86400)
    assert len(plane.store.list("solutionVersion", arn)) == 2


def test_only_a_waiting_automatic_version_can_be_skipped(plane: InMemoryControlPlane, solution: str) -> None:
    manual = plane.call("CreateSolutionVersion", {"solutionArn": solution})["solutionVersionArn"]
    assert plane.report({"resourceArn": manual, "status": "SKIPPED"}) == ()
    assert plane.body(manual)["status"] == "CREATE PENDING"
    plane.report({"resourceArn": manual, "status": "ACTIVE"})
    assert plane.report({"resourceArn": manual, "status": "SKIPPED"}) == ()
    assert plane.body(manual)["status"] == "ACTIVE"
    assert "_lastAutoTraining" not in plane.body(solution)


def test_no_automatic_training_when_turned_off(plane: InMemoryControlPlane, solution: str) -> None:
    plane.advance(plane.now + 30 * 86400)
    assert plane.store.list("solutionVersion", solution) == []


def test_delete_solution_rules_and_cascade(plane: InMemoryControlPlane, solution: str) -> None:
    version = plane.call("CreateSolutionVersion", {"solutionArn": solution})["solutionVersionArn"]
    with pytest.raises(ResourceInUseException, match="still training"):
        plane.call("DeleteSolution", {"solutionArn": solution})
    plane.report({"resourceArn": version, "status": "ACTIVE"})
    campaign = plane.call("CreateCampaign", {"name": "c", "solutionVersionArn": version})["campaignArn"]
    with pytest.raises(ResourceInUseException, match="deployed by campaign"):
        plane.call("DeleteSolution", {"solutionArn": solution})
    plane.report({"resourceArn": campaign, "status": "ACTIVE"})
    plane.call("DeleteCampaign", {"campaignArn": campaign})
    plane.call("DeleteSolution", {"solutionArn": solution})
    plane.advance()
    assert plane.store.get(solution) is None and plane.store.get(version) is None
    assert plane.store.get(campaign) is None
