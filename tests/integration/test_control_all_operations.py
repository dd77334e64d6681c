"""Every control operation's happy path over gRPC against the real Kafka broker.

The test plays the workers (importer, exporter, trainer, runtime, batch runners): it reads the job records
control dispatches on ``<prefix>.jobs`` and answers with status reports on ``<prefix>.job-status``, the
same topics and record formats the real workers use. A final check compares the operations called with
the service's proto, so an operation added later without a happy path here fails the test.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer

from tailor.control.v1 import control_pb2
from tailor_shared.errors import ResourceNotFoundException
from tailor_shared.jobs import JobRecord, StatusUpdate, job_status_topic, jobs_topic
from tailor_shared.schemas import avro_record
from tailor_tools import localstack
from tailor_tools.client import Client
from tests.conftest import RunningService, wait_gone
from tests.support.schemas import INTERACTIONS, ITEMS, ITEMS_FIELDS

pytestmark = pytest.mark.integration

RECIPE = "arn:aws:personalize:::recipe/"
ROLE = "arn:aws:iam::000000000000:role/PersonalizeRole"
S3_OUT = {"s3DataDestination": {"path": "s3://bucket/out/"}}
BATCH_IO = {"jobInput": {"s3DataSource": {"path": "s3://bucket/in.json"}}, "jobOutput": S3_OUT}


BRAND: dict[str, Any] = {"name": "BRAND", "type": ["null", "string"], "categorical": True}
ITEMS_V2 = json.dumps(avro_record("Items", *ITEMS_FIELDS, BRAND))


class RecordingClient:
    """The gRPC client, remembering which operations were called."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self.called: set[str] = set()

    def call(self, operation: str, **request: Any) -> dict[str, Any]:
        self.called.add(operation)
        return self._client.call(operation, **request)

    def wait(self, operation: str, key: str, *statuses: str, **request: Any) -> dict[str, Any]:
        self.called.add(operation)
        return self._client.wait_for(operation, key, statuses or ("ACTIVE",), timeout=60, **request)


class Workers:
    """Stands in for every worker: sees control's job records, reports statuses back, both on Kafka."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        self._status_topic = job_status_topic(prefix)
        self._producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True})
        self._consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": f"{prefix}.test-workers", "auto.offset.reset": "earliest"}
        )
        self._consumer.subscribe([jobs_topic(prefix)])
        self.jobs: list[JobRecord] = []

    def job_for(self, arn: str, job_type: str, timeout: float = 30) -> JobRecord:
        """The job control dispatched for ``arn`` (proof the work went to Kafka, not to a local queue)."""
        deadline = time.monotonic() + timeout
        while True:
            for job in self.jobs:
                if job.resource_arn == arn and job.job_type == job_type:
                    return job
            if time.monotonic() > deadline:
                seen = [(j.job_type, j.resource_arn) for j in self.jobs]
                raise AssertionError(f"no {job_type} job for {arn}; seen {seen}")
            msg = self._consumer.poll(0.2)
            if msg is not None and msg.error() is None:
                self.jobs.append(JobRecord.from_json(msg.value() or b"{}"))

    def report(self, arn: str, *statuses: str, **fields: Any) -> None:
        for status in statuses:
            update = StatusUpdate(arn, status, fields=fields if status == statuses[-1] else {})
            self._producer.produce(self._status_topic, key=arn.encode(), value=update.to_json())
        assert self._producer.flush(30) == 0

    def close(self) -> None:
        self._consumer.close()
        self._producer.flush(10)


@pytest.fixture
def plane(
    spawn_service: Callable[..., RunningService], stack: localstack.StackConfig, topic_prefix: str
) -> Iterator[tuple[RecordingClient, Workers]]:
    svc = spawn_service("control")
    client = Client(svc.address, "control")
    workers = Workers(stack.kafka_bootstrap, topic_prefix)
    yield RecordingClient(client), workers
    workers.close()
    client.close()


def test_every_operation_happy_path(plane: tuple[RecordingClient, Workers]) -> None:
    api, workers = plane

    # --- Recipes, algorithms, feature transformations --------------------------------------------------
    recipes = api.call("ListRecipes", maxResults=100)["recipes"]
    assert RECIPE + "aws-user-personalization-v2" in {r["recipeArn"] for r in recipes}
    recipe = api.call("DescribeRecipe", recipeArn=RECIPE + "aws-sims")["recipe"]
    algorithm = api.call("DescribeAlgorithm", algorithmArn=recipe["algorithmArn"])["algorithm"]
    assert algorithm["algorithmArn"] == recipe["algorithmArn"]
    transformation = api.call(
        "DescribeFeatureTransformation", featureTransformationArn=recipe["featureTransformationArn"]
    )["featureTransformation"]
    assert transformation["featureTransformationArn"] == recipe["featureTransformationArn"]

    # --- Schemas, dataset group, datasets ------------------------------------------------------------------
    schemas = {
        name: api.call("CreateSchema", name=name, schema=body)["schemaArn"]
        for name, body in (("s-interactions", INTERACTIONS), ("s-items", ITEMS), ("s-items-v2", ITEMS_V2))
    }
    assert json.loads(api.call("DescribeSchema", schemaArn=schemas["s-items"])["schema"]["schema"]) == json.loads(ITEMS)
    assert {s["name"] for s in api.call("ListSchemas")["schemas"]} >= set(schemas)

    group = api.call("CreateDatasetGroup", name="shop")["datasetGroupArn"]
    assert api.wait("DescribeDatasetGroup", "datasetGroup", datasetGroupArn=group)["name"] == "shop"
    assert group in {g["datasetGroupArn"] for g in api.call("ListDatasetGroups")["datasetGroups"]}

    interactions = api.call(
        "CreateDataset", name="interactions", datasetGroupArn=group, datasetType="Interactions",
        schemaArn=schemas["s-interactions"],
    )["datasetArn"]  # fmt: skip
    items = api.call(
        "CreateDataset", name="items", datasetGroupArn=group, datasetType="Items", schemaArn=schemas["s-items"]
    )["datasetArn"]
    api.wait("DescribeDataset", "dataset", datasetArn=interactions)
    api.wait("DescribeDataset", "dataset", datasetArn=items)
    listed = api.call("ListDatasets", datasetGroupArn=group)["datasets"]
    assert {d["datasetType"] for d in listed} == {"Interactions", "Items"}
    assert api.call("UpdateDataset", datasetArn=items, schemaArn=schemas["s-items-v2"]) == {"datasetArn": items}
    deadline = time.monotonic() + 30
    while api.call("DescribeDataset", datasetArn=items)["dataset"]["schemaArn"] != schemas["s-items-v2"]:
        assert time.monotonic() < deadline, "the Items dataset never took its new schema"
        time.sleep(0.1)

    # --- Import, export, data deletion jobs (the ingest worker's work) -------------------------------------
    imported = api.call(
        "CreateDatasetImportJob", jobName="imp", datasetArn=interactions, roleArn=ROLE,
        dataSource={"dataLocation": "s3://bucket/interactions.csv"},
    )["datasetImportJobArn"]  # fmt: skip
    assert workers.job_for(imported, "DATASET_IMPORT").payload["importMode"] == "FULL"
    workers.report(imported, "CREATE IN_PROGRESS", "ACTIVE")
    assert api.wait("DescribeDatasetImportJob", "datasetImportJob", datasetImportJobArn=imported)["jobName"] == "imp"
    assert [j["jobName"] for j in api.call("ListDatasetImportJobs", datasetArn=interactions)["datasetImportJobs"]] == [
        "imp"
    ]

    exported = api.call(
        "CreateDatasetExportJob", jobName="exp", datasetArn=interactions, roleArn=ROLE, jobOutput=S3_OUT
    )["datasetExportJobArn"]
    workers.job_for(exported, "DATASET_EXPORT")
    workers.report(exported, "CREATE IN_PROGRESS", "ACTIVE")
    api.wait("DescribeDatasetExportJob", "datasetExportJob", datasetExportJobArn=exported)
    assert len(api.call("ListDatasetExportJobs", datasetArn=interactions)["datasetExportJobs"]) == 1

    deletion = api.call(
        "CreateDataDeletionJob", jobName="forget", datasetGroupArn=group, roleArn=ROLE,
        dataSource={"dataLocation": "s3://bucket/users.csv"},
    )["dataDeletionJobArn"]  # fmt: skip
    workers.job_for(deletion, "DATA_DELETION")
    workers.report(deletion, "IN_PROGRESS", "COMPLETED", numDeleted=3)
    done = api.wait("DescribeDataDeletionJob", "dataDeletionJob", "COMPLETED", dataDeletionJobArn=deletion)
    assert done["numDeleted"] == 3
    assert len(api.call("ListDataDeletionJobs", datasetGroupArn=group)["dataDeletionJobs"]) == 1

    # --- Event tracker, filter, metric attribution ---------------------------------------------------------
    tracker = api.call("CreateEventTracker", name="tracker", datasetGroupArn=group)["eventTrackerArn"]
    assert api.wait("DescribeEventTracker", "eventTracker", eventTrackerArn=tracker)["trackingId"]
    assert len(api.call("ListEventTrackers", datasetGroupArn=group)["eventTrackers"]) == 1

    expression = (
        'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase") | INCLUDE ItemID WHERE Items.GENRE IN ($G)'
    )
    filter_arn = api.call("CreateFilter", name="not-bought", datasetGroupArn=group, filterExpression=expression)[
        "filterArn"
    ]
    assert api.wait("DescribeFilter", "filter", filterArn=filter_arn)["filterExpression"] == expression
    assert [f["name"] for f in api.call("ListFilters", datasetGroupArn=group)["Filters"]] == ["not-bought"]

    metrics = [{"eventType": "click", "expression": "SAMPLECOUNT()", "metricName": "clicks"}]
    attribution = api.call(
        "CreateMetricAttribution", name="attr", datasetGroupArn=group, metrics=metrics,
        metricsOutputConfig={"roleArn": ROLE, **S3_OUT},
    )["metricAttributionArn"]  # fmt: skip
    api.wait("DescribeMetricAttribution", "metricAttribution", metricAttributionArn=attribution)
    assert len(api.call("ListMetricAttributions", datasetGroupArn=group)["metricAttributions"]) == 1
    revenue = {"eventType": "purchase", "expression": "SUM(Items.PRICE)", "metricName": "revenue"}
    api.call("UpdateMetricAttribution", metricAttributionArn=attribution, addMetrics=[revenue])
    api.wait("DescribeMetricAttribution", "metricAttribution", metricAttributionArn=attribution)
    names = [
        mt["metricName"] for mt in api.call("ListMetricAttributionMetrics", metricAttributionArn=attribution)["metrics"]
    ]
    assert sorted(names) == ["clicks", "revenue"]

    # --- Solutions and versions (the trainer's work) -------------------------------------------------------
    solution = api.call(
        "CreateSolution", name="up", datasetGroupArn=group, recipeArn=RECIPE + "aws-user-personalization-v2",
        performAutoTraining=False,
    )["solutionArn"]  # fmt: skip
    api.wait("DescribeSolution", "solution", solutionArn=solution)
    assert [s["name"] for s in api.call("ListSolutions", datasetGroupArn=group)["solutions"]] == ["up"]
    version = api.call("CreateSolutionVersion", solutionArn=solution)["solutionVersionArn"]
    assert workers.job_for(version, "SOLUTION_VERSION").payload["solutionArn"] == solution
    workers.report(version, "CREATE IN_PROGRESS", "ACTIVE", metrics={"coverage": 0.4, "precision_at_5": 0.1})
    assert api.wait("DescribeSolutionVersion", "solutionVersion", solutionVersionArn=version)["trainingMode"] == "FULL"
    assert api.call("GetSolutionMetrics", solutionVersionArn=version)["metrics"] == {
        "coverage": 0.4,
        "precision_at_5": 0.1,
    }
    stopped = api.call("CreateSolutionVersion", solutionArn=solution)["solutionVersionArn"]
    workers.job_for(stopped, "SOLUTION_VERSION")
    workers.report(stopped, "CREATE IN_PROGRESS")
    api.wait("DescribeSolutionVersion", "solutionVersion", "CREATE IN_PROGRESS", solutionVersionArn=stopped)
    api.call("StopSolutionVersionCreation", solutionVersionArn=stopped)
    assert workers.job_for(stopped, "SOLUTION_VERSION_STOP")
    workers.report(stopped, "CREATE STOPPED")
    api.wait("DescribeSolutionVersion", "solutionVersion", "CREATE STOPPED", solutionVersionArn=stopped)
    assert len(api.call("ListSolutionVersions", solutionArn=solution)["solutionVersions"]) == 2

    # --- Campaign (the runtime's work) ---------------------------------------------------------------------
    campaign = api.call("CreateCampaign", name="home", solutionVersionArn=version)["campaignArn"]
    workers.job_for(campaign, "CAMPAIGN_DEPLOY")
    workers.report(campaign, "CREATE IN_PROGRESS", "ACTIVE")
    api.wait("DescribeCampaign", "campaign", campaignArn=campaign)
    assert [c["name"] for c in api.call("ListCampaigns", solutionArn=solution)["campaigns"]] == ["home"]
    api.call("UpdateCampaign", campaignArn=campaign, minProvisionedTPS=2)
    workers.job_for(campaign, "CAMPAIGN_UPDATE")
    workers.report(campaign, "UPDATE IN_PROGRESS", "ACTIVE")
    assert api.wait("DescribeCampaign", "campaign", campaignArn=campaign)["minProvisionedTPS"] == 2

    # --- Batch inference and batch segment jobs ------------------------------------------------------------
    batch = api.call(
        "CreateBatchInferenceJob", jobName="nightly", solutionVersionArn=version, roleArn=ROLE, **BATCH_IO
    )["batchInferenceJobArn"]
    workers.job_for(batch, "BATCH_INFERENCE")
    workers.report(batch, "IN PROGRESS", "ACTIVE")
    api.wait("DescribeBatchInferenceJob", "batchInferenceJob", batchInferenceJobArn=batch)
    assert len(api.call("ListBatchInferenceJobs", solutionVersionArn=version)["batchInferenceJobs"]) == 1

    affinity = api.call(
        "CreateSolution", name="affinity", datasetGroupArn=group, recipeArn=RECIPE + "aws-item-affinity",
        performAutoTraining=False,
    )["solutionArn"]  # fmt: skip
    api.wait("DescribeSolution", "solution", solutionArn=affinity)
    affinity_version = api.call("CreateSolutionVersion", solutionArn=affinity)["solutionVersionArn"]
    workers.report(affinity_version, "ACTIVE")
    api.wait("DescribeSolutionVersion", "solutionVersion", solutionVersionArn=affinity_version)
    segment = api.call(
        "CreateBatchSegmentJob", jobName="segments", solutionVersionArn=affinity_version, roleArn=ROLE, **BATCH_IO
    )["batchSegmentJobArn"]
    workers.job_for(segment, "BATCH_SEGMENT")
    workers.report(segment, "IN PROGRESS", "ACTIVE")
    api.wait("DescribeBatchSegmentJob", "batchSegmentJob", batchSegmentJobArn=segment)
    assert len(api.call("ListBatchSegmentJobs", solutionVersionArn=affinity_version)["batchSegmentJobs"]) == 1

    # --- Recommender in a domain dataset group -------------------------------------------------------------
    domain_schema = api.call("CreateSchema", name="s-ecomm", schema=INTERACTIONS, domain="ECOMMERCE")["schemaArn"]
    store = api.call("CreateDatasetGroup", name="store", domain="ECOMMERCE")["datasetGroupArn"]
    api.wait("DescribeDatasetGroup", "datasetGroup", datasetGroupArn=store)
    store_interactions = api.call(
        "CreateDataset", name="events", datasetGroupArn=store, datasetType="Interactions", schemaArn=domain_schema
    )["datasetArn"]
    api.wait("DescribeDataset", "dataset", datasetArn=store_interactions)
    recommender = api.call(
        "CreateRecommender", name="for-you", datasetGroupArn=store, recipeArn=RECIPE + "aws-ecomm-recommended-for-you"
    )["recommenderArn"]
    workers.job_for(recommender, "RECOMMENDER_CREATE")
    workers.report(recommender, "CREATE IN_PROGRESS", "ACTIVE", modelMetrics={"coverage": 0.3})
    assert api.wait("DescribeRecommender", "recommender", recommenderArn=recommender)["modelMetrics"] == {
        "coverage": 0.3
    }
    assert len(api.call("ListRecommenders", datasetGroupArn=store)["recommenders"]) == 1
    api.call(
        "UpdateRecommender", recommenderArn=recommender, recommenderConfig={"minRecommendationRequestsPerSecond": 2}
    )
    workers.job_for(recommender, "RECOMMENDER_UPDATE")
    workers.report(recommender, "UPDATE IN_PROGRESS", "ACTIVE")
    described = api.wait("DescribeRecommender", "recommender", recommenderArn=recommender)
    assert described["recommenderConfig"]["minRecommendationRequestsPerSecond"] == 2
    api.call("StopRecommender", recommenderArn=recommender)
    workers.job_for(recommender, "RECOMMENDER_STOP")
    workers.report(recommender, "STOP IN_PROGRESS", "INACTIVE")
    api.wait("DescribeRecommender", "recommender", "INACTIVE", recommenderArn=recommender)
    api.call("StartRecommender", recommenderArn=recommender)
    workers.job_for(recommender, "RECOMMENDER_START")
    workers.report(recommender, "START IN_PROGRESS", "ACTIVE")
    api.wait("DescribeRecommender", "recommender", recommenderArn=recommender)

    # --- Tags ----------------------------------------------------------------------------------------------
    api.call(
        "TagResource",
        resourceArn=campaign,
        tags=[{"tagKey": "team", "tagValue": "home"}, {"tagKey": "x", "tagValue": "y"}],
    )
    api.call("UntagResource", resourceArn=campaign, tagKeys=["x"])
    assert api.call("ListTagsForResource", resourceArn=campaign)["tags"] == [{"tagKey": "team", "tagValue": "home"}]

    # --- Deletes, dependents first ---------------------------------------------------------------------------
    for operation, key, arn in (
        ("DeleteRecommender", "recommenderArn", recommender),
        ("DeleteCampaign", "campaignArn", campaign),
    ):
        api.call(operation, **{key: arn})
        workers.report(arn, "DELETE IN_PROGRESS")  # a stale report for a deleting resource changes nothing
        wait_gone(api.call, operation.replace("Delete", "Describe"), **{key: arn})
    for operation, key, arn in (
        ("DeleteSolution", "solutionArn", solution),
        ("DeleteSolution", "solutionArn", affinity),
        ("DeleteFilter", "filterArn", filter_arn),
        ("DeleteEventTracker", "eventTrackerArn", tracker),
        ("DeleteMetricAttribution", "metricAttributionArn", attribution),
        ("DeleteDataset", "datasetArn", items),
        ("DeleteDataset", "datasetArn", interactions),
        ("DeleteDataset", "datasetArn", store_interactions),
        ("DeleteDatasetGroup", "datasetGroupArn", group),
        ("DeleteDatasetGroup", "datasetGroupArn", store),
    ):
        api.call(operation, **{key: arn})
        wait_gone(api.call, operation.replace("Delete", "Describe"), **{key: arn})
    for arn in [*schemas.values(), domain_schema]:
        api.call("DeleteSchema", schemaArn=arn)
    with pytest.raises(ResourceNotFoundException):
        api.call("DescribeSchema", schemaArn=domain_schema)

    service = control_pb2.DESCRIPTOR.services_by_name["PersonalizeControl"]
    assert api.called == {method.name for method in service.methods}
