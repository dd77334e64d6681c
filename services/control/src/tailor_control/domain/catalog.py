"""The service-owned recipe catalogue (``tailor_shared.recipes``) as the control rules use it.

Recipe-specific rules (which recipes allow trainingMode UPDATE, batch inference, themes, segments,
item exploration) are flags on ``recipes.Recipe``, so the catalogue stays the one place that knows them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tailor_shared import recipes
from tailor_shared.recipes import Recipe


def recipe(arn: str) -> Recipe:
    """The typed recipe; ResourceNotFoundException for an ARN the catalogue doesn't know."""
    return recipes.recipe(arn)


def recipe_or_none(arn: str | None) -> Recipe | None:
    """The recipe behind an ARN stored on a resource (already validated when it was created)."""
    if arn is None:
        return None
    return recipes.RECIPES.get(arn)


def describe_recipe(arn: str) -> dict[str, Any]:
    return recipes.describe_recipe(arn)


def list_recipes(domain: str | None, provider: str) -> list[dict[str, Any]]:
    return recipes.list_recipes(domain, provider)


def describe_algorithm(arn: str) -> dict[str, Any]:
    return recipes.describe_algorithm(arn)


def describe_feature_transformation(arn: str) -> dict[str, Any]:
    return recipes.describe_feature_transformation(arn)


def hyperparameters(recipe_arn: str, given: Mapping[str, str]) -> dict[str, str]:
    """Checked algorithmHyperParameters merged over the recipe's defaults, as DescribeSolution echoes them
    (L3090)."""
    return recipes.validate_hyperparameters(recipe_arn, given)


def feature_transformation_parameters(recipe_arn: str, given: Mapping[str, str]) -> dict[str, str]:
    return recipes.validate_feature_transformation_parameters(recipe_arn, given)


def item_exploration(recipe_arn: str, given: Mapping[str, str]) -> dict[str, str]:
    """itemExplorationConfig for campaigns, batch inference jobs and recommenders (L30764, L33773)."""
    return recipes.validate_item_exploration_config(recipe_arn, given)


def hpo_ranges(recipe_arn: str, ranges: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return recipes.validate_hpo_ranges(recipe_arn, ranges)


def automl_candidate(arn: str) -> bool:
    """performAutoML "picks the best USER_PERSONALIZATION recipe" among those the catalogue allows."""
    found = recipes.RECIPES.get(arn)
    return found is not None and found.auto_ml
