"""Status lifecycles: the steps control takes itself (``advance``) and the ones workers report
(``apply_job_status``), per the state chains of api.md §2.

``advance`` is a pure function of the view and the clock, and idempotent: once its changes are in the
view it proposes nothing new, so the servicer may call it on a timer and after every write. Resources
with no background work (dataset groups, datasets, event trackers, filters, solutions, metric
attributions) become ACTIVE here; deletes finish here; automatic training and automatic campaign updates
start here. ``apply_job_status`` turns a worker's report into a record change, ignoring anything that is
not a legal transition: a malformed or late report must never break control.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from tailor_control.domain import model as m
from tailor_control.domain.common import status, updated
from tailor_control.domain.console import with_progress_history
from tailor_control.domain.ops_deploy import start_campaign_update
from tailor_control.domain.ops_training import (
    TRAINING,
    latest_active_version,
    new_solution_version,
    pending_versions,
    schedule_days,
)
from tailor_shared import generations
from tailor_shared.incarnation import FIELD as INCARNATION
from tailor_shared.incarnation import incarnation_of
from tailor_shared.jobs.protocol import SKIPPED_NO_NEW_DATA, JobType
from tailor_shared.resources import ResourceReader, ResourceRecord

#: Resources control activates itself: nothing runs in the background for them.
SELF_ACTIVATING = (m.DATASET_GROUP, m.DATASET, m.EVENT_TRACKER, m.FILTER, m.SOLUTION, m.METRIC_ATTRIBUTION)
#: Resources a DELETE PENDING parent takes with it (history that has no Delete* API of its own).
CHILDREN: dict[str, tuple[str, ...]] = {
    m.DATASET_GROUP: (
        m.DATA_DELETION_JOB, m.DATASET, m.EVENT_TRACKER, m.FILTER, m.SOLUTION, m.RECOMMENDER, m.METRIC_ATTRIBUTION,
    ),
    m.DATASET: (m.DATASET_IMPORT_JOB, m.DATASET_EXPORT_JOB),
    m.SOLUTION: (m.SOLUTION_VERSION, m.CAMPAIGN),
    m.SOLUTION_VERSION: (m.BATCH_INFERENCE_JOB, m.BATCH_SEGMENT_JOB),
}  # fmt: skip
ALL_TYPES = tuple(m.ARN_FIELD)
#: "Automatic solution version creation starts one hour after the solution is ACTIVE." (L22361)
FIRST_AUTO_TRAINING_DELAY = 3600.0
DAY = 86400.0
#: When the solution became ACTIVE (internal member, never in responses).
ACTIVE_SINCE = "_activeSince"
#: When the solution's last automatic training was due and skipped for want of new data (internal member).
LAST_AUTO_TRAINING = "_lastAutoTraining"
UPDATE_FROM = "_updateFromStatus"
#: "Amazon Personalize automatically retrains the models backing your recommenders every 7 days." (L8743)
RECOMMENDER_RETRAIN_INTERVAL = 7 * DAY
#: When control last asked the trainer to retrain an ACTIVE recommender (internal member; the job's stamp).
RETRAIN_REQUESTED = "_retrainRequestedAt"
#: When control last asked the trainer to automatically update an ACTIVE campaign (the job's stamp, ADR 0022).
AUTO_UPDATE_REQUESTED = "_autoUpdateRequestedAt"
#: "For real-time recommendations, Amazon Personalize updates the solution version ... every two hours" (L5373)
#: for these recipes (L5396; the domain use cases are recommenders, retrained weekly instead).
AUTO_UPDATE_RECIPES = (
    "arn:aws:personalize:::recipe/aws-user-personalization",
    "arn:aws:personalize:::recipe/aws-user-personalization-v2",
)


# --- advance --------------------------------------------------------------------------------------------


def advance(view: ResourceReader, ctx: m.Context) -> m.Effects:
    changes: list[m.Change] = []
    jobs: list[m.Job] = []
    for rtype in SELF_ACTIVATING:
        for record in view.list(rtype):
            if status(record) == m.CREATE_PENDING:
                extra = {ACTIVE_SINCE: ctx.now} if rtype == m.SOLUTION else {}
                changes.append(m.Put(updated(record, ctx.now, status=m.ACTIVE, **extra)))
    for record in view.list(m.DATASET):
        update = record.body.get("latestDatasetUpdate")
        if isinstance(update, Mapping) and update.get("status") == m.CREATE_PENDING:
            done = {**update, "status": m.ACTIVE, "lastUpdatedDateTime": ctx.now}
            changes.append(m.Put(updated(record, ctx.now, schemaArn=update.get("schemaArn"), latestDatasetUpdate=done)))
    deleted: set[str] = set()
    for rtype in ALL_TYPES:
        for record in view.list(rtype):
            if status(record) == m.DELETE_PENDING:
                _delete_tree(view, record, deleted, changes)
    auto_changes, auto_jobs = _auto_training(view, ctx, deleted)
    changes += auto_changes
    jobs += auto_jobs
    retrain_changes, retrain_jobs = _recommender_retraining(view, ctx, deleted)
    changes += retrain_changes
    jobs += retrain_jobs
    update_changes, update_jobs = _automatic_updates(view, ctx, deleted)
    changes += update_changes
    jobs += update_jobs
    sync_changes, sync_jobs = _campaign_sync(view, ctx, deleted)
    changes += sync_changes
    jobs += sync_jobs
    return m.Effects(tuple(changes), tuple(jobs))


def _delete_tree(view: ResourceReader, record: ResourceRecord, deleted: set[str], out: list[m.Change]) -> None:
    if record.arn in deleted:
        return
    for child_type in CHILDREN.get(record.resource_type, ()):
        for child in view.list(child_type, record.arn):
            _delete_tree(view, child, deleted, out)
    deleted.add(record.arn)
    out.append(m.Delete(record.arn))


def _auto_training(view: ResourceReader, ctx: m.Context, deleted: set[str]) -> tuple[list[m.Change], list[m.Job]]:
    """Automatic training (L9983-10006): first run one hour after the solution is ACTIVE unless a manual
    version was created within that hour, then every ``rate(N days)`` after the last automatic version."""
    changes: list[m.Change] = []
    jobs: list[m.Job] = []
    budget = ctx.quotas.pending_solution_versions - pending_versions(view)
    for solution in view.list(m.SOLUTION):
        body = solution.body
        if solution.arn in deleted or status(solution) != m.ACTIVE or not body.get("performAutoTraining", True):
            continue
        versions = view.list(m.SOLUTION_VERSION, solution.arn)
        if any(status(v) in TRAINING for v in versions) or budget <= 0:
            continue
        active_since = float(body.get(ACTIVE_SINCE, body.get("lastUpdatedDateTime", 0.0)))
        first = active_since + FIRST_AUTO_TRAINING_DELAY
        config = body.get("solutionConfig") or {}
        interval = schedule_days(str((config.get("autoTrainingConfig") or {}).get("schedulingExpression", ""))) * DAY
        runs = [
            float(v.body.get("creationDateTime", 0.0)) for v in versions if v.body.get("trainingType") == "AUTOMATIC"
        ]
        if body.get(LAST_AUTO_TRAINING) is not None:
            runs.append(float(body[LAST_AUTO_TRAINING]))  # a run skipped for want of new data still counts
        if runs:
            due = max(runs) + interval
        elif any(float(v.body.get("creationDateTime", 0.0)) < first for v in versions):
            due = first + interval  # a manual version within the hour skips the first automatic training
        else:
            due = first
        if ctx.now < due:
            continue
        record, job = new_solution_version(view, solution, ctx, training_mode="AUTOTRAIN", training_type="AUTOMATIC")
        changes.append(m.Put(record))
        jobs.append(job)
        budget -= 1
    return changes, jobs


def _recommender_retraining(
    view: ResourceReader, ctx: m.Context, deleted: set[str]
) -> tuple[list[m.Change], list[m.Job]]:
    """Recommenders are retrained in full every 7 days (L8743): seven days after creation, then seven days after
    each automatic retraining was asked for. Only an ACTIVE recommender (not stopped, not mid-update) is
    retrained; it keeps serving its model until the trainer reports the new one (``_model``)."""
    changes: list[m.Change] = []
    jobs: list[m.Job] = []
    for recommender in view.list(m.RECOMMENDER):
        body = recommender.body
        if recommender.arn in deleted or status(recommender) != m.ACTIVE or not body.get("_model"):
            continue
        last = max(float(body.get("creationDateTime") or 0.0), float(body.get(RETRAIN_REQUESTED) or 0.0))
        if ctx.now < last + RECOMMENDER_RETRAIN_INTERVAL:
            continue
        # Not a user-visible update: lastUpdatedDateTime stays.
        asked = replace(recommender, body={**body, RETRAIN_REQUESTED: ctx.now})
        changes.append(m.Put(asked))
        jobs.append(m.Job(JobType.RECOMMENDER_RETRAIN, recommender.arn, m.RECOMMENDER, dict(asked.body)))
    return changes, jobs


def _automatic_updates(view: ResourceReader, ctx: m.Context, deleted: set[str]) -> tuple[list[m.Change], list[m.Job]]:
    """User-Personalization(-v2) campaigns are updated every ``automatic_update_interval_s`` (two hours, L5373):
    new items enter the model and exploration without a full retraining. Only an ACTIVE campaign serving its
    solution's latest fully trained version (not an UPDATE one, L5391) is updated; the first update is due one
    interval after the campaign last changed. Whether there is new data to update with is the trainer's check."""
    changes: list[m.Change] = []
    jobs: list[m.Job] = []
    for campaign in view.list(m.CAMPAIGN):
        body = campaign.body
        if campaign.arn in deleted or status(campaign) != m.ACTIVE:
            continue
        version = view.get(str(body.get("solutionVersionArn") or ""))
        if version is None or version.resource_type != m.SOLUTION_VERSION or status(version) != m.ACTIVE:
            continue
        solution = view.get(str(version.body.get("solutionArn") or version.parent_arn or ""))
        if solution is None or solution.body.get("recipeArn") not in AUTO_UPDATE_RECIPES:
            continue
        full = [
            v for v in view.list(m.SOLUTION_VERSION, solution.arn)
            if status(v) == m.ACTIVE and v.body.get("trainingMode") != "UPDATE"
        ]  # fmt: skip
        newest = max(full, key=lambda v: float(v.body.get("creationDateTime") or 0.0), default=None)
        if version.body.get("trainingMode") == "UPDATE" or newest is None or newest.arn != version.arn:
            continue
        last = max(float(body.get("lastUpdatedDateTime") or 0.0), float(body.get(AUTO_UPDATE_REQUESTED) or 0.0))
        if ctx.now < last + ctx.quotas.automatic_update_interval_s:
            continue
        # Not a user-visible update until the trainer delivers one: lastUpdatedDateTime stays.
        asked = replace(campaign, body={**body, AUTO_UPDATE_REQUESTED: ctx.now})
        changes.append(m.Put(asked))
        jobs.append(m.Job(JobType.CAMPAIGN_AUTO_UPDATE, campaign.arn, m.CAMPAIGN, dict(asked.body)))
    return changes, jobs


def _campaign_sync(view: ResourceReader, ctx: m.Context, deleted: set[str]) -> tuple[list[m.Change], list[m.Job]]:
    """Campaigns with syncWithLatestSolutionVersion deploy each newly ACTIVE version of their solution
    (L11228)."""
    changes: list[m.Change] = []
    jobs: list[m.Job] = []
    for campaign in view.list(m.CAMPAIGN):
        config = campaign.body.get("campaignConfig") or {}
        if campaign.arn in deleted or status(campaign) != m.ACTIVE or not config.get("syncWithLatestSolutionVersion"):
            continue
        solution_arn = str(campaign.parent_arn)
        if solution_arn in deleted:
            continue
        latest = latest_active_version(view, solution_arn)
        if latest is None or latest.arn == campaign.body.get("solutionVersionArn"):
            continue
        last_update = campaign.body.get("latestCampaignUpdate") or {}
        if last_update.get("solutionVersionArn") == latest.arn and last_update.get("status") == m.CREATE_FAILED:
            continue  # that deployment already failed; don't retry it forever
        record, job = start_campaign_update(
            campaign,
            ctx,
            solution_arn=solution_arn,
            version_arn=latest.arn,
            tps=int(campaign.body.get("minProvisionedTPS", 1)),
            config=dict(config),
        )
        changes.append(m.Put(record))
        jobs.append(job)
    return changes, jobs


# --- apply_job_status -----------------------------------------------------------------------------------

_CREATE = {
    m.CREATE_PENDING: frozenset({m.CREATE_IN_PROGRESS, m.ACTIVE, m.CREATE_FAILED}),
    m.CREATE_IN_PROGRESS: frozenset({m.ACTIVE, m.CREATE_FAILED}),
}
_UPDATE = {
    m.UPDATE_PENDING: frozenset({m.UPDATE_IN_PROGRESS, m.ACTIVE, m.UPDATE_FAILED, m.CREATE_FAILED}),
    m.UPDATE_IN_PROGRESS: frozenset({m.ACTIVE, m.UPDATE_FAILED, m.CREATE_FAILED}),
}
TRANSITIONS: dict[str, dict[str, frozenset[str]]] = {
    m.DATASET_IMPORT_JOB: _CREATE,
    m.DATASET_EXPORT_JOB: _CREATE,
    m.DATA_DELETION_JOB: {
        m.DDJ_PENDING: frozenset({m.DDJ_IN_PROGRESS, m.DDJ_COMPLETED, m.DDJ_FAILED}),
        m.DDJ_IN_PROGRESS: frozenset({m.DDJ_COMPLETED, m.DDJ_FAILED}),
    },
    m.SOLUTION_VERSION: {
        **_CREATE,
        m.CREATE_STOPPING: frozenset({m.CREATE_STOPPED, m.CREATE_FAILED}),
    },
    m.CAMPAIGN: {**_CREATE, **_UPDATE},
    m.RECOMMENDER: {
        **_CREATE,
        **_UPDATE,
        m.STOP_PENDING: frozenset({m.STOP_IN_PROGRESS, m.INACTIVE, m.ACTIVE}),
        m.STOP_IN_PROGRESS: frozenset({m.INACTIVE, m.ACTIVE}),
        m.START_PENDING: frozenset({m.START_IN_PROGRESS, m.ACTIVE, m.INACTIVE}),
        m.START_IN_PROGRESS: frozenset({m.ACTIVE, m.INACTIVE}),
    },
    m.BATCH_INFERENCE_JOB: {
        m.BATCH_PENDING: frozenset({m.BATCH_IN_PROGRESS, m.ACTIVE, m.CREATE_FAILED}),
        m.BATCH_IN_PROGRESS: frozenset({m.ACTIVE, m.CREATE_FAILED}),
    },
}
TRANSITIONS[m.BATCH_SEGMENT_JOB] = TRANSITIONS[m.BATCH_INFERENCE_JOB]
FAILED = frozenset({m.CREATE_FAILED, m.DDJ_FAILED, m.UPDATE_FAILED})

#: Spellings a worker may use for the batch jobs' printed "PENDING / IN PROGRESS" statuses.
_BATCH_ALIASES = {
    m.CREATE_PENDING: m.BATCH_PENDING,
    m.CREATE_IN_PROGRESS: m.BATCH_IN_PROGRESS,
    "IN_PROGRESS": m.BATCH_IN_PROGRESS,
    "CREATE IN PROGRESS": m.BATCH_IN_PROGRESS,
}
#: Body members a worker may set, with their checks; names starting with "_" are worker-private extras
#: (artifact locations, topic offsets) that never appear in responses.
_NUMBER = (int, float)
WORKER_FIELDS: dict[str, dict[str, Any]] = {
    m.SOLUTION_VERSION: {"trainingHours": _NUMBER, "tunedHPOParams": dict, "metrics": dict},
    m.DATA_DELETION_JOB: {"numDeleted": int},
    m.RECOMMENDER: {"modelMetrics": dict},
    m.BATCH_INFERENCE_JOB: {},
    m.BATCH_SEGMENT_JOB: {},
    m.DATASET_IMPORT_JOB: {},
    m.DATASET_EXPORT_JOB: {},
    m.CAMPAIGN: {},
}


def apply_job_status(view: ResourceReader, update: Mapping[str, Any], ctx: m.Context) -> m.Effects:
    """Apply ``{"resourceArn", "status", "failureReason"?, "fields"?}`` if it is a legal transition."""
    if not isinstance(update, Mapping):
        return m.Effects()
    arn, new = update.get("resourceArn"), update.get("status")
    if not isinstance(arn, str) or not isinstance(new, str):
        return m.Effects()
    record = view.get(arn)
    if record is None or record.resource_type not in TRANSITIONS:
        return m.Effects()
    if record.resource_type in (m.BATCH_INFERENCE_JOB, m.BATCH_SEGMENT_JOB):
        new = _BATCH_ALIASES.get(new, new)
    if new == SKIPPED_NO_NEW_DATA:
        return _skip_auto_training(view, record)
    current = status(record)
    chain = TRANSITIONS[record.resource_type]
    fields = with_progress_history(record.body, _worker_fields(record.resource_type, update.get("fields")))
    if record.resource_type == m.RECOMMENDER and current == new == m.ACTIVE:
        return _recommender_retrained(record, fields)
    if record.resource_type == m.CAMPAIGN and current == new == m.ACTIVE:
        return _campaign_auto_updated(record, fields, ctx)
    if new == current and current in chain:
        # A progress report (same in-flight status, e.g. "_progressPercent"): merge its fields only.
        if not fields:
            return m.Effects()
        merged = updated(record, ctx.now, **fields)
        switch = _deletion_switch(view, merged, ctx) if record.resource_type == m.DATA_DELETION_JOB else []
        return m.Effects((m.Put(merged), *switch))
    if new not in chain.get(current, frozenset()):
        return m.Effects()
    reason = update.get("failureReason")
    reason = str(reason)[:4096] if isinstance(reason, str) and reason else None
    if current in (m.UPDATE_PENDING, m.UPDATE_IN_PROGRESS):
        changed = _apply_update_report(record, new, reason, ctx)
    else:
        changes: dict[str, Any] = {"status": new, **fields}
        if new in FAILED:
            changes["failureReason"] = reason or "Unknown failure"
        changed = updated(record, ctx.now, **changes)
    if fields and current in (m.UPDATE_PENDING, m.UPDATE_IN_PROGRESS):
        changed = updated(changed, ctx.now, **fields)
    return m.Effects((m.Put(changed),))


def _recommender_retrained(record: ResourceRecord, fields: Mapping[str, Any]) -> m.Effects:
    """The trainer's new model for an automatic retraining of an ACTIVE recommender: ``_model`` (runtimes swap
    to it), ``_modelFor`` = the retraining's stamp, ``modelMetrics``. Anything else, or a model for another
    (older) retraining, is ignored; the status stays ACTIVE throughout."""
    stamp = record.body.get(RETRAIN_REQUESTED)
    if stamp is None or fields.get("_modelFor") != stamp or not isinstance(fields.get("_model"), str):
        return m.Effects()
    kept = {k: v for k, v in fields.items() if k in ("_model", "_modelFor", "modelMetrics")}
    return m.Effects((m.Put(replace(record, body={**record.body, **kept})),))


def _campaign_auto_updated(record: ResourceRecord, fields: Mapping[str, Any], ctx: m.Context) -> m.Effects:
    """The trainer's automatic update of an ACTIVE campaign's model (ADR 0022): ``_model`` (a generation of the
    served version's model, which runtimes swap to), ``_modelOf`` (that version), ``_modelFor`` (the update's
    stamp) and ``_autoUpdatedOn`` (the offsets it read). Only for the update control asked for and the version
    the campaign still serves; lastUpdatedDateTime records when the campaign last changed what it serves."""
    stamp = record.body.get(AUTO_UPDATE_REQUESTED)
    if (
        stamp is None
        or fields.get("_modelFor") != stamp
        or not isinstance(fields.get("_model"), str)
        or fields.get("_modelOf") != record.body.get("solutionVersionArn")
    ):
        return m.Effects()
    kept = {k: v for k, v in fields.items() if k in ("_model", "_modelOf", "_modelFor", "_autoUpdatedOn")}
    return m.Effects((m.Put(updated(record, ctx.now, **kept)),))


def _skip_auto_training(view: ResourceReader, record: ResourceRecord) -> m.Effects:
    """The trainer found no interaction data newer than the solution's last training (L10003): the automatic
    version goes away as if never created, and the solution remembers the run so the next one is due a full
    interval later. Only an AUTOTRAIN version still waiting for training can be skipped."""
    if (
        record.resource_type != m.SOLUTION_VERSION
        or status(record) not in (m.CREATE_PENDING, m.CREATE_IN_PROGRESS)
        or record.body.get("trainingMode") != "AUTOTRAIN"
    ):
        return m.Effects()
    changes: list[m.Change] = []
    solution = view.get(str(record.parent_arn))
    if solution is not None and solution.resource_type == m.SOLUTION:
        # Not a user-visible update: lastUpdatedDateTime stays.
        ran = float(record.body.get("creationDateTime", 0.0))
        changes.append(m.Put(replace(solution, body={**solution.body, LAST_AUTO_TRAINING: ran})))
    changes.append(m.Delete(record.arn))
    return m.Effects(tuple(changes))


def _deletion_switch(view: ResourceReader, job: ResourceRecord, ctx: m.Context) -> list[m.Change]:
    """A data deletion job's worker wrote the new generation of its group's user datasets and asks for the
    switch (``_switched``, ADR 0015): each dataset's record now names the new incarnation, so readers and
    writers move to the rewritten topic at once and the old one is dead. Only a dataset of the job's group
    still on the generation's old incarnation is switched, so a repeated report changes nothing."""
    if job.body.get(generations.SWITCHED) is not True or status(job) != m.DDJ_IN_PROGRESS:
        return []
    out: list[m.Change] = []
    for gen in generations.generations_of(job):
        dataset = view.get(gen.dataset_arn)
        if dataset is None or dataset.resource_type != m.DATASET or dataset.parent_arn != job.parent_arn:
            continue
        if incarnation_of(dataset) != gen.previous:
            continue
        # Not a user-visible update: lastUpdatedDateTime stays.
        out.append(m.Put(replace(dataset, body={**dataset.body, INCARNATION: gen.next})))
    return out


#: Internal members only control writes; a worker's report can't set them.
CONTROL_BOOKKEEPING = frozenset(
    {ACTIVE_SINCE, UPDATE_FROM, LAST_AUTO_TRAINING, RETRAIN_REQUESTED, AUTO_UPDATE_REQUESTED}
)


def _worker_fields(resource_type: str, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        return {}
    allowed = WORKER_FIELDS.get(resource_type, {})
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or value is None:
            continue
        if key.startswith("_"):
            if key not in CONTROL_BOOKKEEPING:  # control's own bookkeeping isn't the worker's
                out[key] = value
            continue
        kind = allowed.get(key)
        if kind is None or isinstance(value, bool) or not isinstance(value, kind):
            continue
        if kind is dict:
            value = dict(value)
            if key in ("metrics", "modelMetrics") and not all(
                isinstance(v, _NUMBER) and not isinstance(v, bool) for v in value.values()
            ):
                continue
        elif isinstance(value, int | float) and value < 0:
            continue
        out[key] = value
    return out


def _apply_update_report(record: ResourceRecord, new: str, reason: str | None, ctx: m.Context) -> ResourceRecord:
    """Campaign / recommender updates: the resource keeps serving its previous deployment until the new
    one is ACTIVE; the latest*Update summary follows the CREATE chain its data type prints (L30873)."""
    summary_key = "latestCampaignUpdate" if record.resource_type == m.CAMPAIGN else "latestRecommenderUpdate"
    summary = dict(record.body.get(summary_key) or {})
    summary["lastUpdatedDateTime"] = ctx.now
    if new == m.UPDATE_IN_PROGRESS:
        summary["status"] = m.CREATE_IN_PROGRESS
        return updated(record, ctx.now, status=m.UPDATE_IN_PROGRESS, **{summary_key: summary})
    if new == m.ACTIVE:
        summary["status"] = m.ACTIVE
        summary.pop("failureReason", None)
        deployed: dict[str, Any] = {}
        if record.resource_type == m.CAMPAIGN:
            for key in ("solutionVersionArn", "minProvisionedTPS", "campaignConfig"):
                if key in summary:
                    deployed[key] = summary[key]
        else:
            deployed["recommenderConfig"] = summary.get("recommenderConfig")
        return updated(
            record, ctx.now, status=m.ACTIVE, failureReason=None, **{UPDATE_FROM: None}, **deployed,
            **{summary_key: summary},
        )  # fmt: skip
    # UPDATE FAILED (or CREATE FAILED) during an update: back to what was serving before.
    summary["status"] = m.CREATE_FAILED
    summary["failureReason"] = reason or "Unknown failure"
    previous = str(record.body.get(UPDATE_FROM) or m.ACTIVE)
    return updated(record, ctx.now, status=previous, **{UPDATE_FROM: None}, **{summary_key: summary})
