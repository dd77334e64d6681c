"""The read-only catalogue (recipes, algorithms, feature transformations; api.md §1.16) and tagging
(api.md §1.17)."""

from __future__ import annotations

from typing import Any

from tailor_control.domain import catalog
from tailor_control.domain import model as m
from tailor_control.domain.common import not_found, operation, status, with_tags
from tailor_control.domain.paging import paginate
from tailor_control.domain.tags import as_tag_list, check_tag_count, parse_tag_keys, parse_tags
from tailor_control.domain.validate import Request
from tailor_shared.errors import InvalidInputException, ResourceInUseException
from tailor_shared.resources import ResourceReader, ResourceRecord

# --- catalogue ------------------------------------------------------------------------------------------


@operation("DescribeRecipe")
def describe_recipe(req: Request, view: ResourceReader, ctx: m.Context) -> m.Outcome:
    return m.Outcome({"recipe": catalog.describe_recipe(req.req_arn("recipeArn"))})


@operation("ListRecipes")
def list_recipes(req: Request, view: ResourceReader, ctx: m.Context) -> m.Outcome:
    domain = req.enum("domain", m.DOMAINS)
    provider = req.enum("recipeProvider", ("SERVICE",), default="SERVICE")
    recipes = catalog.list_recipes(domain, str(provider))
    indexed = list(enumerate(recipes))
    page, token = paginate(
        indexed,
        req,
        operation="ListRecipes",
        scope=domain,
        key=lambda pair: (float(-pair[0]), str(pair[1].get("recipeArn", ""))),
    )
    response: dict[str, Any] = {"recipes": [r for _, r in page]}
    if token is not None:
        response["nextToken"] = token
    return m.Outcome(response)


@operation("DescribeAlgorithm")
def describe_algorithm(req: Request, view: ResourceReader, ctx: m.Context) -> m.Outcome:
    return m.Outcome({"algorithm": catalog.describe_algorithm(req.req_arn("algorithmArn"))})


@operation("DescribeFeatureTransformation")
def describe_feature_transformation(req: Request, view: ResourceReader, ctx: m.Context) -> m.Outcome:
    arn = req.req_arn("featureTransformationArn")
    return m.Outcome({"featureTransformation": catalog.describe_feature_transformation(arn)})


# --- tags -----------------------------------------------------------------------------------------------


def _taggable(view: ResourceReader, arn: str) -> ResourceRecord:
    record = view.get(arn)
    if record is None:
        raise not_found(arn)
    if record.resource_type not in m.TAGGABLE:
        # Schemas and metric attributions take no tags (L18000-18015; api.md §1.18).
        raise InvalidInputException(f"Resources of type {record.resource_type} can't be tagged: {arn}")
    return record


@operation("TagResource")
def tag_resource(req: Request, view: ResourceReader, ctx: m.Context) -> m.Outcome:
    arn = req.req_arn("resourceArn", loose=True)
    tags = parse_tags(req, required=True)
    record = _taggable(view, arn)
    if status(record) in m.DELETING:
        raise ResourceInUseException(f"Resource {arn} is being deleted.")
    merged = {**record.tags, **tags}
    check_tag_count(merged, ctx.quotas.tags_per_resource)
    # Tags live beside the body: tagging doesn't change lastUpdatedDateTime.
    return m.Outcome({}, (m.Put(with_tags(record, merged)),))


@operation("UntagResource")
def untag_resource(req: Request, view: ResourceReader, ctx: m.Context) -> m.Outcome:
    arn = req.req_arn("resourceArn")
    keys = parse_tag_keys(req, ctx.quotas.tags_per_resource)
    record = _taggable(view, arn)
    if status(record) in m.DELETING:
        raise ResourceInUseException(f"Resource {arn} is being deleted.")
    remaining = {k: v for k, v in record.tags.items() if k not in set(keys)}
    if remaining == dict(record.tags):
        return m.Outcome({})
    return m.Outcome({}, (m.Put(with_tags(record, remaining)),))


@operation("ListTagsForResource")
def list_tags_for_resource(req: Request, view: ResourceReader, ctx: m.Context) -> m.Outcome:
    arn = req.req_arn("resourceArn")
    record = _taggable(view, arn)
    return m.Outcome({"tags": as_tag_list(record.tags)})
