"""The built-in recipe catalogue: recipes, algorithms, feature transformations, and their hyperparameters.

Personalize's recipes are service-owned resources (``arn:aws:personalize:::recipe/<name>``) that
ListRecipes, DescribeRecipe, DescribeAlgorithm and DescribeFeatureTransformation serve read-only. This
module is that catalogue as data, in both a typed form (``Recipe`` for control, trainer and runtime to
branch on) and Personalize's camelCase JSON shapes. It also validates what CreateSolution,
CreateCampaign and CreateRecommender pass for a recipe (hyperparameters, feature transformation
parameters, item exploration config, HPO ranges), merging Personalize's defaults the way DescribeSolution
echoes them (L3094: ``"algorithmHyperParameters": {"apply_recency_bias": "true"}`` for UP-v2).

Line references (Lnnnn) point into spec/seeds/personalize-developer-guide.txt; choices the guide leaves
open are recorded in docs/adr/0004-schemas-and-recipes.md.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from tailor_shared.arns import ARN_MAX_LENGTH, ARN_PATTERN
from tailor_shared.errors import InvalidInputException, ResourceNotFoundException
from tailor_shared.schemas import (
    ACTION_INTERACTIONS,
    ACTIONS,
    ECOMMERCE,
    INTERACTIONS,
    ITEMS,
    USERS,
    VIDEO_ON_DEMAND,
    normalize_domain,
)
from tailor_shared.validation import constraint_message

# Built-ins never change; one fixed creation time keeps Describe* output stable across replicas and
# replays. 2024-05-01T00:00:00Z: the guide's document history date for the v2 recipes (L35497).
BUILTIN_TIMESTAMP: Final = 1714521600.0
STATUS_ACTIVE: Final = "ACTIVE"
RECIPE_PROVIDER_SERVICE: Final = "SERVICE"  # ListRecipes.recipeProvider valid values (L26851)

# Recipe types (L5683-L5745). The Recipe data type prints only three (L33537); the guide uses six.
USER_PERSONALIZATION: Final = "USER_PERSONALIZATION"
POPULAR_ITEMS: Final = "POPULAR_ITEMS"
PERSONALIZED_RANKING: Final = "PERSONALIZED_RANKING"
RELATED_ITEMS: Final = "RELATED_ITEMS"
PERSONALIZED_ACTIONS: Final = "PERSONALIZED_ACTIONS"
USER_SEGMENTATION: Final = "USER_SEGMENTATION"

GET_RECOMMENDATIONS: Final = "GetRecommendations"
GET_PERSONALIZED_RANKING: Final = "GetPersonalizedRanking"
GET_ACTION_RECOMMENDATIONS: Final = "GetActionRecommendations"

# How a runtime request uses userId / itemId (table L5715-L5730, use case pages L5418-L5656).
REQUIRED: Final = "REQUIRED"
FILTER_ONLY: Final = "FILTER_ONLY"  # "Required only if you apply a filter that requires it"
NOT_USED: Final = "NOT_USED"

# HPO: MANUAL = performHPO + hpoConfig; AUTOMATIC = v2 recipes, every 90 days with automatic training
# (L5816, L10443); NONE = not supported (NBA L6844, affinity L6907, L6938) or nothing to tune.
HPO_MANUAL: Final = "MANUAL"
HPO_AUTOMATIC: Final = "AUTOMATIC"
HPO_NONE: Final = "NONE"

# String-to-string maps (algorithmHyperParameters, featureTransformationParameters, itemExplorationConfig):
# "Maximum number of 100 items", key <= 256, value <= 1000 (L34196, L30764).
_MAX_MAP_ENTRIES: Final = 100
_MAX_MAP_KEY: Final = 256
_MAX_MAP_VALUE: Final = 1000
# HPO range bounds (HPOConfig and its range types, L32964-L33180).
HPO_BOUND: Final = 1000000
_MAX_RANGES_PER_KIND: Final = 100
# DescribeSolution echoes tuned names with a namespace: "training.bptt", "data.recency_mask" (L10504).
_NAMESPACES: Final = ("training.", "data.")

ValueType = Literal["integer", "continuous", "categorical"]
# algorithm: algorithmHyperParameters; featurization: "Featurization hyperparameters" of a recipe table,
# also accepted in featureTransformationParameters; feature_transformation: featureTransformationParameters
# only (trend_discovery_frequency, L6400); exploration: itemExplorationConfig (L5937, L30764).
Scope = Literal["algorithm", "featurization", "feature_transformation", "exploration"]


@dataclass(frozen=True)
class HyperParameter:
    """One documented hyperparameter with its default and allowed range."""

    name: str
    value_type: ValueType
    default: str
    tunable: bool  # "HPO tunable" column: may appear in hpoConfig ranges
    scope: Scope = "algorithm"
    min_value: float | None = None
    max_value: float | None = None
    min_exclusive: bool = False  # "positive floats": > 0
    values: tuple[str, ...] = ()  # categorical values (booleans as "true"/"false")
    aliases: tuple[tuple[str, str], ...] = ()  # accepted spelling -> canonical value
    hpo_only: bool = False  # "to use ... you must use HPO and provide minimum and maximum range values"
    config_key: str | None = None  # the itemExplorationConfig key of an exploration parameter

    def check(self, raw: object, where: str, key: str | None = None) -> str:
        """Validate one value (Personalize passes every value as a string); return it normalised.
        ``key`` is the name the caller used (e.g. the itemExplorationConfig key), for the message."""
        name = key or self.name
        if not isinstance(raw, str):
            raise InvalidInputException(f"The value of {name} in {where} must be a string.")
        value = raw.strip()
        if self.value_type == "categorical":
            wanted = dict(self.aliases).get(value.casefold(), value).casefold()
            for allowed in self.values:
                if allowed.casefold() == wanted:
                    return allowed
            raise InvalidInputException(
                f"Invalid value '{raw}' for {name} in {where}. Valid values: {', '.join(self.values)}."
            )
        if self.value_type == "integer":
            if not re.fullmatch(r"[+-]?\d+", value):
                raise InvalidInputException(f"The value of {name} in {where} must be an integer; got '{raw}'.")
            number: float = int(value)
        else:
            try:
                number = float(value)
            except ValueError:
                number = math.nan
            if not math.isfinite(number):
                raise InvalidInputException(f"The value of {name} in {where} must be a number; got '{raw}'.")
        if not self.in_range(number):
            raise InvalidInputException(f"The value of {name} in {where} must be in {self.range_text()}; got '{raw}'.")
        return str(int(number)) if self.value_type == "integer" else value

    def in_range(self, number: float) -> bool:
        low = self.min_value
        if low is not None and (number < low or (self.min_exclusive and number == low)):
            return False
        return self.max_value is None or number <= self.max_value

    def range_text(self) -> str:
        low = "(" if self.min_exclusive else "["
        return f"{low}{_num(self.min_value, self.value_type)}, {_num(self.max_value, self.value_type)}]"

    def describe_range(self) -> dict[str, Any]:
        """The Default*HyperParameterRange shape DescribeAlgorithm returns (L32316-L32500)."""
        if self.value_type == "categorical":
            return {"name": self.name, "values": list(self.values), "isTunable": self.tunable}
        low = self.min_value if self.min_value is not None else -HPO_BOUND
        high = self.max_value if self.max_value is not None else HPO_BOUND
        if self.value_type == "integer":
            return {"name": self.name, "minValue": int(low), "maxValue": int(high), "isTunable": self.tunable}
        return {"name": self.name, "minValue": float(low), "maxValue": float(high), "isTunable": self.tunable}


def _num(value: float | None, value_type: ValueType) -> str:
    if value is None:
        return "inf"
    return str(int(value)) if value_type == "integer" else str(float(value))


@dataclass(frozen=True)
class FeatureTransformation:
    """A built-in feature transformation (DescribeFeatureTransformation, L32680)."""

    arn: str
    name: str
    default_parameters: tuple[tuple[str, str], ...] = ()

    def describe(self) -> dict[str, Any]:
        return {
            "featureTransformationArn": self.arn,
            "name": self.name,
            "defaultParameters": dict(self.default_parameters),
            "status": STATUS_ACTIVE,
            "creationDateTime": BUILTIN_TIMESTAMP,
            "lastUpdatedDateTime": BUILTIN_TIMESTAMP,
        }


@dataclass(frozen=True)
class Algorithm:
    """A built-in algorithm (DescribeAlgorithm, L29773): the trainable hyperparameters of one recipe."""

    arn: str
    name: str
    hyperparameters: tuple[HyperParameter, ...] = ()
    training_input_mode: str = "File"

    @property
    def default_resource_config(self) -> dict[str, str]:
        """The "default maximum number of training jobs and parallel training jobs" (L29833), keyed like
        HPOResourceConfig; only algorithms with tunable hyperparameters have one (ADR 0004)."""
        if not any(h.tunable for h in self.hyperparameters):
            return {}
        return {"maxNumberOfTrainingJobs": "20", "maxParallelTrainingJobs": "5"}

    def describe(self) -> dict[str, Any]:
        ranges: dict[str, list[dict[str, Any]]] = {
            "integerHyperParameterRanges": [],
            "continuousHyperParameterRanges": [],
            "categoricalHyperParameterRanges": [],
        }
        for hp in self.hyperparameters:
            ranges[f"{hp.value_type}HyperParameterRanges"].append(hp.describe_range())
        return {
            "algorithmArn": self.arn,
            "name": self.name,
            "defaultHyperParameters": {hp.name: hp.default for hp in self.hyperparameters},
            "defaultHyperParameterRanges": ranges,
            "defaultResourceConfig": self.default_resource_config,
            "trainingInputMode": self.training_input_mode,
            "creationDateTime": BUILTIN_TIMESTAMP,
            "lastUpdatedDateTime": BUILTIN_TIMESTAMP,
        }


@dataclass(frozen=True)
class Recipe:
    """A built-in recipe or Domain use case, with what each service needs to branch on."""

    arn: str
    name: str
    recipe_type: str
    description: str
    algorithm_arn: str
    feature_transformation_arn: str | None = None
    domain: str | None = None  # set for Domain dataset group use cases
    legacy: bool = False  # "Legacy HRNN recipes are no longer available" (L6106): describable, not listed
    hyperparameters: tuple[HyperParameter, ...] = ()  # every documented parameter, all scopes
    runtime_api: str | None = GET_RECOMMENDATIONS  # None: batch segment jobs only
    user_id: str = REQUIRED
    item_id: str = NOT_USED
    required_datasets: tuple[str, ...] = (INTERACTIONS,)
    optional_datasets: tuple[str, ...] = ()
    training_modes: tuple[str, ...] = ("FULL",)
    hpo: str = HPO_NONE
    auto_ml: bool = False  # may be chosen by performAutoML (HRNN recipes only, L6318)
    real_time_personalization: bool = False
    exploration: bool = False
    item_exploration_config: bool = False  # accepts itemExplorationConfig (L30764, L33773)
    automatic_updates: bool = False
    contextual_metadata: bool = False
    impressions: bool = False
    returns_scores: bool = False
    batch_inference: bool = False
    batch_segment: bool = False
    theme_generation: bool = False
    promotions: bool = False
    optimization_objective: bool = False
    required_event_types: tuple[str, ...] = ()  # use cases: "At minimum, 1000 <type> events"
    recommended_event_types: tuple[str, ...] = ()
    auto_filter_event_type: str | None = None  # use cases that drop items the user already consumed
    implementation_recipe_arn: str | None = None  # use cases: the custom recipe Tailor trains for it

    @property
    def is_use_case(self) -> bool:
        return self.domain is not None

    def parameters(self, *scopes: Scope) -> tuple[HyperParameter, ...]:
        return tuple(hp for hp in self.hyperparameters if hp.scope in scopes)

    @property
    def solution_config_keys(self) -> frozenset[str]:
        """The SolutionConfig members this recipe honours (L22349, L34196); empty for use cases."""
        if self.is_use_case:
            return frozenset()
        keys = {"autoTrainingConfig", "eventValueThreshold"}  # every custom recipe (L9975, L10532)
        if self.parameters("algorithm", "featurization"):
            keys.add("algorithmHyperParameters")
        if self.parameters("feature_transformation", "featurization"):
            keys.add("featureTransformationParameters")
        if self.hpo == HPO_MANUAL:
            keys.add("hpoConfig")
        if self.optimization_objective:
            keys.add("optimizationObjective")
        if self.recipe_type != PERSONALIZED_ACTIONS:  # item recommendations or user segments (L10132)
            keys.add("trainingDataConfig")
        return frozenset(keys)

    @property
    def recommender_config_keys(self) -> frozenset[str]:
        """The RecommenderConfig members a use case honours (L33773); empty for custom recipes."""
        if not self.is_use_case:
            return frozenset()
        keys = {"minRecommendationRequestsPerSecond", "enableMetadataWithRecommendations", "trainingDataConfig"}
        if self.item_exploration_config:
            keys.add("itemExplorationConfig")
        return frozenset(keys)

    def describe(self) -> dict[str, Any]:
        """The Recipe data type (DescribeRecipe, L33457)."""
        body: dict[str, Any] = {
            "recipeArn": self.arn,
            "name": self.name,
            "recipeType": self.recipe_type,
            "description": self.description,
            "algorithmArn": self.algorithm_arn,
            "status": STATUS_ACTIVE,
            "creationDateTime": BUILTIN_TIMESTAMP,
            "lastUpdatedDateTime": BUILTIN_TIMESTAMP,
        }
        if self.feature_transformation_arn is not None:
            body["featureTransformationArn"] = self.feature_transformation_arn
        return body

    def summary(self) -> dict[str, Any]:
        """The RecipeSummary data type (ListRecipes, L33566)."""
        body: dict[str, Any] = {
            "recipeArn": self.arn,
            "name": self.name,
            "status": STATUS_ACTIVE,
            "creationDateTime": BUILTIN_TIMESTAMP,
            "lastUpdatedDateTime": BUILTIN_TIMESTAMP,
        }
        if self.domain is not None:
            body["domain"] = self.domain
        return body


# --- Hyperparameter tables -------------------------------------------------------------------------
def _int(name: str, default: int, low: int, high: int = HPO_BOUND, **kw: Any) -> HyperParameter:
    return HyperParameter(name, "integer", str(default), min_value=low, max_value=high, **kw)


def _cont(name: str, default: str, low: float, high: float = float(HPO_BOUND), **kw: Any) -> HyperParameter:
    return HyperParameter(name, "continuous", default, min_value=low, max_value=high, **kw)


def _bool(name: str, default: bool, **kw: Any) -> HyperParameter:
    return HyperParameter(name, "categorical", "true" if default else "false", values=("true", "false"), **kw)


def _user_history(low: str, high: str) -> tuple[HyperParameter, ...]:
    """min/max_user_history_length_percentile: featurization, [0.0, 1.0], not tunable."""
    return (
        _cont("min_user_history_length_percentile", low, 0.0, 1.0, tunable=False, scope="featurization"),
        _cont("max_user_history_length_percentile", high, 0.0, 1.0, tunable=False, scope="featurization"),
    )


def _rnn(hidden_dimension: int) -> tuple[HyperParameter, ...]:
    """The UP / PR / HRNN table: hidden_dimension [32, 256], bptt 32 [2, 32], recency_mask, percentiles."""
    return (
        _int("hidden_dimension", hidden_dimension, 32, 256, tunable=True),
        _int("bptt", 32, 2, 32, tunable=True),
        _bool("recency_mask", True, tunable=True),
        *_user_history("0.0", "0.99"),
    )


# UP's item exploration campaign configuration hyperparameters (L5937-L5950): weight [0.0, 1.0], default
# 0.3; item age cut-off "positive floats", default 30.0, "The minimum is 1 day" (L5945, L5532).
_EXPLORATION: Final = (
    _cont("exploration_weight", "0.3", 0.0, 1.0, tunable=False, scope="exploration", config_key="explorationWeight"),
    _cont(
        "exploration_item_age_cut_off",
        "30",
        1.0,
        tunable=False,
        scope="exploration",
        config_key="explorationItemAgeCutOff",
    ),
)
_RECENCY_BIAS: Final = (_bool("apply_recency_bias", True, tunable=False),)  # v2 recipes (L5825, L6503)
# HRNN-Coldstart featurization (L6298-L6306): positive integers / positive floats / two strings.
_COLD_START: Final = (
    _int("cold_start_max_interactions", 15, 1, tunable=False, scope="featurization"),
    _cont("cold_start_max_duration", "5.0", 0.0, tunable=False, scope="featurization", min_exclusive=True),
    HyperParameter(
        "cold_start_relative_from",
        "categorical",
        "latestItem",
        tunable=False,
        scope="featurization",
        values=("currentTime", "latestItem"),
    ),
)
# Trending-Now "Trend discovery frequency" (L6383): default 2 hours, values 30 minutes, 1 hour, 3 hour(s),
# 1 day. The default is not among the listed values; both are accepted (ADR 0004).
_TREND_DISCOVERY: Final = (
    HyperParameter(
        "trend_discovery_frequency",
        "categorical",
        "2 hours",
        tunable=False,
        scope="feature_transformation",
        values=("30 minutes", "1 hour", "2 hours", "3 hours", "1 day"),
        aliases=(("3 hour", "3 hours"), ("2 hour", "2 hours")),
    ),
)
# Similar-Items (L6645-L6656); SIMS (L6690-L6730); Next-Best-Action (L6860); affinity (L6916, L6947).
_SIMILAR_ITEMS: Final = (
    _cont("popularity_discount_factor", "0.0", 0.0, 1.0, tunable=False),
    _int("item_id_hidden_dim", 100, 30, 200, tunable=True, hpo_only=True),
    _int("item_metadata_hidden_dim", 100, 30, 200, tunable=True, hpo_only=True),
)
_SIMS: Final = (
    _cont("popularity_discount_factor", "0.5", 0.0, 1.0, tunable=True),
    _int("min_cointeraction_count", 3, 0, 10, tunable=True),
    *_user_history("0.005", "0.995"),
    _cont("min_item_interaction_count_percentile", "0.01", 0.0, 1.0, tunable=False, scope="featurization"),
    _cont("max_item_interaction_count_percentile", "0.9", 0.0, 1.0, tunable=False, scope="featurization"),
)
_NEXT_BEST_ACTION: Final = (_int("action_optimization_period", 14, 7, 28, tunable=False, scope="featurization"),)
_AFFINITY: Final = (_int("hidden_dimension", 149, 32, 256, tunable=False),)  # "You can't use HPO" (L6907)


def _arn(kind: str, name: str) -> str:
    return f"arn:aws:personalize:::{kind}/{name}"


def _ft(name: str, *params: HyperParameter) -> FeatureTransformation:
    return FeatureTransformation(_arn("feature-transformation", name), name, tuple((p.name, p.default) for p in params))


# Feature transformations named by the recipe pages (L6131, L6189, L6267, L6423, L6525, L6677, L6902,
# L6935). Their defaultParameters are the featurization defaults of the recipes that use them.
FEATURE_TRANSFORMATIONS: Final[dict[str, FeatureTransformation]] = {
    ft.arn: ft
    for ft in (
        _ft("JSON-percentile-filtering", *_user_history("0.0", "0.99")),
        _ft("featurize_metadata", *_user_history("0.0", "0.99")),
        _ft("featurize_coldstart", *_COLD_START, *_user_history("0.0", "0.99")),
        _ft("sims", *(hp for hp in _SIMS if hp.scope == "featurization")),
        _ft("item-affinity"),
        _ft("item-attribute-affinity"),
    )
}


def _custom(
    name: str,
    recipe_type: str,
    description: str,
    *,
    algorithm: str | None = None,
    feature_transformation: str | None = None,
    **kw: Any,
) -> Recipe:
    return Recipe(
        arn=_arn("recipe", name),
        name=name,
        recipe_type=recipe_type,
        description=description,
        algorithm_arn=_arn("algorithm", algorithm or name),
        feature_transformation_arn=_arn("feature-transformation", feature_transformation)
        if feature_transformation
        else None,
        **kw,
    )


_INTERACTIONS_USERS_ITEMS: Final = (USERS, ITEMS)

# Custom recipes: properties at L5810, L5882, L6128, L6186, L6263, L6367, L6420, L6488, L6522, L6625,
# L6674, L6846, L6899, L6932; capabilities from each recipe page and the feature lists L5315-L5398.
_CUSTOM_RECIPES: Final[tuple[Recipe, ...]] = (
    _custom(
        "aws-user-personalization-v2",
        USER_PERSONALIZATION,
        "Transformer-based recommendations of the items a user will most likely interact with; trains "
        "on up to 5 million items.",
        hyperparameters=_RECENCY_BIAS,
        optional_datasets=_INTERACTIONS_USERS_ITEMS,
        hpo=HPO_AUTOMATIC,
        real_time_personalization=True,
        exploration=True,  # managed by the service, not configurable (L5783, L5346)
        automatic_updates=True,
        contextual_metadata=True,
        returns_scores=True,
        batch_inference=True,
        promotions=True,
    ),
    _custom(
        "aws-user-personalization",
        USER_PERSONALIZATION,
        "Predicts the items a user will most likely interact with, with exploration of new and less "
        "interacted items and automatic updates every two hours.",
        hyperparameters=(*_rnn(149), *_EXPLORATION),
        optional_datasets=_INTERACTIONS_USERS_ITEMS,
        training_modes=("FULL", "UPDATE"),
        hpo=HPO_MANUAL,
        real_time_personalization=True,
        exploration=True,
        item_exploration_config=True,
        automatic_updates=True,
        contextual_metadata=True,
        impressions=True,
        returns_scores=True,
        batch_inference=True,
        promotions=True,
        optimization_objective=True,
    ),
    _custom(
        "aws-hrnn",
        USER_PERSONALIZATION,
        "Legacy hierarchical recurrent neural network that models changes in user behavior within a session.",
        feature_transformation="JSON-percentile-filtering",
        legacy=True,
        hyperparameters=_rnn(43),
        hpo=HPO_MANUAL,
        auto_ml=True,
        real_time_personalization=True,
        returns_scores=True,
        batch_inference=True,
        promotions=True,
    ),
    _custom(
        "aws-hrnn-metadata",
        USER_PERSONALIZATION,
        "Legacy HRNN with additional features derived from contextual, user and item metadata.",
        feature_transformation="featurize_metadata",
        legacy=True,
        hyperparameters=_rnn(43),
        optional_datasets=_INTERACTIONS_USERS_ITEMS,
        hpo=HPO_MANUAL,
        auto_ml=True,
        real_time_personalization=True,
        contextual_metadata=True,
        returns_scores=True,
        batch_inference=True,
        promotions=True,
    ),
    _custom(
        "aws-hrnn-coldstart",
        USER_PERSONALIZATION,
        "Legacy HRNN-Metadata variant that trains on a subset of cold items to recommend new items.",
        feature_transformation="featurize_coldstart",
        legacy=True,
        hyperparameters=(*_rnn(149)[:3], *_COLD_START, *_user_history("0.0", "0.99")),
        optional_datasets=_INTERACTIONS_USERS_ITEMS,
        training_modes=("FULL", "UPDATE"),
        hpo=HPO_MANUAL,
        auto_ml=True,
        real_time_personalization=True,
        contextual_metadata=True,
        returns_scores=True,
        batch_inference=True,
        promotions=True,
    ),
    _custom(
        "aws-trending-now",
        POPULAR_ITEMS,
        "Recommends the items with the highest rate of increase in interactions over a configurable interval.",
        algorithm="aws-trending-now-custom",
        hyperparameters=_TREND_DISCOVERY,
        user_id=FILTER_ONLY,
        automatic_updates=True,  # new items considered every interval without retraining (L6351)
        promotions=True,
    ),
    _custom(
        "aws-popularity-count",
        USER_PERSONALIZATION,  # printed "Recipe type USER_PERSONALIZATION" (L6424), listed as POPULAR_ITEMS
        "Recommends the items with the most interactions from unique users; the same list for all users.",
        feature_transformation="sims",
        user_id=FILTER_ONLY,
        batch_inference=True,
        promotions=True,
    ),
    _custom(
        "aws-personalized-ranking-v2",
        PERSONALIZED_RANKING,
        "Transformer-based personalized re-ranking of a list of items for a user; trains on up to 5 million items.",
        hyperparameters=_RECENCY_BIAS,
        runtime_api=GET_PERSONALIZED_RANKING,
        optional_datasets=_INTERACTIONS_USERS_ITEMS,
        hpo=HPO_AUTOMATIC,
        real_time_personalization=True,
        contextual_metadata=True,
        returns_scores=True,
        batch_inference=True,
    ),
    _custom(
        "aws-personalized-ranking",
        PERSONALIZED_RANKING,
        "Personalized re-ranking of a list of items, such as search results or curated lists, for a user.",
        feature_transformation="JSON-percentile-filtering",
        hyperparameters=_rnn(149),
        runtime_api=GET_PERSONALIZED_RANKING,
        optional_datasets=_INTERACTIONS_USERS_ITEMS,
        hpo=HPO_MANUAL,
        real_time_personalization=True,
        contextual_metadata=True,
        returns_scores=True,
        batch_inference=True,
        optimization_objective=True,
    ),
    _custom(
        "aws-similar-items",
        RELATED_ITEMS,
        "Recommends items similar to a given item from co-occurrence in user histories and item metadata similarity.",
        hyperparameters=_SIMILAR_ITEMS,
        user_id=FILTER_ONLY,
        item_id=REQUIRED,
        optional_datasets=(ITEMS,),
        hpo=HPO_MANUAL,
        batch_inference=True,
        theme_generation=True,
        promotions=True,
    ),
    _custom(
        "aws-sims",
        RELATED_ITEMS,
        "Item-to-item collaborative filtering: recommends items that co-occur with a given item in user histories.",
        feature_transformation="sims",
        hyperparameters=_SIMS,
        user_id=FILTER_ONLY,
        item_id=REQUIRED,
        hpo=HPO_MANUAL,
        batch_inference=True,
        promotions=True,
    ),
    _custom(
        "aws-next-best-action",
        PERSONALIZED_ACTIONS,
        "Recommends the actions a user will most likely take within the action optimization period.",
        hyperparameters=_NEXT_BEST_ACTION,
        runtime_api=GET_ACTION_RECOMMENDATIONS,
        required_datasets=(ACTIONS, INTERACTIONS),
        optional_datasets=(ACTION_INTERACTIONS, USERS, ITEMS),
        real_time_personalization=True,
        exploration=True,
        automatic_updates=True,
        returns_scores=True,
    ),
    _custom(
        "aws-item-affinity",
        USER_SEGMENTATION,
        "Creates a user segment for each item you specify: the users most likely to interact with it.",
        feature_transformation="item-affinity",
        hyperparameters=_AFFINITY,
        runtime_api=None,
        user_id=NOT_USED,
        optional_datasets=_INTERACTIONS_USERS_ITEMS,  # "Items and Users datasets are optional" (L6893)
        batch_segment=True,
    ),
    _custom(
        "aws-item-attribute-affinity",
        USER_SEGMENTATION,
        "Creates a user segment for each item attribute query you specify.",
        feature_transformation="item-attribute-affinity",
        hyperparameters=_AFFINITY,
        runtime_api=None,
        user_id=NOT_USED,
        required_datasets=(INTERACTIONS, ITEMS),  # L6926
        optional_datasets=(USERS,),
        batch_segment=True,
    ),
)


def _use_case(
    name: str,
    domain: str,
    recipe_type: str,
    description: str,
    implementation: str,
    *,
    personalized: bool = False,
    **kw: Any,
) -> Recipe:
    """A Domain use case: its own algorithm ARN, no hyperparameters, promotions always (L11824)."""
    extra: dict[str, Any] = {}
    if personalized:  # Top picks for you / Recommended for you (L5509, L5629)
        extra = {
            "hyperparameters": _EXPLORATION,
            "optional_datasets": _INTERACTIONS_USERS_ITEMS,
            "real_time_personalization": True,
            "exploration": True,
            "item_exploration_config": True,
            "automatic_updates": True,
            "contextual_metadata": True,
            "impressions": True,
        }
    return Recipe(
        arn=_arn("recipe", name),
        name=name,
        recipe_type=recipe_type,
        description=description,
        algorithm_arn=_arn("algorithm", name),
        domain=domain,
        promotions=True,
        implementation_recipe_arn=_arn("recipe", implementation),
        **extra,
        **kw,
    )


# Domain use cases (VIDEO_ON_DEMAND L5418-L5532, ECOMMERCE L5534-L5656). The guide prints several ARNs
# with hyphens lost at line wraps (L5576, L5592, L5610); the names here are the hyphenated forms.
_USE_CASES: Final[tuple[Recipe, ...]] = (
    _use_case(
        "aws-vod-because-you-watched-x",
        VIDEO_ON_DEMAND,
        RELATED_ITEMS,
        "Because you watched X: videos that other users also watched, based on a video you specify.",
        "aws-sims",
        item_id=REQUIRED,
        required_event_types=("Watch",),
        auto_filter_event_type="Watch",
    ),
    _use_case(
        "aws-vod-more-like-x",
        VIDEO_ON_DEMAND,
        RELATED_ITEMS,
        "More like X: videos similar to a video you specify.",
        "aws-similar-items",
        item_id=REQUIRED,
        required_datasets=(INTERACTIONS, ITEMS),
        recommended_event_types=("Watch", "Click"),
        auto_filter_event_type="Watch",
    ),
    _use_case(
        "aws-vod-most-popular",
        VIDEO_ON_DEMAND,
        POPULAR_ITEMS,
        "Most popular: videos watched by the most users.",
        "aws-popularity-count",
        required_event_types=("Watch",),
    ),
    _use_case(
        "aws-vod-trending-now",
        VIDEO_ON_DEMAND,
        POPULAR_ITEMS,
        "Trending now: videos rapidly becoming more popular, re-evaluated every two hours.",
        "aws-trending-now",
        user_id=FILTER_ONLY,
        automatic_updates=True,
    ),
    _use_case(
        "aws-vod-top-picks",
        VIDEO_ON_DEMAND,
        USER_PERSONALIZATION,
        "Top picks for you: personalized content recommendations for a user.",
        "aws-user-personalization",
        personalized=True,
        recommended_event_types=("Click", "Watch"),
        auto_filter_event_type="Watch",
    ),
    _use_case(
        "aws-ecomm-popular-items-by-views",
        ECOMMERCE,
        POPULAR_ITEMS,
        "Most viewed: popular items by how many times customers viewed them.",
        "aws-popularity-count",
        required_event_types=("View",),
    ),
    _use_case(
        "aws-ecomm-popular-items-by-purchases",
        ECOMMERCE,
        POPULAR_ITEMS,
        "Best sellers: popular items by how many times customers purchased them.",
        "aws-popularity-count",
        required_event_types=("Purchase",),
    ),
    _use_case(
        "aws-ecomm-frequently-bought-together",
        ECOMMERCE,
        RELATED_ITEMS,
        "Frequently bought together: items customers frequently buy together with an item you specify.",
        "aws-sims",
        user_id=FILTER_ONLY,
        item_id=REQUIRED,
        required_event_types=("Purchase",),
    ),
    _use_case(
        "aws-ecomm-customers-who-viewed-x-also-viewed",
        ECOMMERCE,
        RELATED_ITEMS,
        "Customers who viewed X also viewed: items customers also viewed, based on an item you specify.",
        "aws-sims",
        item_id=REQUIRED,
        required_event_types=("View",),
        recommended_event_types=("Purchase",),
        auto_filter_event_type="Purchase",
    ),
    _use_case(
        "aws-ecomm-recommended-for-you",
        ECOMMERCE,
        USER_PERSONALIZATION,
        "Recommended for you: personalized item recommendations for a user.",
        "aws-user-personalization",
        personalized=True,
        recommended_event_types=("View", "Purchase"),
        auto_filter_event_type="Purchase",
    ),
)

RECIPES: Final[dict[str, Recipe]] = {r.arn: r for r in (*_CUSTOM_RECIPES, *_USE_CASES)}
# One algorithm per recipe (the guide names a distinct algorithm ARN on every recipe page); its
# hyperparameters are the recipe's algorithm and featurization parameters.
ALGORITHMS: Final[dict[str, Algorithm]] = {
    r.algorithm_arn: Algorithm(
        r.algorithm_arn, r.algorithm_arn.rsplit("/", 1)[1], r.parameters("algorithm", "featurization")
    )
    for r in RECIPES.values()
}


# --- Lookups (DescribeRecipe / ListRecipes / DescribeAlgorithm / DescribeFeatureTransformation) -----
def _check_arn(arn: object, member: str) -> str:
    if not isinstance(arn, str) or len(arn) > ARN_MAX_LENGTH or not ARN_PATTERN.fullmatch(arn):
        rule = (
            f"Member must satisfy regular expression pattern: {ARN_PATTERN.pattern} and have length less "
            f"than or equal to {ARN_MAX_LENGTH}"
        )
        raise InvalidInputException(constraint_message(arn, member, rule))
    return arn


def _not_found(arn: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"Could not find the specified resource: {arn}")


def recipe(arn: str) -> Recipe:
    """The typed recipe for ``arn``; ResourceNotFoundException when it isn't a built-in."""
    found = RECIPES.get(_check_arn(arn, "recipeArn"))
    if found is None:
        raise _not_found(arn)
    return found


def algorithm(arn: str) -> Algorithm:
    found = ALGORITHMS.get(_check_arn(arn, "algorithmArn"))
    if found is None:
        raise _not_found(arn)
    return found


def feature_transformation(arn: str) -> FeatureTransformation:
    found = FEATURE_TRANSFORMATIONS.get(_check_arn(arn, "featureTransformationArn"))
    if found is None:
        raise _not_found(arn)
    return found


def describe_recipe(arn: str) -> dict[str, Any]:
    """The ``recipe`` member of DescribeRecipe's response (the Recipe data type)."""
    return recipe(arn).describe()


def describe_algorithm(arn: str) -> dict[str, Any]:
    """The ``algorithm`` member of DescribeAlgorithm's response (the Algorithm data type)."""
    return algorithm(arn).describe()


def describe_feature_transformation(arn: str) -> dict[str, Any]:
    """The ``featureTransformation`` member of DescribeFeatureTransformation's response."""
    return feature_transformation(arn).describe()


def list_recipes(domain: str | None = None, recipe_provider: str | None = None) -> list[dict[str, Any]]:
    """RecipeSummary list, sorted by name: a domain's use cases, or without a domain every available
    recipe (L26851). Legacy HRNN recipes are "no longer available" (L6106) and are not listed.
    Pagination (maxResults, nextToken) is the caller's."""
    domain = normalize_domain(domain)
    if recipe_provider not in (None, RECIPE_PROVIDER_SERVICE):
        raise InvalidInputException(
            constraint_message(
                recipe_provider, "recipeProvider", f"Member must satisfy enum value set: [{RECIPE_PROVIDER_SERVICE}]"
            )
        )
    chosen = [r for r in RECIPES.values() if not r.legacy and (domain is None or r.domain == domain)]
    return [r.summary() for r in sorted(chosen, key=lambda r: r.name)]


# --- Validation of per-recipe configuration ----------------------------------------------------------
def _check_map(params: Mapping[str, str], where: str) -> None:
    if not isinstance(params, Mapping):
        raise InvalidInputException(f"{where} must be a map of strings to strings.")
    if len(params) > _MAX_MAP_ENTRIES:
        raise InvalidInputException(f"{where} can have at most {_MAX_MAP_ENTRIES} entries.")
    for key, value in params.items():
        if not isinstance(key, str) or len(key) > _MAX_MAP_KEY:
            raise InvalidInputException(f"Keys of {where} must be strings of at most {_MAX_MAP_KEY} characters.")
        if isinstance(value, str) and len(value) > _MAX_MAP_VALUE:
            raise InvalidInputException(f"The value of {key} in {where} can have at most {_MAX_MAP_VALUE} characters.")


def _plain_name(name: str) -> str:
    """Strip the namespace DescribeSolution adds to tuned names ("training.bptt", L10504)."""
    for prefix in _NAMESPACES:
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def _misplaced(r: Recipe, name: str, where: str) -> InvalidInputException:
    """Explain an unknown name, pointing to the right place when the recipe knows it elsewhere."""
    hp = next((h for h in r.hyperparameters if h.name == name), None)
    if hp is not None and hp.scope == "exploration":
        return InvalidInputException(
            f"{name} is an item exploration setting of {r.name}: set it as {hp.config_key} in "
            "itemExplorationConfig (campaignConfig, batchInferenceJobConfig or recommenderConfig)."
        )
    if hp is not None and hp.scope == "feature_transformation":
        return InvalidInputException(f"{name} of {r.name} belongs in featureTransformationParameters.")
    if r.is_use_case:
        return InvalidInputException(f"{r.name} is a Domain use case; it takes no {where}.")
    return InvalidInputException(f"'{name}' is not a valid key of {where} for recipe {r.name}.")


def _validate_map(
    r: Recipe, params: Mapping[str, str], where: str, scopes: Sequence[Scope], default_scopes: Sequence[Scope]
) -> dict[str, str]:
    _check_map(params, where)
    allowed = {hp.name: hp for hp in r.parameters(*scopes)}
    merged = {hp.name: hp.default for hp in r.parameters(*default_scopes)}
    for raw_name, raw_value in params.items():
        name = _plain_name(raw_name)
        hp = allowed.get(name)
        if hp is None:
            raise _misplaced(r, name, where)
        if hp.hpo_only:
            raise InvalidInputException(
                f"{name} of {r.name} can only be set through HPO: set performHPO to true and give its "
                "minimum and maximum in hpoConfig.algorithmHyperParameterRanges."
            )
        merged[name] = hp.check(raw_value, where)
    return merged


def validate_hyperparameters(recipe_arn: str, hyperparameters: Mapping[str, str]) -> dict[str, str]:
    """Check ``solutionConfig.algorithmHyperParameters`` for a recipe and merge it over the defaults.

    Accepts the recipe's algorithm and featurization hyperparameters (both are "hyperparameters" in the
    recipe tables and L10403 puts hyperparameters in algorithmHyperParameters)."""
    r = recipe(recipe_arn)
    where = "algorithmHyperParameters"
    return _validate_map(r, hyperparameters, where, ("algorithm", "featurization"), ("algorithm", "featurization"))


def validate_feature_transformation_parameters(recipe_arn: str, parameters: Mapping[str, str]) -> dict[str, str]:
    """Check ``solutionConfig.featureTransformationParameters`` (trend_discovery_frequency, L6400, and
    featurization hyperparameters) and merge it over the feature-transformation defaults."""
    r = recipe(recipe_arn)
    where = "featureTransformationParameters"
    return _validate_map(r, parameters, where, ("feature_transformation", "featurization"), ("feature_transformation",))


def training_parameters(
    recipe_arn: str,
    algorithm_hyperparameters: Mapping[str, str] | None = None,
    feature_transformation_parameters: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Every parameter a training run of the recipe uses, by plain name: defaults, then
    algorithmHyperParameters, then featureTransformationParameters (the more specific map wins)."""
    merged = validate_hyperparameters(recipe_arn, algorithm_hyperparameters or {})
    explicit = {_plain_name(k) for k in (feature_transformation_parameters or {})}
    ft = validate_feature_transformation_parameters(recipe_arn, feature_transformation_parameters or {})
    merged |= {k: v for k, v in ft.items() if k in explicit or k not in merged}
    return merged


def validate_item_exploration_config(recipe_arn: str, config: Mapping[str, str]) -> dict[str, str]:
    """Check an ``itemExplorationConfig`` (campaign, batch inference job or recommender) and merge it over
    the defaults: explorationWeight 0.3, explorationItemAgeCutOff 30 (L5937-L5950, L5525-L5532).
    Only User-Personalization and the personalized use cases accept one (L30764, L33773)."""
    r = recipe(recipe_arn)
    where = "itemExplorationConfig"
    _check_map(config, where)
    if not r.item_exploration_config:
        raise InvalidInputException(
            f"{r.name} doesn't support itemExplorationConfig; only User-Personalization and the Top picks "
            "for you / Recommended for you use cases do."
        )
    by_key = {hp.config_key: hp for hp in r.parameters("exploration") if hp.config_key}
    merged = {key: hp.default for key, hp in by_key.items()}
    for key, value in config.items():
        hp = by_key.get(key)
        if hp is None:
            raise InvalidInputException(
                f"'{key}' is not a valid key of {where}. Valid keys: {', '.join(sorted(by_key))}."
            )
        merged[key] = hp.check(value, where, key)
    return merged


_RANGE_KINDS: Final[dict[str, ValueType]] = {
    "integerHyperParameterRanges": "integer",
    "continuousHyperParameterRanges": "continuous",
    "categoricalHyperParameterRanges": "categorical",
}


def _bound(entry: Mapping[str, Any], key: str, name: str, integer: bool) -> float:
    value = entry.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or (integer and not isinstance(value, int)):
        kind = "an integer" if integer else "a number"
        raise InvalidInputException(f"The {key} of the HPO range for {name} must be {kind}.")
    number = float(value)
    if not -HPO_BOUND <= number <= HPO_BOUND:
        raise InvalidInputException(f"The {key} of the HPO range for {name} must be within +/-{HPO_BOUND}.")
    return number


def validate_hpo_ranges(recipe_arn: str, ranges: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Check ``hpoConfig.algorithmHyperParameterRanges``: each name must be a tunable hyperparameter of
    the recipe of the matching kind, with bounds inside the documented range (L10443-L10470, L32964)."""
    r = recipe(recipe_arn)
    if r.hpo != HPO_MANUAL:
        raise InvalidInputException(f"{r.name} doesn't support hyperparameter optimization with hpoConfig.")
    if not isinstance(ranges, Mapping):
        raise InvalidInputException("algorithmHyperParameterRanges must be an object.")
    tunable = {hp.name: hp for hp in r.hyperparameters if hp.tunable}
    result: dict[str, list[dict[str, Any]]] = {key: [] for key in _RANGE_KINDS}
    for key, entries in ranges.items():
        kind = _RANGE_KINDS.get(key)
        if kind is None:
            raise InvalidInputException(f"'{key}' is not a member of algorithmHyperParameterRanges.")
        if not isinstance(entries, list) or len(entries) > _MAX_RANGES_PER_KIND:
            raise InvalidInputException(f"{key} must be a list of at most {_MAX_RANGES_PER_KIND} ranges.")
        for entry in entries:
            name = _plain_name(str(entry.get("name", ""))) if isinstance(entry, Mapping) else ""
            hp = tunable.get(name)
            if not isinstance(entry, Mapping) or hp is None or hp.value_type != kind:
                valid = ", ".join(sorted(n for n, h in tunable.items() if h.value_type == kind)) or "none"
                raise InvalidInputException(
                    f"'{name}' is not a tunable {kind} hyperparameter of {r.name}. Valid: {valid}."
                )
            if kind == "categorical":
                values = entry.get("values")
                if not isinstance(values, list) or not values:
                    raise InvalidInputException(f"The HPO range for {name} must list its values.")
                checked = [hp.check(v, "hpoConfig") for v in values]
                result[key].append({"name": name, "values": checked})
                continue
            low = _bound(entry, "minValue", name, kind == "integer")
            high = _bound(entry, "maxValue", name, kind == "integer")
            if low > high or not (hp.in_range(low) and hp.in_range(high)):
                raise InvalidInputException(
                    f"The HPO range [{_num(low, kind)}, {_num(high, kind)}] for {name} must lie within "
                    f"{hp.range_text()} with minValue <= maxValue."
                )
            cast = int if kind == "integer" else float
            result[key].append({"name": name, "minValue": cast(low), "maxValue": cast(high)})
    return result
