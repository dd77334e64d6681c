"""Every response the domain builds must convert to its protobuf response strictly (no unknown or
mistyped members), and requests that went through ``MessageToDict`` must be understood: this is the
path the servicer takes (``MessageToDict`` -> ``handle`` -> ``ParseDict``)."""

from __future__ import annotations

import json
from typing import Any

from google.protobuf import json_format

from tailor.control.v1 import control_pb2
from tailor_control.domain import OPERATIONS
from tailor_control.domain.shapes import to_proto_json
from tests.support.control_plane import InMemoryControlPlane
from tests.support.schemas import INTERACTIONS, ITEMS

ROLE = "arn:aws:iam::123456789012:role/PersonalizeRole"
RECIPE = "arn:aws:personalize:::recipe/"


class ProtoPlane:
    """Calls the domain the way the servicer does, recording which operations were exercised."""

    def __init__(self) -> None:
        self.plane = InMemoryControlPlane()
        self.seen: set[str] = set()

    def call(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        request_msg = json_format.ParseDict(request, getattr(control_pb2, f"{operation}Request")())
        body = json_format.MessageToDict(request_msg)
        response = self.plane.call(operation, body)
        json_format.ParseDict(to_proto_json(response), getattr(control_pb2, f"{operation}Response")())  # strict
        self.seen.add(operation)
        return response


def test_all_operations_round_trip_through_protobuf() -> None:
    p = ProtoPlane()
    tags = [{"tagKey": "team", "tagValue": ""}]
    group = p.call("CreateDatasetGroup", {"name": "g", "tags": tags})["datasetGroupArn"]
    p.plane.advance()
    p.call("DescribeDatasetGroup", {"datasetGroupArn": group})
    p.call("ListDatasetGroups", {"maxResults": 5})
    schema = p.call("CreateSchema", {"name": "i", "schema": INTERACTIONS})["schemaArn"]
    items_schema = p.call("CreateSchema", {"name": "items", "schema": ITEMS})["schemaArn"]
    p.call("DescribeSchema", {"schemaArn": schema})
    p.call("ListSchemas", {})
    interactions = p.call(
        "CreateDataset",
        {"name": "i", "datasetGroupArn": group, "datasetType": "Interactions", "schemaArn": schema, "tags": tags},
    )["datasetArn"]
    items = p.call(
        "CreateDataset", {"name": "items", "datasetGroupArn": group, "datasetType": "Items", "schemaArn": items_schema}
    )["datasetArn"]
    p.plane.advance()
    p.call("DescribeDataset", {"datasetArn": interactions})
    p.call("ListDatasets", {"datasetGroupArn": group})
    wider = json.loads(ITEMS)
    wider["fields"].append({"name": "COLOR", "type": ["null", "string"], "categorical": True})
    wider_arn = p.call("CreateSchema", {"name": "items2", "schema": json.dumps(wider)})["schemaArn"]
    p.call("UpdateDataset", {"datasetArn": items, "schemaArn": wider_arn})
    p.plane.advance()
    p.call("DescribeDataset", {"datasetArn": items})
    source = {"dataLocation": "s3://b/f.csv"}
    imp = p.call(
        "CreateDatasetImportJob",
        {"jobName": "imp", "datasetArn": interactions, "dataSource": source, "roleArn": ROLE, "importMode": "FULL"},
    )["datasetImportJobArn"]
    p.plane.report({"resourceArn": imp, "status": "ACTIVE"})
    p.call("DescribeDatasetImportJob", {"datasetImportJobArn": imp})
    p.call("ListDatasetImportJobs", {"datasetArn": interactions})
    exp = p.call(
        "CreateDatasetExportJob",
        {
            "jobName": "exp",
            "datasetArn": interactions,
            "roleArn": ROLE,
            "jobOutput": {"s3DataDestination": {"path": "s3://b/o/"}},
        },
    )["datasetExportJobArn"]
    p.call("DescribeDatasetExportJob", {"datasetExportJobArn": exp})
    p.call("ListDatasetExportJobs", {})
    ddj = p.call(
        "CreateDataDeletionJob", {"jobName": "del", "datasetGroupArn": group, "dataSource": source, "roleArn": ROLE}
    )["dataDeletionJobArn"]
    p.plane.report({"resourceArn": ddj, "status": "COMPLETED", "fields": {"numDeleted": 3}})
    p.call("DescribeDataDeletionJob", {"dataDeletionJobArn": ddj})
    p.call("ListDataDeletionJobs", {"datasetGroupArn": group})
    tracker = p.call("CreateEventTracker", {"name": "t", "datasetGroupArn": group})["eventTrackerArn"]
    p.call("DescribeEventTracker", {"eventTrackerArn": tracker})
    p.call("ListEventTrackers", {"datasetGroupArn": group})
    flt = p.call(
        "CreateFilter",
        {"name": "f", "datasetGroupArn": group, "filterExpression": "INCLUDE ItemID WHERE Items.GENRE IN ($G)"},
    )["filterArn"]
    p.plane.advance()
    p.call("DescribeFilter", {"filterArn": flt})
    p.call("ListFilters", {"datasetGroupArn": group})
    ma = p.call(
        "CreateMetricAttribution",
        {
            "name": "ma",
            "datasetGroupArn": group,
            "metrics": [{"eventType": "buy", "expression": "SUM(Items.PRICE)", "metricName": "revenue"}],
            "metricsOutputConfig": {"roleArn": ROLE},
        },
    )["metricAttributionArn"]
    p.plane.advance()
    p.call("DescribeMetricAttribution", {"metricAttributionArn": ma})
    p.call("ListMetricAttributions", {"datasetGroupArn": group})
    p.call(
        "UpdateMetricAttribution",
        {
            "metricAttributionArn": ma,
            "addMetrics": [{"eventType": "click", "expression": "SAMPLECOUNT()", "metricName": "clicks"}],
        },
    )
    p.call("ListMetricAttributionMetrics", {"metricAttributionArn": ma, "maxResults": 1})
    solution = p.call(
        "CreateSolution",
        {
            "name": "s",
            "datasetGroupArn": group,
            "recipeArn": RECIPE + "aws-user-personalization",
            "performAutoTraining": False,
            "solutionConfig": {
                "algorithmHyperParameters": {"hidden_dimension": "64"},
                "trainingDataConfig": {"excludedDatasetColumns": {"ITEMS": {"values": ["COLOR"]}}},
                "hpoConfig": {"hpoResourceConfig": {"maxNumberOfTrainingJobs": "4"}},
            },
            "tags": tags,
        },
    )["solutionArn"]
    p.plane.advance()
    config = p.plane.body(solution)["solutionConfig"]
    assert config["trainingDataConfig"] == {"excludedDatasetColumns": {"ITEMS": ["COLOR"]}}
    p.call("ListSolutions", {"datasetGroupArn": group})
    version = p.call("CreateSolutionVersion", {"solutionArn": solution, "trainingMode": "FULL"})["solutionVersionArn"]
    p.call("DescribeSolution", {"solutionArn": solution})  # with latestSolutionVersion
    p.plane.report(
        {
            "resourceArn": version,
            "status": "ACTIVE",
            "fields": {
                "trainingHours": 0.25,
                "metrics": {"coverage": 0.5, "precision_at_5": 0.2},
                "tunedHPOParams": {"algorithmHyperParameters": {"hidden_dimension": "64"}},
            },
        }
    )
    p.call("DescribeSolutionVersion", {"solutionVersionArn": version})
    p.call("ListSolutionVersions", {"solutionArn": solution})
    assert p.call("GetSolutionMetrics", {"solutionVersionArn": version})["metrics"]["coverage"] == 0.5
    stopped = p.call("CreateSolutionVersion", {"solutionArn": solution})["solutionVersionArn"]
    p.call("StopSolutionVersionCreation", {"solutionVersionArn": stopped})
    campaign = p.call(
        "CreateCampaign",
        {
            "name": "c",
            "solutionVersionArn": version,
            "minProvisionedTPS": 1,
            "campaignConfig": {"enableMetadataWithRecommendations": True, "syncWithLatestSolutionVersion": False},
        },
    )["campaignArn"]
    p.plane.report({"resourceArn": campaign, "status": "ACTIVE"})
    p.call("UpdateCampaign", {"campaignArn": campaign, "minProvisionedTPS": 2})
    p.call("DescribeCampaign", {"campaignArn": campaign})
    p.call("ListCampaigns", {"solutionArn": solution})
    bij = p.call(
        "CreateBatchInferenceJob",
        {
            "jobName": "b",
            "solutionVersionArn": version,
            "roleArn": ROLE,
            "numResults": 10,
            "filterArn": flt,
            "jobInput": {"s3DataSource": {"path": "s3://b/in"}},
            "jobOutput": {"s3DataDestination": {"path": "s3://b/out"}},
            "batchInferenceJobConfig": {"itemExplorationConfig": {"explorationWeight": "0.3"}},
        },
    )["batchInferenceJobArn"]
    p.plane.report({"resourceArn": bij, "status": "ACTIVE"})
    p.call("DescribeBatchInferenceJob", {"batchInferenceJobArn": bij})
    p.call("ListBatchInferenceJobs", {"solutionVersionArn": version})
    affinity = p.call(
        "CreateSolution",
        {
            "name": "aff",
            "datasetGroupArn": group,
            "recipeArn": RECIPE + "aws-item-affinity",
            "performAutoTraining": False,
        },
    )["solutionArn"]
    p.plane.advance()
    aff_version = p.call("CreateSolutionVersion", {"solutionArn": affinity})["solutionVersionArn"]
    p.plane.report({"resourceArn": aff_version, "status": "ACTIVE"})
    bsj = p.call(
        "CreateBatchSegmentJob",
        {
            "jobName": "seg",
            "solutionVersionArn": aff_version,
            "roleArn": ROLE,
            "jobInput": {"s3DataSource": {"path": "s3://b/in"}},
            "jobOutput": {"s3DataDestination": {"path": "s3://b/out"}},
        },
    )["batchSegmentJobArn"]
    p.call("DescribeBatchSegmentJob", {"batchSegmentJobArn": bsj})
    p.call("ListBatchSegmentJobs", {})
    shop = p.call("CreateDatasetGroup", {"name": "shop", "domain": "ECOMMERCE"})["datasetGroupArn"]
    p.plane.advance()
    recommender = p.call(
        "CreateRecommender",
        {
            "name": "r",
            "datasetGroupArn": shop,
            "recipeArn": RECIPE + "aws-ecomm-recommended-for-you",
            "recommenderConfig": {
                "minRecommendationRequestsPerSecond": 2,
                "trainingDataConfig": {"excludedDatasetColumns": {"INTERACTIONS": {"values": ["EVENT_VALUE"]}}},
            },
        },
    )["recommenderArn"]
    p.plane.report({"resourceArn": recommender, "status": "ACTIVE", "fields": {"modelMetrics": {"coverage": 0.1}}})
    p.call("DescribeRecommender", {"recommenderArn": recommender})
    p.call("ListRecommenders", {"datasetGroupArn": shop})
    p.call(
        "UpdateRecommender",
        {"recommenderArn": recommender, "recommenderConfig": {"enableMetadataWithRecommendations": True}},
    )
    p.plane.report({"resourceArn": recommender, "status": "ACTIVE"})
    p.call("StopRecommender", {"recommenderArn": recommender})
    p.plane.report({"resourceArn": recommender, "status": "INACTIVE"})
    p.call("StartRecommender", {"recommenderArn": recommender})
    p.plane.report({"resourceArn": recommender, "status": "ACTIVE"})
    p.call("DeleteRecommender", {"recommenderArn": recommender})
    recipe = p.call("DescribeRecipe", {"recipeArn": RECIPE + "aws-sims"})["recipe"]
    p.call("ListRecipes", {"domain": "VIDEO_ON_DEMAND"})
    p.call("DescribeAlgorithm", {"algorithmArn": recipe["algorithmArn"]})
    p.call("DescribeFeatureTransformation", {"featureTransformationArn": recipe["featureTransformationArn"]})
    p.call("TagResource", {"resourceArn": campaign, "tags": [{"tagKey": "k", "tagValue": "v"}]})
    assert p.call("ListTagsForResource", {"resourceArn": group})["tags"] == [{"tagKey": "team", "tagValue": ""}]
    p.call("UntagResource", {"resourceArn": campaign, "tagKeys": ["k"]})
    p.plane.report({"resourceArn": campaign, "status": "ACTIVE"})
    p.call("DeleteCampaign", {"campaignArn": campaign})
    p.call("DeleteMetricAttribution", {"metricAttributionArn": ma})
    p.call("DeleteFilter", {"filterArn": flt})
    p.call("DeleteEventTracker", {"eventTrackerArn": tracker})
    p.plane.advance()
    p.call("DeleteSolution", {"solutionArn": solution})
    p.call("DeleteDataset", {"datasetArn": items})
    p.plane.advance()
    p.call("DeleteSchema", {"schemaArn": items_schema})
    p.call("DeleteDatasetGroup", {"datasetGroupArn": shop})
    assert p.seen == OPERATIONS
