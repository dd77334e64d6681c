"""Resource incarnations: what binds storage to one life of a resource, never to its name (ADR 0012).

Control gives every resource that owns storage (dataset group, dataset, solution version, recommender) a
fresh random token at create time, kept in its record as the worker-private body field ``_incarnation``
(never shown in responses). Storage names are derived from (name, incarnation) in one place each:
``tailor_shared.topics`` (dataset topics), ``tailor_shared.redis_keys.Keys.for_group`` (a dataset group's
Redis keys) and ``tailor_shared.model_store`` (model directories). A resource deleted and created again under
the same name gets a new token, so its storage starts empty.

Records written before incarnations existed have no ``_incarnation``: they keep the legacy name-only layout
(``incarnation_of`` returns None and every naming function then gives the old name).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from typing import Any

#: The body field that holds a resource's incarnation.
FIELD = "_incarnation"
#: Hex characters of a token (32 random bits: only incarnations of one name must differ).
LENGTH = 8
#: Resource types whose records get an incarnation at create time (they own topics, keys or model dirs).
OWNERS = frozenset({"datasetGroup", "dataset", "solutionVersion", "recommender"})

_TOKEN = re.compile(rf"^[0-9a-f]{{{LENGTH}}}$")


def new_incarnation() -> str:
    """A fresh random token (lower-case hex, ``LENGTH`` characters)."""
    return secrets.token_hex(LENGTH // 2)


def is_token(value: str) -> bool:
    return bool(_TOKEN.match(value))


def incarnation_of(body: Mapping[str, Any] | Any) -> str | None:
    """The incarnation of a record (a ``ResourceRecord`` or its body), or None for a legacy record.

    A value that is not a token is an error: a name must never be built from garbage."""
    if not isinstance(body, Mapping):
        body = body.body
    value = body.get(FIELD)
    if value is None:
        return None
    if not isinstance(value, str) or not is_token(value):
        raise ValueError(f"bad {FIELD} {value!r}")
    return value
