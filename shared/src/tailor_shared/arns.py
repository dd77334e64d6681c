"""Amazon Personalize ARNs: building, parsing and the patterns the API reference prints.

Every Tailor resource is keyed by its ARN (the compacted resources topic, Redis keys, runtime requests),
so the shapes must be exactly Personalize's: ``arn:aws:personalize:<region>:<account>:<type>/<id>``.
The type segments and id layouts come from the guide's examples (api.md §3): datasets are
``dataset/<datasetGroupName>/<DATASET_TYPE>`` (L2985), solution versions nest under their solution
(``solution/<solutionName>/<versionId>``, L3129) and service-owned catalogue ARNs have no region or
account (``arn:aws:personalize:::recipe/<name>``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

PARTITION = "aws"
SERVICE = "personalize"

#: Pattern printed for most ARN fields ("arn:([a-z\d-]+):personalize:.*:.*:.+"), max length 256.
ARN_PATTERN = re.compile(r"arn:([a-z\d-]+):personalize:.*:.*:.+")
#: Looser variant printed for some fields (e.g. CreateDataset.datasetGroupArn, filterArn).
LOOSE_ARN_PATTERN = re.compile(r"arn:([a-z\d-]+):personalize:.*:.*")
#: IAM role ARN pattern (roleArn fields).
ROLE_ARN_PATTERN = re.compile(r"arn:([a-z\d-]+):iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+")
#: KMS key ARN pattern (kmsKeyArn fields), max length 2048.
KMS_ARN_PATTERN = re.compile(r"arn:aws.*:kms:.*:[0-9]{12}:key/.*")
ARN_MAX_LENGTH = 256
KMS_ARN_MAX_LENGTH = 2048

#: Suffix CreateCampaign/UpdateCampaign accept in place of a version id (``<solutionArn>/$LATEST``).
LATEST_SUFFIX = "/$LATEST"

#: Resource type (Personalize's noun, as used in ``ResourceRecord.resource_type``) -> ARN type segment.
SEGMENTS: dict[str, str] = {
    "datasetGroup": "dataset-group",
    "schema": "schema",
    "dataset": "dataset",
    "datasetImportJob": "dataset-import-job",
    "datasetExportJob": "dataset-export-job",
    "dataDeletionJob": "data-deletion-job",
    "eventTracker": "event-tracker",
    "filter": "filter",
    "solution": "solution",
    "solutionVersion": "solution",
    "campaign": "campaign",
    "recommender": "recommender",
    "batchInferenceJob": "batch-inference-job",
    "batchSegmentJob": "batch-segment-job",
    "metricAttribution": "metric-attribution",
    "recipe": "recipe",
    "algorithm": "algorithm",
    "featureTransformation": "feature-transformation",
}
_TYPE_BY_SEGMENT: dict[str, str] = {seg: rtype for rtype, seg in SEGMENTS.items() if rtype != "solutionVersion"}

#: Dataset types as CreateDataset documents them (input is case-insensitive) -> the ARN's upper-case form.
DATASET_TYPE_ARN_SEGMENT: dict[str, str] = {
    "Interactions": "INTERACTIONS",
    "Items": "ITEMS",
    "Users": "USERS",
    "Actions": "ACTIONS",
    "Action_Interactions": "ACTION_INTERACTIONS",
}


@dataclass(frozen=True)
class ParsedArn:
    """The parts of a Personalize ARN; ``resource_type`` is the Personalize noun (see ``SEGMENTS``)."""

    partition: str
    region: str
    account: str
    resource_type: str
    resource_id: str  # everything after "<segment>/"

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(self.resource_id.split("/"))

    @property
    def name(self) -> str:
        """The resource's own name (dataset ARNs carry the dataset group name instead)."""
        return self.parts[0]


def build(region: str, account: str, resource_type: str, *parts: str) -> str:
    """``arn:aws:personalize:<region>:<account>:<segment>/<part>/<part>...``."""
    segment = SEGMENTS[resource_type]
    return f"arn:{PARTITION}:{SERVICE}:{region}:{account}:{segment}/{'/'.join(parts)}"


def dataset_group_arn(region: str, account: str, name: str) -> str:
    return build(region, account, "datasetGroup", name)


def schema_arn(region: str, account: str, name: str) -> str:
    return build(region, account, "schema", name)


def dataset_arn(region: str, account: str, dataset_group_name: str, dataset_type: str) -> str:
    """Dataset ARNs name the group and the upper-case type, not the dataset (L2985)."""
    return build(region, account, "dataset", dataset_group_name, dataset_type.upper())


def dataset_import_job_arn(region: str, account: str, job_name: str) -> str:
    return build(region, account, "datasetImportJob", job_name)


def dataset_export_job_arn(region: str, account: str, job_name: str) -> str:
    return build(region, account, "datasetExportJob", job_name)


def data_deletion_job_arn(region: str, account: str, job_name: str) -> str:
    return build(region, account, "dataDeletionJob", job_name)


def event_tracker_arn(region: str, account: str, name: str) -> str:
    return build(region, account, "eventTracker", name)


def filter_arn(region: str, account: str, name: str) -> str:
    return build(region, account, "filter", name)


def solution_arn(region: str, account: str, name: str) -> str:
    return build(region, account, "solution", name)


def solution_version_arn(solution_arn_: str, version_id: str) -> str:
    """Versions nest under their solution: ``<solutionArn>/<versionId>`` (L3129)."""
    return f"{solution_arn_}/{version_id}"


def campaign_arn(region: str, account: str, name: str) -> str:
    return build(region, account, "campaign", name)


def recommender_arn(region: str, account: str, name: str) -> str:
    return build(region, account, "recommender", name)


def batch_inference_job_arn(region: str, account: str, job_name: str) -> str:
    return build(region, account, "batchInferenceJob", job_name)


def batch_segment_job_arn(region: str, account: str, job_name: str) -> str:
    return build(region, account, "batchSegmentJob", job_name)


def metric_attribution_arn(region: str, account: str, name: str) -> str:
    return build(region, account, "metricAttribution", name)


def recipe_arn(name: str) -> str:
    """Service-owned catalogue ARNs carry no region or account."""
    return f"arn:{PARTITION}:{SERVICE}:::recipe/{name}"


def algorithm_arn(name: str) -> str:
    return f"arn:{PARTITION}:{SERVICE}:::algorithm/{name}"


def feature_transformation_arn(name: str) -> str:
    return f"arn:{PARTITION}:{SERVICE}:::feature-transformation/{name}"


_PARSE = re.compile(
    r"^arn:(?P<partition>[a-z\d-]+):personalize:(?P<region>[^:]*):(?P<account>[^:]*):"
    r"(?P<segment>[a-z-]+)/(?P<rid>.+)$"
)


def parse(arn: str) -> ParsedArn | None:
    """Split a Personalize ARN; None when it is not one. ``solution/<name>/<id>`` is a solution version."""
    m = _PARSE.match(arn)
    if m is None:
        return None
    segment, rid = m.group("segment"), m.group("rid")
    rtype = _TYPE_BY_SEGMENT.get(segment)
    if rtype is None or any(p == "" for p in rid.split("/")):
        return None
    if rtype == "solution" and "/" in rid:
        if rid.count("/") != 1:
            return None
        rtype = "solutionVersion"
    if rtype == "dataset" and rid.count("/") != 1:
        return None
    return ParsedArn(m.group("partition"), m.group("region"), m.group("account"), rtype, rid)


def resource_type_of(arn: str) -> str | None:
    """The Personalize noun an ARN names, or None for anything that is not a Personalize ARN."""
    parsed = parse(arn)
    return parsed.resource_type if parsed else None


def is_latest_alias(arn: str) -> bool:
    """True for the ``<solutionArn>/$LATEST`` pseudo-version CreateCampaign accepts."""
    return arn.endswith(LATEST_SUFFIX)


def solution_arn_of(version_arn: str) -> str:
    """The solution a version (or ``$LATEST`` alias) belongs to: drop the last path element."""
    return version_arn.rsplit("/", 1)[0]


def short_id(*inputs: object, length: int = 8) -> str:
    """A deterministic hex id from the given inputs (solution version ids), so domain code stays pure."""
    digest = hashlib.sha256("\x1f".join(repr(i) for i in inputs).encode()).hexdigest()
    return digest[:length]


def uuid_like(*inputs: object) -> str:
    """A deterministic UUID-shaped id (8-4-4-4-12 hex) from the inputs: tracking ids."""
    h = hashlib.sha256("\x1f".join(repr(i) for i in inputs).encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def account_of(arn: str) -> str:
    """The account field of an ARN ("" for service-owned ARNs and for anything that is not an ARN)."""
    parts = arn.split(":", 5)
    return parts[4] if len(parts) == 6 and parts[0] == "arn" else ""


def foreign_account(arn: str, account: str) -> bool:
    """Whether ``arn`` names a resource of an account other than ``account`` (service-owned ARNs such as
    recipes, ``arn:aws:personalize:::recipe/...``, and ``*`` belong to no account)."""
    parts = arn.split(":", 5)
    return len(parts) == 6 and parts[0] == "arn" and parts[4] != "" and parts[4] != account
