"""Clean failures: error messages that echo huge inputs are cut (and keep their type over gRPC), runtime model
ARNs are validated, and the shared producer fails fast while no broker answers."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import grpc
import pytest

from tailor_runtime.domain import requests
from tailor_shared.config import CommonSettings
from tailor_shared.errors import (
    ERRORS_BY_CODE,
    MAX_MESSAGE_BYTES,
    InvalidInputException,
    PersonalizeError,
    ResourceNotFoundException,
    ServiceUnavailableException,
    from_rpc_error,
    shorten_message,
)
from tailor_shared.kafka import BACKGROUND_IDLE_POLL_S, IDLE_POLL_S, OutgoingRecord, Producer

# --- messages ----------------------------------------------------------------------------------------


def test_short_messages_are_kept_as_they_are() -> None:
    assert shorten_message("Campaign x does not exist.") == "Campaign x does not exist."
    exact = "a" * MAX_MESSAGE_BYTES
    assert shorten_message(exact) == exact


@pytest.mark.parametrize("char", ["x", "é", "€", "😀"])
def test_long_messages_keep_their_start_and_end_within_the_byte_limit(char: str) -> None:
    value = char * 20_000
    message = f"1 validation error detected: Value '{value}' at 'userId' failed to satisfy constraint: max 256"
    cut = shorten_message(message)
    assert len(cut.encode()) <= MAX_MESSAGE_BYTES
    assert cut.startswith("1 validation error detected: Value '" + char * 10)
    assert cut.endswith("' at 'userId' failed to satisfy constraint: max 256")
    omitted = int(cut.split("...[", 1)[1].split(" characters cut]", 1)[0])
    assert omitted == len(message) - (len(cut) - len(f"...[{omitted} characters cut]..."))
    assert omitted > 18_000


def test_every_error_type_cuts_its_message_and_keeps_its_type() -> None:
    for code, cls in ERRORS_BY_CODE.items():
        err = cls("v" * 20_000)
        assert isinstance(err, PersonalizeError) and err.code == code
        assert len(err.message.encode()) <= MAX_MESSAGE_BYTES and str(err).startswith(code)


@pytest.mark.parametrize("char", ["x", "😀"])
async def test_an_error_echoing_20000_characters_reaches_the_client_typed(char: str) -> None:
    """Without the cut, grpc-message overflows the metadata limit: an untyped RESOURCE_EXHAUSTED."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from tailor_shared import grpc_client
    from tailor_shared.grpc_auth import GrpcAuthSettings  # error mapping only: no keys
    from tailor_shared.grpc_server import GrpcService, start_server

    class Echoing(health_pb2_grpc.HealthServicer):  # type: ignore[misc]
        async def Check(self, request: health_pb2.HealthCheckRequest, context: object) -> object:
            raise InvalidInputException(f"Value '{request.service}' at 'service' failed to satisfy constraint")

    handle = await start_server(
        CommonSettings(service="unittest", grpc_port=0, grpc_auth=GrpcAuthSettings(required=False)),
        [GrpcService(health_pb2_grpc.add_HealthServicer_to_server, Echoing(), "probe.Echoing")],
    )
    try:
        async with grpc_client.aio_channel(f"127.0.0.1:{handle.port}") as channel:
            with pytest.raises(grpc.RpcError) as info:
                await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=char * 20_000))
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        err = from_rpc_error(info.value)
        assert isinstance(err, InvalidInputException)
        assert err.message.endswith("' at 'service' failed to satisfy constraint") and "characters cut" in err.message
    finally:
        await handle.stop(0)


# --- runtime model ARNs --------------------------------------------------------------------------------

CAMPAIGN = "arn:aws:personalize:us-east-1:000000000000:campaign/c1"


def test_model_arn_takes_the_campaign_first_and_names_its_field() -> None:
    assert requests.model_arn(CAMPAIGN, "") == ("campaignArn", CAMPAIGN)
    rec = CAMPAIGN.replace("campaign/", "recommender/")
    assert requests.model_arn("", rec) == ("recommenderArn", rec)
    assert requests.model_arn(CAMPAIGN, rec) == ("campaignArn", CAMPAIGN)
    assert requests.MODEL_FIELDS == {"campaignArn": "campaign", "recommenderArn": "recommender"}


@pytest.mark.parametrize(
    "arn",
    [
        "not-an-arn",
        "arn:aws:personalize:us-east-1:000000000000",  # too few parts for the pattern
        "arn:aws:s3:::bucket/key",
        CAMPAIGN + "x" * 20_000,
    ],
)
def test_malformed_model_arns_are_invalid_input(arn: str) -> None:
    with pytest.raises(InvalidInputException, match="campaignArn") as info:
        requests.model_arn(arn)
    assert len(info.value.message.encode()) <= MAX_MESSAGE_BYTES


def test_a_missing_model_arn_is_invalid_input() -> None:
    with pytest.raises(InvalidInputException, match="Either campaignArn or recommenderArn"):
        requests.model_arn("", "")


def test_well_formed_arns_of_other_types_pass_validation_for_the_lookup_to_refuse() -> None:
    # A dataset group or schema ARN matches Personalize's ARN pattern: the lookup answers (404), not validation.
    for arn in (
        "arn:aws:personalize:us-east-1:000000000000:dataset-group/shop",
        "arn:aws:personalize:us-east-1:000000000000:schema/clicks",
    ):
        assert requests.model_arn(arn) == ("campaignArn", arn)
    assert ResourceNotFoundException("x").grpc_status == grpc.StatusCode.NOT_FOUND


# --- the producer without a broker ---------------------------------------------------------------------


@pytest.mark.parametrize("idle_poll_s", [IDLE_POLL_S, BACKGROUND_IDLE_POLL_S])
async def test_an_idle_producer_serves_its_callbacks_on_its_own_tick(
    idle_poll_s: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Request paths need the 0.5 s tick for a current broker-down signal; producers nothing asks wake less often.
    loop = asyncio.get_running_loop()
    delays: list[float] = []
    call_later = loop.call_later

    def spy(delay: float, callback: Any, *args: Any) -> asyncio.TimerHandle:
        delays.append(delay)
        return call_later(delay, callback, *args)

    monkeypatch.setattr(loop, "call_later", spy)
    producer = Producer("127.0.0.1:1", idle_poll_s=idle_poll_s)
    try:
        producer.check_available()  # starts the report loop, which is idle
        for _ in range(3):
            await asyncio.sleep(0)
        assert delays == [idle_poll_s]
    finally:
        producer.close(timeout=0)


async def test_producer_fails_fast_typed_while_no_broker_answers() -> None:
    # Nothing listens on port 1: the first call waits out its bounded wait, then the broker is known down and
    # calls with a deadline are refused at once, before anything is queued.
    producer = Producer("127.0.0.1:1", **{"message.timeout.ms": 1000})
    try:
        start = time.monotonic()
        with pytest.raises(ServiceUnavailableException, match=r"did not acknowledge the write within 0\.5 s"):
            await producer.send_many([OutgoingRecord("t", b"a")], ack_timeout_s=0.5)
        assert 0.45 <= time.monotonic() - start < 1.0
        for _ in range(60):  # the probe (0.5 s) confirms it
            if producer.broker_down:
                break
            await asyncio.sleep(0.05)
        assert producer.broker_down
        queued = producer.flush(0)
        for _ in range(3):
            start = time.monotonic()
            with pytest.raises(ServiceUnavailableException, match="nothing was written"):
                await producer.send_many([OutgoingRecord("t", b"b")], ack_timeout_s=0.5)
            assert time.monotonic() - start < 0.05
        assert producer.flush(0) <= queued  # nothing was queued by the refused calls
        # A call without a deadline is not refused by the health signal: it waits for its delivery report.
        with pytest.raises(ServiceUnavailableException, match="Kafka delivery failed"):
            await producer.send_many([OutgoingRecord("t", b"c")])
    finally:
        producer.close(timeout=0)
