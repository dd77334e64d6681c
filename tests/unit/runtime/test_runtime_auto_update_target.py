"""A campaign's automatic update (ADR 0022): the runtime serves the generation the campaign record names for the
version it serves, from ``<version dir>/_updates/<generation>``, and goes back to the version's own model when the
campaign moves to another version."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, cast

from tailor_runtime.adapters import RedisState
from tailor_runtime.deployments import Registry, target_version
from tailor_shared.jobs import StatusReporter, StatusUpdate
from tailor_shared.model_store import campaign_update_dir, version_model_dir
from tailor_shared.redis_keys import Keys
from tailor_shared.resources import InMemoryResources, ResourceRecord

BASE = "arn:aws:personalize:us-east-1:000000000000:"
GROUP = BASE + "dataset-group/shop"
SOLUTION = BASE + "solution/up"
VERSION = SOLUTION + "/abcd1234"
CAMPAIGN = BASE + "campaign/shop"


class _Status:
    async def send(self, update: StatusUpdate) -> None:
        return None


class _State:
    async def items_version(self, keys: Keys, dataset_type: str = "Items") -> tuple[tuple[str, str], ...]:
        return ()

    async def item_metadata(self, keys: Keys, item_ids: list[str]) -> dict[str, dict[str, str]]:
        return {}


class _Model:
    item_ids = ("i1",)
    exploration = None


def _records(**campaign: Any) -> list[ResourceRecord]:
    version = {"solutionVersionArn": VERSION, "solutionArn": SOLUTION, "datasetGroupArn": GROUP, "status": "ACTIVE"}
    body = {"campaignArn": CAMPAIGN, "solutionVersionArn": VERSION, "status": "ACTIVE", **campaign}
    return [
        ResourceRecord(GROUP, "datasetGroup", {"datasetGroupArn": GROUP, "name": "shop", "status": "ACTIVE"}),
        ResourceRecord(VERSION, "solutionVersion", version, SOLUTION),
        ResourceRecord(CAMPAIGN, "campaign", body, SOLUTION),
    ]


def test_the_runtime_loads_the_automatic_update_of_the_served_version(tmp_path: Path) -> None:
    view = InMemoryResources(_records(_model="gen1", _modelOf=VERSION))
    loaded: list[Path] = []

    def loader(path: Path) -> Any:
        loaded.append(path)
        return _Model()

    state, status = cast(RedisState, _State()), cast(StatusReporter, _Status())
    registry = Registry(view, tmp_path, loader, state, status, "p")
    asyncio.run(registry.sync())
    version = view.get(VERSION)
    assert loaded == [campaign_update_dir(tmp_path, version, "gen1")]
    assert registry.deployments[CAMPAIGN].solution_version_arn == f"{VERSION}#gen1"

    # An update of another version (the campaign was updated since) is not served.
    body = dict(_records(_model="gen2", _modelOf=SOLUTION + "/older")[2].body)
    assert target_version(body) == VERSION
    view.put(ResourceRecord(CAMPAIGN, "campaign", body, SOLUTION))
    asyncio.run(registry.sync())
    assert loaded[-1] == version_model_dir(tmp_path, version)


def test_a_campaign_never_loads_another_accounts_model(tmp_path: Path) -> None:
    """ADR 0028 §6: a campaign record of one account naming another's version (a forged record: the API refuses
    it) reads nothing from the store and fails to deploy."""
    foreign = BASE.replace("000000000000", "111111111111") + "campaign/stolen"
    body = {"campaignArn": foreign, "solutionVersionArn": VERSION, "status": "CREATE PENDING"}
    view = InMemoryResources([*_records()[:2], ResourceRecord(foreign, "campaign", body, SOLUTION)])
    loaded: list[Path] = []
    said: list[StatusUpdate] = []

    class _Said:
        async def send(self, update: StatusUpdate) -> None:
            said.append(update)

    def loader(path: Path) -> Any:
        loaded.append(path)
        return _Model()

    registry = Registry(view, tmp_path, loader, cast(RedisState, _State()), cast(StatusReporter, _Said()), "p")
    asyncio.run(registry.sync())
    assert loaded == [] and foreign not in registry.deployments
    assert [u.status for u in said if u.resource_arn == foreign] == ["CREATE FAILED"]
    assert "not in account 111111111111" in str(said[-1].failure_reason)
