"""Loading a solution version's model directory (docs/specs/model-artifact.md) with onnxruntime and numpy.

No torch here: sequence models are ONNX graphs (item-index sequence -> catalogue scores), related-items
models are top-K neighbour tables, popularity-count is an array.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from tailor_shared.scoring.model import ExplorationData, feature_row
from tailor_shared.scoring.retrieval import MASK_CACHE_BYTES

if TYPE_CHECKING:
    from tailor_shared.scoring.retrieval import Retrieval

FORMAT = "tailor-model"
FORMAT_VERSION = 1


def _array(directory: Path, name: str) -> npt.NDArray[Any]:
    array: npt.NDArray[Any] = np.load(directory / name, allow_pickle=False)
    return array


class LoadedModel:
    """A ``ServingModel`` over one model directory. ``retrieval_min_items``: serve catalogues at least this large
    by candidate retrieval (``scoring.retrieval``, ADR 0019) when the model has its files; the full graph is then
    not loaded (``score_history`` uses the same decomposed scores). ``mask_cache_bytes``: retrieval's per-mask
    cache (ADR 0019 §11)."""

    def __init__(
        self, directory: Path, retrieval_min_items: int | None = None, mask_cache_bytes: int = MASK_CACHE_BYTES
    ) -> None:
        manifest: dict[str, Any] = json.loads((directory / "manifest.json").read_text())
        if manifest.get("format") != FORMAT or manifest.get("formatVersion") != FORMAT_VERSION:
            raise ValueError(f"{directory} is not a {FORMAT} v{FORMAT_VERSION} model directory")
        self.manifest = manifest
        self.recipe_arn: str = manifest["recipeArn"]
        self.recipe_type: str = manifest["recipeType"]
        self.kind: str = manifest["modelKind"]
        ids_text = (directory / manifest["items"]["index"]).read_bytes()
        self.item_ids: Sequence[str] = json.loads(ids_text)
        arrays = manifest["arrays"]
        self.popularity: npt.NDArray[np.float64] = _array(directory, arrays["itemPopularity"]).astype(np.float64)
        serving = manifest.get("serving") or {}
        self.exclude_seen = bool(serving.get("excludeSeenItems", False))
        # Items without interactions data get no score where the model says it can't score them (L6450).
        self.unscored: npt.NDArray[np.bool_] | None = None
        if "itemInteractions" in arrays and not serving.get("scoresForItemsWithoutInteractions", True):
            self.unscored = _array(directory, arrays["itemInteractions"]) == 0
        self.trained_until = int(serving.get("latestInteractionTimestamp", 0))
        explore = serving.get("exploration")
        self.exploration: ExplorationData | None = None
        if isinstance(explore, dict) and "itemCreationTimestamp" in arrays and "itemInteractions" in arrays:
            self.exploration = ExplorationData(
                {str(k): str(v) for k, v in (explore.get("defaults") or {}).items()},
                bool(explore.get("configurable")),
                _array(directory, arrays["itemCreationTimestamp"]).astype(np.int64),
                _array(directory, arrays["itemInteractions"]).astype(np.int64),
                self.trained_until,
            )
        # Contextual metadata (docs/specs/model-artifact.md): field (upper-case) -> (value -> row, lift rows).
        self._context: dict[str, tuple[dict[str, int], npt.NDArray[np.float32]]] = {
            str(name).upper(): (
                {str(v): k for k, v in enumerate(spec["values"])},
                _array(directory, spec["lift"]).astype(np.float32),
            )
            for name, spec in (manifest.get("context") or {}).items()
        }
        # The Users dataset's fields (ADR 0020): field -> (value -> row, lift rows, numeric bin edges or None).
        self._user_features: dict[str, tuple[dict[str, int], npt.NDArray[np.float32], npt.NDArray[np.float64] | None]]
        self._user_features = {
            str(name).upper(): (
                {str(v): k for k, v in enumerate(spec["values"])},
                _array(directory, spec["lift"]).astype(np.float32),
                None if spec.get("edges") is None else np.asarray(spec["edges"], dtype=np.float64),
            )
            for name, spec in (manifest.get("userFeatures") or {}).items()
        }
        trending = serving.get("trending") or {}
        self.trend_seconds: int | None = (
            int(trending["trendDiscoveryFrequencySeconds"]) if self.kind == "trending" else None
        )
        self._user_row: dict[str, int] = {}
        self._user_recent: npt.NDArray[np.int64] | None = None
        self.user_ids: Sequence[str] = []  # the training users, in the artifact's order (user segments)
        self._session: ort.InferenceSession | None = None
        self._neighbours: tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]] | None = None
        self.retrieval: Retrieval | None = None
        if self.kind == "sequence":
            onnx = manifest["onnx"]
            self._input = onnx["inputs"][0]["name"]
            self._output = onnx["outputs"][0]["name"]
            self._width = int(onnx["sequenceLength"])
            self._pad = int(onnx["padIndex"])
            entry = manifest.get("retrieval")
            if entry and retrieval_min_items is not None and len(self.item_ids) >= retrieval_min_items:
                from tailor_shared.scoring.retrieval import Retrieval  # needs faiss: the runtime's dependency

                # The shipped index's ids are positions in item_index.json: it serves only the order it was built for.
                ids_sha = hashlib.sha256(ids_text).hexdigest() if entry.get("index") else None
                self.retrieval = Retrieval(
                    directory,
                    entry,
                    self._width,
                    self._pad,
                    item_index_sha256=ids_sha,
                    mask_cache_bytes=mask_cache_bytes,
                )
            else:
                options = ort.SessionOptions()
                options.intra_op_num_threads = 1
                options.inter_op_num_threads = 1
                self._session = ort.InferenceSession(
                    str(directory / onnx["file"]), options, providers=["CPUExecutionProvider"]
                )
            users = manifest.get("users")
            if users:
                self.user_ids = [str(u) for u in json.loads((directory / users["index"]).read_text())]
                self._user_row = {u: i for i, u in enumerate(self.user_ids)}
                self._user_recent = _array(directory, users["recentItems"]).astype(np.int64)
        elif self.kind == "neighbours":
            nb = manifest["neighbours"]
            self._neighbours = (
                _array(directory, nb["index"]).astype(np.int64),
                _array(directory, nb["score"]).astype(np.float32),
            )

    def user_history(self, user_id: str | None, live: Sequence[tuple[int, float]]) -> list[int]:
        """The model input for a user: their items at training time (from the artifact), then their live
        events (item index, timestamp; oldest first) that arrived after the training data ended. Bulk data
        imported after training counts only at the next training (L14477); PutEvents count at once."""
        trained: list[int] = []
        row = self._user_row.get(user_id) if user_id is not None else None
        if row is not None and self._user_recent is not None:
            pad = self._pad  # one ``tolist`` instead of a numpy scalar per entry (~9 µs of a request)
            trained = [i for i in self._user_recent[row].tolist() if i != pad]
            live = [(i, ts) for i, ts in live if ts > self.trained_until]
        return trained + [i for i, _ in live]

    def trained_histories(self, start: int, stop: int) -> list[list[int]]:
        """The model input of training users ``start:stop`` (their items at training time, no live events): a
        segment uses the data of the last full training only (L13190)."""
        if self._user_recent is None:
            return [[] for _ in range(start, stop)]
        pad = self._pad
        return [[i for i in row if i != pad] for row in self._user_recent[start:stop].tolist()]

    def score_history(self, history: Sequence[int]) -> npt.NDArray[np.float32]:
        if self.retrieval is not None:
            return self.retrieval.exact(history)
        if self._session is None:
            return self.popularity.astype(np.float32)
        seq = np.full((1, self._width), self._pad, dtype=np.int64)
        recent = list(history)[-self._width :]
        if recent:
            seq[0, -len(recent) :] = recent
        out = self._session.run([self._output], {self._input: seq})[0]
        return np.asarray(out[0], dtype=np.float32)

    def score_histories(self, histories: Sequence[Sequence[int]]) -> npt.NDArray[np.float32]:
        """``score_history`` for many users in one matrix run (rows in order): the batch worker's fast path
        (ADR 0016); the graph's batch axis is dynamic (docs/specs/model-artifact.md)."""
        if self.retrieval is not None:
            return np.stack([self.retrieval.exact(h) for h in histories]).astype(np.float32)
        if self._session is None:
            return np.tile(self.popularity.astype(np.float32), (len(histories), 1))
        seq = np.full((len(histories), self._width), self._pad, dtype=np.int64)
        for row, history in enumerate(histories):
            recent = list(history)[-self._width :]
            if recent:
                seq[row, -len(recent) :] = recent
        out = self._session.run([self._output], {self._input: seq})[0]
        return np.asarray(out, dtype=np.float32)

    def context_shift(
        self, context: Mapping[str, str], user: Mapping[str, str] | None = None
    ) -> npt.NDArray[np.float32] | None:
        """What the request's context and the user's Users row add to the logits: the sum of the lift rows of
        their known (field, value) pairs; None when nothing in them is known to the model."""
        rows: list[npt.NDArray[np.float32]] = []
        for key, value in context.items():
            table = self._context.get(key.upper())
            row = table[0].get(str(value)) if table else None
            if table is not None and row is not None:
                rows.append(table[1][row])
        for key, value in (user or {}).items():
            feature = self._user_features.get(key.upper())
            if feature is not None:
                row = feature_row(feature[0], feature[2], str(value))
                if row is not None:
                    rows.append(feature[1][row])
        if not rows:
            return None
        shift = rows[0].copy()
        for extra in rows[1:]:
            shift += extra
        return shift

    def score_related(self, item: int) -> npt.NDArray[np.float32]:
        scores = np.full(len(self.item_ids), -np.inf, dtype=np.float32)
        if self._neighbours is not None:
            idx, score = self._neighbours
            row, vals = idx[item], score[item]
            ok = row >= 0
            scores[row[ok]] = vals[ok]
        elif self._session is not None or self.retrieval is not None:
            scores = self.score_history([item])
        return scores


def load_model(
    directory: Path, retrieval_min_items: int | None = None, mask_cache_bytes: int = MASK_CACHE_BYTES
) -> LoadedModel:
    return LoadedModel(directory, retrieval_min_items, mask_cache_bytes)
