"""Pure training compute: data rules, recipes' models, Personalize's evaluation protocol and metrics.

The job runner calls ``train_solution_version`` and hands the result to ``tailor_trainer.artifacts.export``.
"""

from __future__ import annotations

from tailor_trainer.domain.data import DataRuleViolation, Interactions, ItemsTable, UsersTable
from tailor_trainer.domain.train import ProgressEvent, TrainedModel, TrainingStopped, train_solution_version

__all__ = [
    "DataRuleViolation",
    "Interactions",
    "ItemsTable",
    "ProgressEvent",
    "TrainedModel",
    "TrainingStopped",
    "UsersTable",
    "train_solution_version",
]
