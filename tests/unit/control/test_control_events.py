"""Event trackers, filters and metric attributions (api.md §1.7-1.9)."""

from __future__ import annotations

import json

import pytest

from tailor_control.domain import Quotas
from tailor_shared.errors import (
    InvalidInputException,
    LimitExceededException,
    ResourceAlreadyExistsException,
    ResourceInUseException,
    ResourceNotFoundException,
)
from tailor_shared.schemas import avro_record
from tests.support.control_plane import InMemoryControlPlane

ROLE = "arn:aws:iam::123456789012:role/PersonalizeRole"
ACCOUNT_PREFIX = "arn:aws:personalize:us-west-2:123456789012:"
OUTPUT = {"roleArn": ROLE, "s3DataDestination": {"path": "s3://b/metrics/"}}


# --- EventTracker ---------------------------------------------------------------------------------------


def test_event_tracker_lifecycle(plane: InMemoryControlPlane, group: str) -> None:
    response = plane.call("CreateEventTracker", {"name": "clicks", "datasetGroupArn": group})
    arn = response["eventTrackerArn"]
    assert arn == ACCOUNT_PREFIX + "event-tracker/clicks"
    assert len(response["trackingId"]) == 36
    plane.advance()
    described = plane.call("DescribeEventTracker", {"eventTrackerArn": arn})["eventTracker"]
    assert described["accountId"] == "123456789012"
    assert described["trackingId"] == response["trackingId"]
    assert described["status"] == "ACTIVE"
    listed = plane.call("ListEventTrackers", {"datasetGroupArn": group})["eventTrackers"]
    assert set(listed[0]) == {"eventTrackerArn", "name", "status", "creationDateTime", "lastUpdatedDateTime"}
    plane.call("DeleteEventTracker", {"eventTrackerArn": arn})
    assert plane.body(arn)["status"] == "DELETE PENDING"
    plane.advance()
    with pytest.raises(ResourceNotFoundException):
        plane.call("DescribeEventTracker", {"eventTrackerArn": arn})


def test_only_one_event_tracker_per_group(plane: InMemoryControlPlane, group: str) -> None:
    plane.call("CreateEventTracker", {"name": "a", "datasetGroupArn": group})
    with pytest.raises(ResourceAlreadyExistsException, match="Only one event tracker"):
        plane.call("CreateEventTracker", {"name": "b", "datasetGroupArn": group})


def test_event_tracker_needs_active_group(plane: InMemoryControlPlane) -> None:
    group = plane.call("CreateDatasetGroup", {"name": "g"})["datasetGroupArn"]
    with pytest.raises(ResourceInUseException, match="must be ACTIVE"):
        plane.call("CreateEventTracker", {"name": "a", "datasetGroupArn": group})
    with pytest.raises(ResourceNotFoundException):
        plane.call("CreateEventTracker", {"name": "a", "datasetGroupArn": ACCOUNT_PREFIX + "dataset-group/none"})


# --- Filter ---------------------------------------------------------------------------------------------


def test_filter_happy_path(plane: InMemoryControlPlane, group: str, items: str) -> None:
    expression = "INCLUDE ItemID WHERE Items.GENRE IN ($GENRES)"
    arn = plane.call("CreateFilter", {"name": "genre", "datasetGroupArn": group, "filterExpression": expression})[
        "filterArn"
    ]
    assert arn == ACCOUNT_PREFIX + "filter/genre"
    plane.advance()
    described = plane.call("DescribeFilter", {"filterArn": arn})["filter"]
    assert described["filterExpression"] == expression and described["status"] == "ACTIVE"
    listed = plane.call("ListFilters", {"datasetGroupArn": group})
    assert list(listed) == ["Filters"]
    assert "filterExpression" not in listed["Filters"][0]
    plane.call("DeleteFilter", {"filterArn": arn})
    plane.advance()
    assert plane.store.get(arn) is None


def test_filter_expression_validation(plane: InMemoryControlPlane, group: str, items: str) -> None:
    base = {"name": "f", "datasetGroupArn": group}
    with pytest.raises(InvalidInputException, match="at 'filterExpression'"):
        plane.call("CreateFilter", base)
    with pytest.raises(InvalidInputException, match="length less than or equal to 2500"):
        plane.call("CreateFilter", {**base, "filterExpression": "x" * 2501})
    with pytest.raises(InvalidInputException, match="Invalid filter expression"):
        plane.call("CreateFilter", {**base, "filterExpression": "INCLUDE WHERE"})
    with pytest.raises(InvalidInputException, match="not a field of the Items schema"):
        plane.call("CreateFilter", {**base, "filterExpression": 'EXCLUDE ItemID WHERE Items.COLOR IN ("red")'})
    with pytest.raises(InvalidInputException, match="no Users dataset"):
        plane.call(
            "CreateFilter",
            {**base, "filterExpression": 'INCLUDE ItemID WHERE Items.GENRE IN ("x") IF CurrentUser.AGE > 20'},
        )


def test_filter_quotas(plane: InMemoryControlPlane, group: str, items: str) -> None:
    plane.quotas = Quotas(filters_per_group=2)
    expression = 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")'
    plane.call("CreateFilter", {"name": "f1", "datasetGroupArn": group, "filterExpression": expression})
    plane.call("CreateFilter", {"name": "f2", "datasetGroupArn": group, "filterExpression": expression})
    with pytest.raises(LimitExceededException, match="2 filters per dataset group"):
        plane.call("CreateFilter", {"name": "f3", "datasetGroupArn": group, "filterExpression": expression})
    with pytest.raises(ResourceAlreadyExistsException):
        plane.call("CreateFilter", {"name": "f1", "datasetGroupArn": group, "filterExpression": expression})


def test_distinct_filter_fields_per_filter_and_group(plane: InMemoryControlPlane, group: str) -> None:
    fields: list[dict[str, object]] = [{"name": "ITEM_ID", "type": "string"}]
    fields += [{"name": f"C{i}", "type": ["null", "string"], "categorical": True} for i in range(12)]

    schema = json.dumps(avro_record("Items", *fields))
    schema_arn = plane.call("CreateSchema", {"name": "wide", "schema": schema})["schemaArn"]
    plane.call(
        "CreateDataset", {"name": "i", "datasetGroupArn": group, "datasetType": "Items", "schemaArn": schema_arn}
    )
    plane.advance()

    def expr(cols: range) -> str:
        return "INCLUDE ItemID WHERE " + " AND ".join(f'Items.C{i} IN ("x")' for i in cols)

    with pytest.raises(InvalidInputException, match="at most 5"):
        plane.call("CreateFilter", {"name": "six", "datasetGroupArn": group, "filterExpression": expr(range(6))})
    plane.call("CreateFilter", {"name": "a", "datasetGroupArn": group, "filterExpression": expr(range(0, 5))})
    plane.call("CreateFilter", {"name": "b", "datasetGroupArn": group, "filterExpression": expr(range(5, 10))})
    with pytest.raises(LimitExceededException, match="distinct dataset fields"):
        plane.call("CreateFilter", {"name": "c", "datasetGroupArn": group, "filterExpression": expr(range(10, 11))})


def test_delete_filter_used_by_running_batch_job(plane: InMemoryControlPlane, group: str, version: str) -> None:
    expression = 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")'
    arn = plane.call("CreateFilter", {"name": "f", "datasetGroupArn": group, "filterExpression": expression})[
        "filterArn"
    ]
    plane.advance()
    plane.call(
        "CreateBatchInferenceJob",
        {
            "jobName": "b",
            "solutionVersionArn": version,
            "filterArn": arn,
            "roleArn": ROLE,
            "jobInput": {"s3DataSource": {"path": "s3://b/in.json"}},
            "jobOutput": {"s3DataDestination": {"path": "s3://b/out/"}},
        },
    )
    with pytest.raises(ResourceInUseException, match="batch job"):
        plane.call("DeleteFilter", {"filterArn": arn})


# --- MetricAttribution ----------------------------------------------------------------------------------


def _attribution(plane: InMemoryControlPlane, group: str, name: str = "ma", **extra: object) -> str:
    metrics = [
        {"eventType": "click", "expression": "SAMPLECOUNT()", "metricName": "clicks"},
        {"eventType": "buy", "expression": "SUM(Items.PRICE)", "metricName": "revenue"},
    ]
    request = {"name": name, "datasetGroupArn": group, "metrics": metrics, "metricsOutputConfig": OUTPUT, **extra}
    return str(plane.call("CreateMetricAttribution", request)["metricAttributionArn"])


def test_metric_attribution_lifecycle(plane: InMemoryControlPlane, group: str, items: str) -> None:
    arn = _attribution(plane, group)
    assert arn == ACCOUNT_PREFIX + "metric-attribution/ma"
    plane.advance()
    described = plane.call("DescribeMetricAttribution", {"metricAttributionArn": arn})["metricAttribution"]
    assert described["status"] == "ACTIVE"
    assert described["metricsOutputConfig"] == OUTPUT
    assert "metrics" not in described
    metrics = plane.call("ListMetricAttributionMetrics", {"metricAttributionArn": arn})["metrics"]
    assert [mt["metricName"] for mt in metrics] == ["clicks", "revenue"]
    updated = plane.call(
        "UpdateMetricAttribution",
        {
            "metricAttributionArn": arn,
            "removeMetrics": ["clicks"],
            "addMetrics": [{"eventType": "view", "expression": "SAMPLECOUNT()", "metricName": "views"}],
        },
    )
    assert updated == {"metricAttributionArn": arn}
    metrics = plane.call("ListMetricAttributionMetrics", {"metricAttributionArn": arn})["metrics"]
    assert [mt["metricName"] for mt in metrics] == ["revenue", "views"]
    page = plane.call("ListMetricAttributionMetrics", {"metricAttributionArn": arn, "maxResults": 1})
    assert [mt["metricName"] for mt in page["metrics"]] == ["revenue"]
    rest = plane.call(
        "ListMetricAttributionMetrics", {"metricAttributionArn": arn, "maxResults": 1, "nextToken": page["nextToken"]}
    )
    assert [mt["metricName"] for mt in rest["metrics"]] == ["views"] and "nextToken" not in rest
    assert plane.call("ListMetricAttributions", {"datasetGroupArn": group})["metricAttributions"][0]["name"] == "ma"


def test_metric_attribution_rules(plane: InMemoryControlPlane, group: str, items: str) -> None:
    with pytest.raises(InvalidInputException, match="Invalid metric expression"):
        _attribution(plane, group, metrics=[{"eventType": "e", "expression": "AVG(Items.PRICE)", "metricName": "m"}])
    with pytest.raises(InvalidInputException, match="not a numerical column"):
        _attribution(plane, group, metrics=[{"eventType": "e", "expression": "SUM(Items.GENRE)", "metricName": "m"}])
    with pytest.raises(InvalidInputException, match="must be unique"):
        _attribution(
            plane,
            group,
            metrics=[
                {"eventType": "e", "expression": "SAMPLECOUNT()", "metricName": "m"},
                {"eventType": "f", "expression": "SAMPLECOUNT()", "metricName": "m"},
            ],
        )
    too_many = [{"eventType": "e", "expression": "SAMPLECOUNT()", "metricName": f"m{i}"} for i in range(11)]
    with pytest.raises(InvalidInputException, match="length less than or equal to 10"):
        _attribution(plane, group, metrics=too_many)
    with pytest.raises(InvalidInputException, match=r"metricsOutputConfig\.roleArn"):
        _attribution(plane, group, metricsOutputConfig={"s3DataDestination": {"path": "s3://b/"}})
    with pytest.raises(InvalidInputException, match="at 'metrics'"):
        plane.call("CreateMetricAttribution", {"name": "x", "datasetGroupArn": group, "metricsOutputConfig": OUTPUT})
    _attribution(plane, group)
    with pytest.raises(ResourceAlreadyExistsException, match="at most one metric attribution"):
        _attribution(plane, group, name="second")


def test_metric_attribution_needs_event_type_column(plane: InMemoryControlPlane, group: str) -> None:
    schema = json.dumps(avro_record("Interactions", "USER_ID", "ITEM_ID", "TIMESTAMP"))
    schema_arn = plane.call("CreateSchema", {"name": "plain", "schema": schema})["schemaArn"]
    plane.call(
        "CreateDataset", {"name": "i", "datasetGroupArn": group, "datasetType": "Interactions", "schemaArn": schema_arn}
    )
    plane.advance()
    metrics = [{"eventType": "click", "expression": "SAMPLECOUNT()", "metricName": "clicks"}]
    with pytest.raises(InvalidInputException, match="EVENT_TYPE column"):
        _attribution(plane, group, metrics=metrics)


def test_update_metric_attribution_errors(plane: InMemoryControlPlane, group: str, items: str) -> None:
    arn = _attribution(plane, group)
    with pytest.raises(ResourceInUseException, match="must be ACTIVE"):
        plane.call("UpdateMetricAttribution", {"metricAttributionArn": arn, "removeMetrics": ["clicks"]})
    plane.advance()
    with pytest.raises(InvalidInputException, match="not part of metric attribution"):
        plane.call("UpdateMetricAttribution", {"metricAttributionArn": arn, "removeMetrics": ["nope"]})
    with pytest.raises(ResourceAlreadyExistsException, match="already exists"):
        plane.call(
            "UpdateMetricAttribution",
            {
                "metricAttributionArn": arn,
                "addMetrics": [{"eventType": "x", "expression": "SAMPLECOUNT()", "metricName": "clicks"}],
            },
        )
    nine = [{"eventType": "x", "expression": "SAMPLECOUNT()", "metricName": f"n{i}"} for i in range(9)]
    with pytest.raises(LimitExceededException, match="at most 10 metrics"):
        plane.call("UpdateMetricAttribution", {"metricAttributionArn": arn, "addMetrics": nine})
    with pytest.raises(InvalidInputException, match="at 'metricAttributionArn'"):
        plane.call("UpdateMetricAttribution", {"removeMetrics": ["clicks"]})


def test_metric_attribution_blocks_dataset_delete(plane: InMemoryControlPlane, group: str, items: str) -> None:
    _attribution(plane, group)
    plane.advance()
    with pytest.raises(ResourceInUseException, match="metric attribution references"):
        plane.call("DeleteDataset", {"datasetArn": items})
