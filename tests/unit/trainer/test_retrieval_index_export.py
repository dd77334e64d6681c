"""The ANN index is built by the trainer at export (ADR 0019 §5): a model at or above the threshold ships it, the
runtime reads it instead of building it, its answers equal exact scoring within the recall goal, the export is
deterministic, and the runtime builds at load only for a model without a usable index above its threshold."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pytest

from tailor_shared.errors import InvalidInputException
from tailor_shared.filters import bind_filter_values, parse_filter_expression
from tailor_shared.redis_keys import HistoryEntry, UserState
from tailor_shared.scoring import answer, retrieval
from tailor_shared.scoring.filtering import ItemIndex
from tailor_shared.scoring.loader import LoadedModel
from tailor_trainer import artifacts
from tailor_trainer.config import TrainerSettings
from tailor_trainer.domain import train_solution_version
from tailor_trainer.domain.train import TrainedModel
from tests.unit.trainer.conftest import synthetic

RECIPE = "arn:aws:personalize:::recipe/aws-user-personalization-v2"
RECALL_GOAL = 0.98  # issue 20's goal at 1,000,000 items; this small case is searched (near) exhaustively


@pytest.fixture(scope="module")
def trained() -> TrainedModel:
    inter, items = synthetic(n_users=150, n_items=240, seed=4)
    return train_solution_version(RECIPE, inter, items, None, {}, False, "FULL", None, None, 0)


def _export(model: TrainedModel, directory: Path, index_min_items: int | None) -> dict[str, Any]:
    return artifacts.export(model, directory, {}, report=False, index_min_items=index_min_items).data


def _no_build(*_: object, **__: object) -> NoReturn:
    raise AssertionError("the runtime built the index at load")


@pytest.mark.parametrize("fast_scan", [False, True])
def test_a_model_at_the_threshold_ships_its_index_and_the_runtime_reads_it(
    trained: TrainedModel, tmp_path: Path, fast_scan: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retrieval, "FASTSCAN_MIN_ITEMS", 0 if fast_scan else 10**9)
    n = trained.n_items
    manifest = _export(trained, tmp_path / "m", index_min_items=n)
    entry = manifest["retrieval"]["index"]
    assert entry["file"] == retrieval.INDEX_FILE and entry["library"] == "faiss"
    assert entry["type"] == ("IVFPQFastScan" if fast_scan else "IVFFlat")
    assert entry["count"] == n and entry["seed"] == retrieval.SEED and entry["nprobe"] >= 1
    ids = (tmp_path / "m" / artifacts.ITEM_INDEX).read_bytes()
    assert entry["itemIndexSha256"] == hashlib.sha256(ids).hexdigest()
    shipped = tmp_path / "m" / retrieval.INDEX_FILE
    assert manifest["files"][retrieval.INDEX_FILE]["sha256"] == hashlib.sha256(shipped.read_bytes()).hexdigest()

    monkeypatch.setattr(retrieval, "build_index", _no_build)  # reading the shipped index must not build one
    model = LoadedModel(tmp_path / "m", retrieval_min_items=n)
    assert model.retrieval is not None and not model.retrieval.built_at_load
    assert model.retrieval.first_k == (retrieval.FASTSCAN_K if fast_scan else retrieval.FIRST_K)

    item_ids = list(model.item_ids)
    index = ItemIndex(item_ids, metadata={i: {"CATEGORY": "a" if k % 4 == 0 else "b"} for k, i in enumerate(item_ids)})
    selective = bind_filter_values(parse_filter_expression('INCLUDE ItemID WHERE Items.CATEGORY IN ("b")'), {})
    rng = np.random.default_rng(11)
    hits = total = 0
    for length in (0, 1, 5, 20, 60):
        history = rng.choice(n, length, replace=True).tolist()
        live = [HistoryEntry(item_ids[i], "click", None, 2e9 + k, f"t{k}") for k, i in enumerate(history)]
        state = UserState(live[::-1], {}, frozenset(), {})
        past = answer.history(model, index, "stranger", state)
        for bound in (None, selective):
            kwargs: dict[str, Any] = {
                "user_id": "stranger",
                "item_id": None,
                "state": state,
                "bound": bound,
                "num_results": 25,
                "context": {},
                "exploration": None,
                "seed": "RID-1",
            }
            exact = answer.recommendations(model, index, base_scores=model.retrieval.exact(past), **kwargs)
            got = answer.recommendations(model, index, retrieval=model.retrieval, **kwargs)
            want = {r.index for r in exact}
            hits += len(want & {r.index for r in got})
            total += len(want)
    assert total > 0 and hits / total >= RECALL_GOAL


def test_below_the_threshold_no_index_is_shipped_nor_built(
    trained: TrainedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = trained.n_items
    manifest = _export(trained, tmp_path / "m", index_min_items=n + 1)
    assert manifest["retrieval"]["index"] is None
    assert not (tmp_path / "m" / retrieval.INDEX_FILE).exists()
    monkeypatch.setattr(retrieval, "build_index", _no_build)
    assert LoadedModel(tmp_path / "m", retrieval_min_items=n + 1).retrieval is None  # the full graph serves it


def test_the_export_is_deterministic(trained: TrainedModel, tmp_path: Path) -> None:
    first = _export(trained, tmp_path / "a", index_min_items=0)
    second = _export(trained, tmp_path / "b", index_min_items=0)
    assert first["retrieval"]["index"] == second["retrieval"]["index"]
    for name in (retrieval.INDEX_FILE, "retrieval_item_vectors.npy", "retrieval_item_bias.npy", artifacts.ITEM_INDEX):
        assert first["files"][name] == second["files"][name], name


def test_the_runtime_builds_at_load_only_without_a_usable_index(trained: TrainedModel, tmp_path: Path) -> None:
    n = trained.n_items
    _export(trained, tmp_path / "shipped", index_min_items=0)
    # An older model (exported before the index was shipped) above the runtime's threshold: built at load.
    older = tmp_path / "older"
    shutil.copytree(tmp_path / "shipped", older)
    manifest = json.loads((older / "manifest.json").read_text())
    manifest["retrieval"].pop("index")
    (older / "manifest.json").write_text(json.dumps(manifest))
    (older / retrieval.INDEX_FILE).unlink()
    loaded = LoadedModel(older, retrieval_min_items=n)
    assert loaded.retrieval is not None and loaded.retrieval.built_at_load
    # An index whose item order is not this directory's (ids are positions in item_index.json): not used.
    reordered = tmp_path / "reordered"
    shutil.copytree(tmp_path / "shipped", reordered)
    ids = json.loads((reordered / artifacts.ITEM_INDEX).read_text())
    (reordered / artifacts.ITEM_INDEX).write_text(json.dumps(ids[::-1]))
    loaded = LoadedModel(reordered, retrieval_min_items=n)
    assert loaded.retrieval is not None and loaded.retrieval.built_at_load
    shipped = LoadedModel(tmp_path / "shipped", retrieval_min_items=n)
    assert shipped.retrieval is not None and not shipped.retrieval.built_at_load


def test_the_trainers_threshold_is_a_setting() -> None:
    assert TrainerSettings.from_env({}).retrieval_min_items == retrieval.DEFAULT_MIN_ITEMS
    assert TrainerSettings.from_env({"TAILOR_TRAINER_RETRIEVAL_MIN_ITEMS": "5000"}).retrieval_min_items == 5000
    with pytest.raises(InvalidInputException):
        TrainerSettings.from_env({"TAILOR_TRAINER_RETRIEVAL_MIN_ITEMS": "-1"})


def test_the_trainer_builds_indexes_without_onnxruntime() -> None:
    # onnxruntime is only in the runtime's and batch's images (tests/contract/test_deploy_manifests.py): the
    # trainer's export imports the shared index builder, which must not import it.
    code = "import sys, tailor_trainer.server; assert 'onnxruntime' not in sys.modules, 'onnxruntime imported'"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120).returncode == 0
