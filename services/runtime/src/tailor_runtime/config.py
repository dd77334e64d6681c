"""Runtime settings, parsed once from env vars (docs/specs/configuration.md)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from tailor_shared.config import DEFAULT_PORTS, CommonSettings, env_float, env_int, env_str
from tailor_shared.locations import DEFAULT_MODEL_STORE
from tailor_shared.scoring.retrieval import DEFAULT_MIN_ITEMS, MASK_CACHE_BYTES


@dataclass(frozen=True)
class RuntimeSettings:
    common: CommonSettings
    model_store: str = DEFAULT_MODEL_STORE
    metadata_refresh_s: float = 30.0  # how often item metadata (for Items.* filters) is re-read from Redis
    history_length: int = 50  # most recent interactions fed to the model
    workers: int = 1  # server processes sharing the port (SO_REUSEPORT)
    # Catalogues at least this large are served by ANN candidate retrieval + exact rescoring (ADR 0019); 0: all.
    retrieval_min_items: int = DEFAULT_MIN_ITEMS
    # Per retrieval model: bytes of per-filter-mask structures kept (allowed positions, sub-indexes; ADR 0019 §11).
    retrieval_mask_cache_bytes: int = MASK_CACHE_BYTES

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RuntimeSettings:
        e = os.environ if env is None else env
        grpc_port, metrics_port = DEFAULT_PORTS["runtime"]
        return cls(
            common=CommonSettings.from_env("runtime", grpc_port, metrics_port, e),
            model_store=env_str(e, "TAILOR_MODEL_STORE", cls.model_store),
            metadata_refresh_s=env_float(e, "TAILOR_RUNTIME_METADATA_REFRESH_S", cls.metadata_refresh_s),
            history_length=env_int(e, "TAILOR_RUNTIME_HISTORY_LENGTH", cls.history_length),
            workers=env_int(e, "TAILOR_RUNTIME_WORKERS", cls.workers),
            retrieval_min_items=env_int(e, "TAILOR_RUNTIME_RETRIEVAL_MIN_ITEMS", cls.retrieval_min_items),
            retrieval_mask_cache_bytes=env_int(
                e, "TAILOR_RUNTIME_RETRIEVAL_MASK_CACHE_BYTES", cls.retrieval_mask_cache_bytes
            ),
        )
