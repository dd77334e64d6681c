"""The trainer's view of each recipe's hyperparameters: defaults, ranges, HPO tunability (spec/recipes.md §5-8).

Values arrive as Personalize's string maps (``algorithmHyperParameters``, ``featureTransformationParameters``);
control has already validated them, so parsing here is lenient about namespaces ("training.bptt") and case.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

Kind = Literal["int", "float", "bool", "str"]

ARN_PREFIX: Final = "arn:aws:personalize:::recipe/"
UP_V2: Final = "aws-user-personalization-v2"
UP: Final = "aws-user-personalization"
PR_V2: Final = "aws-personalized-ranking-v2"
PR: Final = "aws-personalized-ranking"
SIMILAR_ITEMS: Final = "aws-similar-items"
SIMS: Final = "aws-sims"
POPULARITY_COUNT: Final = "aws-popularity-count"
TRENDING_NOW: Final = "aws-trending-now"
ITEM_AFFINITY: Final = "aws-item-affinity"
ITEM_ATTRIBUTE_AFFINITY: Final = "aws-item-attribute-affinity"
SEGMENT_RECIPES: Final = frozenset({ITEM_AFFINITY, ITEM_ATTRIBUTE_AFFINITY})  # USER_SEGMENTATION (domain/affinity)

SEQUENCE_RECIPES: Final = frozenset({UP_V2, UP, PR_V2, PR})
UPDATE_RECIPES: Final = frozenset({UP, UP_V2})  # UPDATE: UP (L22690); UP-v2 gets the same 2-hourly updates
#: Recipes that train on impressions (shown items not chosen as negatives; ADR 0022): User-Personalization
#: (L5279-5291) and its v2.
IMPRESSION_RECIPES: Final = frozenset({UP, UP_V2})
#: The most items a model considers in training and recommendations (L4131-4133, L19709); automatic updates
#: bring new items in until a model holds this many (L5380).
MAX_TRAINING_ITEMS: Final = 750_000
MAX_TRAINING_ITEMS_V2: Final = 5_000_000  # User-Personalization-v2 and Personalized-Ranking-v2 (L4131)


def max_training_items(recipe: str) -> int:
    """The recipe's item limit: 5 million for the v2 recipes, 750,000 for every other."""
    return MAX_TRAINING_ITEMS_V2 if recipe in (UP_V2, PR_V2) else MAX_TRAINING_ITEMS


RECIPE_TYPES: Final = {
    UP_V2: "USER_PERSONALIZATION",
    UP: "USER_PERSONALIZATION",
    PR_V2: "PERSONALIZED_RANKING",
    PR: "PERSONALIZED_RANKING",
    SIMILAR_ITEMS: "RELATED_ITEMS",
    SIMS: "RELATED_ITEMS",
    POPULARITY_COUNT: "POPULAR_ITEMS",
    TRENDING_NOW: "POPULAR_ITEMS",
    ITEM_AFFINITY: "USER_SEGMENTATION",
    ITEM_ATTRIBUTE_AFFINITY: "USER_SEGMENTATION",
}
#: Trend discovery frequency values (L6400) in seconds; "2 hours" is the API default.
TREND_FREQUENCIES: Final = {
    "30 minutes": 1800,
    "1 hour": 3600,
    "2 hours": 7200,
    "3 hours": 10800,
    "3 hour": 10800,
    "1 day": 86400,
}


@dataclass(frozen=True)
class Param:
    name: str
    kind: Kind
    default: str
    low: float | None = None
    high: float | None = None
    tunable: bool = False


_UP_V1: Final = (
    Param("hidden_dimension", "int", "149", 32, 256, tunable=True),
    Param("bptt", "int", "32", 2, 32, tunable=True),
    Param("recency_mask", "bool", "true", tunable=True),
    Param("min_user_history_length_percentile", "float", "0.0", 0.0, 1.0),
    Param("max_user_history_length_percentile", "float", "0.99", 0.0, 1.0),
)
_V2: Final = (Param("apply_recency_bias", "bool", "true"),)

PARAMS: Final[dict[str, tuple[Param, ...]]] = {
    UP_V2: _V2,
    PR_V2: _V2,
    UP: _UP_V1,
    PR: _UP_V1,
    SIMILAR_ITEMS: (
        Param("popularity_discount_factor", "float", "0.0", 0.0, 1.0),
        Param("item_id_hidden_dim", "int", "100", 30, 200, tunable=True),
        Param("item_metadata_hidden_dim", "int", "100", 30, 200, tunable=True),
    ),
    SIMS: (
        Param("popularity_discount_factor", "float", "0.5", 0.0, 1.0, tunable=True),
        Param("min_cointeraction_count", "int", "3", 0, 10, tunable=True),
        Param("min_user_history_length_percentile", "float", "0.005", 0.0, 1.0),
        Param("max_user_history_length_percentile", "float", "0.995", 0.0, 1.0),
        Param("min_item_interaction_count_percentile", "float", "0.01", 0.0, 1.0),
        Param("max_item_interaction_count_percentile", "float", "0.9", 0.0, 1.0),
    ),
    POPULARITY_COUNT: (),
    TRENDING_NOW: (Param("trend_discovery_frequency", "str", "2 hours"),),
    # "You can't use hyperparameter optimization (HPO)" with either (L6907, L6938).
    ITEM_AFFINITY: (Param("hidden_dimension", "int", "149", 32, 256),),
    ITEM_ATTRIBUTE_AFFINITY: (Param("hidden_dimension", "int", "149", 32, 256),),
}


def recipe_name(recipe_arn: str) -> str:
    name = recipe_arn.rsplit("/", 1)[-1]
    if name not in PARAMS:
        raise ValueError(f"recipe {recipe_arn} is not trainable by this trainer")
    return name


def _plain(name: str) -> str:
    for prefix in ("training.", "data."):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def resolve(recipe: str, solution_config: Mapping[str, Any]) -> dict[str, str]:
    """Effective hyperparameters as strings: defaults overridden by the solution's maps."""
    out = {p.name: p.default for p in PARAMS[recipe]}
    for key in ("algorithmHyperParameters", "featureTransformationParameters"):
        given = solution_config.get(key) or {}
        if isinstance(given, Mapping):
            for name, value in given.items():
                plain = _plain(str(name))
                if plain in out:
                    out[plain] = str(value)
    return out


def as_int(values: Mapping[str, str], name: str) -> int:
    return int(float(values[name]))


def as_float(values: Mapping[str, str], name: str) -> float:
    return float(values[name])


def as_bool(values: Mapping[str, str], name: str) -> bool:
    return values[name].strip().lower() in {"true", "1", "yes"}


@dataclass(frozen=True)
class Range:
    name: str
    kind: Kind
    low: float = 0.0
    high: float = 0.0
    values: tuple[str, ...] = ()

    def sample(self, rng: random.Random) -> str:
        if self.values:
            return rng.choice(self.values)
        if self.kind == "int":
            return str(rng.randint(int(self.low), int(self.high)))
        return repr(rng.uniform(self.low, self.high))


def hpo_ranges(recipe: str, solution_config: Mapping[str, Any]) -> list[Range]:
    """The search space: ``hpoConfig.algorithmHyperParameterRanges`` when given, else each tunable's full range."""
    kinds = {p.name: p for p in PARAMS[recipe]}
    hpo = solution_config.get("hpoConfig") or {}
    given = hpo.get("algorithmHyperParameterRanges") if isinstance(hpo, Mapping) else None
    out: list[Range] = []
    if isinstance(given, Mapping) and any(given.get(k) for k in given):
        for entry in given.get("integerHyperParameterRanges") or []:
            name = _plain(str(entry["name"]))
            out.append(Range(name, "int", float(entry["minValue"]), float(entry["maxValue"])))
        for entry in given.get("continuousHyperParameterRanges") or []:
            name = _plain(str(entry["name"]))
            out.append(Range(name, "float", float(entry["minValue"]), float(entry["maxValue"])))
        for entry in given.get("categoricalHyperParameterRanges") or []:
            name = _plain(str(entry["name"]))
            out.append(
                Range(name, kinds[name].kind if name in kinds else "str", values=tuple(map(str, entry["values"])))
            )
        return [r for r in out if r.name in kinds]
    for p in PARAMS[recipe]:
        if not p.tunable:
            continue
        if p.kind == "bool":
            out.append(Range(p.name, "bool", values=("true", "false")))
        elif p.low is not None and p.high is not None:
            out.append(Range(p.name, p.kind, p.low, p.high))
    return out


def max_trials(solution_config: Mapping[str, Any], default: int = 4) -> int:
    """``hpoResourceConfig.maxNumberOfTrainingJobs`` (at most 40, L10460); 4 when unset (the guide's example)."""
    hpo = solution_config.get("hpoConfig") or {}
    res = hpo.get("hpoResourceConfig") if isinstance(hpo, Mapping) else None
    if isinstance(res, Mapping) and res.get("maxNumberOfTrainingJobs"):
        return max(1, min(40, int(str(res["maxNumberOfTrainingJobs"]))))
    return default
