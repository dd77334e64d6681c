"""Automatic updates of a User-Personalization campaign on real Kafka data (L5373; ADR 0022): the trainer brings
items that arrived after the version trained into the campaign's model without a full retraining, control folds
the new generation in, the runtime's target for the campaign is that generation, and the served model explores
the new items. With no new data since the last update the trainer does nothing; a model that holds the recipe's
item limit gets no update (L5380). A batch inference job on the version scores the updated model (L5378)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from confluent_kafka import Producer
from prometheus_client import REGISTRY

from tailor_batch.adapters import RedisReader
from tailor_batch.jobs import BatchJobs
from tailor_control.domain import Context, Put, apply_job_status
from tailor_runtime.deployments import target_version
from tailor_shared.avro import AvroCodec
from tailor_shared.jobs import JobRecord, JobType, StatusUpdate
from tailor_shared.kafka import TopicSpec, ensure_topics
from tailor_shared.model_store import campaign_update_dir, version_model_dir
from tailor_shared.records import RowContext, encode_row
from tailor_shared.redis_keys import UserState
from tailor_shared.resources import InMemoryResources, ResourceRecord
from tailor_shared.scoring import answer
from tailor_shared.scoring.filtering import ItemIndex
from tailor_shared.scoring.loader import load_model
from tailor_shared.storage import updated_version_dir
from tailor_shared.topics import dataset_topic_for
from tailor_tools import synthetic
from tailor_tools.localstack import StackConfig
from tailor_trainer.domain.autotrain import TRAINED_ON
from tailor_trainer.jobs import TrainingJobs

BASE = "arn:aws:personalize:us-east-1:000000000000:"
UP = "arn:aws:personalize:::recipe/aws-user-personalization"
NEW_ITEMS = [f"new-{k}" for k in range(5)]


def _produce(
    producer: Producer, topic: str, kind: str, schema: dict[str, Any], arns: tuple[str, str], rows: Any
) -> None:
    codec = AvroCodec(json.dumps(schema))
    for row in rows:
        out = encode_row(topic, kind, codec, row, RowContext(*arns))
        producer.produce(topic, value=out.value or b"", key=out.key, headers=list(out.headers))
    assert producer.flush(30) == 0


def test_an_automatic_update_brings_new_items_into_the_campaigns_exploration(
    stack: StackConfig, topic_prefix: str, tmp_path: Path
) -> None:
    bootstrap = stack.kafka_bootstrap
    data = synthetic.generate(n_users=60, n_items=80, seed=5)  # 1,571 interactions
    view = InMemoryResources()
    group = ResourceRecord(BASE + "dataset-group/g", "datasetGroup", {"name": "g", "status": "ACTIVE"}, None)
    view.put(group)
    topics: dict[str, str] = {}
    for kind, schema in (("Interactions", synthetic.INTERACTIONS_SCHEMA), ("Items", synthetic.ITEMS_SCHEMA)):
        schema_arn, dataset_arn = BASE + f"schema/g-{kind}", BASE + f"dataset/g/{kind.upper()}"
        view.put(ResourceRecord(schema_arn, "schema", {"schemaArn": schema_arn, "schema": json.dumps(schema)}, None))
        body = {"datasetArn": dataset_arn, "datasetType": kind, "schemaArn": schema_arn, "status": "ACTIVE"}
        view.put(ResourceRecord(dataset_arn, "dataset", body, group.arn))
        topics[kind] = dataset_topic_for(topic_prefix, group.body, body)
        ensure_topics(bootstrap, [TopicSpec(topics[kind], partitions=2)])
    producer = Producer({"bootstrap.servers": bootstrap})
    arns = {k: (BASE + f"dataset/g/{k.upper()}", BASE + f"schema/g-{k}") for k in topics}
    _produce(producer, topics["Interactions"], "Interactions", synthetic.INTERACTIONS_SCHEMA, arns["Interactions"],
             data.interactions)  # fmt: skip
    _produce(producer, topics["Items"], "Items", synthetic.ITEMS_SCHEMA, arns["Items"], data.items)

    solution = BASE + "solution/up"
    config = {"algorithmHyperParameters": {"hidden_dimension": "32", "bptt": "8"}}
    view.put(ResourceRecord(solution, "solution", {"solutionArn": solution, "datasetGroupArn": group.arn,
                                                   "recipeArn": UP, "solutionConfig": config, "status": "ACTIVE"},
                            group.arn))  # fmt: skip
    version_arn = f"{solution}/v0000001"
    version: dict[str, Any] = {"solutionVersionArn": version_arn, "solutionArn": solution, "status": "CREATE PENDING",
                               "trainingMode": "FULL", "creationDateTime": 1.0,
                               "datasetGroupArn": group.arn}  # fmt: skip
    view.put(ResourceRecord(version_arn, "solutionVersion", version, solution))
    reports: list[StatusUpdate] = []
    # A short training: what is tested is the update, not the model's quality.
    jobs = TrainingJobs(view, bootstrap, topic_prefix, str(tmp_path), 0, reports.append, lambda _n: 5.0)
    jobs.run(JobRecord(JobType.SOLUTION_VERSION, version_arn, "solutionVersion", version, 1.0))
    assert reports[-1].status == "ACTIVE", reports[-1]
    version = {**version, "status": "ACTIVE", TRAINED_ON: reports[-1].fields[TRAINED_ON]}
    view.put(ResourceRecord(version_arn, "solutionVersion", version, solution))

    campaign_arn = BASE + "campaign/shop"
    campaign = {"campaignArn": campaign_arn, "solutionVersionArn": version_arn, "status": "ACTIVE",
                "creationDateTime": 2.0, "lastUpdatedDateTime": 2.0, "_autoUpdateRequestedAt": 7202.0,
                "campaignConfig": {"itemExplorationConfig": {"explorationWeight": "1"}}}  # fmt: skip
    view.put(ResourceRecord(campaign_arn, "campaign", campaign, solution))
    job = JobRecord(JobType.CAMPAIGN_AUTO_UPDATE, campaign_arn, "campaign", campaign, 7202.0)

    # Nothing new since the version trained: no update.
    reports.clear()
    jobs.run_auto_update(job)
    assert reports == []

    # Five items arrive (PutItems), newer than anything the version saw, without interactions.
    newest = max(int(str(r["TIMESTAMP"])) for r in data.interactions)
    fresh = [{**data.items[0], "ITEM_ID": i, "CREATION_TIMESTAMP": newest} for i in NEW_ITEMS]
    _produce(producer, topics["Items"], "Items", synthetic.ITEMS_SCHEMA, arns["Items"], fresh)

    # A model that already holds the recipe's item limit considers no new item (L5380): no update.
    trained_items = len(load_model(version_model_dir(str(tmp_path), view.get(version_arn))).item_ids)
    capped = TrainingJobs(
        view, bootstrap, topic_prefix, str(tmp_path), 0, reports.append, lambda _n: 5.0, lambda _r: trained_items
    )
    at_limit = REGISTRY.get_sample_value("tailor_trainer_automatic_updates_total", {"outcome": "item_limit"}) or 0.0
    capped.run_auto_update(job)
    assert reports == []
    assert REGISTRY.get_sample_value("tailor_trainer_automatic_updates_total", {"outcome": "item_limit"}) == (
        at_limit + 1
    )

    started = time.monotonic()
    jobs.run_auto_update(job)
    wall = time.monotonic() - started
    (report,) = [r for r in reports if "_model" in r.fields]
    assert report.status == "ACTIVE" and report.fields["_modelOf"] == version_arn
    assert report.fields["_modelFor"] == 7202.0
    generation = str(report.fields["_model"])
    directory = campaign_update_dir(str(tmp_path), view.get(version_arn), generation)
    assert (directory / "manifest.json").exists(), wall

    effects = apply_job_status(view, json.loads(report.to_json()), Context("us-east-1", "000000000000", 7300.0))
    (put,) = effects.changes
    assert isinstance(put, Put)
    view.put(put.record)
    assert target_version(dict(put.record.body)) == f"{version_arn}#{generation}"
    assert jobs.finished(job)  # a redelivery of the same update does nothing

    # The updated model knows the new items and explores them.
    model = load_model(directory)
    assert set(NEW_ITEMS) <= set(model.item_ids)
    assert model.exploration is not None
    index = ItemIndex(list(model.item_ids))
    config_map = {"explorationWeight": "1"}
    shown: set[str] = set()
    for u in range(40):
        user = f"u{u}"
        exploration = answer.exploration_for(model, config_map, version_arn, user)
        assert exploration is not None
        assert exploration.eligible[[index.position[i] for i in NEW_ITEMS]].all()
        ranked = answer.recommendations(
            model, index, user_id=user, item_id=None, state=_empty_state(), bound=None, num_results=25,
            context={}, exploration=exploration, seed=user,
        )  # fmt: skip
        shown |= {model.item_ids[r.index] for r in ranked} & set(NEW_ITEMS)
    assert shown, "no new item was ever explored"

    # A batch inference job on the version (its solution's latest fully trained one) scores the update too.
    assert updated_version_dir(view, str(tmp_path), version_arn) == directory
    batch_dir = tmp_path / "batch"
    (batch_dir / "in").mkdir(parents=True)
    (batch_dir / "in" / "users.json").write_text("".join(json.dumps({"userId": f"u{u}"}) + "\n" for u in range(40)))
    batch_arn = BASE + "batch-inference-job/after-update"
    batch = {"batchInferenceJobArn": batch_arn, "solutionVersionArn": version_arn, "status": "CREATE PENDING",
             "numResults": 25, "jobInput": {"s3DataSource": {"path": f"{batch_dir}/in/"}},
             "jobOutput": {"s3DataDestination": {"path": f"{batch_dir}/out/"}},
             "batchInferenceJobConfig": {"itemExplorationConfig": {"explorationWeight": "1"}}}  # fmt: skip
    view.put(ResourceRecord(batch_arn, "batchInferenceJob", batch, None))
    batch_reports: list[StatusUpdate] = []
    BatchJobs(view, RedisReader(stack.redis_url, 50), topic_prefix, str(tmp_path), batch_reports.append).run_inference(
        JobRecord(JobType.BATCH_INFERENCE, batch_arn, "batchInferenceJob", batch, 7400.0)
    )
    assert batch_reports[-1].status == "ACTIVE", batch_reports[-1]
    lines = [json.loads(x) for x in (batch_dir / "out" / "users.json.out").read_text().splitlines()]
    assert len(lines) == 40 and all(not x.get("error") for x in lines), lines[:3]
    batch_new = {i for x in lines for i in x["output"]["recommendedItems"]} & set(NEW_ITEMS)
    assert batch_new, "the batch job never recommended a new item: it scored the version's model, not its update"


def _empty_state() -> UserState:
    return UserState([], {}, frozenset(), {})
