"""Encoding and decoding of dataset-topic records (docs/specs/topics.md).

The one place that turns a dataset row (a dict in the dataset's Avro schema: ``USER_ID``, ``ITEM_ID``,
``TIMESTAMP``, ...) into a Kafka record and back. Ingest, bulk import and applications that produce to
Kafka directly all use :func:`encode_row`, so the stream and the trainer cannot tell them apart.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tailor_shared.avro import AvroCodec
from tailor_shared.kafka import OutgoingRecord
from tailor_shared.topics import (
    H_DATASET_ARN,
    H_EVENT_ID,
    H_IMPORT_JOB,
    H_MARKER,
    H_RECOMMENDATION_ID,
    H_SCHEMA_ARN,
    H_SCHEMA_FP,
    H_SESSION_ID,
    H_SOURCE,
    SOURCE_BULK,
    SOURCE_PUT,
)

#: Which field is the record key per dataset type (per-entity ordering on one partition).
KEY_FIELDS: dict[str, str] = {
    "Interactions": "USER_ID",
    "Items": "ITEM_ID",
    "Users": "USER_ID",
    "Actions": "ACTION_ID",
    "Action_Interactions": "USER_ID",
}


@dataclass(frozen=True)
class RowContext:
    """Envelope of a row: where it came from and the ids that are not columns of the schema."""

    dataset_arn: str
    schema_arn: str
    source: str = SOURCE_PUT
    import_job_arn: str | None = None
    event_id: str | None = None
    session_id: str | None = None
    recommendation_id: str | None = None


def encode_row(
    topic: str, dataset_type: str, codec: AvroCodec, row: Mapping[str, Any], ctx: RowContext
) -> OutgoingRecord:
    """Key by the dataset's entity (an anonymous interaction is keyed by its session)."""
    key_value = row.get(KEY_FIELDS[dataset_type]) or ctx.session_id or ""
    headers: list[tuple[str, bytes]] = [
        (H_SCHEMA_FP, codec.fingerprint.encode()),
        (H_SCHEMA_ARN, ctx.schema_arn.encode()),
        (H_DATASET_ARN, ctx.dataset_arn.encode()),
        (H_SOURCE, ctx.source.encode()),
    ]
    for name, value in (
        (H_IMPORT_JOB, ctx.import_job_arn),
        (H_EVENT_ID, ctx.event_id),
        (H_SESSION_ID, ctx.session_id),
        (H_RECOMMENDATION_ID, ctx.recommendation_id),
    ):
        if value is not None:
            headers.append((name, value.encode()))
    return OutgoingRecord(topic, codec.encode(row), str(key_value).encode(), headers)


def new_event_id() -> str:
    """Personalize generates an eventId when the caller gives none."""
    return uuid.uuid4().hex


@dataclass(frozen=True)
class DecodedRecord:
    """A dataset-topic record as consumers see it."""

    headers: Mapping[str, str]
    row: Mapping[str, Any] | None  # None for marker records
    marker: str | None = None
    marker_body: bytes | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def source(self) -> str:
        return self.headers.get(H_SOURCE, SOURCE_PUT)

    @property
    def event_id(self) -> str | None:
        return self.headers.get(H_EVENT_ID)

    @property
    def session_id(self) -> str | None:
        return self.headers.get(H_SESSION_ID)

    @property
    def import_job_arn(self) -> str | None:
        return self.headers.get(H_IMPORT_JOB)

    @property
    def schema_fingerprint(self) -> str | None:
        return self.headers.get(H_SCHEMA_FP)


def header_dict(headers: Sequence[tuple[str, bytes | str | None]] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in headers or ():
        if value is None:
            continue
        out[key] = value.decode() if isinstance(value, bytes) else value
    return out


def decode_record(
    headers: Sequence[tuple[str, bytes | str | None]] | None,
    value: bytes | None,
    codecs: SchemaCodecs | Mapping[str, AvroCodec],
) -> DecodedRecord:
    """Decode with the writer schema named by the fingerprint header; raises ``KeyError``/``ValueError``
    for records that cannot be decoded (the caller dead-letters them)."""
    hdrs = header_dict(headers)
    marker = hdrs.get(H_MARKER)
    if marker is not None:
        return DecodedRecord(hdrs, None, marker, value)
    if value is None:
        raise ValueError("record has no value")
    fp = hdrs.get(H_SCHEMA_FP)
    if fp is None:
        raise ValueError(f"record has no {H_SCHEMA_FP} header")
    codec = codecs.get(fp)
    if codec is None:
        raise KeyError(f"unknown schema fingerprint {fp}")
    return DecodedRecord(hdrs, codec.decode(value))


def import_complete_marker(topic: str, import_job_arn: str, import_mode: str, rows: int) -> OutgoingRecord:
    """Written after the last row of a successful import, so readers can tell complete imports from
    partial ones and apply FULL replacement (docs/specs/topics.md)."""
    import json

    body = json.dumps({"importJobArn": import_job_arn, "importMode": import_mode, "rows": rows}).encode()
    return OutgoingRecord(
        topic,
        body,
        import_job_arn.encode(),
        [(H_MARKER, b"import-complete"), (H_IMPORT_JOB, import_job_arn.encode()), (H_SOURCE, SOURCE_BULK.encode())],
    )


class SchemaCodecs:
    """Fingerprint -> codec for every schema resource in a view; rebuilt lazily when an unknown
    fingerprint shows up (a schema created after the consumer started)."""

    def __init__(self, resources: Any) -> None:
        self._resources = resources
        self._by_arn: dict[str, AvroCodec] = {}
        self._by_fp: dict[str, AvroCodec] = {}

    def refresh(self) -> None:
        for record in self._resources.list("schema"):
            if record.arn not in self._by_arn:
                codec = AvroCodec(record.body["schema"])
                self._by_arn[record.arn] = codec
                self._by_fp[codec.fingerprint] = codec

    def for_arn(self, schema_arn: str) -> AvroCodec:
        if schema_arn not in self._by_arn:
            self.refresh()
        return self._by_arn[schema_arn]

    def get(self, fingerprint: str) -> AvroCodec | None:
        if fingerprint not in self._by_fp:
            self.refresh()
        return self._by_fp.get(fingerprint)

    def __getitem__(self, fingerprint: str) -> AvroCodec:
        codec = self.get(fingerprint)
        if codec is None:
            raise KeyError(fingerprint)
        return codec
