"""The built-in recipe catalogue against the Developer Guide (Lnnnn = guide line)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tailor_shared import recipes as R
from tailor_shared.errors import InvalidInputException, ResourceNotFoundException

GUIDE = Path(__file__).resolve().parents[2].parent / "shared" / "spec" / "seeds" / "personalize-developer-guide.txt"
P = "arn:aws:personalize:::"

# Every recipe ARN the guide names. Hyphens lost at PDF line wraps are restored: L5576
# (aws-ecomm-popular-items-bypurchases), L5592 (frequently-boughttogether), L5610 (xalso-viewed),
# L5811 (userpersonalization-v2), L6187 (hrnnmetadata), L6265 (hrnncoldstart), L6368 (trendingnow),
# L6489/L6523 (awspersonalized-ranking), L6626 (similaritems), L6847 (nextbest-action), L6900
# (itemaffinity), L6933 (itemattribute-affinity).
GUIDE_RECIPE_ARNS = [
    P + "recipe/aws-user-personalization-v2",  # L3059, L5811
    P + "recipe/aws-user-personalization",  # L5883, L10488
    P + "recipe/aws-hrnn",  # L6129
    P + "recipe/aws-hrnn-metadata",  # L6187
    P + "recipe/aws-hrnn-coldstart",  # L6265
    P + "recipe/aws-trending-now",  # L6368, L6397
    P + "recipe/aws-popularity-count",  # L6421
    P + "recipe/aws-personalized-ranking-v2",  # L6489
    P + "recipe/aws-personalized-ranking",  # L6523
    P + "recipe/aws-similar-items",  # L6626
    P + "recipe/aws-sims",  # L6675
    P + "recipe/aws-next-best-action",  # L6847
    P + "recipe/aws-item-affinity",  # L6900
    P + "recipe/aws-item-attribute-affinity",  # L6933
    P + "recipe/aws-vod-because-you-watched-x",  # L5444
    P + "recipe/aws-vod-more-like-x",  # L5461
    P + "recipe/aws-vod-most-popular",  # L5478
    P + "recipe/aws-vod-trending-now",  # L5493
    P + "recipe/aws-vod-top-picks",  # L5511, L2207
    P + "recipe/aws-ecomm-popular-items-by-views",  # L5560
    P + "recipe/aws-ecomm-popular-items-by-purchases",  # L5576
    P + "recipe/aws-ecomm-frequently-bought-together",  # L5592
    P + "recipe/aws-ecomm-customers-who-viewed-x-also-viewed",  # L5610
    P + "recipe/aws-ecomm-recommended-for-you",  # L5631
]
# Algorithm ARN of each custom recipe (recipe property lists L5812-L6934).
GUIDE_ALGORITHMS = {
    "aws-user-personalization-v2": "aws-user-personalization-v2",
    "aws-user-personalization": "aws-user-personalization",
    "aws-hrnn": "aws-hrnn",
    "aws-hrnn-metadata": "aws-hrnn-metadata",
    "aws-hrnn-coldstart": "aws-hrnn-coldstart",
    "aws-trending-now": "aws-trending-now-custom",  # L6369
    "aws-popularity-count": "aws-popularity-count",
    "aws-personalized-ranking-v2": "aws-personalized-ranking-v2",
    "aws-personalized-ranking": "aws-personalized-ranking",
    "aws-similar-items": "aws-similar-items",
    "aws-sims": "aws-sims",
    "aws-next-best-action": "aws-next-best-action",
    "aws-item-affinity": "aws-item-affinity",
    "aws-item-attribute-affinity": "aws-item-attribute-affinity",
}
# Feature transformation ARN of each recipe that names one (L6131, L6189, L6267, L6423, L6525, L6677,
# L6902, L6935).
GUIDE_FEATURE_TRANSFORMATIONS = {
    "aws-hrnn": "JSON-percentile-filtering",
    "aws-hrnn-metadata": "featurize_metadata",
    "aws-hrnn-coldstart": "featurize_coldstart",
    "aws-popularity-count": "sims",
    "aws-personalized-ranking": "JSON-percentile-filtering",
    "aws-sims": "sims",
    "aws-item-affinity": "item-affinity",
    "aws-item-attribute-affinity": "item-attribute-affinity",
}
# Recipe types: printed "Recipe type" property where a page has one, otherwise the section the guide
# lists the recipe in (L5715-L5730).
GUIDE_RECIPE_TYPES = {
    "aws-user-personalization-v2": "USER_PERSONALIZATION",
    "aws-user-personalization": "USER_PERSONALIZATION",
    "aws-hrnn": "USER_PERSONALIZATION",  # L6132
    "aws-hrnn-metadata": "USER_PERSONALIZATION",  # L6190
    "aws-hrnn-coldstart": "USER_PERSONALIZATION",  # L6268
    "aws-trending-now": "POPULAR_ITEMS",
    "aws-popularity-count": "USER_PERSONALIZATION",  # L6424
    "aws-personalized-ranking-v2": "PERSONALIZED_RANKING",
    "aws-personalized-ranking": "PERSONALIZED_RANKING",  # L6526
    "aws-similar-items": "RELATED_ITEMS",
    "aws-sims": "RELATED_ITEMS",  # L6678
    "aws-next-best-action": "PERSONALIZED_ACTIONS",
    "aws-item-affinity": "USER_SEGMENTATION",  # L6903
    "aws-item-attribute-affinity": "USER_SEGMENTATION",  # L6936
}


def _one_hyphen_dropped(name: str) -> set[str]:
    return {name[:i] + name[i + 1 :] for i, c in enumerate(name) if c == "-"}


def arn(kind: str, name: str) -> str:
    return f"{P}{kind}/{name}"


# --- Catalogue contents -------------------------------------------------------------------------------
def test_catalogue_is_exactly_the_guide_recipes() -> None:
    assert len(GUIDE_RECIPE_ARNS) == 24
    assert sorted(R.RECIPES) == sorted(GUIDE_RECIPE_ARNS)


def test_every_recipe_arn_printed_in_the_guide_resolves() -> None:
    # ../shared sits beside every checkout and CI clone: a missing guide is a failure, not a skip.
    assert GUIDE.exists(), f"the Developer Guide seed is missing: {GUIDE}"
    text = GUIDE.read_text(encoding="utf-8")
    printed = set(re.findall(r"arn:\s*aws:\s*personalize:::recipe/([A-Za-z0-9_-]+)", text))
    names = {r.name for r in R.RECIPES.values()}
    unresolved, resolved = [], set()
    for name in printed:
        # A line wrap in the PDF drops exactly one hyphen: "aws-hrnnmetadata" is aws-hrnn-metadata.
        candidates = {n for n in names if n == name or name in _one_hyphen_dropped(n)}
        if len(candidates) != 1:
            unresolved.append(name)
        resolved |= candidates
    assert unresolved == []
    assert resolved == names  # and nothing in the catalogue that the guide doesn't print


def test_algorithm_and_feature_transformation_arns_match_the_guide() -> None:
    for name, algorithm in GUIDE_ALGORITHMS.items():
        r = R.recipe(arn("recipe", name))
        assert r.algorithm_arn == arn("algorithm", algorithm)
        assert r.algorithm_arn in R.ALGORITHMS
        expected_ft = GUIDE_FEATURE_TRANSFORMATIONS.get(name)
        assert r.feature_transformation_arn == (arn("feature-transformation", expected_ft) if expected_ft else None)
    assert sorted(R.FEATURE_TRANSFORMATIONS) == sorted(
        arn("feature-transformation", n) for n in set(GUIDE_FEATURE_TRANSFORMATIONS.values())
    )
    assert len(R.ALGORITHMS) == 24  # one per custom recipe + one per use case


@pytest.mark.parametrize(("name", "recipe_type"), sorted(GUIDE_RECIPE_TYPES.items()))
def test_recipe_types(name: str, recipe_type: str) -> None:
    assert R.describe_recipe(arn("recipe", name))["recipeType"] == recipe_type


def test_use_cases_have_their_domain_and_an_implementation() -> None:
    use_cases = [r for r in R.RECIPES.values() if r.is_use_case]
    assert len(use_cases) == 10
    for r in use_cases:
        assert r.domain == ("VIDEO_ON_DEMAND" if r.name.startswith("aws-vod-") else "ECOMMERCE")
        impl = R.recipe(r.implementation_recipe_arn or "")
        assert not impl.is_use_case
        assert r.promotions and not r.batch_inference and not r.returns_scores
    top_picks = R.recipe(arn("recipe", "aws-vod-top-picks"))
    assert top_picks.item_exploration_config and top_picks.auto_filter_event_type == "Watch"
    assert R.recipe(arn("recipe", "aws-ecomm-popular-items-by-purchases")).required_event_types == ("Purchase",)
    assert R.recipe(arn("recipe", "aws-vod-more-like-x")).required_datasets == ("Interactions", "Items")
    assert R.recipe(arn("recipe", "aws-ecomm-frequently-bought-together")).user_id == R.FILTER_ONLY


def test_typed_capabilities() -> None:
    up = R.recipe(arn("recipe", "aws-user-personalization"))
    assert up.training_modes == ("FULL", "UPDATE") and up.hpo == R.HPO_MANUAL and up.impressions
    assert up.optimization_objective and up.item_exploration_config
    assert "optimizationObjective" in up.solution_config_keys and "hpoConfig" in up.solution_config_keys
    v2 = R.recipe(arn("recipe", "aws-user-personalization-v2"))
    assert v2.hpo == R.HPO_AUTOMATIC and not v2.item_exploration_config and v2.exploration
    assert "hpoConfig" not in v2.solution_config_keys
    nba = R.recipe(arn("recipe", "aws-next-best-action"))
    assert nba.runtime_api == R.GET_ACTION_RECOMMENDATIONS and nba.required_datasets == ("Actions", "Interactions")
    assert not nba.batch_inference and "trainingDataConfig" not in nba.solution_config_keys
    segments = R.recipe(arn("recipe", "aws-item-attribute-affinity"))
    assert segments.runtime_api is None and segments.batch_segment and segments.hpo == R.HPO_NONE
    assert R.recipe(arn("recipe", "aws-trending-now")).batch_inference is False
    assert R.recipe(arn("recipe", "aws-similar-items")).theme_generation
    assert R.recipe(arn("recipe", "aws-personalized-ranking-v2")).runtime_api == R.GET_PERSONALIZED_RANKING
    assert R.recipe(arn("recipe", "aws-hrnn-coldstart")).auto_ml and R.recipe(arn("recipe", "aws-hrnn")).legacy
    use_case = R.recipe(arn("recipe", "aws-ecomm-recommended-for-you"))
    assert use_case.solution_config_keys == frozenset()
    assert "itemExplorationConfig" in use_case.recommender_config_keys


# --- Describe / List shapes ---------------------------------------------------------------------------
def test_describe_recipe_shape() -> None:
    body = R.describe_recipe(arn("recipe", "aws-sims"))
    assert body == {
        "recipeArn": arn("recipe", "aws-sims"),
        "name": "aws-sims",
        "recipeType": "RELATED_ITEMS",
        "description": body["description"],
        "algorithmArn": arn("algorithm", "aws-sims"),
        "featureTransformationArn": arn("feature-transformation", "sims"),
        "status": "ACTIVE",
        "creationDateTime": R.BUILTIN_TIMESTAMP,
        "lastUpdatedDateTime": R.BUILTIN_TIMESTAMP,
    }
    assert isinstance(body["description"], str) and body["description"]
    assert "featureTransformationArn" not in R.describe_recipe(arn("recipe", "aws-user-personalization-v2"))


def test_list_recipes_without_domain_lists_every_available_recipe() -> None:
    summaries = R.list_recipes()
    names = [s["name"] for s in summaries]
    assert names == sorted(names)
    assert len(summaries) == 21  # 24 minus the three legacy HRNN recipes (L6119)
    assert not any(n.startswith("aws-hrnn") for n in names)
    assert set(summaries[0]) <= {"recipeArn", "name", "status", "creationDateTime", "lastUpdatedDateTime", "domain"}
    assert {s["domain"] for s in summaries if "domain" in s} == {"ECOMMERCE", "VIDEO_ON_DEMAND"}
    assert R.list_recipes(None, "SERVICE") == summaries
    # Legacy recipes stay describable for solutions that already use them.
    assert R.describe_recipe(arn("recipe", "aws-hrnn"))["name"] == "aws-hrnn"


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        (
            "ECOMMERCE",
            [
                "aws-ecomm-customers-who-viewed-x-also-viewed",
                "aws-ecomm-frequently-bought-together",
                "aws-ecomm-popular-items-by-purchases",
                "aws-ecomm-popular-items-by-views",
                "aws-ecomm-recommended-for-you",
            ],
        ),
        (
            "VIDEO_ON_DEMAND",
            [
                "aws-vod-because-you-watched-x",
                "aws-vod-more-like-x",
                "aws-vod-most-popular",
                "aws-vod-top-picks",
                "aws-vod-trending-now",
            ],
        ),
    ],
)
def test_list_recipes_by_domain(domain: str, expected: list[str]) -> None:
    summaries = R.list_recipes(domain)
    assert [s["name"] for s in summaries] == expected
    assert all(s["domain"] == domain and s["status"] == "ACTIVE" for s in summaries)


def test_list_recipes_rejects_bad_filters() -> None:
    with pytest.raises(InvalidInputException, match="enum value set"):
        R.list_recipes("RETAIL")
    with pytest.raises(InvalidInputException, match="recipeProvider"):
        R.list_recipes(None, "CUSTOM")


def test_unknown_and_malformed_arns() -> None:
    with pytest.raises(ResourceNotFoundException, match="aws-nope"):
        R.describe_recipe(arn("recipe", "aws-nope"))
    with pytest.raises(ResourceNotFoundException):
        R.describe_algorithm(arn("algorithm", "aws-nope"))
    with pytest.raises(ResourceNotFoundException):
        R.describe_feature_transformation(arn("feature-transformation", "nope"))
    with pytest.raises(ResourceNotFoundException):
        R.validate_hyperparameters(arn("recipe", "aws-nope"), {})
    with pytest.raises(InvalidInputException, match="recipeArn"):
        R.describe_recipe("aws-sims")
    with pytest.raises(InvalidInputException, match="algorithmArn"):
        R.describe_algorithm("arn:aws:s3:::bucket")


def test_describe_algorithm_user_personalization() -> None:
    body = R.describe_algorithm(arn("algorithm", "aws-user-personalization"))
    assert body["algorithmArn"] == arn("algorithm", "aws-user-personalization")
    assert body["defaultHyperParameters"] == {
        "hidden_dimension": "149",
        "bptt": "32",
        "recency_mask": "true",
        "min_user_history_length_percentile": "0.0",
        "max_user_history_length_percentile": "0.99",
    }
    ranges = body["defaultHyperParameterRanges"]
    assert ranges["integerHyperParameterRanges"] == [
        {"name": "hidden_dimension", "minValue": 32, "maxValue": 256, "isTunable": True},
        {"name": "bptt", "minValue": 2, "maxValue": 32, "isTunable": True},
    ]
    assert ranges["categoricalHyperParameterRanges"] == [
        {"name": "recency_mask", "values": ["true", "false"], "isTunable": True}
    ]
    assert {r["name"]: r["isTunable"] for r in ranges["continuousHyperParameterRanges"]} == {
        "min_user_history_length_percentile": False,
        "max_user_history_length_percentile": False,
    }
    assert body["defaultResourceConfig"] == {"maxNumberOfTrainingJobs": "20", "maxParallelTrainingJobs": "5"}
    assert body["trainingInputMode"] == "File"
    assert body["creationDateTime"] == R.BUILTIN_TIMESTAMP


HP_TABLE: list[tuple[str, str, str, float | None, float | None, bool]] = [
    # (recipe, hyperparameter, default, min, max, HPO tunable) — the recipe pages' tables
    ("aws-user-personalization-v2", "apply_recency_bias", "true", None, None, False),  # L5825
    ("aws-hrnn", "hidden_dimension", "43", 32, 256, True),  # L6144
    ("aws-hrnn-metadata", "hidden_dimension", "43", 32, 256, True),
    ("aws-hrnn-coldstart", "hidden_dimension", "149", 32, 256, True),  # L6282
    ("aws-hrnn-coldstart", "cold_start_max_interactions", "15", 1, 1000000, False),  # L6298
    ("aws-hrnn-coldstart", "cold_start_max_duration", "5.0", 0.0, 1000000.0, False),  # L6305
    ("aws-personalized-ranking", "bptt", "32", 2, 32, True),
    ("aws-personalized-ranking-v2", "apply_recency_bias", "true", None, None, False),  # L6503
    ("aws-similar-items", "popularity_discount_factor", "0.0", 0.0, 1.0, False),  # L6645
    ("aws-similar-items", "item_id_hidden_dim", "100", 30, 200, True),  # L6646
    ("aws-similar-items", "item_metadata_hidden_dim", "100", 30, 200, True),  # L6654
    ("aws-sims", "popularity_discount_factor", "0.5", 0.0, 1.0, True),  # L6690
    ("aws-sims", "min_cointeraction_count", "3", 0, 10, True),  # L6692
    ("aws-sims", "min_user_history_length_percentile", "0.005", 0.0, 1.0, False),
    ("aws-sims", "max_user_history_length_percentile", "0.995", 0.0, 1.0, False),
    ("aws-sims", "min_item_interaction_count_percentile", "0.01", 0.0, 1.0, False),  # L6719
    ("aws-sims", "max_item_interaction_count_percentile", "0.9", 0.0, 1.0, False),  # L6726
    ("aws-next-best-action", "action_optimization_period", "14", 7, 28, False),  # L6860
    ("aws-item-affinity", "hidden_dimension", "149", 32, 256, False),  # L6916, no HPO
    ("aws-item-attribute-affinity", "hidden_dimension", "149", 32, 256, False),  # L6947
]


@pytest.mark.parametrize(("name", "hp", "default", "low", "high", "tunable"), HP_TABLE)
def test_algorithm_hyperparameter_tables(
    name: str, hp: str, default: str, low: float | None, high: float | None, tunable: bool
) -> None:
    body = R.describe_algorithm(R.recipe(arn("recipe", name)).algorithm_arn)
    assert body["defaultHyperParameters"][hp] == default
    entries = [e for kind in body["defaultHyperParameterRanges"].values() for e in kind if e["name"] == hp]
    assert len(entries) == 1
    entry = entries[0]
    assert entry["isTunable"] is tunable
    if low is None:
        assert entry["values"] == ["true", "false"]
    else:
        assert (entry["minValue"], entry["maxValue"]) == (low, high)


def test_algorithms_without_hyperparameters() -> None:
    for name in ("aws-popularity-count", "aws-trending-now-custom", "aws-vod-top-picks"):
        body = R.describe_algorithm(arn("algorithm", name))
        assert body["defaultHyperParameters"] == {} and body["defaultResourceConfig"] == {}
        assert all(v == [] for v in body["defaultHyperParameterRanges"].values())


def test_describe_feature_transformation() -> None:
    body = R.describe_feature_transformation(arn("feature-transformation", "sims"))
    assert body == {
        "featureTransformationArn": arn("feature-transformation", "sims"),
        "name": "sims",
        "defaultParameters": {
            "min_user_history_length_percentile": "0.005",
            "max_user_history_length_percentile": "0.995",
            "min_item_interaction_count_percentile": "0.01",
            "max_item_interaction_count_percentile": "0.9",
        },
        "status": "ACTIVE",
        "creationDateTime": R.BUILTIN_TIMESTAMP,
        "lastUpdatedDateTime": R.BUILTIN_TIMESTAMP,
    }
    coldstart = R.describe_feature_transformation(arn("feature-transformation", "featurize_coldstart"))
    assert coldstart["defaultParameters"]["cold_start_relative_from"] == "latestItem"
    assert R.describe_feature_transformation(arn("feature-transformation", "item-affinity"))["defaultParameters"] == {}


# --- validate_hyperparameters -------------------------------------------------------------------------
UP = arn("recipe", "aws-user-personalization")


def test_defaults_are_merged_like_describe_solution() -> None:
    # DescribeSolution for UP-v2 echoes {"apply_recency_bias": "true"} (L3094).
    assert R.validate_hyperparameters(arn("recipe", "aws-user-personalization-v2"), {}) == {
        "apply_recency_bias": "true"
    }
    merged = R.validate_hyperparameters(UP, {"hidden_dimension": "55", "recency_mask": "False"})
    assert merged == {
        "hidden_dimension": "55",
        "bptt": "32",
        "recency_mask": "false",
        "min_user_history_length_percentile": "0.0",
        "max_user_history_length_percentile": "0.99",
    }
    assert R.validate_hyperparameters(arn("recipe", "aws-popularity-count"), {}) == {}
    assert R.validate_hyperparameters(arn("recipe", "aws-vod-top-picks"), {}) == {}


def test_namespaced_names_are_accepted() -> None:
    merged = R.validate_hyperparameters(UP, {"training.bptt": "22", "data.recency_mask": "true"})
    assert merged["bptt"] == "22" and merged["recency_mask"] == "true"


@pytest.mark.parametrize(
    ("recipe_name", "params", "fragment"),
    [
        ("aws-user-personalization", {"hidden_dimension": "31"}, "must be in [32, 256]; got '31'"),
        ("aws-user-personalization", {"hidden_dimension": "257"}, "must be in [32, 256]"),
        ("aws-user-personalization", {"bptt": "3.5"}, "must be an integer"),
        ("aws-user-personalization", {"recency_mask": "maybe"}, "Valid values: true, false"),
        ("aws-user-personalization", {"min_user_history_length_percentile": "1.5"}, "must be in [0.0, 1.0]"),
        ("aws-user-personalization", {"max_user_history_length_percentile": "abc"}, "must be a number"),
        ("aws-user-personalization", {"max_user_history_length_percentile": "nan"}, "must be a number"),
        ("aws-user-personalization", {"hidden_dimension": 64}, "must be a string"),
        (
            "aws-user-personalization",
            {"num_layers": "2"},
            "'num_layers' is not a valid key of algorithmHyperParameters",
        ),
        ("aws-user-personalization", {"exploration_weight": "0.5"}, "explorationWeight in itemExplorationConfig"),
        ("aws-trending-now", {"trend_discovery_frequency": "1 hour"}, "belongs in featureTransformationParameters"),
        ("aws-similar-items", {"item_id_hidden_dim": "50"}, "can only be set through HPO"),
        ("aws-sims", {"min_cointeraction_count": "11"}, "must be in [0, 10]"),
        ("aws-next-best-action", {"action_optimization_period": "6"}, "must be in [7, 28]"),
        ("aws-hrnn-coldstart", {"cold_start_max_duration": "0"}, "must be in (0.0, 1000000.0]"),
        ("aws-hrnn-coldstart", {"cold_start_relative_from": "now"}, "Valid values: currentTime, latestItem"),
        ("aws-popularity-count", {"hidden_dimension": "64"}, "not a valid key"),
        ("aws-vod-top-picks", {"hidden_dimension": "64"}, "Domain use case; it takes no algorithmHyperParameters"),
        ("aws-user-personalization", {f"k{i}": "1" for i in range(101)}, "at most 100 entries"),
        ("aws-user-personalization", {"bptt": "1" * 1001}, "at most 1000 characters"),
    ],
)
def test_invalid_hyperparameters(recipe_name: str, params: dict[str, Any], fragment: str) -> None:
    with pytest.raises(InvalidInputException) as exc:
        R.validate_hyperparameters(arn("recipe", recipe_name), params)
    assert fragment in exc.value.message


def test_positive_float_and_boundaries() -> None:
    coldstart = arn("recipe", "aws-hrnn-coldstart")
    assert R.validate_hyperparameters(coldstart, {"cold_start_max_duration": "0.1"})["cold_start_max_duration"] == "0.1"
    assert R.validate_hyperparameters(UP, {"hidden_dimension": "32", "bptt": "+2"})["bptt"] == "2"
    sims = R.validate_hyperparameters(arn("recipe", "aws-sims"), {"popularity_discount_factor": "1.0"})
    assert sims["popularity_discount_factor"] == "1.0" and sims["min_cointeraction_count"] == "3"


# --- featureTransformationParameters, training_parameters ---------------------------------------------
TRENDING = arn("recipe", "aws-trending-now")


def test_trend_discovery_frequency() -> None:
    assert R.validate_feature_transformation_parameters(TRENDING, {}) == {"trend_discovery_frequency": "2 hours"}
    got = R.validate_feature_transformation_parameters(TRENDING, {"trend_discovery_frequency": "3 hour"})
    assert got == {"trend_discovery_frequency": "3 hours"}  # L6383 prints "3 hour", L6387 "3 hours"
    for value in ("30 minutes", "1 hour", "1 day"):
        assert R.validate_feature_transformation_parameters(TRENDING, {"trend_discovery_frequency": value}) == {
            "trend_discovery_frequency": value
        }
    with pytest.raises(InvalidInputException, match="Valid values: 30 minutes, 1 hour, 2 hours, 3 hours, 1 day"):
        R.validate_feature_transformation_parameters(TRENDING, {"trend_discovery_frequency": "1 week"})
    with pytest.raises(InvalidInputException, match="not a valid key of featureTransformationParameters"):
        R.validate_feature_transformation_parameters(UP, {"hidden_dimension": "64"})


def test_training_parameters_merge_both_maps() -> None:
    sims = arn("recipe", "aws-sims")
    params = R.training_parameters(
        sims, {"min_cointeraction_count": "5"}, {"min_user_history_length_percentile": "0.01"}
    )
    assert params["min_cointeraction_count"] == "5"
    assert params["min_user_history_length_percentile"] == "0.01"
    assert params["max_user_history_length_percentile"] == "0.995"
    assert R.training_parameters(TRENDING) == {"trend_discovery_frequency": "2 hours"}


# --- itemExplorationConfig --------------------------------------------------------------------------------
def test_item_exploration_config() -> None:
    assert R.validate_item_exploration_config(UP, {}) == {"explorationWeight": "0.3", "explorationItemAgeCutOff": "30"}
    got = R.validate_item_exploration_config(
        arn("recipe", "aws-ecomm-recommended-for-you"), {"explorationWeight": "1", "explorationItemAgeCutOff": "1"}
    )
    assert got == {"explorationWeight": "1", "explorationItemAgeCutOff": "1"}
    with pytest.raises(
        InvalidInputException, match=r"explorationWeight in itemExplorationConfig must be in \[0.0, 1.0\]"
    ):
        R.validate_item_exploration_config(UP, {"explorationWeight": "1.5"})
    with pytest.raises(InvalidInputException, match="explorationItemAgeCutOff"):
        R.validate_item_exploration_config(UP, {"explorationItemAgeCutOff": "0.5"})  # minimum is 1 day (L5530)
    with pytest.raises(InvalidInputException, match="Valid keys: explorationItemAgeCutOff, explorationWeight"):
        R.validate_item_exploration_config(UP, {"exploration_weight": "0.5"})
    for name in ("aws-sims", "aws-user-personalization-v2", "aws-vod-most-popular"):
        with pytest.raises(InvalidInputException, match="doesn't support itemExplorationConfig"):
            R.validate_item_exploration_config(arn("recipe", name), {})


# --- hpoConfig.algorithmHyperParameterRanges ---------------------------------------------------------------
def test_hpo_ranges_from_the_guide_example() -> None:
    # The CreateSolution example of L10450-L10470 and its DescribeSolution echo (L10497-L10520).
    ranges = {
        "categoricalHyperParameterRanges": [{"name": "recency_mask", "values": ["true", "false"]}],
        "integerHyperParameterRanges": [{"name": "bptt", "minValue": 2, "maxValue": 22}],
        "continuousHyperParameterRanges": [],
    }
    assert R.validate_hpo_ranges(UP, ranges) == {
        "integerHyperParameterRanges": [{"name": "bptt", "minValue": 2, "maxValue": 22}],
        "continuousHyperParameterRanges": [],
        "categoricalHyperParameterRanges": [{"name": "recency_mask", "values": ["true", "false"]}],
    }
    echoed = {"integerHyperParameterRanges": [{"name": "training.bptt", "minValue": 2, "maxValue": 22}]}
    assert R.validate_hpo_ranges(UP, echoed)["integerHyperParameterRanges"][0]["name"] == "bptt"
    sims = {
        "continuousHyperParameterRanges": [{"name": "popularity_discount_factor", "minValue": 0.1, "maxValue": 0.9}]
    }
    assert (
        R.validate_hpo_ranges(arn("recipe", "aws-sims"), sims)["continuousHyperParameterRanges"][0]["maxValue"] == 0.9
    )


@pytest.mark.parametrize(
    ("recipe_name", "ranges", "fragment"),
    [
        ("aws-next-best-action", {}, "doesn't support hyperparameter optimization"),
        ("aws-user-personalization-v2", {}, "doesn't support hyperparameter optimization"),
        ("aws-item-affinity", {}, "doesn't support hyperparameter optimization"),
        ("aws-vod-top-picks", {}, "doesn't support hyperparameter optimization"),
        (
            "aws-user-personalization",
            {
                "continuousHyperParameterRanges": [
                    {"name": "min_user_history_length_percentile", "minValue": 0.0, "maxValue": 0.1}
                ]
            },
            "not a tunable continuous hyperparameter",
        ),
        (
            "aws-user-personalization",
            {"continuousHyperParameterRanges": [{"name": "bptt", "minValue": 2, "maxValue": 3}]},
            "not a tunable continuous hyperparameter of aws-user-personalization. Valid: none",
        ),
        (
            "aws-user-personalization",
            {"integerHyperParameterRanges": [{"name": "bptt", "minValue": 1, "maxValue": 22}]},
            "must lie within [2, 32]",
        ),
        (
            "aws-user-personalization",
            {"integerHyperParameterRanges": [{"name": "bptt", "minValue": 20, "maxValue": 10}]},
            "minValue <= maxValue",
        ),
        (
            "aws-user-personalization",
            {"integerHyperParameterRanges": [{"name": "bptt", "minValue": 2.5, "maxValue": 10}]},
            "minValue of the HPO range for bptt must be an integer",
        ),
        (
            "aws-user-personalization",
            {"integerHyperParameterRanges": [{"name": "bptt", "minValue": 2, "maxValue": 2000000}]},
            "within +/-1000000",
        ),
        (
            "aws-user-personalization",
            {"categoricalHyperParameterRanges": [{"name": "recency_mask", "values": ["yes"]}]},
            "Valid values: true, false",
        ),
        ("aws-user-personalization", {"categoricalHyperParameterRanges": [{"name": "recency_mask"}]}, "must list"),
        ("aws-user-personalization", {"stringRanges": []}, "not a member of algorithmHyperParameterRanges"),
    ],
)
def test_invalid_hpo_ranges(recipe_name: str, ranges: dict[str, Any], fragment: str) -> None:
    with pytest.raises(InvalidInputException) as exc:
        R.validate_hpo_ranges(arn("recipe", recipe_name), ranges)
    assert fragment in exc.value.message
