"""The control plane's domain: Personalize's validation, quotas and lifecycles as pure functions.

``handle(operation, request, view, ctx)`` validates one control-plane call exactly as Personalize does and
returns the response plus the resource changes and worker jobs it implies; ``advance`` performs the
lifecycle steps control owns; ``apply_job_status`` folds a worker's status report in. Nothing here does
I/O or reads the clock: the servicer supplies the view and ``Context.now`` and makes the effects durable.
Decisions the guide leaves open: ``docs/adr/0002-control-plane-semantics.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tailor_control.domain import ops_batch, ops_catalog, ops_data, ops_deploy, ops_events, ops_read, ops_training
from tailor_control.domain.common import REGISTRY
from tailor_control.domain.lifecycle import advance, apply_job_status
from tailor_control.domain.model import Change, Context, Delete, Effects, Job, Outcome, Put, Quotas
from tailor_control.domain.validate import Request
from tailor_shared.errors import InvalidInputException
from tailor_shared.resources import ResourceReader

_LOADED = (ops_batch, ops_catalog, ops_data, ops_deploy, ops_events, ops_read, ops_training)  # register operations

#: Every control-plane operation ``handle`` accepts (api.md §11: the 70 "Amazon Personalize" operations).
OPERATIONS: frozenset[str] = frozenset(REGISTRY)


def handle(operation: str, request: Mapping[str, Any], view: ResourceReader, ctx: Context) -> Outcome:
    """Validate and perform one control-plane call (``operation`` = Personalize's name, e.g.
    ``CreateDatasetGroup``; ``request`` = its JSON members in camelCase)."""
    handler = REGISTRY.get(operation)
    if handler is None:
        raise InvalidInputException(f"Unknown operation {operation}.")
    if not isinstance(request, Mapping):
        raise InvalidInputException("The request must be a JSON object.")
    return handler(Request(request), view, ctx)


__all__ = [
    "OPERATIONS",
    "Change",
    "Context",
    "Delete",
    "Effects",
    "Job",
    "Outcome",
    "Put",
    "Quotas",
    "advance",
    "apply_job_status",
    "handle",
]
