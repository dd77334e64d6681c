"""Fixtures for the trainer tests: a synthetic catalogue with real structure, MovieLens 100k, fast settings.

The synthetic data has latent tastes (each user prefers a few categories), categorical and numeric item
metadata, a Zipf popularity skew, sessions (a user tends to stay in a category for a few items, so order
carries signal), two event types with values, and many same-second timestamps.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from tailor_trainer.domain import train as train_module
from tailor_trainer.domain.data import Interactions, ItemsTable

REPO_ROOT = Path(__file__).resolve().parents[3]


def datasets_dir() -> Path:
    return Path(os.environ.get("TAILOR_DATASETS_DIR", REPO_ROOT.parent / "shared" / "datasets"))


def synthetic(
    n_users: int = 300, n_items: int = 400, n_categories: int = 8, mean_length: int = 30, seed: int = 0
) -> tuple[Interactions, ItemsTable]:
    rng = np.random.default_rng(seed)
    category = rng.integers(0, n_categories, n_items)
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    rng.shuffle(popularity)
    price = np.round(rng.lognormal(3.0, 0.5, n_items), 2)
    users, items, times, types, values = [], [], [], [], []
    t0 = 1_600_000_000
    for u in range(n_users):
        taste = rng.dirichlet(np.full(n_categories, 0.3))
        length = max(2, int(rng.poisson(mean_length)))
        t = t0 + int(rng.integers(0, 86400 * 30))
        cat = int(rng.choice(n_categories, p=taste))
        seen: set[int] = set()
        for _ in range(length):
            if rng.random() < 0.3:
                cat = int(rng.choice(n_categories, p=taste))
            pool = np.flatnonzero((category == cat) & ~np.isin(np.arange(n_items), list(seen)))
            if len(pool) == 0:
                break
            p = popularity[pool] / popularity[pool].sum()
            item = int(rng.choice(pool, p=p))
            seen.add(item)
            users.append(f"u{u}")
            items.append(f"i{item}")
            t += int(rng.choice([0, 0, 1, 60, 3600]))
            times.append(t)
            purchase = rng.random() < 0.2
            types.append("purchase" if purchase else "click")
            values.append(float(rng.integers(1, 6)))
    inter = Interactions(
        np.asarray(users, dtype=object),
        np.asarray(items, dtype=object),
        np.asarray(times, dtype=np.int64),
        np.asarray(types, dtype=object),
        np.asarray(values, dtype=np.float64),
    )
    genre_names = np.asarray([f"cat{c}" for c in category], dtype=object)
    table = ItemsTable(
        np.asarray([f"i{i}" for i in range(n_items)], dtype=object),
        {"GENRES": genre_names, "PRICE": price},
        frozenset({"GENRES"}),
        np.full(n_items, t0, dtype=np.int64),
    )
    return inter, table


def load_ml100k() -> tuple[Interactions, ItemsTable]:
    """MovieLens 100k, read in place from the shared datasets folder (never copied into the repository)."""
    base = datasets_dir() / "ml-100k"
    raw = np.loadtxt(base / "u.data", dtype=np.int64)
    inter = Interactions(
        raw[:, 0].astype(str).astype(object),
        raw[:, 1].astype(str).astype(object),
        raw[:, 3],
        None,
        raw[:, 2].astype(np.float64),
    )
    genres = (base / "u.genre").read_text(encoding="latin-1").split("\n")
    names = [g.split("|")[0] for g in genres if "|" in g]
    ids, values = [], []
    for line in (base / "u.item").read_text(encoding="latin-1").splitlines():
        parts = line.split("|")
        ids.append(parts[0])
        values.append("|".join(n for n, flag in zip(names, parts[5:24], strict=False) if flag == "1"))
    items = ItemsTable(
        np.asarray(ids, dtype=object), {"GENRES": np.asarray(values, dtype=object)}, frozenset({"GENRES"}), None
    )
    return inter, items


@pytest.fixture(scope="session")
def synthetic_data() -> tuple[Interactions, ItemsTable]:
    return synthetic()


@pytest.fixture(scope="session")
def small_synthetic_data() -> tuple[Interactions, ItemsTable]:
    """Half the users and items, for tests that train several models."""
    return synthetic(n_users=150, n_items=200)


@pytest.fixture(scope="session")
def ml100k() -> tuple[Interactions, ItemsTable]:
    path = datasets_dir() / "ml-100k" / "u.data"
    if not path.exists():
        pytest.fail(f"MovieLens 100k not found at {path} (set TAILOR_DATASETS_DIR)")
    return load_ml100k()


@pytest.fixture(autouse=True)
def fast_training(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Few epochs and a small transformer, so the whole module stays within the CI budget on 2 cores."""
    torch.set_num_threads(2)
    monkeypatch.setattr(train_module, "V2_CONFIG", replace(train_module.V2_CONFIG, max_epochs=3, hidden=32, patience=2))
    yield
