"""The console's reads (docs/specs/console-api.md), pure: request validation and the answers built from a
resource record or from what Redis returned. The I/O is ``tailor_control.console``'s."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tailor_control.domain import model as m
from tailor_control.domain.common import get, status
from tailor_control.domain.validate import Request
from tailor_shared.redis_keys import HISTORY_CAP, HistoryEntry, rank_trending, split_counter_field
from tailor_shared.resources import ResourceReader, ResourceRecord

#: The trainer's latest epoch report on a solution version (``tailor_trainer.jobs``: stage, epoch, maxEpochs,
#: loss), and control's bounded list of every epoch's (the console's loss curve).
PROGRESS = "_progress"
PROGRESS_HISTORY = "_progressHistory"
PROGRESS_HISTORY_CAP = 200
#: An import job's progress fields (``tailor_ingest.importer``) -> the console's member names.
_IMPORT_FIELDS = {
    "_progressPercent": "percentComplete",
    "_recordsProcessed": "recordsProcessed",
    "_recordsImported": "recordsImported",
    "_bytesRead": "bytesRead",
}
USER_ID_MAX = 256
RECENT_EVENTS_DEFAULT, RECENT_EVENTS_MAX = 25, HISTORY_CAP
TRENDING_DEFAULT, TRENDING_MAX = 25, 100
#: The Trending-Now API default window (2 h, L6347) and the bounds of a window size the console may ask for.
TREND_WINDOW_DEFAULT_S, TREND_WINDOW_MIN_S, TREND_WINDOW_MAX_S = 7200, 60, 7 * 86400


def with_progress_history(body: Mapping[str, Any], fields: Mapping[str, Any]) -> dict[str, Any]:
    """A worker report's fields plus the epoch it reports appended to the record's history (the latest
    ``PROGRESS_HISTORY_CAP`` kept); anything but a well-formed epoch report leaves the history as it is."""
    out = dict(fields)
    out.pop(PROGRESS_HISTORY, None)  # control's own: a worker cannot write it
    report = fields.get(PROGRESS)
    if not isinstance(report, Mapping):
        return out
    stage, epoch, loss = report.get("stage"), report.get("epoch"), report.get("loss")
    if not isinstance(stage, str) or not _is_int(epoch) or not isinstance(loss, int | float):
        return out
    history = [h for h in body.get(PROGRESS_HISTORY) or () if isinstance(h, Mapping)]
    history.append({"stage": stage, "epoch": epoch, "loss": float(loss)})
    out[PROGRESS_HISTORY] = history[-PROGRESS_HISTORY_CAP:]
    return out


def training_progress(view: ResourceReader, request: Mapping[str, Any]) -> dict[str, Any]:
    record = get(view, Request(request).req_arn("solutionVersionArn"), m.SOLUTION_VERSION)
    out: dict[str, Any] = {"solutionVersionArn": record.arn, "status": status(record)}
    report = record.body.get(PROGRESS)
    if isinstance(report, Mapping):
        for key in ("stage", "epoch", "maxEpochs", "loss"):
            if report.get(key) is not None:
                out[key] = report[key]
    out["lossHistory"] = [dict(h) for h in record.body.get(PROGRESS_HISTORY) or ()]
    _updated(record, out)
    return {"trainingProgress": out}


def import_progress(view: ResourceReader, request: Mapping[str, Any]) -> dict[str, Any]:
    record = get(view, Request(request).req_arn("datasetImportJobArn"), m.DATASET_IMPORT_JOB)
    out: dict[str, Any] = {"datasetImportJobArn": record.arn, "status": status(record)}
    for field, member in _IMPORT_FIELDS.items():
        if _is_number(record.body.get(field)):
            out[member] = record.body[field]
    _updated(record, out)
    return {"importProgress": out}


@dataclass(frozen=True)
class RecentEventsQuery:
    group: ResourceRecord
    user_id: str
    max_results: int


def recent_events_query(view: ResourceReader, request: Mapping[str, Any]) -> RecentEventsQuery:
    req = Request(request)
    arn = req.req_arn("datasetGroupArn")
    user_id = req.req_string("userId", min_len=1, max_len=USER_ID_MAX)
    limit = req.integer("maxResults", minimum=1, maximum=RECENT_EVENTS_MAX, default=RECENT_EVENTS_DEFAULT)
    assert limit is not None
    return RecentEventsQuery(get(view, arn, m.DATASET_GROUP), user_id, limit)


def recent_events(history: Sequence[HistoryEntry], limit: int) -> dict[str, Any]:
    """``history`` most recent first (``redis_keys.parse_user_state``)."""
    events = []
    for entry in history[:limit]:
        event: dict[str, Any] = {"itemId": entry.item_id, "eventType": entry.event_type, "sentAt": entry.timestamp}
        if entry.event_value is not None:
            event["eventValue"] = entry.event_value
        events.append(event)
    return {"events": events}


@dataclass(frozen=True)
class TrendingQuery:
    group: ResourceRecord
    window_s: int
    max_results: int


def trending_query(view: ResourceReader, request: Mapping[str, Any]) -> TrendingQuery:
    req = Request(request)
    arn = req.req_arn("datasetGroupArn")
    size = req.integer(
        "windowSizeSeconds", minimum=TREND_WINDOW_MIN_S, maximum=TREND_WINDOW_MAX_S, default=TREND_WINDOW_DEFAULT_S
    )
    limit = req.integer("maxResults", minimum=1, maximum=TRENDING_MAX, default=TRENDING_DEFAULT)
    assert size is not None and limit is not None
    return TrendingQuery(get(view, arn, m.DATASET_GROUP), size, limit)


def trending(
    query: TrendingQuery, start: int | None, current: Mapping[str, float], previous: Mapping[str, float]
) -> dict[str, Any]:
    """The ``query.max_results`` items of the window starting at ``start`` ranked as Trending-Now ranks them."""
    out: dict[str, Any] = {"windowSizeSeconds": query.window_s, "items": []}
    if start is None:
        return out
    out["windowStartDateTime"] = float(start)
    for item, score in rank_trending(current, previous, query.max_results):
        out["items"].append(
            {
                "itemId": item,
                "interactions": int(current[item]),
                "previousInteractions": int(previous.get(item, 0)),
                "growth": score,
            }
        )
    return out


def attribution_of(view: ResourceReader, request: Mapping[str, Any]) -> tuple[ResourceRecord, ResourceRecord]:
    """The metric attribution and its dataset group."""
    record = get(view, Request(request).req_arn("metricAttributionArn"), m.METRIC_ATTRIBUTION)
    group = get(view, str(record.body.get("datasetGroupArn") or record.parent_arn or ""), m.DATASET_GROUP)
    return record, group


def attribution_values(arn: str, totals: Mapping[bytes, bytes], now: float) -> dict[str, Any]:
    """The attribution worker's totals hash (``<metricName>\\x1f<source>`` -> value) as the console's rows."""
    rows = []
    for field, raw in totals.items():
        parts = split_counter_field(field)
        if len(parts) != 2:
            continue
        rows.append({"metricName": parts[0], "eventAttributionSource": parts[1], "value": float(raw)})
    rows.sort(key=lambda r: (r["metricName"], r["eventAttributionSource"]))
    return {"metricAttributionArn": arn, "readDateTime": now, "values": rows}


def _updated(record: ResourceRecord, out: dict[str, Any]) -> None:
    if _is_number(record.body.get("lastUpdatedDateTime")):
        out["lastUpdatedDateTime"] = record.body["lastUpdatedDateTime"]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
