"""Validation of runtime requests' fields, with the guide's limits and Personalize's messages (api.md §4).

Each function takes a field of the typed (protobuf) request: no dict round trip (``MessageToDict`` cost more
than the checks themselves).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from tailor.common.v1 import common_pb2
from tailor.runtime.v1 import runtime_pb2
from tailor_shared.arns import ARN_MAX_LENGTH, ARN_PATTERN
from tailor_shared.errors import InvalidInputException
from tailor_shared.validation import MAX_ID_LENGTH, NO_VALUE, validation_error

MAX_RESULTS = 500  # GetRecommendations numResults max (L29334-29580)
MAX_RESULTS_WITH_METADATA = 50
DEFAULT_RESULTS = 25
MAX_INPUT_LIST = 500  # GetPersonalizedRanking
MAX_METADATA_COLUMNS = 10
MAX_CONTEXT_ENTRIES = 150
MAX_CONTEXT_KEY = 150
MAX_CONTEXT_VALUE = 1000
_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-_]*$")


def num_results(value: int | None, with_metadata: bool) -> int:
    """``numResults`` (None: not set), within the limit that applies with or without metadata columns."""
    if value is None:
        value = DEFAULT_RESULTS
    limit = MAX_RESULTS_WITH_METADATA if with_metadata else MAX_RESULTS
    if value < 0 or value > limit:
        extra = " when metadataColumns are requested" if with_metadata else ""
        raise validation_error(value, "numResults", f"Member must have value between 0 and {limit}{extra}")
    return value


#: The resource type each model field names (``ResourceRecord.resource_type``).
MODEL_FIELDS = {"campaignArn": "campaign", "recommenderArn": "recommender"}


def model_arn(campaign_arn: str, recommender_arn: str = "") -> tuple[str, str]:
    """The field naming the model (``campaignArn`` first, as Personalize) and its ARN, checked against the
    ARN constraints the API reference prints (length at most 256, ``arn:([a-z\\d-]+):personalize:.*:.*:.+``):
    a malformed ARN is AWS's validation error, InvalidInputException."""
    field, arn = ("campaignArn", campaign_arn) if campaign_arn else ("recommenderArn", recommender_arn)
    if not arn:
        raise InvalidInputException("Either campaignArn or recommenderArn is required")
    if len(arn) > ARN_MAX_LENGTH:
        raise validation_error(arn, field, f"Member must have length less than or equal to {ARN_MAX_LENGTH}")
    if ARN_PATTERN.fullmatch(arn) is None:
        raise validation_error(arn, field, f"Member must satisfy regular expression pattern: {ARN_PATTERN.pattern}")
    return field, arn


def identifier(value: str, field: str, required: bool) -> str | None:
    """A userId / itemId ("" = not given: None, or InvalidInputException when the recipe needs it)."""
    if not value:
        if required:
            raise InvalidInputException(f"{field} is required for this campaign's recipe")
        return None
    if len(value) > MAX_ID_LENGTH:
        raise validation_error(NO_VALUE, field, f"Member must have length less than or equal to {MAX_ID_LENGTH}")
    return value


def metadata_columns(columns: Mapping[str, common_pb2.StringList]) -> tuple[str, ...]:
    if not columns:
        return ()
    unknown = set(columns) - {"ITEMS"}
    if unknown:
        raise InvalidInputException(f"metadataColumns supports only the ITEMS dataset, not {sorted(unknown)}")
    names = tuple(columns["ITEMS"].values) if "ITEMS" in columns else ()
    if len(names) > MAX_METADATA_COLUMNS:
        raise InvalidInputException(
            f"You can request at most {MAX_METADATA_COLUMNS} metadata columns; the request has {len(names)}"
        )
    return names


def context(ctx: Mapping[str, str]) -> dict[str, str]:
    if len(ctx) > MAX_CONTEXT_ENTRIES:
        raise InvalidInputException(f"context can have at most {MAX_CONTEXT_ENTRIES} entries")
    for key, value in ctx.items():
        if len(key) > MAX_CONTEXT_KEY or len(value) > MAX_CONTEXT_VALUE:
            raise InvalidInputException(f"context entry {key!r} exceeds the key (150) or value (1000) length limit")
    return dict(ctx)


def promotion(promos: Sequence[runtime_pb2.Promotion]) -> runtime_pb2.Promotion | None:
    """The request's promotion, if any (at most one per request), checked."""
    if len(promos) > 1:
        raise InvalidInputException("You can apply at most 1 promotion per request")
    for promo in promos:
        name = promo.name
        if not name or len(name) > 63 or not _NAME.match(name):
            raise InvalidInputException(f"Promotion name {name!r} must match ^[a-zA-Z0-9][a-zA-Z0-9\\-_]* (1-63 chars)")
        if not promo.HasField("percent_promoted_items") or not 1 <= promo.percent_promoted_items <= 100:
            raise InvalidInputException("percentPromotedItems must be an integer between 1 and 100")
        if not promo.filter_arn:
            raise InvalidInputException("A promotion requires a filterArn")
    return promos[0] if promos else None


def input_list(items: Sequence[str], with_metadata: bool) -> list[str]:
    limit = MAX_RESULTS_WITH_METADATA if with_metadata else MAX_INPUT_LIST
    if not items:
        raise InvalidInputException("inputList is required and must contain at least one item")
    if len(items) > limit:
        raise InvalidInputException(f"inputList can contain at most {limit} items")
    for item in items:
        if not item or len(item) > MAX_ID_LENGTH:
            raise InvalidInputException(f"inputList item {item!r} must be 1-{MAX_ID_LENGTH} characters")
    return list(items)
