"""Model directories: atomic export, manifest contents, ONNX parity (torch vs onnxruntime), report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tailor_shared.model_store import model_dir
from tailor_shared.resources import InMemoryResources, ResourceRecord
from tailor_trainer import artifacts
from tailor_trainer.domain import Interactions, ItemsTable, TrainedModel, train_solution_version
from tailor_trainer.jobs import TrainingJobs

ARN = "arn:aws:personalize:::recipe/"
Data = tuple[Interactions, ItemsTable]
SNAPSHOT = {"datasetGroupArn": "arn:aws:personalize:us-east-1:000000000000:dataset-group/g", "offsets": {"0": 42}}


@pytest.fixture(scope="module")
def up_model(synthetic_data: Data) -> TrainedModel:
    inter, items = synthetic_data
    return train_solution_version(
        ARN + "aws-user-personalization",
        inter,
        items,
        None,
        {"algorithmHyperParameters": {"hidden_dimension": "48", "bptt": "16"}},
        False,
        "FULL",
        None,
        None,
        0,
    )


def _sequences(model: TrainedModel, rng: np.random.Generator) -> np.ndarray:
    width, pad = model.sequence_length, model.n_items
    seq = np.full((6, width), pad, dtype=np.int64)
    for r, length in enumerate([0, 1, 3, width // 2, width - 1, width]):
        if length:
            seq[r, width - length :] = rng.choice(model.n_items, size=length, replace=False)
    return seq


def test_onnx_parity_with_torch(up_model: TrainedModel, tmp_path: Path) -> None:
    manifest = artifacts.export(up_model, tmp_path / "v1", SNAPSHOT)
    run = artifacts.load_for_parity(manifest.directory)
    seq = _sequences(up_model, np.random.default_rng(0))
    with torch.no_grad():
        expected = up_model.inference_module()(torch.from_numpy(seq)).numpy()
    got = run(seq)
    assert got.shape == (6, up_model.n_items)
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)
    # the batch axis is dynamic
    np.testing.assert_allclose(run(seq[:1]), expected[:1], atol=1e-4, rtol=0)
    # the exported scores are what the trainer evaluated
    scores = up_model.scorer()([s[s != up_model.n_items] for s in seq])
    np.testing.assert_allclose(scores, expected, atol=1e-5, rtol=0)


def test_manifest_describes_the_directory(up_model: TrainedModel, tmp_path: Path) -> None:
    manifest = artifacts.export(up_model, tmp_path / "model", SNAPSHOT)
    data = json.loads((tmp_path / "model" / "manifest.json").read_text())
    assert data == manifest.data
    assert data["format"] == "tailor-model" and data["formatVersion"] == 1
    assert data["recipeArn"] == ARN + "aws-user-personalization" and data["modelKind"] == "sequence"
    assert data["snapshot"] == SNAPSHOT
    assert data["onnx"]["inputs"][0] == {
        "name": "item_sequence",
        "dtype": "int64",
        "shape": ["batch", up_model.sequence_length],
    }
    assert data["onnx"]["padIndex"] == up_model.n_items and data["onnx"]["padding"] == "left"
    assert data["serving"]["exploration"]["defaults"] == {"explorationWeight": "0.3", "explorationItemAgeCutOff": "30"}
    assert data["serving"]["latestInteractionTimestamp"] == up_model.latest_interaction_timestamp
    assert set(data["metrics"]) == set(up_model.metrics)
    assert data["trainingHistory"] and data["hyperParameters"]["hidden_dimension"] == "48"
    ids = json.loads((tmp_path / "model" / data["items"]["index"]).read_text())
    assert ids == up_model.item_ids.tolist()
    for file, info in data["files"].items():
        assert (tmp_path / "model" / file).stat().st_size == info["bytes"]
    creation = np.load(tmp_path / "model" / data["arrays"]["itemCreationTimestamp"], allow_pickle=False)
    assert creation.dtype == np.int64 and len(creation) == up_model.n_items
    popular = np.load(tmp_path / "model" / data["arrays"]["popularItems"], allow_pickle=False)
    pop = up_model.item_popularity
    assert np.all(np.diff(pop[popular]) <= 0)
    report = (tmp_path / "model" / "report.md").read_text()
    assert "| normalized_discounted_cumulative_gain_at_10 |" in report and "aws-popularity-count" in report
    assert (tmp_path / "model" / "training.png").read_bytes()[:4] == b"\x89PNG"


def test_export_is_atomic_and_never_overwrites(
    up_model: TrainedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    artifacts.export(up_model, tmp_path / "a", SNAPSHOT)
    with pytest.raises(FileExistsError):
        artifacts.export(up_model, tmp_path / "a", SNAPSHOT)

    def boom(*_: object, **__: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(artifacts, "_export_onnx", boom)
    with pytest.raises(RuntimeError):
        artifacts.export(up_model, tmp_path / "b", SNAPSHOT)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]  # no partial directory, no temp left behind


def test_neighbour_popularity_and_trending_exports(synthetic_data: Data, tmp_path: Path) -> None:
    inter, items = synthetic_data
    for recipe in ("aws-sims", "aws-similar-items", "aws-popularity-count", "aws-trending-now"):
        model = train_solution_version(ARN + recipe, inter, items, None, {}, False, "FULL", None, None, 0)
        manifest = artifacts.export(model, tmp_path / recipe, SNAPSHOT)
        assert "onnx" not in manifest.data
        if recipe in ("aws-sims", "aws-similar-items"):
            nb = manifest.data["neighbours"]
            idx = np.load(tmp_path / recipe / nb["index"], allow_pickle=False)
            score = np.load(tmp_path / recipe / nb["score"], allow_pickle=False)
            assert idx.shape == score.shape and idx.shape[0] == model.n_items
            assert np.all((idx >= -1) & (idx < model.n_items))
            assert np.all(np.diff(score, axis=1) <= 1e-6)  # best first
        if recipe == "aws-trending-now":
            assert manifest.data["serving"]["trending"]["trendDiscoveryFrequencySeconds"] == 7200
        with pytest.raises(ValueError):
            artifacts.load_for_parity(tmp_path / recipe)


def test_update_after_a_trainer_restart_starts_from_the_stored_model(
    up_model: TrainedModel, synthetic_data: Data, tmp_path: Path
) -> None:
    """A fresh TrainingJobs (nothing in memory) finds the solution's newest ACTIVE version in the model store."""
    solution = "arn:aws:personalize:us-east-1:000000000000:solution/s"
    view = InMemoryResources()
    for name, status, created in (("old", "ACTIVE", 1.0), ("new", "ACTIVE", 2.0), ("failed", "CREATE FAILED", 3.0)):
        arn = f"{solution}/{name}"
        view.put(ResourceRecord(arn, "solutionVersion", {"status": status, "creationDateTime": created}, solution))
    store = tmp_path / "models"
    manifest = artifacts.export(up_model, model_dir(str(store), f"{solution}/new"), SNAPSHOT)
    assert manifest.data["trainerState"] == artifacts.TRAINER_STATE
    jobs = TrainingJobs(view, "127.0.0.1:1", "p", str(store), 0, lambda _update: None)
    previous = jobs._previous(solution, f"{solution}/next")
    assert previous is not None and previous.item_ids.tolist() == up_model.item_ids.tolist()
    seq = _sequences(up_model, np.random.default_rng(1))
    assert previous.seq_model is not None
    with torch.no_grad():
        np.testing.assert_allclose(
            previous.inference_module()(torch.from_numpy(seq)).numpy(),
            up_model.inference_module()(torch.from_numpy(seq)).numpy(),
            atol=1e-6,
        )
    inter, items = synthetic_data
    updated = train_solution_version(
        ARN + "aws-user-personalization", inter, items, None,
        {"algorithmHyperParameters": {"hidden_dimension": "48", "bptt": "16"}}, False, "UPDATE", previous, None, 0,
    )  # fmt: skip
    assert updated.training_mode == "UPDATE" and updated.n_items == up_model.n_items
    # nothing stored for another solution: UPDATE is refused by the domain, as before
    assert jobs._previous(f"{solution}-other", "x") is None


def test_update_never_starts_from_the_in_memory_model_of_a_deleted_version(
    up_model: TrainedModel, tmp_path: Path
) -> None:
    """A solution deleted and created again under its name (same ARN): the model this process trained for the
    deleted one's version is not where an UPDATE of the new one starts (ADR 0014)."""
    solution = "arn:aws:personalize:us-east-1:000000000000:solution/s"
    view = InMemoryResources()
    old = ResourceRecord(f"{solution}/old", "solutionVersion", {"status": "ACTIVE", "creationDateTime": 1.0}, solution)
    view.put(old)
    jobs = TrainingJobs(view, "127.0.0.1:1", "p", str(tmp_path / "models"), 0, lambda _update: None)
    jobs._latest[solution] = (old.arn, up_model)
    assert jobs._previous(solution, f"{solution}/next") is up_model
    view.delete(old.arn)  # DeleteSolution took the version with it
    assert jobs._previous(solution, f"{solution}/again") is None
    assert solution not in jobs._latest


def test_context_lift_is_exported_and_shifts_the_served_ranking(synthetic_data: Data, tmp_path: Path) -> None:
    """DEVICE context in the Interactions data: "tv" events are on even-numbered items. The trainer exports
    the lift tables; the runtime's model (onnxruntime, no torch) favours those items for a "tv" request."""
    from dataclasses import replace

    from tailor_shared.scoring.loader import LoadedModel

    inter, items = synthetic_data
    even = np.asarray([int(str(i)[1:]) % 2 == 0 for i in inter.item_id])
    device = np.where(even, "tv", "phone").astype(object)
    with_context = replace(inter, context={"DEVICE": device})
    model = train_solution_version(
        ARN + "aws-user-personalization-v2", with_context, items, None, {}, False, "FULL", None, None, 0
    )
    assert set(model.context["DEVICE"].values) == {"tv", "phone"}
    manifest = artifacts.export(model, tmp_path / "ctx", SNAPSHOT, report=False)
    assert manifest.data["context"]["DEVICE"]["lift"] == "context_0.npy"
    served = LoadedModel(manifest.directory)
    is_even = np.asarray([int(i[1:]) % 2 == 0 for i in served.item_ids])
    shift = served.context_shift({"device": "tv"})  # field names match case-insensitively
    assert shift is not None and shift[is_even].mean() > 0 > shift[~is_even].mean()
    assert served.context_shift({"DEVICE": "fridge"}) is None and served.context_shift({}) is None
    history = [served.item_ids.index(str(i)) for i in inter.item_id[:5]]
    logits = served.score_history(history)
    top_plain = np.argsort(-logits)[:20]
    top_tv = np.argsort(-(logits + shift))[:20]
    assert is_even[top_tv].sum() > is_even[top_plain].sum()
