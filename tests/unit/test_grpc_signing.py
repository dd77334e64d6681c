"""SigV4 over gRPC calls (tailor_shared.grpc_auth): what the client signs is what the server verifies, tampering
and expiry are refused with AWS's typed errors, and no secret reaches an error message or a log record."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tailor.control.v1 import control_pb2
from tailor_shared import arns
from tailor_shared.auth import DEV_CREDENTIAL, AuthSettings, Credential, CredentialStore, SigV4Verifier
from tailor_shared.errors import (
    AccessDeniedException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    PersonalizeError,
    UnrecognizedClientException,
)
from tailor_shared.grpc_auth import (
    ADMIN_POLICY,
    GrpcAuth,
    GrpcAuthSettings,
    credential_from_env,
    referenced_arns,
    sign_call,
)
from tailor_shared.iam import Authorizer

POLICIES = Path(__file__).resolve().parents[2] / "docs" / "examples" / "policies" / "policies.yaml"
REGION = "us-east-1"
METHOD = "/tailor.control.v1.PersonalizeControl/DescribeDatasetGroup"
SECRET = "analyst-secret-key-do-not-leak"
ANALYST = Credential("ANALYSTACCESSKEY01", SECRET, "000000000000", "arn:aws:iam::000000000000:user/analyst")
DG = arns.dataset_group_arn(REGION, "000000000000", "shop")


def _auth() -> GrpcAuth:
    store = CredentialStore([ANALYST, DEV_CREDENTIAL])
    return GrpcAuth(SigV4Verifier(store, REGION), Authorizer.from_file(POLICIES))


def _body(name: str = DG) -> bytes:
    return control_pb2.DescribeDatasetGroupRequest(dataset_group_arn=name).SerializeToString()


def test_signed_call_authenticates_as_its_principal() -> None:
    metadata = sign_call(ANALYST, REGION, METHOD, _body())
    assert {k for k, _ in metadata} == {"authorization", "x-amz-date", "x-amz-content-sha256"}
    principal = _auth().authenticate(METHOD, metadata, _body())
    assert principal.arn == ANALYST.principal_arn and principal.account_id == "000000000000"


def test_unsigned_tampered_expired_and_unknown_calls_are_refused() -> None:
    auth = _auth()
    with pytest.raises(MissingAuthenticationTokenException):
        auth.authenticate(METHOD, [], _body())
    metadata = sign_call(ANALYST, REGION, METHOD, _body())
    with pytest.raises(InvalidSignatureException):  # another request under the same signature
        auth.authenticate(METHOD, metadata, _body(DG + "x"))
    with pytest.raises(InvalidSignatureException):  # another operation under the same signature
        auth.authenticate(METHOD.replace("Describe", "Delete"), metadata, _body())
    wrong_secret = Credential(ANALYST.access_key_id, "not-the-right-secret", "", "")
    with pytest.raises(InvalidSignatureException, match="does not match"):
        auth.authenticate(METHOD, sign_call(wrong_secret, REGION, METHOD, _body()), _body())
    old = datetime.now(UTC) - timedelta(minutes=20)
    with pytest.raises(InvalidSignatureException, match="Signature expired"):
        auth.authenticate(METHOD, sign_call(ANALYST, REGION, METHOD, _body(), old), _body())
    stranger = Credential("STRANGERACCESSKEY1", "stranger-secret-123", "", "")
    with pytest.raises(UnrecognizedClientException):
        auth.authenticate(METHOD, sign_call(stranger, REGION, METHOD, _body()), _body())
    with pytest.raises(InvalidSignatureException, match="region"):
        auth.authenticate(METHOD, sign_call(ANALYST, "eu-west-1", METHOD, _body()), _body())


def test_check_authorises_with_the_principals_policies() -> None:
    auth = _auth()
    describe = control_pb2.DescribeDatasetGroupRequest(dataset_group_arn=DG)
    auth.check(METHOD, sign_call(ANALYST, REGION, METHOD, _body()), _body(), describe)  # the analyst may read
    delete_method = METHOD.replace("Describe", "Delete")
    delete = control_pb2.DeleteDatasetGroupRequest(dataset_group_arn=DG)
    raw = delete.SerializeToString()
    with pytest.raises(AccessDeniedException, match=f"personalize:DeleteDatasetGroup on resource: {DG}"):
        auth.check(delete_method, sign_call(ANALYST, REGION, delete_method, raw), raw, delete)
    auth.check(delete_method, sign_call(DEV_CREDENTIAL, REGION, delete_method, raw), raw, delete)  # admin may


def test_dev_principal_is_admin_unless_the_policies_file_names_it(tmp_path: Path) -> None:
    settings = GrpcAuthSettings(required=True, credentials=AuthSettings(dev=True))
    auth = GrpcAuth.from_settings(settings, REGION)
    assert auth.authorizer.policies[DEV_CREDENTIAL.principal_arn] == (ADMIN_POLICY,)
    restricted = tmp_path / "p.yaml"
    restricted.write_text(f"principals:\n  {DEV_CREDENTIAL.principal_arn}: []\n")
    settings = GrpcAuthSettings(True, AuthSettings(dev=True), str(restricted))
    assert GrpcAuth.from_settings(settings, REGION).authorizer.policies[DEV_CREDENTIAL.principal_arn] == ()


def test_settings_from_env_default_on() -> None:
    assert GrpcAuthSettings.from_env({}).required is True
    assert GrpcAuthSettings().required is True
    for off in ("0", "false", "No", "off"):
        assert GrpcAuthSettings.from_env({"TAILOR_AUTH_REQUIRED": off}).required is False
    with pytest.raises(ValueError, match="TAILOR_AUTH_REQUIRED must be"):
        GrpcAuthSettings.from_env({"TAILOR_AUTH_REQUIRED": "maybe"})  # a typo must not open the service
    on = GrpcAuthSettings.from_env({"TAILOR_AUTH_REQUIRED": "1", "TAILOR_POLICIES_FILE": "/p.yaml"})
    assert on.required and on.policies_file == "/p.yaml"
    assert credential_from_env({}) is None
    cred = credential_from_env({"AWS_ACCESS_KEY_ID": "K" * 16, "AWS_SECRET_ACCESS_KEY": "s" * 16})
    assert cred is not None and cred.access_key_id == "K" * 16
    assert "s" * 16 not in repr(cred)


def test_secrets_never_reach_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    auth = _auth()
    wrong = Credential(ANALYST.access_key_id, SECRET + "-wrong", "", "", "session-token-secret")
    errors: list[PersonalizeError] = []
    attempts = [
        (METHOD, sign_call(wrong, REGION, METHOD, _body())),
        (METHOD, sign_call(ANALYST, REGION, METHOD, _body(), datetime.now(UTC) - timedelta(hours=1))),
        (METHOD, [("authorization", f"AWS4-HMAC-SHA256 Credential={SECRET}")]),
    ]
    for method, metadata in attempts:
        with pytest.raises(PersonalizeError) as err:
            auth.authenticate(method, metadata, _body())
        errors.append(err.value)
    assert len(errors) == 3
    # The third attempt put the secret where a key id belongs: the error may echo what the client sent, but
    # never a configured secret it did not send.
    for e in errors[:2]:
        assert SECRET not in str(e) and "session-token-secret" not in str(e)
    for record in caplog.records:
        text = record.getMessage() + " " + " ".join(str(v) for v in record.__dict__.values())
        assert SECRET not in text and "session-token-secret" not in text
    assert SECRET not in repr(ANALYST)


def test_no_call_reaches_another_accounts_resources() -> None:
    """ADR 0028: an admin of account 1111... is refused on any ARN of 2222..., acted on or referenced anywhere
    in the request; its Create ARNs are in its own account; service-owned ARNs belong to no account."""
    other = Credential(
        "OTHERACCESSKEY0001", "other-secret-0123456789", "111111111111", "arn:aws:iam::111111111111:root"
    )
    auth = GrpcAuth(SigV4Verifier(CredentialStore([other]), REGION), Authorizer({other.principal_arn: (ADMIN_POLICY,)}))
    principal = other.principal
    foreign_group = arns.dataset_group_arn(REGION, "222222222222", "shop")
    with pytest.raises(AccessDeniedException, match="because no resource-based policy allows"):
        auth.authorize(principal, "DescribeDatasetGroup", control_pb2.DescribeDatasetGroupRequest(dataset_group_arn=DG))
    create = control_pb2.CreateSolutionRequest(
        name="s", dataset_group_arn=foreign_group, recipe_arn="arn:aws:personalize:::recipe/aws-user-personalization"
    )
    with pytest.raises(AccessDeniedException, match=foreign_group):  # a referenced ARN counts
        auth.authorize(principal, "CreateSolution", create)
    own = control_pb2.CreateSolutionRequest(
        name="s",
        dataset_group_arn=arns.dataset_group_arn(REGION, "111111111111", "shop"),
        recipe_arn="arn:aws:personalize:::recipe/aws-user-personalization",
    )
    auth.authorize(principal, "CreateSolution", own)  # own account, a service-owned recipe: allowed
    assert arns.foreign_account(foreign_group, "111111111111") and not arns.foreign_account("*", "111111111111")
    assert not arns.foreign_account("arn:aws:personalize:::recipe/aws-similar-items", "111111111111")


def test_referenced_arns_reads_nested_repeated_and_map_fields() -> None:
    from tailor.runtime.v1 import runtime_pb2

    campaign = arns.campaign_arn(REGION, "222222222222", "c")
    request = runtime_pb2.GetRecommendationsRequest(
        campaign_arn=campaign, user_id="u", context={"k": arns.filter_arn(REGION, "333333333333", "f")}
    )
    assert set(referenced_arns(request)) == {campaign, arns.filter_arn(REGION, "333333333333", "f")}
    assert referenced_arns(b"raw") == []
