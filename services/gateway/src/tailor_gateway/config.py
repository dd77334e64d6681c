"""Gateway settings, parsed once from env vars (docs/specs/configuration.md)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tailor_shared.auth import AuthSettings
from tailor_shared.config import DEFAULT_PORTS, CommonSettings, env_float, env_int, env_str

#: ``console/dist`` of the checkout this package is installed from (the workspace installs it editable).
CHECKOUT_CONSOLE_DIR = Path(__file__).resolve().parents[4] / "console" / "dist"


@dataclass(frozen=True)
class GatewaySettings:
    """``common.grpc_host``/``grpc_port`` are the HTTP listen address here (TAILOR_GRPC_HOST, TAILOR_GATEWAY_PORT)."""

    common: CommonSettings
    control_address: str = "127.0.0.1:50051"
    events_address: str = "127.0.0.1:50052"
    runtime_address: str = "127.0.0.1:50053"
    #: Which credentials SigV4 signatures are verified against (TAILOR_CREDENTIALS_FILE, TAILOR_AUTH_DEV).
    auth: AuthSettings = field(default_factory=AuthSettings)
    #: Seconds a forwarded gRPC call may take.
    call_timeout_s: float = 60.0
    #: HTTP server processes sharing the port (SO_REUSEPORT).
    workers: int = 1
    #: The built web console served under /console/ (TAILOR_CONSOLE_DIR; empty: not served). ADR 0029.
    console_dir: Path | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GatewaySettings:
        e = os.environ if env is None else env
        http_port, metrics_port = DEFAULT_PORTS["gateway"]
        return cls(
            common=CommonSettings.from_env("gateway", http_port, metrics_port, e),
            control_address=env_str(e, "TAILOR_GATEWAY_CONTROL_ADDRESS", cls.control_address),
            events_address=env_str(e, "TAILOR_GATEWAY_EVENTS_ADDRESS", cls.events_address),
            runtime_address=env_str(e, "TAILOR_GATEWAY_RUNTIME_ADDRESS", cls.runtime_address),
            auth=AuthSettings.from_env(e),
            call_timeout_s=env_float(e, "TAILOR_GATEWAY_CALL_TIMEOUT_S", cls.call_timeout_s),
            workers=env_int(e, "TAILOR_GATEWAY_WORKERS", cls.workers),
            console_dir=Path(raw) if (raw := env_str(e, "TAILOR_CONSOLE_DIR", str(CHECKOUT_CONSOLE_DIR))) else None,
        )

    @property
    def backend_addresses(self) -> dict[str, str]:
        return {"control": self.control_address, "events": self.events_address, "runtime": self.runtime_address}
