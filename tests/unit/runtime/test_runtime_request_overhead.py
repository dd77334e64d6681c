"""The per-request caches of the runtime's handler path: recommendation ids, ``Deployment.served`` and the
exploration settings (ADR 0019 §10) give what the uncached code gave and follow UpdateCampaign's new config."""

from __future__ import annotations

import os
import re
import types
import uuid
from typing import Any

import numpy as np

from tailor_runtime import handlers, recommendation_ids
from tailor_runtime.deployments import Deployment
from tailor_shared.redis_keys import Keys
from tailor_shared.scoring import answer
from tailor_shared.scoring.filtering import ItemIndex
from tailor_shared.scoring.model import ExplorationData

ACCOUNT = "arn:aws:personalize:us-east-1:000000000000"
UUID4 = re.compile(r"RID-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def test_recommendation_ids_have_uuid4s_format_and_never_repeat_in_a_process_or_a_forked_child() -> None:
    ids = [recommendation_ids.new_recommendation_id() for _ in range(10_000)]
    assert all(UUID4.fullmatch(rid) for rid in ids)
    assert all(uuid.UUID(rid[4:]).version == 4 for rid in ids[:10])
    assert len(set(ids)) == len(ids)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child's ids come from a fresh random prefix, not the parent's counter
        os.write(write, recommendation_ids.new_recommendation_id().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 100).decode()
    os.close(read)
    os.close(write)
    assert UUID4.fullmatch(child)
    assert child[:28] != ids[0][:28]
    assert child not in ids


def _deployment(configurable: bool = True) -> Deployment:
    exploration = ExplorationData(
        {"explorationWeight": "0.3", "explorationItemAgeCutOff": "30"},
        configurable,
        np.array([0, 0, 10**9], dtype=np.int64),
        np.array([5, 0, 1], dtype=np.int64),
        10**9,
    )
    model: Any = types.SimpleNamespace(
        recipe_type="USER_PERSONALIZATION",
        recipe_arn="arn:aws:personalize:::recipe/aws-user-personalization",
        trend_seconds=None,
        exploration=exploration,
    )
    return Deployment(
        f"{ACCOUNT}:campaign/c",
        f"{ACCOUNT}:solution/s/v1",
        model,
        ItemIndex(["a", "b", "c"]),
        Keys("t", "g"),
        f"{ACCOUNT}:dataset-group/g",
    )


def test_served_is_built_once_and_again_when_the_campaign_config_or_exclusion_changes() -> None:
    dep = _deployment()
    first = dep.served
    assert dep.served is first
    assert not first.metadata_allowed
    dep.campaign_config = {"enableMetadataWithRecommendations": True}  # UpdateCampaign
    assert dep.served.metadata_allowed
    dep.auto_exclude_event_type = "purchase"
    assert dep.served.auto_exclude_event_type == "purchase"


def test_the_handlers_exploration_equals_exploration_for_and_follows_a_new_config() -> None:
    dep = _deployment()
    configs: list[dict[str, object]] = [{}, {"itemExplorationConfig": {"explorationWeight": "0.9"}}]
    for config in configs:
        dep.campaign_config = config
        for user in ("u1", "u2"):
            got = handlers._exploration(dep, user)
            want = answer.exploration_for(
                dep.model, handlers._dict(config.get("itemExplorationConfig")), dep.solution_version_arn, user
            )
            assert got is not None and want is not None
            assert (got.weight, got.seed) == (want.weight, want.seed)
            assert np.array_equal(got.eligible, want.eligible)
    dep.campaign_config = {"itemExplorationConfig": {"explorationWeight": "0"}}
    assert handlers._exploration(dep, "u1") is None
