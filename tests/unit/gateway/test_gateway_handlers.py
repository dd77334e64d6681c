"""Gateway.handle without sockets: routing, authentication, translation and error mapping, with a fake backend."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message

from tailor.control.v1 import control_pb2
from tailor.runtime.v1 import runtime_pb2
from tailor_gateway.adapters import load_models
from tailor_gateway.domain.operations import Operation, build_router
from tailor_gateway.handlers import Gateway
from tailor_shared.errors import ERROR_TYPE_METADATA_KEY, InvalidSignatureException

ROUTER = build_router(load_models())
CAMPAIGN = "arn:aws:personalize:us-east-1:000000000000:campaign/c"


class FakeBackends:
    """Answers every call from ``replies`` (by operation name): a message, or a gRPC error to raise."""

    def __init__(self, replies: dict[str, Message | grpc.aio.AioRpcError]) -> None:
        self.replies = replies
        self.requests: list[Message] = []

    def method(self, op: Operation) -> Any:
        async def call(request: Message, **_options: float) -> Message:  # timeout=: as grpc.aio takes it
            self.requests.append(request)
            reply = self.replies[op.name]
            if isinstance(reply, grpc.aio.AioRpcError):
                raise reply
            return reply

        return call


def _allow(method: str, path: bytes, query: bytes, headers: Mapping[str, str], body: bytes) -> None:
    return None


def _deny(method: str, path: bytes, query: bytes, headers: Mapping[str, str], body: bytes) -> None:
    raise InvalidSignatureException("The request signature we calculated does not match the signature you provided.")


def _rpc_error(status: grpc.StatusCode, code: str | None, details: str) -> grpc.aio.AioRpcError:
    trailing = grpc.aio.Metadata((ERROR_TYPE_METADATA_KEY, code)) if code else grpc.aio.Metadata()
    return grpc.aio.AioRpcError(status, grpc.aio.Metadata(), trailing, details)


def gateway(replies: dict[str, Any], authenticate: Any = _allow) -> tuple[Gateway, FakeBackends]:
    backends = FakeBackends(replies)
    return Gateway(ROUTER, backends, authenticate, 5.0), backends  # type: ignore[arg-type]


async def post(gw: Gateway, path: str, body: object, target: str | None = None) -> tuple[int, dict[str, str], Any]:
    headers = {"host": "127.0.0.1:8080", "content-type": "application/json"}
    if target:
        headers["x-amz-target"] = target
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = await gw.handle("POST", path, path.encode(), b"", headers, raw)
    return response.status, dict(response.headers), json.loads(response.body) if response.body else None


async def test_runtime_request_is_translated_both_ways() -> None:
    reply = runtime_pb2.GetRecommendationsResponse(
        item_list=[runtime_pb2.PredictedItem(item_id="i1", score=0.5, metadata={"CATEGORY": "books"})],
        recommendation_id="RID-1",
    )
    gw, backends = gateway({"GetRecommendations": reply})
    status, headers, body = await post(
        gw, "/recommendations", {"campaignArn": CAMPAIGN, "userId": "u1", "metadataColumns": {"ITEMS": ["CATEGORY"]}}
    )
    assert status == 200 and headers["content-type"] == "application/json" and headers["x-amzn-requestid"]
    assert body == {
        "itemList": [{"itemId": "i1", "metadata": {"CATEGORY": "books"}, "score": 0.5}],
        "recommendationId": "RID-1",
    }
    sent = backends.requests[0]
    assert isinstance(sent, runtime_pb2.GetRecommendationsRequest)
    assert list(sent.metadata_columns["ITEMS"].values) == ["CATEGORY"] and sent.user_id == "u1"


async def test_control_plane_uses_the_target_header_and_json_1_1() -> None:
    gw, _ = gateway({"CreateDatasetGroup": control_pb2.CreateDatasetGroupResponse(dataset_group_arn="arn:x")})
    status, headers, body = await post(gw, "/", {"name": "shop"}, "AmazonPersonalize.CreateDatasetGroup")
    assert (status, body) == (200, {"datasetGroupArn": "arn:x"})
    assert headers["content-type"] == "application/x-amz-json-1.1"
    status, _, body = await post(gw, "/", {}, "AmazonPersonalize.NoSuchOperation")
    assert (status, body["__type"]) == (400, "UnknownOperationException")


@pytest.mark.parametrize(
    ("path", "target", "status"),
    [("/recommendations", None, 404), ("/", "AmazonPersonalize.DescribeCampaign", 400)],
)
async def test_service_errors_keep_their_type_and_aws_status(path: str, target: str | None, status: int) -> None:
    error = _rpc_error(grpc.StatusCode.NOT_FOUND, "ResourceNotFoundException", "no such campaign")
    gw, _ = gateway({"GetRecommendations": error, "DescribeCampaign": error})
    got, headers, body = await post(
        gw, path, {"campaignArn": CAMPAIGN, "userId": "u"} if target is None else {"campaignArn": CAMPAIGN}, target
    )
    assert got == status
    assert body == {"__type": "ResourceNotFoundException", "message": "no such campaign"}
    if target is None:
        assert headers["x-amzn-errortype"] == "ResourceNotFoundException"


async def test_a_backend_that_is_down_is_service_unavailable() -> None:
    gw, _ = gateway({"GetRecommendations": _rpc_error(grpc.StatusCode.UNAVAILABLE, None, "connection refused")})
    status, _, body = await post(gw, "/recommendations", {"campaignArn": CAMPAIGN, "userId": "u"})
    assert (status, body["__type"]) == (503, "ServiceUnavailableException")


async def test_bad_signatures_never_reach_the_backend() -> None:
    gw, backends = gateway({"GetRecommendations": runtime_pb2.GetRecommendationsResponse()}, _deny)
    status, _, body = await post(gw, "/recommendations", {"campaignArn": CAMPAIGN, "userId": "u"})
    assert (status, body["__type"]) == (403, "InvalidSignatureException")
    assert backends.requests == []


async def test_malformed_and_invalid_bodies() -> None:
    gw, backends = gateway({})
    status, _, body = await post(gw, "/recommendations", b"{not json")
    assert (status, body["__type"]) == (400, "SerializationException")
    status, _, body = await post(gw, "/recommendations", {"campaignArn": CAMPAIGN, "numResults": "ten"})
    assert (status, body["__type"]) == (400, "InvalidInputException")
    assert backends.requests == []


async def test_events_answer_an_empty_body_and_health_answers() -> None:
    from tailor.events.v1 import events_pb2

    gw, _ = gateway({"PutEvents": events_pb2.PutEventsResponse()})
    event = {"eventType": "click", "itemId": "i", "sentAt": 1700000000.5}
    status, _, body = await post(gw, "/events", {"trackingId": "t", "sessionId": "s", "eventList": [event]})
    assert (status, body) == (200, None)
    health = await gw.handle("GET", "/health", b"/health", b"", {}, b"")
    assert health.status == 200


def test_too_large_bodies_are_refused_in_the_api_s_protocol() -> None:
    gw, _ = gateway({})
    control = gw.too_large({"x-amz-target": "AmazonPersonalize.CreateSchema"}, 10)
    runtime = gw.too_large({}, 10)
    assert control.status == runtime.status == 413
    assert json.loads(control.body)["__type"] == "RequestEntityTooLargeException"
    assert dict(runtime.headers)["x-amzn-errortype"] == "RequestEntityTooLargeException"
