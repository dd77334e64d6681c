"""Event trackers, filters and metric attributions: the dataset-group resources that shape events and
recommendations at request time (api.md §1.7-1.9)."""

from __future__ import annotations

import re
from typing import Any

from tailor_control.domain import model as m
from tailor_control.domain.common import (
    ensure_absent,
    get,
    limit,
    live,
    mark_deleting,
    new_record,
    operation,
    require_active,
    require_deletable,
    status,
    updated,
)
from tailor_control.domain.tags import check_tag_count, parse_tags
from tailor_control.domain.validate import Request, constraint, s3_data_config
from tailor_shared import arns, filters, schemas
from tailor_shared.errors import (
    InvalidInputException,
    LimitExceededException,
    ResourceAlreadyExistsException,
    ResourceInUseException,
)
from tailor_shared.resources import ResourceReader

# --- EventTracker ---------------------------------------------------------------------------------------


@operation("CreateEventTracker")
def create_event_tracker(req: Request, view: ResourceReader, ctx: m.Context) -> m.Outcome:
    name = req.req_name()
    group_arn = req.req_arn("datasetGroupArn")
    tags = parse_tags(req)
    check_tag_count(tags, ctx.quotas.tags_per_resource)
    group = get(view, group_arn, m.DATASET_GROUP)
    require_active(group, "Dataset group")
    arn = arns.event_tracker_arn(ctx.region, ctx.account_id, name)
    ensure_absent(view, arn)
    existing = live(view.list(m.EVENT_TRACKER, group_arn))
    if existing:
        # "Only one event tracker can be associated with a dataset group. You will get an error if you
        # call CreateEventTracker using the same dataset group as an existing event tracker." (L21612)
        raise ResourceAlreadyExistsException(
            f"Only one event tracker can be associated with a dataset group; {group_arn} already has {existing[0].arn}."
        )
    tracking_id = arns.uuid_like("trackingId", arn, ctx.now)
    body = {"accountId": ctx.account_id, "datasetGroupArn": group_arn, "name": name, "trackingId": tracking_id}
    record = new_record(m.EVENT_TRACKER, arn, body, ctx, parent_arn=group_arn, tags=tags)
    return m.Outcome({"eventTrackerArn": arn, "trackingId": tracking_id}, (m.Put(record),))


@operation("DeleteEventTracker")
def delete_event_tracker(req: Request, view: ResourceReader, ctx: m.Context) -> m.Outcome:
    record = get(view, req.req_arn("eventTrackerArn"), m.EVENT_TRACKER)
    require_deletable(record, "Event tracker")
    return mark_deleting(record, ctx)


# --- Filter ---------------------------------------------------------------------------------------------


def group_field_types(view: ResourceReader, group_arn: str) -> dict[str, filters.FieldType]:
    """``{"Items.GENRES": CATEGORICAL, ...}`` over the group's datasets, for filter field checks."""
    types: dict[str, filters.FieldType] = {}
    for dataset in live(view.list(m.DATASET, group_arn)):
        schema = view.get(str(dataset.body.get("schemaArn")))
        if schema is None:
            continue
        types.update(filters.field_types_from_avro(filters.Dataset(dataset.body["datasetType"]), schema.body["schema"]))
        if dataset.body["datasetType"] in (schemas.INTERACTIONS, schemas.ACTION_INTERACTIONS):
            # Every interaction has an event type, so the dataset is "present" even with a minimal schema.
            types.setdefault(f"{dataset.body['datasetType']}.{filters.EVENT_TYPE_FIELD}", filters.FieldType.STRING)
    return types


@operation("CreateFilter")
def create_filter(req: Request, view: ResourceReader, ctx: m.Context) -> m.Outcome:
    group_arn = req.req_arn("datasetGroupArn")
    expression_text = req.req_string(
        "filterExpression", min_len=filters.MIN_EXPRESSION_LENGTH, max_len=filters.MAX_EXPRESSION_LENGTH
    )
    name = req.req_name()
    tags = parse_tags(req)
    check_tag_count(tags, ctx.quotas.tags_per_resource)
    group = get(view, group_arn, m.DATASET_GROUP)
    require_active(group, "Dataset group")
    expression = filters.parse_filter_expression(expression_text)  # grammar, <= 5 fields per filter
    if len(expression.fields) > ctx.quotas.distinct_fields_per_filter:
        raise LimitExceededException(
            f"A filter can use at most {ctx.quotas.distinct_fields_per_filter} distinct dataset fields."
        )
    filters.check_filter_fields(expression, group_field_types(view, group_arn))
    arn = arns.filter_arn(ctx.region, ctx.account_id, name)
    ensure_absent(view, arn)
    existing = live(view.list(m.FILTER, group_arn))
    limit(len(existing), ctx.quotas.filters_per_group, "filters per dataset group")
    others = [filters.parse_filter_expression(str(f.body["filterExpression"])) for f in existing]
    filters.check_dataset_group_field_limit(expression, others)  # <= 10 distinct fields across the group
    body = {"datasetGroupArn": group_arn, "filterExpression": expression_text, "name": name}
    record = new_record(m.FILTER, arn, body, ctx, parent_arn=group_arn, tags=tags)
    return m.Outcome({"filterArn": arn}, (m.Put(record),))


@operation("DeleteFilter")
def delete_filter(req: Request, view: ResourceReader, ctx: m.Context) -> m.Outcome:
    record = get(view, req.req_arn("filterArn"), m.FILTER)
    require_deletable(record, "Filter")
    for rtype in (m.BATCH_INFERENCE_JOB, m.BATCH_SEGMENT_JOB):
        for job in view.list(rtype):
            if job.body.get("filterArn") == record.arn and status(job) in m.PENDING_OR_IN_PROGRESS:
                raise ResourceInUseException(f"Filter {record.arn} is used by batch job {job.arn}, which is running.")
    return mark_deleting(record, ctx)


# --- MetricAttribution ----------------------------------------------------------------------------------

#: "Available functions are SUM() or SAMPLECOUNT(). For SUM() functions, provide the dataset type (either
#: Interactions or Items) and column to sum as a parameter. For example SUM(Items.PRICE)." (L21932)
_SUM = re.compile(r"^\s*SUM\(\s*(Interactions|Items)\.([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$", re.IGNORECASE)
_SAMPLECOUNT = re.compile(r"^\s*SAMPLECOUNT\(\s*\)\s*$", re.IGNORECASE)


def _metric(item: Any, path: str, view: ResourceReader, group_arn: str) -> dict[str, str]:
    if not isinstance(item, dict):
        raise constraint(item, path, "Member must be a structure")
    sub = Request(item, prefix=f"{path}.member.")
    event_type = sub.req_string("eventType", max_len=256)
    expression = sub.req_string("expression", max_len=256)
    metric_name = sub.req_string("metricName", max_len=256)
    match = _SUM.match(expression)
    if match is None and not _SAMPLECOUNT.match(expression):
        raise InvalidInputException(
            f"Invalid metric expression {expression!r}: use SUM(Interactions.COLUMN), SUM(Items.COLUMN) or "
            "SAMPLECOUNT()."
        )
    if match is not None:
        dataset_type = schemas.normalize_dataset_type(match.group(1))
        column = match.group(2).upper()
        datasets = [d for d in live(view.list(m.DATASET, group_arn)) if d.body.get("datasetType") == dataset_type]
        schema = view.get(str(datasets[0].body.get("schemaArn"))) if datasets else None
        if schema is None:
            raise InvalidInputException(f"{expression}: the dataset group has no {dataset_type} dataset.")
        parsed = schemas.parse_schema(str(schema.body["schema"]), schema.body.get("domain"))
        field = next((f for f in parsed.fields if f.name.upper() == column), None)
        if field is None or not field.is_numeric:
            raise InvalidInputException(
                f"{expression}: {column} is not a numerical column of the {dataset_type} schema."
            )
    return {"eventType": event_type, "expression": expression, "metricName": metric_name}


def _metrics(
    req: Request, field: str, view: ResourceReader, group_arn: str, ctx: m.Context, *, required: bool
) -> list[dict[str, str]]:
    items = req.array(field, required=required, max_items=ctx.quotas.metrics_per_attribution) or []
    out = [_metric(item, f"{req.path(field)}.{i + 1}", view, group_arn) for i, item in enumerate(items)]
    names = [mt["metricName"] for mt in out]
    if len(set(names)) != len(names):
        raise InvalidInputException(f"Metric names must be unique within a metric attribution: {names}")
    return out


def _output_config(req: Request, field: str, *, required: bool) -> dict[str, Any] | None:
    sub = req.obj(field, required=required)
    if sub is None:
        return None
    out: dict[str, Any] = {"roleArn": sub.role_arn("roleArn")}
    destination = s3_data_config(sub, "s3DataDestination", required=False)
    if destination is not None:
        out["s3DataDestination"] = destination
    return out


def _require_event_type_column(view: ResourceReader, group_arn: str) -> None:
    """ "Your Item interactions dataset must have an EVENT_TYPE column." (L16134)"""
    interactions = [
        d for d in live(view.list(m.DATASET, group_arn)) if d.body.get("datasetType") == schemas.INTERACTIONS
    ]
    schema = view.get(str(interactions[0].body.get("schemaArn"))) if interactions else None
    if schema is None:
        raise InvalidInputException("A metric attribution needs the dataset group's Item interactions dataset.")
    parsed = schemas.parse_schema(str(schema.body["schema"]), schema.body.get("domain"))
    if parsed.field("EVENT_TYPE") is None:
        raise InvalidInputException("Your Item interactions dataset must have an EVENT_TYPE column.")


@operation("CreateMetricAttribution")
def create_metric_attribution(req: Request, view: ResourceReader, ctx: m.Context) -> m.Outcome:
    group_arn = req.req_arn("datasetGroupArn")
    name = req.req_name()
    output = _output_config(req, "metricsOutputConfig", required=True)
    group = get(view, group_arn, m.DATASET_GROUP)
    metrics = _metrics(req, "metrics", view, group_arn, ctx, required=True)
    require_active(group, "Dataset group")
    arn = arns.metric_attribution_arn(ctx.region, ctx.account_id, name)
    ensure_absent(view, arn)
    existing = live(view.list(m.METRIC_ATTRIBUTION, group_arn))
    if existing:
        # "You can create at most one metric attribution per dataset group." (L16136)
        raise ResourceAlreadyExistsException(
            f"You can create at most one metric attribution per dataset group; {group_arn} already has "
            f"{existing[0].arn}."
        )
    _require_event_type_column(view, group_arn)
    # ``metrics`` is not part of the MetricAttribution shape; ListMetricAttributionMetrics serves it.
    body = {"datasetGroupArn": group_arn, "name": name, "metricsOutputConfig": output, "metrics": metrics}
    record = new_record(m.METRIC_ATTRIBUTION, arn, body, ctx, parent_arn=group_arn)
    return m.Outcome({"metricAttributionArn": arn}, (m.Put(record),))


@operation("UpdateMetricAttribution")
def update_metric_attribution(req: Request, view: ResourceReader, ctx: m.Context) -> m.Outcome:
    # Printed "Required: No" (api.md §10.11), but there is nothing to update without it.
    record = get(view, req.req_arn("metricAttributionArn"), m.METRIC_ATTRIBUTION)
    group_arn = str(record.body["datasetGroupArn"])
    add = _metrics(req, "addMetrics", view, group_arn, ctx, required=False)
    remove_raw = req.array("removeMetrics", max_items=ctx.quotas.metrics_per_attribution) or []
    remove: list[str] = []
    for i, value in enumerate(remove_raw):
        if not isinstance(value, str) or len(value) > 256:
            raise constraint(
                value, f"removeMetrics.{i + 1}.member", "Member must have length less than or equal to 256"
            )
        remove.append(value)
    output = _output_config(req, "metricsOutputConfig", required=False)
    require_active(record, "Metric attribution")
    metrics: list[dict[str, str]] = [dict(mt) for mt in record.body.get("metrics") or []]
    names = {mt["metricName"] for mt in metrics}
    for metric_name in remove:
        if metric_name not in names:
            raise InvalidInputException(f"Metric {metric_name} is not part of metric attribution {record.arn}.")
    metrics = [mt for mt in metrics if mt["metricName"] not in set(remove)]
    for metric in add:
        if metric["metricName"] in {mt["metricName"] for mt in metrics}:
            raise ResourceAlreadyExistsException(
                f"Metric {metric['metricName']} already exists in metric attribution {record.arn}."
            )
        metrics.append(metric)
    if len(metrics) > ctx.quotas.metrics_per_attribution:
        raise LimitExceededException(
            f"A metric attribution can have at most {ctx.quotas.metrics_per_attribution} metrics."
        )
    changes: dict[str, Any] = {"metrics": metrics}
    if output is not None:
        changes["metricsOutputConfig"] = output
    return m.Outcome({"metricAttributionArn": record.arn}, (m.Put(updated(record, ctx.now, **changes)),))


@operation("DeleteMetricAttribution")
def delete_metric_attribution(req: Request, view: ResourceReader, ctx: m.Context) -> m.Outcome:
    record = get(view, req.req_arn("metricAttributionArn"), m.METRIC_ATTRIBUTION)
    require_deletable(record, "Metric attribution")
    return mark_deleting(record, ctx)
