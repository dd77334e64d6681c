"""The console's pure reads (``tailor_control.domain.console``): the trainer's epoch reports become a bounded loss
history on the solution version; requests are validated with Personalize's errors; Redis replies become the
answers of docs/specs/console-api.md."""

from __future__ import annotations

import pytest

from tailor_control.domain import console
from tailor_shared.errors import InvalidInputException, ResourceNotFoundException
from tailor_shared.redis_keys import HistoryEntry, counter_field
from tests.support.control_plane import InMemoryControlPlane


def _epoch(arn: str, epoch: int, loss: float, stage: str = "training") -> dict[str, object]:
    report = {"stage": stage, "epoch": epoch, "maxEpochs": 300, "loss": loss}
    return {"resourceArn": arn, "status": "CREATE IN_PROGRESS", "fields": {"_progress": report}}


def test_training_progress_keeps_a_bounded_loss_history(plane: InMemoryControlPlane, solution: str) -> None:
    arn = str(plane.call("CreateSolutionVersion", {"solutionArn": solution})["solutionVersionArn"])
    before = console.training_progress(plane.store, {"solutionVersionArn": arn})["trainingProgress"]
    assert before == {
        "solutionVersionArn": arn,
        "status": "CREATE PENDING",
        "lossHistory": [],
        "lastUpdatedDateTime": before["lastUpdatedDateTime"],
    }
    cap = console.PROGRESS_HISTORY_CAP
    for epoch in range(1, cap + 6):  # the first report is also the CREATE PENDING -> IN_PROGRESS transition
        plane.report(_epoch(arn, epoch, 10.0 / epoch))
    # Reports that are not an epoch leave the history alone; a worker cannot write the history itself.
    plane.report({"resourceArn": arn, "status": "CREATE IN_PROGRESS", "fields": {"_progress": {"stage": "x"}}})
    plane.report({"resourceArn": arn, "status": "CREATE IN_PROGRESS", "fields": {"_progressHistory": []}})
    got = console.training_progress(plane.store, {"solutionVersionArn": arn})["trainingProgress"]
    assert got["status"] == "CREATE IN_PROGRESS"
    assert len(got["lossHistory"]) == cap
    assert got["lossHistory"][0] == {"stage": "training", "epoch": 6, "loss": 10.0 / 6}
    assert got["lossHistory"][-1] == {"stage": "training", "epoch": cap + 5, "loss": 10.0 / (cap + 5)}
    # The underscore members stay internal: DescribeSolutionVersion does not show them.
    described = plane.call("DescribeSolutionVersion", {"solutionVersionArn": arn})["solutionVersion"]
    assert not any(k.startswith("_") for k in described)


def test_import_progress_and_lookup_errors(plane: InMemoryControlPlane, group: str, interactions: str) -> None:
    with pytest.raises(InvalidInputException, match="datasetImportJobArn"):
        console.import_progress(plane.store, {})
    with pytest.raises(ResourceNotFoundException):
        console.import_progress(plane.store, {"datasetImportJobArn": group})  # an ARN of another resource type
    with pytest.raises(InvalidInputException, match="maxResults"):
        console.recent_events_query(plane.store, {"datasetGroupArn": group, "userId": "u", "maxResults": 201})
    with pytest.raises(InvalidInputException, match="userId"):
        console.recent_events_query(plane.store, {"datasetGroupArn": group, "userId": ""})
    query = console.trending_query(plane.store, {"datasetGroupArn": group})
    assert (query.window_s, query.max_results) == (console.TREND_WINDOW_DEFAULT_S, console.TRENDING_DEFAULT)


def test_answers_from_redis_replies(plane: InMemoryControlPlane, group: str) -> None:
    history = [HistoryEntry("i2", "buy", 3.5, 20.0, "t2"), HistoryEntry("i1", "click", None, 10.0, "t1")]
    assert console.recent_events(history, 1) == {
        "events": [{"itemId": "i2", "eventType": "buy", "sentAt": 20.0, "eventValue": 3.5}]
    }
    query = console.trending_query(plane.store, {"datasetGroupArn": group, "maxResults": 2})
    assert console.trending(query, None, {}, {}) == {"windowSizeSeconds": 7200, "items": []}
    ranked = console.trending(query, 7200, {"a": 2.0, "b": 4.0, "c": 1.0}, {"b": 1.0})
    assert ranked["windowStartDateTime"] == 7200.0
    assert [(i["itemId"], i["interactions"], i["previousInteractions"]) for i in ranked["items"]] == [
        ("a", 2, 0),  # growth 2.0
        ("b", 4, 1),  # growth 1.5
    ]
    totals = {counter_field("REVENUE", "s").encode(): b"2.5", counter_field("CLICKS", "s").encode(): b"3"}
    assert console.attribution_values("arn", totals, 5.0)["values"] == [
        {"metricName": "CLICKS", "eventAttributionSource": "s", "value": 3.0},
        {"metricName": "REVENUE", "eventAttributionSource": "s", "value": 2.5},
    ]
