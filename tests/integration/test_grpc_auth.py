"""Real control, ingest and runtime processes, authentication on by default (credentials file, the
development credential, docs/examples/policies): unsigned, wrongly signed, expired, unknown and denied calls
get their typed errors and change nothing; allowed calls work; health checks stay open."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tailor_shared import arns
from tailor_shared.auth import DEV_ACCESS_KEY_ID, DEV_CREDENTIAL, DEV_SECRET_ACCESS_KEY, Credential
from tailor_shared.errors import (
    AccessDeniedException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    PersonalizeError,
    ResourceNotFoundException,
    UnrecognizedClientException,
)
from tailor_shared.schemas import avro_record
from tailor_tools.client import Client, health_serving
from tests.conftest import GRPC_HEALTH_NAMES, RunningService
from tests.support.identities import write_credentials

pytestmark = pytest.mark.integration

SCHEMA = avro_record("Interactions", "USER_ID", "ITEM_ID", "EVENT_TYPE", "TIMESTAMP")
POLICIES = Path(__file__).resolve().parents[2] / "docs" / "examples" / "policies" / "policies.yaml"
ACCOUNT, REGION = "000000000000", "us-east-1"
ANALYST = Credential(
    "ANALYSTACCESSKEY01", "analyst-secret-0123456789", ACCOUNT, "arn:aws:iam::000000000000:user/analyst"
)
APP = Credential(
    "SHOPAPPACCESSKEY01", "shop-app-secret-0123456789", ACCOUNT, "arn:aws:iam::000000000000:role/shop-application"
)


@pytest.fixture
def secure(tmp_path: Path, spawn_service: Callable[..., RunningService]) -> Callable[..., dict[str, RunningService]]:
    """Start the named services with authentication required."""
    creds = write_credentials(tmp_path / "credentials.json", (ANALYST, APP))
    env = {  # TAILOR_AUTH_REQUIRED unset: authentication is on by default
        "TAILOR_AUTH_DEV": "1",
        "TAILOR_CREDENTIALS_FILE": str(creds),
        "TAILOR_POLICIES_FILE": str(POLICIES),
    }
    return lambda *names, **extra: {name: spawn_service(name, **env, **extra) for name in names}


def _error(call: Callable[[], object]) -> PersonalizeError:
    with pytest.raises(PersonalizeError) as err:
        call()
    return err.value


def _group_names(control: Client) -> set[str]:
    return {g["name"] for g in control.call("ListDatasetGroups").get("datasetGroups", [])}


def test_unauthenticated_wrong_expired_denied_and_allowed(secure: Callable[..., dict[str, RunningService]]) -> None:
    secured = secure("control")
    address = secured["control"].address
    admin = Client(address, "control", credential=DEV_CREDENTIAL, region=REGION)
    analyst = Client(address, "control", credential=ANALYST, region=REGION)
    anonymous = Client(address, "control", signed=False)
    wrong = Client(address, "control", credential=Credential(ANALYST.access_key_id, "wrong-secret-0123456", "", ""))
    unknown = Client(address, "control", credential=Credential("NOSUCHACCESSKEY01", "whatever-secret-123", "", ""))
    clients = [admin, analyst, anonymous, wrong, unknown]
    try:
        assert health_serving(address, GRPC_HEALTH_NAMES["control"])  # health checks need no credential
        before = _group_names(admin)
        assert isinstance(
            _error(lambda: anonymous.call("CreateDatasetGroup", name="auth-a")), MissingAuthenticationTokenException
        )
        assert isinstance(_error(lambda: wrong.call("CreateDatasetGroup", name="auth-a")), InvalidSignatureException)
        assert isinstance(
            _error(lambda: unknown.call("CreateDatasetGroup", name="auth-a")), UnrecognizedClientException
        )
        denied = _error(lambda: analyst.call("CreateDatasetGroup", name="auth-a"))
        assert isinstance(denied, AccessDeniedException)
        assert "personalize:CreateDatasetGroup" in denied.message and ANALYST.principal_arn in denied.message

        # Expired: signed 20 minutes ago.
        old = Client(
            address,
            "control",
            credential=DEV_CREDENTIAL,
            region=REGION,
            clock=lambda: datetime.now(UTC) - timedelta(minutes=20),
        )
        expired = _error(lambda: old.call("CreateDatasetGroup", name="auth-a"))
        old.close()
        assert isinstance(expired, InvalidSignatureException) and "Signature expired" in expired.message
        assert _group_names(admin) == before  # nothing was created

        # Allowed: the admin creates; the analyst reads but may not delete; the admin deletes.
        dg = admin.call("CreateDatasetGroup", name="auth-a")["datasetGroupArn"]
        assert analyst.call("DescribeDatasetGroup", datasetGroupArn=dg)["datasetGroup"]["name"] == "auth-a"
        assert isinstance(_error(lambda: analyst.call("DeleteDatasetGroup", datasetGroupArn=dg)), AccessDeniedException)
        assert analyst.call("DescribeDatasetGroup", datasetGroupArn=dg)["datasetGroup"]["status"] != "DELETE PENDING"
        admin.wait_for("DescribeDatasetGroup", "datasetGroup", datasetGroupArn=dg)
        admin.call("DeleteDatasetGroup", datasetGroupArn=dg)
    finally:
        for c in clients:
            c.close()


def test_data_plane_operations_are_authorised_per_resource(secure: Callable[..., dict[str, RunningService]]) -> None:
    secured = secure("control", "ingest", "runtime")
    for name, svc in secured.items():
        assert health_serving(svc.address, GRPC_HEALTH_NAMES[name])  # health checks need no credential
    admin = Client(secured["control"].address, "control", credential=DEV_CREDENTIAL, region=REGION)
    runtime_addr, ingest_addr = secured["runtime"].address, secured["ingest"].address
    app_rt = Client(runtime_addr, "runtime", credential=APP, region=REGION)
    analyst_rt = Client(runtime_addr, "runtime", credential=ANALYST, region=REGION)
    anonymous_rt = Client(runtime_addr, "runtime", signed=False)
    app_ev = Client(ingest_addr, "events", credential=APP, region=REGION)
    anonymous_ev = Client(ingest_addr, "events", signed=False)
    admin_ev = Client(ingest_addr, "events", credential=DEV_CREDENTIAL, region=REGION)
    clients = [admin, app_rt, analyst_rt, anonymous_rt, app_ev, anonymous_ev, admin_ev]
    try:
        shop = arns.campaign_arn(REGION, ACCOUNT, "shop-home")
        news = arns.campaign_arn(REGION, ACCOUNT, "news-home")
        # Past authorisation the campaign does not exist: ResourceNotFound proves the call was let through.
        assert isinstance(
            _error(lambda: app_rt.call("GetRecommendations", campaignArn=shop, userId="u")), ResourceNotFoundException
        )
        assert isinstance(
            _error(lambda: app_rt.call("GetRecommendations", campaignArn=news, userId="u")), AccessDeniedException
        )
        assert isinstance(
            _error(lambda: analyst_rt.call("GetRecommendations", campaignArn=shop, userId="u")), AccessDeniedException
        )
        assert isinstance(
            _error(lambda: anonymous_rt.call("GetRecommendations", campaignArn=shop, userId="u")),
            MissingAuthenticationTokenException,
        )

        # PutEvents is authorised on the tracker its trackingId belongs to (docs/examples/policies).
        schema = admin.call("CreateSchema", name="auth-clicks", schema=json.dumps(SCHEMA))["schemaArn"]
        trackers = {}
        for group in ("shop", "news"):
            dg = admin.call("CreateDatasetGroup", name=group)["datasetGroupArn"]
            admin.wait_for("DescribeDatasetGroup", "datasetGroup", datasetGroupArn=dg)
            if group == "shop":
                ds = admin.call(
                    "CreateDataset", name="clicks", schemaArn=schema, datasetGroupArn=dg, datasetType="Interactions"
                )["datasetArn"]
                admin.wait_for("DescribeDataset", "dataset", datasetArn=ds)
            tracker = admin.call("CreateEventTracker", name=f"{group}-tracker", datasetGroupArn=dg)
            admin.wait_for("DescribeEventTracker", "eventTracker", eventTrackerArn=tracker["eventTrackerArn"])
            trackers[group] = tracker["trackingId"]
        event = {"eventType": "click", "sentAt": 1_700_000_000, "itemId": "i1"}

        def put(client: Client, tracking_id: str) -> object:
            return client.call("PutEvents", trackingId=tracking_id, sessionId="s", userId="u", eventList=[event])

        deadline = time.monotonic() + 15
        while True:  # ingest's resource view follows control's topic a few milliseconds behind
            try:
                put(app_ev, trackers["shop"])
                break
            except (AccessDeniedException, ResourceNotFoundException):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert isinstance(_error(lambda: put(app_ev, trackers["news"])), AccessDeniedException)
        # An unknown tracking id only passes a "Resource": "*" statement: the app is denied, the admin is not.
        assert isinstance(_error(lambda: put(app_ev, "no-such-tracker")), AccessDeniedException)
        assert isinstance(_error(lambda: put(admin_ev, "no-such-tracker")), ResourceNotFoundException)
        assert isinstance(_error(lambda: put(anonymous_ev, trackers["shop"])), MissingAuthenticationTokenException)
    finally:
        for c in clients:
            c.close()


def test_gateway_forwards_the_callers_identity(secure: Callable[..., dict[str, RunningService]]) -> None:
    """Through the AWS gateway (boto3), the backend authorises the caller, not the gateway: the gateway signs the
    forwarded call with the caller's own key."""
    control = secure("control")["control"]
    gateway = secure("gateway", TAILOR_GATEWAY_CONTROL_ADDRESS=control.address)["gateway"]

    def client(key: str, secret: str) -> Any:
        return boto3.client(
            "personalize",
            endpoint_url=f"http://{gateway.address}",
            region_name=REGION,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            config=Config(retries={"max_attempts": 1, "mode": "standard"}),
        )

    admin = client(DEV_ACCESS_KEY_ID, DEV_SECRET_ACCESS_KEY)
    analyst = client(ANALYST.access_key_id, ANALYST.secret_access_key)
    with pytest.raises(ClientError) as denied:
        analyst.create_dataset_group(name="gw-auth")
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    assert ANALYST.principal_arn in denied.value.response["Error"]["Message"]
    assert not analyst.list_dataset_groups().get("datasetGroups")  # nothing was created; listing is allowed
    dg = admin.create_dataset_group(name="gw-auth")["datasetGroupArn"]
    assert analyst.describe_dataset_group(datasetGroupArn=dg)["datasetGroup"]["name"] == "gw-auth"
    deadline = time.monotonic() + 30
    while admin.describe_dataset_group(datasetGroupArn=dg)["datasetGroup"]["status"] != "ACTIVE":
        assert time.monotonic() < deadline, "dataset group never ACTIVE"
        time.sleep(0.1)
    with pytest.raises(ClientError) as denied:
        analyst.delete_dataset_group(datasetGroupArn=dg)
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    admin.delete_dataset_group(datasetGroupArn=dg)
