"""End to end: the demo's whole flow against the real local stack with all five services as processes.

Import a generated catalogue and history, train user-personalization-v2, SIMS and popularity-count,
deploy campaigns, filter and promote, then send live events and see the recommendations change.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tailor_tools import demo, localstack
from tests.conftest import RunningService

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def test_demo_flow_end_to_end(
    spawn_service: Callable[..., RunningService], tmp_path: Path, stack: localstack.StackConfig, topic_prefix: str
) -> None:
    services = {name: spawn_service(name, wait=name != "stream") for name in ("control", "ingest", "stream", "trainer")}
    services["runtime"] = spawn_service("runtime")
    services["gateway"] = spawn_service(
        "gateway",
        TAILOR_GATEWAY_CONTROL_ADDRESS=services["control"].address,
        TAILOR_GATEWAY_EVENTS_ADDRESS=services["ingest"].address,
        TAILOR_GATEWAY_RUNTIME_ADDRESS=services["runtime"].address,
    )
    lines: list[str] = []
    outcome = demo.run(
        None,
        tmp_path / "demo",
        addresses={
            "control": services["control"].address,
            "events": services["ingest"].address,
            "runtime": services["runtime"].address,
        },
        say=lines.append,
        size=(150, 240),
        status_topic=(stack.kafka_bootstrap, topic_prefix),
        gateway=f"http://{services['gateway'].address}",
    )
    assert len(outcome.before) == 10
    # The promotion: 20 % of 10 slots, from the promoted category, marked with its name.
    promoted = [i for i in outcome.before if i.get("promotionName") == "featured"]
    assert len(promoted) == 2
    assert len({i["itemId"] for i in outcome.before}) == 10
    # Scores of user-personalization are a softmax over the catalogue.
    assert all(0 < i["score"] <= 1 for i in outcome.before)
    # Live events changed the model's ranking, and the new list leans to the clicked category.
    assert outcome.changed_after_s is not None, "\n".join(lines)
    ranked_after = [i["itemId"] for i in outcome.after if "promotionName" not in i]
    ranked_before = [i["itemId"] for i in outcome.before if "promotionName" not in i]
    assert ranked_after != ranked_before
    clicked = outcome.clicked_category

    def share(items: list[str]) -> int:
        return sum(outcome.categories.get(i) == clicked for i in items)

    assert share(ranked_after) > share(ranked_before), "\n".join(lines)
    # The training progress bar had the trainer's epochs to show for the sequence model.
    assert outcome.epoch_reports.get("user-personalization", 0) >= 1, outcome.epoch_reports
    # The same request with boto3 through the AWS gateway (make demo shows it with the dev credential).
    assert any("through the AWS gateway" in line for line in lines), "\n".join(lines)
    names = [name for name, _ in outcome.timings.steps]
    assert "training (3 recipes)" in names
