"""Data deletion jobs erase users (ADR 0015): the real control, ingest, stream (with its deletion worker and
janitor), trainer and batch processes on the real Kafka and Redis.

A dataset group gets a bulk import (with its import markers), PutEvents (a user's events, anonymous events of
a session that user logged into, an item only the deleted users touched) and PutUsers rows. A data deletion job
with a folder of CSVs then erases two users: afterwards the datasets' topics are new generations without their
rows (import generations intact), the old topics are deleted, Redis holds nothing of them (and everything else
again), and a new Popularity-Count solution version trains on the new generation without them or the item only
they interacted with, and a batch inference job on it answers the deleted users as strangers, without that
item. Bad input fails the job with a reason. (Batch segment jobs don't exist yet.)
"""

from __future__ import annotations

import csv
import functools
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from tailor_shared import redis_keys as rk
from tailor_shared import storage
from tailor_shared.config import S3Settings
from tailor_shared.dataset_reader import count_records, read_dataset, watermarks
from tailor_shared.objectstore import ObjectStore
from tailor_shared.schemas import avro_record
from tailor_shared.topics import dead_letter_topic
from tailor_tools import localstack
from tailor_tools.client import Client
from tests.conftest import RunningService
from tests.integration.test_ingest_with_control import retry_until_visible

pytestmark = pytest.mark.integration

ROLE = "arn:aws:iam::000000000000:role/PersonalizeRole"
INTERACTIONS = avro_record("Interactions", "USER_ID", "ITEM_ID", "EVENT_TYPE", "TIMESTAMP")
USERS_SCHEMA = avro_record("Users", "USER_ID", {"name": "MEMBERSHIP", "type": "string", "categorical": True})
POPULARITY = "arn:aws:personalize:::recipe/aws-popularity-count"
DELETED = {"u1", "u2"}


def _poll(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def _deletion(personalize: Client, group: str, name: str, location: str) -> dict[str, Any]:
    arn = personalize.call(
        "CreateDataDeletionJob", jobName=name, datasetGroupArn=group, roleArn=ROLE,
        dataSource={"dataLocation": location},
    )["dataDeletionJobArn"]  # fmt: skip
    return personalize.wait_for(
        "DescribeDataDeletionJob", "dataDeletionJob", ("COMPLETED", "FAILED"), timeout=180, dataDeletionJobArn=arn
    )


def test_a_data_deletion_job_erases_users_from_topics_redis_and_training(
    spawn_service: Callable[..., RunningService], tmp_path: Path, s3_bucket: str
) -> None:
    janitor = {"TAILOR_STREAM_JANITOR_INTERVAL_S": "1", "TAILOR_STREAM_JANITOR_GRACE_S": "1"}
    control = spawn_service("control")
    ingest = spawn_service("ingest")
    spawn_service("stream", wait=False, **janitor)
    spawn_service("trainer", wait=False)
    spawn_service("batch")
    bootstrap, prefix = control.env["TAILOR_KAFKA_BOOTSTRAP"], control.env["TAILOR_TOPIC_PREFIX"]
    store = control.env["TAILOR_MODEL_STORE"]
    personalize = Client(control.address, "control")
    events = Client(ingest.address, "events")
    probe: redis.Redis[bytes] = redis.Redis.from_url(control.env["TAILOR_REDIS_URL"])
    try:
        clicks = personalize.call("CreateSchema", name="clicks", schema=json.dumps(INTERACTIONS))["schemaArn"]
        people = personalize.call("CreateSchema", name="people", schema=json.dumps(USERS_SCHEMA))["schemaArn"]
        group = personalize.call("CreateDatasetGroup", name="shop")["datasetGroupArn"]
        personalize.wait_for("DescribeDatasetGroup", "datasetGroup", datasetGroupArn=group)
        datasets = {}
        for name, schema, kind in (("clicks", clicks, "Interactions"), ("people", people, "Users")):
            datasets[kind] = personalize.call(
                "CreateDataset", name=name, schemaArn=schema, datasetGroupArn=group, datasetType=kind
            )["datasetArn"]
            personalize.wait_for("DescribeDataset", "dataset", datasetArn=datasets[kind])
        tracker = personalize.call("CreateEventTracker", name="web", datasetGroupArn=group)
        personalize.wait_for("DescribeEventTracker", "eventTracker", eventTrackerArn=tracker["eventTrackerArn"])

        # --- data: a bulk import, PutEvents (users, an anonymous session, an item only u1/u2 touched), users --
        data = tmp_path / "clicks.csv"
        with data.open("w", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(["USER_ID", "ITEM_ID", "EVENT_TYPE", "TIMESTAMP"])
            writer.writerows([f"u{n % 40}", f"i{n % 60}", "click", 1_700_000_000 + n] for n in range(1200))
        imported = personalize.call(
            "CreateDatasetImportJob", jobName="clicks-1", datasetArn=datasets["Interactions"], roleArn=ROLE,
            dataSource={"dataLocation": f"file://{data}"},
        )["datasetImportJobArn"]  # fmt: skip
        done = personalize.wait_for(
            "DescribeDatasetImportJob", "datasetImportJob", timeout=120, datasetImportJobArn=imported
        )
        assert done["status"] == "ACTIVE", done.get("failureReason")
        now = time.time() - 100

        def put(user: str | None, session: str, items: list[str]) -> None:
            request: dict[str, Any] = {
                "trackingId": tracker["trackingId"],
                "sessionId": session,
                "eventList": [{"eventType": "click", "itemId": i, "sentAt": now + k} for k, i in enumerate(items)],
            }
            if user is not None:
                request["userId"] = user
            retry_until_visible(lambda: events.call("PutEvents", **request))

        put(None, "s-u1", ["i7", "i8"])  # anonymous, then the same session logs in as u1
        put("u1", "s-u1", ["i1", "i2", "lonely"])
        put("u2", "s-u2", ["lonely", "i3"])
        put("u5", "s-u5", ["i4", "i5", "i6"])
        retry_until_visible(
            lambda: events.call(
                "PutUsers",
                datasetArn=datasets["Users"],
                users=[{"userId": u, "properties": json.dumps({"membership": "gold"})} for u in ("u1", "u2", "u3")],
            )
        )
        with storage.records(bootstrap, prefix) as view:
            old_topics = {k: storage.dataset_topic(view, prefix, arn) for k, arn in datasets.items()}
            keys = storage.group_keys(view, prefix, group)
        _poll(lambda: probe.zcard(keys.history(rk.user_subject("u1"))) == 5, "the stream to apply u1's events")
        _poll(lambda: probe.exists(keys.metadata("user", "u2")) == 1, "the stream to apply the Users rows")
        assert probe.zscore(keys.popularity_count(), "lonely") == 2.0
        before = {k: read_dataset(bootstrap, t, k, schema) for (k, t), schema in
                  zip(old_topics.items(), (INTERACTIONS, USERS_SCHEMA), strict=True)}  # fmt: skip
        assert before["Interactions"].num_rows == 1200 + 10

        # --- bad input fails the job with a reason ----------------------------------------------------------
        failed = _deletion(personalize, group, "missing", f"file://{tmp_path}/nowhere.csv")
        assert failed["status"] == "FAILED" and "does not exist" in failed["failureReason"]
        headerless = tmp_path / "headerless.csv"
        headerless.write_text("USERID\nu1\n")
        failed = _deletion(personalize, group, "headerless", f"file://{headerless}")
        assert failed["status"] == "FAILED"
        assert "missing the following columns:[USER_ID]" in failed["failureReason"]

        failed = _deletion(personalize, group, "no-bucket", "s3://test-no-such-bucket/forget/")
        assert (
            failed["status"] == "FAILED"
            and "The S3 bucket test-no-such-bucket does not exist" in failed["failureReason"]
        )

        # --- the deletion: a folder of CSVs on the S3 server (every .csv below it, nothing else) -------------
        objects = ObjectStore(S3Settings.from_env(localstack.StackConfig.from_env().s3_env()))
        objects.write_bytes(f"s3://{s3_bucket}/forget/a.csv", b"USER_ID\nu1\n")
        objects.write_bytes(f"s3://{s3_bucket}/forget/more/b.csv", b"USER_ID\nu2\nnobody\n")
        objects.write_bytes(f"s3://{s3_bucket}/forget/notes.txt", b"USER_ID\nu5\n")
        job = _deletion(personalize, group, "forget", f"s3://{s3_bucket}/forget/")
        assert job["status"] == "COMPLETED", job.get("failureReason")
        # u1, u2: 30 bulk rows each, their 5 events, u1's session's 2 anonymous events, their 2 Users rows.
        assert job["numDeleted"] == 60 + 5 + 2 + 2

        # --- topics: new generations without the users; import generations as they were; old topics gone --
        with storage.records(bootstrap, prefix) as view:
            new_topics = {k: storage.dataset_topic(view, prefix, arn) for k, arn in datasets.items()}
            assert storage.group_keys(view, prefix, group) == keys  # the group keeps its Redis namespace
        assert all(new_topics[k] != old_topics[k] for k in datasets)
        after = {k: read_dataset(bootstrap, t, k, schema, meta_columns=True) for (k, t), schema in
                 zip(new_topics.items(), (INTERACTIONS, USERS_SCHEMA), strict=True)}  # fmt: skip
        interactions = after["Interactions"]
        assert not DELETED & set(interactions.columns["USER_ID"].tolist())
        assert "s-u1" not in set(interactions.columns["_session_id"].tolist())
        assert "lonely" not in set(interactions.columns["ITEM_ID"].tolist())
        assert interactions.num_rows == 1200 - 60 + 3  # u5's events stay
        assert [(g.import_job_arn, g.import_mode, g.effective) for g in interactions.imports] == [
            (g.import_job_arn, g.import_mode, g.effective) for g in before["Interactions"].imports
        ]
        assert sorted(after["Users"].columns["USER_ID"].tolist()) == ["u3"]
        _poll(lambda: all(not watermarks(bootstrap, t) for t in old_topics.values()), "the janitor to delete them")

        # --- Redis: rebuilt from the new generation, nothing of u1/u2 ---------------------------------------
        _poll(lambda: probe.zcard(keys.history(rk.user_subject("u5"))) == 3, "the stream to replay the group")
        _poll(lambda: probe.exists(keys.metadata("user", "u3")) == 1, "the stream to replay the Users rows")
        names = [k.decode() for k in probe.scan_iter(match=keys.pattern(), count=1000)]
        assert not [n for n in names if ":u:u1:" in n or ":u:u2:" in n or ":s:s-u1:" in n or n.endswith(":u1")]
        assert probe.smembers(keys.value_index("user", "MEMBERSHIP", "gold")) == {b"u3"}
        assert probe.exists(keys.metadata("user", "u1"), keys.metadata("user", "u2")) == 0
        assert probe.zscore(keys.popularity_count(), "lonely") is None
        assert probe.zscore(keys.popularity_count(), "i4") is not None
        # The stream held the group while its new generation was written, and never replayed the old one:
        # nothing was dead-lettered.
        assert count_records(bootstrap, dead_letter_topic(prefix)) == 0

        # --- training: a new solution version trains on the new generation, without them -------------------
        solution = personalize.call(
            "CreateSolution", name="popular", recipeArn=POPULARITY, datasetGroupArn=group, performAutoTraining=False
        )["solutionArn"]
        personalize.wait_for("DescribeSolution", "solution", solutionArn=solution)
        version_arn = personalize.call("CreateSolutionVersion", solutionArn=solution)["solutionVersionArn"]
        version = personalize.wait_for(
            "DescribeSolutionVersion", "solutionVersion", ("ACTIVE", "CREATE FAILED"), timeout=180,
            solutionVersionArn=version_arn,
        )  # fmt: skip
        assert version["status"] == "ACTIVE", version.get("failureReason")
        with storage.records(bootstrap, prefix) as view:
            model_dir = storage.solution_version_dir(view, store, version_arn)
        manifest = json.loads((model_dir / "manifest.json").read_text())
        trained = manifest["snapshot"]["Interactions"]
        assert (trained["topic"], trained["rows"]) == (new_topics["Interactions"], 1200 - 60 + 3)
        assert "lonely" not in json.loads((model_dir / "item_index.json").read_text())

        # --- batch: a batch inference job on that version knows nothing of them -----------------------------
        (tmp_path / "batch-in").mkdir()
        (tmp_path / "batch-in" / "users.json").write_text(
            "".join(json.dumps({"userId": u}) + "\n" for u in ("u1", "u2", "never-seen", "u5"))
        )
        batch_arn = personalize.call(
            "CreateBatchInferenceJob", jobName="after-deletion", solutionVersionArn=version_arn, roleArn=ROLE,
            jobInput={"s3DataSource": {"path": f"file://{tmp_path}/batch-in/"}},
            jobOutput={"s3DataDestination": {"path": f"file://{tmp_path}/batch-out/"}},
        )["batchInferenceJobArn"]  # fmt: skip
        batch = personalize.wait_for(
            "DescribeBatchInferenceJob", "batchInferenceJob", ("ACTIVE", "CREATE FAILED"), timeout=120,
            batchInferenceJobArn=batch_arn,
        )  # fmt: skip
        assert batch["status"] == "ACTIVE", batch.get("failureReason")
        lines = [json.loads(x) for x in (tmp_path / "batch-out" / "users.json.out").read_text().splitlines()]
        answers = {line["input"]["userId"]: line["output"]["recommendedItems"] for line in lines}
        assert set(answers) == {"u1", "u2", "never-seen", "u5"} and all(answers.values())
        assert not any("lonely" in items for items in answers.values())
        assert answers["u1"] == answers["u2"] == answers["never-seen"]  # a deleted user is a stranger
    finally:
        probe.close()
        personalize.close()
        events.close()


def test_events_written_while_a_deletion_runs_are_kept_across_the_switch(
    spawn_service: Callable[..., RunningService],
) -> None:
    """PutEvents keep arriving while the job rewrites the topic: every acknowledged event of a kept user is in
    the new generation (written to the old topic and copied with its tail, or written to the new one after the
    switch), and none of the deleted user's events from before the job is."""
    control = spawn_service("control")
    ingest = spawn_service("ingest")
    spawn_service("stream", wait=False)
    bootstrap, prefix = control.env["TAILOR_KAFKA_BOOTSTRAP"], control.env["TAILOR_TOPIC_PREFIX"]
    personalize = Client(control.address, "control")
    try:
        clicks = personalize.call("CreateSchema", name="clicks", schema=json.dumps(INTERACTIONS))["schemaArn"]
        group = personalize.call("CreateDatasetGroup", name="live")["datasetGroupArn"]
        personalize.wait_for("DescribeDatasetGroup", "datasetGroup", datasetGroupArn=group)
        dataset = personalize.call(
            "CreateDataset", name="clicks", schemaArn=clicks, datasetGroupArn=group, datasetType="Interactions"
        )["datasetArn"]
        personalize.wait_for("DescribeDataset", "dataset", datasetArn=dataset)
        tracker = personalize.call("CreateEventTracker", name="web", datasetGroupArn=group)
        personalize.wait_for("DescribeEventTracker", "eventTracker", eventTrackerArn=tracker["eventTrackerArn"])
        acknowledged: dict[str, list[str]] = {"u1": [], "u5": []}
        stop = threading.Event()

        def writer() -> None:
            events = Client(ingest.address, "events")
            try:
                n = 0
                while not stop.is_set():
                    for user in ("u1", "u5"):
                        item = f"{user}-e{n}"
                        event = {"eventType": "click", "itemId": item, "sentAt": time.time()}
                        request = {"trackingId": tracker["trackingId"], "userId": user, "sessionId": f"s-{user}",
                                   "eventList": [event]}  # fmt: skip
                        retry_until_visible(functools.partial(events.call, "PutEvents", **request))
                        acknowledged[user].append(item)
                    n += 1
            finally:
                events.close()

        thread = threading.Thread(target=writer, daemon=True)
        thread.start()
        _poll(lambda: len(acknowledged["u5"]) >= 200, "events before the job")
        before_job = list(acknowledged["u1"])
        users_csv = control.log_path.parent / "forget-u1.csv"
        users_csv.write_text("USER_ID\nu1\n")
        job = _deletion(personalize, group, "forget-live", f"file://{users_csv}")
        assert job["status"] == "COMPLETED", job.get("failureReason")
        time.sleep(1.0)
        stop.set()
        thread.join(30)
        with storage.records(bootstrap, prefix) as view:
            topic = storage.dataset_topic(view, prefix, dataset)
        items = read_dataset(bootstrap, topic, "Interactions", INTERACTIONS).columns["ITEM_ID"].tolist()
        assert set(acknowledged["u5"]) <= set(items), sorted(set(acknowledged["u5"]) - set(items))[:10]
        assert not set(before_job) & set(items)
        assert len(acknowledged["u5"]) > len(before_job) + 10  # writes really went on during the job
    finally:
        personalize.close()
