"""A deleted campaign leaves nothing in the runtime's registry (ADR 0014): one created again under its name
(same ARN) is deployed afresh, even where the deleted one's model had failed to load."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, cast

from tailor_runtime.adapters import RedisState
from tailor_runtime.deployments import Registry
from tailor_shared.jobs import StatusReporter, StatusUpdate
from tailor_shared.resources import InMemoryResources, ResourceRecord

CAMPAIGN = "arn:aws:personalize:us-east-1:000000000000:campaign/popular"
VERSION = "arn:aws:personalize:us-east-1:000000000000:solution/popular/abcd1234"


class _Status:
    def __init__(self) -> None:
        self.sent: list[StatusUpdate] = []

    async def send(self, update: StatusUpdate) -> None:
        self.sent.append(update)


def _campaign() -> ResourceRecord:
    body = {"campaignArn": CAMPAIGN, "solutionVersionArn": VERSION, "status": "CREATE PENDING"}
    return ResourceRecord(CAMPAIGN, "campaign", body)


def test_a_campaign_created_again_is_loaded_afresh(tmp_path: Path) -> None:
    view = InMemoryResources([_campaign()])  # its solution version is not there: the load fails
    status = _Status()

    def loader(_path: Path) -> Any:
        raise AssertionError("never reached: the version is checked first")

    registry = Registry(view, tmp_path, loader, cast(RedisState, None), cast(StatusReporter, status), "p")
    asyncio.run(registry.sync())
    asyncio.run(registry.sync())
    assert [u.status for u in status.sent] == ["CREATE FAILED"]  # failed once, not retried for that version

    view.delete(CAMPAIGN)  # DeleteCampaign
    asyncio.run(registry.sync())
    view.put(_campaign())  # CreateCampaign again, same name, same version
    asyncio.run(registry.sync())
    assert [u.status for u in status.sent] == ["CREATE FAILED", "CREATE FAILED"]  # tried again, reported again
    assert not registry.deployments
