"""Metric attribution end to end on the real stack (ADR 0022): control, ingest and stream processes on real Kafka
and Redis. A recommendation the runtime published, PutEvents with recommendationId / eventAttributionSource /
explicit impressions, and an INCREMENTAL import with publishAttributionMetricsToS3 are counted into the stream's
``tailor_stream_attribution_metric_value`` series (scraped from its /metrics, the series the Grafana dashboard's
attribution row plots), the import's report file is written in the guide's format, and impression counts land
in Redis."""

from __future__ import annotations

import asyncio
import csv
import json
import re
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from confluent_kafka import Producer

from tailor_runtime.adapters import RedisState
from tailor_shared import redis_keys as rk
from tailor_shared import storage
from tailor_shared.schemas import avro_record
from tailor_shared.scoring.impressions import impression_discount
from tailor_shared.topics import impressions_topic
from tailor_tools.client import Client
from tests.conftest import RunningService
from tests.integration.test_ingest_with_control import retry_until_visible
from tests.support.worlds import events_group

pytestmark = pytest.mark.integration

ROLE = "arn:aws:iam::000000000000:role/personalize"
ROOT = Path(__file__).resolve().parents[2]
SCHEMA = avro_record(
    "Interactions",
    "USER_ID",
    "ITEM_ID",
    "EVENT_TYPE",
    {"name": "EVENT_VALUE", "type": ["null", "float"]},
    {"name": "IMPRESSION", "type": ["null", "string"]},
    {"name": "EVENT_ATTRIBUTION_SOURCE", "type": ["null", "string"]},
    "TIMESTAMP",
)
SERIES = "tailor_stream_attribution_metric_value"


def _scrape(stream: RunningService) -> dict[tuple[str, str], float]:
    """(metric, source) -> value of the attribution series on the stream's /metrics page."""
    try:
        with urllib.request.urlopen(f"http://{stream.address}/metrics", timeout=5) as reply:
            text = reply.read().decode()
    except OSError:  # still starting
        return {}
    out: dict[tuple[str, str], float] = {}
    for line in text.splitlines():
        if line.startswith(SERIES + "{"):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', line[: line.rindex("}")]))
            out[(labels["metric"], labels["source"])] = float(line.rsplit(" ", 1)[1])
    return out


def _wait_for(stream: RunningService, want: dict[tuple[str, str], float], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    got: dict[tuple[str, str], float] = {}
    while time.monotonic() < deadline:
        got = _scrape(stream)
        if all(got.get(k) == v for k, v in want.items()):
            return
        time.sleep(0.2)
    notes = [line for line in stream.log().splitlines() if "attribution" in line or "Error" in line]
    raise AssertionError(f"attribution series {got} never reached {want}\n" + "\n".join(notes[-30:]))


async def _counts(url: str, keys: rk.Keys) -> tuple[dict[str, int], dict[str, int]]:
    state = RedisState(url, 10)
    try:
        return await state.impression_counts(keys)
    finally:
        await state.close()


def test_metric_attribution_counts_events_imports_and_impressions(
    spawn_service: Callable[..., RunningService], tmp_path: Path
) -> None:
    control = spawn_service("control")
    ingest = spawn_service("ingest")
    stream = spawn_service("stream", TAILOR_STREAM_JANITOR_INTERVAL_S="0")
    bootstrap, prefix = control.env["TAILOR_KAFKA_BOOTSTRAP"], control.env["TAILOR_TOPIC_PREFIX"]
    personalize = Client(control.address, "control")
    events = Client(ingest.address, "events")
    world = events_group(personalize, "attr", SCHEMA)
    group, dataset, tracker = world.group, world.dataset, world.tracker
    reports = tmp_path / "metrics"
    attribution = personalize.call(
        "CreateMetricAttribution",
        name="shop-metrics",
        datasetGroupArn=group,
        metrics=[
            {"eventType": "click", "expression": "SAMPLECOUNT()", "metricName": "CLICKS"},
            {"eventType": "purchase", "expression": "SUM(Interactions.EVENT_VALUE)", "metricName": "REVENUE"},
        ],
        metricsOutputConfig={"roleArn": ROLE, "s3DataDestination": {"path": f"file://{reports}/"}},
    )["metricAttributionArn"]
    personalize.wait_for("DescribeMetricAttribution", "metricAttribution", metricAttributionArn=attribution)
    listed = personalize.call("ListMetricAttributionMetrics", metricAttributionArn=attribution)["metrics"]
    assert [m["metricName"] for m in listed] == ["CLICKS", "REVENUE"]

    # The runtime's record of a GetRecommendations answer (the JSON its Impressions producer writes).
    campaign = "arn:aws:personalize:us-east-1:000000000000:campaign/shop"
    producer = Producer({"bootstrap.servers": bootstrap})
    body = {"recommendationId": "RID-1", "campaignArn": campaign, "itemList": ["i1", "i2", "i3"], "timestamp": 0}
    producer.produce(impressions_topic(prefix), json.dumps(body).encode(), b"RID-1")
    assert producer.flush(30) == 0

    now = time.time()
    rid = {"recommendationId": "RID-1"}
    partner = {"metricAttribution": {"eventAttributionSource": "partner"}}
    sent: list[dict[str, Any]] = [
        {"eventType": "click", "itemId": "i1", **rid},
        {"eventType": "click", "itemId": "i2", **rid},
        {"eventType": "click", "itemId": "i9", **rid},
        {"eventType": "click", "itemId": "i4", "impression": ["i4", "i5"], **rid},  # explicit impressions win
        {"eventType": "purchase", "itemId": "i3", "eventValue": 10.5, **rid},
        {"eventType": "purchase", "itemId": "i3", "eventValue": 4.5, **rid},
        {"eventType": "click", "itemId": "i7", **partner},
        {"eventType": "click", "itemId": "i8", **partner, **rid},  # eventAttributionSource wins
        {"eventType": "click", "itemId": "i6"},
        {"eventType": "view", "itemId": "i6"},  # no metric for views
    ]
    event_list = [{**e, "sentAt": now - 60 + k} for k, e in enumerate(sent)]
    retry_until_visible(
        lambda: events.call(
            "PutEvents", trackingId=tracker["trackingId"], userId="u1", sessionId="s1", eventList=event_list
        )
    )
    _wait_for(
        stream,
        {
            ("CLICKS", campaign): 4.0,
            ("CLICKS", "partner"): 2.0,
            ("CLICKS", "SOURCE_NAME_UNDEFINED"): 1.0,
            ("REVENUE", campaign): 15.0,
        },
    )
    # The dashboard's attribution row plots the series scraped above.
    dashboard = json.loads((ROOT / "k8s/grafana/tailor-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] if "attribut" in p["title"].lower() for t in p.get("targets", [])]
    assert any(SERIES in e for e in exprs)

    # Implicit impressions (RID-1's list) for the events without explicit ones; explicit ones for the fourth.
    with storage.records(bootstrap, prefix) as view:
        keys = storage.group_keys(view, prefix, group)
    probe: redis.Redis[bytes] = redis.Redis.from_url(control.env["TAILOR_REDIS_URL"])
    try:
        shown = {k.decode(): int(v) for k, v in probe.hgetall(keys.impressions_shown()).items()}
        chosen = {k.decode(): int(v) for k, v in probe.hgetall(keys.impressions_chosen()).items()}
    finally:
        probe.close()
    assert shown == {"i1": 6, "i2": 6, "i3": 6, "i4": 1, "i5": 1}
    assert chosen == {"i1": 1, "i2": 1, "i3": 2, "i4": 1}
    # The runtime reads them as its exploration discount: (chosen + 5) / (shown + 5).
    counts = asyncio.run(_counts(control.env["TAILOR_REDIS_URL"], keys))
    discount = impression_discount({"i1": 0, "i5": 1, "i4": 2, "never-shown": 3}, 4, *counts)
    assert discount.tolist() == pytest.approx([6 / 11, 5 / 6, 1.0, 1.0])

    # Bulk imports that publish their metrics, 1,000 clicks without a source each: a FULL one (reported in its
    # file only: CloudWatch takes PutEvents and INCREMENTAL data), then an INCREMENTAL one (file and series).
    def bulk(mode: str) -> None:
        data = tmp_path / f"{mode}.csv"
        with data.open("w", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(["USER_ID", "ITEM_ID", "EVENT_TYPE", "TIMESTAMP"])
            writer.writerows([f"u{n % 40}", f"i{n % 50}", "click", int(now) - 3600 + n] for n in range(1000))
        job = personalize.call(
            "CreateDatasetImportJob",
            jobName=mode.lower(),
            datasetArn=dataset,
            roleArn=ROLE,
            dataSource={"dataLocation": f"file://{data}"},
            importMode=mode,
            publishAttributionMetricsToS3=True,
        )["datasetImportJobArn"]
        done = personalize.wait_for(
            "DescribeDatasetImportJob", "datasetImportJob", timeout=120, datasetImportJobArn=job
        )
        assert done["status"] == "ACTIVE"
        deadline = time.monotonic() + 30
        while not list(reports.glob(f"* - {mode} - *.csv")) and time.monotonic() < deadline:
            time.sleep(0.2)
        [report] = reports.glob(f"* - {mode} - *.csv")
        assert report.name.startswith(f"AggregatedAttributionMetrics - {mode} - ")
        lines = report.read_text().splitlines()
        assert lines[0] == "METRIC_NAME, EVENT_TYPE, VALUE, MATH_FUNCTION, EVENT_ATTRIBUTION_SOURCE, TIMESTAMP"
        rows = [[c.strip() for c in line.split(",")] for line in lines[1:]]
        assert {(r[0], r[1], r[3], r[4]) for r in rows} == {("CLICKS", "click", "samplecount", "SOURCE_NAME_UNDEFINED")}
        assert sum(float(r[2]) for r in rows) == 1000.0
        assert all(int(r[5]) % 900 == 0 for r in rows)

    bulk("FULL")
    assert _scrape(stream)[("CLICKS", "SOURCE_NAME_UNDEFINED")] == 1.0
    bulk("INCREMENTAL")
    _wait_for(stream, {("CLICKS", "SOURCE_NAME_UNDEFINED"): 1001.0, ("CLICKS", campaign): 4.0})

    # Deleting the attribution stops publishing its series.
    personalize.call("DeleteMetricAttribution", metricAttributionArn=attribution)
    deadline = time.monotonic() + 30
    while _scrape(stream) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _scrape(stream) == {}
