"""Batch inference and batch segment jobs (api.md §1.14-1.15)."""

from __future__ import annotations

from typing import Any

from tailor_control.domain import catalog
from tailor_control.domain import model as m
from tailor_control.domain.common import (
    ensure_absent,
    get,
    limit,
    new_record,
    operation,
    require_active,
    status,
)
from tailor_control.domain.ops_training import version_recipe
from tailor_control.domain.tags import check_tag_count, parse_tags
from tailor_control.domain.validate import Request, item_exploration_config, s3_data_config
from tailor_shared import arns
from tailor_shared.errors import InvalidInputException
from tailor_shared.filters import Subject, parse_filter_expression
from tailor_shared.jobs.protocol import JobType
from tailor_shared.resources import ResourceReader, ResourceRecord

#: "The maximum number of users per segment is 5 million." (CreateBatchSegmentJob.numResults)
MAX_USERS_PER_SEGMENT = 5_000_000


def _filter(req: Request, view: ResourceReader, version: ResourceRecord, subject: Subject) -> str | None:
    """The job's filterArn: an ACTIVE filter of the version's dataset group over the job's subject — items for
    batch inference, users (``… UserID WHERE Users.…``) for segments (ADR 0016)."""
    filter_arn = req.arn("filterArn", loose=True)
    if filter_arn is None:
        return None
    record = get(view, filter_arn, m.FILTER)
    require_active(record, "Filter")
    if record.body.get("datasetGroupArn") != version.body.get("datasetGroupArn"):
        raise InvalidInputException(f"Filter {filter_arn} belongs to another dataset group than the solution version.")
    parsed = parse_filter_expression(str(record.body.get("filterExpression") or ""))
    if parsed.subject != subject:
        need = (
            "batch segment jobs need a UserID" if subject == Subject.USER_ID else "batch inference jobs need an ItemID"
        )
        raise InvalidInputException(f"Filter {filter_arn} filters {parsed.subject.value}; {need} filter.")
    return filter_arn


def _io(req: Request) -> tuple[dict[str, Any], dict[str, Any]]:
    job_input = req.req_obj("jobInput")
    job_output = req.req_obj("jobOutput")
    source = s3_data_config(job_input, "s3DataSource", required=True)
    destination = s3_data_config(job_output, "s3DataDestination", required=True)
    return {"s3DataSource": source}, {"s3DataDestination": destination}


def _pending(view: ResourceReader, resource_type: str) -> int:
    return sum(1 for j in view.list(resource_type) if status(j) in m.PENDING_OR_IN_PROGRESS)


@operation("CreateBatchInferenceJob")
def create_batch_inference_job(req: Request, view: ResourceReader, ctx: m.Context) -> m.Outcome:
    job_name = req.req_name("jobName")
    version_arn = req.req_arn("solutionVersionArn")
    job_input, job_output = _io(req)
    role = req.role_arn("roleArn")
    mode = req.enum("batchInferenceJobMode", ("BATCH_INFERENCE", "THEME_GENERATION"), default="BATCH_INFERENCE")
    num_results = req.integer("numResults", minimum=1)
    config_req = req.obj("batchInferenceJobConfig")
    exploration = item_exploration_config(config_req) if config_req is not None else None
    theme_req = req.obj("themeGenerationConfig")
    theme: dict[str, Any] | None = None
    if theme_req is not None:
        fields = theme_req.req_obj("fieldsForThemeGeneration")
        theme = {"fieldsForThemeGeneration": {"itemName": fields.req_string("itemName", min_len=1, max_len=150)}}
    tags = parse_tags(req)
    check_tag_count(tags, ctx.quotas.tags_per_resource)
    version = get(view, version_arn, m.SOLUTION_VERSION)
    require_active(version, "Solution version")
    recipe = version_recipe(view, version)
    if recipe is not None and recipe.batch_segment:
        raise InvalidInputException(
            "USER_SEGMENTATION solution versions need a batch segment job (CreateBatchSegmentJob)."
        )
    if recipe is not None and not recipe.batch_inference:
        # "You can't get batch recommendations with the Trending-Now or Next-Best-Action recipes." (L20029)
        raise InvalidInputException(f"You can't get batch recommendations with the {recipe.name} recipe.")
    config: dict[str, Any] | None = None
    if config_req is not None:
        if exploration is not None and recipe is not None:
            exploration = catalog.item_exploration(recipe.arn, exploration)
        config = {} if exploration is None else {"itemExplorationConfig": exploration}
    if mode == "THEME_GENERATION":
        # Themes: "If you use the Similar-Items recipe ... specify the name of the field that contains item
        # names" (L20022).
        if recipe is None or not recipe.theme_generation:
            raise InvalidInputException("THEME_GENERATION is only available with the Similar-Items recipe.")
        if theme is None:
            raise InvalidInputException(
                "THEME_GENERATION needs themeGenerationConfig.fieldsForThemeGeneration.itemName."
            )
        # Themes come from Content Generator, a generative AI model (L12557); Tailor has none, and a job that
        # ends ACTIVE with made-up themes would be worse than a refusal (ADR 0016).
        raise InvalidInputException(
            "THEME_GENERATION is not available in this Tailor deployment: Content Generator needs a generative "
            "model. Use batchInferenceJobMode BATCH_INFERENCE."
        )
    filter_arn = _filter(req, view, version, Subject.ITEM_ID)
    arn = arns.batch_inference_job_arn(ctx.region, ctx.account_id, job_name)
    ensure_absent(view, arn)
    limit(_pending(view, m.BATCH_INFERENCE_JOB), ctx.quotas.pending_batch_inference_jobs,
          "pending or in progress batch inference jobs")  # fmt: skip
    body = {
        "jobName": job_name,
        "solutionVersionArn": version_arn,
        "filterArn": filter_arn,
        "numResults": num_results,
        "jobInput": job_input,
        "jobOutput": job_output,
        "batchInferenceJobConfig": config,
        "batchInferenceJobMode": mode,
        "themeGenerationConfig": theme,
        "roleArn": role,
    }
    # Batch jobs print PENDING > IN PROGRESS > ACTIVE | CREATE FAILED (L30160).
    record = new_record(
        m.BATCH_INFERENCE_JOB, arn, body, ctx, parent_arn=version_arn, tags=tags, status_=m.BATCH_PENDING
    )
    job = m.Job(
        JobType.BATCH_INFERENCE,
        arn,
        m.BATCH_INFERENCE_JOB,
        {**record.body, "recipeArn": recipe.arn if recipe else None},
    )
    return m.Outcome({"batchInferenceJobArn": arn}, (m.Put(record),), (job,))


@operation("CreateBatchSegmentJob")
def create_batch_segment_job(req: Request, view: ResourceReader, ctx: m.Context) -> m.Outcome:
    job_name = req.req_name("jobName")
    version_arn = req.req_arn("solutionVersionArn")
    job_input, job_output = _io(req)
    role = req.role_arn("roleArn")
    num_results = req.integer("numResults", minimum=1, maximum=MAX_USERS_PER_SEGMENT)
    tags = parse_tags(req)
    check_tag_count(tags, ctx.quotas.tags_per_resource)
    version = get(view, version_arn, m.SOLUTION_VERSION)
    require_active(version, "Solution version")
    recipe = version_recipe(view, version)
    if recipe is None or not recipe.batch_segment:
        raise InvalidInputException(
            "Batch segment jobs need a solution version trained with a USER_SEGMENTATION recipe "
            "(Item-Affinity or Item-Attribute-Affinity)."
        )
    filter_arn = _filter(req, view, version, Subject.USER_ID)
    if filter_arn is not None and recipe.name == "aws-item-attribute-affinity":
        expression = parse_filter_expression(str(get(view, filter_arn, m.FILTER).body.get("filterExpression") or ""))
        if any(d.is_interactions for d in expression.datasets):
            # "Item-interaction filters not allowed with Item-Attribute-Affinity" (L16013-L16086)
            raise InvalidInputException(
                "You can't use an item interaction filter with the Item-Attribute-Affinity recipe."
            )
    arn = arns.batch_segment_job_arn(ctx.region, ctx.account_id, job_name)
    ensure_absent(view, arn)
    limit(_pending(view, m.BATCH_SEGMENT_JOB), ctx.quotas.pending_batch_segment_jobs,
          "pending or in progress batch segment jobs")  # fmt: skip
    body = {
        "jobName": job_name,
        "solutionVersionArn": version_arn,
        "filterArn": filter_arn,
        "numResults": num_results,
        "jobInput": job_input,
        "jobOutput": job_output,
        "roleArn": role,
    }
    record = new_record(m.BATCH_SEGMENT_JOB, arn, body, ctx, parent_arn=version_arn, tags=tags, status_=m.BATCH_PENDING)
    job = m.Job(
        JobType.BATCH_SEGMENT, arn, m.BATCH_SEGMENT_JOB, {**record.body, "recipeArn": recipe.arn if recipe else None}
    )
    return m.Outcome({"batchSegmentJobArn": arn}, (m.Put(record),), (job,))
