"""Model directory writer: ONNX graph or neighbour table, item arrays, report, and ``manifest.json``.

The format is specified in docs/specs/model-artifact.md; the runtime reads it with onnxruntime and numpy only
(no torch). A directory is written under a temporary name beside its destination and renamed into place, so
readers see either no model or a complete one.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from tailor_shared.scoring.retrieval import DEFAULT_MIN_ITEMS
from tailor_trainer.domain.hyperparams import UP, UP_V2
from tailor_trainer.domain.train import TrainedModel
from tailor_trainer.retrieval import ITEM_INDEX_FILE, export_retrieval

FORMAT: Final = "tailor-model"
FORMAT_VERSION: Final = 1
MANIFEST: Final = "manifest.json"
ONNX_FILE: Final = "model.onnx"
OPSET: Final = 17
INPUT_NAME: Final = "item_sequence"
OUTPUT_NAME: Final = "scores"
ITEM_INDEX: Final = ITEM_INDEX_FILE
ARRAYS: Final = {
    "itemPopularity": "item_popularity.npy",
    "itemInteractions": "item_interactions.npy",
    "itemCreationTimestamp": "item_creation_timestamp.npy",
    "itemIsNew": "item_is_new.npy",
    "popularItems": "popular_items.npy",
}
USER_INDEX: Final = "user_index.json"
USER_RECENT: Final = "user_recent_items.npy"
NEIGHBOURS_INDEX: Final = "neighbours_index.npy"
NEIGHBOURS_SCORE: Final = "neighbours_score.npy"
#: The trainer's own copy of a sequence model (torch pickle), the starting point of a later UPDATE version
#: even after a trainer restart. The runtime never reads it.
TRAINER_STATE: Final = "trainer_state.pt"
EXPLORATION_DEFAULTS: Final = {"explorationWeight": "0.3", "explorationItemAgeCutOff": "30"}


@dataclass(frozen=True)
class Manifest:
    directory: Path
    data: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.data["modelKind"])


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _save(path: Path, array: npt.NDArray[Any]) -> None:
    with path.open("wb") as f:
        np.save(f, np.ascontiguousarray(array), allow_pickle=False)


def export_onnx_graph(module: Any, width: int, n_items: int, path: Path) -> dict[str, Any]:
    """Export a ``HybridScorer`` (item_sequence [batch, width] -> scores [batch, n_items]) and check it."""
    import warnings

    import onnx
    import torch  # the trainer has torch; only export needs it

    example = torch.full((2, width), n_items, dtype=torch.int64)
    example[:, -1] = 0
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about Python ints in shapes are expected here
        torch.onnx.export(
            module.eval(),
            (example,),
            str(path),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
        )
    onnx.checker.check_model(str(path))
    return {
        "file": path.name,
        "opset": OPSET,
        "inputs": [{"name": INPUT_NAME, "dtype": "int64", "shape": ["batch", width]}],
        "outputs": [{"name": OUTPUT_NAME, "dtype": "float32", "shape": ["batch", n_items]}],
        "sequenceLength": width,
        "padIndex": n_items,
        "padding": "left",
        "scoreTransform": "softmax",
    }


def _export_onnx(model: TrainedModel, path: Path) -> dict[str, Any]:
    return export_onnx_graph(model.inference_module(), model.sequence_length, model.n_items, path)


def _serving(model: TrainedModel) -> dict[str, Any]:
    serving: dict[str, Any] = {
        "excludeSeenItems": model.exclude_seen,
        "latestInteractionTimestamp": model.latest_interaction_timestamp,
        "scoresForItemsWithoutInteractions": False,
    }
    if model.recipe == UP:
        serving["exploration"] = {"configurable": True, "defaults": dict(EXPLORATION_DEFAULTS)}
    elif model.recipe == UP_V2:
        serving["exploration"] = {"configurable": False, "defaults": dict(EXPLORATION_DEFAULTS)}
    if model.kind == "trending":
        serving["trending"] = dict(model.config)
    return serving


def _history(model: TrainedModel) -> list[dict[str, Any]]:
    return [
        {
            "epoch": s.epoch,
            "loss": s.loss,
            "validationNdcgAt10": None if math.isnan(s.validation_ndcg_at_10) else s.validation_ndcg_at_10,
            "seconds": s.seconds,
        }
        for s in model.history
    ]


def export(
    model: TrainedModel,
    directory: str | os.PathLike[str],
    snapshot: Mapping[str, Any],
    *,
    report: bool = True,
    index_min_items: int | None = DEFAULT_MIN_ITEMS,
) -> Manifest:
    """Write ``model`` into ``directory`` (which must not exist yet) atomically; return its manifest. A sequence
    model of at least ``index_min_items`` items ships its ANN index (ADR 0019 §5; None: never)."""
    return write_model_dir(directory, lambda tmp: _write(model, tmp, snapshot, report, index_min_items))


def write_model_dir(directory: str | os.PathLike[str], write: Callable[[Path], dict[str, Any]]) -> Manifest:
    """Run ``write`` (which fills a directory and returns its manifest) on a temporary directory beside
    ``directory`` and rename it into place: readers see no model or a complete one."""
    target = Path(directory)
    if target.exists():
        raise FileExistsError(f"model directory {target} already exists")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        manifest = write(tmp)
        for path in tmp.iterdir():
            with path.open("rb") as f:
                os.fsync(f.fileno())
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Manifest(target, manifest)


def _write(
    model: TrainedModel, tmp: Path, snapshot: Mapping[str, Any], report: bool, index_min_items: int | None
) -> dict[str, Any]:
    (tmp / ITEM_INDEX).write_text(json.dumps([str(i) for i in model.item_ids.tolist()]))
    pop = model.item_popularity.astype(np.float32)
    ranked = np.lexsort((np.arange(len(pop)), -pop))
    ranked = ranked[pop[ranked] > 0].astype(np.int64)
    _save(tmp / ARRAYS["itemPopularity"], pop)
    _save(tmp / ARRAYS["itemInteractions"], model.item_interactions.astype(np.int64))
    _save(tmp / ARRAYS["itemCreationTimestamp"], model.item_creation.astype(np.int64))
    _save(tmp / ARRAYS["itemIsNew"], model.item_is_new.astype(np.bool_))
    _save(tmp / ARRAYS["popularItems"], ranked)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "formatVersion": FORMAT_VERSION,
        "createdAt": time.time(),
        "recipeArn": model.recipe_arn,
        "recipe": model.recipe,
        "recipeType": model.recipe_type,
        "modelKind": model.kind,
        "trainingMode": model.training_mode,
        "snapshot": dict(snapshot),
        "items": {"count": model.n_items, "index": ITEM_INDEX},
        "arrays": dict(ARRAYS),
        "serving": _serving(model),
        "hyperParameters": dict(model.hyperparameters),
        "tunedHPOParams": model.tuned_hpo_params,
        "metrics": dict(model.metrics),
        "baselines": {k: dict(v) for k, v in model.baselines.items()},
        "trainingHistory": _history(model),
        "trainingSeconds": model.training_seconds,
        "trainingStop": _jsonable(model.training_stop),
        "data": _jsonable(model.data_summary),
        "model": _jsonable(model.config),
    }
    if model.kind == "sequence":
        import torch

        manifest["onnx"] = _export_onnx(model, tmp / ONNX_FILE)
        retrieval = export_retrieval(
            model.inference_module(), model.sequence_length, tmp, OPSET, INPUT_NAME, index_min_items
        )
        if retrieval is not None:
            manifest["retrieval"] = retrieval
        torch.save(model, tmp / TRAINER_STATE)
        manifest["trainerState"] = TRAINER_STATE
        if model.context:
            manifest["context"] = {}
            for k, (field_name, table) in enumerate(sorted(model.context.items())):
                _save(tmp / f"context_{k}.npy", table.lift.astype(np.float32))
                manifest["context"][field_name] = {"values": list(table.values), "lift": f"context_{k}.npy"}
        if model.user_features:  # the Users dataset's fields, lift already scaled by the chosen weight
            manifest["userFeatures"] = {}
            for k, (field_name, table) in enumerate(sorted(model.user_features.items())):
                _save(tmp / f"user_feature_{k}.npy", table.lift.astype(np.float32))
                spec: dict[str, Any] = {"values": list(table.values), "lift": f"user_feature_{k}.npy"}
                if table.edges is not None:
                    spec["edges"] = list(table.edges)
                manifest["userFeatures"][field_name] = spec
        if model.user_ids is not None and model.user_recent is not None:
            (tmp / USER_INDEX).write_text(json.dumps([str(u) for u in model.user_ids.tolist()]))
            _save(tmp / USER_RECENT, model.user_recent.astype(np.int64))
            manifest["users"] = {
                "count": len(model.user_ids),
                "index": USER_INDEX,
                "recentItems": USER_RECENT,
                "padIndex": model.n_items,
            }
    elif model.kind == "neighbours" and model.neighbours is not None:
        _save(tmp / NEIGHBOURS_INDEX, model.neighbours.idx.astype(np.int64))
        _save(tmp / NEIGHBOURS_SCORE, model.neighbours.score.astype(np.float32))
        manifest["neighbours"] = {
            "index": NEIGHBOURS_INDEX,
            "score": NEIGHBOURS_SCORE,
            "k": int(model.neighbours.idx.shape[1]),
            "missing": -1,
            "fallback": ARRAYS["popularItems"],
        }
    if report:
        from tailor_trainer.report import write_report

        paths = write_report(model, tmp)
        manifest["report"] = {"markdown": paths[0].name, "plot": paths[1].name}
    manifest["files"] = {
        p.name: {"bytes": p.stat().st_size, "sha256": _sha256(p)} for p in sorted(tmp.iterdir()) if p.is_file()
    }
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return manifest


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float | int | str | bool) or value is None:
        return value
    return str(value)


def read_manifest(directory: str | os.PathLike[str]) -> Manifest:
    path = Path(directory)
    data = json.loads((path / MANIFEST).read_text())
    if data.get("format") != FORMAT or data.get("formatVersion") != FORMAT_VERSION:
        raise ValueError(f"{path} is not a {FORMAT} v{FORMAT_VERSION} directory")
    return Manifest(path, data)


def load_trainer_state(directory: str | os.PathLike[str]) -> TrainedModel | None:
    """The trained model a directory keeps for UPDATE mode, or None where it keeps none (not a sequence
    model, or written before trainer states existed). The model store is trusted: this unpickles."""
    path = Path(directory) / TRAINER_STATE
    if not path.is_file():
        return None
    import torch

    model = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(model, TrainedModel):
        raise ValueError(f"{path} does not hold a trained model")
    return model


def load_for_parity(directory: str | os.PathLike[str]) -> Callable[[npt.NDArray[np.int64]], npt.NDArray[np.float32]]:
    """A torch-free scorer over an exported sequence model (what the runtime does): item_sequence -> scores."""
    import onnxruntime as ort

    manifest = read_manifest(directory)
    if manifest.kind != "sequence":
        raise ValueError("only sequence models have an ONNX graph")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(
        str(manifest.directory / manifest.data["onnx"]["file"]), options, providers=["CPUExecutionProvider"]
    )

    def run(item_sequence: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        out = session.run([OUTPUT_NAME], {INPUT_NAME: np.asarray(item_sequence, dtype=np.int64)})
        return np.asarray(out[0], dtype=np.float32)

    return run
