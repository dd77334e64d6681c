"""Automatic training skips when no interaction data arrived since the last training (L10003), against the real
Kafka broker: the trainer compares the Interactions topic's end offsets with what the last ACTIVE version read."""

from __future__ import annotations

from pathlib import Path

from confluent_kafka import Producer

from tailor_shared.dataset_reader import end_offsets
from tailor_shared.jobs import JobRecord, JobType, StatusUpdate
from tailor_shared.jobs.protocol import SKIPPED_NO_NEW_DATA
from tailor_shared.kafka import TopicSpec, ensure_topics
from tailor_shared.resources import InMemoryResources, ResourceRecord
from tailor_shared.topics import dataset_topic_for
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
