"""Where a solution version's model directory lives in the model store (docs/specs/model-artifact.md).

The trainer writes ``<store>/<solution name>/<version id>/``; the runtime reads the same path. The store is
a directory (a shared volume / PVC when trainer and runtime run apart).
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
