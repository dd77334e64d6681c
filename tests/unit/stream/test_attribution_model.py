"""Metric attribution's pure rules (ADR 0022): sources, metric values, windows, the report file, impressions."""

from __future__ import annotations

from tailor_shared.redis_keys import counter_field, split_counter_field
from tailor_shared.scoring.impressions import impression_outcome
from tailor_stream.attribution_model import (
    MAX_SOURCES,
    REPORT_HEADER,
    UNDEFINED_SOURCE,
    admit_source,
    attribution_from,
    event_source,
    increments,
    parse_metric,
    report_lines,
    report_name,
    window_start,
)

CAMPAIGN = "arn:aws:personalize:us-east-1:000000000000:campaign/shop"
BODY = {
    "creationDateTime": 1_700_000_000.5,
    "metricsOutputConfig": {"roleArn": "r", "s3DataDestination": {"path": "s3://bucket/metrics/"}},
    "metrics": [
        {"eventType": "click", "expression": "SAMPLECOUNT()", "metricName": "CLICKS"},
        {"eventType": "purchase", "expression": "sum(Interactions.event_value)", "metricName": "REVENUE"},
        {"eventType": "purchase", "expression": "SUM(Items.PRICE)", "metricName": "PRICES"},
    ],
}


def test_expressions_parse_into_functions_and_columns() -> None:
    assert parse_metric({"eventType": "a", "expression": " SAMPLECOUNT( ) ", "metricName": "M"}).function == (
        "samplecount"
    )
    revenue = parse_metric(BODY["metrics"][1])  # type: ignore[index]
    assert (revenue.function, revenue.dataset, revenue.column) == ("sum", "Interactions", "EVENT_VALUE")
    attribution = attribution_from("arn", "tag", BODY)
    assert attribution.output == "s3://bucket/metrics/"
    assert attribution.since == 1_700_000_000.5
    assert attribution.item_columns == ("PRICE",)


def test_event_attribution_source_wins_over_the_recommendation_then_undefined() -> None:
    assert event_source({"EVENT_ATTRIBUTION_SOURCE": "partner"}, CAMPAIGN) == "partner"
    assert event_source({}, CAMPAIGN) == CAMPAIGN
    assert event_source({"EVENT_ATTRIBUTION_SOURCE": None}, None) == UNDEFINED_SOURCE


def test_increments_by_event_type_with_values_from_the_row_and_the_item() -> None:
    attribution = attribution_from("arn", "tag", BODY)
    click = {"EVENT_TYPE": "click", "TIMESTAMP": 1_700_000_123, "ITEM_ID": "i1"}
    assert increments(attribution, click, "s", None) == [("CLICKS", "s", 1_700_000_100, 1.0)]
    purchase = {"EVENT_TYPE": "purchase", "EVENT_VALUE": 2.5, "TIMESTAMP": 1_700_000_123, "ITEM_ID": "i1"}
    assert increments(attribution, purchase, "s", {"PRICE": "10"}) == [
        ("REVENUE", "s", 1_700_000_100, 2.5),
        ("PRICES", "s", 1_700_000_100, 10.0),
    ]
    # No item metadata, no event value, another type: nothing to add.
    assert increments(attribution, {**purchase, "EVENT_VALUE": None}, "s", None) == []
    assert increments(attribution, {**click, "EVENT_TYPE": "Click"}, "s", None) == []


def test_windows_are_fifteen_minutes() -> None:
    assert window_start(1_700_000_099) == 1_699_999_200
    assert window_start(1_699_999_200) == 1_699_999_200


def test_a_source_beyond_the_hundredth_counts_as_undefined() -> None:
    known = {f"s{i}" for i in range(MAX_SOURCES)}
    assert admit_source("s5", known) == "s5"
    assert admit_source("new", known) == UNDEFINED_SOURCE
    assert admit_source("first", set()) == "first"


def test_explicit_impressions_win_over_the_recommendation() -> None:
    row = {"ITEM_ID": "b", "IMPRESSION": "a|b|c|a"}
    assert impression_outcome(row, ["x", "y"]) == (["a", "b", "c"], "b")
    assert impression_outcome({"ITEM_ID": "z"}, ["x", "y"]) == (["x", "y"], None)
    assert impression_outcome({"ITEM_ID": "x"}, None) == ([], None)


def test_the_report_has_the_guides_header_name_and_columns() -> None:
    attribution = attribution_from("arn", "tag", BODY)
    assert report_name("INCREMENTAL", 1_666_924_224) == (
        "AggregatedAttributionMetrics - INCREMENTAL - 2022-10-28T02-30-24Z.csv"
    )
    lines = report_lines(attribution, [("CLICKS", CAMPAIGN, 900, 12.0), ("GONE", "x", 0, 1.0)])
    assert lines == [REPORT_HEADER, f"CLICKS, click, 12.0, samplecount, {CAMPAIGN}, 900"]


def test_counter_fields_round_trip() -> None:
    assert split_counter_field(counter_field("M", CAMPAIGN, 900).encode()) == ["M", CAMPAIGN, "900"]
