"""The shared ResourceView against the real broker: catch_up() makes a record written just now visible."""

from __future__ import annotations

import pytest
from confluent_kafka import Producer

from tailor_shared.resource_view import ResourceView, resources_topic
from tailor_shared.resources import ResourceRecord
from tailor_tools import localstack

pytestmark = pytest.mark.integration


def test_catch_up_sees_what_was_written_before_the_call(stack: localstack.StackConfig, topic_prefix: str) -> None:
    view = ResourceView(stack.kafka_bootstrap, topic_prefix)
    view.start()
    view.wait_ready()
    try:
        producer = Producer({"bootstrap.servers": stack.kafka_bootstrap, "acks": "all"})
        arns = [f"arn:aws:personalize:us-east-1:000000000000:schema/s{i}" for i in range(200)]
        for arn in arns:
            record = ResourceRecord(arn, "schema", {"name": arn.rsplit("/", 1)[1], "status": "ACTIVE"})
            producer.produce(resources_topic(topic_prefix), value=record.to_json(), key=arn.encode())
        assert producer.flush(30) == 0
        view.catch_up()  # no sleeping or polling: every acknowledged record is in the view afterwards
        assert all(view.get(arn) is not None for arn in arns)
    finally:
        view.stop()
