"""The console's read API through the gateway on the real stack (docs/specs/console-api.md): control, ingest,
stream and gateway processes on real Kafka and Redis, SigV4-signed JSON 1.1 ``Tailor.<Action>`` requests as the
browser sends them. Each action answers a signed caller whose policy allows ``tailor:<Action>``; an unsigned
call, a caller of another account and a policy without the action are refused; bad input gets its typed error.
The training progress comes from the worker's own status reports (the trainer's ``_progress`` format, written to
the job-status topic), the rest from what ingest and the stream really wrote."""

from __future__ import annotations

import csv
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from confluent_kafka import Producer

from tailor_shared.auth import Credential
from tailor_shared.jobs.protocol import StatusUpdate, job_status_topic
from tailor_shared.schemas import avro_record
from tailor_tools.client import Client
from tests.conftest import RunningService
from tests.integration.test_ingest_with_control import retry_until_visible
from tests.support.identities import write_credentials
from tests.support.worlds import events_group

pytestmark = pytest.mark.integration

REGION, ACCOUNT, OTHER_ACCOUNT = "us-east-1", "000000000000", "111111111111"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/personalize"
EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples" / "policies"
SCHEMA = avro_record(
    "Interactions",
    "USER_ID",
    "ITEM_ID",
    "EVENT_TYPE",
    {"name": "EVENT_VALUE", "type": ["null", "float"]},
    {"name": "EVENT_ATTRIBUTION_SOURCE", "type": ["null", "string"]},
    "TIMESTAMP",
)
ADMIN = Credential("CONSOLEADMINKEY01", "console-admin-secret-0123", ACCOUNT, f"arn:aws:iam::{ACCOUNT}:user/admin")
ANALYST = Credential("CONSOLEANALYST01", "console-analyst-secret-01", ACCOUNT, f"arn:aws:iam::{ACCOUNT}:user/analyst")
APP = Credential("CONSOLESHOPAPP01", "console-shop-app-secret-1", ACCOUNT, f"arn:aws:iam::{ACCOUNT}:role/shop-app")
OTHER = Credential(
    "CONSOLEOTHERACCT1", "console-other-secret-0123", OTHER_ACCOUNT, f"arn:aws:iam::{OTHER_ACCOUNT}:user/admin"
)
TREND_S = 1800  # one of the stream's default trend window sizes


class Console:
    """The browser's way in: POST / with ``X-Amz-Target: Tailor.<Action>``, SigV4 for service ``personalize``."""

    def __init__(self, address: str, credential: Credential | None) -> None:
        self.address = address
        self.credential = credential

    def raw(self, action: str, body: bytes) -> tuple[int, dict[str, Any]]:
        request = AWSRequest(
            method="POST",
            url=f"http://{self.address}/",
            data=body,
            headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"Tailor.{action}"},
        )
        if self.credential is not None:
            keys = Credentials(self.credential.access_key_id, self.credential.secret_access_key)
            SigV4Auth(keys, "personalize", REGION).add_auth(request)
        headers = dict(request.headers.items())
        prepared = urllib.request.Request(f"http://{self.address}/", data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(prepared, timeout=30) as reply:
                return reply.status, json.loads(reply.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())

    def call(self, action: str, **body: Any) -> dict[str, Any]:
        status, reply = self.raw(action, json.dumps(body).encode())
        assert status == 200, (action, status, reply)
        return reply

    def error(self, action: str, **body: Any) -> str:
        status, reply = self.raw(action, json.dumps(body).encode())
        assert status != 200, (action, reply)
        return str(reply["__type"])


@pytest.fixture
def world(
    tmp_path: Path, spawn_service: Callable[..., RunningService]
) -> tuple[dict[str, RunningService], Client, Client]:
    creds = write_credentials(tmp_path / "credentials.json", (ADMIN, ANALYST, APP, OTHER))
    policies = tmp_path / "policies.json"
    admin, analyst, shop = (
        str(EXAMPLES / n) for n in ("admin.json", "analyst-read-only.json", "shop-application.json")
    )
    policies.write_text(
        json.dumps(
            {
                "principals": {
                    ADMIN.principal_arn: [admin],
                    ANALYST.principal_arn: [analyst],
                    APP.principal_arn: [shop],
                    OTHER.principal_arn: [admin],
                }
            }
        )
    )
    auth = {"TAILOR_CREDENTIALS_FILE": str(creds), "TAILOR_POLICIES_FILE": str(policies)}
    control = spawn_service("control", **auth)
    ingest = spawn_service("ingest", **auth)
    stream = spawn_service("stream", TAILOR_STREAM_JANITOR_INTERVAL_S="0")
    gateway = spawn_service("gateway", TAILOR_GATEWAY_CONTROL_ADDRESS=control.address, **auth)
    services = {"control": control, "ingest": ingest, "stream": stream, "gateway": gateway}
    return (
        services,
        Client(control.address, "control", credential=ADMIN),
        Client(ingest.address, "events", credential=ADMIN),
    )


def _wait(
    read: Callable[[], dict[str, Any]], done: Callable[[dict[str, Any]], bool], timeout: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    reply = read()
    while not done(reply) and time.monotonic() < deadline:
        time.sleep(0.2)
        reply = read()
    assert done(reply), reply
    return reply


def test_console_reads_through_the_gateway(
    world: tuple[dict[str, RunningService], Client, Client], tmp_path: Path
) -> None:
    services, personalize, events = world
    gateway = services["gateway"].address
    admin, analyst = Console(gateway, ADMIN), Console(gateway, ANALYST)
    shop, other, anonymous = Console(gateway, APP), Console(gateway, OTHER), Console(gateway, None)
    ev = events_group(personalize, "console", SCHEMA)

    # --- a user's recent events and the group's trends: PutEvents -> Kafka -> stream -> Redis -> console
    base = (int(time.time()) // TREND_S - 4) * TREND_S  # four whole windows ago: all complete, none in the future
    sent = [
        ("i1", "click", None, base + 10),  # the previous window: i1 once
        ("i1", "click", None, base + TREND_S + 10),  # the current window: i1 once, i2 three times
        ("i2", "click", None, base + TREND_S + 20),
        ("i2", "purchase", 12.5, base + TREND_S + 30),
        ("i2", "click", None, base + TREND_S + 40),
        ("i3", "click", None, base + 2 * TREND_S + 10),  # newest: makes [base + TREND_S, +TREND_S) complete
    ]
    event_list = [
        {"eventType": t, "itemId": i, "sentAt": at, **({"eventValue": v} if v is not None else {})}
        for i, t, v, at in sent
    ]
    retry_until_visible(
        lambda: events.call(
            "PutEvents", trackingId=ev.tracker["trackingId"], userId="u1", sessionId="s1", eventList=event_list
        )
    )
    recent = _wait(
        lambda: admin.call("ListRecentEvents", datasetGroupArn=ev.group, userId="u1"),
        lambda r: len(r["events"]) == len(sent),
    )["events"]
    assert [(e["itemId"], e["eventType"], e.get("eventValue"), e["sentAt"]) for e in recent] == [
        (i, t, v, float(at)) for i, t, v, at in reversed(sent)
    ]
    assert [
        e["itemId"]
        for e in analyst.call("ListRecentEvents", datasetGroupArn=ev.group, userId="u1", maxResults=2)["events"]
    ] == ["i3", "i2"]
    assert admin.call("ListRecentEvents", datasetGroupArn=ev.group, userId="nobody") == {"events": []}

    trends = admin.call("ListTrendingItems", datasetGroupArn=ev.group, windowSizeSeconds=TREND_S)
    assert trends["windowStartDateTime"] == float(base + TREND_S)
    assert [(t["itemId"], t["interactions"], t["previousInteractions"], t["growth"]) for t in trends["items"]] == [
        ("i2", 3, 0, 3.0),
        ("i1", 1, 1, 0.0),
    ]
    assert analyst.call("ListTrendingItems", datasetGroupArn=ev.group, windowSizeSeconds=3 * 86400) == {
        "windowSizeSeconds": 3 * 86400,
        "items": [],
    }

    # --- metric attribution totals (the stream's attribution worker)
    attribution = personalize.call(
        "CreateMetricAttribution",
        name="console-metrics",
        datasetGroupArn=ev.group,
        metrics=[{"eventType": "purchase", "expression": "SUM(Interactions.EVENT_VALUE)", "metricName": "REVENUE"}],
        metricsOutputConfig={"roleArn": ROLE},
    )["metricAttributionArn"]
    personalize.wait_for("DescribeMetricAttribution", "metricAttribution", metricAttributionArn=attribution)
    empty = admin.call("GetMetricAttributionValues", metricAttributionArn=attribution)
    assert empty["metricAttributionArn"] == attribution and empty["values"] == []
    sent_at = time.time()
    purchase = {
        "eventType": "purchase",
        "itemId": "i4",
        "eventValue": 7.25,
        "sentAt": sent_at,
        "metricAttribution": {"eventAttributionSource": "newsletter"},
    }
    events.call("PutEvents", trackingId=ev.tracker["trackingId"], userId="u2", sessionId="s2", eventList=[purchase])
    values = _wait(
        lambda: analyst.call("GetMetricAttributionValues", metricAttributionArn=attribution),
        lambda r: bool(r["values"]),
    )
    assert values["values"] == [{"metricName": "REVENUE", "eventAttributionSource": "newsletter", "value": 7.25}]
    assert values["readDateTime"] > sent_at - 5

    # --- import progress (ingest's importer reports it to control)
    data = tmp_path / "interactions.csv"
    with data.open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["USER_ID", "ITEM_ID", "EVENT_TYPE", "TIMESTAMP"])
        writer.writerows([f"u{n % 7}", f"i{n % 11}", "click", base + n] for n in range(1000))
    job = personalize.call(
        "CreateDatasetImportJob",
        jobName="console-import",
        datasetArn=ev.dataset,
        roleArn=ROLE,
        dataSource={"dataLocation": f"file://{data}"},
    )["datasetImportJobArn"]
    progress = _wait(
        lambda: admin.call("DescribeDatasetImportJobProgress", datasetImportJobArn=job)["importProgress"],
        lambda p: p["status"] in ("ACTIVE", "CREATE FAILED"),
        timeout=120,
    )
    described = personalize.call("DescribeDatasetImportJob", datasetImportJobArn=job)["datasetImportJob"]
    assert progress["status"] == "ACTIVE", described.get("failureReason")
    assert progress["datasetImportJobArn"] == job
    assert progress["percentComplete"] == 100.0 and progress["recordsImported"] == 1000
    assert progress["lastUpdatedDateTime"] > 0

    # --- training progress: the trainer's per-epoch reports on the job-status topic, merged by control
    solution = personalize.call(
        "CreateSolution",
        name="console-sol",
        datasetGroupArn=ev.group,
        recipeArn="arn:aws:personalize:::recipe/aws-user-personalization",
    )["solutionArn"]
    personalize.wait_for("DescribeSolution", "solution", solutionArn=solution)
    version = personalize.call("CreateSolutionVersion", solutionArn=solution)["solutionVersionArn"]
    pending = admin.call("DescribeTrainingProgress", solutionVersionArn=version)["trainingProgress"]
    assert pending["solutionVersionArn"] == version and pending["lossHistory"] == []
    assert "epoch" not in pending
    producer = Producer({"bootstrap.servers": services["control"].env["TAILOR_KAFKA_BOOTSTRAP"]})
    topic = job_status_topic(services["control"].env["TAILOR_TOPIC_PREFIX"])
    for epoch, loss in enumerate((5.5, 4.25, 3.0), start=1):
        report = {"_progress": {"stage": "training", "epoch": epoch, "maxEpochs": 10, "loss": loss}}
        update = StatusUpdate(version, "CREATE IN_PROGRESS", fields=report)
        producer.produce(topic, update.to_json(), version.encode())
    assert producer.flush(30) == 0
    training = _wait(
        lambda: analyst.call("DescribeTrainingProgress", solutionVersionArn=version)["trainingProgress"],
        lambda p: len(p["lossHistory"]) == 3,
    )
    assert training["status"] == "CREATE IN_PROGRESS"
    assert (training["stage"], training["epoch"], training["maxEpochs"], training["loss"]) == ("training", 3, 10, 3.0)
    assert training["lossHistory"] == [
        {"stage": "training", "epoch": 1, "loss": 5.5},
        {"stage": "training", "epoch": 2, "loss": 4.25},
        {"stage": "training", "epoch": 3, "loss": 3.0},
    ]

    # --- refusals: unsigned, a policy without tailor:* actions, another account; the resource is unchanged
    requests = [
        ("DescribeTrainingProgress", {"solutionVersionArn": version}),
        ("DescribeDatasetImportJobProgress", {"datasetImportJobArn": job}),
        ("ListRecentEvents", {"datasetGroupArn": ev.group, "userId": "u1"}),
        ("ListTrendingItems", {"datasetGroupArn": ev.group}),
        ("GetMetricAttributionValues", {"metricAttributionArn": attribution}),
    ]
    for action, body in requests:
        status, reply = anonymous.raw(action, json.dumps(body).encode())
        assert (status, reply["__type"]) == (403, "MissingAuthenticationTokenException"), action
        assert shop.error(action, **body) == "AccessDeniedException", action
        assert other.error(action, **body) == "AccessDeniedException", action
    denied = shop.raw("ListRecentEvents", json.dumps(requests[2][1]).encode())[1]["message"]
    assert "tailor:ListRecentEvents" in denied and APP.principal_arn in denied
    # Another account's admin sees nothing of this account's even under its own ARNs' names.
    own_arn = ev.group.replace(f":{ACCOUNT}:", f":{OTHER_ACCOUNT}:")
    assert other.error("ListTrendingItems", datasetGroupArn=own_arn) == "ResourceNotFoundException"

    # --- bad input
    missing_group = ev.group + "-nope"
    assert admin.error("ListRecentEvents", datasetGroupArn=ev.group) == "InvalidInputException"  # no userId
    assert (
        admin.error("ListRecentEvents", datasetGroupArn=ev.group, userId="u1", maxResults=0) == "InvalidInputException"
    )
    assert admin.error("ListRecentEvents", datasetGroupArn=ev.group, userId="u1", bogus=1) == "InvalidInputException"
    assert admin.error("ListRecentEvents", datasetGroupArn=ev.group, userId=["u1"]) == "InvalidInputException"
    assert admin.error("ListTrendingItems", datasetGroupArn=ev.group, windowSizeSeconds=5) == "InvalidInputException"
    assert admin.error("ListTrendingItems", datasetGroupArn="not-an-arn") == "InvalidInputException"
    assert admin.error("ListTrendingItems", datasetGroupArn=missing_group) == "ResourceNotFoundException"
    assert admin.error("DescribeTrainingProgress", solutionVersionArn=solution + "/nope") == "ResourceNotFoundException"
    assert admin.error("DescribeDatasetImportJobProgress", datasetImportJobArn=ev.group) == "ResourceNotFoundException"
    assert admin.error("GetMetricAttributionValues") == "InvalidInputException"
    assert admin.error("NoSuchAction") == "UnknownOperationException"
    status, reply = admin.raw("ListTrendingItems", b"not json")
    assert (status, reply["__type"]) == (400, "SerializationException")
