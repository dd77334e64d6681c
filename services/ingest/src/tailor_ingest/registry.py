"""Schema Registry Avro on the inbound topics (ADR 0024 §7).

A value that starts with byte 0 (no JSON object does) is in the Confluent wire format: magic byte 0, a 4-byte
big-endian schema id, then the Avro body in that (the writer's) schema. The writer's schema is fetched by id from a
Confluent-compatible registry with confluent-kafka's own client and parsed once per id. Each live dataset's schema
is registered under ``<inbound topic>-value`` (TopicNameStrategy: the default subject of ``KafkaAvroSerializer``
and confluent-kafka's ``AvroSerializer``), so a producer serializing dataset rows finds or gets the same id.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterable
from typing import Any, Final

import fastavro
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from tailor_ingest.domain import MAX_INBOUND_VALUE_BYTES
from tailor_shared.errors import InvalidInputException, ServiceUnavailableException

MAGIC: Final = 0
HEADER_BYTES: Final = 5  # magic byte + 4-byte schema id


def is_wire_format(value: bytes | None) -> bool:
    return bool(value) and value is not None and value[0] == MAGIC


def schema_id(value: bytes) -> int:
    if len(value) < HEADER_BYTES:
        raise InvalidInputException(
            f"The record's value starts with the Confluent wire format's magic byte 0 but has {len(value)} bytes; "
            f"its header alone is {HEADER_BYTES}."
        )
    return int.from_bytes(value[1:HEADER_BYTES], "big")


def subject(inbound_topic: str) -> str:
    """TopicNameStrategy's subject of a topic's values."""
    return f"{inbound_topic}-value"


class SchemaRegistry:
    """The registry client, the parsed writer schemas by id, and the subjects this process registered."""

    def __init__(self, url: str) -> None:
        self._client = SchemaRegistryClient({"url": url})
        self._writers: dict[int, Any] = {}  # id -> parsed schema
        self._unknown: dict[int, InvalidInputException] = {}  # ids the registry said it does not have
        self._registered: set[tuple[str, str]] = set()

    def prefetch(self, values: Iterable[bytes | None]) -> None:
        """Fetch the writer schemas a batch needs (blocking I/O, run off the event loop); ids unknown to the
        registry are asked again next batch."""
        self._unknown.clear()
        for value in values:
            if value is not None and is_wire_format(value) and len(value) >= HEADER_BYTES:
                with contextlib.suppress(InvalidInputException):  # dead-lettered when the record is decoded
                    self._writer(schema_id(value))

    def _writer(self, sid: int) -> Any:
        if sid in self._writers:
            return self._writers[sid]
        if sid in self._unknown:
            raise self._unknown[sid]
        try:
            found = self._client.get_schema(sid)
        except SchemaRegistryError as err:
            if err.http_status_code == 404:
                self._unknown[sid] = InvalidInputException(
                    f"The record's schema id {sid} (Confluent wire format) is not in the schema registry."
                )
                raise self._unknown[sid] from None
            raise ServiceUnavailableException(f"The schema registry failed on schema id {sid}: {err}") from err
        except Exception as err:  # connection refused, timeout: the records wait, nothing is dead-lettered
            raise ServiceUnavailableException(f"The schema registry is unreachable: {err}") from err
        try:
            if (found.schema_type or "AVRO") != "AVRO":
                raise ValueError(f"it is a {found.schema_type} schema")
            parsed = fastavro.parse_schema(json.loads(found.schema_str or ""))
        except Exception as err:
            self._unknown[sid] = InvalidInputException(f"The record's schema id {sid} is not an Avro schema: {err}.")
            raise self._unknown[sid] from None
        self._writers[sid] = parsed
        return parsed

    def decode(self, value: bytes) -> dict[str, Any]:
        """The Avro record a wire-format value carries, read with its writer's schema."""
        if len(value) > MAX_INBOUND_VALUE_BYTES:
            raise InvalidInputException(
                f"The record's value is {len(value)} bytes; an inbound record is at most {MAX_INBOUND_VALUE_BYTES} "
                "bytes."
            )
        sid = schema_id(value)
        writer = self._writer(sid)
        body = io.BytesIO(value[HEADER_BYTES:])
        try:
            record = fastavro.schemaless_reader(body, writer, None)
        except Exception as err:
            raise InvalidInputException(
                f"The record's Avro body does not match its schema id {sid}: {type(err).__name__}: {err}."
            ) from None
        if body.tell() != len(value) - HEADER_BYTES:
            raise InvalidInputException(f"The record's Avro body is longer than its schema id {sid} reads.")
        if not isinstance(record, dict):
            raise InvalidInputException(f"The record's schema id {sid} is not an Avro record schema.")
        return record

    def register(self, inbound_topic: str, schema_json: str) -> bool:
        """Register a dataset's schema under the topic's subject once per process; True when it was sent."""
        key = (subject(inbound_topic), schema_json)
        if key in self._registered:
            return False
        self._client.register_schema(key[0], Schema(schema_json, "AVRO"))
        self._registered.add(key)
        return True
