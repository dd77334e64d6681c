"""Automatic updates of User-Personalization(-v2) campaigns every two hours (L5373; ADR 0022): control's schedule
and how it folds the trainer's update in."""

from __future__ import annotations

from tailor_control.domain import Quotas
from tailor_shared.jobs import JobType
from tests.support.control_plane import InMemoryControlPlane
from tests.unit.control.conftest import _make_version

TWO_HOURS = 7200.0


def _updates(plane: InMemoryControlPlane) -> list[str]:
    return [j.resource_arn for j in plane.jobs if j.job_type == JobType.CAMPAIGN_AUTO_UPDATE]


def test_an_up_campaign_is_updated_every_two_hours(plane: InMemoryControlPlane, campaign: str) -> None:
    plane.advance()
    assert _updates(plane) == []
    plane.tick(TWO_HOURS)
    plane.advance()
    assert _updates(plane) == [campaign]
    stamp = plane.body(campaign)["_autoUpdateRequestedAt"]
    plane.advance()
    assert _updates(plane) == [campaign]  # once per interval
    plane.tick(TWO_HOURS)
    plane.advance()
    assert _updates(plane) == [campaign, campaign]
    assert plane.body(campaign)["_autoUpdateRequestedAt"] > stamp


def test_the_trainers_update_is_folded_in_only_for_the_asked_update_and_served_version(
    plane: InMemoryControlPlane, campaign: str
) -> None:
    plane.tick(TWO_HOURS)
    plane.advance()
    body = plane.body(campaign)
    stamp, version = body["_autoUpdateRequestedAt"], body["solutionVersionArn"]
    before = body["lastUpdatedDateTime"]
    fields = {"_model": "abc123", "_modelOf": version, "_modelFor": stamp, "_autoUpdatedOn": {"Items": {}}}
    plane.report({"resourceArn": campaign, "status": "ACTIVE", "fields": {**fields, "_modelFor": stamp - 1}})
    plane.report({"resourceArn": campaign, "status": "ACTIVE", "fields": {**fields, "_modelOf": "other"}})
    assert "_model" not in plane.body(campaign)
    plane.report({"resourceArn": campaign, "status": "ACTIVE", "fields": fields})
    after = plane.body(campaign)
    assert (after["status"], after["_model"], after["_modelOf"]) == ("ACTIVE", "abc123", version)
    assert after["lastUpdatedDateTime"] > before
    # A worker cannot move the schedule.
    plane.report({"resourceArn": campaign, "status": "ACTIVE", "fields": {"_autoUpdateRequestedAt": 1.0}})
    assert plane.body(campaign)["_autoUpdateRequestedAt"] == stamp


def test_only_the_latest_fully_trained_version_is_updated(
    plane: InMemoryControlPlane, solution: str, campaign: str
) -> None:
    _make_version(plane, solution)  # a newer FULL version: the campaign's is no longer the latest
    plane.tick(TWO_HOURS)
    plane.advance()
    assert _updates(plane) == []


def test_the_interval_is_configurable(plane: InMemoryControlPlane, campaign: str) -> None:
    plane.quotas = Quotas(automatic_update_interval_s=60)  # TAILOR_CONTROL_QUOTAS
    plane.tick(30)
    plane.advance()
    assert _updates(plane) == []
    plane.tick(31)
    plane.advance()
    assert _updates(plane) == [campaign]
