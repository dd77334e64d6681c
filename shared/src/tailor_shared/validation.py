"""AWS's validation-error wording and the request-member limits more than one service checks.

Every service that rejects a request member says it the way Personalize does::

    1 validation error detected: Value 'x' at 'eventList.1.member.itemId' failed to satisfy constraint: <rule>

``constraint_message`` builds the "Value ... at ... failed to satisfy constraint" sentence and
``validation_error`` the counted exception, so the wording has one definition. The limits are the guide's
(Lnnnn = line in spec/seeds/personalize-developer-guide.txt); schemas, ingest and runtime read them here.
Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Final

from tailor_shared.errors import InvalidInputException

# --- Member limits shared by the schema rules, the ingest API and the runtime API -------------------------------
#: userId / itemId / actionId / sessionId / trackingId / eventId, and the USER_ID / ITEM_ID / ACTION_ID columns:
#: 1..256 (L4945, L4980, L5050, L28675, L34937, quotas L19700+).
MAX_ID_LENGTH: Final = 256
MAX_EVENT_TYPE_LENGTH: Final = 256  # Event.eventType / EVENT_TYPE 1..256 (L28675, L34937)
MAX_RECOMMENDATION_ID_LENGTH: Final = 40  # Event.recommendationId / RECOMMENDATION_ID 1..40 (L28675, L34937)
#: MetricAttribution.eventAttributionSource / EVENT_ATTRIBUTION_SOURCE <= 1024 (L28675, api.md §5.3).
MAX_EVENT_ATTRIBUTION_SOURCE_LENGTH: Final = 1024

#: ``constraint_message``'s ``value`` when the message names no value ("Value at 'x' failed ..."), as AWS
#: does for members it does not echo.
NO_VALUE: Final = object()


def quoted(value: object) -> str:
    """A value as the control plane echoes it: ``null``, else ``'value'``."""
    return "null" if value is None else f"'{value}'"


def quoted_short(value: object) -> str:
    """A record value as the ingest path echoes it: JSON for non-strings, cut to 80 characters."""
    if value is None:
        return "null"
    text = value if isinstance(value, str) else json.dumps(value)
    return f"'{text[:77]}...'" if len(text) > 80 else f"'{text}'"


def constraint_message(value: object, path: str, rule: str, show: Callable[[object], str] = quoted) -> str:
    """``Value 'x' at 'path' failed to satisfy constraint: rule`` (``path`` is the member path, 1-based)."""
    shown = "Value" if value is NO_VALUE else f"Value {show(value)}"
    return f"{shown} at '{path}' failed to satisfy constraint: {rule}"


def validation_error(
    value: object, path: str, rule: str, show: Callable[[object], str] = quoted
) -> InvalidInputException:
    """AWS's counted form: ``1 validation error detected: `` + ``constraint_message``."""
    return InvalidInputException(f"1 validation error detected: {constraint_message(value, path, rule, show)}")
