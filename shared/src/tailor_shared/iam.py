"""Authorisation: may this principal perform this action on these resources? IAM's policy rules, pure logic.

The one owner of authorisation (DESIGN.md, "identity"): every API's interceptor asks :meth:`Authorizer.check`
with the authenticated :class:`~tailor_shared.auth.Principal`, the ``personalize:<Operation>`` action and the
resource ARNs the request acts on (:func:`request_resources`). Policy documents are IAM's JSON (``Version``,
``Statement`` with ``Effect``, ``Action``/``NotAction``, ``Resource``/``NotResource``; ``*`` and ``?``
wildcards; action names case-insensitive, resources case-sensitive). Evaluation is IAM's for identity-based
policies: an explicit Deny anywhere wins, otherwise an Allow is needed, otherwise the default is deny.
``Condition`` and ``Principal`` elements are refused when a policy is loaded (not evaluated, so never silently
ignored). Decisions: ``docs/adr/0026-authorisation-and-grpc-authentication.md``; formats: ``docs/specs/auth.md``.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from tailor_shared import arns
from tailor_shared.auth import Principal
from tailor_shared.errors import AccessDeniedException

#: Env var naming the policies file (principal ARN -> policy documents; docs/specs/auth.md).
POLICIES_FILE_ENV = "TAILOR_POLICIES_FILE"
#: The policy language versions IAM accepts (an absent Version is IAM's 2008 default).
POLICY_VERSIONS = ("2012-10-17", "2008-10-17")
SERVICE_PREFIX = "personalize"
#: The console's read API (docs/specs/console-api.md): its methods are the IAM actions ``tailor:<Method>``,
#: not Personalize's, so a policy grants them explicitly (``tailor:*``, ``tailor:Describe*``, ...).
CONSOLE_SERVICE = "tailor.console.v1.TailorConsole"
CONSOLE_PREFIX = "tailor"

_STATEMENT_KEYS = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource"}
_UNSUPPORTED_KEYS = {"Condition", "Principal", "NotPrincipal"}


class PolicyError(ValueError):
    """A policy document IAM would refuse (MalformedPolicyDocument): the process must not start with it."""


class Effect(enum.Enum):
    ALLOW = "Allow"
    DENY = "Deny"


class Decision(enum.Enum):
    """IAM's three outcomes: only ALLOW lets a request through."""

    ALLOW = "allow"
    EXPLICIT_DENY = "explicit deny"
    IMPLICIT_DENY = "implicit deny"


@lru_cache(maxsize=4096)
def _pattern(glob: str, ignore_case: bool) -> re.Pattern[str]:
    """IAM's wildcards: ``*`` any run of characters (``/`` and ``:`` included), ``?`` exactly one."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.compile(body, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def matches(glob: str, value: str, *, ignore_case: bool = False) -> bool:
    return _pattern(glob, ignore_case).fullmatch(value) is not None


@dataclass(frozen=True)
class Statement:
    effect: Effect
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    not_resources: tuple[str, ...] = ()
    sid: str | None = None

    def applies(self, action: str, resource: str) -> bool:
        if self.actions:
            action_ok = any(matches(a, action, ignore_case=True) for a in self.actions)
        else:
            action_ok = not any(matches(a, action, ignore_case=True) for a in self.not_actions)
        if not action_ok:
            return False
        if self.resources:
            return any(matches(r, resource) for r in self.resources)
        return not any(matches(r, resource) for r in self.not_resources)


@dataclass(frozen=True)
class Policy:
    statements: tuple[Statement, ...]
    name: str = "inline"


def _strings(value: Any, where: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(v, str) and v for v in items):
        raise PolicyError(f"{where} must be a non-empty string or list of non-empty strings")
    return tuple(items)


def _action_patterns(value: Any, where: str) -> tuple[str, ...]:
    actions = _strings(value, where)
    for action in actions:
        if action != "*" and ":" not in action:
            raise PolicyError(f"{where}: action '{action}' must be '*' or '<service>:<action>' (personalize:...)")
    return actions


def parse_policy(document: Any, name: str = "inline") -> Policy:
    """Validate one IAM policy document (a mapping, or its JSON text) as IAM does when it is attached."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError as exc:
            raise PolicyError(f"policy {name}: not valid JSON: {exc}") from exc
    if not isinstance(document, Mapping):
        raise PolicyError(f"policy {name}: expected a JSON object")
    unknown = set(document) - {"Version", "Id", "Statement"}
    if unknown:
        raise PolicyError(f"policy {name}: unknown top-level keys {sorted(unknown)}")
    version = document.get("Version", "2008-10-17")
    if version not in POLICY_VERSIONS:
        raise PolicyError(f"policy {name}: Version must be one of {', '.join(POLICY_VERSIONS)}, got {version!r}")
    raw = document.get("Statement")
    raw_statements = [raw] if isinstance(raw, Mapping) else raw
    if not isinstance(raw_statements, list) or not raw_statements:
        raise PolicyError(f"policy {name}: Statement must be an object or a non-empty list of objects")
    statements = []
    for i, st in enumerate(raw_statements):
        where = f"policy {name}: Statement[{i}]"
        if not isinstance(st, Mapping):
            raise PolicyError(f"{where} must be an object")
        unsupported = set(st) & _UNSUPPORTED_KEYS
        if unsupported:
            raise PolicyError(f"{where}: {sorted(unsupported)} not supported by Tailor (identity policies only)")
        unknown = set(st) - _STATEMENT_KEYS
        if unknown:
            raise PolicyError(f"{where}: unknown keys {sorted(unknown)}")
        try:
            effect = Effect(st.get("Effect"))
        except ValueError:
            raise PolicyError(f"{where}: Effect must be 'Allow' or 'Deny'") from None
        if ("Action" in st) == ("NotAction" in st):
            raise PolicyError(f"{where}: exactly one of Action or NotAction is required")
        if ("Resource" in st) == ("NotResource" in st):
            raise PolicyError(f"{where}: exactly one of Resource or NotResource is required")
        statements.append(
            Statement(
                effect=effect,
                actions=_action_patterns(st["Action"], f"{where}.Action") if "Action" in st else (),
                not_actions=_action_patterns(st["NotAction"], f"{where}.NotAction") if "NotAction" in st else (),
                resources=_strings(st["Resource"], f"{where}.Resource") if "Resource" in st else (),
                not_resources=_strings(st["NotResource"], f"{where}.NotResource") if "NotResource" in st else (),
                sid=st.get("Sid") if isinstance(st.get("Sid"), str) else None,
            )
        )
    return Policy(tuple(statements), name)


def evaluate(policies: Iterable[Policy], action: str, resources: Sequence[str]) -> Decision:
    """IAM's evaluation over every resource the request acts on: an explicit Deny of any of them wins; each
    must be allowed by some statement; nothing matching is the default (implicit) deny."""
    statements = [st for p in policies for st in p.statements]
    decision = Decision.ALLOW
    for resource in resources or ("*",):
        applicable = [st for st in statements if st.applies(action, resource)]
        if any(st.effect is Effect.DENY for st in applicable):
            return Decision.EXPLICIT_DENY
        if not any(st.effect is Effect.ALLOW for st in applicable):
            decision = Decision.IMPLICIT_DENY
    return decision


# ------------------------------------------------------------------------------------- operations -> resources

#: Create operations -> the ARN of what they create, from the request (IAM's resource type for
#: ``personalize:Create*`` is the created resource: ``campaign*`` for CreateCampaign, ...).
_CREATED: dict[str, Callable[[str, str, Mapping[str, str]], str]] = {
    "CreateDatasetGroup": lambda r, a, f: arns.dataset_group_arn(r, a, f.get("name", "")),
    "CreateSchema": lambda r, a, f: arns.schema_arn(r, a, f.get("name", "")),
    "CreateDataset": lambda r, a, f: arns.dataset_arn(
        r, a, _name_of(f.get("dataset_group_arn", "")), f.get("dataset_type", "")
    ),
    "CreateDatasetImportJob": lambda r, a, f: arns.dataset_import_job_arn(r, a, f.get("job_name", "")),
    "CreateDatasetExportJob": lambda r, a, f: arns.dataset_export_job_arn(r, a, f.get("job_name", "")),
    "CreateDataDeletionJob": lambda r, a, f: arns.data_deletion_job_arn(r, a, f.get("job_name", "")),
    "CreateEventTracker": lambda r, a, f: arns.event_tracker_arn(r, a, f.get("name", "")),
    "CreateFilter": lambda r, a, f: arns.filter_arn(r, a, f.get("name", "")),
    "CreateMetricAttribution": lambda r, a, f: arns.metric_attribution_arn(r, a, f.get("name", "")),
    "CreateSolution": lambda r, a, f: arns.solution_arn(r, a, f.get("name", "")),
    # The version's id is only known once it exists: authorised on its solution (IAM: solution*).
    "CreateSolutionVersion": lambda r, a, f: f.get("solution_arn", ""),
    "CreateCampaign": lambda r, a, f: arns.campaign_arn(r, a, f.get("name", "")),
    "CreateRecommender": lambda r, a, f: arns.recommender_arn(r, a, f.get("name", "")),
    "CreateBatchInferenceJob": lambda r, a, f: arns.batch_inference_job_arn(r, a, f.get("job_name", "")),
    "CreateBatchSegmentJob": lambda r, a, f: arns.batch_segment_job_arn(r, a, f.get("job_name", "")),
}

#: Operations acting on resources named in the request -> the request fields holding their ARNs (in order;
#: absent or empty fields are skipped). Every other operation (the List* calls) takes no resource-level
#: permissions, as in IAM: its resource is ``*``.
_TARGETS: dict[str, tuple[str, ...]] = {
    "GetRecommendations": ("campaign_arn", "recommender_arn", "filter_arn"),
    "GetPersonalizedRanking": ("campaign_arn", "filter_arn"),
    "GetActionRecommendations": ("campaign_arn", "filter_arn"),
    "PutItems": ("dataset_arn",),
    "PutUsers": ("dataset_arn",),
    "PutActions": ("dataset_arn",),
    "UpdateDataset": ("dataset_arn",),
    "UpdateCampaign": ("campaign_arn",),
    "UpdateMetricAttribution": ("metric_attribution_arn",),
    "UpdateRecommender": ("recommender_arn",),
    "StartRecommender": ("recommender_arn",),
    "StopRecommender": ("recommender_arn",),
    "GetSolutionMetrics": ("solution_version_arn",),
    "StopSolutionVersionCreation": ("solution_version_arn",),
    "ListMetricAttributionMetrics": ("metric_attribution_arn",),
    "TagResource": ("resource_arn",),
    "UntagResource": ("resource_arn",),
    "ListTagsForResource": ("resource_arn",),
    # The console's reads (tailor:<Method>; docs/specs/console-api.md).
    "DescribeTrainingProgress": ("solution_version_arn",),
    "DescribeDatasetImportJobProgress": ("dataset_import_job_arn",),
    "ListRecentEvents": ("dataset_group_arn",),
    "ListTrendingItems": ("dataset_group_arn",),
    "GetMetricAttributionValues": ("metric_attribution_arn",),
}
#: Events operations naming their event tracker by trackingId (IAM: eventTracker*).
_TRACKED = frozenset({"PutEvents", "PutActionInteractions"})
_VERB_TARGET = re.compile(r"^(?:Describe|Delete)(?P<noun>\w+)$")


def _name_of(arn: str) -> str:
    parsed = arns.parse(arn)
    return parsed.name if parsed else ""


def _snake(noun: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", noun).lower()


def request_resources(
    operation: str,
    fields: Mapping[str, str],
    region: str,
    account: str,
    tracker_of: Callable[[str], str | None] | None = None,
) -> list[str]:
    """The resource ARNs an operation acts on, from its request's string fields (proto field names).

    Create* -> the ARN it would create (in ``account``); Describe*/Delete* -> ``<noun>_arn``; the data-plane,
    Update/Start/Stop and tag operations -> their ``_TARGETS`` fields; PutEvents/PutActionInteractions -> the
    tracker's ARN from ``tracker_of(trackingId)``, else ``*`` literally (only a ``Resource: "*"`` statement
    matches an unknown tracker); List* -> ``*``."""
    if operation in _CREATED:
        return [_CREATED[operation](region, account, fields)]
    if operation in _TRACKED:
        tracker = tracker_of(fields.get("tracking_id", "")) if tracker_of is not None else None
        return [tracker or "*"]
    names = _TARGETS.get(operation)
    if names is None:
        m = _VERB_TARGET.match(operation)
        names = (f"{_snake(m.group('noun'))}_arn",) if m else ()
    found = [fields[n] for n in names if fields.get(n)]
    return found or ["*"]


def action_of(operation: str, service: str = "") -> str:
    """``personalize:<Operation>``, or ``tailor:<Method>`` for the console service's methods (``service``: the
    gRPC service's full name)."""
    return f"{CONSOLE_PREFIX if service == CONSOLE_SERVICE else SERVICE_PREFIX}:{operation}"


# -------------------------------------------------------------------------------------------------- authorizer


@dataclass
class Authorizer:
    """Principal ARN -> the policies attached to it. Built once at start-up; read-only afterwards."""

    policies: dict[str, tuple[Policy, ...]] = field(default_factory=dict)

    def decide(self, principal: Principal, action: str, resources: Sequence[str]) -> Decision:
        return evaluate(self.policies.get(principal.arn, ()), action, resources)

    def check(
        self, principal: Principal, action: str, resources: Sequence[str], referenced: Sequence[str] = ()
    ) -> None:
        """Raise AccessDeniedException with AWS's message unless the principal's policies allow the call.

        Any resource or ``referenced`` ARN in another account is refused first, whatever the policies say:
        Personalize has no resource-based policies, so nothing lets one account act on another's (ADR 0028)."""
        foreign = next(
            (arn for arn in (*resources, *referenced) if arns.foreign_account(arn, principal.account_id)), None
        )
        if foreign is not None:
            raise AccessDeniedException(
                f"User: {principal.arn} is not authorized to perform: {action} on resource: {foreign} "
                f"because no resource-based policy allows the {action} action"
            )
        decision = self.decide(principal, action, resources)
        if decision is Decision.ALLOW:
            return
        denied = next(
            (r for r in resources or ("*",) if self.decide(principal, action, [r]) is not Decision.ALLOW), "*"
        )
        how = (
            "with an explicit deny in an identity-based policy"
            if decision is Decision.EXPLICIT_DENY
            else f"because no identity-based policy allows the {action} action"
        )
        raise AccessDeniedException(
            f"User: {principal.arn} is not authorized to perform: {action} on resource: {denied} {how}"
        )

    @classmethod
    def from_document(cls, document: Any, base: Path | None = None, source: str = "policies") -> Authorizer:
        """``{"principals": {"<principal ARN>": [<policy document> | "<file.json>", ...]}}``; file names are
        relative to ``base`` (the policies file's folder)."""
        if not isinstance(document, Mapping) or not isinstance(document.get("principals"), Mapping):
            raise PolicyError(f"{source}: expected a mapping with a 'principals' mapping")
        out: dict[str, tuple[Policy, ...]] = {}
        for arn, attached in document["principals"].items():
            if not isinstance(arn, str) or not isinstance(attached, list):
                raise PolicyError(f"{source}: principals.{arn} must list policy documents or file names")
            policies = []
            for i, item in enumerate(attached):
                if isinstance(item, str):
                    path = (base or Path(".")) / item
                    try:
                        policies.append(parse_policy(path.read_text(encoding="utf-8"), path.name))
                    except OSError as exc:
                        raise PolicyError(f"{source}: cannot read policy file {path}: {exc}") from exc
                else:
                    policies.append(parse_policy(item, f"{arn}[{i}]"))
            out[arn] = tuple(policies)
        return cls(out)

    @classmethod
    def from_file(cls, path: str | Path) -> Authorizer:
        p = Path(path)
        try:
            document = yaml.safe_load(p.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise PolicyError(f"cannot read policies file {p}: {exc}") from exc
        return cls.from_document(document, p.parent, str(p))
