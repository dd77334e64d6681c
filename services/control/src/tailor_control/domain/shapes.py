"""Response shapes: which body fields each Describe*/List* response carries (Data Types, L29601-35330).

Records may carry extra bookkeeping (e.g. a solution version's ``metrics``, a campaign's pending update);
projecting through these field sets keeps every response exactly Personalize's shape, which the servicer
needs because it converts responses to protobuf with ``json_format.ParseDict``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tailor_control.domain import model as m

_TS = ("creationDateTime", "lastUpdatedDateTime")

DESCRIBE_FIELDS: dict[str, tuple[str, ...]] = {
    m.DATASET_GROUP: (
        "datasetGroupArn", "name", "domain", "kmsKeyArn", "roleArn", "status", "failureReason", *_TS,
    ),
    m.SCHEMA: ("schemaArn", "name", "schema", "domain", *_TS),
    m.DATASET: (
        "datasetArn", "datasetGroupArn", "datasetType", "name", "schemaArn", "status",
        "latestDatasetUpdate", "trackingId", *_TS,
    ),
    m.DATASET_IMPORT_JOB: (
        "datasetImportJobArn", "datasetArn", "dataSource", "importMode", "jobName",
        "publishAttributionMetricsToS3", "roleArn", "status", "failureReason", *_TS,
    ),
    m.DATASET_EXPORT_JOB: (
        "datasetExportJobArn", "datasetArn", "ingestionMode", "jobName", "jobOutput", "roleArn", "status",
        "failureReason", *_TS,
    ),
    m.DATA_DELETION_JOB: (
        "dataDeletionJobArn", "datasetGroupArn", "dataSource", "jobName", "numDeleted", "roleArn", "status",
        "failureReason", *_TS,
    ),
    m.EVENT_TRACKER: (
        "eventTrackerArn", "accountId", "datasetGroupArn", "name", "status", "trackingId", *_TS,
    ),
    m.FILTER: ("filterArn", "datasetGroupArn", "name", "filterExpression", "status", "failureReason", *_TS),
    m.METRIC_ATTRIBUTION: (
        "metricAttributionArn", "datasetGroupArn", "name", "metricsOutputConfig", "status", "failureReason",
        *_TS,
    ),
    m.SOLUTION: (
        "solutionArn", "name", "datasetGroupArn", "eventType", "performAutoML", "performAutoTraining",
        "performHPO", "recipeArn", "solutionConfig", "autoMLResult", "latestSolutionVersion", "status", *_TS,
    ),
    m.SOLUTION_VERSION: (
        "solutionVersionArn", "solutionArn", "name", "datasetGroupArn", "eventType", "performAutoML",
        "performHPO", "recipeArn", "solutionConfig", "status", "failureReason", "trainingHours",
        "trainingMode", "trainingType", "tunedHPOParams", *_TS,
    ),
    m.CAMPAIGN: (
        "campaignArn", "name", "solutionVersionArn", "minProvisionedTPS", "campaignConfig",
        "latestCampaignUpdate", "status", "failureReason", *_TS,
    ),
    m.RECOMMENDER: (
        "recommenderArn", "name", "datasetGroupArn", "recipeArn", "recommenderConfig",
        "latestRecommenderUpdate", "modelMetrics", "status", "failureReason", *_TS,
    ),
    m.BATCH_INFERENCE_JOB: (
        "batchInferenceJobArn", "jobName", "solutionVersionArn", "filterArn", "numResults", "jobInput",
        "jobOutput", "batchInferenceJobConfig", "batchInferenceJobMode", "themeGenerationConfig", "roleArn",
        "status", "failureReason", *_TS,
    ),
    m.BATCH_SEGMENT_JOB: (
        "batchSegmentJobArn", "jobName", "solutionVersionArn", "filterArn", "numResults", "jobInput",
        "jobOutput", "roleArn", "status", "failureReason", *_TS,
    ),
}  # fmt: skip

SUMMARY_FIELDS: dict[str, tuple[str, ...]] = {
    m.DATASET_GROUP: ("datasetGroupArn", "name", "domain", "status", "failureReason", *_TS),
    m.SCHEMA: ("schemaArn", "name", "domain", *_TS),
    m.DATASET: ("datasetArn", "datasetType", "name", "status", *_TS),
    m.DATASET_IMPORT_JOB: ("datasetImportJobArn", "importMode", "jobName", "status", "failureReason", *_TS),
    m.DATASET_EXPORT_JOB: ("datasetExportJobArn", "jobName", "status", "failureReason", *_TS),
    m.DATA_DELETION_JOB: ("dataDeletionJobArn", "datasetGroupArn", "jobName", "status", "failureReason", *_TS),
    m.EVENT_TRACKER: ("eventTrackerArn", "name", "status", *_TS),
    m.FILTER: ("filterArn", "datasetGroupArn", "name", "status", "failureReason", *_TS),
    m.METRIC_ATTRIBUTION: ("metricAttributionArn", "name", "status", "failureReason", *_TS),
    m.SOLUTION: ("solutionArn", "name", "recipeArn", "status", *_TS),
    m.SOLUTION_VERSION: ("solutionVersionArn", "status", "failureReason", "trainingMode", "trainingType", *_TS),
    m.CAMPAIGN: ("campaignArn", "name", "status", "failureReason", *_TS),
    m.RECOMMENDER: (
        "recommenderArn", "name", "datasetGroupArn", "recipeArn", "recommenderConfig", "status", *_TS,
    ),
    m.BATCH_INFERENCE_JOB: (
        "batchInferenceJobArn", "jobName", "batchInferenceJobMode", "solutionVersionArn", "status",
        "failureReason", *_TS,
    ),
    m.BATCH_SEGMENT_JOB: (
        "batchSegmentJobArn", "jobName", "solutionVersionArn", "status", "failureReason", *_TS,
    ),
}  # fmt: skip

#: Describe* response member wrapping the resource (e.g. ``{"datasetGroup": {...}}``).
DESCRIBE_KEY: dict[str, str] = {
    m.DATASET_GROUP: "datasetGroup",
    m.SCHEMA: "schema",
    m.DATASET: "dataset",
    m.DATASET_IMPORT_JOB: "datasetImportJob",
    m.DATASET_EXPORT_JOB: "datasetExportJob",
    m.DATA_DELETION_JOB: "dataDeletionJob",
    m.EVENT_TRACKER: "eventTracker",
    m.FILTER: "filter",
    m.METRIC_ATTRIBUTION: "metricAttribution",
    m.SOLUTION: "solution",
    m.SOLUTION_VERSION: "solutionVersion",
    m.CAMPAIGN: "campaign",
    m.RECOMMENDER: "recommender",
    m.BATCH_INFERENCE_JOB: "batchInferenceJob",
    m.BATCH_SEGMENT_JOB: "batchSegmentJob",
}


def project(body: Mapping[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """Keep only ``fields`` that are present and not null (absent members are omitted, as in AWS JSON)."""
    return {f: body[f] for f in fields if body.get(f) is not None}


def describe(resource_type: str, body: Mapping[str, Any]) -> dict[str, Any]:
    return project(body, DESCRIBE_FIELDS[resource_type])


def summary(resource_type: str, body: Mapping[str, Any]) -> dict[str, Any]:
    return project(body, SUMMARY_FIELDS[resource_type])


def to_proto_json(value: Any) -> Any:
    """A response in the protobuf JSON mapping: Personalize's ``excludedDatasetColumns`` map of lists
    becomes a map of ``StringList`` (``{"ITEMS": {"values": [...]}}``), since protobuf maps can't hold
    repeated values. Everything else is already the same; apply before ``json_format.ParseDict``."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key == "excludedDatasetColumns" and isinstance(item, Mapping):
                out[key] = {k: {"values": list(v)} if isinstance(v, list) else v for k, v in item.items()}
            else:
                out[key] = to_proto_json(item)
        return out
    if isinstance(value, list):
        return [to_proto_json(v) for v in value]
    return value
