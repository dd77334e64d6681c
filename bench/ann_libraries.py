"""Which approximate-nearest-neighbour library serves candidate retrieval (ADR 0019): faiss IVF-Flat, usearch
HNSW and hnswlib HNSW on the same vectors — build time, recall@25 after exact rescoring of 200 candidates, and
query time — single-threaded.

The vectors imitate a trained model's item table with its bias folded in (``[v_i, b_i]``, d = 65): clustered
(n / 100 centres), queries near a centre, as user vectors are near the items they like. usearch and hnswlib
are not project dependencies:

    uv run --with usearch --with hnswlib python bench/ann_libraries.py --items 200000
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

K = 25
CANDIDATES = 200
Ids = npt.NDArray[np.int64]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=100)
    args = parser.parse_args()
    n, d = args.items, 64
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(max(1, n // 100), d)).astype(np.float32)
    x = centres[rng.integers(0, len(centres), n)] * 0.6 + rng.normal(size=(n, d)).astype(np.float32) * 0.3
    items = np.hstack([x, rng.normal(size=(n, 1)).astype(np.float32) * 0.5]).astype(np.float32)
    q = centres[rng.integers(0, len(centres), args.queries)] * 0.8 + rng.normal(size=(args.queries, d)) * 0.3
    queries = np.hstack([q, np.ones((args.queries, 1))]).astype(np.float32)
    exact = np.argsort(-(items @ queries.T), axis=0)[:K].T
    print(f"{n:,} items, d = {d + 1}, {args.queries} queries", flush=True)

    def measure(name: str, build_s: float, search: Callable[[npt.NDArray[np.float32]], Ids]) -> None:
        hits, times = 0, []
        for i, query in enumerate(queries):
            started = time.perf_counter()
            cand = search(query)
            cand = cand[cand >= 0]
            top = cand[np.argsort(-(items[cand] @ query))[:K]]
            times.append(time.perf_counter() - started)
            hits += len(set(top.tolist()) & set(exact[i].tolist()))
        print(
            f"{name:34s} build {build_s:7.1f} s  recall@25 {hits / (K * len(queries)):.4f}  "
            f"query p50 {np.median(times) * 1e3:.3f} ms  p99 {np.percentile(times, 99) * 1e3:.3f} ms",
            flush=True,
        )

    import faiss

    faiss.omp_set_num_threads(1)
    started = time.perf_counter()
    cells = int(np.sqrt(n))
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(d + 1), d + 1, cells, faiss.METRIC_INNER_PRODUCT)
    ivf.cp.niter = 10
    ivf.train(items[rng.choice(n, min(n, 40 * cells), replace=False)])
    ivf.add(items)
    build = time.perf_counter() - started
    for nprobe in (8, 16, 32):
        ivf.nprobe = nprobe
        measure(f"faiss IVF{cells},Flat nprobe {nprobe}", build, lambda v: ivf.search(v[None, :], CANDIDATES)[1][0])

    import usearch.index  # type: ignore[import-not-found]  # not a project dependency (see above)

    started = time.perf_counter()
    us = usearch.index.Index(ndim=d + 1, metric="ip", dtype="f32", connectivity=16, expansion_add=128)
    us.add(np.arange(n), items, threads=1)
    build = time.perf_counter() - started
    for ef in (64, 128):
        us.expansion_search = ef
        measure(f"usearch HNSW M16 ef {ef}", build, lambda v: np.asarray(us.search(v, CANDIDATES).keys, np.int64))

    import hnswlib  # type: ignore[import-not-found,import-untyped,unused-ignore]  # not a dependency either

    started = time.perf_counter()
    hn = hnswlib.Index(space="ip", dim=d + 1)
    hn.init_index(max_elements=n, M=16, ef_construction=128)
    hn.set_num_threads(1)
    hn.add_items(items)
    build = time.perf_counter() - started
    for ef in (64, 256):
        hn.set_ef(ef)
        measure(f"hnswlib HNSW M16 ef {ef}", build, lambda v: np.asarray(hn.knn_query(v[None, :], CANDIDATES)[0][0]))


if __name__ == "__main__":
    main()
