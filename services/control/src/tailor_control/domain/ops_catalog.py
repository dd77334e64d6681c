"""Tagging (api.md §1.17). The read-only catalogue's Describe*/List* (api.md §1.16) are table entries in
``ops_read``."""

from __future__ import annotations

from tailor_control.domain import model as m
from tailor_control.domain.common import not_found, operation, status, with_tags
from tailor_control.domain.tags import as_tag_list, check_tag_count, parse_tag_keys, parse_tags
from tailor_control.domain.validate import Request
from tailor_shared.errors import InvalidInputException, ResourceInUseException
from tailor_shared.resources import ResourceReader, ResourceRecord

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
