"""Unit tests of the shared library's pure pieces: settings, logging, metric names, Avro, errors."""

from __future__ import annotations

import io
import json
import logging
import logging.config

import grpc
import pytest

from tailor_shared.avro import AvroCodec
from tailor_shared.config import CommonSettings
from tailor_shared.errors import (
    ERRORS_BY_CODE,
    InvalidInputException,
    LimitExceededException,
    ResourceNotFoundException,
    ThrottlingException,
)
from tailor_shared.kafka import OutgoingRecord, Producer
from tailor_shared.logs import JsonFormatter, logging_dict_config
from tailor_shared.metrics import metric_name
from tailor_shared.schemas import avro_record


def test_settings_from_env_parses_types_and_defaults() -> None:
    s = CommonSettings.from_env(
        "ingest", 50052, 9102, {"TAILOR_INGEST_PORT": "6000", "TAILOR_REGION": "eu-west-1", "TAILOR_LOG_LEVEL": "debug"}
    )
    assert (s.grpc_port, s.metrics_port, s.region, s.log_level) == (6000, 9102, "eu-west-1", "DEBUG")
    assert s.kafka_bootstrap == "127.0.0.1:9092"
    assert s.grpc_address == "127.0.0.1:6000"


def test_settings_reject_non_integer_port() -> None:
    with pytest.raises(InvalidInputException, match="TAILOR_INGEST_PORT"):
        CommonSettings.from_env("ingest", 1, 2, {"TAILOR_INGEST_PORT": "abc"})


def test_json_formatter_emits_one_object_with_extras() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("control"))
    logger = logging.getLogger("test.json")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.warning("created %s", "dsg", extra={"arn": "arn:x", "count": 3})
    record = json.loads(stream.getvalue())
    assert record["msg"] == "created dsg"
    assert record["service"] == "control"
    assert record["level"] == "WARNING"
    assert record["arn"] == "arn:x" and record["count"] == 3


def test_faust_logging_config_holds_library_loggers_at_info_under_a_debug_root() -> None:
    # Faust's worker may put the root logger at DEBUG; an idle stream then built aiokafka's DEBUG records
    # several times a second unless the library loggers carry their own level (docs/benchmarks.md "Idle cost").
    names = ("aiokafka", "faust", "mode", "grpc")
    root = logging.getLogger()
    saved = (root.level, root.handlers[:], {n: logging.getLogger(n).level for n in names})
    try:
        logging.config.dictConfig(logging_dict_config("stream", "WARNING"))
        root.setLevel(logging.DEBUG)
        assert all(logging.getLogger(n).getEffectiveLevel() == logging.WARNING for n in names)
        assert not logging.getLogger("aiokafka.consumer.fetcher").isEnabledFor(logging.DEBUG)
        logging.config.dictConfig(logging_dict_config("stream", "DEBUG"))
        assert logging.getLogger("aiokafka").getEffectiveLevel() == logging.INFO
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]
        for name, level in saved[2].items():
            logging.getLogger(name).setLevel(level)


def test_metric_name_convention() -> None:
    assert metric_name("runtime", "model_load", "seconds") == "tailor_runtime_model_load_seconds"
    with pytest.raises(ValueError):
        metric_name("Runtime", "x", "total")
    with pytest.raises(ValueError):
        metric_name("runtime", "x", "millis")


def test_errors_carry_personalize_names_and_grpc_codes() -> None:
    assert ResourceNotFoundException("x").grpc_status == grpc.StatusCode.NOT_FOUND
    assert InvalidInputException("x").grpc_status == grpc.StatusCode.INVALID_ARGUMENT
    assert LimitExceededException("x").grpc_status == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert str(ResourceNotFoundException("no such")) == "ResourceNotFoundException: no such"
    assert ERRORS_BY_CODE["ResourceInUseException"].grpc_status == grpc.StatusCode.FAILED_PRECONDITION


SCHEMA = avro_record(
    "Interactions",
    "USER_ID",
    "ITEM_ID",
    "TIMESTAMP",
    {"name": "EVENT_VALUE", "type": ["null", "float"], "default": None},
)


def test_avro_round_trip_and_fingerprint() -> None:
    codec = AvroCodec(json.dumps(SCHEMA))
    record = {"USER_ID": "u1", "ITEM_ID": "i9", "TIMESTAMP": 1_700_000_000, "EVENT_VALUE": 2.5}
    assert codec.decode(codec.encode(record)) == record
    assert codec.fingerprint == AvroCodec(SCHEMA).fingerprint
    assert codec.header[0] == "tailor-schema-fp"
    other = AvroCodec({**SCHEMA, "fields": SCHEMA["fields"][:3]})
    assert other.fingerprint != codec.fingerprint
    assert not codec.is_valid({"USER_ID": "u1"})
    assert codec.field_names == ("USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_VALUE")


async def test_full_producer_queue_is_throttling_not_a_drop() -> None:
    # No broker at this address: records stay queued, so the second one finds the queue full.
    producer = Producer("127.0.0.1:1", **{"queue.buffering.max.messages": 1, "message.timeout.ms": 500})
    try:
        first = producer.send_many([])
        assert await first == []
        with pytest.raises(ThrottlingException, match="queue is full"):
            await producer.send_many(
                [
                    OutgoingRecord("t", b"a"),
                    OutgoingRecord("t", b"b"),
                ]
            )
    finally:
        producer.close(timeout=2)


async def test_typed_errors_survive_the_wire_sync_and_asyncio() -> None:
    """The interceptor sends the Personalize name; ``from_rpc_error`` rebuilds it for both client kinds."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from tailor_shared import grpc_client
    from tailor_shared.errors import ResourceInUseException, from_rpc_error
    from tailor_shared.grpc_auth import GrpcAuthSettings  # error mapping only: no keys
    from tailor_shared.grpc_server import GrpcService, start_server

    class Failing(health_pb2_grpc.HealthServicer):  # type: ignore[misc]
        async def Check(self, request: object, context: object) -> object:
            raise ResourceInUseException("dataset group in use")

    settings = CommonSettings(service="unittest", grpc_port=0, grpc_auth=GrpcAuthSettings(required=False))
    handle = await start_server(
        settings, [GrpcService(health_pb2_grpc.add_HealthServicer_to_server, Failing(), "probe.Failing")]
    )
    try:
        address = f"127.0.0.1:{handle.port}"
        async with grpc_client.aio_channel(address) as channel:
            with pytest.raises(grpc.RpcError) as info:
                await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        err = from_rpc_error(info.value)
        assert isinstance(err, ResourceInUseException) and err.message == "dataset group in use"
        assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    finally:
        await handle.stop(0)


def test_dataset_topic_retention_is_forever_or_positive() -> None:
    from tailor_shared.topics import KEEP_FOREVER_MS, topic_spec

    assert topic_spec("t", "Items").config["retention.ms"] == "-1" == str(KEEP_FOREVER_MS)
    assert topic_spec("t", "Interactions", 86_400_000).config["retention.ms"] == "86400000"
    with pytest.raises(ValueError, match="forever"):
        topic_spec("t", "Items", 0)
