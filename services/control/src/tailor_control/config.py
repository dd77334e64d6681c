"""Control settings, parsed once from env vars (docs/specs/configuration.md)."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from tailor_control.domain import Quotas
from tailor_shared.config import DEFAULT_PORTS, CommonSettings, env_float, env_int
from tailor_shared.errors import InvalidInputException


@dataclass(frozen=True)
class ControlSettings:
    common: CommonSettings
    #: Control's lifecycle steps run as soon as its view changed; this is how often they run without a change
    #: (the time-driven ones: automatic training, retraining, campaign updates, due hours or days apart; and a
    #: step that failed). Each run walks the whole view: at 1 s an idle control's largest cost (ADR 0030 §15).
    lifecycle_interval_s: float = 5.0
    quotas: Quotas = field(default_factory=Quotas)
    #: The longest a mutating call waits for the lock and Kafka's acknowledgement before it answers
    #: ServiceUnavailableException (retryable); while Kafka is known down mutations are refused at once.
    write_timeout_ms: int = 3_000

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ControlSettings:
        e = os.environ if env is None else env
        grpc_port, metrics_port = DEFAULT_PORTS["control"]
        return cls(
            common=CommonSettings.from_env("control", grpc_port, metrics_port, e),
            lifecycle_interval_s=env_float(e, "TAILOR_CONTROL_LIFECYCLE_INTERVAL_S", cls.lifecycle_interval_s),
            quotas=_quotas(e.get("TAILOR_CONTROL_QUOTAS", "")),
            write_timeout_ms=env_int(e, "TAILOR_CONTROL_WRITE_TIMEOUT_MS", cls.write_timeout_ms),
        )


def _quotas(raw: str) -> Quotas:
    """Operator overrides of Personalize's quotas, like a Service Quotas increase: JSON of field -> int."""
    if not raw:
        return Quotas()
    try:
        overrides = json.loads(raw)
        known = {f.name for f in dataclasses.fields(Quotas)}
        unknown = set(overrides) - known
        if unknown:
            raise InvalidInputException(
                f"TAILOR_CONTROL_QUOTAS: unknown quotas {sorted(unknown)}; known: {sorted(known)}"
            )
        return Quotas(**{k: int(v) for k, v in overrides.items()})
    except (ValueError, TypeError, AttributeError) as err:
        raise InvalidInputException(f"TAILOR_CONTROL_QUOTAS is not a JSON object of integers: {err}") from None
