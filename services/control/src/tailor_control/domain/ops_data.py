"""Dataset groups, schemas, datasets and the data jobs (import, export, deletion): api.md §1.1-1.6."""

from __future__ import annotations

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
from tailor_control.domain.validate import Request, data_source, s3_data_config
from tailor_shared import arns, schemas
from tailor_shared.errors import InvalidInputException, ResourceAlreadyExistsException, ResourceInUseException
from tailor_shared.jobs.protocol import JobType
from tailor_shared.resources import ResourceReader, ResourceRecord

# --- DatasetGroup ---------------------------------------------------------------------------------------


@operation("CreateDatasetGroup")
def create_dataset_group(req: Request, view: ResourceReader, ctx: m.Context) -> m.Outcome:
    name = req.req_name()
    domain = req.enum("domain", m.DOMAINS)
    kms = req.kms_arn("kmsKeyArn")
    role = req.role_arn("roleArn", required=False)
    # "If you specify a KMS key, you must also include an IAM role" (L21250); the role is "only valid
    # when also specifying a KMS key" (CreateDatasetGroup.roleArn).
    if kms is not None and role is None:
        raise InvalidInputException("roleArn is required when you specify a kmsKeyArn.")
    if role is not None and kms is None:
        raise InvalidInputException("roleArn is only valid when you also specify a kmsKeyArn.")
    tags = parse_tags(req)
    check_tag_count(tags, ctx.quotas.tags_per_resource)
    arn = arns.dataset_group_arn(ctx.region, ctx.account_id, name)
    ensure_absent(view, arn)
    limit(len(live(view.list(m.DATASET_GROUP))), ctx.quotas.active_dataset_groups, "active dataset groups")
    body = {"name": name, "domain": domain, "kmsKeyArn": kms, "roleArn": role}
    record = new_record(m.DATASET_GROUP, arn, body, ctx, tags=tags)
    response: dict[str, Any] = {"datasetGroupArn": arn}
    if domain is not None:
        response["domain"] = domain
    return m.Outcome(response, (m.Put(record),))


@operation("DeleteDatasetGroup")
def delete_dataset_group(req: Request, view: ResourceReader, ctx: m.Context) -> m.Outcome:
    record = get(view, req.req_arn("datasetGroupArn"), m.DATASET_GROUP)
    require_deletable(record, "Dataset group")
    # "Before you delete a dataset group, you must delete ... event trackers, ... solutions, ... datasets"
    # (L22946); recommenders, filters and metric attributions live in the group too (L15207-15225).
    blockers = {
        "datasets": m.DATASET,
        "event trackers": m.EVENT_TRACKER,
        "solutions": m.SOLUTION,
        "recommenders": m.RECOMMENDER,
        "filters": m.FILTER,
        "metric attributions": m.METRIC_ATTRIBUTION,
    }
    # Children already DELETE PENDING don't block: advance removes them with the group.
    present = [label for label, rtype in blockers.items() if live(view.list(rtype, record.arn))]
    if present:
        raise ResourceInUseException(
            f"Dataset group {record.arn} still has {', '.join(present)}; delete them before the dataset group."
        )
    if any(status(j) in (m.DDJ_PENDING, m.DDJ_IN_PROGRESS) for j in view.list(m.DATA_DELETION_JOB, record.arn)):
        raise ResourceInUseException(f"Dataset group {record.arn} has a data deletion job in progress.")
    return mark_deleting(record, ctx)


# --- Schema ---------------------------------------------------------------------------------------------


@operation("CreateSchema")
def create_schema(req: Request, view: ResourceReader, ctx: m.Context) -> m.Outcome:
    name = req.req_name()
    text = req.req_string("schema", min_len=1, max_len=schemas.MAX_SCHEMA_LENGTH)
    domain = req.enum("domain", m.DOMAINS)
    schemas.parse_schema(text, domain)
    arn = arns.schema_arn(ctx.region, ctx.account_id, name)
    ensure_absent(view, arn)
    limit(len(view.list(m.SCHEMA)), ctx.quotas.active_schemas, "active schemas")
    # DatasetSchema has no status (api.md §2): a schema exists as soon as it is created.
    record = new_record(m.SCHEMA, arn, {"name": name, "schema": text, "domain": domain}, ctx, status_=None)
    return m.Outcome({"schemaArn": arn}, (m.Put(record),))


@operation("DeleteSchema")
def delete_schema(req: Request, view: ResourceReader, ctx: m.Context) -> m.Outcome:
    record = get(view, req.req_arn("schemaArn"), m.SCHEMA)
    # "you must delete all datasets referencing the schema" (L23270); a pending schema replacement refers
    # to it too.
    for dataset in view.list(m.DATASET):
        update = dataset.body.get("latestDatasetUpdate") or {}
        if dataset.body.get("schemaArn") == record.arn or (
            update.get("schemaArn") == record.arn and update.get("status") == m.CREATE_PENDING
        ):
            raise ResourceInUseException(f"Schema {record.arn} is used by dataset {dataset.arn}.")
    # No status to pass through DELETE PENDING: the schema goes at once.
    return m.Outcome({}, (m.Delete(record.arn),))


# --- Dataset --------------------------------------------------------------------------------------------


def _parsed_schema(record: ResourceRecord) -> schemas.ParsedSchema:
    return schemas.parse_schema(str(record.body["schema"]), record.body.get("domain"))


@operation("CreateDataset")
def create_dataset(req: Request, view: ResourceReader, ctx: m.Context) -> m.Outcome:
    group_arn = req.req_arn("datasetGroupArn", loose=True)
    raw_type = req.req_string("datasetType", max_len=256)
    name = req.req_name()
    schema_arn = req.req_arn("schemaArn")
    tags = parse_tags(req)
    check_tag_count(tags, ctx.quotas.tags_per_resource)
    dataset_type = schemas.normalize_dataset_type(raw_type)
    group = get(view, group_arn, m.DATASET_GROUP)
    # "You must wait until the status of the dataset group is ACTIVE before adding a dataset" (L21248).
    require_active(group, "Dataset group")
    schema = get(view, schema_arn, m.SCHEMA)
    schemas.check_schema_for_dataset(_parsed_schema(schema), dataset_type, group.body.get("domain"))
    # One dataset of each type per group (DatasetGroup type; L21229): the ARN is <group>/<TYPE>.
    arn = arns.dataset_arn(ctx.region, ctx.account_id, str(group.body["name"]), dataset_type)
    ensure_absent(view, arn)
    if any(d.body.get("name") == name for d in view.list(m.DATASET, group_arn)):
        raise ResourceAlreadyExistsException(f"A dataset named {name} already exists in dataset group {group_arn}.")
    body: dict[str, Any] = {
        "datasetGroupArn": group_arn,
        "datasetType": dataset_type,
        "name": name,
        "schemaArn": schema_arn,
    }
    if dataset_type == schemas.ACTION_INTERACTIONS:
        # The Action interactions dataset carries its own event tracker id (Dataset.trackingId).
        body["trackingId"] = arns.uuid_like("trackingId", arn, ctx.now)
    record = new_record(m.DATASET, arn, body, ctx, parent_arn=group_arn, tags=tags)
    return m.Outcome({"datasetArn": arn}, (m.Put(record),))


def _interactions_type(record: ResourceRecord) -> bool:
    return record.body.get("datasetType") == schemas.INTERACTIONS


@operation("DeleteDataset")
def delete_dataset(req: Request, view: ResourceReader, ctx: m.Context) -> m.Outcome:
    record = get(view, req.req_arn("datasetArn"), m.DATASET)
    require_deletable(record, "Dataset")
    group_arn = str(record.body["datasetGroupArn"])
    # Deletion order rules (L15121-15126).
    if live(view.list(m.FILTER, group_arn)):
        raise ResourceInUseException("You must delete all filters in the dataset group before deleting any dataset.")
    if _interactions_type(record) and live(view.list(m.EVENT_TRACKER, group_arn)):
        raise ResourceInUseException(
            "You must delete the event tracker before you delete an Item interactions dataset."
        )
    if live(view.list(m.METRIC_ATTRIBUTION, group_arn)) and _referenced_by_metric_attribution(view, record):
        raise ResourceInUseException(f"A metric attribution references dataset {record.arn}; delete it first.")
    jobs = view.list(m.DATASET_IMPORT_JOB, record.arn) + view.list(m.DATASET_EXPORT_JOB, record.arn)
    if any(status(j) in (m.CREATE_PENDING, m.CREATE_IN_PROGRESS) for j in jobs):
        raise ResourceInUseException(f"Dataset {record.arn} has a dataset import or export job in progress.")
    training = [v for s in view.list(m.SOLUTION, group_arn) for v in view.list(m.SOLUTION_VERSION, s.arn)]
    training += view.list(m.RECOMMENDER, group_arn)
    if any(status(r) in (m.CREATE_PENDING, m.CREATE_IN_PROGRESS) for r in training):
        raise ResourceInUseException(
            "A recommender or solution version of the dataset group is CREATE PENDING or IN PROGRESS."
        )
    # A data deletion job rewrites the group's datasets into a new generation (ADR 0015): not under it.
    if any(status(j) in (m.DDJ_PENDING, m.DDJ_IN_PROGRESS) for j in view.list(m.DATA_DELETION_JOB, group_arn)):
        raise ResourceInUseException(f"Dataset group {group_arn} has a data deletion job in progress.")
    return mark_deleting(record, ctx)


def _referenced_by_metric_attribution(view: ResourceReader, dataset: ResourceRecord) -> bool:
    """Metric attributions always read the Item interactions dataset (event types); SUM(Items.X) reads
    the Items dataset too."""
    if _interactions_type(dataset):
        return True
    if dataset.body.get("datasetType") != schemas.ITEMS:
        return False
    for attribution in live(view.list(m.METRIC_ATTRIBUTION, str(dataset.body["datasetGroupArn"]))):
        for metric in attribution.body.get("metrics") or []:
            if "ITEMS." in str(metric.get("expression", "")).upper():
                return True
    return False


@operation("UpdateDataset")
def update_dataset(req: Request, view: ResourceReader, ctx: m.Context) -> m.Outcome:
    record = get(view, req.req_arn("datasetArn"), m.DATASET)
    schema_arn = req.req_arn("schemaArn", loose=True)
    require_active(record, "Dataset")
    dataset_type = str(record.body["datasetType"])
    # "You can't replace the schema of an Item interactions dataset, Action interactions dataset or
    # Actions dataset" (L14913).
    if dataset_type not in (schemas.ITEMS, schemas.USERS):
        raise InvalidInputException(f"You can't replace the schema of an {dataset_type} dataset.")
    pending = record.body.get("latestDatasetUpdate") or {}
    if pending.get("status") == m.CREATE_PENDING:
        raise ResourceInUseException(f"Dataset {record.arn} already has a schema update in progress.")
    if schema_arn == record.body.get("schemaArn"):
        raise InvalidInputException(f"Dataset {record.arn} already uses schema {schema_arn}.")
    group = get(view, str(record.body["datasetGroupArn"]), m.DATASET_GROUP)
    new_schema = get(view, schema_arn, m.SCHEMA)
    new_parsed = schemas.check_schema_for_dataset(_parsed_schema(new_schema), dataset_type, group.body.get("domain"))
    old_parsed = _parsed_schema(get(view, str(record.body["schemaArn"]), m.SCHEMA))
    _check_replacement(old_parsed, new_parsed)
    update = {
        "schemaArn": schema_arn,
        "status": m.CREATE_PENDING,
        "creationDateTime": ctx.now,
        "lastUpdatedDateTime": ctx.now,
    }
    return m.Outcome({"datasetArn": record.arn}, (m.Put(updated(record, ctx.now, latestDatasetUpdate=update)),))


def _check_replacement(old: schemas.ParsedSchema, new: schemas.ParsedSchema) -> None:
    """Keep every previous field with its types and attributes; new fields must allow null (L14914-14918)."""
    for field in old.fields:
        replacement = new.field(field.name)
        if replacement is None:
            raise InvalidInputException(f"The new schema must keep the field {field.name} of the previous schema.")
        if (replacement.types, replacement.categorical, replacement.textual) != (
            field.types,
            field.categorical,
            field.textual,
        ):
            raise InvalidInputException(
                f"The new schema can't change the data type or attributes of the field {field.name}."
            )
    for field in new.fields:
        if old.field(field.name) is None and not field.nullable:
            raise InvalidInputException(f"The new field {field.name} must support null data.")


# --- DatasetImportJob -----------------------------------------------------------------------------------


@operation("CreateDatasetImportJob")
def create_dataset_import_job(req: Request, view: ResourceReader, ctx: m.Context) -> m.Outcome:
    job_name = req.req_name("jobName")
    dataset_arn = req.req_arn("datasetArn")
    source = data_source(req)
    role = req.role_arn("roleArn")
    mode = req.enum("importMode", ("FULL", "INCREMENTAL"), default="FULL")
    publish = req.opt_boolean("publishAttributionMetricsToS3")
    tags = parse_tags(req)
    check_tag_count(tags, ctx.quotas.tags_per_resource)
    dataset = get(view, dataset_arn, m.DATASET)
    require_active(dataset, "Dataset")
    previous = view.list(m.DATASET_IMPORT_JOB, dataset_arn)
    if mode == "INCREMENTAL" and not any(status(j) == m.ACTIVE for j in previous):
        raise InvalidInputException(
            "If you haven't imported bulk records into the dataset previously, you can only specify FULL."
        )
    if any(status(j) in (m.CREATE_PENDING, m.CREATE_IN_PROGRESS) for j in previous):
        raise ResourceInUseException(f"Dataset {dataset_arn} already has an import job in progress.")
    arn = arns.dataset_import_job_arn(ctx.region, ctx.account_id, job_name)
    ensure_absent(view, arn)
    pending = [j for j in view.list(m.DATASET_IMPORT_JOB) if status(j) in (m.CREATE_PENDING, m.CREATE_IN_PROGRESS)]
    limit(len(pending), ctx.quotas.pending_dataset_import_jobs, "pending or in progress dataset import jobs")
    body = {
        "datasetArn": dataset_arn,
        "dataSource": source,
        "importMode": mode,
        "jobName": job_name,
        "publishAttributionMetricsToS3": publish,
        "roleArn": role,
    }
    record = new_record(m.DATASET_IMPORT_JOB, arn, body, ctx, parent_arn=dataset_arn, tags=tags)
    job = m.Job(
        JobType.DATASET_IMPORT,
        arn,
        m.DATASET_IMPORT_JOB,
        {
            **record.body,
            "datasetGroupArn": dataset.body["datasetGroupArn"],
            "datasetType": dataset.body["datasetType"],
            "schemaArn": dataset.body["schemaArn"],
        },
    )
    return m.Outcome({"datasetImportJobArn": arn}, (m.Put(record),), (job,))


# --- DatasetExportJob -----------------------------------------------------------------------------------


@operation("CreateDatasetExportJob")
def create_dataset_export_job(req: Request, view: ResourceReader, ctx: m.Context) -> m.Outcome:
    job_name = req.req_name("jobName")
    dataset_arn = req.req_arn("datasetArn", loose=True)
    output = req.req_obj("jobOutput")
    destination = s3_data_config(output, "s3DataDestination", required=True)
    role = req.role_arn("roleArn")
    # "The default value is PUT" (CreateDatasetExportJob.ingestionMode, api.md §10.21).
    mode = req.enum("ingestionMode", ("BULK", "PUT", "ALL"), default="PUT")
    tags = parse_tags(req)
    check_tag_count(tags, ctx.quotas.tags_per_resource)
    dataset = get(view, dataset_arn, m.DATASET)
    require_active(dataset, "Dataset")
    arn = arns.dataset_export_job_arn(ctx.region, ctx.account_id, job_name)
    ensure_absent(view, arn)
    body = {
        "datasetArn": dataset_arn,
        "ingestionMode": mode,
        "jobName": job_name,
        "jobOutput": {"s3DataDestination": destination},
        "roleArn": role,
    }
    record = new_record(m.DATASET_EXPORT_JOB, arn, body, ctx, parent_arn=dataset_arn, tags=tags)
    job = m.Job(
        JobType.DATASET_EXPORT,
        arn,
        m.DATASET_EXPORT_JOB,
        {
            **record.body,
            "datasetGroupArn": dataset.body["datasetGroupArn"],
            "datasetType": dataset.body["datasetType"],
        },
    )
    return m.Outcome({"datasetExportJobArn": arn}, (m.Put(record),), (job,))


# --- DataDeletionJob ------------------------------------------------------------------------------------


@operation("CreateDataDeletionJob")
def create_data_deletion_job(req: Request, view: ResourceReader, ctx: m.Context) -> m.Outcome:
    job_name = req.req_name("jobName")
    group_arn = req.req_arn("datasetGroupArn")
    source = data_source(req)
    # Missing from the Request Syntax block but documented "Required: Yes" (api.md §10.10).
    role = req.role_arn("roleArn")
    tags = parse_tags(req)
    check_tag_count(tags, ctx.quotas.tags_per_resource)
    group = get(view, group_arn, m.DATASET_GROUP)
    require_active(group, "Dataset group")
    arn = arns.data_deletion_job_arn(ctx.region, ctx.account_id, job_name)
    ensure_absent(view, arn)
    pending = [j for j in view.list(m.DATA_DELETION_JOB, group_arn) if status(j) == m.DDJ_PENDING]
    limit(len(pending), ctx.quotas.pending_data_deletion_jobs_per_group, "PENDING data deletion jobs")
    body = {"datasetGroupArn": group_arn, "dataSource": source, "jobName": job_name, "roleArn": role}
    # Data deletion jobs have their own vocabulary: PENDING > IN_PROGRESS > COMPLETED -or- FAILED (L20693).
    record = new_record(m.DATA_DELETION_JOB, arn, body, ctx, parent_arn=group_arn, tags=tags, status_=m.DDJ_PENDING)
    job = m.Job(JobType.DATA_DELETION, arn, m.DATA_DELETION_JOB, dict(record.body))
    return m.Outcome({"dataDeletionJobArn": arn}, (m.Put(record),), (job,))
