"""Authentication: who signed this request? AWS Signature Version 4, verified exactly as the SDKs sign.

The one owner of request authentication (DESIGN.md, "identity"). The gateway hands every HTTP request it
receives to :meth:`SigV4Verifier.verify`, which returns the :class:`Principal` that signed it or raises one of
the :class:`~tailor_shared.errors.AuthenticationError` subclasses (each with AWS's exception name, message and
``http_status``). Pure logic: the only I/O is reading the credentials file once, at start-up
(:func:`load_credentials`). Formats, the development credential and the errors: ``docs/specs/auth.md``;
the decisions: ``docs/adr/0013-authentication.md``.

The signature is recomputed with botocore's own SigV4 signer (:class:`botocore.auth.SigV4Auth`: the canonical
request, string to sign and signing key the SDKs use) over the request as received, with the request's own
signing time and signed headers, and compared in constant time. Both forms are accepted: the
``Authorization: AWS4-HMAC-SHA256 ...`` header (every SDK call) and the presigned query string
(``X-Amz-Algorithm``, ``X-Amz-Credential``, ``X-Amz-Date``, ``X-Amz-Expires``, ``X-Amz-SignedHeaders``,
``X-Amz-Signature``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote_to_bytes

import yaml
from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

from tailor_shared.errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)

log = logging.getLogger(__name__)

#: Env var naming the credentials file (JSON or YAML; docs/specs/auth.md).
CREDENTIALS_FILE_ENV = "TAILOR_CREDENTIALS_FILE"
#: Env var that, set to 1/true/yes, also accepts the published development credential (never in production).
AUTH_DEV_ENV = "TAILOR_AUTH_DEV"

#: The published development credential (docs/specs/auth.md): accepted only when TAILOR_AUTH_DEV is set.
DEV_ACCESS_KEY_ID = "TAILORDEVACCESSKEY"
DEV_SECRET_ACCESS_KEY = "tailor-dev-secret"
DEV_ACCOUNT_ID = "000000000000"
DEV_PRINCIPAL_ARN = "arn:aws:iam::000000000000:user/dev"

#: The ``signingName`` of all three botocore models (``personalize``, ``personalize-events``,
#: ``personalize-runtime``): every Personalize client signs its credential scope with this service name.
PERSONALIZE_SIGNING_NAME = "personalize"

ALGORITHM = "AWS4-HMAC-SHA256"
#: How far a request's signing time may lie from the server's clock, either way (AWS's 15 minutes).
MAX_CLOCK_SKEW = timedelta(minutes=15)
#: The longest a presigned request may be valid (X-Amz-Expires), as AWS: 7 days.
MAX_PRESIGNED_EXPIRES_S = 7 * 24 * 3600

SECURITY_TOKEN_HEADER = "x-amz-security-token"
CONTENT_SHA256_HEADER = "x-amz-content-sha256"

INVALID_TOKEN_MESSAGE = "The security token included in the request is invalid."
SIGNATURE_MISMATCH_MESSAGE = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access "
    "Key and signing method. Consult the service documentation for details."
)
MISSING_TOKEN_MESSAGE = "Missing Authentication Token"

_ACCESS_KEY_RE = re.compile(r"^\w{16,128}$")
_ACCOUNT_RE = re.compile(r"^\d{12}$")
# arn:aws:iam::<account>:user/<path/>name | role/... | root ; arn:aws:sts::<account>:assumed-role/<role>/<session>
_PRINCIPAL_RE = re.compile(r"^arn:aws:(?:iam::(\d{12}):(?:root|user/.+|role/.+)|sts::(\d{12}):assumed-role/.+/.+)$")
_MIN_SECRET_LENGTH = 16
_TRUE = ("1", "true", "yes")


# --------------------------------------------------------------------------------------------------- credentials


@dataclass(frozen=True)
class Principal:
    """Who signed a request: an IAM-style identity in an account (what authorisation and isolation key on)."""

    arn: str
    account_id: str
    access_key_id: str


@dataclass(frozen=True)
class Credential:
    """One access key: its secret, the account it acts in and the principal it authenticates as. With a
    ``session_token`` it is a temporary credential: requests must then carry that token (X-Amz-Security-Token)."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    account_id: str
    principal_arn: str
    session_token: str | None = field(default=None, repr=False)

    @property
    def principal(self) -> Principal:
        return Principal(arn=self.principal_arn, account_id=self.account_id, access_key_id=self.access_key_id)


DEV_CREDENTIAL = Credential(
    access_key_id=DEV_ACCESS_KEY_ID,
    secret_access_key=DEV_SECRET_ACCESS_KEY,
    account_id=DEV_ACCOUNT_ID,
    principal_arn=DEV_PRINCIPAL_ARN,
)


class CredentialsError(ValueError):
    """The credentials configuration is unusable (bad file, no credentials at all): the process must not start."""


class CredentialStore:
    """Access key id -> :class:`Credential`. Built once at start-up; read-only afterwards."""

    def __init__(self, credentials: Iterable[Credential]) -> None:
        self._by_key: dict[str, Credential] = {}
        for cred in credentials:
            if cred.access_key_id in self._by_key:
                raise CredentialsError(f"access key id {cred.access_key_id} is listed twice")
            self._by_key[cred.access_key_id] = cred

    def get(self, access_key_id: str) -> Credential | None:
        return self._by_key.get(access_key_id)

    def __contains__(self, access_key_id: object) -> bool:
        return access_key_id in self._by_key

    def __len__(self) -> int:
        return len(self._by_key)

    def __iter__(self) -> Iterator[Credential]:
        return iter(list(self._by_key.values()))

    @property
    def access_key_ids(self) -> list[str]:
        return sorted(self._by_key)

    @classmethod
    def from_document(cls, document: Any, source: str = "credentials") -> CredentialStore:
        """Build from a parsed credentials document: ``{"credentials": [{access_key_id, secret_access_key,
        account_id, principal, [session_token]}, ...]}``. Raises :class:`CredentialsError` naming the entry."""
        if not isinstance(document, Mapping) or not isinstance(document.get("credentials"), list):
            raise CredentialsError(f"{source}: expected a mapping with a 'credentials' list")
        unknown_top = set(document) - {"credentials"}
        if unknown_top:
            raise CredentialsError(f"{source}: unknown top-level keys {sorted(unknown_top)}")
        return cls(
            _parse_entry(entry, f"{source}: credentials[{i}]") for i, entry in enumerate(document["credentials"])
        )

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> CredentialStore:
        """Read a JSON or YAML credentials file (YAML's parser reads both)."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise CredentialsError(f"cannot read credentials file {p}: {exc}") from exc
        try:
            document = json.loads(text) if p.suffix.lower() == ".json" else yaml.safe_load(text)
        except (ValueError, yaml.YAMLError) as exc:
            raise CredentialsError(f"credentials file {p} is not valid {p.suffix or 'YAML/JSON'}: {exc}") from exc
        return cls.from_document(document, str(p))


_ENTRY_KEYS = {"access_key_id", "secret_access_key", "account_id", "principal", "session_token"}


def _parse_entry(entry: Any, where: str) -> Credential:
    if not isinstance(entry, Mapping):
        raise CredentialsError(f"{where}: expected a mapping")
    unknown = set(entry) - _ENTRY_KEYS
    if unknown:
        raise CredentialsError(f"{where}: unknown keys {sorted(unknown)}")
    for key in ("access_key_id", "secret_access_key", "account_id", "principal"):
        if key not in entry:
            raise CredentialsError(f"{where}: missing {key}")
        if not isinstance(entry[key], str):
            hint = " (quote it: YAML reads an unquoted 000000000000 as a number)" if key == "account_id" else ""
            raise CredentialsError(f"{where}: {key} must be a string{hint}")
    key_id, secret, account, arn = (
        entry["access_key_id"],
        entry["secret_access_key"],
        entry["account_id"],
        entry["principal"],
    )
    if not _ACCESS_KEY_RE.match(key_id):
        raise CredentialsError(f"{where}: access_key_id must be 16-128 letters, digits or underscores")
    if len(secret) < _MIN_SECRET_LENGTH:
        raise CredentialsError(
            f"{where}: secret_access_key of {key_id} is shorter than {_MIN_SECRET_LENGTH} characters"
        )
    if not _ACCOUNT_RE.match(account):
        raise CredentialsError(f"{where}: account_id of {key_id} must be 12 digits")
    m = _PRINCIPAL_RE.match(arn)
    if not m:
        raise CredentialsError(
            f"{where}: principal of {key_id} must be an IAM ARN (arn:aws:iam::<account>:user/<name>, :role/<name>,"
            " :root, or arn:aws:sts::<account>:assumed-role/<role>/<session>)"
        )
    if (m.group(1) or m.group(2)) != account:
        raise CredentialsError(f"{where}: principal {arn} is not in account {account}")
    token = entry.get("session_token")
    if token is not None and (not isinstance(token, str) or not token):
        raise CredentialsError(f"{where}: session_token of {key_id} must be a non-empty string")
    return Credential(key_id, secret, account, arn, token)


@dataclass(frozen=True)
class AuthSettings:
    """Where credentials come from, parsed once from the environment (docs/specs/configuration.md)."""

    credentials_file: str | None = None
    dev: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AuthSettings:
        e = os.environ if env is None else env
        return cls(
            credentials_file=e.get(CREDENTIALS_FILE_ENV) or None,
            dev=e.get(AUTH_DEV_ENV, "").strip().lower() in _TRUE,
        )


def load_credentials(settings: AuthSettings) -> CredentialStore:
    """The credentials a process accepts: the file's, plus the development credential when (and only when)
    ``TAILOR_AUTH_DEV`` is set — which is logged as a warning at every start. Neither configured: refuse to
    start (:class:`CredentialsError`), so that no deployment ever runs unauthenticated or on the published key."""
    creds: list[Credential] = []
    if settings.credentials_file:
        file_store = CredentialStore.from_file(settings.credentials_file)
        creds.extend(file_store)
        log.info(
            "auth: %d credential(s) loaded from %s",
            len(file_store),
            settings.credentials_file,
            extra={"credentials_file": settings.credentials_file, "credentials": len(file_store)},
        )
    if settings.dev:
        creds.append(DEV_CREDENTIAL)
        log.warning(
            "auth: DEVELOPMENT CREDENTIAL ENABLED (%s=1): access key %s with its published secret is accepted for"
            " account %s — never set %s in production",
            AUTH_DEV_ENV,
            DEV_ACCESS_KEY_ID,
            DEV_ACCOUNT_ID,
            AUTH_DEV_ENV,
        )
    if not creds:
        raise CredentialsError(
            f"no credentials configured: set {CREDENTIALS_FILE_ENV} to a credentials file (docs/specs/auth.md),"
            f" or {AUTH_DEV_ENV}=1 on a development machine to accept the development credential"
        )
    return CredentialStore(creds)


# ------------------------------------------------------------------------------------------------ verification

#: Headers as a mapping or (name, value) pairs (repeated names allowed); names and values as str or raw bytes.
HeaderInput = Mapping[str, str] | Mapping[bytes, bytes] | Iterable[tuple[str | bytes, str | bytes]]


class _ReceivedRequestSigner(SigV4Auth):
    """botocore's SigV4 signer, told to sign exactly the headers the client listed in SignedHeaders (the
    request it is given holds only those) instead of choosing them itself — everything else (path and query
    canonicalisation, header value trimming, payload hash, scope, key derivation) is botocore's own."""

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        return request.headers


@dataclass(frozen=True)
class _SignatureParts:
    access_key_id: str
    date: str
    region: str
    service: str
    terminator: str
    signed_headers: list[str]
    signature: str
    timestamp: str  # the signing time, ISO-8601 basic (YYYYMMDDTHHMMSSZ)
    security_token: str | None
    presigned: bool  # the query-string form (X-Amz-Signature is then not part of the canonical query)
    expires_s: int | None  # presigned only: X-Amz-Expires


class SigV4Verifier:
    """Verifies AWS SigV4 signatures against a :class:`CredentialStore` for one region and a set of accepted
    signing names (``personalize`` for all three Personalize clients)."""

    def __init__(
        self, store: CredentialStore, region: str, services: Iterable[str] = (PERSONALIZE_SIGNING_NAME,)
    ) -> None:
        self.store = store
        self.region = region
        self.services = frozenset(services)
        if not self.services:
            raise ValueError("at least one accepted signing name is required")

    def verify(
        self,
        method: str,
        path: str | bytes,
        query: str | bytes,
        headers: HeaderInput,
        body: bytes,
        now: datetime | None = None,
        *,
        services: Iterable[str] | None = None,
    ) -> Principal:
        """Authenticate one HTTP request as received and return its :class:`Principal`.

        ``path`` is the request-target's path exactly as sent, still percent-encoded (ASGI ``raw_path``, not the
        decoded ``path``); ``query`` the raw query string without ``?``; path, query and headers as str or raw bytes;
        ``headers`` every header as received — a mapping or (name, value) pairs, repeated names allowed, and
        ``Host`` must be among them; ``body`` the raw body bytes; ``now`` the server time (default: the clock).
        ``services`` overrides the accepted signing names for this call.

        Raises MissingAuthenticationTokenException, IncompleteSignatureException, UnrecognizedClientException or
        InvalidSignatureException (all ``AuthenticationError``, ``http_status`` 403)."""
        now = _utc(now or datetime.now(UTC))
        accepted = self.services if services is None else frozenset(services)
        path = _text(path)
        header_pairs = _header_pairs(headers)
        query_pairs = _query_pairs(_text(query))
        parts = _parse_signature(header_pairs, query_pairs)

        cred = self.store.get(parts.access_key_id)
        if cred is None:
            raise UnrecognizedClientException(INVALID_TOKEN_MESSAGE)
        _check_scope(parts, self.region, accepted)
        _check_time(parts, now)

        signed = set(parts.signed_headers)
        if "host" not in signed:
            raise IncompleteSignatureException(
                "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
            )
        present = {name for name, _ in header_pairs}
        if not signed <= present:
            raise InvalidSignatureException(SIGNATURE_MISMATCH_MESSAGE)

        body_hash = hashlib.sha256(body).hexdigest()
        for name, value in header_pairs:
            if name == CONTENT_SHA256_HEADER and value.strip() != body_hash:
                raise InvalidSignatureException(
                    "The provided 'x-amz-content-sha256' header does not match what was computed."
                )

        url = "http://tailor.invalid" + (path if path.startswith("/") else "/" + path)
        canonical_query = _canonical_query(query_pairs, drop_signature=parts.presigned)
        if canonical_query:
            url += "?" + canonical_query
        request = AWSRequest(method=method.upper(), url=url, data=body)
        for name, value in header_pairs:
            if name in signed:
                request.headers[name] = value  # HTTPHeaders appends: repeated headers keep every value
        request.context["timestamp"] = parts.timestamp

        signer = _ReceivedRequestSigner(
            Credentials(cred.access_key_id, cred.secret_access_key, cred.session_token), parts.service, parts.region
        )
        canonical_request = signer.canonical_request(request)
        string_to_sign = signer.string_to_sign(request, canonical_request)
        expected = signer.signature(string_to_sign, request)
        if not hmac.compare_digest(expected.encode(), parts.signature.encode("utf-8", "replace")):
            # The canonical request holds every signed header: a session token is a secret, so it is redacted.
            if parts.security_token:
                canonical_request = canonical_request.replace(parts.security_token, "<redacted>")
            log.debug(
                "auth: signature mismatch for %s",
                parts.access_key_id,
                extra={"canonical_request": canonical_request, "string_to_sign": string_to_sign},
            )
            raise InvalidSignatureException(SIGNATURE_MISMATCH_MESSAGE)
        # After the signature: only the key's holder learns whether it is temporary.
        _check_session_token(cred, parts.security_token)
        return cred.principal


# --------------------------------------------------------------------------------------------------- internals


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _text(value: str | bytes) -> str:
    """Raw bytes off the wire as the text the client signed: UTF-8, else latin-1 (HTTP's historical charset)."""
    if isinstance(value, str):
        return value
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


def _header_pairs(headers: HeaderInput) -> list[tuple[str, str]]:
    items: Iterable[tuple[str | bytes, str | bytes]] = headers.items() if isinstance(headers, Mapping) else headers
    return [(_text(name).lower().strip(), _text(value)) for name, value in items]


def _query_pairs(query: str) -> list[tuple[str, str]]:
    """The raw query's (name, value) pairs, still percent-encoded as sent."""
    pairs = []
    for segment in query.lstrip("?").split("&"):
        if segment:
            name, _, value = segment.partition("=")
            pairs.append((name, value))
    return pairs


def _decode(component: str) -> str:
    return unquote_to_bytes(component).decode("utf-8", "replace")


def _canonical_query(pairs: list[tuple[str, str]], drop_signature: bool) -> str:
    """Each name and value percent-decoded then re-encoded as SigV4 prescribes (RFC 3986 unreserved characters
    only), so any SDK's encoding yields the one canonical form; botocore sorts the pairs."""
    out = []
    for name, value in pairs:
        if drop_signature and _decode(name) == "X-Amz-Signature":
            continue
        out.append(f"{quote(unquote_to_bytes(name), safe='-_.~')}={quote(unquote_to_bytes(value), safe='-_.~')}")
    return "&".join(out)


def _first(pairs: list[tuple[str, str]], name: str) -> str | None:
    for key, value in pairs:
        if key == name:
            return value
    return None


def _parse_signature(header_pairs: list[tuple[str, str]], query_pairs: list[tuple[str, str]]) -> _SignatureParts:
    authorization = _first(header_pairs, "authorization")
    query = {_decode(k): _decode(v) for k, v in query_pairs}
    presigned = "X-Amz-Signature" in query or "X-Amz-Algorithm" in query
    if authorization is None and not presigned:
        raise MissingAuthenticationTokenException(MISSING_TOKEN_MESSAGE)
    if authorization is not None and presigned:
        raise IncompleteSignatureException(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header"
            " should be specified"
        )
    security_token = _first(header_pairs, SECURITY_TOKEN_HEADER)
    if authorization is not None:
        algorithm, _, rest = authorization.strip().partition(" ")
        if algorithm != ALGORITHM:
            raise IncompleteSignatureException(
                f"Unsupported authorization type '{algorithm}': Tailor accepts {ALGORITHM} (AWS Signature Version 4)"
                f" only. Authorization={authorization}"
            )
        fields: dict[str, str] = {}
        for item in rest.split(","):
            key, eq, value = item.strip().partition("=")
            if eq:
                fields[key.strip()] = value.strip()
        missing = [k for k in ("Credential", "Signature", "SignedHeaders") if not fields.get(k)]
        if missing:
            raise IncompleteSignatureException(
                " ".join(f"Authorization header requires '{k}' parameter." for k in missing)
                + f" Authorization={authorization}"
            )
        credential, signed_headers, signature = fields["Credential"], fields["SignedHeaders"], fields["Signature"]
        timestamp = _request_timestamp(header_pairs)
        expires_s = None
    else:
        missing = [
            k
            for k in ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Signature")
            if not query.get(k)
        ]
        if missing:
            raise IncompleteSignatureException(
                " ".join(f"AWS query-string parameters must include '{k}'." for k in missing)
                + " Re-examine the query-string parameters."
            )
        if query["X-Amz-Algorithm"] != ALGORITHM:
            raise IncompleteSignatureException(
                f"Unsupported AWS 'algorithm': '{query['X-Amz-Algorithm']}': Tailor accepts {ALGORITHM} only."
            )
        credential, signed_headers, signature = (
            query["X-Amz-Credential"],
            query["X-Amz-SignedHeaders"],
            query["X-Amz-Signature"],
        )
        timestamp = _parse_timestamp(query["X-Amz-Date"])
        expires_s = _parse_expires(query.get("X-Amz-Expires"))
        security_token = query.get("X-Amz-Security-Token", security_token)

    scope = credential.split("/")
    if len(scope) != 5 or not all(scope):
        raise IncompleteSignatureException(
            f"Credential must have the form <access key id>/<YYYYMMDD>/<region>/<service>/aws4_request, got"
            f" '{credential}'."
        )
    return _SignatureParts(
        access_key_id=scope[0],
        date=scope[1],
        region=scope[2],
        service=scope[3],
        terminator=scope[4],
        signed_headers=signed_headers.split(";"),
        signature=signature,
        timestamp=timestamp,
        security_token=security_token,
        presigned=authorization is None,
        expires_s=expires_s,
    )


def _request_timestamp(header_pairs: list[tuple[str, str]]) -> str:
    """The signing time: X-Amz-Date, else Date (ISO-8601 basic or RFC 1123, as botocore may send)."""
    amz_date = _first(header_pairs, "x-amz-date")
    if amz_date is not None:
        return _parse_timestamp(amz_date)
    date = _first(header_pairs, "date")
    if date is None:
        raise IncompleteSignatureException(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        )
    try:
        return _parse_timestamp(date)
    except IncompleteSignatureException:
        pass
    try:
        return _utc(parsedate_to_datetime(date)).strftime(SIGV4_TIMESTAMP)
    except (TypeError, ValueError):
        raise IncompleteSignatureException(
            f"Date must be in ISO-8601 'basic format' or RFC 1123. Got '{date}'."
        ) from None


def _parse_timestamp(value: str) -> str:
    try:
        return datetime.strptime(value.strip(), SIGV4_TIMESTAMP).strftime(SIGV4_TIMESTAMP)
    except ValueError:
        raise IncompleteSignatureException(
            f"Date must be in ISO-8601 'basic format'. Got '{value}'. See http://en.wikipedia.org/wiki/ISO_8601"
        ) from None


def _parse_expires(value: str | None) -> int | None:
    if value is None:
        return None  # no X-Amz-Expires: the 15-minute window of a signed header applies
    try:
        expires = int(value)
    except ValueError:
        raise IncompleteSignatureException(f"X-Amz-Expires must be a number of seconds, got '{value}'.") from None
    if not 0 < expires <= MAX_PRESIGNED_EXPIRES_S:
        raise IncompleteSignatureException(
            f"X-Amz-Expires must be between 1 and {MAX_PRESIGNED_EXPIRES_S} seconds, got {expires}."
        )
    return expires


def _check_session_token(cred: Credential, token: str | None) -> None:
    if token is None:
        if cred.session_token is not None:
            raise UnrecognizedClientException(
                INVALID_TOKEN_MESSAGE + " This access key is temporary: send its session token (X-Amz-Security-Token)."
            )
        return
    if cred.session_token is None:
        raise UnrecognizedClientException(
            INVALID_TOKEN_MESSAGE
            + " This access key takes no session token (X-Amz-Security-Token): unset AWS_SESSION_TOKEN, or configure"
            " the key's session_token in the credentials file."
        )
    if not hmac.compare_digest(token.encode("utf-8", "replace"), cred.session_token.encode()):
        raise UnrecognizedClientException(INVALID_TOKEN_MESSAGE)


def _check_scope(parts: _SignatureParts, region: str, services: frozenset[str]) -> None:
    if parts.date != parts.timestamp[:8]:
        raise InvalidSignatureException(
            f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{parts.date}' != '{parts.timestamp[:8]}', from '{parts.timestamp}'."
        )
    if parts.region != region:
        raise InvalidSignatureException(f"Credential should be scoped to a valid region, not '{parts.region}'. ")
    if parts.service not in services:
        expected = "', '".join(sorted(services))
        raise InvalidSignatureException(f"Credential should be scoped to correct service: '{expected}'. ")
    if parts.terminator != "aws4_request":
        raise InvalidSignatureException(
            f"Credential should be scoped with a valid terminator: 'aws4_request', not '{parts.terminator}'. "
        )


def _check_time(parts: _SignatureParts, now: datetime) -> None:
    signed_at = datetime.strptime(parts.timestamp, SIGV4_TIMESTAMP).replace(tzinfo=UTC)
    fmt = SIGV4_TIMESTAMP
    if signed_at - now > MAX_CLOCK_SKEW:
        raise InvalidSignatureException(
            f"Signature not yet current: {parts.timestamp} is still later than {(now + MAX_CLOCK_SKEW).strftime(fmt)}"
            f" ({now.strftime(fmt)} + 15 min.)"
        )
    if parts.expires_s is None:
        if now - signed_at > MAX_CLOCK_SKEW:
            raise InvalidSignatureException(
                f"Signature expired: {parts.timestamp} is now earlier than {(now - MAX_CLOCK_SKEW).strftime(fmt)}"
                f" ({now.strftime(fmt)} - 15 min.)"
            )
    elif now - signed_at > timedelta(seconds=parts.expires_s):
        limit = (now - timedelta(seconds=parts.expires_s)).strftime(fmt)
        raise InvalidSignatureException(
            f"Signature expired: {parts.timestamp} is now earlier than {limit} ({now.strftime(fmt)} -"
            f" {parts.expires_s} sec.)"
        )
