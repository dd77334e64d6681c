"""A solution version trained from real Kafka data: anonymous PutEvents train as their sessions, and a training
cut by the maximum training time says so on the version's report and in the model's manifest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from confluent_kafka import Producer

from tailor_shared.avro import AvroCodec
from tailor_shared.jobs import JobRecord, JobType, StatusUpdate
from tailor_shared.kafka import TopicSpec, ensure_topics
from tailor_shared.model_store import version_model_dir
from tailor_shared.records import RowContext, encode_row
from tailor_shared.resources import InMemoryResources, ResourceRecord
from tailor_shared.topics import dataset_topic_for
from tailor_tools import synthetic
from tailor_tools.localstack import StackConfig
from tailor_trainer.artifacts import load_trainer_state
from tailor_trainer.jobs import TrainingJobs

BASE = "arn:aws:personalize:us-east-1:000000000000:"
UP_V2 = "arn:aws:personalize:::recipe/aws-user-personalization-v2"
ANONYMOUS = {"user-00000": "sess-a", "user-00001": "sess-b"}  # these users' events arrive without a userId


def test_anonymous_sessions_train_as_sessions_and_a_time_cut_is_recorded(
    stack: StackConfig, topic_prefix: str, tmp_path: Path
) -> None:
    bootstrap = stack.kafka_bootstrap
    data = synthetic.generate(n_users=120, n_items=150, seed=3)
    assert set(ANONYMOUS) <= {str(r["USER_ID"]) for r in data.interactions}
    view = InMemoryResources()
    group = ResourceRecord(BASE + "dataset-group/g", "datasetGroup", {"name": "g", "status": "ACTIVE"}, None)
    schema_arn, dataset_arn = BASE + "schema/g-i", BASE + "dataset/g/INTERACTIONS"
    schema = json.dumps(synthetic.INTERACTIONS_SCHEMA)
    view.put(group)
    view.put(ResourceRecord(schema_arn, "schema", {"schemaArn": schema_arn, "schema": schema}, None))
    body = {"datasetArn": dataset_arn, "datasetType": "Interactions", "schemaArn": schema_arn, "status": "ACTIVE"}
    view.put(ResourceRecord(dataset_arn, "dataset", body, group.arn))
    topic = dataset_topic_for(topic_prefix, group.body, body)
    ensure_topics(bootstrap, [TopicSpec(topic, partitions=2)])
    codec = AvroCodec(schema)
    producer = Producer({"bootstrap.servers": bootstrap})
    for row in data.interactions:
        user = str(row["USER_ID"])
        session = ANONYMOUS.get(user, f"s-{user}")
        sent = {**row, "USER_ID": ""} if user in ANONYMOUS else row  # as ingest writes an anonymous PutEvents
        out = encode_row(topic, "Interactions", codec, sent, RowContext(dataset_arn, schema_arn, session_id=session))
        producer.produce(topic, value=out.value or b"", key=out.key, headers=list(out.headers))
    assert producer.flush(30) == 0

    solution = BASE + "solution/up"
    view.put(ResourceRecord(solution, "solution", {"solutionArn": solution, "datasetGroupArn": group.arn,
                                                   "recipeArn": UP_V2, "status": "ACTIVE"}, group.arn))  # fmt: skip
    version_arn = f"{solution}/v0000001"
    version: dict[str, Any] = {"solutionVersionArn": version_arn, "solutionArn": solution, "status": "CREATE PENDING",
                               "trainingMode": "FULL", "creationDateTime": 1.0}  # fmt: skip
    view.put(ResourceRecord(version_arn, "solutionVersion", version, solution))
    reports: list[StatusUpdate] = []
    jobs = TrainingJobs(view, bootstrap, topic_prefix, str(tmp_path), 0, reports.append, lambda _n: 0.0)
    jobs.run(JobRecord(JobType.SOLUTION_VERSION, version_arn, "solutionVersion", version, 1.0))

    assert reports[-1].status == "ACTIVE", reports[-1]
    stop = reports[-1].fields["_trainingStop"]
    assert stop["stopReason"] == "MAX_TRAINING_TIME" and stop["epochs"] == 1 and stop["maxTrainingSeconds"] == 0.0
    directory = version_model_dir(str(tmp_path), ResourceRecord(version_arn, "solutionVersion", version, solution))
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["trainingStop"]["stopReason"] == "MAX_TRAINING_TIME"
    assert "cut short" in (directory / "report.md").read_text()
    model = load_trainer_state(directory)
    assert model is not None and model.user_ids is not None
    users = set(model.user_ids.tolist())
    assert {"sess-a", "sess-b"} <= users and "" not in users and not set(ANONYMOUS) & users
