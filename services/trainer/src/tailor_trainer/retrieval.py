"""The retrieval artifacts of a sequence model (docs/specs/model-artifact.md, ADR 0019): the same scores as
``model.onnx``, taken apart so the runtime can score a few candidates instead of the whole catalogue.

``model.onnx`` computes ``scores = h(seq) . v_i + b_i + linear_i(seq)``. Here: the user encoder
(``encoder.onnx``: item sequence -> ``h``), the item vectors ``v`` and biases ``b``, and the sparse linear part
(per history item, its neighbours and weights). For a catalogue of at least ``index_min_items`` items the
approximate-nearest-neighbour index over ``[v_i, b_i]`` is built here too (``tailor_shared.scoring.retrieval.
build_index``, deterministic) and shipped as ``retrieval_index.faiss``, so a runtime reads it instead of
building it at load (minutes at 1,000,000 items; ADR 0019 §5).
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from tailor_shared.scoring.retrieval import INDEX_FILE, build_index, item_matrix, write_index

ENCODER_FILE: Final = "encoder.onnx"
FILES: Final = {
    "itemVectors": "retrieval_item_vectors.npy",
    "itemBias": "retrieval_item_bias.npy",
    "linearIndex": "retrieval_linear_index.npy",
    "linearValue": "retrieval_linear_value.npy",
    "linearWeights": "retrieval_linear_weights.npy",
}
ENCODER_OUTPUT: Final = "user_vector"
ITEM_INDEX_FILE: Final = "item_index.json"  # the item order every array uses (docs/specs/model-artifact.md)


def _save(path: Path, array: npt.NDArray[Any]) -> None:
    with path.open("wb") as f:
        np.save(f, np.ascontiguousarray(array), allow_pickle=False)


def export_retrieval(
    scorer: Any, width: int, directory: Path, opset: int, input_name: str, index_min_items: int | None
) -> dict[str, Any] | None:
    """Write the retrieval files of a ``HybridScorer`` into ``directory`` (which already holds the model's
    ``item_index.json``); their manifest entry, or None for a model without a transformer (nothing to retrieve
    by: it keeps the full graph). The ANN index is written for catalogues of at least ``index_min_items`` items
    (None: never)."""
    import torch
    from torch import nn

    if not scorer.has_model:
        return None

    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.scorer = scorer

        def forward(self, item_sequence: torch.Tensor) -> torch.Tensor:
            seq = item_sequence[:, -self.scorer.context :]
            hidden: torch.Tensor = self.scorer.model.hidden(seq, self.scorer.table)[:, -1]
            return hidden

    n_items = int(scorer.n_items)
    example = torch.full((2, width), n_items, dtype=torch.int64)
    example[:, -1] = 0
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about Python ints in shapes are expected here
        torch.onnx.export(
            Encoder().eval(),
            (example,),
            str(directory / ENCODER_FILE),
            input_names=[input_name],
            output_names=[ENCODER_OUTPUT],
            dynamic_axes={input_name: {0: "batch"}, ENCODER_OUTPUT: {0: "batch"}},
            opset_version=opset,
            dynamo=False,
        )
        table = scorer.table.detach().numpy().astype(np.float32)
        bias = scorer.model.bias.detach().numpy().astype(np.float32)
    _save(directory / FILES["itemVectors"], table[:n_items])
    _save(directory / FILES["itemBias"], bias)
    entry: dict[str, Any] = {
        "encoder": {"file": ENCODER_FILE, "input": input_name, "output": ENCODER_OUTPUT, "dimension": table.shape[1]},
        "itemVectors": FILES["itemVectors"],
        "itemBias": FILES["itemBias"],
        "linear": None,
        "index": None,
    }
    if index_min_items is not None and n_items >= index_min_items:
        entry["index"] = _export_index(item_matrix(table[:n_items], bias), directory)
    if scorer.has_linear:
        # Rows per item index (row n_items, the padding, is all zeros); values already carry the mixing weight.
        _save(directory / FILES["linearIndex"], scorer.lin_idx.numpy().astype(np.int32))
        _save(directory / FILES["linearValue"], scorer.lin_val.numpy().astype(np.float32))
        _save(directory / FILES["linearWeights"], scorer.weights.numpy().astype(np.float32))
        entry["linear"] = {
            "index": FILES["linearIndex"],
            "value": FILES["linearValue"],
            "weights": FILES["linearWeights"],
            "window": int(scorer.window),
        }
    return entry


def _export_index(items: npt.NDArray[np.float32], directory: Path) -> dict[str, Any]:
    """Build the ANN index over ``items`` (one thread: the same bytes for the same model) and write it; its entry
    names the item order it was built for (the SHA-256 of ``item_index.json``: its ids are positions there)."""
    index, params = build_index(items, threads=1)
    write_index(index, directory / INDEX_FILE)
    ids = hashlib.sha256((directory / ITEM_INDEX_FILE).read_bytes()).hexdigest()
    return {"file": INDEX_FILE, **params, "itemIndex": ITEM_INDEX_FILE, "itemIndexSha256": ids}
