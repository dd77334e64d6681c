"""tailor_shared.auth: SigV4 verification of requests signed by botocore itself, the credentials store, dev mode.

Requests are signed the way the SDKs sign them — botocore's ``SigV4Auth`` / ``SigV4QueryAuth`` over an
``AWSRequest``, and whole botocore clients of the three Personalize services whose wire request is captured just
before it would be sent — then handed to the verifier as a server receives them, intact or tampered with.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import botocore.session
import grpc
import pytest
from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSPreparedRequest, AWSRequest, AWSResponse
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

from tailor_shared.auth import (
    DEV_ACCESS_KEY_ID,
    DEV_CREDENTIAL,
    DEV_SECRET_ACCESS_KEY,
    PERSONALIZE_SIGNING_NAME,
    AuthSettings,
    Credential,
    CredentialsError,
    CredentialStore,
    Principal,
    SigV4Verifier,
    load_credentials,
)
from tailor_shared.errors import (
    ERRORS_BY_CODE,
    AuthenticationError,
    IncompleteSignatureException,
    InvalidInputException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    PersonalizeError,
    UnrecognizedClientException,
)

REGION = "us-east-1"
ALICE = Credential(
    access_key_id="AKIAALICE0000000TEST",
    secret_access_key="alice-secret-0123456789abcdef",
    account_id="123456789012",
    principal_arn="arn:aws:iam::123456789012:user/alice",
)
TEMP = Credential(
    access_key_id="ASIATEMPORARY000TEST",
    secret_access_key="temp-secret-0123456789abcdef",
    account_id="123456789012",
    principal_arn="arn:aws:sts::123456789012:assumed-role/reader/session-1",
    session_token="the-session-token",
)
ENDPOINT = "http://localhost:8080"


@dataclass
class Received:
    """An HTTP request as the gateway receives it."""

    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes
    signed_at: datetime

    def with_header(self, name: str, value: str) -> Received:
        kept = [(k, v) for k, v in self.headers if k.lower() != name.lower()]
        return Received(self.method, self.path, self.query, [*kept, (name, value)], self.body, self.signed_at)

    def without_header(self, name: str) -> Received:
        kept = [(k, v) for k, v in self.headers if k.lower() != name.lower()]
        return Received(self.method, self.path, self.query, kept, self.body, self.signed_at)

    def header(self, name: str) -> str:
        return next(v for k, v in self.headers if k.lower() == name.lower())


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def received(method: str, url: str, headers: Any, body: bytes | None) -> Received:
    """What reaches a server: the Host header the HTTP client derives from the URL, the raw path and query."""
    parts = urlsplit(url)
    pairs = [(_text(k), _text(v)) for k, v in headers.items()]
    if not any(k.lower() == "host" for k, _ in pairs):
        pairs.append(("Host", parts.netloc))
    amz_date = (
        next(v for k, v in pairs if k.lower() == "x-amz-date")
        if any(k.lower() == "x-amz-date" for k, _ in pairs)
        else dict(q.split("=", 1) for q in parts.query.split("&"))["X-Amz-Date"]
    )
    signed_at = datetime.strptime(amz_date, SIGV4_TIMESTAMP).replace(tzinfo=UTC)
    return Received(method, parts.path or "/", parts.query, pairs, body or b"", signed_at)


def sign(
    method: str,
    url: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    cred: Credential = ALICE,
    region: str = REGION,
    service: str = PERSONALIZE_SIGNING_NAME,
    token: str | None = None,
) -> Received:
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    SigV4Auth(Credentials(cred.access_key_id, cred.secret_access_key, token), service, region).add_auth(request)
    return received(method, url, request.headers, body)


def json11(target: str = "AmazonPersonalize.ListDatasetGroups", body: bytes = b"{}", **kw: Any) -> Received:
    headers = {"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"}
    return sign("POST", ENDPOINT + "/", body, headers, **kw)


RECS_BODY = json.dumps(
    {"campaignArn": "arn:aws:personalize:us-east-1:123456789012:campaign/c", "userId": "u1"}
).encode()


def rest_recommendations(**kw: Any) -> Received:
    url = ENDPOINT + "/recommendations?numResults=10&filterArn=arn%3Aaws%3Apersonalize%3Aus-east-1%3A1%3Afilter%2Ff"
    return sign("POST", url, RECS_BODY, {"Content-Type": "application/json"}, **kw)


@pytest.fixture
def verifier() -> SigV4Verifier:
    return SigV4Verifier(CredentialStore([ALICE, TEMP, DEV_CREDENTIAL]), REGION)


def verify(v: SigV4Verifier, r: Received, after: timedelta = timedelta(seconds=1)) -> Principal:
    return v.verify(r.method, r.path, r.query, r.headers, r.body, r.signed_at + after)


ALICE_PRINCIPAL = Principal("arn:aws:iam::123456789012:user/alice", "123456789012", ALICE.access_key_id)


# ---------------------------------------------------------------------------------------------- accepted requests


def test_json11_control_plane_request_signed_by_botocore_verifies(verifier: SigV4Verifier) -> None:
    assert verify(verifier, json11()) == ALICE_PRINCIPAL


def test_rest_json_post_with_query_string_verifies(verifier: SigV4Verifier) -> None:
    r = rest_recommendations()
    assert "numResults=10" in r.query
    assert verify(verifier, r) == ALICE_PRINCIPAL


def test_headers_as_mapping_and_as_raw_bytes_verify(verifier: SigV4Verifier) -> None:
    r = rest_recommendations()
    now = r.signed_at
    assert verifier.verify(r.method, r.path, r.query, dict(r.headers), r.body, now) == ALICE_PRINCIPAL
    raw = [(k.lower().encode(), v.encode()) for k, v in r.headers]
    assert verifier.verify(r.method, r.path.encode(), r.query.encode(), raw, r.body, now) == ALICE_PRINCIPAL


def test_query_canonicalised_whatever_the_client_encoding(verifier: SigV4Verifier) -> None:
    """A server sees the query as the client wrote it: unreserved characters percent-encoded by another SDK
    (``%2D`` for ``-``) canonicalise to the same request botocore signed."""
    r = sign("GET", ENDPOINT + "/recommendations?b=x-y&a=1")
    assert verify(verifier, Received(r.method, r.path, "a=1&b=x%2Dy", r.headers, r.body, r.signed_at))


def test_unsigned_headers_added_in_transit_do_not_matter(verifier: SigV4Verifier) -> None:
    r = json11().with_header("User-Agent", "proxy/1.0").with_header("X-Forwarded-For", "10.0.0.1")
    assert verify(verifier, r) == ALICE_PRINCIPAL


def test_repeated_signed_header_values_are_all_covered(verifier: SigV4Verifier) -> None:
    request = AWSRequest(method="POST", url=ENDPOINT + "/", data=b"{}")
    request.headers["X-Custom"] = "one"
    request.headers["X-Custom"] = "two"  # HTTPHeaders appends: two values of one header
    SigV4Auth(Credentials(ALICE.access_key_id, ALICE.secret_access_key), "personalize", REGION).add_auth(request)
    pairs = [(k, v) for k, v in request.headers.items()]
    r = received("POST", ENDPOINT + "/", dict(pairs), b"{}")
    r = Received(r.method, r.path, r.query, [*pairs, ("Host", "localhost:8080")], r.body, r.signed_at)
    assert [v for k, v in r.headers if k == "X-Custom"] == ["one", "two"]
    assert verify(verifier, r) == ALICE_PRINCIPAL
    dropped = Received(r.method, r.path, r.query, [(k, v) for k, v in r.headers if v != "two"], r.body, r.signed_at)
    with pytest.raises(InvalidSignatureException):
        verify(verifier, dropped)


def test_clock_skew_within_fifteen_minutes_either_way_is_accepted(verifier: SigV4Verifier) -> None:
    r = json11()
    assert verify(verifier, r, after=timedelta(minutes=14, seconds=59))
    assert verify(verifier, r, after=-timedelta(minutes=14, seconds=59))


def test_date_header_instead_of_x_amz_date(verifier: SigV4Verifier) -> None:
    """botocore signs with the Date header (RFC 1123) when the request has one, and then sends no X-Amz-Date."""
    request = AWSRequest(method="POST", url=ENDPOINT + "/", data=b"{}", headers={"Date": "placeholder"})
    SigV4Auth(Credentials(ALICE.access_key_id, ALICE.secret_access_key), "personalize", REGION).add_auth(request)
    assert "X-Amz-Date" not in request.headers
    headers = [(k, _text(v)) for k, v in request.headers.items()] + [("Host", "localhost:8080")]
    signed_at = datetime.strptime(request.context["timestamp"], SIGV4_TIMESTAMP).replace(tzinfo=UTC)
    assert verifier.verify("POST", "/", "", headers, b"{}", signed_at) == ALICE_PRINCIPAL


# ------------------------------------------------------------------------------------------ whole botocore clients


class _Raw:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


def _client_wire_request(
    service: str, operation: str, params: dict[str, Any], token: str | None = None, cred: Credential = ALICE
) -> Received:
    """Run one real botocore client call and capture its request on the way to the socket."""
    captured: list[AWSPreparedRequest] = []

    def before_send(request: AWSPreparedRequest, **_: Any) -> Any:
        captured.append(request)
        return AWSResponse(request.url, 200, HTTPHeaders(), _Raw(b"{}"))  # the response the "server" sent

    client = botocore.session.get_session().create_client(
        service,
        region_name=REGION,
        endpoint_url=ENDPOINT,
        aws_access_key_id=cred.access_key_id,
        aws_secret_access_key=cred.secret_access_key,
        aws_session_token=token,
    )
    client.meta.events.register("before-send", before_send)
    getattr(client, operation)(**params)
    (request,) = captured
    body = request.body
    assert body is None or isinstance(body, bytes | str)
    return received(request.method, request.url, request.headers, body.encode() if isinstance(body, str) else body)


CLIENT_CALLS = [
    ("personalize", "create_dataset_group", {"name": "shop"}),
    (
        "personalize-runtime",
        "get_recommendations",
        {"campaignArn": "arn:aws:personalize:us-east-1:1:campaign/c", "userId": "u 1/é", "numResults": 5},
    ),
    (
        "personalize-events",
        "put_events",
        {"trackingId": "t", "sessionId": "s", "eventList": [{"eventType": "click", "sentAt": 1_700_000_000}]},
    ),
]


@pytest.mark.parametrize(("service", "operation", "params"), CLIENT_CALLS)
def test_every_personalize_client_verifies(
    verifier: SigV4Verifier, service: str, operation: str, params: dict[str, Any]
) -> None:
    r = _client_wire_request(service, operation, params)
    assert f"/{PERSONALIZE_SIGNING_NAME}/aws4_request" in r.header("Authorization")
    assert verify(verifier, r) == ALICE_PRINCIPAL
    with pytest.raises(InvalidSignatureException):
        verify(verifier, Received(r.method, r.path, r.query, r.headers, r.body + b" ", r.signed_at))


def test_client_with_configured_session_token_verifies(verifier: SigV4Verifier) -> None:
    r = _client_wire_request("personalize", "list_dataset_groups", {}, token=TEMP.session_token, cred=TEMP)
    assert verify(verifier, r).arn == TEMP.principal_arn


# ------------------------------------------------------------------------------------------------ tampering


def test_tampered_body_is_rejected(verifier: SigV4Verifier) -> None:
    r = json11(body=b'{"maxResults": 1}')
    with pytest.raises(InvalidSignatureException) as exc:
        verify(verifier, Received(r.method, r.path, r.query, r.headers, b'{"maxResults": 2}', r.signed_at))
    assert exc.value.message.startswith("The request signature we calculated does not match the signature you")
    assert exc.value.http_status == 403


def test_tampered_signed_header_is_rejected(verifier: SigV4Verifier) -> None:
    r = json11().with_header("X-Amz-Target", "AmazonPersonalize.DeleteDatasetGroup")
    with pytest.raises(InvalidSignatureException):
        verify(verifier, r)


def test_removed_signed_header_is_rejected(verifier: SigV4Verifier) -> None:
    with pytest.raises(InvalidSignatureException):
        verify(verifier, json11().without_header("X-Amz-Target"))


def test_tampered_path_and_query_are_rejected(verifier: SigV4Verifier) -> None:
    r = rest_recommendations()
    with pytest.raises(InvalidSignatureException):
        verify(verifier, Received(r.method, "/personalize-ranking", r.query, r.headers, r.body, r.signed_at))
    with pytest.raises(InvalidSignatureException):
        verify(verifier, Received(r.method, r.path, r.query.replace("=10", "=500"), r.headers, r.body, r.signed_at))
    with pytest.raises(InvalidSignatureException):
        verify(verifier, Received("PUT", r.path, r.query, r.headers, r.body, r.signed_at))


def test_tampered_date_is_rejected(verifier: SigV4Verifier) -> None:
    r = json11()
    later = (r.signed_at + timedelta(seconds=1)).strftime(SIGV4_TIMESTAMP)
    with pytest.raises(InvalidSignatureException):
        verify(verifier, r.with_header("X-Amz-Date", later))


def test_unknown_access_key_is_unrecognized(verifier: SigV4Verifier) -> None:
    stranger = Credential("AKIASTRANGER000TEST0", "stranger-secret-0123456789", "123456789012", ALICE.principal_arn)
    with pytest.raises(UnrecognizedClientException) as exc:
        verify(verifier, json11(cred=stranger))
    assert exc.value.message == "The security token included in the request is invalid."
    assert exc.value.code == "UnrecognizedClientException"


def test_wrong_secret_is_a_signature_mismatch(verifier: SigV4Verifier) -> None:
    forger = Credential(ALICE.access_key_id, "not-alices-secret-at-all", ALICE.account_id, ALICE.principal_arn)
    with pytest.raises(InvalidSignatureException):
        verify(verifier, json11(cred=forger))


def test_other_region_or_service_in_the_scope_is_rejected(verifier: SigV4Verifier) -> None:
    with pytest.raises(
        InvalidSignatureException, match="Credential should be scoped to a valid region, not 'us-west-2'"
    ):
        verify(verifier, json11(region="us-west-2"))
    with pytest.raises(
        InvalidSignatureException, match="Credential should be scoped to correct service: 'personalize'"
    ):
        verify(verifier, json11(service="dynamodb"))


def test_accepted_signing_names_are_the_callers_choice() -> None:
    v = SigV4Verifier(CredentialStore([ALICE]), REGION, services=["personalize", "personalize-events"])
    r = json11(service="personalize-events")
    assert verify(v, r) == ALICE_PRINCIPAL
    with pytest.raises(InvalidSignatureException, match="correct service"):
        v.verify(r.method, r.path, r.query, r.headers, r.body, r.signed_at, services=["personalize"])


def test_expired_signature_names_both_times(verifier: SigV4Verifier) -> None:
    r = json11()
    now = r.signed_at + timedelta(minutes=15, seconds=1)
    with pytest.raises(InvalidSignatureException) as exc:
        verifier.verify(r.method, r.path, r.query, r.headers, r.body, now)
    fmt = SIGV4_TIMESTAMP
    assert exc.value.message == (
        f"Signature expired: {r.signed_at.strftime(fmt)} is now earlier than "
        f"{(now - timedelta(minutes=15)).strftime(fmt)} ({now.strftime(fmt)} - 15 min.)"
    )


def test_signature_from_the_future_is_rejected(verifier: SigV4Verifier) -> None:
    with pytest.raises(InvalidSignatureException, match="Signature not yet current"):
        verify(verifier, json11(), after=-timedelta(minutes=15, seconds=1))


def test_unsigned_request_is_missing_authentication_token(verifier: SigV4Verifier) -> None:
    with pytest.raises(MissingAuthenticationTokenException) as exc:
        verifier.verify("POST", "/", "", {"Host": "localhost:8080", "X-Amz-Target": "x"}, b"{}")
    assert exc.value.message == "Missing Authentication Token"
    assert exc.value.http_status == 403


@pytest.mark.parametrize(
    ("authorization", "match"),
    [
        ("Basic dXNlcjpwYXNz", "Unsupported authorization type 'Basic'"),
        ("AWS4-HMAC-SHA256 SignedHeaders=host, Signature=abc", "requires 'Credential' parameter"),
        (
            "AWS4-HMAC-SHA256 Credential=AKIAALICE0000000TEST/20240101/us-east-1/personalize/aws4_request",
            "requires 'Signature' parameter. Authorization header requires 'SignedHeaders'",
        ),
        ("AWS4-HMAC-SHA256 Credential=AKIAALICE0000000TEST, SignedHeaders=host, Signature=abc", "Credential must"),
    ],
)
def test_malformed_authorization_is_an_incomplete_signature(
    verifier: SigV4Verifier, authorization: str, match: str
) -> None:
    r = json11().with_header("Authorization", authorization)
    with pytest.raises(IncompleteSignatureException, match=match):
        verify(verifier, r)


def test_missing_date_and_unsigned_host_are_incomplete(verifier: SigV4Verifier) -> None:
    with pytest.raises(IncompleteSignatureException, match="'X-Amz-Date' or a 'Date' header"):
        verify(verifier, json11().without_header("X-Amz-Date"))
    r = json11()
    auth = r.header("Authorization").replace("content-type;host;", "content-type;")
    with pytest.raises(IncompleteSignatureException, match="'Host' or ':authority' must be a 'SignedHeader'"):
        verify(verifier, r.with_header("Authorization", auth))


def test_scope_date_must_be_the_signing_date(verifier: SigV4Verifier) -> None:
    r = json11()
    day = r.signed_at.strftime("%Y%m%d")
    other = (r.signed_at - timedelta(days=1)).strftime("%Y%m%d")
    r = r.with_header("Authorization", r.header("Authorization").replace(f"/{day}/", f"/{other}/"))
    with pytest.raises(InvalidSignatureException, match="Date in Credential scope does not match"):
        verify(verifier, r)


def test_content_sha256_header_must_be_the_body_hash(verifier: SigV4Verifier) -> None:
    r = sign("POST", ENDPOINT + "/", b"{}", {"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    with pytest.raises(InvalidSignatureException, match="x-amz-content-sha256"):
        verify(verifier, r)


# ---------------------------------------------------------------------------------------------- session tokens


def test_session_token_on_a_long_term_key_is_rejected_clearly(verifier: SigV4Verifier) -> None:
    with pytest.raises(UnrecognizedClientException, match="takes no session token"):
        verify(verifier, json11(token="some-sts-token"))


def test_configured_session_token_is_required_and_compared(verifier: SigV4Verifier) -> None:
    assert verify(verifier, json11(cred=TEMP, token=TEMP.session_token)).arn == TEMP.principal_arn
    with pytest.raises(UnrecognizedClientException, match="send its session token"):
        verify(verifier, json11(cred=TEMP))
    with pytest.raises(UnrecognizedClientException) as exc:
        verify(verifier, json11(cred=TEMP, token="another-token"))
    assert exc.value.message == "The security token included in the request is invalid."


# ------------------------------------------------------------------------------------------ presigned requests


def presign(url: str, expires: int = 300, cred: Credential = ALICE) -> Received:
    request = AWSRequest(method="GET", url=url)
    SigV4QueryAuth(Credentials(cred.access_key_id, cred.secret_access_key), "personalize", REGION, expires).add_auth(
        request
    )
    assert "Authorization" not in request.headers and request.url
    return received("GET", request.url, request.headers, b"")


def test_presigned_query_string_verifies_and_expires(verifier: SigV4Verifier) -> None:
    r = presign(ENDPOINT + "/recommendations?userId=u1", expires=300)
    assert "X-Amz-Signature=" in r.query
    assert verify(verifier, r, after=timedelta(seconds=299)) == ALICE_PRINCIPAL
    with pytest.raises(InvalidSignatureException, match="Signature expired"):
        verify(verifier, r, after=timedelta(seconds=301))
    with pytest.raises(InvalidSignatureException, match="does not match"):
        verify(verifier, Received(r.method, r.path, r.query.replace("u1", "u2"), r.headers, r.body, r.signed_at))


def test_presigned_and_header_together_are_refused(verifier: SigV4Verifier) -> None:
    r = presign(ENDPOINT + "/recommendations?userId=u1")
    with pytest.raises(IncompleteSignatureException, match="Only one auth mechanism"):
        verify(verifier, r.with_header("Authorization", json11().header("Authorization")))


# ------------------------------------------------------------------------------- credentials file and dev mode


def test_no_credentials_configured_refuses_to_start() -> None:
    settings = AuthSettings.from_env({})
    assert settings == AuthSettings(credentials_file=None, dev=False)
    with pytest.raises(CredentialsError, match="TAILOR_AUTH_DEV=1"):
        load_credentials(settings)


def test_dev_credential_only_when_asked_and_loudly(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="tailor_shared.auth"):
        store = load_credentials(AuthSettings.from_env({"TAILOR_AUTH_DEV": "1"}))
    assert store.access_key_ids == [DEV_ACCESS_KEY_ID]
    assert any("DEVELOPMENT CREDENTIAL ENABLED" in rec.getMessage() for rec in caplog.records)
    dev = Credential(DEV_ACCESS_KEY_ID, DEV_SECRET_ACCESS_KEY, "000000000000", "arn:aws:iam::000000000000:user/dev")
    principal = verify(SigV4Verifier(store, REGION), json11(cred=dev))
    assert principal == Principal("arn:aws:iam::000000000000:user/dev", "000000000000", DEV_ACCESS_KEY_ID)
    assert AuthSettings.from_env({"TAILOR_AUTH_DEV": "0"}).dev is False


YAML_FILE = """\
credentials:
  - access_key_id: AKIAALICE0000000TEST
    secret_access_key: alice-secret-0123456789abcdef
    account_id: "123456789012"
    principal: arn:aws:iam::123456789012:user/alice
  - access_key_id: ASIATEMPORARY000TEST
    secret_access_key: temp-secret-0123456789abcdef
    account_id: "123456789012"
    principal: arn:aws:sts::123456789012:assumed-role/reader/session-1
    session_token: the-session-token
"""


def test_credentials_file_yaml_and_json(tmp_path: Path) -> None:
    yml = tmp_path / "credentials.yaml"
    yml.write_text(YAML_FILE)
    store = load_credentials(AuthSettings.from_env({"TAILOR_CREDENTIALS_FILE": str(yml)}))
    assert store.get(ALICE.access_key_id) == ALICE
    assert store.get(TEMP.access_key_id) == TEMP
    assert DEV_ACCESS_KEY_ID not in store
    js = tmp_path / "credentials.json"
    js.write_text(
        json.dumps(
            {
                "credentials": [
                    {
                        "access_key_id": ALICE.access_key_id,
                        "secret_access_key": ALICE.secret_access_key,
                        "account_id": ALICE.account_id,
                        "principal": ALICE.principal_arn,
                    }
                ]
            }
        )
    )
    both = load_credentials(AuthSettings(credentials_file=str(js), dev=True))
    assert both.access_key_ids == sorted([ALICE.access_key_id, DEV_ACCESS_KEY_ID])
    assert "secret" not in repr(ALICE)  # secrets stay out of logs and tracebacks


@pytest.mark.parametrize(
    ("entry", "match"),
    [
        ({"account_id": 0}, "quote it"),
        ({"principal": "arn:aws:iam::999999999999:user/alice"}, "not in account 123456789012"),
        ({"principal": "alice"}, "must be an IAM ARN"),
        ({"secret_access_key": "short"}, "shorter than 16"),
        ({"access_key_id": "AK/1"}, "16-128 letters"),
        ({"account_id": "12345"}, "12 digits"),
        ({"colour": "blue"}, "unknown keys"),
        ({"session_token": ""}, "session_token"),
    ],
)
def test_bad_credential_entries_are_refused(tmp_path: Path, entry: dict[str, Any], match: str) -> None:
    base = {
        "access_key_id": ALICE.access_key_id,
        "secret_access_key": ALICE.secret_access_key,
        "account_id": ALICE.account_id,
        "principal": ALICE.principal_arn,
    }
    with pytest.raises(CredentialsError, match=match):
        CredentialStore.from_document({"credentials": [{**base, **entry}]})


def test_bad_credentials_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match="cannot read"):
        CredentialStore.from_file(tmp_path / "absent.yaml")
    broken = tmp_path / "c.json"
    broken.write_text("{not json")
    with pytest.raises(CredentialsError, match="not valid"):
        CredentialStore.from_file(broken)
    unquoted = tmp_path / "c.yaml"
    unquoted.write_text(YAML_FILE.replace('"123456789012"', "000000000000", 1))
    with pytest.raises(CredentialsError, match="quote it"):
        CredentialStore.from_file(unquoted)
    with pytest.raises(CredentialsError, match="listed twice"):
        CredentialStore([ALICE, ALICE])
    with pytest.raises(CredentialsError, match="'credentials' list"):
        CredentialStore.from_document([])


# ---------------------------------------------------------------------------------------------------- errors


def test_authentication_errors_join_the_hierarchy_without_changing_it() -> None:
    for cls in (
        MissingAuthenticationTokenException,
        IncompleteSignatureException,
        UnrecognizedClientException,
        InvalidSignatureException,
    ):
        assert issubclass(cls, AuthenticationError) and issubclass(cls, PersonalizeError)
        assert ERRORS_BY_CODE[cls.code] is cls
        assert cls.http_status == (400 if cls is IncompleteSignatureException else 403)  # the guide's statuses
        assert cls.grpc_status == grpc.StatusCode.UNAUTHENTICATED
    assert InvalidInputException.grpc_status == grpc.StatusCode.INVALID_ARGUMENT


def test_path_is_the_raw_percent_encoded_one(verifier: SigV4Verifier) -> None:
    """SigV4 (non-S3) double-encodes the path: the verifier must see the path as sent, not the decoded one."""
    r = sign("POST", ENDPOINT + "/a%20b/c%2Fd", b"{}")
    assert r.path == "/a%20b/c%2Fd"
    assert verify(verifier, r) == ALICE_PRINCIPAL
    with pytest.raises(InvalidSignatureException):
        verify(verifier, Received(r.method, "/a b/c/d", r.query, r.headers, r.body, r.signed_at))


def test_token_problems_are_told_only_to_the_keys_holder(verifier: SigV4Verifier) -> None:
    """A forged request (wrong secret) carrying a token learns nothing about the key: a plain signature mismatch."""
    forger = Credential(TEMP.access_key_id, "not-the-temporary-secret", TEMP.account_id, TEMP.principal_arn)
    with pytest.raises(InvalidSignatureException):
        verify(verifier, json11(cred=forger))
    with pytest.raises(InvalidSignatureException):
        verify(verifier, json11(token="some-sts-token", cred=Credential(ALICE.access_key_id, "x" * 20, "1" * 12, "")))
