"""Every Describe* and paged List* operation, as one table each over one generic describe and one generic list.

A ``Describe`` entry names the request's ARN member, the response member and how to find the shape; a
``Listing`` entry names the response member, how to select the items in list order (a stored resource's
children of the parent named in the request, newest first; or a fixed-order list), each item's sort key
for the nextToken, and each item's shape. Paging, the token's scope and the error for an unknown ARN are
the same for every entry (ADR 0002 §9-12).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tailor_control.domain import catalog, shapes
from tailor_control.domain import model as m
from tailor_control.domain.common import Handler, get, newest_first, operation, sort_key, status
from tailor_control.domain.ops_training import latest_version
from tailor_control.domain.paging import paginate
from tailor_control.domain.validate import Request
from tailor_shared import arns
from tailor_shared.resources import ResourceReader, ResourceRecord

#: Adds what a Describe shows beyond the stored fields: (view, record, projected body) -> None.
Extend = Callable[[ResourceReader, ResourceRecord, dict[str, Any]], None]


@dataclass(frozen=True)
class Describe:
    """``{member: find(view, arn)}`` for the ARN in the request member ``arn_member``."""

    arn_member: str
    member: str
    find: Callable[[ResourceReader, str], dict[str, Any]]
    loose: bool = False  # the ARN member takes any ARN shape (LOOSE_ARN_PATTERN)


@dataclass(frozen=True)
class Listing:
    """``{member: [shape(item) ...], nextToken}``: one page of ``select``'s items, which come with the
    token's scope and are in list order with ``key`` strictly decreasing along it."""

    member: str
    select: Callable[[Request, ResourceReader], tuple[str | None, Sequence[Any]]]
    key: Callable[[Any], tuple[float, str]]
    shape: Callable[[Any], dict[str, Any]]


# --- stored resources -----------------------------------------------------------------------------------


def _resource(resource_type: str, *, loose: bool = False, extend: Extend | None = None) -> Describe:
    """Describe a stored resource: its Describe shape under e.g. ``datasetGroup``."""

    def find(view: ResourceReader, arn: str) -> dict[str, Any]:
        record = get(view, arn, resource_type)
        body = shapes.describe(resource_type, record.body)
        if extend is not None:
            extend(view, record, body)
        return body

    return Describe(m.ARN_FIELD[resource_type], shapes.DESCRIBE_KEY[resource_type], find, loose)


def _children(
    resource_type: str, member: str, parent: str | None = None, *, loose: bool = False, parent_type: str | None = None
) -> Listing:
    """List a stored resource's Summary shapes, newest first, filtered by the parent ARN in the request
    member ``parent`` (also the token's scope). A parent that names nothing lists nothing, unless
    ``parent_type`` is given: then it is ResourceNotFoundException (ADR 0002 §11)."""

    def select(req: Request, view: ResourceReader) -> tuple[str | None, Sequence[ResourceRecord]]:
        scope = None if parent is None else req.arn(parent, loose=loose)
        if scope is not None and parent_type is not None:
            get(view, scope, parent_type)
        return scope, newest_first(view.list(resource_type, scope))

    def shape(record: ResourceRecord) -> dict[str, Any]:
        return shapes.summary(resource_type, record.body)

    return Listing(member, select, sort_key, shape)


def _latest_solution_version(view: ResourceReader, record: ResourceRecord, body: dict[str, Any]) -> None:
    latest = latest_version(view, record.arn)
    if latest is not None:
        body["latestSolutionVersion"] = shapes.summary(m.SOLUTION_VERSION, latest.body)


def _model_metrics_once_created(view: ResourceReader, record: ResourceRecord, body: dict[str, Any]) -> None:
    if status(record) in (m.CREATE_PENDING, m.CREATE_IN_PROGRESS, *m.DELETING):
        # "modelMetrics is null while being created or deleted" (Recommender.modelMetrics).
        body.pop("modelMetrics", None)


# --- fixed-order lists ----------------------------------------------------------------------------------


def _in_order(
    member: str, id_field: str, select: Callable[[Request, ResourceReader], tuple[str | None, list[dict[str, Any]]]]
) -> Listing:
    """Page over a list whose order is fixed (the catalogue's, a record's): the key is the position, then
    ``id_field``."""

    def indexed(req: Request, view: ResourceReader) -> tuple[str | None, Sequence[tuple[int, dict[str, Any]]]]:
        scope, items = select(req, view)
        return scope, list(enumerate(items))

    def key(pair: tuple[int, dict[str, Any]]) -> tuple[float, str]:
        return (float(-pair[0]), str(pair[1].get(id_field, "")))

    def shape(pair: tuple[int, dict[str, Any]]) -> dict[str, Any]:
        return pair[1]

    return Listing(member, indexed, key, shape)


def _recipes(req: Request, view: ResourceReader) -> tuple[str | None, list[dict[str, Any]]]:
    domain = req.enum("domain", m.DOMAINS)
    provider = req.enum("recipeProvider", ("SERVICE",), default="SERVICE")
    return domain, catalog.list_recipes(domain, str(provider))


def _attribution_metrics(req: Request, view: ResourceReader) -> tuple[str | None, list[dict[str, Any]]]:
    # Printed "Required: No" (api.md §10.11); without it there is no attribution to list (ADR 0002).
    record = get(view, req.req_arn("metricAttributionArn", loose=True), m.METRIC_ATTRIBUTION)
    return record.arn, [dict(mt) for mt in record.body.get("metrics") or []]


def _catalogue(lookup: Callable[[str], dict[str, Any]]) -> Callable[[ResourceReader, str], dict[str, Any]]:
    def find(view: ResourceReader, arn: str) -> dict[str, Any]:
        return lookup(arn)

    return find


# --- the tables -----------------------------------------------------------------------------------------

DESCRIBES: dict[str, Describe] = {
    "DescribeDatasetGroup": _resource(m.DATASET_GROUP),
    "DescribeSchema": _resource(m.SCHEMA),
    "DescribeDataset": _resource(m.DATASET),
    "DescribeDatasetImportJob": _resource(m.DATASET_IMPORT_JOB),
    "DescribeDatasetExportJob": _resource(m.DATASET_EXPORT_JOB, loose=True),
    "DescribeDataDeletionJob": _resource(m.DATA_DELETION_JOB),
    "DescribeEventTracker": _resource(m.EVENT_TRACKER),
    "DescribeFilter": _resource(m.FILTER),
    "DescribeMetricAttribution": _resource(m.METRIC_ATTRIBUTION, loose=True),
    "DescribeSolution": _resource(m.SOLUTION, extend=_latest_solution_version),
    "DescribeSolutionVersion": _resource(m.SOLUTION_VERSION),
    "DescribeCampaign": _resource(m.CAMPAIGN),
    "DescribeRecommender": _resource(m.RECOMMENDER, extend=_model_metrics_once_created),
    "DescribeBatchInferenceJob": _resource(m.BATCH_INFERENCE_JOB),
    "DescribeBatchSegmentJob": _resource(m.BATCH_SEGMENT_JOB),
    "DescribeRecipe": Describe("recipeArn", "recipe", _catalogue(catalog.describe_recipe)),
    "DescribeAlgorithm": Describe("algorithmArn", "algorithm", _catalogue(catalog.describe_algorithm)),
    "DescribeFeatureTransformation": Describe(
        "featureTransformationArn", "featureTransformation", _catalogue(catalog.describe_feature_transformation)
    ),
}

_GROUP = "datasetGroupArn"

LISTS: dict[str, Listing] = {
    "ListDatasetGroups": _children(m.DATASET_GROUP, "datasetGroups"),
    "ListSchemas": _children(m.SCHEMA, "schemas"),
    "ListDatasets": _children(m.DATASET, "datasets", _GROUP),
    "ListDatasetImportJobs": _children(m.DATASET_IMPORT_JOB, "datasetImportJobs", "datasetArn"),
    "ListDatasetExportJobs": _children(m.DATASET_EXPORT_JOB, "datasetExportJobs", "datasetArn"),
    "ListDataDeletionJobs": _children(m.DATA_DELETION_JOB, "dataDeletionJobs", _GROUP),
    "ListEventTrackers": _children(m.EVENT_TRACKER, "eventTrackers", _GROUP),
    # The response member is "Filters" with a capital F (api.md §10.12).
    "ListFilters": _children(m.FILTER, "Filters", _GROUP),
    "ListMetricAttributions": _children(m.METRIC_ATTRIBUTION, "metricAttributions", _GROUP),
    "ListSolutions": _children(m.SOLUTION, "solutions", _GROUP),
    # The only List* documented with ResourceNotFoundException (api.md §10.20).
    "ListSolutionVersions": _children(m.SOLUTION_VERSION, "solutionVersions", "solutionArn", parent_type=m.SOLUTION),
    "ListCampaigns": _children(m.CAMPAIGN, "campaigns", "solutionArn", loose=True),
    "ListRecommenders": _children(m.RECOMMENDER, "recommenders", _GROUP),
    "ListBatchInferenceJobs": _children(m.BATCH_INFERENCE_JOB, "batchInferenceJobs", "solutionVersionArn"),
    "ListBatchSegmentJobs": _children(m.BATCH_SEGMENT_JOB, "batchSegmentJobs", "solutionVersionArn"),
    "ListRecipes": _in_order("recipes", "recipeArn", _recipes),
    "ListMetricAttributionMetrics": _in_order("metrics", "metricName", _attribution_metrics),
}


# --- the generic operations -----------------------------------------------------------------------------


def _describer(spec: Describe) -> Handler:
    def describe(req: Request, view: ResourceReader, ctx: m.Context) -> m.Outcome:
        return m.Outcome({spec.member: spec.find(view, req.req_arn(spec.arn_member, loose=spec.loose))})

    return describe


def _lister(name: str, spec: Listing) -> Handler:
    def list_(req: Request, view: ResourceReader, ctx: m.Context) -> m.Outcome:
        scope, items = spec.select(req, view)
        # One deployment, several accounts: a list shows the caller's account's resources only (ADR 0028).
        items = [
            i for i in items if not isinstance(i, ResourceRecord) or not arns.foreign_account(i.arn, ctx.account_id)
        ]
        page, token = paginate(items, req, operation=name, scope=scope, key=spec.key)
        response: dict[str, Any] = {spec.member: [spec.shape(item) for item in page]}
        if token is not None:
            response["nextToken"] = token
        return m.Outcome(response)

    return list_


for _name, _describe in DESCRIBES.items():
    operation(_name)(_describer(_describe))
for _name, _listing in LISTS.items():
    operation(_name)(_lister(_name, _listing))
