"""Personalize's exception types, each bound to the gRPC status a client sees.

Handlers and domain code raise these; one server interceptor (``tailor_shared.grpc_server``) turns them
into a gRPC status whose details carry the Personalize exception name, so a client that knows
Personalize can branch on the same names. Nothing else builds error responses.
"""

from __future__ import annotations

import grpc

#: Trailing-metadata key carrying the Personalize exception name (as AWS's ``x-amzn-ErrorType``).
ERROR_TYPE_METADATA_KEY = "x-tailor-error-type"

#: The most UTF-8 bytes an error message keeps. Messages echo inputs, and an input may be 20,000 characters
#: or more; the message travels as gRPC's ``grpc-message`` trailer (percent-encoded, so up to 3x larger),
#: and a trailer block over gRPC's 8 KiB metadata limit reaches the client as an untyped RESOURCE_EXHAUSTED.
MAX_MESSAGE_BYTES = 1024
_HEAD_BYTES = 700  # what a cut message keeps of its start (the input's start, usually) ...
_TAIL_BYTES = 240  # ... and of its end (the field name and the constraint, usually)


def _utf8_prefix(text: str, budget: int) -> str:
    """The longest prefix of ``text`` whose UTF-8 encoding fits in ``budget`` bytes."""
    return text.encode()[:budget].decode(errors="ignore")


def shorten_message(message: str, limit: int = MAX_MESSAGE_BYTES) -> str:
    """``message`` unchanged when it fits in ``limit`` UTF-8 bytes; otherwise its start and its end around a
    marker saying how many characters were cut, in at most ``limit`` bytes."""
    if len(message) <= limit // 4 or len(message.encode()) <= limit:
        return message
    head_budget = limit * _HEAD_BYTES // MAX_MESSAGE_BYTES
    tail_budget = limit * _TAIL_BYTES // MAX_MESSAGE_BYTES
    head = _utf8_prefix(message, head_budget)
    tail = _utf8_prefix(message[::-1], tail_budget)[::-1]
    cut = len(message) - len(head) - len(tail)
    return f"{head}...[{cut} characters cut]...{tail}"


class PersonalizeError(Exception):
    """Base of every error a client may see; ``code`` names the Personalize exception."""

    code: str = "InternalFailure"
    grpc_status: grpc.StatusCode = grpc.StatusCode.INTERNAL

    def __init__(self, message: str) -> None:
        # Cut where every error is built, so no service can send a message gRPC's metadata limit refuses.
        message = shorten_message(message)
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class InvalidInputException(PersonalizeError):
    code = "InvalidInputException"
    grpc_status = grpc.StatusCode.INVALID_ARGUMENT


class InvalidNextTokenException(PersonalizeError):
    code = "InvalidNextTokenException"
    grpc_status = grpc.StatusCode.INVALID_ARGUMENT


class ResourceNotFoundException(PersonalizeError):
    code = "ResourceNotFoundException"
    grpc_status = grpc.StatusCode.NOT_FOUND


class ResourceAlreadyExistsException(PersonalizeError):
    code = "ResourceAlreadyExistsException"
    grpc_status = grpc.StatusCode.ALREADY_EXISTS


class ResourceInUseException(PersonalizeError):
    code = "ResourceInUseException"
    grpc_status = grpc.StatusCode.FAILED_PRECONDITION


class LimitExceededException(PersonalizeError):
    code = "LimitExceededException"
    grpc_status = grpc.StatusCode.RESOURCE_EXHAUSTED


class TooManyTagsException(PersonalizeError):
    code = "TooManyTagsException"
    grpc_status = grpc.StatusCode.RESOURCE_EXHAUSTED


class TooManyTagKeysException(PersonalizeError):
    code = "TooManyTagKeysException"
    grpc_status = grpc.StatusCode.RESOURCE_EXHAUSTED


class ThrottlingException(PersonalizeError):
    """Backpressure: the Kafka producer queue is full; the client should retry later."""

    code = "ThrottlingException"
    grpc_status = grpc.StatusCode.RESOURCE_EXHAUSTED


class ServiceUnavailableException(PersonalizeError):
    """A dependency (Kafka, Redis, a model) is unavailable: never answer with a guess instead."""

    code = "ServiceUnavailableException"
    grpc_status = grpc.StatusCode.UNAVAILABLE


class InternalFailure(PersonalizeError):
    code = "InternalFailure"
    grpc_status = grpc.StatusCode.INTERNAL


class AuthenticationError(PersonalizeError):
    """The caller could not be authenticated (AWS Signature Version 4, ``tailor_shared.auth``). AWS answers
    these before any operation runs, on the HTTP gateway, so they also carry the ``http_status`` it sends."""

    code = "UnrecognizedClientException"
    grpc_status = grpc.StatusCode.UNAUTHENTICATED
    http_status: int = 403


class MissingAuthenticationTokenException(AuthenticationError):
    """Neither an ``Authorization`` header nor a presigned query string ("Missing Authentication Token")."""

    code = "MissingAuthenticationTokenException"


class IncompleteSignatureException(AuthenticationError):
    """The signature is malformed: a missing ``Credential``/``SignedHeaders``/``Signature``, no date, ..."""

    code = "IncompleteSignatureException"
    http_status = 400  # the guide's common errors: "IncompleteSignature ... HTTP Status Code: 400"


class UnrecognizedClientException(AuthenticationError):
    """Unknown access key id, or a session token that is not the configured one."""

    code = "UnrecognizedClientException"


class InvalidSignatureException(AuthenticationError):
    """Wrong signature, wrong credential scope, or a signing time more than 15 minutes from the server's."""

    code = "InvalidSignatureException"


class AccessDeniedException(PersonalizeError):
    """An authenticated principal whose policies do not allow the action on the resource (``tailor_shared.iam``:
    an explicit deny, or no allow). AWS's JSON services answer it with HTTP 400."""

    code = "AccessDeniedException"
    grpc_status = grpc.StatusCode.PERMISSION_DENIED
    http_status: int = 400


ERRORS_BY_CODE: dict[str, type[PersonalizeError]] = {
    cls.code: cls
    for cls in (
        InvalidInputException,
        InvalidNextTokenException,
        ResourceNotFoundException,
        ResourceAlreadyExistsException,
        ResourceInUseException,
        LimitExceededException,
        TooManyTagsException,
        TooManyTagKeysException,
        ThrottlingException,
        ServiceUnavailableException,
        InternalFailure,
        MissingAuthenticationTokenException,
        IncompleteSignatureException,
        UnrecognizedClientException,
        InvalidSignatureException,
        AccessDeniedException,
    )
}


def from_rpc_error(err: grpc.RpcError) -> PersonalizeError:
    """Rebuild the typed error on the client side from trailing metadata (used by clients and tests).
    Works for sync (``grpc.Call``) and asyncio (``grpc.aio.AioRpcError``) errors alike."""
    code = "InternalFailure"
    status_fn = getattr(err, "code", None)
    if callable(status_fn) and status_fn() == grpc.StatusCode.UNAVAILABLE:
        # No server answered (a process behind the address died, nothing listens): retryable, as AWS SDKs treat it.
        code = ServiceUnavailableException.code
    trailing = getattr(err, "trailing_metadata", None)
    for key, value in (trailing() if callable(trailing) else None) or ():
        if key == ERROR_TYPE_METADATA_KEY:
            code = str(value)
    details_fn = getattr(err, "details", None)
    details = details_fn() if callable(details_fn) else str(err)
    return ERRORS_BY_CODE.get(code, InternalFailure)(details or "")
