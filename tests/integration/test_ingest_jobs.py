"""Dataset import and export jobs through the real jobs topic, worker and Kafka: MovieLens imports, FULL vs
INCREMENTAL, malformed input, folders, retried attempts, exports with the guide's duplicate rules, and both on
the stack's real S3 server."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import grpc
import numpy as np
import pytest

from tailor.events.v1 import events_pb2, events_pb2_grpc
from tailor_ingest.adapters import BulkProducer, TopicGuard
from tailor_ingest.config import IngestSettings
from tailor_ingest.server import build
from tailor_shared import arns
from tailor_shared.avro import AvroCodec
from tailor_shared.config import S3Settings
from tailor_shared.dataset_reader import DatasetSnapshot, count_records, import_start_marker, read_dataset
from tailor_shared.grpc_server import start_server
from tailor_shared.jobs import JobRecord, JobType
from tailor_shared.objectstore import ObjectStore
from tailor_shared.records import RowContext, encode_row
from tailor_shared.schemas import avro_record
from tailor_shared.topics import topic_spec
from tailor_tools import identity, localstack, seed
from tailor_tools.client import aio_channel

pytestmark = pytest.mark.integration


def async_stub(channel: grpc.aio.Channel) -> events_pb2_grpc.PersonalizeEventsAsyncStub:
    return cast("events_pb2_grpc.PersonalizeEventsAsyncStub", events_pb2_grpc.PersonalizeEventsStub(channel))


DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"
EVENT_VALUE: dict[str, Any] = {"name": "EVENT_VALUE", "type": ["null", "float"], "default": None}
RATINGS_SCHEMA = avro_record("Interactions", "USER_ID", "ITEM_ID", EVENT_VALUE, "TIMESTAMP")
SCHEMAS = {"Interactions": RATINGS_SCHEMA, "Items": seed.SCHEMAS["Items"], "Actions": seed.SCHEMAS["Actions"]}
HEADER = ["USER_ID", "ITEM_ID", "EVENT_VALUE", "TIMESTAMP"]


@dataclass
class Env:
    stub: events_pb2_grpc.PersonalizeEventsAsyncStub
    group: seed.SeededGroup
    bootstrap: str
    prefix: str

    def topic(self, dataset_type: str) -> str:
        return self.group.topic(self.prefix, dataset_type)

    def snapshot(self, dataset_type: str, **options: Any) -> DatasetSnapshot:
        return read_dataset(self.bootstrap, self.topic(dataset_type), dataset_type, SCHEMAS[dataset_type], **options)

    def job(self, kind: str, name: str, dataset_type: str, payload: dict[str, Any]) -> JobRecord:
        if kind == "import":
            arn = arns.dataset_import_job_arn("us-east-1", "000000000000", f"{self.prefix}-{name}")
            job_type, resource_type, arn_field = JobType.DATASET_IMPORT, "datasetImportJob", "datasetImportJobArn"
        else:
            arn = arns.dataset_export_job_arn("us-east-1", "000000000000", f"{self.prefix}-{name}")
            job_type, resource_type, arn_field = JobType.DATASET_EXPORT, "datasetExportJob", "datasetExportJobArn"
        body = {
            arn_field: arn,
            "datasetArn": self.group.dataset_arn(dataset_type),
            "jobName": name,
            "datasetGroupArn": self.group.group_arn,
            "datasetType": dataset_type,
            "schemaArn": self.group.schema_arns[dataset_type],
            "status": "CREATE PENDING",
            **payload,
        }
        return JobRecord(job_type, arn, resource_type, body, time.time())

    async def run(self, job: JobRecord) -> list[dict[str, Any]]:
        seed.submit_job(self.bootstrap, self.prefix, job)
        return await asyncio.to_thread(seed.wait_for_status, self.bootstrap, self.prefix, job.resource_arn)

    async def run_import(
        self, name: str, location: Path | str, mode: str = "FULL", dataset_type: str = "Interactions"
    ) -> list[dict[str, Any]]:
        where = location if isinstance(location, str) else f"file://{location}"
        return await self.run(
            self.job("import", name, dataset_type, {"dataSource": {"dataLocation": where}, "importMode": mode})
        )

    async def run_export(
        self, name: str, destination: Path | str, mode: str | None, dataset_type: str = "Items"
    ) -> list[dict[str, Any]]:
        where = destination if isinstance(destination, str) else f"file://{destination}"
        payload: dict[str, Any] = {"jobOutput": {"s3DataDestination": {"path": where}}}
        if mode is not None:
            payload["ingestionMode"] = mode
        return await self.run(self.job("export", name, dataset_type, payload))


@pytest.fixture
async def env(stack: localstack.StackConfig, topic_prefix: str) -> AsyncIterator[Env]:
    group = seed.seed_group(stack.kafka_bootstrap, topic_prefix, "ml", SCHEMAS)
    settings = IngestSettings.from_env(
        {
            "TAILOR_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
            "TAILOR_TOPIC_PREFIX": topic_prefix,
            "TAILOR_INGEST_PORT": "0",
            "TAILOR_INGEST_PROGRESS_INTERVAL_S": "0.2",
            **stack.s3_env(),
            **identity.ensure(stack.state_dir).env(),
        }
    )
    services, hooks = await build(settings)  # gRPC API + the job worker, as `python -m tailor_ingest`
    handle = await start_server(settings.common, services)
    channel = aio_channel(f"127.0.0.1:{handle.port}")
    try:
        yield Env(async_stub(channel), group, stack.kafka_bootstrap, topic_prefix)
    finally:
        await channel.close()
        await handle.stop()
        for hook in hooks:
            await hook()


def ml100k_csv(path: Path) -> int:
    """u.data is TAB-separated without a header: user, item, rating, timestamp."""
    rows = [line.split("\t") for line in (DATASETS / "ml-100k" / "u.data").read_text().splitlines()]
    write_csv(path, HEADER, [[u, i, r, t] for u, i, r, t in rows])
    return len(rows)


def ml_latest_csv(path: Path, limit: int | None = None) -> int:
    """ratings.csv (userId,movieId,rating,timestamp) with the header renamed to the schema's fields."""
    with (DATASETS / "ml-latest-small" / "ratings.csv").open(newline="") as f:
        rows = list(csv.reader(f))[1:]
    rows = rows[:limit] if limit else rows
    write_csv(path, HEADER, rows)
    return len(rows)


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def has_rating(snapshot: DatasetSnapshot, user: str, item: str, timestamp: int) -> bool:
    c = snapshot.columns
    return bool(np.any((c["USER_ID"] == user) & (c["ITEM_ID"] == item) & (c["TIMESTAMP"] == timestamp)))


async def put_three_events(env: Env) -> None:
    assert env.group.tracking_id is not None
    await env.stub.PutEvents(
        events_pb2.PutEventsRequest(
            tracking_id=env.group.tracking_id,
            session_id="s",
            user_id="put-user",
            event_list=[
                events_pb2.Event(event_type="rate", item_id=f"put-{n}", sent_at=1_700_000_000 + n, event_value=5)
                for n in range(3)
            ],
        )
    )


async def test_movielens_imports_full_and_incremental(env: Env, tmp_path: Path) -> None:
    await put_three_events(env)
    n100k = ml100k_csv(tmp_path / "ml100k.csv")
    statuses = await env.run_import("ml100k", tmp_path / "ml100k.csv")
    assert statuses[0]["status"] == "CREATE IN_PROGRESS"
    assert statuses[-1]["status"] == "ACTIVE", statuses[-1]
    assert statuses[-1]["fields"]["_recordsImported"] == n100k == 100_000
    progress = [s["fields"]["_progressPercent"] for s in statuses[1:-1]]
    assert progress and all(0 < p < 100 for p in progress) and progress == sorted(progress)
    first = env.snapshot("Interactions")
    assert first.num_rows == 100_000 + 3
    assert has_rating(first, "196", "242", 881250949)  # the first line of u.data
    assert float(first.columns["EVENT_VALUE"][np.flatnonzero(first.columns["USER_ID"] == "196")[0]]) in (
        1.0,
        2.0,
        3.0,
        4.0,
        5.0,
    )

    ml_latest_csv(tmp_path / "latest-1000.csv", limit=1000)
    statuses = await env.run_import("latest-incremental", tmp_path / "latest-1000.csv", "INCREMENTAL")
    assert statuses[-1]["status"] == "ACTIVE", statuses[-1]
    second = env.snapshot("Interactions")
    assert second.num_rows == 100_000 + 1000 + 3  # INCREMENTAL adds

    n_latest = ml_latest_csv(tmp_path / "latest.csv")
    statuses = await env.run_import("latest-full", tmp_path / "latest.csv", "FULL")
    assert statuses[-1]["status"] == "ACTIVE", statuses[-1]
    third = env.snapshot("Interactions", meta_columns=True)
    # FULL replaces every earlier bulk row, never the individually recorded events.
    assert third.num_rows == n_latest + 3 == 100_836 + 3
    assert not has_rating(third, "196", "242", 881250949)
    assert has_rating(third, "1", "1", 964982703)  # the first rating of ratings.csv
    assert sorted(third.columns["ITEM_ID"][third.columns["_source"] == "put"].tolist()) == ["put-0", "put-1", "put-2"]
    assert [(g.import_mode, g.effective) for g in third.imports] == [
        ("FULL", False),
        ("INCREMENTAL", False),
        ("FULL", True),
    ]
    # A snapshot at earlier offsets still sees the dataset as it was then.
    again = env.snapshot("Interactions", offsets=second.offsets)
    assert again.num_rows == second.num_rows


async def test_items_incremental_replaces_by_id_and_exports_follow_the_duplicate_rules(
    env: Env, tmp_path: Path
) -> None:
    header = ["ITEM_ID", "GENRES", "PRICE", "CREATION_TIMESTAMP"]
    write_csv(
        tmp_path / "items.csv",
        header,
        [["i1", "Drama", "1.5", "100"], ["i2", "Horror|Comedy", "", "200"], ["i3", "", "3", "300"]],
    )
    assert (await env.run_import("items-full", tmp_path / "items.csv", dataset_type="Items"))[-1]["status"] == "ACTIVE"
    write_csv(tmp_path / "more.csv", header, [["i2", "Horror", "9.25", "201"], ["i4", "Kids", "", "400"]])
    statuses = await env.run_import("items-more", tmp_path / "more.csv", "INCREMENTAL", dataset_type="Items")
    assert statuses[-1]["status"] == "ACTIVE"
    items = {row["ITEM_ID"]: row for row in env.snapshot("Items").rows()}
    assert sorted(items) == ["i1", "i2", "i3", "i4"]
    assert items["i2"]["GENRES"] == "Horror" and float(items["i2"]["PRICE"]) == 9.25  # replaced by id

    put = json.dumps({"genres": "Put", "creationTimestamp": 500})
    for _ in range(2):  # an exact duplicate: exported once
        await env.stub.PutItems(
            events_pb2.PutItemsRequest(
                dataset_arn=env.group.dataset_arn("Items"), items=[events_pb2.Item(item_id="i1", properties=put)]
            )
        )
    await env.stub.PutItems(
        events_pb2.PutItemsRequest(
            dataset_arn=env.group.dataset_arn("Items"),
            items=[events_pb2.Item(item_id="i1", properties=json.dumps({"genres": "Put2", "creationTimestamp": 501}))],
        )
    )

    def exported(folder: Path, name: str) -> list[list[str]]:
        [part] = sorted((folder / name).glob("*.csv"))
        with part.open(newline="") as f:
            return list(csv.reader(f, escapechar="\\"))

    assert (await env.run_export("exp-put", tmp_path / "out", None))[-1]["status"] == "ACTIVE"  # default PUT
    put_rows = exported(tmp_path / "out", "exp-put")
    assert put_rows[0] == ["ITEM_ID", "GENRES", "PRICE", "CREATION_TIMESTAMP", "DESCRIPTION"]
    assert put_rows[1:] == [["i1", "Put", "", "500", ""], ["i1", "Put2", "", "501", ""]]

    assert (await env.run_export("exp-bulk", tmp_path / "out", "BULK"))[-1]["status"] == "ACTIVE"
    bulk_rows = exported(tmp_path / "out", "exp-bulk")[1:]
    assert sorted(bulk_rows) == [
        ["i1", "Drama", "1.5", "100", ""],
        ["i2", "Horror", "9.25", "201", ""],
        ["i2", "Horror|Comedy", "", "200", ""],
        ["i3", "", "3.0", "300", ""],
        ["i4", "Kids", "", "400", ""],
    ]

    assert (await env.run_export("exp-all", tmp_path / "out", "ALL"))[-1]["status"] == "ACTIVE"
    all_rows = exported(tmp_path / "out", "exp-all")[1:]
    # ALL: only the newest record per item (the later PutItems beats the bulk row of i1).
    assert sorted(all_rows) == [
        ["i1", "Put2", "", "501", ""],
        ["i2", "Horror", "9.25", "201", ""],
        ["i3", "", "3.0", "300", ""],
        ["i4", "Kids", "", "400", ""],
    ]
    # An exported file imports back unchanged (same CSV dialect both ways).
    statuses = await env.run_import("reimport", tmp_path / "out" / "exp-all" / "part-00000.csv", dataset_type="Items")
    assert statuses[-1]["status"] == "ACTIVE", statuses[-1]

    failed = await env.run_export("exp-actions", tmp_path / "out", "ALL", dataset_type="Actions")
    assert failed[-1]["status"] == "CREATE FAILED" and "can't export" in failed[-1]["failureReason"]


async def test_malformed_imports_fail_with_the_row_and_column_and_write_nothing(env: Env, tmp_path: Path) -> None:
    rows = [[f"u{n % 50}", f"i{n}", "4.0", str(1_600_000_000 + n)] for n in range(1500)]
    rows[6][2] = "four"  # record 7, line 8 (the header is line 1)
    write_csv(tmp_path / "bad-value.csv", HEADER, rows)
    reason = (await env.run_import("bad-value", tmp_path / "bad-value.csv"))[-1]["failureReason"]
    assert reason == (
        "Failed to create a data import job for Interactions dataset. Input CSV bad-value.csv line 8 (record 7), "
        "column EVENT_VALUE: 'four' is not a valid float for EVENT_VALUE"
    )

    write_csv(tmp_path / "no-ts.csv", ["USER_ID", "ITEM_ID"], [["u", "i"]] * 1200)
    reason = (await env.run_import("no-ts", tmp_path / "no-ts.csv"))[-1]["failureReason"]
    assert "Input CSV is missing the following columns:[TIMESTAMP]" in reason

    rows = [[f"u{n}", f"i{n}", "1", str(1_600_000_000 + n)] for n in range(1500)]
    rows[1200][3] = str(1_600_000_000_000)  # milliseconds by mistake
    write_csv(tmp_path / "ms.csv", HEADER, rows)
    reason = (await env.run_import("ms", tmp_path / "ms.csv"))[-1]["failureReason"]
    assert "line 1202 (record 1201), column TIMESTAMP" in reason and "seconds" in reason

    write_csv(tmp_path / "short.csv", HEADER, [[f"u{n}", "i", "1", "1600000000"] for n in range(999)])
    reason = (await env.run_import("short", tmp_path / "short.csv"))[-1]["failureReason"]
    assert "at minimum 1000 interaction records; found 999" in reason

    (tmp_path / "ragged.csv").write_text("USER_ID,ITEM_ID,EVENT_VALUE,TIMESTAMP\nu,i,1,1600000000\nu,i\n")
    reason = (await env.run_import("ragged", tmp_path / "ragged.csv"))[-1]["failureReason"]
    assert "line 3 (record 2)" in reason and "header has 4 columns" in reason

    reason = (await env.run_import("missing", tmp_path / "nowhere.csv"))[-1]["failureReason"]
    assert "Invalid Data location" in reason
    reason = (await env.run_import("s3", "s3://test-no-such-bucket/ratings.csv"))[-1]["failureReason"]
    assert reason.endswith("The S3 bucket test-no-such-bucket does not exist (s3://test-no-such-bucket/ratings.csv).")

    # Validation happens before the first row is written: the dataset topic got nothing.
    assert count_records(env.bootstrap, env.topic("Interactions")) == 0


async def test_a_folder_is_read_one_level_deep(env: Env, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    write_csv(folder / "part-1.csv", HEADER, [[f"u{n}", f"a{n}", "1", "1600000000"] for n in range(600)])
    write_csv(folder / "part-2.csv", HEADER, [[f"u{n}", f"b{n}", "2", "1600000001"] for n in range(600)])
    write_csv(folder / "nested" / "part-3.csv", HEADER, [["u", "c", "3", "1600000002"]] * 5000)
    statuses = await env.run_import("folder", f"file://{folder}/")
    assert statuses[-1]["status"] == "ACTIVE" and statuses[-1]["fields"]["_recordsImported"] == 1200
    assert env.snapshot("Interactions").num_rows == 1200


async def test_a_retried_import_replaces_its_interrupted_attempt(env: Env, tmp_path: Path) -> None:
    job = env.job("import", "retried", "Interactions", {})
    # An earlier attempt of the same job: start markers and 700 rows, then a crash (no complete marker).
    codec = AvroCodec(json.dumps(RATINGS_SCHEMA))
    topic = env.topic("Interactions")
    TopicGuard(env.bootstrap).ensure(topic_spec(env.topic("Interactions"), "Interactions"))
    producer = BulkProducer(env.bootstrap)
    for p in producer.partitions(topic):
        marker = import_start_marker(topic, p, job.resource_arn, "FULL")
        producer.produce(topic, marker.value or b"", marker.key, list(marker.headers), partition=p)
    ctx = RowContext(
        env.group.dataset_arn("Interactions"),
        env.group.schema_arns["Interactions"],
        source="bulk",
        import_job_arn=job.resource_arn,
    )
    for n in range(700):
        record = encode_row(
            topic,
            "Interactions",
            codec,
            {"USER_ID": f"u{n}", "ITEM_ID": "stale", "EVENT_VALUE": 1.0, "TIMESTAMP": 1},
            ctx,
        )
        producer.produce(topic, record.value or b"", record.key, list(record.headers))
    producer.flush_or_raise()
    assert env.snapshot("Interactions").num_rows == 0  # an unfinished import is invisible

    write_csv(tmp_path / "r.csv", HEADER, [[f"u{n}", f"i{n}", "3", "1600000000"] for n in range(1100)])
    statuses = await env.run(
        JobRecord(
            job.job_type,
            job.resource_arn,
            job.resource_type,
            {**job.payload, "dataSource": {"dataLocation": f"file://{tmp_path}/r.csv"}, "importMode": "FULL"},
            time.time(),
        )
    )
    assert statuses[-1]["status"] == "ACTIVE"
    snapshot = env.snapshot("Interactions")
    assert snapshot.num_rows == 1100 and "stale" not in set(snapshot.columns["ITEM_ID"].tolist())


async def test_imports_and_exports_on_the_s3_server(env: Env, s3_bucket: str, tmp_path: Path) -> None:
    """ml-latest-small from a folder on the real S3 server (first level only, as L8007), an export back to it
    (one part object per job), and the failures of a bad path, an empty folder and wrong credentials."""
    store = ObjectStore(S3Settings.from_env(localstack.StackConfig.from_env().s3_env()))
    n = ml_latest_csv(tmp_path / "ratings.csv")
    with (tmp_path / "ratings.csv").open("rb") as src, store.open_write(f"s3://{s3_bucket}/in/ratings.csv") as out:
        out.write(src.read())
    store.write_bytes(f"s3://{s3_bucket}/in/nested/more.csv", (tmp_path / "ratings.csv").read_bytes())
    statuses = await env.run_import("s3-ml", f"s3://{s3_bucket}/in/")
    assert statuses[-1]["status"] == "ACTIVE", statuses[-1]
    assert statuses[-1]["fields"]["_recordsImported"] == n == env.snapshot("Interactions").num_rows

    exported = await env.run_export("s3-exp", f"s3://{s3_bucket}/out/", "BULK", dataset_type="Interactions")
    assert exported[-1]["status"] == "ACTIVE", exported[-1]
    [part] = store.list_objects(f"s3://{s3_bucket}/out/")
    assert part.name == "s3-exp/part-00000.csv"
    with store.open_read(part.url) as raw:
        rows = list(csv.reader(io.TextIOWrapper(raw, encoding="utf-8", newline=""), escapechar="\\"))
    assert rows[0] == HEADER and len(rows) == n + 1

    reason = (await env.run_import("s3-empty", f"s3://{s3_bucket}/nothing/"))[-1]["failureReason"]
    assert f"Invalid Data location s3://{s3_bucket}/nothing/" in reason
    reason = (await env.run_import("s3-bad", "s3://Bad_Bucket/in/"))[-1]["failureReason"]
    assert "Invalid Data location s3://Bad_Bucket/in/" in reason
