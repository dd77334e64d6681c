"""The model store's account folders (ADR 0028 §6): a store written before them is moved into them by the
trainer at start-up, read where it is until then, and the janitor lists both layouts."""

from __future__ import annotations

from pathlib import Path

from tailor_shared import incarnation, model_store, orphans
from tailor_shared.model_store import ModelStore, migrate_to_accounts
from tailor_shared.resources import InMemoryResources, ResourceRecord
from tailor_trainer.janitor import list_store

ACCOUNT = "arn:aws:personalize:us-east-1:111111111111"
D1, D2 = "deadbeef", "0badf00d"
VERSION = ResourceRecord(f"{ACCOUNT}:solution/up/v1", "solutionVersion", {incarnation.FIELD: D1})
RECOMMENDER = ResourceRecord(f"{ACCOUNT}:recommender/for-you", "recommender", {incarnation.FIELD: D2})


def _model(directory: Path, marker: str) -> Path:
    directory.mkdir(parents=True)
    (directory / model_store.MANIFEST).write_text(marker)
    return directory


def _legacy_store(store: Path) -> None:
    """A store as the trainer wrote it before account folders: a live version with an update, a live
    recommender, and a deleted version."""
    _model(store / "up" / f"v1.{D1}", "version")
    _model(store / "up" / f"v1.{D1}" / "_updates" / "gen1", "update")
    _model(store / "_recommenders" / f"for-you.{D2}" / "g1", "recommender")
    _model(store / "up" / f"v0.{D1}", "deleted")


def test_the_trainer_moves_a_store_written_before_account_folders(tmp_path: Path) -> None:
    _legacy_store(tmp_path)
    models = ModelStore(tmp_path)
    live = orphans.live_model_dirs(tmp_path, InMemoryResources([VERSION, RECOMMENDER]))
    version_dir = model_store.version_model_dir(tmp_path, VERSION)
    assert version_dir == tmp_path / "_accounts" / "111111111111" / "up" / f"v1.{D1}"
    assert migrate_to_accounts(models, live) == sorted(live)
    assert (version_dir / model_store.MANIFEST).read_text() == "version"
    assert (model_store.campaign_update_dir(tmp_path, VERSION, "gen1") / model_store.MANIFEST).is_file()
    recommender = model_store.recommender_model_dir(tmp_path, RECOMMENDER.arn, "g1", D2)
    assert (recommender / model_store.MANIFEST).read_text() == "recommender"
    assert not (tmp_path / "up" / f"v1.{D1}").exists() and not (tmp_path / "_recommenders" / f"for-you.{D2}").exists()
    assert (tmp_path / "up" / f"v0.{D1}").is_dir()  # a deleted version's: left for the janitor
    assert migrate_to_accounts(models, live) == []  # once moved, nothing to do


def test_a_model_not_moved_yet_is_read_where_it_is(tmp_path: Path) -> None:
    _legacy_store(tmp_path)
    models = ModelStore(tmp_path)
    version_dir = model_store.version_model_dir(tmp_path, VERSION)
    assert models.fetch(version_dir) == tmp_path / "up" / f"v1.{D1}"
    update = model_store.campaign_update_dir(tmp_path, VERSION, "gen1")
    assert models.fetch(update) == tmp_path / "up" / f"v1.{D1}" / "_updates" / "gen1"
    _model(version_dir, "moved")
    assert models.fetch(version_dir) == version_dir  # the account folder's copy wins once it is there
    assert models.fetch(tmp_path / "elsewhere") == tmp_path / "elsewhere"  # outside the layout: as given


def test_the_janitor_lists_both_layouts(tmp_path: Path) -> None:
    _legacy_store(tmp_path)
    _model(model_store.version_model_dir(tmp_path, VERSION), "version")
    other = tmp_path / "_accounts" / "222222222222" / "_recommenders" / f"for-you.{D2}"
    _model(other / "g1", "another account's")
    (tmp_path / "_accounts" / "not-an-account" / "x" / "y").mkdir(parents=True)
    entries = {(e.path.relative_to(tmp_path).as_posix(), e.kind) for e in list_store(tmp_path)}
    assert entries == {
        (f"up/v1.{D1}", "version"),
        (f"up/v0.{D1}", "version"),
        (f"_recommenders/for-you.{D2}", "recommender"),
        (f"_accounts/111111111111/up/v1.{D1}", "version"),
        (f"_accounts/222222222222/_recommenders/for-you.{D2}", "recommender"),
    }
