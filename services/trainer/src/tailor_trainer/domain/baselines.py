"""Non-sequential reference models: most-popular, item-kNN (cosine), EASE and iALS.

They are the yardsticks of the evaluation report and the benchmark, and EASE's item-item matrix is also the
linear half of the user-personalization hybrid (``sequential.py``). All take the user's history as a set.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import torch

from tailor_trainer.domain.data import FloatArray, IntArray, PreparedData
from tailor_trainer.domain.evaluation import Scorer

#: EASE is dense n x n: above this many items the linear component keeps only the most popular ones.
MAX_DENSE_ITEMS: Final = 20000


def multi_hot(inputs: Sequence[IntArray], n_items: int) -> FloatArray:
    x = np.zeros((len(inputs), n_items), dtype=np.float32)
    for r, seq in enumerate(inputs):
        x[r, seq] = 1.0
    return x


def gram(data: PreparedData, items: IntArray | None = None, chunk: int = 2048) -> npt.NDArray[np.float64]:
    """X^T X of the binary user-item matrix (restricted to ``items`` when given), built user-chunk by chunk."""
    n = data.n_items if items is None else len(items)
    col = np.arange(data.n_items) if items is None else np.full(data.n_items, -1, dtype=np.int64)
    if items is not None:
        col[items] = np.arange(len(items))
    g = torch.zeros((n, n), dtype=torch.float64)
    for start in range(0, data.n_users, chunk):
        stop = min(start + chunk, data.n_users)
        rows = np.arange(data.user_ptr[start], data.user_ptr[stop])
        c = col[data.item[rows]]
        ok = c >= 0
        x = torch.zeros((stop - start, n), dtype=torch.float32)
        x[torch.from_numpy(data.user[rows][ok] - start), torch.from_numpy(c[ok])] = 1.0
        g += (x.T @ x).double()
    return g.numpy()


def popularity_scorer(data: PreparedData) -> tuple[Scorer, FloatArray]:
    pop = data.unique_user_counts().astype(np.float32)

    def score(inputs: Sequence[IntArray]) -> FloatArray:
        return np.broadcast_to(pop, (len(inputs), len(pop))).copy()

    return score, pop


def ease_matrix(data: PreparedData, l2: float, items: IntArray | None = None) -> FloatArray:
    """EASE (Steck 2019): B = I - P diagMat(1/diag(P)), P = (X^T X + l2 I)^-1, with a zero diagonal."""
    return ease_from_gram(gram(data, items), l2)


def ease_from_gram(gram_matrix: npt.NDArray[np.float64], l2: float) -> FloatArray:
    g = torch.from_numpy(gram_matrix).float()
    g += l2 * torch.eye(g.shape[0], dtype=torch.float32)
    # Cholesky in float32 is ~7x faster than a float64 inverse on 2 cores (10 s for 10k items) and accurate
    # to ~1e-8 here, since l2 keeps the matrix well conditioned.
    p = torch.cholesky_inverse(torch.linalg.cholesky(g))
    b = -p / torch.diagonal(p)[None, :]
    b.fill_diagonal_(0.0)
    return b.numpy()


def ease_scorer(data: PreparedData, l2: float, gram_matrix: npt.NDArray[np.float64] | None = None) -> Scorer:
    """EASE on the user's history as a set; pass ``gram_matrix`` to reuse X^T X across several l2 values."""
    b = torch.from_numpy(ease_from_gram(gram(data) if gram_matrix is None else gram_matrix, l2))

    def score(inputs: Sequence[IntArray]) -> FloatArray:
        return (torch.from_numpy(multi_hot(inputs, data.n_items)) @ b).numpy()

    return score


def item_knn_scorer(data: PreparedData, neighbours: int = 100, shrink: float = 10.0) -> Scorer:
    """Item-based kNN: cosine similarity of item columns (with shrinkage), top ``neighbours`` per item."""
    g = torch.from_numpy(gram(data)).float()
    norms = torch.sqrt(torch.diagonal(g))
    sim = g / (norms[:, None] * norms[None, :] + shrink)
    sim.fill_diagonal_(0.0)
    k = min(neighbours, sim.shape[0] - 1)
    if k > 0:
        vals, idx = torch.topk(sim, k, dim=1)
        sparse = torch.zeros_like(sim)
        sparse.scatter_(1, idx, vals)
        sim = sparse

    def score(inputs: Sequence[IntArray]) -> FloatArray:
        return (torch.from_numpy(multi_hot(inputs, data.n_items)) @ sim).numpy()

    return score


def ials_rows(fixed: torch.Tensor, lists: Sequence[IntArray], l2: float, alpha: float) -> torch.Tensor:
    """iALS's half-step: for each row, the exact least-squares factors against the ``fixed`` side's factors F,
    x = (F^T F + l2 I + alpha F_S^T F_S)^-1 (1 + alpha) F_S^T 1, where S are the row's observed columns.

    A row observing fewer columns than there are factors (most items, on MovieLens-sized data) is solved through
    the push-through identity, x = (1 + alpha) / alpha * G^-1 F_S^T (I / alpha + F_S G^-1 F_S^T)^-1 1 with
    G = F^T F + l2 I inverted once per half-step and F G^-1 formed once for every row: |S| x |S| systems instead of
    factors x factors, the same solution. That is what lets the benchmark's tuning climb reach 512 factors and more
    on ml-latest-small's 9,700 items.
    """
    factors = fixed.shape[1]
    eye = torch.eye(factors, dtype=fixed.dtype)
    gram_all = fixed.T @ fixed + l2 * eye
    projected: torch.Tensor | None = None  # F G^-1, every row's, once: a row's h is then a gather
    if alpha > 0 and any(0 < len(idx) < factors for idx in lists):
        projected = fixed @ torch.cholesky_inverse(torch.linalg.cholesky(gram_all))
    out = torch.zeros((len(lists), factors), dtype=fixed.dtype)
    for r, idx in enumerate(lists):
        n = len(idx)
        if n == 0:
            continue
        rows = torch.from_numpy(idx)
        f = fixed[rows]
        if projected is not None and n < factors:
            h = projected[rows]
            inner = h @ f.T + torch.eye(n, dtype=fixed.dtype) / alpha
            y = torch.linalg.solve(inner, torch.ones(n, dtype=fixed.dtype))
            out[r] = (1.0 + alpha) / alpha * (h.T @ y)
        else:
            out[r] = torch.linalg.solve(gram_all + alpha * (f.T @ f), (1.0 + alpha) * f.sum(dim=0))
    return out


def ials_scorer(
    data: PreparedData, factors: int = 64, l2: float = 0.1, alpha: float = 10.0, epochs: int = 10, seed: int = 0
) -> Scorer:
    """Implicit ALS (Hu, Koren, Volinsky 2008) with confidence 1 + alpha on observed pairs, exact solves.

    A new user is folded in with one least-squares step against the fixed item factors, which is also how
    the test users' input histories are scored.
    """
    gen = torch.Generator().manual_seed(seed)
    n_u, n_i = data.n_users, data.n_items
    pairs = np.unique(data.user * np.int64(n_i) + data.item)
    pu, pi = pairs // n_i, pairs % n_i
    user_items = [pi[np.searchsorted(pu, u) : np.searchsorted(pu, u, side="right")] for u in range(n_u)]
    order = np.argsort(pi, kind="stable")
    item_users_flat, item_ptr = pu[order], np.searchsorted(pi[order], np.arange(n_i + 1))
    item_users = [item_users_flat[item_ptr[i] : item_ptr[i + 1]] for i in range(n_i)]
    U = torch.randn((n_u, factors), generator=gen, dtype=torch.float64) * 0.01
    V = torch.randn((n_i, factors), generator=gen, dtype=torch.float64) * 0.01

    for _ in range(epochs):
        U = ials_rows(V, user_items, l2, alpha)
        V = ials_rows(U, item_users, l2, alpha)
    Vf = V

    def score(inputs: Sequence[IntArray]) -> FloatArray:
        users = ials_rows(Vf, [np.unique(x) for x in inputs], l2, alpha)
        return (users @ Vf.T).float().numpy()

    return score


def ladder_search(
    ladders: Mapping[str, Sequence[Any]],
    starts: Sequence[Mapping[str, int]],
    score: Callable[[dict[str, Any]], float],
) -> tuple[dict[str, Any], float, list[str]]:
    """Tune settings by hill-climbing on ordered value ladders (one per setting), from the best of ``starts``
    (rung indices; several starts, e.g. a coarse grid, guard against a poor local optimum).

    Each round scores every one-step neighbour of the current point (one setting moved one rung) and moves to
    the best if it beats the current score; it stops when none does. So, unlike a fixed grid, the chosen value
    of every setting has both its neighbours scored — it is inside what was searched — unless it sits at an end
    of its ladder, and those settings are returned (the ladder should be extended). Points are scored once.
    Returns the chosen settings, their score and the settings chosen at a ladder's end.
    """
    names = list(ladders)
    seen: dict[tuple[int, ...], float] = {}

    def value(point: tuple[int, ...]) -> float:
        if point not in seen:
            seen[point] = score({n: ladders[n][k] for n, k in zip(names, point, strict=True)})
        return seen[point]

    here = max((tuple(start[n] for n in names) for start in starts), key=value)
    while True:
        steps = [
            (*here[:d], here[d] + move, *here[d + 1 :])
            for d, n in enumerate(names)
            for move in (-1, 1)
            if 0 <= here[d] + move < len(ladders[n])
        ]
        best = max(steps, key=value, default=here)
        if value(best) <= value(here):
            break
        here = best
    at_end = [n for n, k in zip(names, here, strict=True) if len(ladders[n]) > 1 and k in (0, len(ladders[n]) - 1)]
    return {n: ladders[n][k] for n, k in zip(names, here, strict=True)}, value(here), at_end
