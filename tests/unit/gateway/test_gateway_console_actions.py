"""The console's ``Tailor.<Action>`` table (docs/specs/console-api.md) follows the console proto: every method is
routed, parsed by the shared codec (unknown members and wrong JSON types refused), answered with empty lists
kept, and authorised on a resource of its request, never on ``*``."""

from __future__ import annotations

import pytest

from tailor.console.v1 import console_pb2
from tailor_gateway.adapters import load_models
from tailor_gateway.domain.console import ConsoleAction
from tailor_gateway.domain.operations import build_router
from tailor_shared.errors import InvalidInputException
from tailor_shared.iam import CONSOLE_SERVICE, action_of, request_resources

ROUTER = build_router(load_models())
METHODS = [m.name for m in console_pb2.DESCRIPTOR.services_by_name["TailorConsole"].methods]


@pytest.mark.parametrize("name", METHODS)
def test_every_console_method_is_routed_and_authorised_on_its_resource(name: str) -> None:
    action = ROUTER.for_target(f"Tailor.{name}")
    assert isinstance(action, ConsoleAction)
    assert action.grpc_method == f"/{CONSOLE_SERVICE}/{name}" and action.api == "control"
    arn_fields = [f.name for f in action.request_type.DESCRIPTOR.fields if f.name.endswith("_arn")]
    assert len(arn_fields) == 1, name  # the resource the action reads
    fields = {arn_fields[0]: "arn:aws:personalize:us-east-1:000000000000:x/y"}
    resources = request_resources(name, fields, "us-east-1", "000000000000")
    assert resources == ["arn:aws:personalize:us-east-1:000000000000:x/y"], name
    assert action_of(name, CONSOLE_SERVICE) == f"tailor:{name}"
    assert ROUTER.for_target(f"AmazonPersonalize.{name}") is None  # not a Personalize operation


def test_bodies_are_parsed_strictly_and_answers_keep_empty_lists() -> None:
    action = ROUTER.for_target("Tailor.ListRecentEvents")
    assert isinstance(action, ConsoleAction)
    parsed = action.request({"datasetGroupArn": "arn:x", "userId": "u", "maxResults": 3})
    assert isinstance(parsed, console_pb2.ListRecentEventsRequest) and parsed.max_results == 3
    for bad in ({"userId": ["u"]}, {"bogus": 1}, {"maxResults": "many"}):
        with pytest.raises(InvalidInputException):
            action.request(bad)
    assert action.response(console_pb2.ListRecentEventsResponse()) == {"events": []}
    trending = console_pb2.ListTrendingItemsResponse(
        window_size_seconds=60, items=[console_pb2.TrendingItem(item_id="i", interactions=2, previous_interactions=0)]
    )
    assert action.response(trending) == {
        "windowSizeSeconds": 60,
        "items": [{"itemId": "i", "interactions": 2, "previousInteractions": 0}],
    }
    assert ROUTER.for_target("Tailor.NoSuchAction") is None
