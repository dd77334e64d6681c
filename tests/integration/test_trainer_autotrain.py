"""Automatic training against the real Kafka broker: a skip when no interaction data arrived since the last
training (L10003; the trainer compares the Interactions topic's end offsets with what the last ACTIVE version
read), and recommenders' automatic retraining (L8743)."""

from __future__ import annotations

import json
from pathlib import Path

from confluent_kafka import Producer

from tailor_control.domain import Context, Put, apply_job_status
from tailor_shared.avro import AvroCodec
from tailor_shared.dataset_reader import end_offsets
from tailor_shared.jobs import JobRecord, JobType, StatusUpdate
from tailor_shared.jobs.protocol import SKIPPED_NO_NEW_DATA
from tailor_shared.kafka import TopicSpec, ensure_topics
from tailor_shared.model_store import recommender_model_dir
from tailor_shared.records import RowContext, encode_row
from tailor_shared.resources import InMemoryResources, ResourceRecord
from tailor_shared.topics import dataset_topic_for
from tailor_tools import synthetic
from tailor_tools.localstack import StackConfig
from tailor_trainer.domain.autotrain import TRAINED_ON
from tailor_trainer.jobs import TrainingJobs

BASE = "arn:aws:personalize:us-east-1:000000000000:"


def test_autotrain_job_is_skipped_until_new_interactions_arrive(
    stack: StackConfig, topic_prefix: str, tmp_path: Path
) -> None:
    bootstrap = stack.kafka_bootstrap
    group = ResourceRecord(BASE + "dataset-group/g", "datasetGroup", {"name": "g", "status": "ACTIVE"}, None)
    dataset = ResourceRecord(
        BASE + "dataset/g/INTERACTIONS",
        "dataset",
        {"datasetType": "Interactions", "schemaArn": BASE + "schema/none", "status": "ACTIVE"},
        group.arn,
    )
    topic = dataset_topic_for(topic_prefix, group.body, dataset.body)
    ensure_topics(bootstrap, [TopicSpec(topic, partitions=2)])
    producer = Producer({"bootstrap.servers": bootstrap})
    for i in range(5):
        producer.produce(topic, key=f"u{i}".encode(), value=b"not avro")
    assert producer.flush(10) == 0
    ends = end_offsets(bootstrap, topic)
    assert sum(ends.values()) == 5

    solution = BASE + "solution/s"
    view = InMemoryResources()
    view.put(group)
    view.put(dataset)
    view.put(ResourceRecord(solution, "solution", {"datasetGroupArn": group.arn, "status": "ACTIVE"}, group.arn))
    trained_on = {"Interactions": {"topic": topic, "offsets": {str(p): o for p, o in ends.items()}, "rows": 5}}
    view.put(
        ResourceRecord(
            f"{solution}/aaaa0001",
            "solutionVersion",
            {"solutionVersionArn": f"{solution}/aaaa0001", "status": "ACTIVE", "creationDateTime": 1.0,
             TRAINED_ON: trained_on},
            solution,
        )
    )  # fmt: skip
    auto_arn, manual_arn = f"{solution}/aaaa0002", f"{solution}/aaaa0003"
    auto: dict[str, object] = {
        "solutionVersionArn": auto_arn,
        "solutionArn": solution,
        "status": "CREATE PENDING",
        "trainingMode": "AUTOTRAIN",
        "trainingType": "AUTOMATIC",
        "creationDateTime": 2.0,
    }
    view.put(ResourceRecord(auto_arn, "solutionVersion", auto, solution))
    reports: list[StatusUpdate] = []
    jobs = TrainingJobs(view, bootstrap, topic_prefix, str(tmp_path), 0, reports.append)
    job = JobRecord(JobType.SOLUTION_VERSION, auto_arn, "solutionVersion", auto, 2.0)

    jobs.run(job)
    assert [(r.resource_arn, r.status) for r in reports] == [(auto_arn, SKIPPED_NO_NEW_DATA)]

    # One real-time event since the last training: the automatic version trains (here it then fails on the
    # undecodable test data, which is beside the point: it was not skipped).
    producer.produce(topic, key=b"u9", value=b"not avro")
    assert producer.flush(10) == 0
    reports.clear()
    jobs.run(job)
    assert reports[0].status == "CREATE IN_PROGRESS"
    assert SKIPPED_NO_NEW_DATA not in [r.status for r in reports]

    # A manual (FULL) version is never skipped, new data or not.
    manual = {**auto, "solutionVersionArn": manual_arn, "trainingMode": "FULL", "trainingType": "MANUAL"}
    view.put(ResourceRecord(manual_arn, "solutionVersion", manual, solution))
    view.put(
        ResourceRecord(
            f"{solution}/aaaa0001",
            "solutionVersion",
            {"solutionVersionArn": f"{solution}/aaaa0001", "status": "ACTIVE", "creationDateTime": 1.0,
             TRAINED_ON: {"Interactions": {**trained_on["Interactions"], "offsets": {
                 str(p): o for p, o in end_offsets(bootstrap, topic).items()}}}},
            solution,
        )
    )  # fmt: skip
    reports.clear()
    jobs.run(JobRecord(JobType.SOLUTION_VERSION, manual_arn, "solutionVersion", manual, 3.0))
    assert reports[0].status == "CREATE IN_PROGRESS"


def test_recommender_retraining_trains_a_new_model_that_control_takes(
    stack: StackConfig, topic_prefix: str, tmp_path: Path
) -> None:
    """RECOMMENDER_RETRAIN (every 7 days, L8743) on real Kafka data: the trainer trains the use case's recipe
    into a new model generation and reports it on a same-status ACTIVE report; control folds it in (the
    recommender stays ACTIVE, ``_model`` is the new generation, which is what runtimes swap to)."""
    bootstrap = stack.kafka_bootstrap
    data = synthetic.generate(n_users=150, n_items=200, seed=11)
    group = ResourceRecord(
        BASE + "dataset-group/shop",
        "datasetGroup",
        {"datasetGroupArn": BASE + "dataset-group/shop", "name": "shop", "domain": "ECOMMERCE", "status": "ACTIVE"},
        None,
    )
    schema_arn = BASE + "schema/shop-i"
    schema = ResourceRecord(
        schema_arn, "schema", {"schemaArn": schema_arn, "schema": json.dumps(synthetic.INTERACTIONS_SCHEMA)}, None
    )
    dataset_arn = BASE + "dataset/shop/INTERACTIONS"
    dataset = ResourceRecord(
        dataset_arn,
        "dataset",
        {"datasetArn": dataset_arn, "datasetType": "Interactions", "schemaArn": schema_arn, "status": "ACTIVE"},
        group.arn,
    )
    topic = dataset_topic_for(topic_prefix, group.body, dataset.body)
    ensure_topics(bootstrap, [TopicSpec(topic, partitions=2)])
    codec = AvroCodec(json.dumps(synthetic.INTERACTIONS_SCHEMA))
    producer = Producer({"bootstrap.servers": bootstrap})
    for row in data.interactions:
        out = encode_row(topic, "Interactions", codec, row, RowContext(dataset_arn, schema_arn))
        producer.produce(topic, value=out.value or b"", key=out.key, headers=list(out.headers))
    assert producer.flush(30) == 0

    arn = BASE + "recommender/shop-for-you"
    recommender = {
        "recommenderArn": arn,
        "name": "shop-for-you",
        "datasetGroupArn": group.arn,
        "recipeArn": "arn:aws:personalize:::recipe/aws-ecomm-recommended-for-you",
        "status": "ACTIVE",
        "creationDateTime": 1.0,
        "lastUpdatedDateTime": 1.0,
        "_model": "gen1",
        "_modelFor": 1.0,
        "_retrainRequestedAt": 604801.0,
    }
    view = InMemoryResources()
    for record in (group, schema, dataset, ResourceRecord(arn, "recommender", recommender, group.arn)):
        view.put(record)
    reports: list[StatusUpdate] = []
    jobs = TrainingJobs(view, bootstrap, topic_prefix, str(tmp_path), 0, reports.append)
    job = JobRecord(JobType.RECOMMENDER_RETRAIN, arn, "recommender", recommender, 604801.0)
    assert not jobs.finished(job)
    jobs.run_recommender(job)

    (report,) = [r for r in reports if "_model" in r.fields]
    assert {r.status for r in reports} == {"ACTIVE"}  # never a CREATE/UPDATE status: it keeps serving
    generation = str(report.fields["_model"])
    assert generation != "gen1" and report.fields["_modelFor"] == 604801.0
    assert "normalized_discounted_cumulative_gain_at_10" in report.fields["modelMetrics"]
    assert (recommender_model_dir(str(tmp_path), arn, generation, None) / "manifest.json").exists()

    effects = apply_job_status(view, json.loads(report.to_json()), Context("us-east-1", "000000000000", 604900.0))
    (put,) = effects.changes
    assert isinstance(put, Put)
    assert (put.record.body["status"], put.record.body["_model"]) == ("ACTIVE", generation)
    view.put(put.record)
    assert jobs.finished(job)  # a redelivery of the same retraining does nothing
