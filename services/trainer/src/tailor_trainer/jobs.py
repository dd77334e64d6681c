"""Training jobs: from a ``SOLUTION_VERSION`` job record to an exported model and a status report.

Runs on the worker thread. It reads a consistent snapshot of the dataset group's datasets from Kafka
(the offsets are recorded in the model's manifest), trains the solution's recipe, writes the model
directory atomically, and reports ``ACTIVE`` with the metrics — or ``CREATE FAILED`` with the guide's
failureReason, or ``CREATE STOPPED`` after StopSolutionVersionCreation.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from tailor_shared import recipes
from tailor_shared.dataset_reader import (
    META_RECOMMENDATION_ID,
    META_SESSION_ID,
    DatasetSnapshot,
    end_offsets,
    read_dataset,
    recommended_items,
)
from tailor_shared.errors import PersonalizeError
from tailor_shared.incarnation import incarnation_of
from tailor_shared.jobs import JobRecord, JobType, StatusUpdate
from tailor_shared.jobs.protocol import SKIPPED_NO_NEW_DATA
from tailor_shared.model_store import ModelStore, campaign_update_dir, recommender_model_dir, version_model_dir
from tailor_shared.records import SchemaCodecs
from tailor_shared.resource_view import ResourceView
from tailor_shared.resources import ResourceReader, ResourceRecord
from tailor_shared.scoring.impressions import impression_outcome
from tailor_shared.scoring.retrieval import DEFAULT_MIN_ITEMS
from tailor_shared.topics import dataset_topic_for, impressions_topic
from tailor_trainer.action_artifacts import export_actions
from tailor_trainer.artifacts import export, load_trainer_state
from tailor_trainer.domain import (
    DataRuleViolation,
    Interactions,
    ItemsTable,
    ProgressEvent,
    TrainedModel,
    TrainingStopped,
    UsersTable,
    train_solution_version,
)
from tailor_trainer.domain.actions import ActionInteractions, ActionModelResult, ActionsTable, train_next_best_action
from tailor_trainer.domain.autotrain import TRAINED_ON, has_new_records, last_trained_on
from tailor_trainer.domain.hyperparams import IMPRESSION_RECIPES, max_training_items
from tailor_trainer.domain.train import default_max_training_seconds
from tailor_trainer.metrics import AUTO_UPDATES, EPOCHS, JOB_DURATION, JOBS, LAST_AUTO_UPDATE, LAST_LOSS

log = logging.getLogger(__name__)

Report = Callable[[StatusUpdate], None]

#: The statuses in which the resource of each trainer job still waits for it; in any other, the job is done
#: (or its resource gone) and a redelivery is skipped.
RUNNABLE: Mapping[JobType, tuple[str, ...]] = {
    JobType.SOLUTION_VERSION: ("CREATE PENDING", "CREATE IN_PROGRESS"),
    JobType.RECOMMENDER_CREATE: ("CREATE PENDING", "CREATE IN_PROGRESS"),
    JobType.RECOMMENDER_UPDATE: ("UPDATE PENDING", "UPDATE IN_PROGRESS"),
    JobType.RECOMMENDER_RETRAIN: ("ACTIVE",),
    JobType.CAMPAIGN_AUTO_UPDATE: ("ACTIVE",),
}
#: The stamp of a campaign's automatic update (control's ``_autoUpdateRequestedAt``, ADR 0022).
AUTO_UPDATE_REQUESTED = "_autoUpdateRequestedAt"
#: The stamp of an automatic recommender retraining (control's ``_retrainRequestedAt``, ADR 0010).
RETRAIN_REQUESTED = "_retrainRequestedAt"


class TrainingJobs:
    """Runs solution-version jobs one at a time; keeps the latest model per solution for UPDATE mode."""

    def __init__(
        self,
        view: ResourceReader,
        bootstrap: str,
        prefix: str,
        store: str | os.PathLike[str],
        seed: int,
        report: Report,
        max_training_seconds: Callable[[int], float] = default_max_training_seconds,
        item_limit: Callable[[str], int] = max_training_items,
        index_min_items: int | None = DEFAULT_MIN_ITEMS,
    ):
        self._view = view
        self._item_limit = item_limit  # recipe name -> the most items a model considers (L4133, L5380)
        self._index_min_items = index_min_items  # sequence models this large ship their ANN index (ADR 0019 §5)
        self._max_training_seconds = max_training_seconds  # interactions -> seconds (TrainerSettings)
        self._bootstrap = bootstrap
        self._prefix = prefix
        self._store = store if isinstance(store, ModelStore) else ModelStore(store)
        self._seed = seed
        self._report = report
        self._latest: dict[str, tuple[str, TrainedModel]] = {}  # solution ARN -> (version ARN, its model)

    def _current(self, arn: str) -> ResourceRecord | None:
        """The job's resource as control last wrote it. The job can arrive before this process's view has
        the record (control writes the record, then the job): catch the view up before calling it gone."""
        record = self._view.get(arn)
        if record is None and isinstance(self._view, ResourceView):
            self._view.catch_up()
            record = self._view.get(arn)
        return record

    def _runnable(self, job: JobRecord) -> ResourceRecord | None:
        """The job's resource if it still waits for this job, else None (logged)."""
        record = self._current(job.resource_arn)
        if record is None or record.body.get("status") not in RUNNABLE[job.job_type]:
            status = None if record is None else record.body.get("status")
            log.info("skipping job for %s (status %s)", job.resource_arn, status)
            return None
        if job.job_type == JobType.CAMPAIGN_AUTO_UPDATE:
            stamp = job.payload.get(AUTO_UPDATE_REQUESTED)
            current = record.body.get(AUTO_UPDATE_REQUESTED)
            if stamp is None or current != stamp or record.body.get("_modelFor") == stamp:
                log.info("skipping a superseded or finished automatic update of %s", job.resource_arn)
                return None
        if job.job_type == JobType.RECOMMENDER_RETRAIN:
            stamp = job.payload.get(RETRAIN_REQUESTED)
            if stamp is None or record.body.get(RETRAIN_REQUESTED) != stamp or record.body.get("_modelFor") == stamp:
                log.info("skipping a superseded or finished retraining of %s", job.resource_arn)
                return None
        return record

    def finished(self, job: JobRecord) -> bool:
        """The worker's check before running a (re)delivered job."""
        return self._runnable(job) is None

    def _stopped(self, arn: str) -> bool:
        """StopSolutionVersionCreation moves the record to CREATE STOPPING; the view sees it at once."""
        record = self._view.get(arn)
        return record is None or record.body.get("status") == "CREATE STOPPING"

    def run(self, job: JobRecord) -> None:
        arn = job.resource_arn
        record = self._runnable(job)
        if record is None:
            return
        if record.body.get("trainingMode") == "AUTOTRAIN" and not self._new_interactions(record):
            JOBS.labels("skipped").inc()
            log.info("automatic training skipped: no new interaction data", extra={"solutionVersion": arn})
            self._report(StatusUpdate(arn, SKIPPED_NO_NEW_DATA))
            return
        started = time.monotonic()
        self._report(StatusUpdate(arn, "CREATE IN_PROGRESS"))
        try:
            model, snapshot = self._train(arn, dict(record.body))
            directory = version_model_dir(self._store, record)
            if isinstance(model, ActionModelResult):
                export_actions(model, directory, snapshot)
            else:
                export(model, directory, snapshot, index_min_items=self._index_min_items)
            self._store.publish(directory)  # an s3:// store: upload before the version is ACTIVE
        except TrainingStopped:
            JOBS.labels("stopped").inc()
            self._report(StatusUpdate(arn, "CREATE STOPPED"))
            return
        except (DataRuleViolation, PersonalizeError) as err:
            JOBS.labels("failed").inc()
            log.warning("training %s failed: %s", arn, err.message)
            self._report(StatusUpdate(arn, "CREATE FAILED", err.message))
            return
        except Exception as err:
            JOBS.labels("failed").inc()
            log.exception("training %s crashed", arn)
            self._report(StatusUpdate(arn, "CREATE FAILED", f"Internal error during training: {err}"))
            return
        finally:
            JOB_DURATION.observe(time.monotonic() - started)
        hours = (time.monotonic() - started) / 3600
        fields: dict[str, Any] = {
            "trainingHours": round(hours, 6),
            "metrics": dict(model.metrics),
            TRAINED_ON: snapshot,  # what the next automatic training compares with (domain/autotrain.py)
            "_trainingStop": dict(model.training_stop),  # epochs run and why they ended (MAX_TRAINING_TIME...)
        }
        if model.tuned_hpo_params:
            fields["tunedHPOParams"] = {"algorithmHyperParameters": dict(model.tuned_hpo_params)}
        JOBS.labels("active").inc()
        self._report(StatusUpdate(arn, "ACTIVE", fields=fields))
        log.info("solution version ACTIVE", extra={"solutionVersion": arn, "metrics": model.metrics})

    def _new_interactions(self, record: ResourceRecord) -> bool:
        """Whether interaction data arrived since the solution's last training (L10003): the Interactions
        topic's end offsets now against the ``_trainedOn`` of the newest ACTIVE version. When in doubt (no
        such version, the offsets can't be read), train."""
        solution = self._view.get(str(record.body.get("solutionArn")))
        group = self._view.get(str(solution.body.get("datasetGroupArn"))) if solution is not None else None
        if solution is None or group is None:
            return True  # training reports what is missing
        # Next-Best-Action trains on new action interactions too (L9754).
        recipe_arn = solution.body.get("recipeArn")
        actions = bool(recipe_arn) and recipes.recipe(str(recipe_arn)).recipe_type == recipes.PERSONALIZED_ACTIONS
        kinds = ("Interactions", "Action_Interactions") if actions else ("Interactions",)
        datasets = [d for d in self._view.list("dataset", parent_arn=group.arn) if d.body.get("datasetType") in kinds]
        if not any(d.body.get("datasetType") == "Interactions" for d in datasets):
            return True
        versions = [v.body for v in self._view.list("solutionVersion", parent_arn=solution.arn)]
        trained_on = last_trained_on(versions, record.arn)
        if trained_on is None:
            return True
        for dataset in datasets:
            topic = dataset_topic_for(self._prefix, group.body, dataset.body)
            try:
                ends = end_offsets(self._bootstrap, topic)
            except Exception as err:  # a doubtful check never skips a training
                log.warning("cannot read the end offsets of %s (%s): training anyway", topic, err)
                return True
            if has_new_records(trained_on, str(dataset.body.get("datasetType")), topic, ends):
                return True
        return False

    def _train(self, arn: str, body: Mapping[str, Any]) -> tuple[TrainedModel | ActionModelResult, dict[str, Any]]:
        solution = self._view.get(str(body.get("solutionArn")))
        if solution is None:
            raise DataRuleViolation(f"The solution of {arn} no longer exists")
        sol = solution.body
        config = dict(sol.get("solutionConfig") or {})
        if sol.get("eventType"):
            config["eventType"] = sol["eventType"]
        if recipes.recipe(str(sol.get("recipeArn"))).recipe_type == recipes.PERSONALIZED_ACTIONS:
            return self._fit_actions(arn, str(sol.get("recipeArn")), str(sol.get("datasetGroupArn")), config)
        mode = str(body.get("trainingMode") or "FULL")
        model, snapshot = self._fit(
            arn,
            str(sol.get("recipeArn")),
            str(sol.get("datasetGroupArn")),
            config,
            bool(sol.get("performHPO")),
            mode,
            self._previous(solution.arn, arn) if mode == "UPDATE" else None,
            "CREATE IN_PROGRESS",
        )
        self._latest[solution.arn] = (arn, model)
        return model, snapshot

    def _fit(
        self,
        arn: str,
        recipe_arn: str,
        group_arn: str,
        config: Mapping[str, Any],
        hpo: bool,
        mode: str,
        previous: TrainedModel | None,
        working_status: str,
    ) -> tuple[TrainedModel, dict[str, Any]]:
        """Snapshot the dataset group's data from Kafka and train ``recipe_arn`` on it, reporting each epoch."""
        group = self._view.get(group_arn)
        if group is None:
            raise DataRuleViolation(f"Dataset group {group_arn} no longer exists")
        datasets = {d.body.get("datasetType"): d for d in self._view.list("dataset", parent_arn=group_arn)}
        if "Interactions" not in datasets:
            raise DataRuleViolation("The dataset group has no Item interactions dataset")
        snaps = {
            t: self._snapshot(group.body, t, d.body) for t, d in datasets.items() if t in ("Interactions", "Items")
        }
        interactions = _interactions(snaps["Interactions"], _categorical(self._view, datasets["Interactions"].body))
        if recipe_arn.rsplit("/", 1)[-1] in IMPRESSION_RECIPES:
            interactions = replace(interactions, impression=self._impressions(snaps["Interactions"]))
        items = _items(snaps["Items"], datasets["Items"].body, self._view) if "Items" in snaps else None
        log.info("training", extra={"resource": arn, "recipe": recipe_arn, "rows": len(interactions)})

        def progress(event: ProgressEvent) -> None:
            EPOCHS.inc()
            LAST_LOSS.set(event.loss)
            log.info(
                "epoch",
                extra={
                    "resource": arn,
                    "stage": event.stage,
                    "epoch": event.epoch,
                    "maxEpochs": event.max_epochs,
                    "loss": round(event.loss, 5),
                    "validationNdcgAt10": round(event.validation_ndcg_at_10, 5),
                },
            )
            self._report(
                StatusUpdate(
                    arn,
                    working_status,
                    fields={
                        "_progress": {
                            "stage": event.stage,
                            "epoch": event.epoch,
                            "maxEpochs": event.max_epochs,
                            "loss": event.loss,
                        }
                    },
                )
            )

        model = train_solution_version(
            recipe_arn,
            interactions,
            items,
            None,
            dict(config),
            hpo,
            mode,
            previous,
            progress,
            self._seed,
            should_stop=lambda: self._stopped(arn),
            max_training_seconds=self._max_training_seconds(len(interactions)),
            max_items=self._item_limit(recipe_arn.rsplit("/", 1)[-1]),
        )
        snapshot = {
            t: {"topic": s.topic, "offsets": {str(p): o for p, o in s.offsets.items()}, "rows": s.num_rows}
            for t, s in snaps.items()
        }
        return model, snapshot

    def _impressions(self, snap: DatasetSnapshot) -> np.ndarray[Any, Any] | None:
        """Each event's shown items: its IMPRESSION column, else the items its recommendationId returned, read
        from the runtime's recommendations topic (L14081). None when no event has either."""
        explicit = snap.columns.get("IMPRESSION")
        rids = snap.columns.get(META_RECOMMENDATION_ID)
        if snap.num_rows == 0 or (explicit is None and rids is None):
            return None
        n = snap.num_rows
        explicit_list = [None] * n if explicit is None else explicit.tolist()
        rid_list = [None] * n if rids is None else rids.tolist()
        wanted = {str(r) for e, r in zip(explicit_list, rid_list, strict=True) if r and not e}
        recommended = recommended_items(self._bootstrap, impressions_topic(self._prefix), wanted) if wanted else {}
        if not recommended and not any(explicit_list):
            return None
        out = np.empty(n, dtype=object)
        items = snap.columns["ITEM_ID"].tolist()
        for k, (e, r, item) in enumerate(zip(explicit_list, rid_list, items, strict=True)):
            out[k] = impression_outcome({"IMPRESSION": e, "ITEM_ID": item}, recommended.get(str(r)) if r else None)[0]
        return out

    def _fit_actions(
        self, arn: str, recipe_arn: str, group_arn: str, config: Mapping[str, Any]
    ) -> tuple[ActionModelResult, dict[str, Any]]:
        """Next-Best-Action: Item interactions and Actions (required), Action interactions, Items and Users
        (optional) from Kafka, then ``train_next_best_action`` (docs/adr/0021)."""
        group = self._view.get(group_arn)
        if group is None:
            raise DataRuleViolation(f"Dataset group {group_arn} no longer exists")
        datasets = {d.body.get("datasetType"): d for d in self._view.list("dataset", parent_arn=group_arn)}
        for required, name in (("Interactions", "Item interactions"), ("Actions", "Actions")):
            if required not in datasets:
                raise DataRuleViolation(f"The dataset group has no {name} dataset")
        kinds = ("Interactions", "Items", "Users", "Actions", "Action_Interactions")
        snaps = {t: self._snapshot(group.body, t, d.body) for t, d in datasets.items() if t in kinds}
        cat = {t: _categorical(self._view, datasets[t].body) for t in snaps}
        interactions = _interactions(snaps["Interactions"])
        items = _items(snaps["Items"], datasets["Items"].body, self._view) if "Items" in snaps else None
        users = _users(snaps.get("Users"), cat.get("Users", frozenset()))
        action_rows = snaps.get("Action_Interactions")
        log.info("training", extra={"resource": arn, "recipe": recipe_arn, "rows": len(interactions)})
        result = train_next_best_action(
            recipe_arn,
            interactions,
            items,
            _actions(snaps["Actions"]),
            _action_interactions(action_rows) if action_rows is not None else None,
            users,
            config,
            self._seed,
            should_stop=lambda: self._stopped(arn),
        )
        snapshot = {
            t: {"topic": s.topic, "offsets": {str(p): o for p, o in s.offsets.items()}, "rows": s.num_rows}
            for t, s in snaps.items()
        }
        return result, snapshot

    def run_recommender(self, job: JobRecord) -> None:
        """RECOMMENDER_CREATE / RECOMMENDER_UPDATE: train the use case's recipe (ADR 0010). The recommender
        stays CREATE/UPDATE IN_PROGRESS with ``_model`` set; a runtime reports ACTIVE once it serves it.
        RECOMMENDER_RETRAIN (every 7 days, L8743): the recommender stays ACTIVE and serving; the new model is
        reported on a same-status ACTIVE report with ``_modelFor`` = the retraining's stamp, and runtimes swap
        to it. A failed retraining changes nothing (the old model keeps serving; the next one is 7 days on)."""
        arn = job.resource_arn
        record = self._runnable(job)
        if record is None:
            return
        creating = job.job_type == JobType.RECOMMENDER_CREATE
        retraining = job.job_type == JobType.RECOMMENDER_RETRAIN
        working, failed = (
            ("CREATE IN_PROGRESS", "CREATE FAILED") if creating else ("UPDATE IN_PROGRESS", "UPDATE FAILED")
        )
        body = record.body
        update = body.get("latestRecommenderUpdate") if not creating else None
        stamp = update.get("creationDateTime") if isinstance(update, Mapping) else body.get("creationDateTime")
        if retraining:
            working, stamp = "ACTIVE", body.get(RETRAIN_REQUESTED)
        else:
            self._report(StatusUpdate(arn, working))
        if not creating and not retraining and not job.payload.get("retrain") and body.get("_model"):
            # A config change that needs no retraining: the same model, acknowledged for this update.
            self._report(StatusUpdate(arn, working, fields={"_model": body["_model"], "_modelFor": stamp}))
            return
        started = time.monotonic()
        try:
            use_case = recipes.recipe(str(body.get("recipeArn")))
            if use_case.implementation_recipe_arn is None:
                raise DataRuleViolation(f"{use_case.arn} is not a domain use case")
            config: dict[str, Any] = (
                {"eventType": use_case.required_event_types[0]} if use_case.required_event_types else {}
            )
            recommender_config = body.get("recommenderConfig")
            if isinstance(recommender_config, Mapping) and recommender_config.get("trainingDataConfig"):
                config["trainingDataConfig"] = recommender_config["trainingDataConfig"]  # excludedDatasetColumns
            model, snapshot = self._fit(
                arn, use_case.implementation_recipe_arn, str(body.get("datasetGroupArn")), config, False, "FULL",
                None, working,
            )  # fmt: skip
            generation = uuid.uuid4().hex[:12]
            directory = recommender_model_dir(self._store, arn, generation, incarnation_of(body))
            export(model, directory, snapshot, index_min_items=self._index_min_items)
            self._store.publish(directory)
        except TrainingStopped:  # the recommender was deleted while it trained
            JOBS.labels("stopped").inc()
            return
        except (DataRuleViolation, PersonalizeError) as err:
            JOBS.labels("failed").inc()
            log.warning("training %s failed: %s", arn, err.message)
            if not retraining:
                self._report(StatusUpdate(arn, failed, err.message))
            return
        except Exception as err:
            JOBS.labels("failed").inc()
            log.exception("training %s crashed", arn)
            if not retraining:
                self._report(StatusUpdate(arn, failed, f"Internal error during training: {err}"))
            return
        finally:
            JOB_DURATION.observe(time.monotonic() - started)
        JOBS.labels("active").inc()
        fields = {"_model": generation, "_modelFor": stamp, "modelMetrics": dict(model.metrics)}
        self._report(StatusUpdate(arn, working, fields=fields))
        log.info("recommender model ready", extra={"recommender": arn, "generation": generation})

    def run_auto_update(self, job: JobRecord) -> None:
        """CAMPAIGN_AUTO_UPDATE (every two hours, L5373; ADR 0022): bring the items that arrived since the
        campaign's version trained (or since its last update) into that version's model with the UPDATE
        training, without a full retraining, and report the new generation on a same-status ACTIVE report
        (``_model``/``_modelOf``/``_modelFor``); runtimes swap to it. No new item or interaction data since the
        last update: nothing to do (L5389). A failure changes nothing: the campaign keeps serving."""
        arn = job.resource_arn
        record = self._runnable(job)
        if record is None:
            return
        body = record.body
        stamp = body.get(AUTO_UPDATE_REQUESTED)
        version = self._view.get(str(body.get("solutionVersionArn")))
        solution = self._view.get(str(version.body.get("solutionArn"))) if version is not None else None
        if version is None or solution is None:
            return
        group_arn = str(solution.body.get("datasetGroupArn"))
        since = body.get("_autoUpdatedOn") if body.get("_modelOf") == version.arn else None
        if not self._new_update_data(group_arn, since if since is not None else version.body.get(TRAINED_ON)):
            AUTO_UPDATES.labels("skipped").inc()
            log.info("automatic update skipped: no new data", extra={"campaign": arn})
            return
        started = time.monotonic()
        try:
            previous = load_trainer_state(version_model_dir(self._store, version))
            if previous is None:
                raise DataRuleViolation(f"{version.arn} keeps no trainer state to update")
            recipe_arn = str(solution.body.get("recipeArn"))
            if previous.n_items >= self._item_limit(recipe_arn.rsplit("/", 1)[-1]):
                # "Amazon Personalize considers new items until you import 750,000 items" (L5380).
                AUTO_UPDATES.labels("item_limit").inc()
                log.info("automatic update skipped: the model holds the item limit", extra={"campaign": arn})
                return
            config = dict(solution.body.get("solutionConfig") or {})
            if solution.body.get("eventType"):
                config["eventType"] = solution.body["eventType"]
            model, snapshot = self._fit(arn, recipe_arn, group_arn, config, False, "UPDATE", previous, "ACTIVE")
            generation = uuid.uuid4().hex[:12]
            update_dir = campaign_update_dir(self._store, version, generation)
            export(model, update_dir, snapshot, index_min_items=self._index_min_items)
            self._store.publish(update_dir)  # an s3:// store: upload before runtimes swap to it
        except TrainingStopped:  # the campaign was deleted meanwhile
            return
        except Exception as err:  # the campaign keeps serving what it serves; the next update tries again
            AUTO_UPDATES.labels("failed").inc()
            log.warning("automatic update of %s failed: %s", arn, getattr(err, "message", err))
            return
        seconds = time.monotonic() - started
        AUTO_UPDATES.labels("updated").inc()
        LAST_AUTO_UPDATE.labels(arn, "at").set(time.time())
        LAST_AUTO_UPDATE.labels(arn, "wall").set(seconds)
        fields = {"_model": generation, "_modelOf": version.arn, "_modelFor": stamp, "_autoUpdatedOn": snapshot}
        self._report(StatusUpdate(arn, "ACTIVE", fields=fields))
        log.info("campaign automatically updated", extra={"campaign": arn, "generation": generation, "s": seconds})

    def _new_update_data(self, group_arn: str, since: Any) -> bool:
        """Items or interactions beyond what ``since`` (a ``_trainedOn``-shaped snapshot) read; in doubt, yes."""
        group = self._view.get(group_arn)
        if group is None:
            return True
        for dataset in self._view.list("dataset", parent_arn=group_arn):
            kind = str(dataset.body.get("datasetType"))
            if kind not in ("Interactions", "Items"):
                continue
            topic = dataset_topic_for(self._prefix, group.body, dataset.body)
            try:
                ends = end_offsets(self._bootstrap, topic)
            except Exception:
                return True
            if has_new_records(since, kind, topic, ends):
                return True
        return False

    def _previous(self, solution_arn: str, current: str) -> TrainedModel | None:
        """The model an UPDATE starts from: this process's latest for the solution, else (after a restart) the
        newest ACTIVE version of the solution whose model directory keeps a trainer state."""
        latest = self._latest.pop(solution_arn, None)
        if latest is not None and self._view.get(latest[0]) is not None:
            self._latest[solution_arn] = latest
            return latest[1]
        # (A model of a deleted version - of a solution deleted and created again under its name - is never used.)
        versions = [
            r
            for r in self._view.list("solutionVersion", parent_arn=solution_arn)
            if r.arn != current and r.body.get("status") == "ACTIVE"
        ]
        for record in sorted(versions, key=lambda r: float(r.body.get("creationDateTime") or 0), reverse=True):
            try:
                model = load_trainer_state(self._store.fetch(version_model_dir(self._store, record)))
            except (OSError, ValueError, RuntimeError) as err:
                log.warning("cannot load the trainer state of %s: %s", record.arn, err)
                continue
            if model is not None:
                log.info("UPDATE starts from the stored model of %s", record.arn)
                return model
        return None

    def _snapshot(self, group: Mapping[str, Any], dataset_type: str, dataset: Mapping[str, Any]) -> DatasetSnapshot:
        schema = self._view.get(str(dataset.get("schemaArn")))
        if schema is None:
            raise DataRuleViolation(f"The schema of the {dataset_type} dataset no longer exists")
        # The topic of this incarnation of the dataset: never a deleted namesake's (ADR 0012).
        topic = dataset_topic_for(self._prefix, group, dataset)
        return read_dataset(
            self._bootstrap,
            topic,
            dataset_type,
            str(schema.body["schema"]),
            SchemaCodecs(self._view),
            on_undecodable="skip",
            meta_columns=dataset_type == "Interactions",  # _session_id: anonymous events train as sessions
        )


#: Interactions fields that are not contextual metadata even when categorical.
_RESERVED_INTERACTION_FIELDS = frozenset(
    {"USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_VALUE", "IMPRESSION", "RECOMMENDATION_ID",
     "EVENT_ATTRIBUTION_SOURCE"}
)  # fmt: skip


def _categorical(view: ResourceReader, dataset: Mapping[str, Any]) -> frozenset[str]:
    schema_record = view.get(str(dataset.get("schemaArn")))
    fields = json.loads(str(schema_record.body["schema"]))["fields"] if schema_record else []
    return frozenset(f["name"] for f in fields if f.get("categorical"))


def _interactions(snap: DatasetSnapshot, categorical: frozenset[str] = frozenset()) -> Interactions:
    c = snap.columns
    if not c or snap.num_rows == 0:
        return Interactions(np.array([], dtype=object), np.array([], dtype=object), np.array([], dtype=np.int64))
    context = {k: v for k, v in c.items() if k in categorical and k not in _RESERVED_INTERACTION_FIELDS}
    return Interactions(
        user_id=c["USER_ID"],
        item_id=c["ITEM_ID"],
        timestamp=np.asarray(c["TIMESTAMP"], dtype=np.int64),
        event_type=c.get("EVENT_TYPE"),
        event_value=c.get("EVENT_VALUE"),
        context=context,
        session_id=c.get(META_SESSION_ID),
    )


def _users(snap: DatasetSnapshot | None, categorical: frozenset[str]) -> UsersTable | None:
    if snap is None or snap.num_rows == 0:
        return None
    return UsersTable(snap.columns["USER_ID"], {k: v for k, v in snap.columns.items() if k != "USER_ID"}, categorical)


def _actions(snap: DatasetSnapshot) -> ActionsTable | None:
    if snap.num_rows == 0:
        return None
    return ActionsTable(snap.columns["ACTION_ID"], {k: v for k, v in snap.columns.items() if k != "ACTION_ID"})


def _action_interactions(snap: DatasetSnapshot) -> ActionInteractions | None:
    c = snap.columns
    if snap.num_rows == 0:
        return None
    return ActionInteractions(c["USER_ID"], c["ACTION_ID"], np.asarray(c["TIMESTAMP"], dtype=np.int64), c["EVENT_TYPE"])


def _items(snap: DatasetSnapshot, dataset: Mapping[str, Any], view: ResourceReader) -> ItemsTable | None:
    if snap.num_rows == 0:
        return None

    categorical = _categorical(view, dataset)
    columns = {k: v for k, v in snap.columns.items() if k not in ("ITEM_ID", "CREATION_TIMESTAMP")}
    return ItemsTable(snap.columns["ITEM_ID"], columns, categorical, snap.columns.get("CREATION_TIMESTAMP"))
