"""Authentication and authorisation of gRPC calls: SigV4 over the call, carried as gRPC metadata.

A client signs each call with its access key exactly as an AWS SDK signs an HTTP request (botocore's
:class:`~botocore.auth.SigV4Auth`): method ``POST``, path ``/<package.Service>/<Method>``, host
:data:`GRPC_HOST`, ``x-amz-date`` and ``x-amz-content-sha256`` (the SHA-256 of the serialized request
message) signed, and sends ``authorization``, ``x-amz-date``, ``x-amz-content-sha256`` (and
``x-amz-security-token``) as metadata. The server rebuilds that request from the call and verifies it with
the gateway's own :class:`~tailor_shared.auth.SigV4Verifier`, then asks :class:`~tailor_shared.iam.Authorizer`
whether the principal may perform ``personalize:<Method>`` on the request's resources. Health checks and
reflection stay open. On unless ``TAILOR_AUTH_REQUIRED=0`` (ADR 0026). The authenticated principal of the
call being served is :data:`CALLER`: its account is the one the call acts in (tenant isolation, ADR 0028).
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import grpc
from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message

from tailor_shared.auth import (
    ALGORITHM,
    DEV_ACCOUNT_ID,
    DEV_PRINCIPAL_ARN,
    PERSONALIZE_SIGNING_NAME,
    AuthSettings,
    Credential,
    Principal,
    SigV4Verifier,
    load_credentials,
)
from tailor_shared.iam import POLICIES_FILE_ENV, Authorizer, action_of, parse_policy, request_resources
from tailor_shared.locations import DEFAULT_MODEL_CACHE, DEFAULT_MODEL_STORE, LocationOwners

#: Env var that turns authentication and authorisation off (``0``) for every gRPC service; on by default (ADR 0026).
AUTH_REQUIRED_ENV = "TAILOR_AUTH_REQUIRED"
#: The host every gRPC signature covers: the path already names the service, and a gRPC call has no Host.
GRPC_HOST = "tailor.grpc"
#: The metadata a signed call carries (gRPC metadata keys are lower-case).
SIGNED_METADATA = ("authorization", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token")

#: What the development principal may do when no policies file names it: everything (the local stack's admin).
ADMIN_POLICY = parse_policy(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["personalize:*", "tailor:*"], "Resource": "*"}],
    },
    "admin",
)
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")

#: The authenticated principal of the gRPC call being served (None: authentication is off for this process).
CALLER: ContextVar[Principal | None] = ContextVar("tailor_caller", default=None)


def caller_account(default: str) -> str:
    """The account the current call acts in: its principal's, or ``default`` (the deployment's
    ``TAILOR_ACCOUNT_ID``) where authentication is off."""
    principal = CALLER.get()
    return principal.account_id if principal is not None else default


def required_from(env: Mapping[str, str]) -> bool:
    """``TAILOR_AUTH_REQUIRED``: unset or empty means on; only an explicit ``0``/``false``/``no``/``off`` turns
    it off, and anything else is a start-up error (a typo must not open the service)."""
    value = env.get(AUTH_REQUIRED_ENV, "").strip().lower()
    if value in _FALSE:
        return False
    if value in ("", *_TRUE):
        return True
    raise ValueError(f"{AUTH_REQUIRED_ENV} must be 1 or 0 (true/false, yes/no, on/off), not {value!r}")


@dataclass(frozen=True)
class GrpcAuthSettings:
    """Whether gRPC calls must be signed, and where credentials and policies come from."""

    required: bool = True
    credentials: AuthSettings = field(default_factory=AuthSettings)
    policies_file: str | None = None
    #: Which account owns each data location (``TAILOR_ACCOUNT_LOCATIONS``; the model store is no account's).
    locations: LocationOwners = field(default_factory=lambda: LocationOwners(DEV_ACCOUNT_ID))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GrpcAuthSettings:
        e = os.environ if env is None else env
        return cls(
            required=required_from(e),
            credentials=AuthSettings.from_env(e),
            policies_file=e.get(POLICIES_FILE_ENV) or None,
            locations=LocationOwners.from_env(
                e,
                e.get("TAILOR_ACCOUNT_ID") or DEV_ACCOUNT_ID,
                [os.path.abspath(store) if "://" not in store else store for store in _model_stores(e) if store],
            ),
        )


def _model_stores(env: Mapping[str, str]) -> list[str]:
    """The model store and its local cache (the services' default when unset): data no account may name."""
    store = env.get("TAILOR_MODEL_STORE") or DEFAULT_MODEL_STORE
    return [store, env.get("TAILOR_MODEL_CACHE_DIR") or DEFAULT_MODEL_CACHE]


def _fields(request: Any) -> dict[str, str]:
    """The request's set top-level string fields, by proto field name (what ``request_resources`` reads)."""
    if not isinstance(request, Message):
        return {}
    return {f.name: v for f, v in request.ListFields() if isinstance(v, str)}


def _strings(message: Message) -> Iterator[tuple[str, str]]:
    """Every string anywhere in a request message (nested messages, repeated and map fields), with the name of
    the field that holds it."""
    for f, value in message.ListFields():
        if f.message_type is not None and f.message_type.GetOptions().map_entry:
            items: Iterator[Any] = (x for kv in value.items() for x in kv)
        elif f.is_repeated:
            items = iter(value)
        else:
            items = iter((value,))
        for item in items:
            if isinstance(item, str):
                yield f.name, item
            elif isinstance(item, Message):
                yield from _strings(item)


def referenced_arns(request: Any) -> list[str]:
    """The Personalize ARNs a request names anywhere (a CreateSolution's dataset group, a batch job's solution
    version, a filter in a GetRecommendations): each must be in the caller's account (ADR 0028)."""
    if not isinstance(request, Message):
        return []
    return [s for _, s in _strings(request) if s.startswith("arn:") and ":personalize:" in s[:32]]


#: The request fields that name a data location: ``DataSource.dataLocation`` (imports, data deletion jobs) and
#: ``S3DataConfig.path`` (exports, batch jobs' input and output, metric attribution output).
LOCATION_FIELDS = frozenset({"data_location", "path"})


@functools.cache
def _may_name_locations(descriptor: Descriptor) -> bool:
    """Whether a message type has a location field anywhere inside it (decided once per type, so requests that
    can't name one, e.g. every runtime and events request, cost nothing on the hot path)."""
    pending, seen = [descriptor], {descriptor}
    while pending:
        for f in pending.pop().fields:
            if f.name in LOCATION_FIELDS and f.message_type is None:
                return True
            if f.message_type is not None and f.message_type not in seen:
                seen.add(f.message_type)
                pending.append(f.message_type)
    return False


def referenced_locations(request: Any) -> list[str]:
    """The data locations (``s3://``, ``file://``) a request names anywhere: each must be one of the caller's
    account's locations (ADR 0028 §5)."""
    if not isinstance(request, Message) or not _may_name_locations(request.DESCRIPTOR):
        return []
    return [s for name, s in _strings(request) if name in LOCATION_FIELDS]


@dataclass(frozen=True)
class GrpcAuth:
    """The server side: verify a call's signature, then its principal's policies."""

    verifier: SigV4Verifier
    authorizer: Authorizer
    tracker_of: Callable[[str], str | None] | None = None
    locations: LocationOwners = field(default_factory=lambda: LocationOwners(DEV_ACCOUNT_ID))

    @classmethod
    def from_settings(cls, settings: GrpcAuthSettings, region: str) -> GrpcAuth:
        """Load credentials and policies once at start-up; raises CredentialsError / PolicyError when unusable
        (a process that requires authentication never starts without them)."""
        store = load_credentials(settings.credentials)
        authorizer = Authorizer.from_file(settings.policies_file) if settings.policies_file else Authorizer()
        if settings.credentials.dev and DEV_PRINCIPAL_ARN not in authorizer.policies:
            authorizer.policies[DEV_PRINCIPAL_ARN] = (ADMIN_POLICY,)
        return cls(SigV4Verifier(store, region), authorizer, locations=settings.locations)

    def authenticate(self, method_path: str, metadata: Sequence[tuple[str, str | bytes]], body: bytes) -> Principal:
        headers: list[tuple[str, str | bytes]] = [("host", GRPC_HOST)]
        headers.extend((k, v) for k, v in metadata if k in SIGNED_METADATA)
        return self.verifier.verify("POST", method_path, "", headers, body)

    def authorize(self, principal: Principal, operation: str, request: Any, service: str = "") -> None:
        """Policies over the operation's resources (a Create's ARN in the caller's account), after refusing any
        ARN of another account the request names or acts on; then any data location that is not the caller's
        account's (ADR 0028). ``service``: the gRPC service's full name (its methods' IAM prefix,
        ``iam.action_of``)."""
        resources = request_resources(
            operation, _fields(request), self.verifier.region, principal.account_id, self.tracker_of
        )
        self.authorizer.check(principal, action_of(operation, service), resources, referenced_arns(request))
        for location in referenced_locations(request):
            self.locations.check(principal.account_id, location)

    def check(
        self, method_path: str, metadata: Sequence[tuple[str, str | bytes]], body: bytes, request: Any
    ) -> Principal:
        """The call's principal once its signature verified and its policies allow it; raises otherwise."""
        principal = self.authenticate(method_path, metadata, body)
        service, _, operation = method_path.lstrip("/").rpartition("/")
        self.authorize(principal, operation, request, service)
        return principal


# ------------------------------------------------------------------------------------------------------ client


def sign_call(
    credential: Credential, region: str, method_path: str, body: bytes, now: datetime | None = None
) -> list[tuple[str, str]]:
    """The metadata that authenticates one call (``now``: the signing time, default the clock)."""
    timestamp = (now or datetime.now(UTC)).astimezone(UTC).strftime(SIGV4_TIMESTAMP)
    request = AWSRequest(method="POST", url=f"http://{GRPC_HOST}{method_path}", data=body)
    request.headers["host"] = GRPC_HOST
    request.headers["x-amz-date"] = timestamp
    request.headers["x-amz-content-sha256"] = hashlib.sha256(body).hexdigest()
    if credential.session_token:
        request.headers["x-amz-security-token"] = credential.session_token
    request.context["timestamp"] = timestamp
    signer = SigV4Auth(
        Credentials(credential.access_key_id, credential.secret_access_key, credential.session_token),
        PERSONALIZE_SIGNING_NAME,
        region,
    )
    canonical = signer.canonical_request(request)
    signature = signer.signature(signer.string_to_sign(request, canonical), request)
    signed_headers = signer.signed_headers(signer.headers_to_sign(request))
    authorization = (
        f"{ALGORITHM} Credential={signer.scope(request)}, SignedHeaders={signed_headers}, Signature={signature}"
    )
    metadata = [("authorization", authorization)]
    metadata.extend((k, v) for k, v in request.headers.items() if k in SIGNED_METADATA and k != "host")
    return metadata


class _Details(grpc.ClientCallDetails):  # type: ignore[misc]
    def __init__(self, base: grpc.ClientCallDetails, metadata: list[tuple[str, str]]) -> None:
        self.method = base.method
        self.timeout = base.timeout
        self.metadata = metadata
        self.credentials = base.credentials
        self.wait_for_ready = getattr(base, "wait_for_ready", None)
        self.compression = getattr(base, "compression", None)


class SigningInterceptor(grpc.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    """Signs every unary call of a (sync) channel with one credential: ``grpc.intercept_channel(ch, it)``."""

    def __init__(self, credential: Credential, region: str, clock: Callable[[], datetime] | None = None) -> None:
        self._credential = credential
        self._region = region
        self._clock = clock

    def intercept_unary_unary(
        self, continuation: Callable[[grpc.ClientCallDetails, Any], Any], details: grpc.ClientCallDetails, request: Any
    ) -> Any:
        body = request.SerializeToString() if isinstance(request, Message) else bytes(request)
        now = self._clock() if self._clock is not None else None
        metadata = list(details.metadata or [])
        metadata.extend(sign_call(self._credential, self._region, details.method, body, now))
        return continuation(_Details(details, metadata), request)


class AioSigningInterceptor(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    """:class:`SigningInterceptor` for ``grpc.aio`` channels: ``grpc.aio.insecure_channel(a, interceptors=[it])``."""

    def __init__(self, credential: Credential, region: str, clock: Callable[[], datetime] | None = None) -> None:
        self._credential = credential
        self._region = region
        self._clock = clock

    async def intercept_unary_unary(
        self, continuation: Callable[[grpc.aio.ClientCallDetails, Any], Any], details: Any, request: Any
    ) -> Any:
        body = request.SerializeToString() if isinstance(request, Message) else bytes(request)
        now = self._clock() if self._clock is not None else None
        method = details.method.decode() if isinstance(details.method, bytes) else details.method
        metadata = grpc.aio.Metadata(*(details.metadata or ()))
        for key, value in sign_call(self._credential, self._region, method, body, now):
            metadata.add(key, value)
        signed = grpc.aio.ClientCallDetails(
            details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
        )
        return await continuation(signed, request)


def credential_from_env(env: Mapping[str, str] | None = None) -> Credential | None:
    """The client's credential from AWS's variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
    AWS_SESSION_TOKEN), None when unset. Account and principal are the server's business, not the client's."""
    e = os.environ if env is None else env
    key, secret = e.get("AWS_ACCESS_KEY_ID"), e.get("AWS_SECRET_ACCESS_KEY")
    if not key or not secret:
        return None
    return Credential(key, secret, "", "", e.get("AWS_SESSION_TOKEN") or None)
