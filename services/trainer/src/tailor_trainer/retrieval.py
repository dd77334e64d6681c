"""The retrieval artifacts of a sequence model (docs/specs/model-artifact.md, ADR 0019): the same scores as
``model.onnx``, taken apart so the runtime can score a few candidates instead of the whole catalogue.

``model.onnx`` computes ``scores = h(seq) . v_i + b_i + linear_i(seq)``. Here: the user encoder
(``encoder.onnx``: item sequence -> ``h``), the item vectors ``v`` and biases ``b``, and the sparse linear part
(per history item, its neighbours and weights). The runtime builds its approximate-nearest-neighbour index over
``[v_i, b_i]`` at load; the artifact stays independent of any index library.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

ENCODER_FILE: Final = "encoder.onnx"
FILES: Final = {
    "itemVectors": "retrieval_item_vectors.npy",
    "itemBias": "retrieval_item_bias.npy",
    "linearIndex": "retrieval_linear_index.npy",
    "linearValue": "retrieval_linear_value.npy",
    "linearWeights": "retrieval_linear_weights.npy",
}
ENCODER_OUTPUT: Final = "user_vector"


def _save(path: Path, array: npt.NDArray[Any]) -> None:
    with path.open("wb") as f:
        np.save(f, np.ascontiguousarray(array), allow_pickle=False)


def export_retrieval(scorer: Any, width: int, directory: Path, opset: int, input_name: str) -> dict[str, Any] | None:
    """Write the retrieval files of a ``HybridScorer`` into ``directory``; their manifest entry, or None for a
    model without a transformer (nothing to retrieve by: it keeps the full graph)."""
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
    }
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
