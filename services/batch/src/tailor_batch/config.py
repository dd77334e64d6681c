"""Batch worker settings, parsed once from env vars (docs/specs/configuration.md)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from tailor_shared.config import DEFAULT_PORTS, CommonSettings, env_int, env_str
from tailor_shared.jobs import Owner, jobs_group
from tailor_shared.locations import DEFAULT_MODEL_STORE


@dataclass(frozen=True)
class BatchSettings:
    common: CommonSettings
    model_store: str = DEFAULT_MODEL_STORE
    worker_group: str = ""  # default: <prefix>.batch-jobs
    history_length: int = 50  # most recent interactions fed to the model: the runtime's, so lines equal answers
    chunk: int = 256  # lines scored in one model run

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> BatchSettings:
        e = os.environ if env is None else env
        grpc_port, metrics_port = DEFAULT_PORTS["batch"]
        common = CommonSettings.from_env("batch", grpc_port, metrics_port, e)
        return cls(
            common=common,
            model_store=env_str(e, "TAILOR_MODEL_STORE", cls.model_store),
            worker_group=env_str(e, "TAILOR_BATCH_WORKER_GROUP", "") or jobs_group(common.topic_prefix, Owner.BATCH),
            history_length=env_int(
                e, "TAILOR_BATCH_HISTORY_LENGTH", env_int(e, "TAILOR_RUNTIME_HISTORY_LENGTH", cls.history_length)
            ),
            chunk=max(1, env_int(e, "TAILOR_BATCH_CHUNK", cls.chunk)),
        )
