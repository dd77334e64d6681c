"""RELATED_ITEMS and POPULAR_ITEMS models: SIMS, Similar-Items, Popularity-Count (all pure numpy/torch).

Related-items recipes are served from a neighbour table (top-K similar items per item) rather than a graph:
a request is "item id -> list", so a lookup is all the runtime needs (docs/specs/model-artifact.md).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import torch

from tailor_trainer.domain.data import FloatArray, IntArray, PreparedData, history_length_filter
from tailor_trainer.domain.evaluation import Scorer

NEIGHBOURS: Final = 200  # K of the exported table; the runtime fills shorter lists with popular items
COLD_ITEM_INTERACTIONS: Final = 5  # Similar-Items: "fewer than five interactions" is cold (L6617)


@dataclass(frozen=True)
class NeighbourTable:
    """idx[i, :] = most similar items to i, best first (-1 = none); score[i, :] their similarities."""

    idx: IntArray
    score: FloatArray

    def scorer(self, popularity: FloatArray) -> Scorer:
        """Score for a user request: neighbours of the most recent item, then popular items (L6672)."""
        n = len(popularity)
        pop = popularity / (popularity.max() + 1.0)

        def score(inputs: Sequence[IntArray]) -> FloatArray:
            out = np.broadcast_to(pop, (len(inputs), n)).astype(np.float32)
            for r, seq in enumerate(inputs):
                if len(seq) == 0:
                    continue
                row = self.idx[seq[-1]]
                ok = row >= 0
                k = int(ok.sum())
                out[r, row[ok]] = 2.0 + np.arange(k, 0, -1, dtype=np.float32)
            return out

        return score


def _user_item_sparse(data: PreparedData, keep_items: IntArray | None) -> torch.Tensor:
    pairs = np.unique(data.user * np.int64(data.n_items) + data.item)
    u, i = pairs // data.n_items, pairs % data.n_items
    if keep_items is not None:
        mask = np.zeros(data.n_items, dtype=bool)
        mask[keep_items] = True
        u, i = u[mask[i]], i[mask[i]]
    indices = torch.from_numpy(np.stack([u, i]))
    shape = (data.n_users, data.n_items)
    return torch.sparse_coo_tensor(indices, torch.ones(len(u)), shape, check_invariants=True).coalesce()


def cooccurrence_blocks(x: torch.Tensor, block: int = 1024) -> Iterator[tuple[int, torch.Tensor]]:
    """Rows of C = X^T X (co-interacting users per item pair) in dense blocks, via sparse products."""
    xt = x.t().coalesce()
    n = x.shape[1]
    for start in range(0, n, block):
        stop = min(start + block, n)
        sel = torch.arange(start, stop)
        rows = xt.index_select(0, sel)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "sparse CSR support is in beta": the product is exact here
            block_c = torch.sparse.mm(rows, x).to_dense()
        yield start, block_c


def _top_k(sim: torch.Tensor, start: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    rows = torch.arange(sim.shape[0])
    sim[rows, rows + start] = -torch.inf  # never an item's own neighbour
    vals, idx = torch.topk(sim, min(k, sim.shape[1]), dim=1)
    idx = torch.where(torch.isfinite(vals) & (vals > 0), idx, torch.full_like(idx, -1))
    vals = torch.where(idx >= 0, vals, torch.zeros_like(vals))
    return idx, vals


def item_count_filter(data: PreparedData, low: float, high: float) -> IntArray:
    """Items kept by the item-interaction-count percentiles (SIMS featurization, L6720)."""
    counts = data.item_counts()
    present = counts > 0
    if not present.any():
        return np.zeros(0, dtype=np.int64)
    c = counts[present]
    lo = np.quantile(c, low) if low > 0 else -np.inf
    hi = np.quantile(c, high) if high < 1 else np.inf
    return np.flatnonzero(present & (counts >= lo) & (counts <= hi)).astype(np.int64)


def fit_sims(
    data: PreparedData,
    popularity_discount_factor: float = 0.5,
    min_cointeraction_count: int = 3,
    min_user_history_length_percentile: float = 0.005,
    max_user_history_length_percentile: float = 0.995,
    min_item_interaction_count_percentile: float = 0.01,
    max_item_interaction_count_percentile: float = 0.9,
    neighbours: int = NEIGHBOURS,
) -> NeighbourTable:
    """SIMS: item-to-item co-occurrence in user histories (L6666).

    similarity(i, j) = c_ij / (n_i * n_j) ** popularity_discount_factor, where c_ij counts users who interacted
    with both and n_i users who interacted with i; pairs with c_ij < min_cointeraction_count get none.
    0 keeps raw co-occurrence (popular items win), 0.5 is cosine, 1 is lift-like (popularity discounted).
    """
    data = history_length_filter(data, min_user_history_length_percentile, max_user_history_length_percentile)
    keep = item_count_filter(data, min_item_interaction_count_percentile, max_item_interaction_count_percentile)
    x = _user_item_sparse(data, keep)
    n_users_per_item = torch.zeros(data.n_items)
    n_users_per_item.index_add_(0, x.indices()[1], x.values())
    discount = torch.where(n_users_per_item > 0, n_users_per_item, torch.ones(1)) ** popularity_discount_factor
    k = min(neighbours, max(data.n_items - 1, 1))
    idx = np.full((data.n_items, k), -1, dtype=np.int64)
    score = np.zeros((data.n_items, k), dtype=np.float32)
    for start, c in cooccurrence_blocks(x):
        stop = start + c.shape[0]
        c = torch.where(c >= max(min_cointeraction_count, 1), c, torch.zeros_like(c))
        sim = c / (discount[start:stop, None] * discount[None, :])
        bi, bv = _top_k(sim, start, k)
        idx[start:stop] = bi.numpy()
        score[start:stop] = bv.numpy()
    return NeighbourTable(idx, score)


def _l2_normalise(x: torch.Tensor) -> torch.Tensor:
    out: torch.Tensor = x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return out


def fit_similar_items(
    data: PreparedData,
    popularity_discount_factor: float = 0.0,
    item_id_hidden_dim: int = 100,
    item_metadata_hidden_dim: int = 100,
    neighbours: int = NEIGHBOURS,
    seed: int = 0,
) -> NeighbourTable:
    """Similar-Items: co-occurrence embeddings blended with item-metadata embeddings (L6601).

    Item-id vectors are a rank-``item_id_hidden_dim`` SVD of the user-item matrix (columns scaled by
    1/sqrt(popularity), so their cosine approximates co-occurrence cosine); metadata vectors are a
    rank-``item_metadata_hidden_dim`` SVD of TF-IDF-weighted categorical tokens plus standardised numeric
    columns. Each item leans on metadata in proportion to how cold it is (n / (n + 5) on behaviour), which
    is how items with fewer than five interactions still get neighbours. Scores are divided by
    popularity ** popularity_discount_factor.
    """
    torch.manual_seed(seed)
    n = data.n_items
    counts = torch.from_numpy(data.unique_user_counts().astype(np.float32))
    x = _user_item_sparse(data, None).to_dense() if data.n_users * n <= 50_000_000 else None
    parts: list[torch.Tensor] = []
    weight_id = counts / (counts + COLD_ITEM_INTERACTIONS)
    if x is not None:
        xs = x / counts.clamp_min(1.0).sqrt()[None, :]
        q = min(item_id_hidden_dim, min(xs.shape) - 1)
        if q >= 1:
            _, s, v = torch.svd_lowrank(xs, q=q, niter=4)
            parts.append(_l2_normalise(v * s[None, :]) * weight_id.sqrt()[:, None])
    meta_weight = 1.0 - weight_id if parts else torch.ones(n)
    if data.features is not None and not data.features.empty:
        f = data.features
        tok = torch.zeros((n, max(f.n_tokens, 1)))
        if f.n_tokens:
            rows = np.repeat(np.arange(n), np.diff(f.token_ptr))
            tok[torch.from_numpy(rows), torch.from_numpy(f.token_idx)] = 1.0
            df = tok.sum(dim=0).clamp_min(1.0)
            tok = tok * torch.log(n / df)[None, :]
        meta = torch.cat([tok, torch.from_numpy(f.numeric)], dim=1)
        q = min(item_metadata_hidden_dim, min(meta.shape))
        if q < meta.shape[1] and q >= 1:
            _, _, v = torch.svd_lowrank(meta, q=q, niter=4)
            meta = meta @ v  # project onto the top metadata directions (v: [features, q])
        if meta.abs().sum() > 0:
            parts.append(_l2_normalise(meta) * meta_weight.sqrt()[:, None])
    k = min(neighbours, max(n - 1, 1))
    idx = np.full((n, k), -1, dtype=np.int64)
    score = np.zeros((n, k), dtype=np.float32)
    if not parts:
        return NeighbourTable(idx, score)
    emb = torch.cat(parts, dim=1)
    discount = counts.clamp_min(1.0) ** popularity_discount_factor
    block = 1024
    for start in range(0, n, block):
        stop = min(start + block, n)
        sim = (emb[start:stop] @ emb.T) / discount[None, :]
        bi, bv = _top_k(sim, start, k)
        idx[start:stop] = bi.numpy()
        score[start:stop] = bv.numpy()
    return NeighbourTable(idx, score)


def popularity(data: PreparedData) -> FloatArray:
    """Popularity-Count: interactions from unique users per item (L6414)."""
    return data.unique_user_counts().astype(np.float32)
