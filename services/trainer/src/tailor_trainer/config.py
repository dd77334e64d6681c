"""Trainer settings, parsed once from env vars (docs/specs/configuration.md)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from tailor_shared.config import DEFAULT_PORTS, CommonSettings, env_float, env_int, env_str
from tailor_shared.errors import InvalidInputException
from tailor_shared.jobs import Owner, jobs_group
from tailor_shared.locations import DEFAULT_MODEL_STORE
from tailor_shared.scoring.retrieval import DEFAULT_MIN_ITEMS
from tailor_trainer.domain.train import default_max_training_seconds


@dataclass(frozen=True)
class TrainerSettings:
    common: CommonSettings
    model_store: str = DEFAULT_MODEL_STORE
    worker_group: str = ""  # default: <prefix>.trainer-jobs
    seed: int = 42
    torch_threads: int = 2
    janitor_interval_s: float = 60.0  # model-store janitor period (ADR 0014); 0 = off
    janitor_grace_s: float = 60.0  # how long a directory must be dead before the janitor deletes it
    # Maximum training time of one solution version / recommender model (a safety net; validation ends
    # training): a fixed number of seconds, or 0 = ``training_seconds_per_100k`` per 100,000 interactions.
    max_training_seconds: float = 0.0
    training_seconds_per_100k: float = 1800.0
    # Sequence models with at least this many items ship their ANN index (ADR 0019 §5): keep it equal to the
    # runtime's TAILOR_RUNTIME_RETRIEVAL_MIN_ITEMS, below which no runtime uses one.
    retrieval_min_items: int = DEFAULT_MIN_ITEMS

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TrainerSettings:
        e = os.environ if env is None else env
        grpc_port, metrics_port = DEFAULT_PORTS["trainer"]
        common = CommonSettings.from_env("trainer", grpc_port, metrics_port, e)
        return cls(
            common=common,
            model_store=env_str(e, "TAILOR_MODEL_STORE", cls.model_store),
            worker_group=env_str(e, "TAILOR_TRAINER_WORKER_GROUP", "")
            or jobs_group(common.topic_prefix, Owner.TRAINER),
            seed=env_int(e, "TAILOR_TRAINER_SEED", cls.seed),
            torch_threads=env_int(e, "TAILOR_TRAINER_THREADS", cls.torch_threads),
            janitor_interval_s=_not_negative(e, "TAILOR_TRAINER_JANITOR_INTERVAL_S", cls.janitor_interval_s),
            janitor_grace_s=_not_negative(e, "TAILOR_TRAINER_JANITOR_GRACE_S", cls.janitor_grace_s),
            max_training_seconds=_not_negative(e, "TAILOR_TRAINER_MAX_TRAINING_SECONDS", cls.max_training_seconds),
            training_seconds_per_100k=_not_negative(
                e, "TAILOR_TRAINER_TRAINING_SECONDS_PER_100K", cls.training_seconds_per_100k
            ),
            retrieval_min_items=int(_not_negative(e, "TAILOR_TRAINER_RETRIEVAL_MIN_ITEMS", cls.retrieval_min_items)),
        )

    def max_training_seconds_for(self, n_interactions: int) -> float:
        """The time limit of a training on ``n_interactions`` interactions."""
        if self.max_training_seconds > 0:
            return self.max_training_seconds
        return default_max_training_seconds(n_interactions, self.training_seconds_per_100k)


def _not_negative(env: Mapping[str, str], name: str, default: float) -> float:
    value = env_float(env, name, default)
    if value < 0:
        raise InvalidInputException(f"environment variable {name} must not be negative")
    return value
