"""Where a solution version's model directory lives in the model store (docs/specs/model-artifact.md).

The trainer writes ``<store>/<solution name>/<version id>/``; the runtime reads the same path. The store is
a directory (a shared volume / PVC when trainer and runtime run apart).
"""

from __future__ import annotations

from pathlib import Path


def model_dir(store: str | Path, solution_version_arn: str) -> Path:
    try:
        solution, version = solution_version_arn.split(":solution/", 1)[1].split("/", 1)
    except (IndexError, ValueError):
        raise ValueError(f"not a solution version ARN: {solution_version_arn}") from None
    return Path(store) / solution / version
