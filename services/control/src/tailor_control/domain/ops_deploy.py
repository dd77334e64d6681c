"""Campaigns and recommenders: deployments that serve real-time recommendations (api.md §1.12-1.13).

Updates keep serving the previous deployment (L27996): the top-level members stay the deployed config
while ``latestCampaignUpdate`` / ``latestRecommenderUpdate`` carries the requested one, and the status is
UPDATE PENDING / UPDATE IN_PROGRESS until the worker reports the new deployment ACTIVE (ADR 0002).
"""

from __future__ import annotations

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
    operation,
    require_active,
    require_deletable,
    require_status,
    status,
    updated,
)
from tailor_control.domain.ops_training import latest_active_version, version_recipe
from tailor_control.domain.tags import check_tag_count, parse_tags
from tailor_control.domain.validate import Request, excluded_dataset_columns, item_exploration_config
from tailor_shared import arns
from tailor_shared.errors import InvalidInputException, ResourceInUseException
from tailor_shared.jobs.protocol import JobType
from tailor_shared.resources import ResourceReader, ResourceRecord

# --- Campaign -------------------------------------------------------------------------------------------


def _campaign_config(req: Request) -> dict[str, Any] | None:
    """CampaignConfig members; itemExplorationConfig is checked against the recipe later (``_deployable``)."""
    sub = req.obj("campaignConfig")
    if sub is None:
        return None
    out: dict[str, Any] = {}
    metadata = sub.opt_boolean("enableMetadataWithRecommendations")
    if metadata is not None:
        out["enableMetadataWithRecommendations"] = metadata
    exploration = item_exploration_config(sub)
    if exploration is not None:
        out["itemExplorationConfig"] = exploration
    sync = sub.opt_boolean("syncWithLatestSolutionVersion")
    if sync is not None:
        out["syncWithLatestSolutionVersion"] = sync
    return out


def resolve_solution_version(view: ResourceReader, arn: str, *, sync: bool) -> tuple[ResourceRecord, ResourceRecord]:
    """(solution, ACTIVE solution version) for a version ARN or ``<solutionArn>/$LATEST``.

    syncWithLatestSolutionVersion "must be in SolutionArn/$LATEST format" (CampaignConfig, L30782)."""
    if arns.is_latest_alias(arn):
        solution = get(view, arns.solution_arn_of(arn), m.SOLUTION)
        version = latest_active_version(view, solution.arn)
        if version is None:
            raise ResourceInUseException(f"Solution {solution.arn} has no ACTIVE solution version to deploy yet.")
        return solution, version
    if sync:
        raise InvalidInputException(
            "When syncWithLatestSolutionVersion is true, specify solutionVersionArn in SolutionArn/$LATEST format."
        )
    version = get(view, arn, m.SOLUTION_VERSION)
    # "Wait until the status shows as ACTIVE before calling CreateCampaign." (L22675)
    require_active(version, "Solution version")
    return get(view, str(version.body["solutionArn"]), m.SOLUTION), version


def _deployable(view: ResourceReader, version: ResourceRecord, config: dict[str, Any] | None) -> dict[str, Any] | None:
    """Check the version can serve real-time requests and the campaign config fits its recipe; returns
    the config with itemExplorationConfig merged over the recipe's defaults."""
    recipe = version_recipe(view, version)
    if recipe is not None and recipe.runtime_api is None:
        raise InvalidInputException(
            f"Solution versions trained with {recipe.name} can only be used in batch segment jobs, not campaigns."
        )
    if config is None or "itemExplorationConfig" not in config or recipe is None:
        return config
    # "only if your solution uses the User-Personalization recipe" (CampaignConfig.itemExplorationConfig)
    return {**config, "itemExplorationConfig": catalog.item_exploration(recipe.arn, config["itemExplorationConfig"])}


def campaigns_in_group(view: ResourceReader, group_arn: str) -> list[ResourceRecord]:
    return [c for s in view.list(m.SOLUTION, group_arn) for c in live(view.list(m.CAMPAIGN, s.arn))]


@operation("CreateCampaign")
def create_campaign(req: Request, view: ResourceReader, ctx: m.Context) -> m.Outcome:
    name = req.req_name()
    version_arn = req.req_arn("solutionVersionArn")
    tps = req.integer("minProvisionedTPS", minimum=1, default=1)
    config = _campaign_config(req)
    tags = parse_tags(req)
    check_tag_count(tags, ctx.quotas.tags_per_resource)
    sync = bool(config and config.get("syncWithLatestSolutionVersion"))
    solution, version = resolve_solution_version(view, version_arn, sync=sync)
    config = _deployable(view, version, config)
    # Campaign names "must be unique within your account" (CreateCampaign.name); the ARN embeds the name.
    arn = arns.campaign_arn(ctx.region, ctx.account_id, name)
    ensure_absent(view, arn)
    group_arn = str(solution.body["datasetGroupArn"])
    limit(len(campaigns_in_group(view, group_arn)), ctx.quotas.active_campaigns_per_group, "active campaigns")
    body = {"name": name, "solutionVersionArn": version.arn, "minProvisionedTPS": tps, "campaignConfig": config}
    record = new_record(m.CAMPAIGN, arn, body, ctx, parent_arn=solution.arn, tags=tags)
    job = m.Job(JobType.CAMPAIGN_DEPLOY, arn, m.CAMPAIGN, {**record.body, "solutionArn": solution.arn})
    return m.Outcome({"campaignArn": arn}, (m.Put(record),), (job,))


def start_campaign_update(
    campaign: ResourceRecord,
    ctx: m.Context,
    *,
    solution_arn: str,
    version_arn: str,
    tps: int,
    config: dict[str, Any] | None,
) -> tuple[ResourceRecord, m.Job]:
    """UPDATE PENDING with the requested deployment in latestCampaignUpdate; the old one keeps serving."""
    update: dict[str, Any] = {
        "solutionVersionArn": version_arn,
        "minProvisionedTPS": tps,
        "status": m.CREATE_PENDING,
        "creationDateTime": ctx.now,
        "lastUpdatedDateTime": ctx.now,
    }
    if config is not None:
        update["campaignConfig"] = config
    record = updated(
        campaign, ctx.now, status=m.UPDATE_PENDING, latestCampaignUpdate=update, _updateFromStatus=status(campaign)
    )
    job = m.Job(JobType.CAMPAIGN_UPDATE, campaign.arn, m.CAMPAIGN, {**record.body, "solutionArn": solution_arn})
    return record, job


@operation("UpdateCampaign")
def update_campaign(req: Request, view: ResourceReader, ctx: m.Context) -> m.Outcome:
    campaign = get(view, req.req_arn("campaignArn"), m.CAMPAIGN)
    version_arn = req.arn("solutionVersionArn")
    tps = req.integer("minProvisionedTPS", minimum=1)
    config = _campaign_config(req)
    # "the campaign status must be ACTIVE or CREATE FAILED" (L27992).
    require_status(campaign, (m.ACTIVE, m.CREATE_FAILED), "Campaign")
    current_config = campaign.body.get("campaignConfig")
    effective_config = config if config is not None else current_config
    sync = bool(effective_config and effective_config.get("syncWithLatestSolutionVersion"))
    if version_arn is None:
        if sync and config is not None:
            raise InvalidInputException(
                "When syncWithLatestSolutionVersion is true, specify solutionVersionArn in SolutionArn/$LATEST format."
            )
        version_arn = str(campaign.body["solutionVersionArn"])
        solution, version = get(view, str(campaign.parent_arn), m.SOLUTION), get(view, version_arn, m.SOLUTION_VERSION)
    else:
        solution, version = resolve_solution_version(view, version_arn, sync=sync)
    if solution.arn != campaign.parent_arn:
        raise InvalidInputException(
            f"Campaign {campaign.arn} can only deploy versions of solution {campaign.parent_arn}."
        )
    effective_config = _deployable(view, version, effective_config)
    record, job = start_campaign_update(
        campaign,
        ctx,
        solution_arn=solution.arn,
        version_arn=version.arn,
        tps=tps if tps is not None else int(campaign.body.get("minProvisionedTPS", 1)),
        config=effective_config,
    )
    return m.Outcome({"campaignArn": campaign.arn}, (m.Put(record),), (job,))


@operation("DeleteCampaign")
def delete_campaign(req: Request, view: ResourceReader, ctx: m.Context) -> m.Outcome:
    record = get(view, req.req_arn("campaignArn"), m.CAMPAIGN)
    require_deletable(record, "Campaign")
    return mark_deleting(record, ctx)


# --- Recommender ----------------------------------------------------------------------------------------


def _recommender_config(req: Request, recipe_arn: str) -> dict[str, Any]:
    sub = req.obj("recommenderConfig")
    out: dict[str, Any] = {}
    if sub is not None:
        metadata = sub.opt_boolean("enableMetadataWithRecommendations")
        if metadata is not None:
            out["enableMetadataWithRecommendations"] = metadata
        exploration = item_exploration_config(sub)
        if exploration is not None:
            # "only for recommenders that personalize for a user" (RecommenderConfig.itemExplorationConfig)
            out["itemExplorationConfig"] = catalog.item_exploration(recipe_arn, exploration)
        rps = sub.integer("minRecommendationRequestsPerSecond", minimum=1)
        if rps is not None:
            out["minRecommendationRequestsPerSecond"] = rps
        training = sub.obj("trainingDataConfig")
        if training is not None:
            excluded = excluded_dataset_columns(training)
            out["trainingDataConfig"] = {} if excluded is None else {"excludedDatasetColumns": excluded}
    # "The default minRecommendationRequestsPerSecond is 1." (L22040)
    out.setdefault("minRecommendationRequestsPerSecond", 1)
    return out


@operation("CreateRecommender")
def create_recommender(req: Request, view: ResourceReader, ctx: m.Context) -> m.Outcome:
    group_arn = req.req_arn("datasetGroupArn", loose=True)
    name = req.req_name()
    recipe_arn = req.req_arn("recipeArn")
    tags = parse_tags(req)
    check_tag_count(tags, ctx.quotas.tags_per_resource)
    group = get(view, group_arn, m.DATASET_GROUP)
    domain = group.body.get("domain")
    recipe = catalog.recipe(recipe_arn)  # ResourceNotFoundException for an unknown recipe
    if domain is None:
        raise InvalidInputException("You can create recommenders only in a Domain dataset group.")
    if recipe.domain != domain:
        raise InvalidInputException(f"{recipe_arn} is not a {domain} use case.")
    config = _recommender_config(req, recipe_arn)
    require_active(group, "Dataset group")
    arn = arns.recommender_arn(ctx.region, ctx.account_id, name)
    ensure_absent(view, arn)
    limit(len(live(view.list(m.RECOMMENDER, group_arn))), ctx.quotas.recommenders_per_group, "recommenders")
    body = {"name": name, "datasetGroupArn": group_arn, "recipeArn": recipe_arn, "recommenderConfig": config}
    record = new_record(m.RECOMMENDER, arn, body, ctx, parent_arn=group_arn, tags=tags)
    job = m.Job(JobType.RECOMMENDER_CREATE, arn, m.RECOMMENDER, dict(record.body))
    return m.Outcome({"recommenderArn": arn}, (m.Put(record),), (job,))


@operation("UpdateRecommender")
def update_recommender(req: Request, view: ResourceReader, ctx: m.Context) -> m.Outcome:
    record = get(view, req.req_arn("recommenderArn"), m.RECOMMENDER)
    req.req_obj("recommenderConfig")
    config = _recommender_config(req, str(record.body["recipeArn"]))
    require_active(record, "Recommender")
    old = record.body.get("recommenderConfig") or {}
    # Changing the columns used in training starts a full retraining (L9516).
    retrain = (old.get("trainingDataConfig") or {}) != (config.get("trainingDataConfig") or {})
    update = {
        "recommenderConfig": config,
        "status": m.CREATE_PENDING,
        "creationDateTime": ctx.now,
        "lastUpdatedDateTime": ctx.now,
    }
    changed = updated(
        record, ctx.now, status=m.UPDATE_PENDING, latestRecommenderUpdate=update, _updateFromStatus=status(record)
    )
    job = m.Job(JobType.RECOMMENDER_UPDATE, record.arn, m.RECOMMENDER, {**changed.body, "retrain": retrain})
    return m.Outcome({"recommenderArn": record.arn}, (m.Put(changed),), (job,))


@operation("StartRecommender")
def start_recommender(req: Request, view: ResourceReader, ctx: m.Context) -> m.Outcome:
    record = get(view, req.req_arn("recommenderArn"), m.RECOMMENDER)
    # INACTIVE > START PENDING > START IN_PROGRESS > ACTIVE (L9536).
    require_status(record, (m.INACTIVE,), "Recommender")
    changed = updated(record, ctx.now, status=m.START_PENDING)
    job = m.Job(JobType.RECOMMENDER_START, record.arn, m.RECOMMENDER, dict(changed.body))
    return m.Outcome({"recommenderArn": record.arn}, (m.Put(changed),), (job,))


@operation("StopRecommender")
def stop_recommender(req: Request, view: ResourceReader, ctx: m.Context) -> m.Outcome:
    record = get(view, req.req_arn("recommenderArn"), m.RECOMMENDER)
    # "Stops a recommender that is ACTIVE." ACTIVE > STOP PENDING > STOP IN PROGRESS > INACTIVE (L9532).
    require_status(record, (m.ACTIVE,), "Recommender")
    changed = updated(record, ctx.now, status=m.STOP_PENDING)
    job = m.Job(JobType.RECOMMENDER_STOP, record.arn, m.RECOMMENDER, dict(changed.body))
    return m.Outcome({"recommenderArn": record.arn}, (m.Put(changed),), (job,))


@operation("DeleteRecommender")
def delete_recommender(req: Request, view: ResourceReader, ctx: m.Context) -> m.Outcome:
    record = get(view, req.req_arn("recommenderArn"), m.RECOMMENDER)
    require_deletable(record, "Recommender", extra=(m.INACTIVE,))
    return mark_deleting(record, ctx)
