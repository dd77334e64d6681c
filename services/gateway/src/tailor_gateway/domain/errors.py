"""AWS's error responses, as botocore parses them (no I/O).

JSON 1.1 (control plane): HTTP 400 (5xx for server faults) and ``{"__type": "<Code>", "message": "..."}``;
botocore takes the code from ``__type``. REST-JSON (events, runtime): the HTTP status of the error shape
(``error.httpStatusCode`` in botocore's model: 400 InvalidInput, 404 ResourceNotFound, 409 ResourceInUse),
the code in the ``x-amzn-ErrorType`` header and the same body. Either way botocore raises
``client.exceptions.<Code>`` when the code is one of the service's modelled exceptions, and a ``ClientError``
with that code otherwise.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from botocore.model import ServiceModel

#: Statuses of the codes that are not modelled error shapes: AWS's common errors and the SigV4 errors.
COMMON_STATUS: dict[str, int] = {
    "InternalFailure": 500,
    "ServiceUnavailableException": 503,
    "ThrottlingException": 400,
    "UnknownOperationException": 400,
    "SerializationException": 400,
    "RequestEntityTooLargeException": 413,
    "MissingAuthenticationTokenException": 403,
    "IncompleteSignatureException": 403,
    "InvalidSignatureException": 403,
    "UnrecognizedClientException": 403,
    "AccessDeniedException": 403,
    "ExpiredTokenException": 403,
    "SignatureDoesNotMatch": 403,
}
#: REST-JSON APIs answer throttling with 429 (the JSON 1.1 control plane with 400).
REST_THROTTLING_STATUS = 429


@dataclass(frozen=True)
class AwsErrorResponse:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


def error_status(model: ServiceModel, code: str) -> int:
    """The HTTP status AWS sends for ``code`` from this service: the error shape's ``httpStatusCode`` when
    botocore models one, else AWS's common status for it (400 for a client error)."""
    if code in model.shape_names:
        status = model.shape_for(code).metadata.get("error", {}).get("httpStatusCode")
        if isinstance(status, int):
            return status
    if code == "ThrottlingException" and model.protocol == "rest-json":
        return REST_THROTTLING_STATUS
    return COMMON_STATUS.get(code, 400)


def error_response(model: ServiceModel, code: str, message: str, status: int | None = None) -> AwsErrorResponse:
    """The whole error response for ``code`` from the service ``model`` (``status`` overrides the lookup)."""
    body = json.dumps({"__type": code, "message": message}).encode()
    if model.protocol == "json":
        headers: tuple[tuple[str, str], ...] = (("content-type", "application/x-amz-json-1.1"),)
    else:
        headers = (("content-type", "application/json"), ("x-amzn-errortype", code))
    return AwsErrorResponse(
        status=status if status is not None else error_status(model, code), headers=headers, body=body
    )
