"""Campaigns and recommenders (api.md §1.12-1.13)."""

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

ACCOUNT_PREFIX = "arn:aws:personalize:us-west-2:123456789012:"
RECIPE = "arn:aws:personalize:::recipe/"


def _version(plane: InMemoryControlPlane, solution: str) -> str:
    arn = str(plane.call("CreateSolutionVersion", {"solutionArn": solution})["solutionVersionArn"])
    plane.report({"resourceArn": arn, "status": "ACTIVE"})
    return arn


# --- Campaign -------------------------------------------------------------------------------------------


def test_create_campaign(plane: InMemoryControlPlane, solution: str, version: str) -> None:
    response = plane.call(
        "CreateCampaign",
        {
            "name": "camp",
            "solutionVersionArn": version,
            "minProvisionedTPS": 2,
            "campaignConfig": {"itemExplorationConfig": {"explorationWeight": "0.5"}},
            "tags": [{"tagKey": "team", "tagValue": "recs"}],
        },
    )
    arn = response["campaignArn"]
    assert arn == ACCOUNT_PREFIX + "campaign/camp"
    job = plane.jobs[-1]
    assert (job.job_type, job.resource_arn, job.payload["solutionArn"]) == ("CAMPAIGN_DEPLOY", arn, solution)
    described = plane.call("DescribeCampaign", {"campaignArn": arn})["campaign"]
    assert described["status"] == "CREATE PENDING" and described["minProvisionedTPS"] == 2
    assert described["campaignConfig"]["itemExplorationConfig"]["explorationWeight"] == "0.5"
    plane.report({"resourceArn": arn, "status": "CREATE IN_PROGRESS"})
    plane.report({"resourceArn": arn, "status": "ACTIVE"})
    assert plane.call("DescribeCampaign", {"campaignArn": arn})["campaign"]["status"] == "ACTIVE"
    listed = plane.call("ListCampaigns", {"solutionArn": solution})["campaigns"]
    assert [c["campaignArn"] for c in listed] == [arn]
    assert plane.call("ListCampaigns", {"solutionArn": ACCOUNT_PREFIX + "solution/other"})["campaigns"] == []


def test_campaign_defaults_and_validation(plane: InMemoryControlPlane, solution: str, version: str) -> None:
    with pytest.raises(InvalidInputException, match="greater than or equal to 1"):
        plane.call("CreateCampaign", {"name": "c", "solutionVersionArn": version, "minProvisionedTPS": 0})
    with pytest.raises(InvalidInputException, match="at 'solutionVersionArn'"):
        plane.call("CreateCampaign", {"name": "c"})
    with pytest.raises(ResourceNotFoundException):
        plane.call("CreateCampaign", {"name": "c", "solutionVersionArn": solution + "/deadbeef"})
    with pytest.raises(InvalidInputException, match="SolutionArn/\\$LATEST"):
        plane.call(
            "CreateCampaign",
            {"name": "c", "solutionVersionArn": version, "campaignConfig": {"syncWithLatestSolutionVersion": True}},
        )
    with pytest.raises(InvalidInputException, match="explorationWeight"):
        plane.call(
            "CreateCampaign",
            {"name": "c", "solutionVersionArn": version, "campaignConfig": {"itemExplorationConfig": {"bogus": "1"}}},
        )
    arn = plane.call("CreateCampaign", {"name": "c", "solutionVersionArn": version})["campaignArn"]
    assert plane.body(arn)["minProvisionedTPS"] == 1
    with pytest.raises(ResourceAlreadyExistsException):
        plane.call("CreateCampaign", {"name": "c", "solutionVersionArn": version})


def test_campaign_needs_active_version(plane: InMemoryControlPlane, solution: str) -> None:
    pending = plane.call("CreateSolutionVersion", {"solutionArn": solution})["solutionVersionArn"]
    with pytest.raises(ResourceInUseException, match="must be ACTIVE"):
        plane.call("CreateCampaign", {"name": "c", "solutionVersionArn": pending})
    with pytest.raises(ResourceInUseException, match="no ACTIVE solution version"):
        plane.call("CreateCampaign", {"name": "c", "solutionVersionArn": solution + "/$LATEST"})


def test_campaign_quota(plane: InMemoryControlPlane, version: str) -> None:
    plane.quotas = Quotas(active_campaigns_per_group=1)
    plane.call("CreateCampaign", {"name": "a", "solutionVersionArn": version})
    with pytest.raises(LimitExceededException, match="active campaigns"):
        plane.call("CreateCampaign", {"name": "b", "solutionVersionArn": version})


def test_update_campaign_keeps_serving_until_active(
    plane: InMemoryControlPlane, solution: str, version: str, campaign: str
) -> None:
    newer = _version(plane, solution)
    assert plane.call("UpdateCampaign", {"campaignArn": campaign, "solutionVersionArn": newer}) == {
        "campaignArn": campaign
    }
    described = plane.call("DescribeCampaign", {"campaignArn": campaign})["campaign"]
    assert described["status"] == "UPDATE PENDING"
    assert described["solutionVersionArn"] == version  # still serving the old version
    assert described["latestCampaignUpdate"]["solutionVersionArn"] == newer
    assert described["latestCampaignUpdate"]["status"] == "CREATE PENDING"
    assert plane.jobs[-1].job_type == "CAMPAIGN_UPDATE"
    with pytest.raises(ResourceInUseException, match="ACTIVE or CREATE FAILED"):
        plane.call("UpdateCampaign", {"campaignArn": campaign, "minProvisionedTPS": 3})
    plane.report({"resourceArn": campaign, "status": "UPDATE IN_PROGRESS"})
    assert plane.body(campaign)["latestCampaignUpdate"]["status"] == "CREATE IN_PROGRESS"
    plane.report({"resourceArn": campaign, "status": "ACTIVE"})
    described = plane.call("DescribeCampaign", {"campaignArn": campaign})["campaign"]
    assert (described["status"], described["solutionVersionArn"]) == ("ACTIVE", newer)
    assert described["latestCampaignUpdate"]["status"] == "ACTIVE"


def test_failed_campaign_update_reverts(plane: InMemoryControlPlane, version: str, campaign: str) -> None:
    plane.call("UpdateCampaign", {"campaignArn": campaign, "minProvisionedTPS": 5})
    plane.report({"resourceArn": campaign, "status": "UPDATE FAILED", "failureReason": "no capacity"})
    described = plane.call("DescribeCampaign", {"campaignArn": campaign})["campaign"]
    assert described["status"] == "ACTIVE" and described["minProvisionedTPS"] == 1
    assert described["latestCampaignUpdate"]["status"] == "CREATE FAILED"
    assert described["latestCampaignUpdate"]["failureReason"] == "no capacity"


def test_update_campaign_rules(plane: InMemoryControlPlane, group: str, version: str, campaign: str) -> None:
    other_solution = plane.call(
        "CreateSolution",
        {
            "name": "other",
            "datasetGroupArn": group,
            "recipeArn": RECIPE + "aws-similar-items",
            "performAutoTraining": False,
        },
    )["solutionArn"]
    plane.advance()
    other_version = _version(plane, other_solution)
    with pytest.raises(InvalidInputException, match="can only deploy versions of solution"):
        plane.call("UpdateCampaign", {"campaignArn": campaign, "solutionVersionArn": other_version})
    with pytest.raises(InvalidInputException, match="SolutionArn/\\$LATEST"):
        plane.call(
            "UpdateCampaign", {"campaignArn": campaign, "campaignConfig": {"syncWithLatestSolutionVersion": True}}
        )


def test_sync_with_latest_solution_version(plane: InMemoryControlPlane, solution: str, version: str) -> None:
    arn = plane.call(
        "CreateCampaign",
        {
            "name": "synced",
            "solutionVersionArn": solution + "/$LATEST",
            "campaignConfig": {"syncWithLatestSolutionVersion": True},
        },
    )["campaignArn"]
    assert plane.body(arn)["solutionVersionArn"] == version  # $LATEST resolved to the deployed version
    plane.report({"resourceArn": arn, "status": "ACTIVE"})
    plane.advance()
    assert plane.body(arn)["status"] == "ACTIVE"  # nothing newer yet
    newer = _version(plane, solution)
    plane.advance()
    body = plane.body(arn)
    assert body["status"] == "UPDATE PENDING"
    assert body["latestCampaignUpdate"]["solutionVersionArn"] == newer
    assert plane.jobs[-1].job_type == "CAMPAIGN_UPDATE"
    plane.report({"resourceArn": arn, "status": "ACTIVE"})
    assert plane.body(arn)["solutionVersionArn"] == newer
    plane.advance()
    assert plane.body(arn)["status"] == "ACTIVE"


def test_campaign_cannot_deploy_segmentation(plane: InMemoryControlPlane, group: str, interactions: str) -> None:
    solution = plane.call(
        "CreateSolution",
        {
            "name": "aff",
            "datasetGroupArn": group,
            "recipeArn": RECIPE + "aws-item-affinity",
            "performAutoTraining": False,
        },
    )["solutionArn"]
    plane.advance()
    version = _version(plane, solution)
    with pytest.raises(InvalidInputException, match="batch segment jobs"):
        plane.call("CreateCampaign", {"name": "c", "solutionVersionArn": version})


def test_delete_campaign(plane: InMemoryControlPlane, version: str) -> None:
    arn = plane.call("CreateCampaign", {"name": "c", "solutionVersionArn": version})["campaignArn"]
    with pytest.raises(ResourceInUseException, match="CREATE PENDING"):
        plane.call("DeleteCampaign", {"campaignArn": arn})
    plane.report({"resourceArn": arn, "status": "CREATE FAILED", "failureReason": "boom"})
    assert plane.call("DescribeCampaign", {"campaignArn": arn})["campaign"]["failureReason"] == "boom"
    plane.call("DeleteCampaign", {"campaignArn": arn})
    assert plane.body(arn)["status"] == "DELETE PENDING"
    plane.advance()
    with pytest.raises(ResourceNotFoundException):
        plane.call("DescribeCampaign", {"campaignArn": arn})


# --- Recommender ----------------------------------------------------------------------------------------


def test_create_recommender(plane: InMemoryControlPlane, domain_group: str) -> None:
    response = plane.call(
        "CreateRecommender",
        {
            "name": "for-you",
            "datasetGroupArn": domain_group,
            "recipeArn": RECIPE + "aws-ecomm-recommended-for-you",
            "recommenderConfig": {"itemExplorationConfig": {"explorationWeight": "0.1"}},
        },
    )
    arn = response["recommenderArn"]
    assert arn == ACCOUNT_PREFIX + "recommender/for-you"
    assert plane.jobs[-1].job_type == "RECOMMENDER_CREATE"
    described = plane.call("DescribeRecommender", {"recommenderArn": arn})["recommender"]
    assert described["recommenderConfig"]["minRecommendationRequestsPerSecond"] == 1
    assert described["status"] == "CREATE PENDING"
    plane.report({"resourceArn": arn, "status": "ACTIVE", "fields": {"modelMetrics": {"coverage": 0.3}}})
    described = plane.call("DescribeRecommender", {"recommenderArn": arn})["recommender"]
    assert described["modelMetrics"] == {"coverage": 0.3}
    summary = plane.call("ListRecommenders", {"datasetGroupArn": domain_group})["recommenders"][0]
    assert summary["recipeArn"] == RECIPE + "aws-ecomm-recommended-for-you" and "modelMetrics" not in summary


def test_recommender_domain_rules(plane: InMemoryControlPlane, group: str, domain_group: str) -> None:
    request = {"name": "r", "datasetGroupArn": group, "recipeArn": RECIPE + "aws-ecomm-recommended-for-you"}
    with pytest.raises(InvalidInputException, match="only in a Domain dataset group"):
        plane.call("CreateRecommender", request)
    with pytest.raises(InvalidInputException, match="is not a ECOMMERCE use case"):
        plane.call(
            "CreateRecommender", {**request, "datasetGroupArn": domain_group, "recipeArn": RECIPE + "aws-vod-top-picks"}
        )
    with pytest.raises(InvalidInputException, match="is not a ECOMMERCE use case"):
        plane.call("CreateRecommender", {**request, "datasetGroupArn": domain_group, "recipeArn": RECIPE + "aws-sims"})
    with pytest.raises(InvalidInputException, match="itemExplorationConfig"):
        plane.call(
            "CreateRecommender",
            {
                "name": "pop",
                "datasetGroupArn": domain_group,
                "recipeArn": RECIPE + "aws-ecomm-popular-items-by-views",
                "recommenderConfig": {"itemExplorationConfig": {"explorationWeight": "0.1"}},
            },
        )
    with pytest.raises(InvalidInputException, match="greater than or equal to 1"):
        plane.call(
            "CreateRecommender",
            {
                **request,
                "datasetGroupArn": domain_group,
                "recommenderConfig": {"minRecommendationRequestsPerSecond": 0},
            },
        )


def test_recommender_quota(plane: InMemoryControlPlane, domain_group: str) -> None:
    plane.quotas = Quotas(recommenders_per_group=1)
    request = {"datasetGroupArn": domain_group, "recipeArn": RECIPE + "aws-ecomm-recommended-for-you"}
    plane.call("CreateRecommender", {"name": "a", **request})
    with pytest.raises(LimitExceededException, match="recommenders"):
        plane.call("CreateRecommender", {"name": "b", **request})


def test_stop_and_start_recommender(plane: InMemoryControlPlane, recommender: str) -> None:
    with pytest.raises(ResourceInUseException, match="INACTIVE"):
        plane.call("StartRecommender", {"recommenderArn": recommender})
    assert plane.call("StopRecommender", {"recommenderArn": recommender}) == {"recommenderArn": recommender}
    assert plane.body(recommender)["status"] == "STOP PENDING"
    assert plane.jobs[-1].job_type == "RECOMMENDER_STOP"
    plane.report({"resourceArn": recommender, "status": "STOP IN_PROGRESS"})
    plane.report({"resourceArn": recommender, "status": "INACTIVE"})
    with pytest.raises(ResourceInUseException, match="ACTIVE"):
        plane.call("StopRecommender", {"recommenderArn": recommender})
    plane.call("StartRecommender", {"recommenderArn": recommender})
    assert plane.body(recommender)["status"] == "START PENDING"
    assert plane.jobs[-1].job_type == "RECOMMENDER_START"
    plane.report({"resourceArn": recommender, "status": "START IN_PROGRESS"})
    plane.report({"resourceArn": recommender, "status": "ACTIVE"})
    assert plane.body(recommender)["status"] == "ACTIVE"


def test_update_recommender(plane: InMemoryControlPlane, recommender: str) -> None:
    config = {"trainingDataConfig": {"excludedDatasetColumns": {"INTERACTIONS": ["EVENT_VALUE"]}}}
    plane.call("UpdateRecommender", {"recommenderArn": recommender, "recommenderConfig": config})
    described = plane.call("DescribeRecommender", {"recommenderArn": recommender})["recommender"]
    assert described["status"] == "UPDATE PENDING"
    assert described["latestRecommenderUpdate"]["status"] == "CREATE PENDING"
    assert "trainingDataConfig" not in described["recommenderConfig"]
    job = plane.jobs[-1]
    assert (job.job_type, job.payload["retrain"]) == ("RECOMMENDER_UPDATE", True)
    plane.report({"resourceArn": recommender, "status": "ACTIVE"})
    described = plane.call("DescribeRecommender", {"recommenderArn": recommender})["recommender"]
    assert described["recommenderConfig"]["trainingDataConfig"] == config["trainingDataConfig"]
    assert described["latestRecommenderUpdate"]["status"] == "ACTIVE"
    with pytest.raises(InvalidInputException, match="at 'recommenderConfig'"):
        plane.call("UpdateRecommender", {"recommenderArn": recommender})


def test_recommenders_retrain_automatically_every_7_days(plane: InMemoryControlPlane, domain_group: str) -> None:
    """ "Amazon Personalize automatically retrains the models backing your recommenders every 7 days" (L8743): the
    recommender stays ACTIVE and serving; the trainer's new model (``_model``) lands only for the retraining
    asked for; a stopped recommender is not retrained."""
    arn = plane.call(
        "CreateRecommender",
        {"name": "r", "datasetGroupArn": domain_group, "recipeArn": RECIPE + "aws-ecomm-recommended-for-you"},
    )["recommenderArn"]
    created = plane.body(arn)["creationDateTime"]
    plane.report(
        {"resourceArn": arn, "status": "CREATE IN_PROGRESS", "fields": {"_model": "gen1", "_modelFor": created}}
    )
    plane.report({"resourceArn": arn, "status": "ACTIVE"})
    week = 7 * 86400
    plane.advance(created + week - 1)
    assert not [j for j in plane.jobs if j.job_type == "RECOMMENDER_RETRAIN"]
    plane.advance(created + week)
    (job,) = [j for j in plane.jobs if j.job_type == "RECOMMENDER_RETRAIN"]
    assert (job.resource_arn, job.payload["_retrainRequestedAt"]) == (arn, created + week)
    described = plane.call("DescribeRecommender", {"recommenderArn": arn})["recommender"]
    assert described["status"] == "ACTIVE" and "_retrainRequestedAt" not in described
    plane.advance(created + week + 60)  # idempotent: asked once
    assert len([j for j in plane.jobs if j.job_type == "RECOMMENDER_RETRAIN"]) == 1
    # A model for another (older) retraining, or a report without a model, changes nothing.
    assert plane.report({"resourceArn": arn, "status": "ACTIVE", "fields": {"_model": "x", "_modelFor": 1.0}}) == ()
    assert plane.report({"resourceArn": arn, "status": "ACTIVE", "fields": {"_progress": {"epoch": 1}}}) == ()
    new_model = {"_model": "gen2", "_modelFor": created + week, "modelMetrics": {"coverage": 0.5}}
    plane.report({"resourceArn": arn, "status": "ACTIVE", "fields": new_model})
    body = plane.body(arn)
    assert (body["status"], body["_model"], body["modelMetrics"]) == ("ACTIVE", "gen2", {"coverage": 0.5})
    # Next one seven days after this one was asked for; none while the recommender is stopped.
    plane.call("StopRecommender", {"recommenderArn": arn}, now=created + week + 120)
    plane.report({"resourceArn": arn, "status": "INACTIVE"})
    plane.advance(created + 3 * week)
    assert len([j for j in plane.jobs if j.job_type == "RECOMMENDER_RETRAIN"]) == 1
    plane.call("StartRecommender", {"recommenderArn": arn})
    plane.report({"resourceArn": arn, "status": "ACTIVE"})
    plane.advance(created + 3 * week + 10)
    assert len([j for j in plane.jobs if j.job_type == "RECOMMENDER_RETRAIN"]) == 2


def test_delete_recommender_when_inactive(plane: InMemoryControlPlane, recommender: str) -> None:
    plane.call("StopRecommender", {"recommenderArn": recommender})
    with pytest.raises(ResourceInUseException):
        plane.call("DeleteRecommender", {"recommenderArn": recommender})
    plane.report({"resourceArn": recommender, "status": "INACTIVE"})
    plane.call("DeleteRecommender", {"recommenderArn": recommender})
    assert "modelMetrics" not in plane.call("DescribeRecommender", {"recommenderArn": recommender})["recommender"]
    plane.advance()
    assert plane.store.get(recommender) is None
