"""The real control and ingest processes together: resources created through control, events through ingest,
and import / export jobs dispatched by control, run by ingest's worker and reported back to control."""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tailor_shared import storage
from tailor_shared.dataset_reader import read_dataset
from tailor_shared.errors import ResourceNotFoundException
from tailor_shared.schemas import avro_record
from tailor_tools.client import Client
from tests.conftest import RunningService

pytestmark = pytest.mark.integration

ROLE = "arn:aws:iam::000000000000:role/PersonalizeRole"
SCHEMA = avro_record("Interactions", "USER_ID", "ITEM_ID", "EVENT_TYPE", "TIMESTAMP")


def retry_until_visible(call: Callable[[], Any], timeout: float = 15.0) -> Any:
    """Ingest's resource view follows control's topic a few milliseconds behind control itself."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except ResourceNotFoundException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_control_dispatches_imports_and_exports_to_the_ingest_worker(
    spawn_service: Callable[..., RunningService], tmp_path: Path
) -> None:
    control = spawn_service("control")
    ingest = spawn_service("ingest")
    personalize = Client(control.address, "control")
    events = Client(ingest.address, "events")
    try:
        schema_arn = personalize.call("CreateSchema", name="clicks", schema=json.dumps(SCHEMA))["schemaArn"]
        group_arn = personalize.call("CreateDatasetGroup", name="shop")["datasetGroupArn"]
        personalize.wait_for("DescribeDatasetGroup", "datasetGroup", datasetGroupArn=group_arn)
        dataset_arn = personalize.call(
            "CreateDataset", name="clicks", schemaArn=schema_arn, datasetGroupArn=group_arn, datasetType="Interactions"
        )["datasetArn"]
        personalize.wait_for("DescribeDataset", "dataset", datasetArn=dataset_arn)
        tracker = personalize.call("CreateEventTracker", name="web", datasetGroupArn=group_arn)
        personalize.wait_for("DescribeEventTracker", "eventTracker", eventTrackerArn=tracker["eventTrackerArn"])

        retry_until_visible(
            lambda: events.call(
                "PutEvents",
                trackingId=tracker["trackingId"],
                sessionId="s1",
                userId="u1",
                eventList=[{"eventType": "click", "itemId": "i1", "sentAt": 1_700_000_000}],
            )
        )

        data = tmp_path / "clicks.csv"
        with data.open("w", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(["USER_ID", "ITEM_ID", "EVENT_TYPE", "TIMESTAMP"])
            writer.writerows([f"u{n % 40}", f"i{n % 300}", "click", 1_600_000_000 + n] for n in range(1500))
        job_arn = personalize.call(
            "CreateDatasetImportJob",
            jobName="clicks-1",
            datasetArn=dataset_arn,
            roleArn=ROLE,
            dataSource={"dataLocation": f"file://{data}"},
        )["datasetImportJobArn"]
        job = personalize.wait_for(
            "DescribeDatasetImportJob", "datasetImportJob", timeout=120, datasetImportJobArn=job_arn
        )
        assert job["status"] == "ACTIVE"

        bad = tmp_path / "bad.csv"
        bad.write_text("USER_ID,ITEM_ID,TIMESTAMP\nu1,i1,1600000000\n")
        failed_arn = personalize.call(
            "CreateDatasetImportJob",
            jobName="clicks-2",
            datasetArn=dataset_arn,
            roleArn=ROLE,
            dataSource={"dataLocation": f"file://{bad}"},
            importMode="INCREMENTAL",
        )["datasetImportJobArn"]
        failed = personalize.wait_for(
            "DescribeDatasetImportJob",
            "datasetImportJob",
            ("CREATE FAILED",),
            timeout=120,
            datasetImportJobArn=failed_arn,
        )
        assert "Input CSV is missing the following columns:[EVENT_TYPE]" in failed["failureReason"]

        bootstrap, prefix = ingest.env["TAILOR_KAFKA_BOOTSTRAP"], ingest.env["TAILOR_TOPIC_PREFIX"]
        with storage.records(bootstrap, prefix) as view:  # the topic of the dataset's incarnation (ADR 0012)
            topic = storage.dataset_topic(view, prefix, dataset_arn)
        snapshot = read_dataset(
            bootstrap,
            topic,
            "Interactions",
            SCHEMA,
        )
        assert snapshot.num_rows == 1500 + 1

        export_arn = personalize.call(
            "CreateDatasetExportJob",
            jobName="clicks-export",
            datasetArn=dataset_arn,
            roleArn=ROLE,
            ingestionMode="ALL",
            jobOutput={"s3DataDestination": {"path": f"file://{tmp_path}/export/"}},
        )["datasetExportJobArn"]
        exported = personalize.wait_for(
            "DescribeDatasetExportJob", "datasetExportJob", timeout=120, datasetExportJobArn=export_arn
        )
        assert exported["status"] == "ACTIVE"
        with (tmp_path / "export" / "clicks-export" / "part-00000.csv").open(newline="") as f:
            rows = list(csv.reader(f))
        assert rows[0] == ["USER_ID", "ITEM_ID", "EVENT_TYPE", "TIMESTAMP"] and len(rows) == 1 + 1501
    finally:
        personalize.close()
        events.close()
    assert ingest.stop() == 0, ingest.log()[-3000:]
