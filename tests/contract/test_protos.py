"""Contract tests for the protobuf API (protos/ -> shared/src/tailor, scripts/codegen.sh).

The contract: each gRPC service exposes exactly Amazon Personalize's operations, each message field is
the snake_case of Personalize's member name, and protobuf's JSON mapping (json_format) yields exactly
Personalize's camelCase JSON shapes (except the documented StringList wrapper of string-array maps).
The member tables below are Personalize's (Developer Guide, API reference, "Actions" and "Data Types").
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FileDescriptor, ServiceDescriptor
from google.protobuf.message import Message

from tailor.common.v1 import common_pb2
from tailor.control.v1 import control_pb2, control_pb2_grpc
from tailor.events.v1 import events_pb2, events_pb2_grpc
from tailor.runtime.v1 import runtime_pb2, runtime_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]
CODEGEN = ROOT / "scripts" / "codegen.sh"

# Personalize operation names, per API (API reference, "Actions"): 70 + 5 + 3.
# fmt: off
CONTROL_OPERATIONS = (
    "CreateBatchInferenceJob", "CreateBatchSegmentJob", "CreateCampaign", "CreateDataDeletionJob",
    "CreateDataset", "CreateDatasetExportJob", "CreateDatasetGroup", "CreateDatasetImportJob",
    "CreateEventTracker", "CreateFilter", "CreateMetricAttribution", "CreateRecommender", "CreateSchema",
    "CreateSolution", "CreateSolutionVersion", "DeleteCampaign", "DeleteDataset", "DeleteDatasetGroup",
    "DeleteEventTracker", "DeleteFilter", "DeleteMetricAttribution", "DeleteRecommender", "DeleteSchema",
    "DeleteSolution", "DescribeAlgorithm", "DescribeBatchInferenceJob", "DescribeBatchSegmentJob",
    "DescribeCampaign", "DescribeDataDeletionJob", "DescribeDataset", "DescribeDatasetExportJob",
    "DescribeDatasetGroup", "DescribeDatasetImportJob", "DescribeEventTracker",
    "DescribeFeatureTransformation", "DescribeFilter", "DescribeMetricAttribution", "DescribeRecipe",
    "DescribeRecommender", "DescribeSchema", "DescribeSolution", "DescribeSolutionVersion",
    "GetSolutionMetrics", "ListBatchInferenceJobs", "ListBatchSegmentJobs", "ListCampaigns",
    "ListDataDeletionJobs", "ListDatasetExportJobs", "ListDatasetGroups", "ListDatasetImportJobs",
    "ListDatasets", "ListEventTrackers", "ListFilters", "ListMetricAttributionMetrics",
    "ListMetricAttributions", "ListRecipes", "ListRecommenders", "ListSchemas", "ListSolutionVersions",
    "ListSolutions", "ListTagsForResource", "StartRecommender", "StopRecommender",
    "StopSolutionVersionCreation", "TagResource", "UntagResource", "UpdateCampaign", "UpdateDataset",
    "UpdateMetricAttribution", "UpdateRecommender",
)
EVENTS_OPERATIONS = (
    "PutActionInteractions", "PutActions", "PutEvents", "PutItems", "PutUsers",
)
RUNTIME_OPERATIONS = (
    "GetActionRecommendations", "GetPersonalizedRanking", "GetRecommendations",
)
# fmt: on

OPERATION_MEMBERS: dict[str, tuple[str, str]] = {
    # PersonalizeControl
    "CreateDatasetGroup": ("domain kmsKeyArn name roleArn tags", "datasetGroupArn domain"),
    "DeleteDatasetGroup": ("datasetGroupArn", ""),
    "DescribeDatasetGroup": ("datasetGroupArn", "datasetGroup"),
    "ListDatasetGroups": ("maxResults nextToken", "datasetGroups nextToken"),
    "CreateSchema": ("domain name schema", "schemaArn"),
    "DeleteSchema": ("schemaArn", ""),
    "DescribeSchema": ("schemaArn", "schema"),
    "ListSchemas": ("maxResults nextToken", "nextToken schemas"),
    "CreateDataset": ("datasetGroupArn datasetType name schemaArn tags", "datasetArn"),
    "DeleteDataset": ("datasetArn", ""),
    "DescribeDataset": ("datasetArn", "dataset"),
    "ListDatasets": ("datasetGroupArn maxResults nextToken", "datasets nextToken"),
    "UpdateDataset": ("datasetArn schemaArn", "datasetArn"),
    "CreateDatasetImportJob": (
        "dataSource datasetArn importMode jobName publishAttributionMetricsToS3 roleArn tags",
        "datasetImportJobArn",
    ),
    "DescribeDatasetImportJob": ("datasetImportJobArn", "datasetImportJob"),
    "ListDatasetImportJobs": ("datasetArn maxResults nextToken", "datasetImportJobs nextToken"),
    "CreateDatasetExportJob": (
        "datasetArn ingestionMode jobName jobOutput roleArn tags",
        "datasetExportJobArn",
    ),
    "DescribeDatasetExportJob": ("datasetExportJobArn", "datasetExportJob"),
    "ListDatasetExportJobs": ("datasetArn maxResults nextToken", "datasetExportJobs nextToken"),
    "CreateDataDeletionJob": ("dataSource datasetGroupArn jobName roleArn tags", "dataDeletionJobArn"),
    "DescribeDataDeletionJob": ("dataDeletionJobArn", "dataDeletionJob"),
    "ListDataDeletionJobs": ("datasetGroupArn maxResults nextToken", "dataDeletionJobs nextToken"),
    "CreateEventTracker": ("datasetGroupArn name tags", "eventTrackerArn trackingId"),
    "DeleteEventTracker": ("eventTrackerArn", ""),
    "DescribeEventTracker": ("eventTrackerArn", "eventTracker"),
    "ListEventTrackers": ("datasetGroupArn maxResults nextToken", "eventTrackers nextToken"),
    "CreateFilter": ("datasetGroupArn filterExpression name tags", "filterArn"),
    "DeleteFilter": ("filterArn", ""),
    "DescribeFilter": ("filterArn", "filter"),
    "ListFilters": ("datasetGroupArn maxResults nextToken", "Filters nextToken"),
    "CreateMetricAttribution": ("datasetGroupArn metrics metricsOutputConfig name", "metricAttributionArn"),
    "DeleteMetricAttribution": ("metricAttributionArn", ""),
    "DescribeMetricAttribution": ("metricAttributionArn", "metricAttribution"),
    "ListMetricAttributions": ("datasetGroupArn maxResults nextToken", "metricAttributions nextToken"),
    "ListMetricAttributionMetrics": ("maxResults metricAttributionArn nextToken", "metrics nextToken"),
    "UpdateMetricAttribution": (
        "addMetrics metricAttributionArn metricsOutputConfig removeMetrics",
        "metricAttributionArn",
    ),
    "CreateSolution": (
        "datasetGroupArn eventType name performAutoML performAutoTraining performHPO recipeArn solutionConfig tags",
        "solutionArn",
    ),
    "DeleteSolution": ("solutionArn", ""),
    "DescribeSolution": ("solutionArn", "solution"),
    "ListSolutions": ("datasetGroupArn maxResults nextToken", "nextToken solutions"),
    "CreateSolutionVersion": ("name solutionArn tags trainingMode", "solutionVersionArn"),
    "DescribeSolutionVersion": ("solutionVersionArn", "solutionVersion"),
    "ListSolutionVersions": ("maxResults nextToken solutionArn", "nextToken solutionVersions"),
    "GetSolutionMetrics": ("solutionVersionArn", "metrics solutionVersionArn"),
    "StopSolutionVersionCreation": ("solutionVersionArn", ""),
    "CreateCampaign": ("campaignConfig minProvisionedTPS name solutionVersionArn tags", "campaignArn"),
    "DeleteCampaign": ("campaignArn", ""),
    "DescribeCampaign": ("campaignArn", "campaign"),
    "ListCampaigns": ("maxResults nextToken solutionArn", "campaigns nextToken"),
    "UpdateCampaign": ("campaignArn campaignConfig minProvisionedTPS solutionVersionArn", "campaignArn"),
    "CreateRecommender": ("datasetGroupArn name recipeArn recommenderConfig tags", "recommenderArn"),
    "DeleteRecommender": ("recommenderArn", ""),
    "DescribeRecommender": ("recommenderArn", "recommender"),
    "ListRecommenders": ("datasetGroupArn maxResults nextToken", "nextToken recommenders"),
    "StartRecommender": ("recommenderArn", "recommenderArn"),
    "StopRecommender": ("recommenderArn", "recommenderArn"),
    "UpdateRecommender": ("recommenderArn recommenderConfig", "recommenderArn"),
    "CreateBatchInferenceJob": (
        "batchInferenceJobConfig batchInferenceJobMode filterArn jobInput jobName jobOutput numResults"
        " roleArn solutionVersionArn tags themeGenerationConfig",
        "batchInferenceJobArn",
    ),
    "DescribeBatchInferenceJob": ("batchInferenceJobArn", "batchInferenceJob"),
    "ListBatchInferenceJobs": ("maxResults nextToken solutionVersionArn", "batchInferenceJobs nextToken"),
    "CreateBatchSegmentJob": (
        "filterArn jobInput jobName jobOutput numResults roleArn solutionVersionArn tags",
        "batchSegmentJobArn",
    ),
    "DescribeBatchSegmentJob": ("batchSegmentJobArn", "batchSegmentJob"),
    "ListBatchSegmentJobs": ("maxResults nextToken solutionVersionArn", "batchSegmentJobs nextToken"),
    "DescribeRecipe": ("recipeArn", "recipe"),
    "ListRecipes": ("domain maxResults nextToken recipeProvider", "nextToken recipes"),
    "DescribeAlgorithm": ("algorithmArn", "algorithm"),
    "DescribeFeatureTransformation": ("featureTransformationArn", "featureTransformation"),
    "TagResource": ("resourceArn tags", ""),
    "UntagResource": ("resourceArn tagKeys", ""),
    "ListTagsForResource": ("resourceArn", "tags"),
    # PersonalizeEvents
    "PutEvents": ("eventList sessionId trackingId userId", ""),
    "PutItems": ("datasetArn items", ""),
    "PutUsers": ("datasetArn users", ""),
    "PutActions": ("actions datasetArn", ""),
    "PutActionInteractions": ("actionInteractions trackingId", ""),
    # PersonalizeRuntime
    "GetRecommendations": (
        "campaignArn context filterArn filterValues itemId metadataColumns numResults promotions recommenderArn userId",
        "itemList recommendationId",
    ),
    "GetPersonalizedRanking": (
        "campaignArn context filterArn filterValues inputList metadataColumns userId",
        "personalizedRanking recommendationId",
    ),
    "GetActionRecommendations": (
        "campaignArn filterArn filterValues numResults userId",
        "actionList recommendationId",
    ),
}

DATA_TYPE_MEMBERS: dict[str, str] = {
    # control
    "control.Algorithm": (
        "algorithmArn algorithmImage creationDateTime defaultHyperParameterRanges defaultHyperParameters"
        " defaultResourceConfig lastUpdatedDateTime name roleArn trainingInputMode"
    ),
    "control.AlgorithmImage": "dockerURI name",
    "control.AutoMLConfig": "metricName recipeList",
    "control.AutoMLResult": "bestRecipeArn",
    "control.AutoTrainingConfig": "schedulingExpression",
    "control.BatchInferenceJob": (
        "batchInferenceJobArn batchInferenceJobConfig batchInferenceJobMode creationDateTime failureReason"
        " filterArn jobInput jobName jobOutput lastUpdatedDateTime numResults roleArn solutionVersionArn"
        " status themeGenerationConfig"
    ),
    "control.BatchInferenceJobConfig": "itemExplorationConfig",
    "control.BatchInferenceJobInput": "s3DataSource",
    "control.BatchInferenceJobOutput": "s3DataDestination",
    "control.BatchInferenceJobSummary": (
        "batchInferenceJobArn batchInferenceJobMode creationDateTime failureReason jobName"
        " lastUpdatedDateTime solutionVersionArn status"
    ),
    "control.BatchSegmentJob": (
        "batchSegmentJobArn creationDateTime failureReason filterArn jobInput jobName jobOutput"
        " lastUpdatedDateTime numResults roleArn solutionVersionArn status"
    ),
    "control.BatchSegmentJobInput": "s3DataSource",
    "control.BatchSegmentJobOutput": "s3DataDestination",
    "control.BatchSegmentJobSummary": (
        "batchSegmentJobArn creationDateTime failureReason jobName lastUpdatedDateTime solutionVersionArn status"
    ),
    "control.Campaign": (
        "campaignArn campaignConfig creationDateTime failureReason lastUpdatedDateTime latestCampaignUpdate"
        " minProvisionedTPS name solutionVersionArn status"
    ),
    "control.CampaignConfig": ("enableMetadataWithRecommendations itemExplorationConfig syncWithLatestSolutionVersion"),
    "control.CampaignSummary": "campaignArn creationDateTime failureReason lastUpdatedDateTime name status",
    "control.CampaignUpdateSummary": (
        "campaignConfig creationDateTime failureReason lastUpdatedDateTime minProvisionedTPS solutionVersionArn status"
    ),
    "control.CategoricalHyperParameterRange": "name values",
    "control.ContinuousHyperParameterRange": "maxValue minValue name",
    "control.DataDeletionJob": (
        "creationDateTime dataDeletionJobArn dataSource datasetGroupArn failureReason jobName"
        " lastUpdatedDateTime numDeleted roleArn status"
    ),
    "control.DataDeletionJobSummary": (
        "creationDateTime dataDeletionJobArn datasetGroupArn failureReason jobName lastUpdatedDateTime status"
    ),
    "control.DataSource": "dataLocation",
    "control.Dataset": (
        "creationDateTime datasetArn datasetGroupArn datasetType lastUpdatedDateTime latestDatasetUpdate"
        " name schemaArn status trackingId"
    ),
    "control.DatasetExportJob": (
        "creationDateTime datasetArn datasetExportJobArn failureReason ingestionMode jobName jobOutput"
        " lastUpdatedDateTime roleArn status"
    ),
    "control.DatasetExportJobOutput": "s3DataDestination",
    "control.DatasetExportJobSummary": (
        "creationDateTime datasetExportJobArn failureReason jobName lastUpdatedDateTime status"
    ),
    "control.DatasetGroup": (
        "creationDateTime datasetGroupArn domain failureReason kmsKeyArn lastUpdatedDateTime name roleArn status"
    ),
    "control.DatasetGroupSummary": (
        "creationDateTime datasetGroupArn domain failureReason lastUpdatedDateTime name status"
    ),
    "control.DatasetImportJob": (
        "creationDateTime dataSource datasetArn datasetImportJobArn failureReason importMode jobName"
        " lastUpdatedDateTime publishAttributionMetricsToS3 roleArn status"
    ),
    "control.DatasetImportJobSummary": (
        "creationDateTime datasetImportJobArn failureReason importMode jobName lastUpdatedDateTime status"
    ),
    "control.DatasetSchema": "creationDateTime domain lastUpdatedDateTime name schema schemaArn",
    "control.DatasetSchemaSummary": "creationDateTime domain lastUpdatedDateTime name schemaArn",
    "control.DatasetSummary": "creationDateTime datasetArn datasetType lastUpdatedDateTime name status",
    "control.DatasetUpdateSummary": "creationDateTime failureReason lastUpdatedDateTime schemaArn status",
    "control.DefaultCategoricalHyperParameterRange": "isTunable name values",
    "control.DefaultContinuousHyperParameterRange": "isTunable maxValue minValue name",
    "control.DefaultHyperParameterRanges": (
        "categoricalHyperParameterRanges continuousHyperParameterRanges integerHyperParameterRanges"
    ),
    "control.DefaultIntegerHyperParameterRange": "isTunable maxValue minValue name",
    "control.EventTracker": (
        "accountId creationDateTime datasetGroupArn eventTrackerArn lastUpdatedDateTime name status trackingId"
    ),
    "control.EventTrackerSummary": "creationDateTime eventTrackerArn lastUpdatedDateTime name status",
    "control.FeatureTransformation": (
        "creationDateTime defaultParameters featureTransformationArn lastUpdatedDateTime name status"
    ),
    "control.FieldsForThemeGeneration": "itemName",
    "control.Filter": (
        "creationDateTime datasetGroupArn failureReason filterArn filterExpression lastUpdatedDateTime name status"
    ),
    "control.FilterSummary": (
        "creationDateTime datasetGroupArn failureReason filterArn lastUpdatedDateTime name status"
    ),
    "control.HPOConfig": "algorithmHyperParameterRanges hpoObjective hpoResourceConfig",
    "control.HPOObjective": "metricName metricRegex type",
    "control.HPOResourceConfig": "maxNumberOfTrainingJobs maxParallelTrainingJobs",
    "control.HyperParameterRanges": (
        "categoricalHyperParameterRanges continuousHyperParameterRanges integerHyperParameterRanges"
    ),
    "control.IntegerHyperParameterRange": "maxValue minValue name",
    "control.MetricAttribute": "eventType expression metricName",
    "control.MetricAttribution": (
        "creationDateTime datasetGroupArn failureReason lastUpdatedDateTime metricAttributionArn"
        " metricsOutputConfig name status"
    ),
    "control.MetricAttributionOutput": "roleArn s3DataDestination",
    "control.MetricAttributionSummary": (
        "creationDateTime failureReason lastUpdatedDateTime metricAttributionArn name status"
    ),
    "control.OptimizationObjective": "itemAttribute objectiveSensitivity",
    "control.Recipe": (
        "algorithmArn creationDateTime description featureTransformationArn lastUpdatedDateTime name"
        " recipeArn recipeType status"
    ),
    "control.RecipeSummary": "creationDateTime domain lastUpdatedDateTime name recipeArn status",
    "control.Recommender": (
        "creationDateTime datasetGroupArn failureReason lastUpdatedDateTime latestRecommenderUpdate"
        " modelMetrics name recipeArn recommenderArn recommenderConfig status"
    ),
    "control.RecommenderConfig": (
        "enableMetadataWithRecommendations itemExplorationConfig minRecommendationRequestsPerSecond trainingDataConfig"
    ),
    "control.RecommenderSummary": (
        "creationDateTime datasetGroupArn lastUpdatedDateTime name recipeArn recommenderArn recommenderConfig status"
    ),
    "control.RecommenderUpdateSummary": ("creationDateTime failureReason lastUpdatedDateTime recommenderConfig status"),
    "control.S3DataConfig": "kmsKeyArn path",
    "control.Solution": (
        "autoMLResult creationDateTime datasetGroupArn eventType lastUpdatedDateTime latestSolutionVersion"
        " name performAutoML performAutoTraining performHPO recipeArn solutionArn solutionConfig status"
    ),
    "control.SolutionConfig": (
        "algorithmHyperParameters autoMLConfig autoTrainingConfig eventValueThreshold"
        " featureTransformationParameters hpoConfig optimizationObjective trainingDataConfig"
    ),
    "control.SolutionSummary": "creationDateTime lastUpdatedDateTime name recipeArn solutionArn status",
    "control.SolutionVersion": (
        "creationDateTime datasetGroupArn eventType failureReason lastUpdatedDateTime name performAutoML"
        " performHPO recipeArn solutionArn solutionConfig solutionVersionArn status trainingHours"
        " trainingMode trainingType tunedHPOParams"
    ),
    "control.SolutionVersionSummary": (
        "creationDateTime failureReason lastUpdatedDateTime solutionVersionArn status trainingMode trainingType"
    ),
    "control.ThemeGenerationConfig": "fieldsForThemeGeneration",
    "control.TrainingDataConfig": "excludedDatasetColumns",
    "control.TunedHPOParams": "algorithmHyperParameters",
    # events
    "events.Action": "actionId properties",
    "events.ActionInteraction": (
        "actionId eventId eventType impression properties recommendationId sessionId timestamp userId"
    ),
    "events.Event": (
        "eventId eventType eventValue impression itemId metricAttribution properties recommendationId sentAt"
    ),
    "events.Item": "itemId properties",
    "events.MetricAttribution": "eventAttributionSource",
    "events.User": "properties userId",
    # runtime
    "runtime.PredictedAction": "actionId score",
    "runtime.PredictedItem": "itemId metadata promotionName reason score",
    "runtime.Promotion": "filterArn filterValues name percentPromotedItems",
}

# Fields whose Personalize spelling is not the lowerCamel of their snake_case name: they set json_name.
EXPLICIT_JSON_NAMES = {
    ("control.ListFiltersResponse", "filters"): "Filters",
    ("control.CreateCampaignRequest", "min_provisioned_tps"): "minProvisionedTPS",
    ("control.UpdateCampaignRequest", "min_provisioned_tps"): "minProvisionedTPS",
    ("control.Campaign", "min_provisioned_tps"): "minProvisionedTPS",
    ("control.CampaignUpdateSummary", "min_provisioned_tps"): "minProvisionedTPS",
    ("control.CreateSolutionRequest", "perform_auto_ml"): "performAutoML",
    ("control.Solution", "perform_auto_ml"): "performAutoML",
    ("control.SolutionVersion", "perform_auto_ml"): "performAutoML",
    ("control.CreateSolutionRequest", "perform_hpo"): "performHPO",
    ("control.Solution", "perform_hpo"): "performHPO",
    ("control.SolutionVersion", "perform_hpo"): "performHPO",
    ("control.SolutionConfig", "auto_ml_config"): "autoMLConfig",
    ("control.Solution", "auto_ml_result"): "autoMLResult",
    ("control.SolutionVersion", "tuned_hpo_params"): "tunedHPOParams",
    ("control.AlgorithmImage", "docker_uri"): "dockerURI",
}

SERVICES: dict[str, tuple[ServiceDescriptor, tuple[str, ...]]] = {
    "PersonalizeControl": (
        control_pb2.DESCRIPTOR.services_by_name["PersonalizeControl"],
        CONTROL_OPERATIONS,
    ),
    "PersonalizeEvents": (events_pb2.DESCRIPTOR.services_by_name["PersonalizeEvents"], EVENTS_OPERATIONS),
    "PersonalizeRuntime": (runtime_pb2.DESCRIPTOR.services_by_name["PersonalizeRuntime"], RUNTIME_OPERATIONS),
}

FILES: dict[str, FileDescriptor] = {
    "common": common_pb2.DESCRIPTOR,
    "control": control_pb2.DESCRIPTOR,
    "events": events_pb2.DESCRIPTOR,
    "runtime": runtime_pb2.DESCRIPTOR,
}


def members(message: Descriptor) -> list[str]:
    return sorted(field.json_name for field in message.fields)


def all_messages() -> Iterator[tuple[str, Descriptor]]:
    def walk(prefix: str, message: Descriptor) -> Iterator[tuple[str, Descriptor]]:
        yield f"{prefix}.{message.name}", message
        for nested in message.nested_types:
            if not nested.GetOptions().map_entry:
                yield from walk(f"{prefix}.{message.name}", nested)

    for api, file in FILES.items():
        for message in file.message_types_by_name.values():
            yield from walk(api, message)


def lower_camel(snake: str) -> str:
    """protoc's default json_name: drop each '_' and upper-case the next character."""
    return re.sub(r"_(.)", lambda m: m.group(1).upper(), snake)


def round_trip(message: Message, data: dict[str, Any]) -> dict[str, Any]:
    json_format.ParseDict(data, message)
    return json_format.MessageToDict(message)


# ---------------------------------------------------------------------------------------------------------
# Codegen
# ---------------------------------------------------------------------------------------------------------


def run_codegen(*args: str, root: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(root / "scripts" / "codegen.sh"), *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_committed_generated_code_is_fresh() -> None:
    result = run_codegen("--check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "up to date" in result.stdout


def test_codegen_check_detects_stale_output(tmp_path: Path) -> None:
    # A scratch copy of the repository pieces codegen needs, with one proto edited.
    shutil.copytree(ROOT / "protos", tmp_path / "protos")
    shutil.copytree(ROOT / "scripts", tmp_path / "scripts", ignore=shutil.ignore_patterns("kafka"))
    shutil.copytree(
        ROOT / "shared" / "src" / "tailor",
        tmp_path / "shared" / "src" / "tailor",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    venv = ROOT / ".venv"
    if venv.is_dir():
        (tmp_path / ".venv").symlink_to(venv)
    assert run_codegen("--check", root=tmp_path).returncode == 0

    proto = tmp_path / "protos" / "tailor" / "common" / "v1" / "common.proto"
    proto.write_text(proto.read_text() + "\nmessage AddedLater {\n  string x = 1;\n}\n")
    stale = run_codegen("--check", root=tmp_path)
    assert stale.returncode != 0
    assert "STALE" in stale.stderr

    regenerated = run_codegen(root=tmp_path)
    assert regenerated.returncode == 0, regenerated.stderr
    assert run_codegen("--check", root=tmp_path).returncode == 0
    # The hand-written package docstring survives regeneration.
    assert (tmp_path / "shared/src/tailor/__init__.py").read_text() == (
        ROOT / "shared/src/tailor/__init__.py"
    ).read_text()


def test_generated_packages_import_as_tailor_modules() -> None:
    for api in ("common", "control", "events", "runtime"):
        package = ROOT / "shared" / "src" / "tailor" / api
        assert (package / "__init__.py").is_file()
        assert (package / "v1" / "__init__.py").is_file()
        for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi"):
            assert (package / "v1" / f"{api}{suffix}").is_file()
    assert control_pb2.DESCRIPTOR.package == "tailor.control.v1"
    assert events_pb2.DESCRIPTOR.package == "tailor.events.v1"
    assert runtime_pb2.DESCRIPTOR.package == "tailor.runtime.v1"
    assert common_pb2.DESCRIPTOR.package == "tailor.common.v1"


# ---------------------------------------------------------------------------------------------------------
# Services and operations
# ---------------------------------------------------------------------------------------------------------


def test_operation_counts() -> None:
    assert len(set(CONTROL_OPERATIONS)) == 70
    assert len(set(EVENTS_OPERATIONS)) == 5
    assert len(set(RUNTIME_OPERATIONS)) == 3
    assert set(OPERATION_MEMBERS) == {*CONTROL_OPERATIONS, *EVENTS_OPERATIONS, *RUNTIME_OPERATIONS}


@pytest.mark.parametrize("service_name", sorted(SERVICES))
def test_service_exposes_exactly_personalize_operations(service_name: str) -> None:
    service, expected = SERVICES[service_name]
    assert sorted(method.name for method in service.methods) == sorted(expected)
    for method in service.methods:
        assert method.input_type.name == f"{method.name}Request"
        assert method.output_type.name == f"{method.name}Response"
        assert not method.client_streaming
        assert not method.server_streaming


def test_grpc_stubs_and_servicers_have_every_operation() -> None:
    for module, service_name, operations in (
        (control_pb2_grpc, "PersonalizeControl", CONTROL_OPERATIONS),
        (events_pb2_grpc, "PersonalizeEvents", EVENTS_OPERATIONS),
        (runtime_pb2_grpc, "PersonalizeRuntime", RUNTIME_OPERATIONS),
    ):
        servicer = getattr(module, f"{service_name}Servicer")
        assert callable(getattr(module, f"add_{service_name}Servicer_to_server"))
        stub = getattr(module, f"{service_name}Stub")(grpc.insecure_channel("localhost:1"))
        for operation in operations:
            assert callable(getattr(servicer, operation)), operation
            assert callable(getattr(stub, operation)), operation


@pytest.mark.parametrize("operation", sorted(OPERATION_MEMBERS))
def test_operation_request_and_response_members(operation: str) -> None:
    expected_request, expected_response = OPERATION_MEMBERS[operation]
    method = None
    for service, _ in SERVICES.values():
        method = service.methods_by_name.get(operation) or method
    assert method is not None
    assert members(method.input_type) == sorted(expected_request.split())
    assert members(method.output_type) == sorted(expected_response.split())


@pytest.mark.parametrize("qualified", sorted(DATA_TYPE_MEMBERS))
def test_data_type_members(qualified: str) -> None:
    api, name = qualified.split(".")
    message = FILES[api].message_types_by_name[name]
    assert members(message) == sorted(DATA_TYPE_MEMBERS[qualified].split())


def test_every_data_type_is_pinned() -> None:
    declared = {
        qualified
        for qualified, message in all_messages()
        if not qualified.startswith("common.") and not message.name.endswith(("Request", "Response"))
    }
    assert declared == set(DATA_TYPE_MEMBERS)
    assert members(common_pb2.Tag.DESCRIPTOR) == ["tagKey", "tagValue"]


def test_field_names_are_snake_case_of_personalize_names() -> None:
    explicit_seen = set()
    for qualified, message in all_messages():
        for field in message.fields:
            assert re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", field.name), (qualified, field.name)
            key = (qualified, field.name)
            if key in EXPLICIT_JSON_NAMES:
                explicit_seen.add(key)
                assert field.json_name == EXPLICIT_JSON_NAMES[key]
            else:
                assert field.json_name == lower_camel(field.name), key
    assert explicit_seen == set(EXPLICIT_JSON_NAMES)


def test_timestamps_are_double_epoch_seconds() -> None:
    timestamp_fields = {"creation_date_time", "last_updated_date_time", "sent_at", "timestamp"}
    seen = 0
    for qualified, message in all_messages():
        for field in message.fields:
            if field.name in timestamp_fields:
                seen += 1
                assert field.type == field.TYPE_DOUBLE, (qualified, field.name)
    assert seen > 50


def test_tagged_creates_take_repeated_common_tags() -> None:
    tagged = {
        "CreateBatchInferenceJob", "CreateBatchSegmentJob", "CreateCampaign", "CreateDataDeletionJob",
        "CreateDataset", "CreateDatasetExportJob", "CreateDatasetGroup", "CreateDatasetImportJob",
        "CreateEventTracker", "CreateFilter", "CreateRecommender", "CreateSolution", "CreateSolutionVersion",
        "TagResource",
    }  # fmt: skip
    service = control_pb2.DESCRIPTOR.services_by_name["PersonalizeControl"]
    for method in service.methods:
        tags = method.input_type.fields_by_name.get("tags")
        if method.name in tagged:
            assert tags is not None, method.name
            assert tags.message_type is common_pb2.Tag.DESCRIPTOR
            assert tags.is_repeated
        else:
            assert tags is None, method.name


# ---------------------------------------------------------------------------------------------------------
# JSON mapping: Personalize's JSON shapes round-trip through ParseDict / MessageToDict
# ---------------------------------------------------------------------------------------------------------

DG = "arn:aws:personalize:us-west-2:123456789012:dataset-group/MovieRatingDatasetGroup"
SOLUTION = "arn:aws:personalize:us-west-2:123456789012:solution/MovieSolution"
VERSION = f"{SOLUTION}/1a2b3c4d"
CAMPAIGN = "arn:aws:personalize:us-west-2:123456789012:campaign/MovieRecommendationCampaign"
ROLE = "arn:aws:iam::123456789012:role/PersonalizeRole"
KMS = "arn:aws:kms:us-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def test_create_dataset_group_request_json() -> None:
    request = control_pb2.CreateDatasetGroupRequest(name="x", domain="ECOMMERCE")
    assert json_format.MessageToDict(request) == {"name": "x", "domain": "ECOMMERCE"}
    data = {
        "name": "x",
        "kmsKeyArn": KMS,
        "roleArn": ROLE,
        "tags": [{"tagKey": "team", "tagValue": "recs"}, {"tagKey": "empty", "tagValue": ""}],
    }
    parsed = control_pb2.CreateDatasetGroupRequest()
    assert round_trip(parsed, data) == data
    assert parsed.kms_key_arn == KMS
    assert parsed.tags[1].HasField("tag_value")


def test_unknown_json_member_is_rejected() -> None:
    with pytest.raises(json_format.ParseError):
        json_format.ParseDict({"name": "x", "bogus": 1}, control_pb2.CreateDatasetGroupRequest())


def test_create_solution_request_json() -> None:
    data = {
        "name": "MovieSolution",
        "datasetGroupArn": DG,
        "recipeArn": "arn:aws:personalize:::recipe/aws-user-personalization-v2",
        "eventType": "watch",
        "performAutoML": False,
        "performAutoTraining": False,
        "performHPO": True,
        "solutionConfig": {
            "eventValueThreshold": "0.5",
            "algorithmHyperParameters": {"hidden_dimension": "55"},
            "featureTransformationParameters": {"max_hist_length_percentile": "0.99"},
            "autoMLConfig": {
                "metricName": "precision_at_25",
                "recipeList": ["arn:aws:personalize:::recipe/aws-sims"],
            },
            "autoTrainingConfig": {"schedulingExpression": "rate(5 days)"},
            "hpoConfig": {
                "hpoObjective": {
                    "type": "Maximize",
                    "metricName": "precision_at_25",
                    "metricRegex": "p=(.*)",
                },
                "hpoResourceConfig": {"maxNumberOfTrainingJobs": "40", "maxParallelTrainingJobs": "10"},
                "algorithmHyperParameterRanges": {
                    "integerHyperParameterRanges": [{"name": "bptt", "minValue": 0, "maxValue": 40}],
                    "continuousHyperParameterRanges": [{"name": "lr", "minValue": -0.5, "maxValue": 0.0}],
                    "categoricalHyperParameterRanges": [{"name": "recency_mask", "values": ["true", "false"]}],
                },
            },
            "optimizationObjective": {"itemAttribute": "PRICE", "objectiveSensitivity": "MEDIUM"},
            "trainingDataConfig": {"excludedDatasetColumns": {"ITEMS": {"values": ["DESCRIPTION"]}}},
        },
        "tags": [{"tagKey": "k", "tagValue": "v"}],
    }
    request = control_pb2.CreateSolutionRequest()
    assert round_trip(request, data) == data
    # Explicit false survives (performAutoTraining defaults to true in Personalize).
    assert request.HasField("perform_auto_training")
    assert request.perform_auto_training is False
    ranges = request.solution_config.hpo_config.algorithm_hyper_parameter_ranges
    assert ranges.integer_hyper_parameter_ranges[0].HasField("min_value")  # 0 is present, not absent
    assert request.solution_config.training_data_config.excluded_dataset_columns["ITEMS"].values == ["DESCRIPTION"]


def test_describe_solution_version_response_json() -> None:
    data = {
        "solutionVersion": {
            "name": "v1",
            "solutionVersionArn": VERSION,
            "solutionArn": SOLUTION,
            "datasetGroupArn": DG,
            "eventType": "watch",
            "performAutoML": False,
            "performHPO": False,
            "recipeArn": "arn:aws:personalize:::recipe/aws-user-personalization-v2",
            "solutionConfig": {"eventValueThreshold": "3.5"},
            "status": "ACTIVE",
            "trainingHours": 0.0,
            "trainingMode": "FULL",
            "trainingType": "MANUAL",
            "tunedHPOParams": {"algorithmHyperParameters": {"hidden_dimension": "149"}},
            "creationDateTime": 1714521600.123,
            "lastUpdatedDateTime": 1714525200.5,
        }
    }
    response = control_pb2.DescribeSolutionVersionResponse()
    assert round_trip(response, data) == data
    assert response.solution_version.creation_date_time == pytest.approx(1714521600.123)
    assert response.solution_version.tuned_hpo_params.algorithm_hyper_parameters["hidden_dimension"] == "149"


def test_describe_solution_response_json() -> None:
    data = {
        "solution": {
            "name": "MovieSolution",
            "solutionArn": SOLUTION,
            "datasetGroupArn": DG,
            "performAutoML": True,
            "performAutoTraining": True,
            "performHPO": True,
            "autoMLResult": {"bestRecipeArn": "arn:aws:personalize:::recipe/aws-user-personalization"},
            "latestSolutionVersion": {
                "solutionVersionArn": VERSION,
                "status": "CREATE IN_PROGRESS",
                "trainingMode": "AUTOTRAIN",
                "trainingType": "AUTOMATIC",
                "creationDateTime": 1714521600.0,
                "lastUpdatedDateTime": 1714521600.0,
            },
            "status": "ACTIVE",
            "creationDateTime": 1714521000.0,
            "lastUpdatedDateTime": 1714521000.0,
        }
    }
    assert round_trip(control_pb2.DescribeSolutionResponse(), data) == data


def test_campaign_json() -> None:
    data = {
        "campaign": {
            "name": "MovieRecommendationCampaign",
            "campaignArn": CAMPAIGN,
            "solutionVersionArn": f"{SOLUTION}/$LATEST",
            "minProvisionedTPS": 1,
            "campaignConfig": {
                "itemExplorationConfig": {"explorationWeight": "0.3", "explorationItemAgeCutOff": "30"},
                "enableMetadataWithRecommendations": False,
                "syncWithLatestSolutionVersion": True,
            },
            "latestCampaignUpdate": {
                "solutionVersionArn": VERSION,
                "minProvisionedTPS": 5,
                "status": "CREATE PENDING",
                "creationDateTime": 1714521600.0,
                "lastUpdatedDateTime": 1714521600.0,
            },
            "status": "ACTIVE",
            "creationDateTime": 1714521000.0,
            "lastUpdatedDateTime": 1714521600.0,
        }
    }
    response = control_pb2.DescribeCampaignResponse()
    assert round_trip(response, data) == data
    assert response.campaign.min_provisioned_tps == 1
    request = control_pb2.CreateCampaignRequest(name="c", solution_version_arn=VERSION, min_provisioned_tps=2)
    assert json_format.MessageToDict(request) == {
        "name": "c",
        "solutionVersionArn": VERSION,
        "minProvisionedTPS": 2,
    }


def test_list_filters_response_uses_capital_f() -> None:
    data = {
        "Filters": [
            {
                "name": "my-new-filter",
                "filterArn": "arn:aws:personalize:us-west-2:123456789012:filter/my-new-filter",
                "datasetGroupArn": DG,
                "status": "ACTIVE",
                "creationDateTime": 1714521000.0,
                "lastUpdatedDateTime": 1714521000.0,
            }
        ],
        "nextToken": "abc",
    }
    response = control_pb2.ListFiltersResponse()
    assert round_trip(response, data) == data
    assert response.filters[0].name == "my-new-filter"


def test_list_datasets_paging_json() -> None:
    request = control_pb2.ListDatasetsRequest()
    assert round_trip(request, {"datasetGroupArn": DG, "maxResults": 100, "nextToken": "t"}) == {
        "datasetGroupArn": DG,
        "maxResults": 100,
        "nextToken": "t",
    }
    assert not control_pb2.ListDatasetsRequest().HasField("max_results")


def test_job_configs_json() -> None:
    batch = {
        "jobName": "batch-1",
        "solutionVersionArn": VERSION,
        "roleArn": ROLE,
        "numResults": 25,
        "filterArn": "arn:aws:personalize:us-west-2:123456789012:filter/f",
        "jobInput": {"s3DataSource": {"path": "s3://bucket/in.json", "kmsKeyArn": KMS}},
        "jobOutput": {"s3DataDestination": {"path": "s3://bucket/out/"}},
        "batchInferenceJobConfig": {"itemExplorationConfig": {"explorationWeight": "0.3"}},
        "batchInferenceJobMode": "THEME_GENERATION",
        "themeGenerationConfig": {"fieldsForThemeGeneration": {"itemName": "TITLE"}},
    }
    assert round_trip(control_pb2.CreateBatchInferenceJobRequest(), batch) == batch
    imp = {
        "jobName": "import-1",
        "datasetArn": f"{DG.replace('dataset-group', 'dataset')}/INTERACTIONS",
        "dataSource": {"dataLocation": "s3://bucket/interactions.csv"},
        "roleArn": ROLE,
        "importMode": "INCREMENTAL",
        "publishAttributionMetricsToS3": False,
    }
    assert round_trip(control_pb2.CreateDatasetImportJobRequest(), imp) == imp
    deletion = {"dataDeletionJob": {"jobName": "d", "numDeleted": 0, "status": "COMPLETED", "roleArn": ROLE}}
    assert round_trip(control_pb2.DescribeDataDeletionJobResponse(), deletion) == deletion


def test_metric_attribution_and_recommender_json() -> None:
    update = {
        "metricAttributionArn": "arn:aws:personalize:us-west-2:123456789012:metric-attribution/m",
        "addMetrics": [{"eventType": "purchase", "expression": "SUM(Items.PRICE)", "metricName": "revenue"}],
        "removeMetrics": ["clicks"],
        "metricsOutputConfig": {"roleArn": ROLE, "s3DataDestination": {"path": "s3://bucket/metrics/"}},
    }
    assert round_trip(control_pb2.UpdateMetricAttributionRequest(), update) == update
    recommender = {
        "recommender": {
            "name": "top-picks",
            "recommenderArn": "arn:aws:personalize:us-west-2:123456789012:recommender/top-picks",
            "recipeArn": "arn:aws:personalize:::recipe/aws-vod-top-picks",
            "recommenderConfig": {
                "minRecommendationRequestsPerSecond": 1,
                "enableMetadataWithRecommendations": True,
                "trainingDataConfig": {"excludedDatasetColumns": {"USERS": {"values": ["AGE", "GENDER"]}}},
            },
            "modelMetrics": {"coverage": 0.27, "precision_at_5": 0.0},
            "status": "ACTIVE",
        }
    }
    assert round_trip(control_pb2.DescribeRecommenderResponse(), recommender) == recommender
    metrics = {"solutionVersionArn": VERSION, "metrics": {"mean_reciprocal_rank_at_25": 0.1, "coverage": 0.5}}
    assert round_trip(control_pb2.GetSolutionMetricsResponse(), metrics) == metrics


def test_catalogue_json() -> None:
    algorithm = {
        "algorithm": {
            "name": "aws-sims",
            "algorithmArn": "arn:aws:personalize:::algorithm/aws-sims",
            "algorithmImage": {"name": "sims", "dockerURI": "registry.local/sims:1"},
            "defaultHyperParameters": {"min_cointeraction_count": "3"},
            "defaultHyperParameterRanges": {
                "integerHyperParameterRanges": [
                    {"name": "popularity_discount_factor", "minValue": 0, "maxValue": 1000, "isTunable": True}
                ],
                "continuousHyperParameterRanges": [{"name": "x", "minValue": 0.0, "maxValue": 1.0, "isTunable": False}],
                "categoricalHyperParameterRanges": [{"name": "c", "values": ["a"], "isTunable": False}],
            },
            "defaultResourceConfig": {"maxNumberOfTrainingJobs": "20", "maxParallelTrainingJobs": "5"},
            "trainingInputMode": "File",
        }
    }
    assert round_trip(control_pb2.DescribeAlgorithmResponse(), algorithm) == algorithm
    recipes = {"recipes": [{"name": "aws-vod-top-picks", "domain": "VIDEO_ON_DEMAND", "status": "ACTIVE"}]}
    assert round_trip(control_pb2.ListRecipesResponse(), recipes) == recipes


def test_put_events_json() -> None:
    data = {
        "trackingId": "b6f3c1e2-tracking",
        "userId": "user-1",
        "sessionId": "session-1",
        "eventList": [
            {
                "eventId": "e-1",
                "eventType": "click",
                "eventValue": 4.5,
                "itemId": "item-7",
                "sentAt": 1714521600.25,
                "properties": '{"numberOfRatings": "12", "discount": "yes"}',
                "impression": ["item-7", "item-8", "item-9"],
                "recommendationId": "RID-12345678-1234-1234-1234-123456789012",
                "metricAttribution": {"eventAttributionSource": "email campaign"},
            },
            {"eventType": "watch", "itemId": "item-8", "sentAt": 1714521601.0, "eventValue": 0.0},
        ],
    }
    request = events_pb2.PutEventsRequest()
    assert round_trip(request, data) == data
    assert request.event_list[0].properties == '{"numberOfRatings": "12", "discount": "yes"}'
    assert request.event_list[1].HasField("event_value")
    assert not request.event_list[1].HasField("metric_attribution")
    assert json_format.MessageToDict(events_pb2.PutEventsResponse()) == {}


def test_put_items_users_actions_json() -> None:
    dataset = "arn:aws:personalize:us-west-2:123456789012:dataset/MovieRatingDatasetGroup/ITEMS"
    items = {"datasetArn": dataset, "items": [{"itemId": "i1", "properties": '{"genre": "Horror|Action"}'}]}
    assert round_trip(events_pb2.PutItemsRequest(), items) == items
    users = {
        "datasetArn": dataset,
        "users": [{"userId": "u1", "properties": '{"numberOfVideosWatched": "45"}'}],
    }
    assert round_trip(events_pb2.PutUsersRequest(), users) == users
    actions = {"datasetArn": dataset, "actions": [{"actionId": "a1", "properties": '{"value": "100"}'}]}
    assert round_trip(events_pb2.PutActionsRequest(), actions) == actions
    interactions = {
        "trackingId": "t",
        "actionInteractions": [
            {
                "actionId": "a1",
                "userId": "u1",
                "sessionId": "s1",
                "eventType": "Taken",
                "timestamp": 1714521600.0,
                "eventId": "e1",
                "recommendationId": "r1",
                "impression": ["a1", "a2"],
                "properties": '{"channel": "web"}',
            }
        ],
    }
    assert round_trip(events_pb2.PutActionInteractionsRequest(), interactions) == interactions


def test_get_recommendations_json() -> None:
    request_data = {
        "campaignArn": CAMPAIGN,
        "userId": "user-1",
        "numResults": 10,
        "context": {"DEVICE": "mobile"},
        "filterArn": "arn:aws:personalize:us-west-2:123456789012:filter/genre",
        "filterValues": {"GENRES": '"Comedy","Drama"'},
        "promotions": [
            {
                "name": "promo",
                "percentPromotedItems": 20,
                "filterArn": "arn:aws:personalize:us-west-2:123456789012:filter/promoted",
                "filterValues": {"BRAND": '"acme"'},
            }
        ],
        "metadataColumns": {"ITEMS": {"values": ["TITLE", "GENRES"]}},
    }
    request = runtime_pb2.GetRecommendationsRequest()
    assert round_trip(request, request_data) == request_data
    assert list(request.metadata_columns["ITEMS"].values) == ["TITLE", "GENRES"]
    assert request.filter_values["GENRES"] == '"Comedy","Drama"'
    # numResults 0 is legal and distinct from "absent" (default 25).
    assert round_trip(runtime_pb2.GetRecommendationsRequest(), {"numResults": 0}) == {"numResults": 0}
    assert not runtime_pb2.GetRecommendationsRequest().HasField("num_results")

    response_data = {
        "itemList": [
            {
                "itemId": "item-1",
                "score": 0.61,
                "metadata": {"TITLE": "Heat", "GENRES": "Action|Crime"},
                "reason": ["Exploration"],
            },
            {"itemId": "item-2", "score": 0.2, "promotionName": "promo", "reason": ["Promoted item"]},
            {"itemId": "item-3", "reason": ["Popular item"]},
        ],
        "recommendationId": "RID-1",
    }
    response = runtime_pb2.GetRecommendationsResponse()
    assert round_trip(response, response_data) == response_data
    assert not response.item_list[2].HasField("score")


def test_personalized_ranking_and_action_recommendations_json() -> None:
    ranking = {
        "campaignArn": CAMPAIGN,
        "userId": "u",
        "inputList": ["a", "b", "c"],
        "context": {"LOCATION": "home"},
        "metadataColumns": {"ITEMS": {"values": ["PRICE"]}},
    }
    assert round_trip(runtime_pb2.GetPersonalizedRankingRequest(), ranking) == ranking
    ranked = {"personalizedRanking": [{"itemId": "b", "score": 0.9}, {"itemId": "a", "score": 0.0}]}
    assert round_trip(runtime_pb2.GetPersonalizedRankingResponse(), ranked) == ranked
    action_request = {"campaignArn": CAMPAIGN, "userId": "u", "numResults": 5, "filterValues": {"X": "1"}}
    assert round_trip(runtime_pb2.GetActionRecommendationsRequest(), action_request) == action_request
    actions = {"actionList": [{"actionId": "a1", "score": 0.0}], "recommendationId": "r"}
    assert round_trip(runtime_pb2.GetActionRecommendationsResponse(), actions) == actions


# ---------------------------------------------------------------------------------------------------------
# The generated gRPC code works end to end (in process)
# ---------------------------------------------------------------------------------------------------------


class _Runtime(runtime_pb2_grpc.PersonalizeRuntimeServicer):
    def GetRecommendations(
        self, request: runtime_pb2.GetRecommendationsRequest, context: Any
    ) -> runtime_pb2.GetRecommendationsResponse:
        return runtime_pb2.GetRecommendationsResponse(
            item_list=[runtime_pb2.PredictedItem(item_id=f"{request.user_id}-top", score=1.0)],
            recommendation_id="RID-1",
        )

    def GetPersonalizedRanking(
        self, request: runtime_pb2.GetPersonalizedRankingRequest, context: Any
    ) -> runtime_pb2.GetPersonalizedRankingResponse:
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "not in this test")
        raise AssertionError("abort raises")

    def GetActionRecommendations(
        self, request: runtime_pb2.GetActionRecommendationsRequest, context: Any
    ) -> runtime_pb2.GetActionRecommendationsResponse:
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "not in this test")
        raise AssertionError("abort raises")


def test_grpc_round_trip_in_process() -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    runtime_pb2_grpc.add_PersonalizeRuntimeServicer_to_server(_Runtime(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = runtime_pb2_grpc.PersonalizeRuntimeStub(channel)
            response = stub.GetRecommendations(runtime_pb2.GetRecommendationsRequest(user_id="u1"), timeout=10)
            assert [item.item_id for item in response.item_list] == ["u1-top"]
            with pytest.raises(grpc.RpcError) as err:
                stub.GetPersonalizedRanking(runtime_pb2.GetPersonalizedRankingRequest(), timeout=10)
            assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
    finally:
        server.stop(grace=None)


def test_python_can_import_generated_modules_in_a_fresh_interpreter() -> None:
    code = (
        "import tailor.control.v1.control_pb2_grpc, tailor.events.v1.events_pb2_grpc, "
        "tailor.runtime.v1.runtime_pb2_grpc, tailor.common.v1.common_pb2; print('ok')"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "shared" / "src")}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert result.stdout.strip() == "ok", result.stderr
