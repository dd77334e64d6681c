"""Where model directories live in the model store (docs/specs/model-artifact.md).

The trainer writes ``<store>/<solution name>/<version id>.<incarnation>/`` for a solution version and
``<store>/_recommenders/<recommender name>.<incarnation>/<generation>/`` for a recommender's model
(recommenders have no solution versions; each training is a new generation); the runtime reads the same
paths. The incarnation is the resource record's ``_incarnation`` (ADR 0012): a resource created again under
a reused name never finds an old one's models. Records without one (created before incarnations) keep the
legacy paths, without ``.<incarnation>``. The store is a directory (a shared volume / PVC when trainer and
runtime run apart). Solution names can't start with "_".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tailor_shared import arns
from tailor_shared.incarnation import incarnation_of, is_token


def _with(name: str, incarnation: str | None) -> str:
    if incarnation is None:
        return name
    if not is_token(incarnation):
        raise ValueError(f"bad incarnation {incarnation!r}")
    return f"{name}.{incarnation}"


def model_dir(store: str | Path, solution_version_arn: str, incarnation: str | None = None) -> Path:
    """A solution version's model directory; ``incarnation`` is its record's (None: legacy layout)."""
    parsed = arns.parse(solution_version_arn)
    if parsed is None or parsed.resource_type != "solutionVersion":
        raise ValueError(f"not a solution version ARN: {solution_version_arn}")
    solution, version = parsed.resource_id.split("/", 1)
    return Path(store) / solution / _with(version, incarnation)


def version_model_dir(store: str | Path, version: Any) -> Path:
    """The model directory of a solution version record (``ResourceRecord``)."""
    return model_dir(store, version.arn, incarnation_of(version.body))


def recommender_model_dir(
    store: str | Path, recommender_arn: str, generation: str, incarnation: str | None = None
) -> Path:
    """A recommender's model generation; ``incarnation`` is the recommender record's (None: legacy layout)."""
    parsed = arns.parse(recommender_arn)
    if parsed is None or parsed.resource_type != "recommender":
        raise ValueError(f"not a recommender ARN: {recommender_arn}")
    if not generation.isalnum():
        raise ValueError(f"bad model generation {generation!r}")
    return Path(store) / "_recommenders" / _with(parsed.resource_id, incarnation) / generation
