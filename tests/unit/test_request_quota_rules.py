"""Which token buckets a call draws from, and the TAILOR_REQUEST_QUOTAS setting (tailor_shared.quotas)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tailor_shared.config import PERSONALIZE_REQUEST_QUOTAS, QuotaSettings
from tailor_shared.errors import InvalidInputException
from tailor_shared.quotas import Bucket, buckets_for

CAMPAIGN = "arn:aws:personalize:us-east-1:000000000000:campaign/c"


def test_runtime_calls_count_per_campaign_and_in_total() -> None:
    limits = PERSONALIZE_REQUEST_QUOTAS
    request = SimpleNamespace(campaign_arn=CAMPAIGN, recommender_arn="")
    assert buckets_for("GetRecommendations", request, limits) == [
        Bucket(f"GetRecommendations|{CAMPAIGN}", 500.0),
        Bucket("runtime|*", 2500.0),
    ]
    recommender = SimpleNamespace(campaign_arn="", recommender_arn="arn:r")
    assert buckets_for("GetPersonalizedRanking", recommender, limits)[0] == Bucket("GetPersonalizedRanking|arn:r", 500)


def test_put_calls_count_per_dataset_group() -> None:
    limits = PERSONALIZE_REQUEST_QUOTAS
    assert buckets_for("PutEvents", SimpleNamespace(tracking_id="t1"), limits) == [Bucket("PutEvents|t1", 1000.0)]
    assert buckets_for("PutItems", SimpleNamespace(dataset_arn="arn:d"), limits) == [Bucket("PutItems|arn:d", 10.0)]
    assert buckets_for("DescribeCampaign", SimpleNamespace(), limits) == []
    assert buckets_for("PutItems", SimpleNamespace(dataset_arn="arn:d"), {}) == []


def test_the_setting() -> None:
    assert QuotaSettings.from_env({}).limits == {}
    assert QuotaSettings.from_env({"TAILOR_REQUEST_QUOTAS": "personalize"}).limits == PERSONALIZE_REQUEST_QUOTAS
    custom = QuotaSettings.from_env({"TAILOR_REQUEST_QUOTAS": '{"PutEvents": 5000, "PutItems": 0}'})
    assert custom.limits["PutEvents"] == 5000 and "PutItems" not in custom.limits
    assert custom.limits["GetRecommendations"] == 500
    for bad in ('{"GetThings": 1}', '{"PutEvents": -1}', "[1]", "fast"):
        with pytest.raises(InvalidInputException, match="TAILOR_REQUEST_QUOTAS"):
            QuotaSettings.from_env({"TAILOR_REQUEST_QUOTAS": bad})
    with pytest.raises(InvalidInputException, match="TAILOR_REQUEST_QUOTA_LEASE"):
        QuotaSettings.from_env({"TAILOR_REQUEST_QUOTAS": "personalize", "TAILOR_REQUEST_QUOTA_LEASE": "2"})
