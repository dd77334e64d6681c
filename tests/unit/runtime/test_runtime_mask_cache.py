"""Retrieval's per-mask cache (ADR 0019 §11): a filter's catalogue-level mask is one read-only array per filter and
catalogue (``filtering.filter_parts``), its structures are built once and evicted by bytes, and a mask's
sub-index (the main index's codebooks, only the allowed items; its cells, or for a spread mask cells of its own)
finds the allowed items' best."""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import numpy as np
import pytest

from tailor_shared.filters import bind_filter_values, parse_filter_expression
from tailor_shared.scoring import retrieval
from tailor_shared.scoring.filtering import FilterInputs, ItemIndex, filter_mask, filter_parts
from tailor_shared.scoring.retrieval import MaskCache, Restricted, build_index, item_matrix, sub_index

N = 400


def _index() -> ItemIndex:
    ids = [f"i{n}" for n in range(N)]
    meta = {i: {"CATEGORY": "abcd"[n % 4], "PRICE": str(n % 50)} for n, i in enumerate(ids)}
    return ItemIndex(ids, metadata=meta)


def _bound(expression: str, values: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return bind_filter_values(parse_filter_expression(expression), values or {})


@pytest.mark.parametrize(
    "expression",
    [
        'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase") | INCLUDE ItemID WHERE Items.CATEGORY IN ("a")',
        'INCLUDE ItemID WHERE Items.CATEGORY IN ("a") AND Items.PRICE < 10',
        'INCLUDE ItemID WHERE Items.CATEGORY IN ("a") | INCLUDE ItemID WHERE Items.CATEGORY IN ("b")'
        ' | EXCLUDE ItemID WHERE Items.PRICE > 40 | EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")',
        'EXCLUDE ItemID WHERE Items.CATEGORY IN ("c")',
    ],
)
def test_filter_parts_equal_the_filters_mask_with_one_array_per_filter(expression: str) -> None:
    index = _index()
    bound = _bound(expression)
    masks = []
    for user, bought in (("u1", ["i0", "i4", "i9"]), ("u2", ["i8", "nope"])):
        inputs = FilterInputs(None, {"purchase": bought, "view": ["i1"]})
        parts = filter_parts(bound, index, inputs)
        assert parts is not None, user
        base, excluded = parts
        got = base.copy()
        got[excluded] = False
        assert np.array_equal(got, filter_mask(bound, index, inputs))
        assert not base.flags.writeable
        masks.append(base)
    assert masks[0] is masks[1]  # the cache key: the same array for every user of the filter


@pytest.mark.parametrize(
    "expression",
    [
        'INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")',  # adds the user's items
        'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")',  # nothing catalogue-level: base None
        'INCLUDE ItemID WHERE Items.CATEGORY IN ("a") | EXCLUDE ItemID WHERE Interactions.EVENT_TYPE NOT IN ("view")',
        "INCLUDE ItemID WHERE Items.CATEGORY IN (CurrentItem.CATEGORY)",
    ],
)
def test_filters_of_another_form_have_no_parts(expression: str) -> None:
    assert filter_parts(_bound(expression), _index(), FilterInputs(None, {"purchase": ["i1"]})) is None


def _entry(base: np.ndarray, nbytes: int) -> Restricted:
    return Restricted(base, np.flatnonzero(base), None, 1.0, nbytes)


def test_the_cache_builds_once_per_array_and_evicts_the_least_recently_used_by_bytes() -> None:
    cache = MaskCache(max_bytes=250)
    masks = [np.zeros(N, dtype=bool) for _ in range(4)]
    built: list[int] = []

    def build(base: np.ndarray) -> Restricted:
        built.append(id(base))
        return _entry(base, 100)

    a, b, c, big = masks
    assert cache.get(a, build).base is a
    assert cache.get(a, build).base is a and cache.builds == 1
    cache.get(b, build)
    cache.get(a, build)  # a is now the most recently used
    cache.get(c, build)  # 300 bytes > 250: b goes
    assert cache.bytes == 200 and cache.builds == 3
    cache.get(a, build)
    assert cache.builds == 3
    cache.get(b, build)
    assert cache.builds == 4  # rebuilt
    assert cache.get(big.copy(), lambda base: _entry(base, 1000)).nbytes == 1000  # served, not kept
    assert cache.bytes <= 250
    equal = a.copy()  # equal content, another array: another key (masks are keyed by identity)
    cache.get(equal, build)
    assert cache.builds == 6


def test_concurrent_first_uses_of_one_mask_build_it_once() -> None:
    cache = MaskCache(max_bytes=10**6)
    base = np.ones(N, dtype=bool)
    calls: list[int] = []

    def build(mask: np.ndarray) -> Restricted:
        calls.append(1)
        time.sleep(0.05)
        return _entry(mask, 10)

    got: list[Restricted] = []
    threads = [threading.Thread(target=lambda: got.append(cache.get(base, build))) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(got) == 6 and all(g is got[0] for g in got)


def _clustered(n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Item rows in 12 clusters: the rows, each item's cluster and the cluster centres."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(12, d)).astype(np.float32) * 3
    group = rng.integers(0, 12, n)
    rows = item_matrix(
        centres[group] + rng.normal(size=(n, d)).astype(np.float32), rng.normal(size=n).astype(np.float32)
    )
    return rows, group, centres


def _best_found(sub: Any, items: np.ndarray, allowed: np.ndarray, taste: np.ndarray, width: int) -> int:
    """How many of the 10 best allowed items for a user of ``taste`` the sub-index's 100 best hold."""
    query = np.zeros(width, dtype=np.float32)
    query[: taste.size] = taste
    query[taste.size] = 1.0
    found = sub.search(query[None, :], 100)[1][0]
    assert found.size == 100 and np.isin(found, allowed).all()
    exact = allowed[np.argsort(-(items[allowed] @ query[: taste.size + 1]))[:10]]
    return len(set(exact.tolist()) & set(found.tolist()))


def test_a_sub_index_of_clustered_allowed_items_finds_their_best(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retrieval, "FASTSCAN_MIN_ITEMS", 0)
    items, group, centres = _clustered(6000, 15, 4)
    main, params = build_index(items)
    assert params["type"] == "IVFPQFastScan"
    allowed = np.flatnonzero(group < 2).astype(np.int64)  # two clusters: most cells hold no allowed item
    sub, share = sub_index(main, items, allowed, params["padding"])
    assert sub.ntotal == allowed.size and sub.nlist < main.nlist and retrieval.CLUSTERED_MIN_DENSITY <= share <= 1
    assert _best_found(sub, items, allowed, centres[7], main.d) >= 9  # a user whose taste is elsewhere


def test_a_spread_mask_gets_cells_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    # A tenth of the items, spread over every cell (the newest items): the main index's cells would hold ~1/10
    # allowed items each; its own cells hold as many as an index of its size (ADR 0019 §13).
    monkeypatch.setattr(retrieval, "FASTSCAN_MIN_ITEMS", 0)
    items, _, centres = _clustered(20_000, 15, 5)
    main, params = build_index(items)
    allowed = np.sort(np.random.default_rng(6).choice(items.shape[0], 2000, replace=False)).astype(np.int64)
    sub, share = sub_index(main, items, allowed, params["padding"])
    assert share < retrieval.CLUSTERED_MIN_DENSITY
    assert sub.ntotal == allowed.size and sub.nlist == int(math.sqrt(allowed.size) * retrieval.CELLS_PER_SQRT)
    assert sub.nprobe == min(sub.nlist, main.nprobe) < sub.nlist  # not an exhaustive search
    assert _best_found(sub, items, allowed, centres[3], main.d) >= 9


def test_the_cache_size_is_a_runtime_setting() -> None:
    from tailor_runtime.config import RuntimeSettings

    assert RuntimeSettings.from_env({}).retrieval_mask_cache_bytes == retrieval.MASK_CACHE_BYTES
    env = {"TAILOR_RUNTIME_RETRIEVAL_MASK_CACHE_BYTES": "1234"}
    assert RuntimeSettings.from_env(env).retrieval_mask_cache_bytes == 1234
