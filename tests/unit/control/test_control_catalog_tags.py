"""Recipes, algorithms, feature transformations (api.md §1.16) and tagging (§1.17, L17990-18040)."""

from __future__ import annotations

import pytest

from tailor_shared.errors import (
    InvalidInputException,
    ResourceInUseException,
    ResourceNotFoundException,
    TooManyTagKeysException,
    TooManyTagsException,
)
from tests.support.control_plane import InMemoryControlPlane

RECIPE = "arn:aws:personalize:::recipe/"


def test_describe_recipe_algorithm_feature_transformation(plane: InMemoryControlPlane) -> None:
    recipe = plane.call("DescribeRecipe", {"recipeArn": RECIPE + "aws-sims"})["recipe"]
    assert recipe["recipeArn"] == RECIPE + "aws-sims" and recipe["status"] == "ACTIVE"
    algorithm = plane.call("DescribeAlgorithm", {"algorithmArn": recipe["algorithmArn"]})["algorithm"]
    assert algorithm["algorithmArn"] == recipe["algorithmArn"]
    transformation = plane.call(
        "DescribeFeatureTransformation", {"featureTransformationArn": recipe["featureTransformationArn"]}
    )["featureTransformation"]
    assert transformation["featureTransformationArn"] == recipe["featureTransformationArn"]
    with pytest.raises(ResourceNotFoundException):
        plane.call("DescribeRecipe", {"recipeArn": RECIPE + "aws-unknown"})
    with pytest.raises(InvalidInputException, match="at 'recipeArn'"):
        plane.call("DescribeRecipe", {})


def test_list_recipes_by_domain_and_paged(plane: InMemoryControlPlane) -> None:
    ecommerce = plane.call("ListRecipes", {"domain": "ECOMMERCE"})["recipes"]
    assert ecommerce and all(r["domain"] == "ECOMMERCE" for r in ecommerce)
    everything = plane.call("ListRecipes", {})["recipes"]
    assert len(everything) > len(ecommerce)
    first = plane.call("ListRecipes", {"maxResults": 2})
    assert len(first["recipes"]) == 2
    second = plane.call("ListRecipes", {"maxResults": 2, "nextToken": first["nextToken"]})
    assert [r["recipeArn"] for r in first["recipes"] + second["recipes"]] == [r["recipeArn"] for r in everything[:4]]
    with pytest.raises(InvalidInputException, match="SERVICE"):
        plane.call("ListRecipes", {"recipeProvider": "CUSTOM"})


def test_tag_untag_list(plane: InMemoryControlPlane, group: str) -> None:
    plane.call("TagResource", {"resourceArn": group, "tags": [{"tagKey": "b", "tagValue": "2"}, {"tagKey": "a"}]})
    assert plane.call("ListTagsForResource", {"resourceArn": group})["tags"] == [
        {"tagKey": "a", "tagValue": ""},
        {"tagKey": "b", "tagValue": "2"},
    ]
    before = plane.body(group)["lastUpdatedDateTime"]
    plane.call("TagResource", {"resourceArn": group, "tags": [{"tagKey": "b", "tagValue": "3"}]})
    assert plane.body(group)["lastUpdatedDateTime"] == before  # tags live beside the body
    plane.call("UntagResource", {"resourceArn": group, "tagKeys": ["a", "not-there"]})
    assert plane.call("ListTagsForResource", {"resourceArn": group})["tags"] == [{"tagKey": "b", "tagValue": "3"}]


@pytest.mark.parametrize(
    ("tag", "fragment"),
    [
        ({"tagKey": "aws:owner", "tagValue": "x"}, "can't start with 'aws:'"),
        ({"tagKey": "owner", "tagValue": "aws:x"}, "can't start with 'aws:'"),
        ({"tagKey": "", "tagValue": "x"}, "length between 1 and 128"),
        ({"tagKey": "k" * 129, "tagValue": "x"}, "length between 1 and 128"),
        ({"tagKey": "k", "tagValue": "v" * 257}, "less than or equal to 256"),
        ({"tagKey": "bad#key", "tagValue": "x"}, "regular expression pattern"),
        ({"tagValue": "x"}, "tagKey' failed to satisfy constraint: Member must not be null"),
    ],
)
def test_tag_validation(plane: InMemoryControlPlane, group: str, tag: dict[str, str], fragment: str) -> None:
    with pytest.raises(InvalidInputException) as err:
        plane.call("TagResource", {"resourceArn": group, "tags": [tag]})
    assert fragment in err.value.message


def test_unicode_letters_are_valid_tag_characters(plane: InMemoryControlPlane, group: str) -> None:
    plane.call("TagResource", {"resourceArn": group, "tags": [{"tagKey": "équipe 1", "tagValue": "données/é=+-@_.:"}]})
    assert plane.call("ListTagsForResource", {"resourceArn": group})["tags"][0]["tagKey"] == "équipe 1"


def test_tag_limits(plane: InMemoryControlPlane, group: str) -> None:
    plane.call("TagResource", {"resourceArn": group, "tags": [{"tagKey": f"k{i}", "tagValue": ""} for i in range(50)]})
    with pytest.raises(TooManyTagsException):
        plane.call("TagResource", {"resourceArn": group, "tags": [{"tagKey": "one-more", "tagValue": ""}]})
    plane.call("TagResource", {"resourceArn": group, "tags": [{"tagKey": "k0", "tagValue": "replaced"}]})
    with pytest.raises(InvalidInputException, match="Duplicate tag key"):
        plane.call("TagResource", {"resourceArn": group, "tags": [{"tagKey": "x"}, {"tagKey": "x"}]})
    with pytest.raises(InvalidInputException, match="length less than or equal to 200"):
        plane.call("TagResource", {"resourceArn": group, "tags": [{"tagKey": f"t{i}"} for i in range(201)]})
    with pytest.raises(TooManyTagKeysException, match="50 tag keys per resource"):
        plane.call("UntagResource", {"resourceArn": group, "tagKeys": [f"k{i}" for i in range(51)]})
    with pytest.raises(InvalidInputException, match="at 'tags'"):
        plane.call("TagResource", {"resourceArn": group})


def test_tagging_errors(plane: InMemoryControlPlane, group: str, interactions: str) -> None:
    schema_arn = plane.body(interactions)["schemaArn"]
    with pytest.raises(InvalidInputException, match="can't be tagged"):
        plane.call("TagResource", {"resourceArn": schema_arn, "tags": [{"tagKey": "k"}]})
    with pytest.raises(ResourceNotFoundException):
        plane.call("ListTagsForResource", {"resourceArn": "arn:aws:personalize:us-west-2:123456789012:filter/none"})
    plane.call("DeleteDataset", {"datasetArn": interactions})
    with pytest.raises(ResourceInUseException, match="being deleted"):
        plane.call("TagResource", {"resourceArn": interactions, "tags": [{"tagKey": "k"}]})


def test_create_operations_accept_tags(plane: InMemoryControlPlane, group: str, version: str) -> None:
    tags = [{"tagKey": "team", "tagValue": "recs"}]
    tracker = plane.call("CreateEventTracker", {"name": "t", "datasetGroupArn": group, "tags": tags})
    filter_arn = plane.call(
        "CreateFilter",
        {
            "name": "f",
            "datasetGroupArn": group,
            "filterExpression": 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("x")',
            "tags": tags,
        },
    )["filterArn"]
    for arn in (tracker["eventTrackerArn"], filter_arn, group):
        expected = tags if arn != group else []
        assert plane.call("ListTagsForResource", {"resourceArn": arn})["tags"] == expected
