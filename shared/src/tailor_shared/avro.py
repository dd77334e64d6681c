"""Avro codec on fastavro: schemaless record bodies, with the schema identified in a Kafka header.

Records on dataset topics carry only the encoded body; the ``tailor-schema-fp`` header holds a
fingerprint of the writer schema so a reader can pick the right schema version (docs/specs/topics.md).
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping
from typing import Any

import fastavro
from fastavro.validation import validate

SCHEMA_FINGERPRINT_HEADER = "tailor-schema-fp"


class AvroCodec:
    """Encode/decode one Avro record schema; built once per schema and reused (parsing is the slow part)."""

    def __init__(self, schema: str | Mapping[str, Any]) -> None:
        raw = json.loads(schema) if isinstance(schema, str) else dict(schema)
        self._parsed = fastavro.parse_schema(raw)
        canonical = json.dumps(raw, sort_keys=True, separators=(",", ":")).encode()
        self.fingerprint = hashlib.sha256(canonical).hexdigest()[:16]
        self.field_names = tuple(f["name"] for f in raw.get("fields", ()))

    def encode(self, record: Mapping[str, Any]) -> bytes:
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, self._parsed, dict(record))
        return buf.getvalue()

    def decode(self, payload: bytes) -> dict[str, Any]:
        result = fastavro.schemaless_reader(io.BytesIO(payload), self._parsed, None)
        if not isinstance(result, dict):
            raise ValueError("Avro payload did not decode to a record")
        return result

    def is_valid(self, record: Mapping[str, Any]) -> bool:
        return bool(validate(dict(record), self._parsed, raise_errors=False))

    @property
    def header(self) -> tuple[str, bytes]:
        return (SCHEMA_FINGERPRINT_HEADER, self.fingerprint.encode())
