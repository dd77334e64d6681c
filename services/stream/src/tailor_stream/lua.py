"""The Lua script that applies one batch atomically (``apply_batch.lua``), and the JSON payload it reads.

Redis runs a script as one atomic step, so a batch is either fully applied (state and the partition
watermarks together) or not at all; a crash between batches replays records the watermark then skips. The
script must not fail half-way (Redis does not roll back): every value it gets is validated in Python first.
The semantics are mirrored by ``model.StateModel``; the integration tests check the two agree.
"""

from __future__ import annotations

import json
import math
from importlib import resources
from typing import Any, Final

from tailor_shared.redis_keys import TREND_RETAIN_SIZES
from tailor_stream.domain import Batch, BatchResult, InteractionOp

#: The script (``apply_batch.lua``, shipped beside this module as package data).
APPLY_BATCH_LUA: Final = resources.files("tailor_stream").joinpath("apply_batch.lua").read_text(encoding="utf-8")


def encode_batch(batch: Batch) -> str:
    """The script's ARGV[1]: short keys, optional fields omitted (JSON null would become ``cjson.null``)."""
    config = batch.config
    records: list[dict[str, Any]] = []
    windows: dict[tuple[int, int], int] = {}
    trend_max = -1
    for part, offset, op in batch.records:
        if isinstance(op, InteractionOp):
            r: dict[str, Any] = {
                "p": part + 1,
                "o": offset,
                "s": op.subject,
                "tk": op.token,
                "ts": op.score,
                "e": op.event_type,
                "mw": op.window_member,
                "it": op.item,
                "ie": op.item_key,
            }
            if op.action:
                r["a"] = 1
            if op.anonymous:
                r["an"] = 1
            if op.link is not None:
                r["ln"] = op.link
            if op.history_member is not None:
                r["mh"] = op.history_member
            if op.trends:
                r["tw"] = [windows.setdefault(w, len(windows) + 1) for w in op.trends]
                trend_max = max(trend_max, math.floor(op.timestamp))
        else:
            fields = [[name, kind, value] if value is not None else [name, kind] for name, kind, value in op.fields]
            r = {"p": part + 1, "o": offset, "m": 1, "k": op.key, "en": op.entity, "id": op.entity_id, "f": fields}
        records.append(r)
    payload = {
        "ns": batch.keys.ns,
        "tp": [[tp.field, 1 if tp.expect else 0, tp.high, tp.floor] for tp in batch.partitions],
        "hc": config.history_cap,
        "iw": config.item_window,
        "aw": config.action_window,
        "dc": config.dedup_window,
        "sttl": config.session_ttl_s,
        "uttl": config.user_ttl_s,
        "tsz": list(config.trend_sizes),
        "keep": TREND_RETAIN_SIZES,
        "tw": [list(w) for w in windows],
        "tmax": trend_max,
        "r": records,
    }
    return json.dumps(payload, separators=(",", ":"))


def decode_result(reply: Any) -> BatchResult:
    head = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
    if head == "LOST":
        lost = reply[1].decode() if isinstance(reply[1], bytes) else str(reply[1])
        return BatchResult(lost=lost)
    return BatchResult(lost=None, applied=int(reply[1]), duplicates=int(reply[2]), replayed=int(reply[3]))
