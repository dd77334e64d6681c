"""Where model directories live in the model store (docs/specs/model-artifact.md).

The trainer writes ``<store>/<solution name>/<version id>/`` for a solution version and
``<store>/_recommenders/<recommender name>/<generation>/`` for a recommender's model (recommenders have no
solution versions; each training is a new generation); the runtime reads the same paths. The store is a
directory (a shared volume / PVC when trainer and runtime run apart). Solution names can't start with "_".
"""

from __future__ import annotations

from pathlib import Path

from tailor_shared import arns


def model_dir(store: str | Path, solution_version_arn: str) -> Path:
    parsed = arns.parse(solution_version_arn)
    if parsed is None or parsed.resource_type != "solutionVersion":
        raise ValueError(f"not a solution version ARN: {solution_version_arn}")
    solution, version = parsed.resource_id.split("/", 1)
    return Path(store) / solution / version


def recommender_model_dir(store: str | Path, recommender_arn: str, generation: str) -> Path:
    parsed = arns.parse(recommender_arn)
    if parsed is None or parsed.resource_type != "recommender":
        raise ValueError(f"not a recommender ARN: {recommender_arn}")
    if not generation.isalnum():
        raise ValueError(f"bad model generation {generation!r}")
    return Path(store) / "_recommenders" / parsed.resource_id / generation
