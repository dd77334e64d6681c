"""Stream settings, parsed once from env vars (docs/specs/configuration.md, docs/specs/redis-keys.md)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from tailor_shared import redis_keys as rk
from tailor_shared.config import DEFAULT_PORTS, CommonSettings, env_float, env_int, env_str
from tailor_shared.errors import InvalidInputException
from tailor_stream.domain import OpsConfig, TrendWindow

DEFAULT_TREND_WINDOWS = ",".join(f"{s}/{s}" for s in rk.TREND_FREQUENCIES_S)


def parse_trend_windows(raw: str) -> tuple[TrendWindow, ...]:
    """``"1800/1800,3600/1800"``: size/step in seconds (``size`` alone = tumbling); size a multiple of step."""
    windows: list[TrendWindow] = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        size_text, _, step_text = part.partition("/")
        try:
            size = int(size_text)
            step = int(step_text) if step_text else size
        except ValueError:
            raise InvalidInputException(f"TAILOR_STREAM_TREND_WINDOWS: bad window {part!r}") from None
        if size <= 0 or step <= 0 or step > size or size % step:
            raise InvalidInputException(
                f"TAILOR_STREAM_TREND_WINDOWS: {part!r} needs 0 < step <= size, size % step == 0"
            )
        windows.append(TrendWindow(size, step))
    return tuple(windows)


@dataclass(frozen=True)
class StreamSettings:
    common: CommonSettings
    app_id: str
    data_dir: str
    ops: OpsConfig = field(default_factory=OpsConfig)
    group_id: str = ""  # consumer group of the dataset topics (default <app_id>-state; Faust starts no group)
    batch_max: int = 2000  # records per poll
    script_records: int = 250  # records per Lua call: bounds how long one call blocks Redis
    # Broker long-poll wait of the idle state consumer: a fetch returns as soon as a record arrives
    # (fetch_min_bytes=1), so it costs no freshness; 10 ms made the idle stream and broker spend ~20 % of a core
    # (ADR 0025), 500 ms still made it the broker's busiest client. Its cost: the first fetch after a seek or a
    # new assignment waits for the one in flight, so at most this long after a rebalance or a resync (ADR 0030).
    fetch_wait_ms: int = 2000
    topic_refresh_ms: int = 3000  # metadata refresh: how soon new dataset groups' topics are consumed
    attribution_topic_refresh_ms: int = 30_000  # the same for the attribution worker (not on the freshness path)
    check_interval_s: float = 2.0  # how often to look for wiped state of idle partitions
    session_timeout_ms: int = 10_000  # how long a dead worker holds its partitions (state and attribution groups)
    # How soon a member learns of a rebalance (it hears of one only in a heartbeat's answer): a third of the
    # session timeout by default, as Kafka's clients do; the fault tests ask for a tenth (ADR 0030).
    heartbeat_interval_ms: int = 3333
    # Data deletion jobs (ADR 0015).
    deletion_worker: bool = True  # run the data deletion worker in this process
    deletion_group: str = ""  # its consumer group on <prefix>.jobs (default <prefix>.data-deletion-jobs)
    deletion_quiet_s: float = 2.0  # the old topic's tail is copied until it was quiet this long
    deletion_tail_max_s: float = 60.0  # ... or this long after the switch at most
    deletion_hold_grace_s: float = 1.0  # how long stream processes get to pause a group under deletion
    attribution_worker: bool = True  # run the metric attribution / impressions worker (ADR 0022)
    janitor_interval_s: float = 30.0  # storage janitor period (ADR 0014); 0 = off
    janitor_grace_s: float = 60.0  # how long storage must be dead before the janitor deletes it
    janitor_sweep_s: float = 3600.0  # how often a janitor pass scans every Redis key of the prefix

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StreamSettings:
        e = os.environ if env is None else env
        grpc_port, metrics_port = DEFAULT_PORTS["stream"]
        common = CommonSettings.from_env("stream", grpc_port, metrics_port, e)
        app_id = env_str(e, "TAILOR_STREAM_APP_ID", f"{common.topic_prefix}-stream")
        session_ms = _positive(e, "TAILOR_STREAM_SESSION_TIMEOUT_MS", 10_000)
        ops = OpsConfig(
            history_cap=_positive(e, "TAILOR_STREAM_HISTORY_CAP", rk.HISTORY_CAP),
            item_window=_positive(e, "TAILOR_STREAM_ITEM_WINDOW", rk.ITEM_WINDOW),
            action_window=_positive(e, "TAILOR_STREAM_ACTION_WINDOW", rk.ACTION_WINDOW),
            dedup_window=_positive(e, "TAILOR_STREAM_DEDUP_WINDOW", rk.DEDUP_WINDOW),
            trend_windows=parse_trend_windows(env_str(e, "TAILOR_STREAM_TREND_WINDOWS", DEFAULT_TREND_WINDOWS)),
            session_ttl_s=env_int(e, "TAILOR_STREAM_SESSION_TTL_S", 30 * 86400),
            user_ttl_s=env_int(e, "TAILOR_STREAM_USER_TTL_S", 0),
            trend_future_s=env_int(e, "TAILOR_STREAM_TREND_FUTURE_S", 3600),
        )
        heartbeat_ms = _positive(e, "TAILOR_STREAM_HEARTBEAT_INTERVAL_MS", max(100, session_ms // 3))
        if heartbeat_ms >= session_ms:
            raise InvalidInputException(
                "TAILOR_STREAM_HEARTBEAT_INTERVAL_MS must be below TAILOR_STREAM_SESSION_TIMEOUT_MS"
            )
        return cls(
            common=common,
            app_id=app_id,
            data_dir=env_str(e, "TAILOR_STREAM_DATA_DIR", ".tailor/stream"),
            ops=ops,
            group_id=env_str(e, "TAILOR_STREAM_GROUP_ID", f"{app_id}-state"),
            batch_max=_positive(e, "TAILOR_STREAM_BATCH_MAX", 2000),
            script_records=_positive(e, "TAILOR_STREAM_SCRIPT_RECORDS", 250),
            fetch_wait_ms=_positive(e, "TAILOR_STREAM_FETCH_WAIT_MS", cls.fetch_wait_ms),
            topic_refresh_ms=_positive(e, "TAILOR_STREAM_TOPIC_REFRESH_MS", 3000),
            attribution_topic_refresh_ms=_positive(e, "TAILOR_STREAM_ATTRIBUTION_TOPIC_REFRESH_MS", 30_000),
            check_interval_s=env_float(e, "TAILOR_STREAM_CHECK_INTERVAL_S", 2.0),
            session_timeout_ms=session_ms,
            heartbeat_interval_ms=heartbeat_ms,
            janitor_interval_s=_not_negative(e, "TAILOR_STREAM_JANITOR_INTERVAL_S", 30.0),
            janitor_grace_s=_not_negative(e, "TAILOR_STREAM_JANITOR_GRACE_S", 60.0),
            janitor_sweep_s=_not_negative(e, "TAILOR_STREAM_JANITOR_SWEEP_S", 3600.0),
            deletion_worker=env_str(e, "TAILOR_STREAM_DELETION_WORKER", "true").lower()
            not in ("0", "false", "no", "off"),
            deletion_group=env_str(e, "TAILOR_STREAM_DELETION_GROUP", ""),
            attribution_worker=env_str(e, "TAILOR_STREAM_ATTRIBUTION", "true").lower()
            not in ("0", "false", "no", "off"),
            deletion_quiet_s=_not_negative(e, "TAILOR_STREAM_DELETION_QUIET_S", 2.0),
            deletion_tail_max_s=_not_negative(e, "TAILOR_STREAM_DELETION_TAIL_MAX_S", 60.0),
            deletion_hold_grace_s=_not_negative(e, "TAILOR_STREAM_DELETION_HOLD_GRACE_S", 1.0),
        )


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    value = env_int(env, name, default)
    if value <= 0:
        raise InvalidInputException(f"environment variable {name} must be positive")
    return value


def _not_negative(env: Mapping[str, str], name: str, default: float) -> float:
    value = env_float(env, name, default)
    if value < 0:
        raise InvalidInputException(f"environment variable {name} must not be negative")
    return value
