"""A solution version's evaluation report for people: metrics next to baselines, and the training curves.

Written into the model directory by ``artifacts.export`` (``report.md`` + ``training.png``), so whoever looks
at a version sees what it scored against the guide's recommended baseline (Popularity-Count) and, for the
hybrid, against each of its halves on the same test users.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Final

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from tailor_trainer.domain.metrics import METRIC_NAMES
from tailor_trainer.domain.train import TrainedModel

REPORT_MD: Final = "report.md"
REPORT_PNG: Final = "training.png"


def _stop_text(stop: dict[str, Any]) -> str:
    """How the epochs ended; a cut by the maximum training time is said loudly (quality may be below par)."""
    if "stopReason" not in stop:
        return ""
    text = f"; {stop['epochs']} of at most {stop['maxEpochs']} epochs, stopped by {stop['stopReason']}"
    if stop["stopReason"] == "MAX_TRAINING_TIME":
        text += (
            f" (**cut short** by the maximum training time of {stop.get('maxTrainingSeconds', 0):.0f} s, "
            "before validation stopped improving)"
        )
    if stop.get("refitEpochs"):
        text += f"; then refit on all training users for {stop['refitEpochs']} epochs (the best epoch on validation)"
    return text


def markdown(model: TrainedModel) -> str:
    """The report text: header, metric table (model vs baselines), hyperparameters, per-epoch history."""
    lines = [
        f"# Evaluation report — {model.recipe}",
        "",
        f"- Recipe: `{model.recipe_arn}` ({model.recipe_type}); training mode {model.training_mode}",
        f"- Items: {model.n_items}; users: {model.data_summary.get('users', '?')} "
        f"(train {model.data_summary.get('trainingUsers', '?')}, test {model.data_summary.get('testUsers', '?')})",
        f"- Interactions: {model.data_summary.get('interactionsAfterFiltering', '?')} after filtering "
        f"(eventType={model.data_summary.get('eventType')}, "
        f"eventValueThreshold={model.data_summary.get('eventValueThreshold')})",
        "- Protocol: 90 % of users train, 10 % test; each test user's oldest 90 % of interactions are the input "
        "and the newest 10 % the relevant items"
        + ("; the user's own items are not recommended" if model.exclude_seen else ""),
        f"- Training time: {model.training_seconds:.1f} s" + _stop_text(model.training_stop),
        "",
    ]
    if model.metrics:
        names = list(model.baselines)
        lines.append("| metric | this model | " + " | ".join(names) + " |")
        lines.append("|---|---:|" + "---:|" * len(names))
        for metric in METRIC_NAMES:
            row = [f"{model.metrics.get(metric, float('nan')):.4f}"]
            row += [f"{model.baselines[b].get(metric, float('nan')):.4f}" for b in names]
            lines.append(f"| {metric} | " + " | ".join(row) + " |")
        lines.append("")
    else:
        lines += ["No offline metrics for this recipe.", ""]
    cfg = model.seq_config
    if cfg is not None:
        lines += [
            "## Model",
            "",
            f"Hybrid: transformer (width {cfg.hidden}, {cfg.layers} layers, window {cfg.context}) + "
            f"beta = {model.beta:g} x linear item-item part over the last {cfg.linear_window} items "
            f"(recency decay {cfg.recency_decay:g}); beta and decay chosen on validation users.",
            "",
        ]
    lines.append("## Hyperparameters")
    lines.append("")
    for k, v in sorted(model.hyperparameters.items()):
        lines.append(f"- `{k}` = `{v}`")
    if model.tuned_hpo_params:
        lines.append("")
        lines.append("Tuned by HPO: " + ", ".join(f"`{k}`={v}" for k, v in sorted(model.tuned_hpo_params.items())))
    if model.history:
        lines += [
            "",
            "## Training history",
            "",
            "| epoch | loss | validation NDCG@10 | seconds |",
            "|---:|---:|---:|---:|",
        ]
        for s in model.history:
            ndcg = "" if math.isnan(s.validation_ndcg_at_10) else f"{s.validation_ndcg_at_10:.4f}"
            lines.append(f"| {s.epoch} | {s.loss:.4f} | {ndcg} | {s.seconds:.1f} |")
    return "\n".join(lines) + "\n"


def plot(model: TrainedModel, path: Path) -> None:
    """Training loss and validation NDCG@10 by epoch (an empty frame with a note when nothing was trained)."""
    fig, (ax_loss, ax_ndcg) = plt.subplots(1, 2, figsize=(9, 3.5))
    epochs = [s.epoch for s in model.history]
    if epochs:
        ax_loss.plot(epochs, [s.loss for s in model.history], marker="o")
        ndcg = [(s.epoch, s.validation_ndcg_at_10) for s in model.history if not math.isnan(s.validation_ndcg_at_10)]
        if ndcg:
            ax_ndcg.plot([e for e, _ in ndcg], [v for _, v in ndcg], marker="o", color="tab:green")
    else:
        for ax in (ax_loss, ax_ndcg):
            ax.text(0.5, 0.5, "no iterative training", ha="center", va="center", transform=ax.transAxes)
    ax_loss.set_title("training loss")
    ax_loss.set_xlabel("epoch")
    ax_ndcg.set_title("validation NDCG@10")
    ax_ndcg.set_xlabel("epoch")
    fig.suptitle(model.recipe)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_report(model: TrainedModel, directory: Path) -> tuple[Path, Path]:
    md = directory / REPORT_MD
    png = directory / REPORT_PNG
    md.write_text(markdown(model))
    plot(model, png)
    return md, png
