"""Metric attribution and impression counting as plain functions (ADR 0022): which metric an interaction adds
to, under which event attribution source, in which 15-minute window; what a report file holds; which items an
event saw without choosing them. No I/O: ``attribution`` wires these to Kafka, Redis and files."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

#: "If you don't provide an eventAttributionSource or recommendationId, Amazon Personalize labels the source
#: SOURCE_NAME_UNDEFINED" (guide L16142, data-events-filters-batch.md §2.7).
UNDEFINED_SOURCE = "SOURCE_NAME_UNDEFINED"
#: Metrics are aggregated "over every 15 minutes" (L16110).
WINDOW_S = 900
#: CloudWatch only takes records "less than 14 days old" (L16138).
MAX_AGE_S = 14 * 86400
#: "You can provide at most 100 unique event attribution sources." (L16138)
MAX_SOURCES = 100
#: The recommendationId → campaign/recommender map lives as long as the recommendations topic keeps it.
RECOMMENDATION_TTL_S = 7 * 86400
#: The report's header line, as the guide prints it (L16852).
REPORT_HEADER = "METRIC_NAME, EVENT_TYPE, VALUE, MATH_FUNCTION, EVENT_ATTRIBUTION_SOURCE, TIMESTAMP"

_SUM = re.compile(r"^\s*SUM\(\s*(Interactions|Items)\.([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Metric:
    name: str
    event_type: str
    function: str  # "samplecount" or "sum", as the report's MATH_FUNCTION column spells it
    dataset: str | None = None  # "Interactions" or "Items" for SUM
    column: str | None = None


@dataclass(frozen=True)
class Attribution:
    """A live metric attribution as the stream sees it: ``tag`` names its counters (a deleted attribution's
    successor under the same name starts from zero), ``since`` is its creation time (only data imported after
    it counts, L16134), ``output`` its metricsOutputConfig.s3DataDestination.path or None."""

    arn: str
    tag: str
    since: float
    metrics: tuple[Metric, ...]
    output: str | None

    def metric(self, name: str) -> Metric | None:
        return next((m for m in self.metrics if m.name == name), None)

    @property
    def item_columns(self) -> tuple[str, ...]:
        return tuple(sorted({m.column for m in self.metrics if m.dataset == "Items" and m.column}))


def parse_metric(raw: Mapping[str, Any]) -> Metric:
    """A MetricAttribute as control stored it (control validated the expression)."""
    expression = str(raw.get("expression", ""))
    match = _SUM.match(expression)
    if match is None:
        return Metric(str(raw["metricName"]), str(raw["eventType"]), "samplecount")
    dataset = "Items" if match.group(1).lower() == "items" else "Interactions"
    return Metric(str(raw["metricName"]), str(raw["eventType"]), "sum", dataset, match.group(2).upper())


def attribution_from(arn: str, tag: str, body: Mapping[str, Any]) -> Attribution:
    output = body.get("metricsOutputConfig") or {}
    destination = output.get("s3DataDestination") if isinstance(output, Mapping) else None
    path = destination.get("path") if isinstance(destination, Mapping) else None
    metrics = tuple(parse_metric(m) for m in body.get("metrics") or () if isinstance(m, Mapping))
    return Attribution(arn, tag, float(body.get("creationDateTime") or 0.0), metrics, str(path) if path else None)


def event_source(row: Mapping[str, Any], recommended_by: str | None) -> str:
    """eventAttributionSource wins over recommendationId (L16141); a recommendationId stands for the campaign or
    recommender that returned it; neither: SOURCE_NAME_UNDEFINED."""
    explicit = row.get("EVENT_ATTRIBUTION_SOURCE")
    if isinstance(explicit, str) and explicit:
        return explicit
    return recommended_by or UNDEFINED_SOURCE


def window_start(timestamp: float) -> int:
    return int(timestamp // WINDOW_S) * WINDOW_S


def metric_value(metric: Metric, row: Mapping[str, Any], item: Mapping[str, str] | None) -> float | None:
    """What one interaction adds to ``metric``; None when it adds nothing (another event type, or a SUM over a
    column the row or its item lacks)."""
    if row.get("EVENT_TYPE") != metric.event_type:
        return None
    if metric.function == "samplecount":
        return 1.0
    source: Mapping[str, Any] = row if metric.dataset == "Interactions" else (item or {})
    raw: Any = source.get(metric.column or "")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def increments(
    attribution: Attribution,
    row: Mapping[str, Any],
    source: str,
    item: Mapping[str, str] | None,
) -> list[tuple[str, str, int, float]]:
    """``(metricName, source, windowStart, value)`` for each metric this interaction adds to; the window is the
    row's TIMESTAMP's 15-minute window."""
    out: list[tuple[str, str, int, float]] = []
    window = window_start(float(row.get("TIMESTAMP") or 0))
    for metric in attribution.metrics:
        value = metric_value(metric, row, item)
        if value is not None:
            out.append((metric.name, source, window, value))
    return out


def admit_source(source: str, known: set[str]) -> str:
    """At most 100 sources per attribution (L16138): a new source beyond that is counted as
    SOURCE_NAME_UNDEFINED rather than dropped (ADR 0022)."""
    if source in known or len(known) < MAX_SOURCES:
        known.add(source)
        return source
    return UNDEFINED_SOURCE


def report_name(import_mode: str, at: float) -> str:
    """``AggregatedAttributionMetrics - ImportMethod - Timestamp.csv`` (L16846)."""
    stamp = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H-%M-%SZ")
    return f"AggregatedAttributionMetrics - {import_mode} - {stamp}.csv"


def report_lines(attribution: Attribution, values: Iterable[tuple[str, str, int, float]]) -> list[str]:
    """The report's lines (header first), one per metric, source and 15-minute window, in the guide's layout."""
    lines = [REPORT_HEADER]
    for name, source, window, value in sorted(values, key=lambda v: (v[0], v[2], v[1])):
        metric = attribution.metric(name)
        if metric is None:
            continue
        lines.append(f"{name}, {metric.event_type}, {float(value)!r}, {metric.function}, {source}, {window}")
    return lines
