"""Solutions and solution versions (training): api.md §1.10-1.11."""

from __future__ import annotations

import re
from typing import Any

from tailor_control.domain import catalog
from tailor_control.domain import model as m
from tailor_control.domain.common import (
    ensure_absent,
    get,
    limit,
    live,
    mark_deleting,
    new_record,
    newest_first,
    operation,
    require_active,
    require_deletable,
    status,
    updated,
)
from tailor_control.domain.tags import check_tag_count, parse_tags
from tailor_control.domain.validate import Request, constraint, excluded_dataset_columns
from tailor_shared import arns, recipes
from tailor_shared.errors import InvalidInputException, ResourceInUseException
from tailor_shared.jobs.protocol import JobType
from tailor_shared.recipes import Recipe
from tailor_shared.resources import ResourceReader, ResourceRecord

#: AutoTrainingConfig.schedulingExpression: 1-16 chars, ``rate\(\d+ days?\)``, value 1-30 (default 7 days).
SCHEDULE_PATTERN = re.compile(r"rate\((\d+) days?\)")
DEFAULT_SCHEDULE = "rate(7 days)"
#: SolutionConfig members (SolutionConfig data type).
SOLUTION_CONFIG_KEYS = frozenset(
    {
        "algorithmHyperParameters",
        "autoMLConfig",
        "autoTrainingConfig",
        "eventValueThreshold",
        "featureTransformationParameters",
        "hpoConfig",
        "optimizationObjective",
        "trainingDataConfig",
    }
)
#: Solution versions still training (they block deletes and a second concurrent version).
TRAINING = frozenset({m.CREATE_PENDING, m.CREATE_IN_PROGRESS, m.CREATE_STOPPING})


def schedule_days(expression: str) -> int:
    match = SCHEDULE_PATTERN.fullmatch(expression)
    return int(match.group(1)) if match else 7


# --- SolutionConfig validation --------------------------------------------------------------------------


def _hpo_config(req: Request) -> dict[str, Any] | None:
    sub = req.obj("hpoConfig")
    if sub is None:
        return None
    if sub.has("hpoObjective"):
        # "Amazon Personalize doesn't support configuring the hpoObjective ... at this time." (L22371)
        raise InvalidInputException("Amazon Personalize doesn't support configuring the hpoObjective at this time.")
    out: dict[str, Any] = {}
    resources = sub.obj("hpoResourceConfig")
    if resources is not None:
        resource_out: dict[str, str] = {}
        # Numbers passed as strings; "The maximum value ... is 40" / "... is 10" (HPOResourceConfig).
        for field, maximum in (("maxNumberOfTrainingJobs", 40), ("maxParallelTrainingJobs", 10)):
            value = resources.string(field, max_len=256)
            if value is None:
                continue
            if not value.isdigit() or not 1 <= int(value) <= maximum:
                raise constraint(value, resources.path(field), f"Member must be an integer between 1 and {maximum}")
            resource_out[field] = value
        out["hpoResourceConfig"] = resource_out
    ranges = sub.obj("algorithmHyperParameterRanges")
    if ranges is not None:
        out["algorithmHyperParameterRanges"] = _ranges(ranges)
    return out


def _ranges(req: Request) -> dict[str, Any]:
    """HyperParameterRanges: <= 100 of each kind; bounds within +-1000000; values <= 100 x <= 1000 chars."""
    out: dict[str, Any] = {}
    for kind in ("categoricalHyperParameterRanges", "continuousHyperParameterRanges", "integerHyperParameterRanges"):
        items = req.array(kind, max_items=100)
        if items is None:
            continue
        parsed: list[dict[str, Any]] = []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise constraint(item, f"{req.path(kind)}.{i + 1}", "Member must be a structure")
            sub = Request(item, prefix=f"{req.path(kind)}.{i + 1}.member.")
            entry: dict[str, Any] = {"name": sub.req_string("name", max_len=256)}
            if kind == "categoricalHyperParameterRanges":
                values = sub.array("values", max_items=100) or []
                for j, v in enumerate(values):
                    if not isinstance(v, str) or len(v) > 1000:
                        raise constraint(
                            v, sub.path(f"values.{j + 1}"), "Member must have length less than or equal to 1000"
                        )
                entry["values"] = list(values)
            else:
                is_int = kind == "integerHyperParameterRanges"
                lo, hi = _bound(sub, "minValue", is_int), _bound(sub, "maxValue", is_int)
                if lo is not None and hi is not None and lo > hi:
                    raise InvalidInputException(f"{sub.path('minValue')} must not be greater than maxValue.")
                entry.update({k: v for k, v in (("minValue", lo), ("maxValue", hi)) if v is not None})
            parsed.append(entry)
        out[kind] = parsed
    return out


def _bound(req: Request, field: str, is_int: bool) -> float | int | None:
    if is_int:
        return req.integer(field, minimum=-1000000, maximum=1000000)
    value = req.raw(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise constraint(value, req.path(field), "Member must be a number")
    if not -1000000 <= value <= 1000000:
        raise constraint(value, req.path(field), "Member must be between -1000000 and 1000000")
    return float(value)


def _solution_config(
    req: Request, *, recipe: Recipe | None, perform_auto_ml: bool, perform_auto_training: bool
) -> dict[str, Any]:
    """SolutionConfig, checked against what the recipe honours; with a recipe, the hyperparameter and
    feature transformation maps are merged over its defaults as DescribeSolution shows them (L3090)."""
    sub = req.obj("solutionConfig")
    out: dict[str, Any] = {}
    given = set(sub.data) if sub is not None else set()
    if recipe is not None:
        unsupported = sorted(k for k in given if k in SOLUTION_CONFIG_KEYS and k not in recipe.solution_config_keys)
        unsupported = [k for k in unsupported if k != "autoMLConfig"]
        if unsupported:
            raise InvalidInputException(f"Recipe {recipe.name} doesn't support solutionConfig.{unsupported[0]}.")
    if sub is not None:
        hps = sub.smap("algorithmHyperParameters")
        if hps is not None:
            out["algorithmHyperParameters"] = hps
        auto_ml = sub.obj("autoMLConfig")
        if auto_ml is not None:
            metric = auto_ml.string("metricName", max_len=256)
            recipe_list = auto_ml.array("recipeList", max_items=100) or []
            for i, arn in enumerate(recipe_list):
                if not isinstance(arn, str) or not catalog.automl_candidate(arn):
                    raise constraint(
                        arn, auto_ml.path(f"recipeList.{i + 1}"), "Member must be a recipe AutoML can choose"
                    )
            out["autoMLConfig"] = {k: v for k, v in (("metricName", metric), ("recipeList", recipe_list)) if v}
        auto_training = sub.obj("autoTrainingConfig")
        if auto_training is not None:
            expression = auto_training.string(
                "schedulingExpression",
                min_len=1,
                max_len=16,
                pattern=SCHEDULE_PATTERN,
                pattern_text=r"rate\(\d+ days?\)",
            )
            if expression is not None:
                if not 1 <= schedule_days(expression) <= 30:
                    raise constraint(
                        expression, auto_training.path("schedulingExpression"), "The value must be from 1 to 30 days"
                    )
                out["autoTrainingConfig"] = {"schedulingExpression": expression}
        threshold = sub.string("eventValueThreshold", max_len=256)
        if threshold is not None:
            out["eventValueThreshold"] = threshold
        ft = sub.smap("featureTransformationParameters")
        if ft is not None:
            out["featureTransformationParameters"] = ft
        hpo = _hpo_config(sub)
        if hpo is not None:
            if recipe is not None and "algorithmHyperParameterRanges" in hpo:
                hpo["algorithmHyperParameterRanges"] = catalog.hpo_ranges(
                    recipe.arn, hpo["algorithmHyperParameterRanges"]
                )
            out["hpoConfig"] = hpo
        objective = sub.obj("optimizationObjective")
        if objective is not None:
            item_attribute = objective.string("itemAttribute", min_len=1, max_len=150)
            sensitivity = objective.enum("objectiveSensitivity", ("LOW", "MEDIUM", "HIGH", "OFF"))
            out["optimizationObjective"] = {
                k: v for k, v in (("itemAttribute", item_attribute), ("objectiveSensitivity", sensitivity)) if v
            }
        training_data = sub.obj("trainingDataConfig")
        if training_data is not None:
            excluded = excluded_dataset_columns(training_data)
            out["trainingDataConfig"] = {} if excluded is None else {"excludedDatasetColumns": excluded}
    if recipe is not None:
        out["algorithmHyperParameters"] = catalog.hyperparameters(recipe.arn, out.get("algorithmHyperParameters", {}))
        out["featureTransformationParameters"] = catalog.feature_transformation_parameters(
            recipe.arn, out.get("featureTransformationParameters", {})
        )
    if perform_auto_ml and "autoMLConfig" not in out:
        out["autoMLConfig"] = {}
    if perform_auto_training and "autoTrainingConfig" not in out:
        # New solutions train every 7 days by default (L9983); Describe shows it (L3098).
        out["autoTrainingConfig"] = {"schedulingExpression": DEFAULT_SCHEDULE}
    return out


# --- Solution -------------------------------------------------------------------------------------------

#: CreateSolution's answer to performAutoML true, in the guide's words (L6324, L6106, L22519).
AUTO_ML_REFUSED = (
    "performAutoML is not supported: AutoML is only performed using the HRNN recipes, and legacy HRNN recipes are"
    " no longer available. We don't recommend enabling automated machine learning. Instead, match your use case"
    " to the available Amazon Personalize recipes and set recipeArn."
)


@operation("CreateSolution")
def create_solution(req: Request, view: ResourceReader, ctx: m.Context) -> m.Outcome:
    name = req.req_name()
    group_arn = req.req_arn("datasetGroupArn")
    event_type = req.string("eventType", max_len=256)
    perform_auto_ml = req.boolean("performAutoML", False)
    perform_auto_training = req.boolean("performAutoTraining", True)
    perform_hpo = req.boolean("performHPO", False)
    recipe_arn = req.arn("recipeArn")
    tags = parse_tags(req)
    check_tag_count(tags, ctx.quotas.tags_per_resource)
    if perform_auto_ml and recipe_arn is not None:
        raise InvalidInputException("When performAutoML is true, you must omit recipeArn.")
    if perform_auto_ml:
        # Refused here, never accepted and failed at training (ADR 0002 §22): AutoML only chooses among the
        # HRNN recipes (L6324), which are no longer available (L6106), and the guide advises against it (L22519).
        raise InvalidInputException(AUTO_ML_REFUSED)
    if not perform_auto_ml and recipe_arn is None:
        raise InvalidInputException("recipeArn is required when performAutoML is false.")
    group = get(view, group_arn, m.DATASET_GROUP)
    recipe = catalog.recipe(recipe_arn) if recipe_arn is not None else None  # RNF for an unknown recipe
    if recipe is not None:
        if recipe.is_use_case:
            raise InvalidInputException(
                f"{recipe_arn} is a domain use case: create a recommender (CreateRecommender) instead."
            )
        if group.body.get("domain") and recipe.recipe_type == recipes.PERSONALIZED_ACTIONS:
            # "You can't create next best action resources ... in a domain dataset group." (L496)
            raise InvalidInputException("You can't create next best action resources in a Domain dataset group.")
    config = _solution_config(
        req, recipe=recipe, perform_auto_ml=perform_auto_ml, perform_auto_training=perform_auto_training
    )
    require_active(group, "Dataset group")
    arn = arns.solution_arn(ctx.region, ctx.account_id, name)
    ensure_absent(view, arn)
    limit(len(live(view.list(m.SOLUTION, group_arn))), ctx.quotas.active_solutions_per_group, "active solutions")
    body = {
        "name": name,
        "datasetGroupArn": group_arn,
        "eventType": event_type,
        "performAutoML": perform_auto_ml,
        "performAutoTraining": perform_auto_training,
        # "always true with AutoML" (CreateSolution.performHPO).
        "performHPO": perform_hpo or perform_auto_ml,
        "recipeArn": recipe_arn,
        "solutionConfig": config,
    }
    record = new_record(m.SOLUTION, arn, body, ctx, parent_arn=group_arn, tags=tags)
    return m.Outcome({"solutionArn": arn}, (m.Put(record),))


@operation("DeleteSolution")
def delete_solution(req: Request, view: ResourceReader, ctx: m.Context) -> m.Outcome:
    record = get(view, req.req_arn("solutionArn", loose=True), m.SOLUTION)
    require_deletable(record, "Solution")
    # "Before deleting a solution, you must delete all campaigns based on the solution. ... You can't
    # delete a solution if an associated SolutionVersion is in the CREATE PENDING or IN PROGRESS state."
    # (L23334)
    campaigns = live(view.list(m.CAMPAIGN, record.arn))
    if campaigns:
        raise ResourceInUseException(
            f"Solution {record.arn} is deployed by campaign {campaigns[0].arn}; delete it first."
        )
    versions = view.list(m.SOLUTION_VERSION, record.arn)
    if any(status(v) in TRAINING for v in versions):
        raise ResourceInUseException(f"Solution {record.arn} has a solution version that is still training.")
    for version in versions:
        for rtype in (m.BATCH_INFERENCE_JOB, m.BATCH_SEGMENT_JOB):
            if any(status(j) in m.PENDING_OR_IN_PROGRESS for j in view.list(rtype, version.arn)):
                raise ResourceInUseException(f"Solution version {version.arn} has a batch job in progress.")
    return mark_deleting(record, ctx)


def version_recipe(view: ResourceReader, version: ResourceRecord) -> Recipe | None:
    """The recipe a version was trained with (performAutoML is refused at CreateSolution, ADR 0002 §22a, so a
    version always names its recipe)."""
    arn = version.body.get("recipeArn")
    return catalog.recipe_or_none(None if arn is None else str(arn))


def latest_version(view: ResourceReader, solution_arn: str) -> ResourceRecord | None:
    versions = newest_first(view.list(m.SOLUTION_VERSION, solution_arn))
    return versions[0] if versions else None


def latest_active_version(view: ResourceReader, solution_arn: str) -> ResourceRecord | None:
    return next((v for v in newest_first(view.list(m.SOLUTION_VERSION, solution_arn)) if status(v) == m.ACTIVE), None)


# --- SolutionVersion ------------------------------------------------------------------------------------


def new_solution_version(
    view: ResourceReader,
    solution: ResourceRecord,
    ctx: m.Context,
    *,
    training_mode: str,
    training_type: str,
    name: str | None = None,
    tags: dict[str, str] | None = None,
) -> tuple[ResourceRecord, m.Job]:
    """A CREATE PENDING version of ``solution`` (manual or automatic) and its training job. The id is
    derived from the solution, the time and the count of versions, so it is deterministic and unique."""
    existing = view.list(m.SOLUTION_VERSION, solution.arn)
    salt = len(existing)
    while True:
        arn = arns.solution_version_arn(solution.arn, arns.short_id(solution.arn, ctx.now, salt))
        if view.get(arn) is None:
            break
        salt += 1
    source = solution.body
    body = {
        "solutionArn": solution.arn,
        "name": name,
        "datasetGroupArn": source.get("datasetGroupArn"),
        "eventType": source.get("eventType"),
        "performAutoML": source.get("performAutoML"),
        "performHPO": source.get("performHPO"),
        "recipeArn": source.get("recipeArn"),
        "solutionConfig": source.get("solutionConfig"),
        "trainingMode": training_mode,
        "trainingType": training_type,
    }
    record = new_record(m.SOLUTION_VERSION, arn, body, ctx, parent_arn=solution.arn, tags=tags)
    return record, m.Job(JobType.SOLUTION_VERSION, arn, m.SOLUTION_VERSION, dict(record.body))


def pending_versions(view: ResourceReader) -> int:
    return sum(1 for v in view.list(m.SOLUTION_VERSION) if status(v) in (m.CREATE_PENDING, m.CREATE_IN_PROGRESS))


@operation("CreateSolutionVersion")
def create_solution_version(req: Request, view: ResourceReader, ctx: m.Context) -> m.Outcome:
    solution_arn = req.req_arn("solutionArn")
    name = req.name("name", required=False)
    mode = req.enum("trainingMode", ("FULL", "UPDATE", "AUTOTRAIN"), default="FULL")
    tags = parse_tags(req)
    check_tag_count(tags, ctx.quotas.tags_per_resource)
    if mode == "AUTOTRAIN":
        raise InvalidInputException("trainingMode AUTOTRAIN is reserved for automatic training; use FULL or UPDATE.")
    solution = get(view, solution_arn, m.SOLUTION)
    # "must be in the ACTIVE state before calling CreateSolutionVersion" (L22662).
    require_active(solution, "Solution")
    versions = view.list(m.SOLUTION_VERSION, solution_arn)
    if mode == "UPDATE":
        recipe = catalog.recipe_or_none(solution.body.get("recipeArn"))
        # UPDATE: "the input solution was trained with the User-Personalization recipe or the legacy
        # HRNN-Coldstart recipe" (L22734).
        if recipe is None or "UPDATE" not in recipe.training_modes:
            raise InvalidInputException(
                "trainingMode UPDATE is only for solutions that use the User-Personalization or HRNN-Coldstart recipe."
            )
        if not any(status(v) == m.ACTIVE and v.body.get("trainingMode") == "FULL" for v in versions):
            raise InvalidInputException(
                "The UPDATE option can only be used when you already have an active solution version created "
                "from the input solution using the FULL option."
            )
    if any(status(v) in TRAINING for v in versions):
        raise ResourceInUseException(f"Solution {solution_arn} already has a solution version in training.")
    limit(pending_versions(view), ctx.quotas.pending_solution_versions, "pending or in progress solution versions")
    record, job = new_solution_version(
        view, solution, ctx, training_mode=str(mode), training_type="MANUAL", name=name, tags=tags
    )
    return m.Outcome({"solutionVersionArn": record.arn}, (m.Put(record),), (job,))


@operation("GetSolutionMetrics")
def get_solution_metrics(req: Request, view: ResourceReader, ctx: m.Context) -> m.Outcome:
    record = get(view, req.req_arn("solutionVersionArn"), m.SOLUTION_VERSION)
    require_active(record, "Solution version")
    metrics = record.body.get("metrics") or {}
    return m.Outcome({"solutionVersionArn": record.arn, "metrics": dict(metrics)})


@operation("StopSolutionVersionCreation")
def stop_solution_version_creation(req: Request, view: ResourceReader, ctx: m.Context) -> m.Outcome:
    record = get(view, req.req_arn("solutionVersionArn"), m.SOLUTION_VERSION)
    # "CREATE_PENDING > CREATE_STOPPED or CREATE_IN_PROGRESS > CREATE_STOPPING > CREATE_STOPPED" (L27728-27732).
    current = status(record)
    if current == m.CREATE_PENDING:
        stopped = updated(record, ctx.now, status=m.CREATE_STOPPED)
        job = m.Job(JobType.SOLUTION_VERSION_STOP, record.arn, m.SOLUTION_VERSION, dict(stopped.body))
        return m.Outcome({}, (m.Put(stopped),), (job,))
    if current == m.CREATE_IN_PROGRESS:
        stopping = updated(record, ctx.now, status=m.CREATE_STOPPING)
        job = m.Job(JobType.SOLUTION_VERSION_STOP, record.arn, m.SOLUTION_VERSION, dict(stopping.body))
        return m.Outcome({}, (m.Put(stopping),), (job,))
    raise ResourceInUseException(
        f"Solution version {record.arn} is {current}; only a CREATE PENDING or CREATE IN_PROGRESS version "
        "can be stopped."
    )
