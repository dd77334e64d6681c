"""Stream settings, parsed once from env vars (docs/specs/configuration.md)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from tailor_shared.config import DEFAULT_PORTS, CommonSettings, env_str


@dataclass(frozen=True)
class StreamSettings:
    common: CommonSettings
    app_id: str
    data_dir: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StreamSettings:
        e = os.environ if env is None else env
        grpc_port, metrics_port = DEFAULT_PORTS["stream"]
        common = CommonSettings.from_env("stream", grpc_port, metrics_port, e)
        return cls(
            common=common,
            app_id=env_str(e, "TAILOR_STREAM_APP_ID", f"{common.topic_prefix}-stream"),
            data_dir=env_str(e, "TAILOR_STREAM_DATA_DIR", ".tailor/stream"),
        )
