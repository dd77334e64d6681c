"""What the stream must reach from a workload (``tailor_tools.workload``): the reference model's state and the
offsets hash. Test-only: it runs the stream's own domain functions and reference model."""

from __future__ import annotations

from collections.abc import Mapping

from tailor_shared import redis_keys as rk
from tailor_shared.kafka import OutgoingRecord
from tailor_shared.records import decode_record
from tailor_stream.domain import Batch, OpsConfig, TopicPartitionState, build_op, field_kinds, parse_dataset_topic
from tailor_stream.model import Snapshot, StateModel
from tailor_stream.processor import offsets_field
from tailor_tools.workload import DatasetGroup


def reference_snapshot(group: DatasetGroup, records: list[OutgoingRecord], config: OpsConfig, now: float) -> Snapshot:
    """The state the reference model reaches from these records (in production order), without the
    offsets hash (the model has no real partitions)."""
    keys = group.keys()
    codecs = {c.fingerprint: c for c in group.codecs.values()}
    kinds = {group.codecs[t].fingerprint: field_kinds(s) for t, s in group.schemas.items()}
    types = {group.topic(t): t for t in group.schemas}
    model = StateModel()
    for i, rec in enumerate(records):
        decoded = decode_record(rec.headers, rec.value, codecs)
        op = build_op(
            keys, types[rec.topic], decoded, rec.key, rec.value, kinds[decoded.schema_fingerprint or ""], config, now
        )
        model.apply(Batch(keys, config, [TopicPartitionState("ref:0", False, i)], [(0, i, op)]))
    snap = model.snapshot(now)
    snap.pop(keys.offsets(), None)
    return snap


def expected_offsets(prefix: str, highs: Mapping[tuple[str, int], int]) -> dict[str, dict[str, str]]:
    """Offsets-hash key -> the fields the stream must reach once it consumed everything up to ``highs``."""
    out: dict[str, dict[str, str]] = {}
    for (topic, partition), high in highs.items():
        parsed = parse_dataset_topic(prefix, topic)
        if parsed is None or high == 0:
            continue
        key = rk.Keys(prefix, parsed.group_tag).offsets()
        out.setdefault(key, {})[offsets_field(parsed, partition)] = str(high - 1)
    return out
