"""Candidate retrieval for large catalogues (ADR 0019): an approximate-nearest-neighbour index over the item
vectors finds the items a user may score highest, and only those are scored, exactly.

A sequence model's score is ``h(seq) . v_i + b_i + linear_i(seq)`` (``retrieval`` files of
docs/specs/model-artifact.md). The index (faiss IVF, 4-bit fast-scan codes from ``FASTSCAN_MIN_ITEMS``, inner
product over ``[v_i, b_i]`` against ``[h, 1]``; built by the trainer at export with ``build_index``, read here)
returns the best items by the dense part; every item the sparse linear part touches is a candidate
too, so an item outside both can only rank below ``need`` allowed candidates (with exact retrieval). A mask that
keeps too few allowed items among the index's best is searched on its own (restricted to its allowed items); a
mask that allows few items is scored exactly over all of them. A filter's catalogue-level mask (the same array
for every request of the filter) keeps its allowed positions and, when large, a sub-index of its allowed items in
``MaskCache`` (ADR 0019 §11; a sparse mask's sub-index has cells of its own, §13). Softmax scores divide by the
catalogue's partition function, estimated from the candidates plus a fixed uniform sample of the rest.

Used only above a catalogue size (``DEFAULT_MIN_ITEMS``): below it every path scores the whole catalogue, so
online answers equal batch answers exactly.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tailor_shared.scoring.masks import Allowed, allowed_at, allowed_count, dense, member, sorted_unique
from tailor_shared.scoring.ranking import Candidates, Need

Mask = npt.NDArray[np.bool_]
Positions = npt.NDArray[np.int64]

log = logging.getLogger(__name__)

DEFAULT_MIN_ITEMS = 200_000  # catalogues at least this large are served by retrieval (ADR 0019)
EXACT_MAX_ALLOWED = 20_000  # a mask allowing at most this many items: score all of them exactly
FIRST_K = 256  # retrieval size (at least 4x what a mask needs); a mask left short is searched on its own
PARTITION_SAMPLE = 4096  # items sampled (fixed, per model) to estimate the softmax's partition function
# IVF cells = sqrt(n) * this. At 1,000,000 items and nprobe 48, 2,000 cells (2.4 % of the items scanned) gave
# recall@25 0.9918 against 0.9896 with 1,000 cells (4.8 %), for less CPU; 4,000 cells: 0.9864 (ADR 0019 §8).
CELLS_PER_SQRT = 2.0
NPROBE = 48  # cells visited per query (1M items: 40 -> recall@25 0.977 with 1,000 cells; ADR 0019 §8)
# From this size the cells hold 4-bit codes of the vectors (faiss "fast scan" product quantisation, one dimension
# per code, SIMD table look-ups) instead of float vectors: a search reads 8x fewer bytes (1,000,000 items, CPU per
# search 0.82 -> 0.31 ms at the same recall@25, 0.995). The codes only rank: the FASTSCAN_K best are rescored
# exactly. Two dimensions per code halves the bytes again but loses recall (0.976 at k 512; ADR 0019).
FASTSCAN_MIN_ITEMS = 100_000
FASTSCAN_K = 256  # recall@25 within 0.001 of 512's at nprobe 48, fewer rows rescored (ADR 0019 §8)
# A restricted search visits this many times nprobe / (allowed share) cells. 1,000,000 items, 2,000 cells, a 20 %
# filter against the user's taste, 200 users: recall@25 0.920 / 0.988 / 0.997 at 3 / 4 / 5 (ADR 0019 §8).
RESTRICTED_PROBES = 4
# A catalogue-level filter mask (``filtering.filter_parts``) allowing more than KEPT_EXACT_MAX items is served by
# a sub-index of its allowed items (the main index's quantizer and codebooks: no training), searched on fast scan's
# SIMD path with SUBINDEX_PROBES x nprobe / (allowed share) cells: about the codes a plain search reads (ADR 0019 §11).
SUBINDEX_PROBES = 2.0
# A catalogue-level mask allowing at most this many items is scored exactly over all of them; above, its sub-index
# is searched (100,000 items, a 20 % filter: 20,000 rows scored exactly cost 7.7 ms of CPU per request against
# ~1 ms for the whole 10,000-item catalogue; ADR 0019 §11).
KEPT_EXACT_MAX = 4096
# A mask whose allowed items fill at least this share of the cells holding them (a category: items cluster) keeps the
# main index's cells in its sub-index; a sparser one (the newest tenth, ~50 allowed items in each of the 2,000 cells
# at 1,000,000 items, whose sub-index visited ~900 near-empty cells) gets cells of its own, trained on its items as
# ``build_index`` trains a catalogue's, searched with the main index's nprobe (ADR 0019 §13).
CLUSTERED_MIN_DENSITY = 0.5
# A sub-index search rescores this many candidates per item its need asks for, up to ``first_k`` (at least 4 per
# item): a promotion's 5 of 25 items rescore 80, not 256 (recall@25 unchanged at 1,000,000 items, ADR 0019 §13).
RESCORED_PER_ITEM = 16
MASK_CACHE_BYTES = 256 * 2**20  # per model: the per-mask structures kept (LRU by bytes; ADR 0019 §11)
ADD_CHUNK = 100_000  # vectors added to the index per call while building
TRAIN_PER_CELL = 40  # k-means training points per cell (faiss warns below 39)
KMEANS_ITERATIONS = 10
INDEX_FILE = "retrieval_index.faiss"  # the trainer's export of ``build_index`` (docs/specs/model-artifact.md)
SEED = 20260101  # training sample and k-means seed: every replica builds the same index


def item_matrix(vectors: npt.NDArray[np.float32], bias: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """One matrix ``[v_i, b_i]``: the index searches its rows and exact rescoring is one product with ``[h, 1]``.
    Filled in place (one pass over the vectors: at 1,000,000 items every copy is a quarter of a GiB)."""
    out = np.empty((vectors.shape[0], vectors.shape[1] + 1), dtype=np.float32)
    out[:, :-1] = vectors
    out[:, -1] = bias
    return out


def _padded(rows: npt.NDArray[np.float32], padding: int) -> npt.NDArray[np.float32]:
    """``rows`` with ``padding`` zero columns (fast scan packs 4-bit codes in pairs: an even width)."""
    if not padding:
        return rows
    return np.ascontiguousarray(np.hstack([rows, np.zeros((rows.shape[0], padding), dtype=np.float32)]))


def build_index(items: npt.NDArray[np.float32], threads: int = 1) -> tuple[Any, dict[str, Any]]:
    """The ANN index over ``items`` (``item_matrix`` rows; ids = row positions) and its build parameters (the
    manifest's ``retrieval.index`` entry, less ``file`` and ``itemIndexSha256``). Deterministic: a fixed training
    sample and k-means seed, so the same rows give the same index bytes (the trainer exports it; a runtime
    builds it at load only for a model exported without one)."""
    import faiss

    n, columns = items.shape
    cells = max(1, int(math.sqrt(n) * CELLS_PER_SQRT))
    rng = np.random.default_rng(SEED)
    train = np.sort(rng.choice(n, min(n, TRAIN_PER_CELL * cells), replace=False))
    fast_scan = n >= FASTSCAN_MIN_ITEMS
    params: dict[str, Any] = {"library": "faiss", "libraryVersion": faiss.__version__}
    index: faiss.IndexIVF
    if fast_scan:
        width = columns + columns % 2
        index = faiss.IndexIVFPQFastScan(faiss.IndexFlatIP(width), width, cells, width, 4, faiss.METRIC_INNER_PRODUCT)
        index.by_residual = False  # codes of the vectors themselves: inner products need no per-cell term
        index.pq.cp.seed = SEED
        params.update(type="IVFPQFastScan", codeBits=4, subquantizers=width, byResidual=False)
    else:
        width = columns
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(width), width, cells, faiss.METRIC_INNER_PRODUCT)
        params.update(type="IVFFlat")
    index.cp.seed = SEED
    index.cp.niter = KMEANS_ITERATIONS
    faiss.omp_set_num_threads(max(1, threads))
    try:
        index.train(_padded(items[train], width - columns))
        for start in range(0, n, ADD_CHUNK):  # padded copies of one chunk at a time
            index.add(_padded(items[start : start + ADD_CHUNK], width - columns))
    finally:
        faiss.omp_set_num_threads(1)  # requests: one thread each, like the ONNX sessions
    index.nprobe = min(cells, NPROBE)
    params.update(
        metric="INNER_PRODUCT",
        dimension=width,
        padding=width - columns,
        cells=cells,
        nprobe=int(index.nprobe),
        kmeansIterations=KMEANS_ITERATIONS,
        trainingPoints=int(train.size),
        seed=SEED,
        count=n,
    )
    return index, params


def sub_index(main: Any, items: npt.NDArray[np.float32], positions: Positions, padding: int) -> tuple[Any, float]:
    """An IVF fast-scan index of ``items[positions]`` (ids = ``positions``) with ``main``'s trained codebooks (no
    PQ training). Its cells: for a clustered mask (CLUSTERED_MIN_DENSITY), the main index's cells holding allowed
    items (their centroids: no training; a mask against the user's taste leaves most cells near the user empty,
    and faiss 1.15's fast scan then found nothing at all), visited SUBINDEX_PROBES x the main index's nprobe per the
    allowed items' density in them; for a sparse mask, cells of its own, trained on its items as ``build_index``
    trains a catalogue's, visited with the main index's nprobe. Also that density."""
    import faiss

    cells = np.zeros(main.nlist, dtype=np.int64)
    allowed = np.zeros(main.ntotal, dtype=bool)
    allowed[positions] = True
    lists = main.invlists
    for cell in range(main.nlist):  # the cells' item ids: the main index's assignment, no quantizer search
        size = lists.list_size(cell)
        if size:
            ids = faiss.rev_swig_ptr(lists.get_ids(cell), size)
            cells[cell] = np.count_nonzero(allowed[ids])
    kept_cells = np.flatnonzero(cells)
    share = float(positions.size) / float(kept_cells.size * max(1, main.ntotal // main.nlist))
    if share >= CLUSTERED_MIN_DENSITY:
        centroids = main.quantizer.reconstruct_n(0, main.nlist)[kept_cells]
        nprobe = math.ceil(main.nprobe * SUBINDEX_PROBES / max(share, 1e-3))
    else:
        centroids, nprobe = _own_cells(items, positions, padding), main.nprobe
    quantizer: Any = faiss.IndexFlatIP(main.d)
    quantizer.add(centroids)
    sub: Any = faiss.IndexIVFPQFastScan(quantizer, main.d, quantizer.ntotal, main.pq.M, 4, faiss.METRIC_INNER_PRODUCT)
    sub.own_fields = True
    quantizer.this.disown()  # the sub-index owns (and frees) its quantizer
    sub.by_residual = False
    sub.pq = main.pq  # the trained codebooks (copied): no training
    sub.is_trained = True
    for start in range(0, positions.size, ADD_CHUNK):
        ids = positions[start : start + ADD_CHUNK]
        sub.add_with_ids(_padded(items[ids], padding), ids)
    sub.nprobe = min(sub.nlist, nprobe)
    return sub, share


def _own_cells(items: npt.NDArray[np.float32], positions: Positions, padding: int) -> npt.NDArray[np.float32]:
    """Centroids for the rows ``items[positions]`` as ``build_index`` trains a catalogue's cells (CELLS_PER_SQRT x
    sqrt(rows), TRAIN_PER_CELL sampled rows per cell, KMEANS_ITERATIONS, SEED; faiss's IVF training, inner
    product): a sparse mask's sub-index then holds as many items per cell as an index of that size."""
    import faiss

    m = positions.size
    cells = max(1, int(math.sqrt(m) * CELLS_PER_SQRT))
    train = positions[np.sort(np.random.default_rng(SEED).choice(m, min(m, TRAIN_PER_CELL * cells), replace=False))]
    width = items.shape[1] + padding
    coarse = faiss.IndexIVFFlat(faiss.IndexFlatIP(width), width, cells, faiss.METRIC_INNER_PRODUCT)
    coarse.cp.seed = SEED
    coarse.cp.niter = KMEANS_ITERATIONS
    coarse.train(_padded(items[train], padding))
    return np.asarray(coarse.quantizer.reconstruct_n(0, cells), dtype=np.float32)


def write_index(index: Any, path: Path) -> None:
    import faiss

    faiss.write_index(index, str(path))


def _union_scored(
    parts: Sequence[tuple[Positions, npt.NDArray[np.float32]]],
) -> tuple[Positions, npt.NDArray[np.float32]]:
    """The positions (sorted, each once) and scores of already scored parts that may overlap (one search's items
    and a kept mask's allowed items): one part, the usual case, is only sorted."""
    if not parts:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
    positions = np.concatenate([p for p, _ in parts])
    values = np.concatenate([v for _, v in parts]).astype(np.float32, copy=False)
    order = np.argsort(positions, kind="stable")
    positions, values = positions[order], values[order]
    first = np.ones(positions.size, dtype=bool)
    first[1:] = positions[1:] != positions[:-1]
    return positions[first], values[first]


@dataclass(frozen=True, eq=False)
class Restricted:
    """What retrieval keeps per catalogue-level mask: its allowed positions (ascending) and, for a mask allowing
    more than KEPT_EXACT_MAX items, a sub-index of them (ids = catalogue positions), else their item rows (one
    contiguous product scores them all: gathering a few thousand rows scattered over a million-row matrix costs more
    than the product). ``base``: the mask itself, held so that its ``id`` (the cache key) cannot be reused by another
    array while the entry lives."""

    base: Mask
    positions: Positions
    index: Any | None
    share: float  # allowed items / the items of the cells holding them (without a sub-index: / catalogue items)
    nbytes: int
    rows: npt.NDArray[np.float32] | None = None  # without a sub-index: ``item_matrix`` rows of ``positions``


class MaskCache:
    """``Restricted`` entries per read-only catalogue-level mask, least recently used evicted beyond ``max_bytes``.
    Thread-safe: lookups under one lock; a missing entry is built under a second lock (one build at a time, the
    others asking for the same mask wait for it rather than build it again). Per model (a new model is a new
    cache); a change of the item metadata builds a new ``ItemIndex`` whose masks are new arrays (new keys)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[int, Restricted] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._building = threading.Lock()
        self.builds = 0

    def get(self, base: Mask, build: Callable[[Mask], Restricted]) -> Restricted:
        """The entry of ``base`` (``build(base)`` on first use, then kept while it fits)."""
        entry = self._lookup(base)
        if entry is not None:
            return entry
        with self._building:
            entry = self._lookup(base)
            if entry is not None:
                return entry
            entry = build(base)
            self.builds += 1
        with self._lock:
            if entry.nbytes <= self.max_bytes:
                self._entries[id(base)] = entry
                self._bytes += entry.nbytes
                while self._bytes > self.max_bytes:
                    _, old = self._entries.popitem(last=False)
                    self._bytes -= old.nbytes
        return entry

    def _lookup(self, base: Mask) -> Restricted | None:
        with self._lock:
            entry = self._entries.get(id(base))
            if entry is None or entry.base is not base:
                return None
            self._entries.move_to_end(id(base))
            return entry

    @property
    def bytes(self) -> int:
        return self._bytes

    def entries(self) -> list[Restricted]:
        """The entries kept now, least recently used first (a test or benchmark inspecting their searches)."""
        with self._lock:
            return list(self._entries.values())


class Retrieval:
    """The retrieval files of one model with its ANN index: read from the artifact (``retrieval.index``), or built
    here for a model exported without one (``built_at_load``). ``item_index_sha256``: the SHA-256 of the model's
    ``item_index.json``, which the shipped index must have been built for (its ids are positions in it)."""

    def __init__(
        self,
        directory: Path,
        entry: dict[str, Any],
        width: int,
        pad: int,
        threads: int = 1,
        item_index_sha256: str | None = None,
        mask_cache_bytes: int = MASK_CACHE_BYTES,
    ) -> None:
        import faiss  # the runtime's (and the trainer's export's) dependency only: batch scores exactly (ADR 0019)
        import onnxruntime as ort  # not in the trainer's image, which imports this module for ``build_index``

        encoder = entry["encoder"]
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(directory / encoder["file"]), options, providers=["CPUExecutionProvider"]
        )
        self._input, self._output = str(encoder["input"]), str(encoder["output"])
        self._width, self._pad = width, pad
        vectors = np.load(directory / entry["itemVectors"], allow_pickle=False)
        bias = np.load(directory / entry["itemBias"], allow_pickle=False)
        self._items = item_matrix(vectors, bias)
        del vectors, bias
        self.n_items, columns = self._items.shape
        linear = entry.get("linear")
        self._linear: tuple[npt.NDArray[np.int32], npt.NDArray[np.float32], npt.NDArray[np.float32], int] | None = (
            None
            if not linear
            else (
                np.load(directory / linear["index"], allow_pickle=False).astype(np.int32, copy=False),
                np.load(directory / linear["value"], allow_pickle=False).astype(np.float32, copy=False),
                np.load(directory / linear["weights"], allow_pickle=False).astype(np.float32, copy=False),
                int(linear["window"]),
            )
        )
        rng = np.random.default_rng(SEED)
        self._sample = np.sort(rng.choice(self.n_items, min(self.n_items, PARTITION_SAMPLE), replace=False))
        self._sample_items = self._items[self._sample]  # contiguous: one small product per request
        self._in_sample = np.zeros(self.n_items, dtype=bool)  # which candidates are sample items: one gather
        self._in_sample[self._sample] = True
        self._local = threading.local()  # per thread: the linear part's catalogue-sized sums (``_summed``)
        self._columns = columns
        started = time.monotonic()
        shipped = entry.get("index")
        index = self._read(directory, shipped, columns, item_index_sha256) if shipped else None
        self.built_at_load = index is None
        if index is None:
            index, _ = build_index(self._items, threads)
        self.index_seconds = time.monotonic() - started  # reading the shipped index, or building it
        index.nprobe = min(index.nlist, NPROBE)  # a search knob: the runtime's, whatever the build recorded
        self._fast_scan = isinstance(index, faiss.IndexIVFPQFastScan)
        self._padding = index.d - columns
        self.first_k = FASTSCAN_K if self._fast_scan else FIRST_K
        # The index's own bytes: 4-bit codes and 8-byte ids (fast scan), else its float copy of the vectors.
        self._index_bytes = self.n_items * (index.d // 2 + 8) if self._fast_scan else int(self._items.nbytes)
        self._index = index
        self.masks = MaskCache(mask_cache_bytes)

    def _read(self, directory: Path, shipped: dict[str, Any], columns: int, item_index_sha256: str | None) -> Any:
        """The artifact's index, or None (built at load instead) when it does not fit this model's rows."""
        import faiss

        expected = shipped.get("itemIndexSha256")
        if item_index_sha256 is not None and expected != item_index_sha256:
            log.warning("%s: the shipped index was built for another item order; building one", directory)
            return None
        # IO_FLAG_MMAP: faiss maps an IVF-Flat index's inverted lists instead of reading them (fast scan's block
        # lists are read: 41 bytes per item).
        index = faiss.read_index(str(directory / shipped["file"]), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
        if index.ntotal != self.n_items or not 0 <= index.d - columns <= 1:
            log.warning("%s: the shipped index does not match the item vectors; building one", directory)
            return None
        return index

    @property
    def nprobe(self) -> int:
        """Cells visited per search (a search setting: changes without retraining, like ``first_k``)."""
        return int(self._index.nprobe)

    @nprobe.setter
    def nprobe(self, cells: int) -> None:
        self._index.nprobe = max(1, min(self._index.nlist, cells))

    @property
    def bytes(self) -> int:
        """Memory held: the item matrix, the index's inverted lists (vectors or codes), the linear part, the
        partition sample and one serving thread's linear sums."""
        linear = sum(a.nbytes for a in self._linear[:3]) if self._linear else 0
        sample = self._sample_items.nbytes + self._in_sample.nbytes
        held = self._items.nbytes + self._index_bytes + sample + linear + 4 * self.n_items
        return int(held + self.masks.bytes)

    def restricted(self, base: Mask) -> Restricted:
        """The per-mask structures of a read-only catalogue-level mask (built on first use, ADR 0019 §11)."""
        return self.masks.get(base, self._restrict)

    def _restrict(self, base: Mask) -> Restricted:
        """``base``'s allowed positions, and their sub-index (``sub_index``) when there are more than
        KEPT_EXACT_MAX (fast scan only: an IVF-Flat index serves catalogues below FASTSCAN_MIN_ITEMS, whose
        restricted search stays cheap)."""
        positions = np.flatnonzero(base).astype(np.int64)
        positions.flags.writeable = False
        share = positions.size / max(base.size, 1)
        if positions.size <= KEPT_EXACT_MAX or not self._fast_scan:
            rows = self._items[positions]
            held = positions.nbytes + base.nbytes + rows.nbytes
            return Restricted(base, positions, None, share, int(held), rows)
        started = time.monotonic()
        sub, share = sub_index(self._index, self._items, positions, self._padding)
        log.info("sub-index of %d allowed items built in %.2fs", positions.size, time.monotonic() - started)
        held = positions.nbytes + base.nbytes + positions.size * (sub.d // 2 + 8) + sub.quantizer.ntotal * sub.d * 4
        return Restricted(base, positions, sub, share, int(held))

    def _sequence(self, history: Sequence[int]) -> npt.NDArray[np.int64]:
        seq = np.full((1, self._width), self._pad, dtype=np.int64)
        recent = list(history)[-self._width :]
        if recent:
            seq[0, -len(recent) :] = recent
        return seq

    def _query(self, seq: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        """``[h(seq), 1]`` padded with zeros to the index's width: the search's query, and (its first columns)
        the exact product's."""
        h = self._session.run([self._output], {self._input: seq})[0][0]
        query = np.zeros(self._columns + self._padding, dtype=np.float32)
        query[: h.size] = h
        query[h.size] = 1.0
        return query

    def query(self, history: Sequence[int]) -> npt.NDArray[np.float32]:
        """The searches' query for ``history`` (``[h, 1]`` padded): a benchmark times the index's searches alone."""
        return self._query(self._sequence(history))

    def _linear_entries(self, seq: npt.NDArray[np.int64]) -> tuple[Positions, npt.NDArray[np.float32]]:
        """The linear part's (item, value) entries for this sequence, one per recent item and neighbour: an item
        may appear more than once, its value being the sum (as ``model.onnx``'s scatter-add computes it)."""
        if self._linear is None:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        lin_idx, lin_val, weights, window = self._linear
        columns = min(window, seq.shape[1])
        recent, w = seq[0, -columns:], weights[-columns:]
        keep = recent != self._pad
        recent, w = recent[keep], w[keep]
        return lin_idx[recent].ravel().astype(np.int64), (lin_val[recent] * w[:, None]).ravel()

    @contextlib.contextmanager
    def _summed(self, entries: tuple[Positions, npt.NDArray[np.float32]]) -> Iterator[npt.NDArray[np.float32]]:
        """This thread's catalogue-sized vector holding the entries' sums, zero elsewhere: filled and cleared in
        O(entries), so every linear value is one gather (no sort of the entries, no binary searches)."""
        dense = getattr(self._local, "linear", None)
        if dense is None:
            dense = self._local.linear = np.zeros(self.n_items, dtype=np.float32)
        idx, values = entries
        np.add.at(dense, idx, values)
        try:
            yield dense
        finally:
            dense[idx] = 0.0

    def candidates(self, history: Sequence[int], needs: Sequence[Need]) -> Candidates:
        """Exactly scored candidates holding, for each need, its ``count`` best allowed items (up to the
        index's recall)."""
        seq = self._sequence(history)
        query = self._query(seq)
        entries = self._linear_entries(seq)
        with self._summed(entries) as linear:
            index, values = self._candidates(query, entries[0], linear, needs)
            log_partition = self._log_partition(index, values, query, entries[0], linear)
        lin_idx, lin_val = entries
        product = query[: self._columns]

        def score(positions: Positions) -> npt.NDArray[np.float32]:
            """Positions outside the candidates (an explored item), after the request: their linear values are
            summed from the entries (a few positions against a few thousand entries)."""
            touched = positions[:, None] == lin_idx[None, :]
            linear_values = np.where(touched, lin_val, np.float32(0.0)).sum(axis=1)
            return np.asarray(self._items[positions] @ product + linear_values, dtype=np.float32)

        return Candidates(index, values, log_partition, score)

    def _candidates(
        self, query: npt.NDArray[np.float32], lin_idx: Positions, linear: npt.NDArray[np.float32], needs: Sequence[Need]
    ) -> tuple[Positions, npt.NDArray[np.float32]]:
        """The candidates (sorted positions) and their exact scores."""
        product = query[: self._columns]
        more: list[Positions] = []  # positions to score besides the first search's
        scored: list[tuple[Positions, npt.NDArray[np.float32]]] = []  # kept masks' allowed items, scored from rows
        open_needs: list[Need] = []
        subindexed: list[tuple[Need, Restricted]] = []  # searched in their mask's sub-index
        for need in needs:
            if need.count <= 0:
                continue
            kept = self._kept(need.mask)
            if kept is not None and kept.rows is not None:
                # Few allowed items: score them all (exclusions are masked later), from the kept rows.
                scored.append((kept.positions, kept.rows @ product + linear[kept.positions]))
            elif kept is not None and kept.index is not None:
                subindexed.append((need, kept))
            elif kept is None and allowed_count(need.mask) <= EXACT_MAX_ALLOWED:
                more.append(np.flatnonzero(dense(need.mask)))
            else:
                open_needs.append(need)
        found = np.empty(0, dtype=np.int64)
        found_values = np.empty(0, dtype=np.float32)
        # Linear-part items outside the searched ones matter only if their linear value can lift them into an
        # answer: at or above the lowest bar of the needs (None: keep them all).
        bars: list[float] | None = [] if open_needs and not subindexed else None
        for need, kept in subindexed:  # the allowed items' best directly: no search of the whole catalogue
            more.append(self._search_kept(kept, need, query, linear, self.rescored(need.count), lin_idx))
        if open_needs:
            k = min(self.n_items, max(self.first_k, 4 * max(n.count for n in open_needs)))
            found = self._search(query, k, None)
            dense_values = self._items[found] @ product
            found_linear = linear[found]
            found_values = dense_values + found_linear
            dense_only = found_linear == 0.0  # scored by the dense part alone
            floor = float(dense_values.min()) if dense_values.size else 0.0  # nothing outside scores more, densely
            for need in open_needs:
                allowed_found = allowed_at(need.mask, found)
                if int(np.count_nonzero(allowed_found & dense_only)) >= need.count:
                    # An item outside ``found`` scores at most ``floor + linear``: it enters this need's answer
                    # only if that reaches the need's ``count``-th best allowed candidate.
                    best = found_values[allowed_found]
                    threshold = float(np.partition(best, best.size - need.count)[best.size - need.count])
                    if bars is not None:
                        bars.append(threshold - floor)
                    continue
                bars = None  # searched on its own: keep every linear-part item
                # The user's best items are mostly outside this mask: search among its allowed items only.
                allowed = dense(need.mask)
                within = self._search(query, min(self.n_items, k + sorted_unique(lin_idx).size), allowed)
                if int(np.count_nonzero(linear[within] == 0.0)) >= need.count:
                    more.append(within)
                else:  # too few allowed items in the cells near the user: score every allowed item
                    more.append(np.flatnonzero(allowed))
        more.append(lin_idx if not bars else lin_idx[linear[lin_idx] >= min(bars)])
        if found.size:
            scored.append((found, found_values))
        done, done_values = _union_scored(scored)
        extra = sorted_unique(np.concatenate(more))
        if done.size and extra.size:
            extra = extra[~member(done, extra)]  # scored already
        index = np.concatenate([done, extra])
        values = np.concatenate([done_values, self._items[extra] @ product + linear[extra]])
        order = np.argsort(index, kind="stable")
        return index[order], values[order].astype(np.float32, copy=False)

    def rescored(self, count: int) -> int:
        """The candidates a sub-index search asks for (before the excluded items) when a need wants ``count``
        items: RESCORED_PER_ITEM each up to ``first_k``, at least 4 each."""
        return max(4 * count, min(self.first_k, RESCORED_PER_ITEM * count))

    def _kept(self, mask: Any) -> Restricted | None:
        """The cached structures of a request's catalogue-level mask (``Allowed`` over a read-only base from
        ``filtering.filter_parts``), or None for a mask without one."""
        if isinstance(mask, Allowed) and mask.base is not None and not mask.base.flags.writeable:
            return self.restricted(mask.base)
        return None

    @staticmethod
    def _search_kept(
        kept: Restricted,
        need: Need,
        query: npt.NDArray[np.float32],
        linear: npt.NDArray[np.float32],
        k: int,
        lin_idx: Positions,
    ) -> Positions:
        """Candidates for ``need`` from its mask's sub-index: its best ``k`` (plus the excluded items) when they hold
        ``need.count`` allowed items scored by the dense part alone (the linear-part items are candidates anyway),
        else its best ``k`` + the linear part's items (counted only then: a sort of ~800 entries, ~23 µs), else
        every allowed item (too few in the cells near the user)."""
        assert kept.index is not None and isinstance(need.mask, Allowed)
        for retry in (False, True):
            if retry:
                k += sorted_unique(lin_idx).size
            found = kept.index.search(query[None, :], min(kept.positions.size, k + len(need.mask.excluded)))[1][0]
            within = np.asarray(found[found >= 0], dtype=np.int64)
            if int(np.count_nonzero(allowed_at(need.mask, within) & (linear[within] == 0.0))) >= need.count:
                return within
        return kept.positions

    def _search(self, query: npt.NDArray[np.float32], k: int, mask: Mask | None) -> Positions:
        """The index's ``k`` best items for ``query`` (padded to the index's width; among ``mask``'s allowed
        items when given)."""
        if mask is None:
            found = self._index.search(query[None, :], k)[1][0]
        else:
            import faiss

            bitmap = np.packbits(mask, bitorder="little")
            selector = faiss.IDSelectorBitmap(mask.size, faiss.swig_ptr(bitmap))  # both alive during the search
            params = faiss.SearchParametersIVF()
            params.sel = selector
            # The cells near the user may hold no allowed item: visit RESTRICTED_PROBES x more cells per the mask's
            # selectivity (see RESTRICTED_PROBES for the recall it measured).
            share = max(float(np.count_nonzero(mask)) / mask.size, 1e-3)
            params.nprobe = min(self._index.nlist, math.ceil(self._index.nprobe * RESTRICTED_PROBES / share))
            found = self._index.search(query[None, :], k, params=params)[1][0]
        return np.asarray(found[found >= 0], dtype=np.int64)

    def _log_partition(
        self,
        index: Positions,
        values: npt.NDArray[np.float32],
        query: npt.NDArray[np.float32],
        lin_idx: Positions,
        linear: npt.NDArray[np.float32],
    ) -> float:
        """log sum_i exp(score_i): the candidates exactly, the rest from the uniform sample (``linear``: the
        sums of the linear part's entries at ``lin_idx``, zero elsewhere)."""
        top = float(values.max()) if values.size else 0.0
        total = float(np.exp(values.astype(np.float64) - top).sum())
        rest = self.n_items - index.size
        if rest > 0:
            outside = np.ones(self._sample.size, dtype=bool)  # sample items that are not candidates
            outside[np.searchsorted(self._sample, index[self._in_sample[index]])] = False
            if outside.any():
                # One product over the whole (contiguous) sample, then the outside rows: no gathered copy. The
                # linear part is non-zero only at its entries: those on sample items are added at their slots
                # (gathering the 4,096 sample positions from the catalogue-sized sums costs a cache miss each).
                sample_values = self._sample_items @ query[: self._columns]
                hit = lin_idx[self._in_sample[lin_idx]]
                if hit.size:  # an item repeated among the entries gets the same (summed) value twice
                    slots = np.searchsorted(self._sample, hit)
                    sample_values[slots] = sample_values[slots] + linear[hit]
                s = sample_values[outside].astype(np.float64)
                total += float(np.exp(s - top).sum()) * rest / int(np.count_nonzero(outside))
        return top + math.log(total)

    def exact(self, history: Sequence[int]) -> npt.NDArray[np.float32]:
        """Every item's score from the retrieval files: the reference the candidates are checked against."""
        seq = self._sequence(history)
        query = self._query(seq)
        scores = np.asarray(self._items @ query[: self._columns], dtype=np.float32)
        entries = self._linear_entries(seq)
        with self._summed(entries) as linear:  # the same sums as ``candidates`` adds, in the same order
            scores[entries[0]] += linear[entries[0]]
        return scores
