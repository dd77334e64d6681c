"""Control settings, parsed once from env vars (docs/specs/configuration.md)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from tailor_shared.config import DEFAULT_PORTS, CommonSettings, env_float


@dataclass(frozen=True)
class ControlSettings:
    common: CommonSettings
    lifecycle_interval_s: float = 0.2  # how often control advances instant lifecycle steps

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ControlSettings:
        e = os.environ if env is None else env
        grpc_port, metrics_port = DEFAULT_PORTS["control"]
        return cls(
            common=CommonSettings.from_env("control", grpc_port, metrics_port, e),
            lifecycle_interval_s=env_float(e, "TAILOR_CONTROL_LIFECYCLE_INTERVAL_S", cls.lifecycle_interval_s),
        )
