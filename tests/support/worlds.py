"""Small resource set-ups that several real-stack tests start from (through control's own API)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tailor_tools.client import Client


@dataclass(frozen=True)
class EventsGroup:
    """A dataset group with an ACTIVE Interactions dataset and an ACTIVE event tracker."""

    group: str
    dataset: str
    tracker: dict[str, Any]


def events_group(personalize: Client, schema_name: str, schema: Mapping[str, Any]) -> EventsGroup:
    schema_arn = personalize.call("CreateSchema", name=schema_name, schema=json.dumps(schema))["schemaArn"]
    group = personalize.call("CreateDatasetGroup", name="shop")["datasetGroupArn"]
    personalize.wait_for("DescribeDatasetGroup", "datasetGroup", datasetGroupArn=group)
    dataset = personalize.call(
        "CreateDataset", name="events", schemaArn=schema_arn, datasetGroupArn=group, datasetType="Interactions"
    )["datasetArn"]
    personalize.wait_for("DescribeDataset", "dataset", datasetArn=dataset)
    tracker = personalize.call("CreateEventTracker", name="web", datasetGroupArn=group)
    personalize.wait_for("DescribeEventTracker", "eventTracker", eventTrackerArn=tracker["eventTrackerArn"])
    return EventsGroup(group, dataset, tracker)
