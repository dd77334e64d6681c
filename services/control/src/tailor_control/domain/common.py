"""Helpers every operation shares: look-ups that raise Personalize's errors, record construction,
list order, and the operation registry that ``handle`` dispatches through."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from tailor_control.domain import model as m
from tailor_control.domain.validate import Request
from tailor_shared import incarnation
from tailor_shared.errors import (
    InvalidInputException,
    LimitExceededException,
    ResourceAlreadyExistsException,
    ResourceInUseException,
    ResourceNotFoundException,
)
from tailor_shared.resources import ResourceReader, ResourceRecord

Handler = Callable[[Request, ResourceReader, m.Context], m.Outcome]

#: Operation name -> handler; filled by the ``ops_*`` modules through ``@operation``.
REGISTRY: dict[str, Handler] = {}


def operation(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        if name in REGISTRY:
            raise RuntimeError(f"operation {name} registered twice")
        REGISTRY[name] = fn
        return fn

    return register


# --- look-ups -------------------------------------------------------------------------------------------


def not_found(arn: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"Could not find the specified resource: {arn}")


def get(view: ResourceReader, arn: str, resource_type: str) -> ResourceRecord:
    """The record for ``arn`` if it is a ``resource_type``; ResourceNotFoundException otherwise."""
    record = view.get(arn)
    if record is None or record.resource_type != resource_type:
        raise not_found(arn)
    return record


def status(record: ResourceRecord) -> str:
    return str(record.body.get("status", ""))


def require_status(record: ResourceRecord, allowed: Iterable[str], what: str) -> None:
    """A resource in the wrong state for the call is "in use" (RIU), e.g. a dataset group that is not
    ACTIVE yet (ADR 0002)."""
    allowed = tuple(allowed)
    if status(record) not in allowed:
        raise ResourceInUseException(
            f"{what} {record.arn} is in status {status(record) or 'unknown'}; it must be {' or '.join(allowed)}."
        )


def require_active(record: ResourceRecord, what: str) -> None:
    require_status(record, (m.ACTIVE,), what)


def ensure_absent(view: ResourceReader, arn: str) -> None:
    """Names are unique per type in an account/region because the ARN embeds them."""
    if view.get(arn) is not None:
        raise ResourceAlreadyExistsException(f"Another resource with Arn {arn} already exists.")


def live(records: Iterable[ResourceRecord]) -> list[ResourceRecord]:
    """Records not being deleted: what counts towards quotas and blocks duplicates."""
    return [r for r in records if status(r) not in m.DELETING]


def limit(count: int, quota: int, what: str) -> None:
    """Resource-count quotas are LimitExceededException (ADR 0002)."""
    if count >= quota:
        raise LimitExceededException(f"The limit of {quota} {what} has been reached.")


def invalid(message: str) -> InvalidInputException:
    return InvalidInputException(message)


# --- records --------------------------------------------------------------------------------------------


def new_record(
    resource_type: str,
    arn: str,
    body: Mapping[str, Any],
    ctx: m.Context,
    *,
    parent_arn: str | None = None,
    tags: Mapping[str, str] | None = None,
    status_: str | None = m.CREATE_PENDING,
) -> ResourceRecord:
    """A fresh record: the ARN field, the given members (None dropped), status and both timestamps. A
    resource that owns storage gets a new ``_incarnation`` (ADR 0012): its topics, Redis keys and model
    directories are named after it, so a resource created again under a reused name starts empty."""
    full: dict[str, Any] = {m.ARN_FIELD[resource_type]: arn}
    full.update({k: v for k, v in body.items() if v is not None})
    if resource_type in incarnation.OWNERS:
        full[incarnation.FIELD] = ctx.new_incarnation()
    if status_ is not None:
        full["status"] = status_
    full["creationDateTime"] = ctx.now
    full["lastUpdatedDateTime"] = ctx.now
    return ResourceRecord(arn=arn, resource_type=resource_type, body=full, parent_arn=parent_arn, tags=dict(tags or {}))


def updated(record: ResourceRecord, now: float, /, **changes: Any) -> ResourceRecord:
    """A copy with body members changed (a None value removes the member) and lastUpdatedDateTime=now."""
    body = dict(record.body)
    for key, value in changes.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    body["lastUpdatedDateTime"] = now
    return replace(record, body=body)


def with_tags(record: ResourceRecord, tags: Mapping[str, str]) -> ResourceRecord:
    return replace(record, tags=dict(tags))


def mark_deleting(record: ResourceRecord, ctx: m.Context) -> m.Outcome:
    """Deletes only mark the record; ``advance`` removes it (and what it owns) afterwards."""
    return m.Outcome({}, (m.Put(updated(record, ctx.now, status=m.DELETE_PENDING)),))


def require_deletable(record: ResourceRecord, what: str, extra: Iterable[str] = ()) -> None:
    """ "You can't delete a resource whose status is changing ... must be ACTIVE or CREATE FAILED" (L15192)."""
    require_status(record, (m.ACTIVE, m.CREATE_FAILED, *extra), what)


# --- list order (the generic Describe*/List* are in ``ops_read``) ----------------------------------------


def sort_key(record: ResourceRecord) -> tuple[float, str]:
    return (float(record.body.get("creationDateTime", 0.0)), record.arn)


def newest_first(records: Iterable[ResourceRecord]) -> list[ResourceRecord]:
    return sorted(records, key=sort_key, reverse=True)
