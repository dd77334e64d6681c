"""Automatic training: the data check (L10003: train only when interaction data arrived since the last training)
and recommenders' automatic retraining jobs (L8743)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tailor_shared.jobs import JobRecord, JobType, StatusUpdate
from tailor_shared.resources import InMemoryResources, ResourceRecord
from tailor_trainer.domain.autotrain import TRAINED_ON, has_new_interactions, last_trained_on
from tailor_trainer.jobs import TrainingJobs

TOPIC = "tailor.g.interactions"


def _trained_on(offsets: dict[str, int], topic: str = TOPIC) -> dict[str, Any]:
    return {
        "Interactions": {"topic": topic, "offsets": offsets, "rows": sum(offsets.values())},
        "Items": {"topic": "tailor.g.items", "offsets": {"0": 7}, "rows": 7},
    }


def test_no_new_interactions_when_every_partition_ends_where_training_read() -> None:
    assert not has_new_interactions(_trained_on({"0": 10, "1": 4, "2": 0}), TOPIC, {0: 10, 1: 4, 2: 0})


def test_one_new_record_on_any_partition_is_new_data() -> None:
    assert has_new_interactions(_trained_on({"0": 10, "1": 4}), TOPIC, {0: 10, 1: 5})
    assert has_new_interactions(_trained_on({"0": 10, "1": 4}), TOPIC, {0: 10, 1: 4, 2: 1})  # a new partition


def test_another_topic_or_unknown_history_means_train() -> None:
    assert has_new_interactions(_trained_on({"0": 10}, topic="tailor.g.interactions.old"), TOPIC, {0: 10})
    assert has_new_interactions(None, TOPIC, {0: 10})
    assert has_new_interactions({"Items": {"topic": "x", "offsets": {}}}, TOPIC, {0: 10})
    assert has_new_interactions({"Interactions": {"topic": TOPIC, "offsets": {"x": "y"}}}, TOPIC, {0: 10})


def test_last_trained_on_is_the_newest_active_version_other_than_the_current() -> None:
    old = {"solutionVersionArn": "s/1", "status": "ACTIVE", "creationDateTime": 1.0, TRAINED_ON: _trained_on({"0": 1})}
    new = {"solutionVersionArn": "s/2", "status": "ACTIVE", "creationDateTime": 2.0, TRAINED_ON: _trained_on({"0": 2})}
    failed = {"solutionVersionArn": "s/3", "status": "CREATE FAILED", "creationDateTime": 3.0}
    current = {"solutionVersionArn": "s/4", "status": "CREATE PENDING", "creationDateTime": 4.0}
    assert last_trained_on([old, new, failed, current], "s/4") == new[TRAINED_ON]
    assert last_trained_on([old, failed, current], "s/4") == old[TRAINED_ON]
    assert last_trained_on([failed, current], "s/4") is None
    # The newest training recorded nothing (made before versions recorded offsets): don't guess from older ones.
    assert last_trained_on([old, {**new, TRAINED_ON: None}], "s/4") is None


def test_a_recommender_retraining_runs_only_for_the_stamp_control_asked_for(tmp_path: Path) -> None:
    """RECOMMENDER_RETRAIN (every 7 days, L8743): a redelivered, superseded or finished retraining is skipped."""
    arn = "arn:aws:personalize:us-east-1:000000000000:recommender/r"
    view = InMemoryResources()
    body = {"recommenderArn": arn, "status": "ACTIVE", "_model": "gen1", "_retrainRequestedAt": 100.0}
    view.put(ResourceRecord(arn, "recommender", body, None))
    jobs = TrainingJobs(view, "127.0.0.1:1", "p", str(tmp_path), 0, lambda _update: None)

    def job(stamp: float) -> JobRecord:
        return JobRecord(JobType.RECOMMENDER_RETRAIN, arn, "recommender", {**body, "_retrainRequestedAt": stamp}, 1.0)

    assert not jobs.finished(job(100.0))
    assert jobs.finished(job(50.0))  # an older retraining: control asked for a newer one since
    view.put(ResourceRecord(arn, "recommender", {**body, "_modelFor": 100.0}, None))
    assert jobs.finished(job(100.0))  # its model is already in
    view.put(ResourceRecord(arn, "recommender", {**body, "status": "INACTIVE"}, None))
    assert jobs.finished(job(100.0))  # stopped: nothing to retrain


def test_a_recommender_retraining_trains_and_a_failed_one_reports_nothing(tmp_path: Path) -> None:
    """A retraining always trains (never acknowledges the serving model as an update without retraining does);
    when training fails, the recommender stays ACTIVE on its old model and nothing is reported."""
    arn = "arn:aws:personalize:us-east-1:000000000000:recommender/r"
    body = {
        "recommenderArn": arn,
        "status": "ACTIVE",
        "recipeArn": "arn:aws:personalize:::recipe/aws-ecomm-recommended-for-you",
        "datasetGroupArn": "arn:aws:personalize:us-east-1:000000000000:dataset-group/gone",
        "_model": "gen1",
        "_retrainRequestedAt": 100.0,
    }
    view = InMemoryResources()
    view.put(ResourceRecord(arn, "recommender", body, None))
    reports: list[StatusUpdate] = []
    jobs = TrainingJobs(view, "127.0.0.1:1", "p", str(tmp_path), 0, reports.append)
    jobs.run_recommender(JobRecord(JobType.RECOMMENDER_RETRAIN, arn, "recommender", body, 1.0))
    assert reports == []
