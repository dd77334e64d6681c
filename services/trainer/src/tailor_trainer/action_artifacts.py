"""Writes a Next-Best-Action model directory (docs/specs/model-artifact.md, "Next-Best-Action"): the
feature space, the propensity network's weights as .npy arrays, the trained actions' metadata and which of
them get scores. The runtime reads it with numpy only (``tailor_shared.scoring.actions.ActionModel``)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from tailor_shared.scoring.actions import MODEL_KIND, PERSONALIZED_ACTIONS, WEIGHT_ARRAYS
from tailor_trainer.artifacts import FORMAT, FORMAT_VERSION, ITEM_INDEX, MANIFEST, Manifest, _save, write_model_dir
from tailor_trainer.domain.actions import RECIPE, ActionModelResult

FEATURES = "action_features.json"
METADATA = "action_metadata.json"


def export_actions(
    result: ActionModelResult, directory: str | os.PathLike[str], snapshot: Mapping[str, Any]
) -> Manifest:
    return write_model_dir(directory, lambda tmp: _write(result, tmp, snapshot))


def _write(result: ActionModelResult, tmp: Path, snapshot: Mapping[str, Any]) -> dict[str, Any]:
    ids = list(result.features.action_ids)
    (tmp / ITEM_INDEX).write_text(json.dumps(ids))
    (tmp / FEATURES).write_text(json.dumps(result.features.to_json()))
    (tmp / METADATA).write_text(json.dumps(result.metadata))
    arrays: dict[str, str] = {}
    for name in WEIGHT_ARRAYS:
        arrays[name] = f"nba_{name}.npy"
        _save(tmp / arrays[name], getattr(result.weights, name).astype(np.float32))
    arrays["scored"], arrays["taken"] = "nba_scored.npy", "nba_taken.npy"
    _save(tmp / arrays["scored"], result.scored.astype(np.bool_))
    _save(tmp / arrays["taken"], result.taken.astype(np.int64))
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "formatVersion": FORMAT_VERSION,
        "createdAt": time.time(),
        "recipeArn": result.recipe_arn,
        "recipe": RECIPE,
        "recipeType": PERSONALIZED_ACTIONS,
        "modelKind": MODEL_KIND,
        "trainingMode": "FULL",
        "snapshot": dict(snapshot),
        "items": {"count": len(ids), "index": ITEM_INDEX},
        "actions": {
            "features": FEATURES,
            "metadata": METADATA,
            "arrays": arrays,
            "actionOptimizationPeriod": result.optimization_days,
            "latestInteractionTimestamp": result.latest_interaction_timestamp,
        },
        "hyperParameters": dict(result.hyperparameters),
        "metrics": dict(result.metrics),
        "baselines": {k: dict(v) for k, v in result.baselines.items()},
        "trainingHistory": result.history,
        "trainingSeconds": result.training_seconds,
        "data": dict(result.data_summary),
    }
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return manifest
