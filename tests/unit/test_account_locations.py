"""Which account owns a data location (ADR 0028 §5): the rule, its settings, and the door that applies it to
every request field naming a location."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tailor.control.v1 import control_pb2
from tailor.events.v1 import events_pb2
from tailor.runtime.v1 import runtime_pb2
from tailor_shared.auth import DEV_ACCOUNT_ID, CredentialStore, Principal, SigV4Verifier
from tailor_shared.errors import AccessDeniedException, InvalidInputException
from tailor_shared.grpc_auth import (
    ADMIN_POLICY,
    GrpcAuth,
    GrpcAuthSettings,
    _may_name_locations,
    referenced_locations,
)
from tailor_shared.iam import Authorizer, Policy
from tailor_shared.locations import NOBODY, LocationOwners, parse

A, B = "111111111111", "222222222222"
ENV = {
    "TAILOR_ACCOUNT_LOCATIONS": json.dumps({A: ["s3://alice-data", "file:///srv/alice/"], B: ["s3://shared/bob/"]}),
    "TAILOR_MODEL_STORE": "s3://tailor-models/prod",
    "TAILOR_MODEL_CACHE_DIR": "/var/cache/tailor",
}


def _owners() -> LocationOwners:
    return GrpcAuthSettings.from_env(ENV).locations


@pytest.mark.parametrize(
    ("location", "owner"),
    [
        ("s3://alice-data/interactions.csv", A),
        ("s3://alice-data", A),
        ("s3://alice-database/x.csv", DEV_ACCOUNT_ID),  # a bucket is listed, not a name prefix
        ("s3://shared/bob/out/", B),
        ("s3://shared/bobby/out/", DEV_ACCOUNT_ID),
        ("s3://shared/other/x.csv", DEV_ACCOUNT_ID),  # unlisted: the deployment's own account
        ("file:///srv/alice/in.csv", A),
        ("file:///srv/alice/../bob/in.csv", DEV_ACCOUNT_ID),  # no escaping a folder with ../
        ("s3://shared/bob/../alice/x", DEV_ACCOUNT_ID),
        ("file:///srv//alice/x.csv", A),
        ("s3://tailor-models/prod/000000000000/x", NOBODY),  # the model store is no account's
        ("s3://tailor-models/production/x", DEV_ACCOUNT_ID),
        ("file:///var/cache/tailor/x", NOBODY),
    ],
)
def test_the_longest_listed_prefix_owns_a_location(location: str, owner: str) -> None:
    assert _owners().owner(parse(location)) == owner


def test_check_refuses_with_personalizes_wording_and_leaves_bad_syntax_to_the_operation() -> None:
    owners = _owners()
    owners.check(A, "s3://alice-data/x.csv")
    with pytest.raises(InvalidInputException, match=r"Insufficient privileges for accessing data in s3://alice-data"):
        owners.check(B, "s3://alice-data/x.csv")
    with pytest.raises(InvalidInputException, match="Insufficient privileges"):
        owners.check(DEV_ACCOUNT_ID, "s3://tailor-models/prod/x")  # not even the deployment's account
    owners.check(B, "http://not-a-location")  # the operation's own "Invalid Data location" answers it


@pytest.mark.parametrize(
    "value",
    ["not json", json.dumps(["s3://x"]), json.dumps({"12": ["s3://x/"]}), json.dumps({A: ["s3://X_bad"]})],
)
def test_a_malformed_setting_stops_the_service(value: str) -> None:
    with pytest.raises(ValueError, match="TAILOR_ACCOUNT_LOCATIONS"):
        GrpcAuthSettings.from_env({"TAILOR_ACCOUNT_LOCATIONS": value})


def test_one_location_for_two_accounts_is_refused() -> None:
    with pytest.raises(ValueError, match="two accounts"):
        GrpcAuthSettings.from_env({"TAILOR_ACCOUNT_LOCATIONS": json.dumps({A: ["s3://xyz"], B: ["s3://xyz/"]})})


def test_unset_everything_is_the_deployments_account_but_the_default_store(tmp_path: Path) -> None:
    owners = GrpcAuthSettings.from_env({"TAILOR_MODEL_STORE": str(tmp_path / "models")}).locations
    assert owners.owner(parse("s3://any/x")) == DEV_ACCOUNT_ID
    assert owners.owner(parse(f"file://{tmp_path}/data.csv")) == DEV_ACCOUNT_ID
    assert owners.owner(parse(f"file://{tmp_path}/models/000000000000/up/v/model.onnx")) == NOBODY


def _requests() -> dict[str, object]:
    s3 = control_pb2.S3DataConfig
    return {
        "CreateDatasetImportJob": control_pb2.CreateDatasetImportJobRequest(
            data_source=control_pb2.DataSource(data_location="s3://alice-data/in.csv")
        ),
        "CreateDataDeletionJob": control_pb2.CreateDataDeletionJobRequest(
            data_source=control_pb2.DataSource(data_location="s3://alice-data/users.csv")
        ),
        "CreateDatasetExportJob": control_pb2.CreateDatasetExportJobRequest(
            job_output=control_pb2.DatasetExportJobOutput(s3_data_destination=s3(path="s3://alice-data/out/"))
        ),
        "CreateBatchInferenceJob": control_pb2.CreateBatchInferenceJobRequest(
            job_input=control_pb2.BatchInferenceJobInput(s3_data_source=s3(path="s3://shared/bob/in.json")),
            job_output=control_pb2.BatchInferenceJobOutput(s3_data_destination=s3(path="s3://alice-data/out/")),
        ),
        "CreateBatchSegmentJob": control_pb2.CreateBatchSegmentJobRequest(
            job_input=control_pb2.BatchSegmentJobInput(s3_data_source=s3(path="s3://alice-data/in.json")),
            job_output=control_pb2.BatchSegmentJobOutput(s3_data_destination=s3(path="s3://shared/bob/out/")),
        ),
        "CreateMetricAttribution": control_pb2.CreateMetricAttributionRequest(
            metrics_output_config=control_pb2.MetricAttributionOutput(s3_data_destination=s3(path="s3://alice-data/m/"))
        ),
        "UpdateMetricAttribution": control_pb2.UpdateMetricAttributionRequest(
            metrics_output_config=control_pb2.MetricAttributionOutput(s3_data_destination=s3(path="s3://alice-data/m/"))
        ),
    }


def test_every_operation_that_takes_a_location_names_it_to_the_door() -> None:
    found = {op: referenced_locations(request) for op, request in _requests().items()}
    assert all(found.values()), found
    assert found["CreateBatchInferenceJob"] == ["s3://shared/bob/in.json", "s3://alice-data/out/"]
    assert referenced_locations(control_pb2.DescribeDatasetGroupRequest(dataset_group_arn="arn:x")) == []


@pytest.mark.parametrize("operation", sorted(_requests()))
def test_the_door_refuses_another_accounts_location_after_the_policies(operation: str) -> None:
    request = _requests()[operation]
    alice = Principal(f"arn:aws:iam::{A}:user/alice", A, "ALICE")
    bob = Principal(f"arn:aws:iam::{B}:user/bob", B, "BOB")
    policies: dict[str, tuple[Policy, ...]] = {alice.arn: (ADMIN_POLICY,), bob.arn: (ADMIN_POLICY,)}
    auth = GrpcAuth(SigV4Verifier(CredentialStore([]), "us-east-1"), Authorizer(policies), locations=_owners())
    with pytest.raises(InvalidInputException, match="Insufficient privileges for accessing data in s3://alice-data"):
        auth.authorize(bob, operation, request)
    if "shared/bob" in str(request):
        with pytest.raises(InvalidInputException, match="s3://shared/bob/"):
            auth.authorize(alice, operation, request)  # a job reading one's own data can't write into another's
    else:
        auth.authorize(alice, operation, request)
    nobody = Principal(f"arn:aws:iam::{A}:user/nobody", A, "NOBODY")
    with pytest.raises(AccessDeniedException):  # the policies come first: a denied caller learns nothing more
        auth.authorize(nobody, operation, request)


def test_exactly_the_operations_with_a_location_field_are_walked() -> None:
    """The door walks only request types that can hold a location (the runtime's and events' never do, so
    their hot path pays nothing), and those are exactly the operations this module's door tests cover."""

    def walked(module: Any) -> set[str]:
        messages = module.DESCRIPTOR.message_types_by_name
        return {
            n.removesuffix("Request") for n, d in messages.items() if n.endswith("Request") and _may_name_locations(d)
        }

    assert walked(control_pb2) == set(_requests())
    assert walked(runtime_pb2) == set() and walked(events_pb2) == set()
    assert referenced_locations(runtime_pb2.GetRecommendationsRequest(campaign_arn="s3://x/", user_id="/u")) == []
