"""List* pagination: ``maxResults`` 1-100 and an opaque, stateless ``nextToken``.

The token records the operation, the list's filter and the sort key of the last item returned, so a page
boundary survives concurrent creates and deletes, any replica can continue a listing, and a token from
another listing (or garbage) is rejected with InvalidNextTokenException as Personalize does.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from tailor_control.domain.validate import Request
from tailor_shared.errors import InvalidNextTokenException

T = TypeVar("T")

#: PAGE: "Minimum value of 1. Maximum value of 100." (default 100, as ListBatch*Jobs print; ADR 0002).
MAX_RESULTS = 100
DEFAULT_MAX_RESULTS = 100
#: nextToken: String, max 1500, ``\p{ASCII}{0,1500}``.
TOKEN_MAX = 1500


def _encode(payload: dict[str, Any]) -> str:
    raw = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(token: str) -> dict[str, Any]:
    if len(token) > TOKEN_MAX or not token.isascii():
        raise InvalidNextTokenException("The token is not valid.")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidNextTokenException("The token is not valid.") from None
    if not isinstance(payload, dict):
        raise InvalidNextTokenException("The token is not valid.")
    return payload


def paginate(
    items: Sequence[T],
    req: Request,
    *,
    operation: str,
    scope: str | None,
    key: Callable[[T], tuple[float, str]],
    default_max: int = DEFAULT_MAX_RESULTS,
    max_results: int = MAX_RESULTS,
) -> tuple[list[T], str | None]:
    """Return one page of ``items`` (already in list order, ``key`` strictly monotonic along it) and
    the token for the next page, or None when there are no more results."""
    limit = req.integer("maxResults", minimum=1, maximum=max_results, default=default_max)
    assert limit is not None
    token = req.string("nextToken")
    start = 0
    if token:
        payload = _decode(token)
        after = payload.get("after")
        if (
            payload.get("op") != operation
            or payload.get("scope") != scope
            or not isinstance(after, list)
            or len(after) != 2
            or not isinstance(after[0], int | float)
            or not isinstance(after[1], str)
        ):
            raise InvalidNextTokenException("The token is not valid.")
        marker = (float(after[0]), after[1])
        # Items are sorted by descending key: continue with the first item past the marker.
        start = len(items)
        for i, item in enumerate(items):
            if key(item) < marker:
                start = i
                break
    page = list(items[start : start + limit])
    if start + limit < len(items) and page:
        last = key(page[-1])
        return page, _encode({"op": operation, "scope": scope, "after": [last[0], last[1]]})
    return page, None
