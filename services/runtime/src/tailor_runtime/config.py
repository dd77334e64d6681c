"""Runtime settings, parsed once from env vars (docs/specs/configuration.md)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from tailor_shared.config import DEFAULT_PORTS, CommonSettings


@dataclass(frozen=True)
class RuntimeSettings:
    common: CommonSettings

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RuntimeSettings:
        e = os.environ if env is None else env
        grpc_port, metrics_port = DEFAULT_PORTS["runtime"]
        return cls(common=CommonSettings.from_env("runtime", grpc_port, metrics_port, e))
