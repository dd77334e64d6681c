"""minProvisionedTPS / minRecommendationRequestsPerSecond -> the runtime's replica floor (tailor_shared.capacity)."""

from __future__ import annotations

from typing import Any

import pytest

from tailor_shared.capacity import min_replicas, provisioned
from tailor_shared.resources import ResourceRecord


def record(resource_type: str, arn: str, **body: Any) -> ResourceRecord:
    return ResourceRecord(resource_type=resource_type, arn=arn, body=body)


def test_serving_campaigns_and_recommenders_add_up() -> None:
    records = [
        record("campaign", "c1", status="ACTIVE", minProvisionedTPS=10),
        # An update to a larger minimum: both may serve while it rolls out.
        record(
            "campaign",
            "c2",
            status="UPDATE IN_PROGRESS",
            minProvisionedTPS=5,
            latestCampaignUpdate={"minProvisionedTPS": 40},
        ),
        record("campaign", "c3", status="CREATE FAILED", minProvisionedTPS=100),
        record("recommender", "r1", status="ACTIVE", recommenderConfig={"minRecommendationRequestsPerSecond": 7}),
        record("recommender", "r2", status="INACTIVE", recommenderConfig={"minRecommendationRequestsPerSecond": 50}),
        record("recommender", "r3", status="ACTIVE"),  # the default is 1
        record("solution", "s1", status="ACTIVE"),
    ]
    held = provisioned(records)
    assert dict(held.by_resource) == {"c1": 10, "c2": 40, "r1": 7, "r3": 1}
    assert held.total_tps == 58


def test_replicas_for_the_floor() -> None:
    assert min_replicas(58, 25.0) == 3
    assert min_replicas(1, 25.0) == 2  # two replicas for availability
    assert min_replicas(1, 25.0, floor=1) == 1
    with pytest.raises(ValueError):
        min_replicas(10, 0)
