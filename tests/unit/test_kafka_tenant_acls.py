"""Which Kafka ACLs an account's direct producers get (ADR 0034): WRITE/DESCRIBE on the topic prefix of each of
its live dataset group incarnations, nothing for groups being deleted, legacy groups or malformed account ids."""

from __future__ import annotations

import pytest
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclOperation,
    AclPermissionType,
    ResourcePatternType,
    ResourceType,
)

from tailor_shared import topics
from tailor_shared.errors import InvalidInputException
from tailor_shared.kafka import account_user, dataset_group_acls
from tailor_shared.resources import ResourceRecord


def _group(account: str, name: str, token: str | None, status: str = "ACTIVE") -> ResourceRecord:
    arn = f"arn:aws:personalize:us-east-1:{account}:dataset-group/{name}"
    body: dict[str, object] = {"name": name, "datasetGroupArn": arn, "status": status}
    if token is not None:
        body["_incarnation"] = token
    return ResourceRecord(arn, "datasetGroup", body)


def test_each_live_group_incarnation_is_granted_to_its_own_account() -> None:
    groups = [
        _group("111111111111", "shop", "0a1b2c3d"),
        _group("222222222222", "shop", "deadbeef"),  # same name, other account: its own prefix
        _group("111111111111", "gone", "01234567", status="DELETE PENDING"),
        _group("111111111111", "legacy", None),
        _group("12", "short", "89abcdef"),
    ]
    assert topics.account_topic_grants("t", groups) == {
        "t.shop.0a1b2c3d.": "111111111111",
        "t.shop.deadbeef.": "222222222222",
    }
    group = {"name": "shop", "_incarnation": "0a1b2c3d"}
    prefix = topics.dataset_group_topic_prefix("t", group)
    assert topics.dataset_topic_for("t", group, {"datasetType": "INTERACTIONS", "_incarnation": "deadbeef"}).startswith(
        prefix
    )
    assert topics.inbound_topic("t", group, "events").startswith(prefix)
    with pytest.raises(ValueError, match="predates incarnations"):
        topics.dataset_group_topic_prefix("t", {"name": "legacy"})


def test_the_acls_allow_only_write_and_describe_on_the_prefix() -> None:
    bindings = dataset_group_acls("t.shop.0a1b2c3d.", "111111111111")
    assert {b.operation for b in bindings} == {AclOperation.WRITE, AclOperation.DESCRIBE}
    for b in bindings:
        assert (b.restype, b.name, b.resource_pattern_type) == (
            ResourceType.TOPIC,
            "t.shop.0a1b2c3d.",
            ResourcePatternType.PREFIXED,
        )
        assert (b.principal, b.host, b.permission_type) == ("User:acct-111111111111", "*", AclPermissionType.ALLOW)
    with pytest.raises(InvalidInputException):
        account_user("*")
