"""Dataset topics keep everything by default (as Personalize keeps a dataset until it is deleted); a configured
retention applies to the topics ingest creates."""

from __future__ import annotations

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource  # type: ignore[attr-defined]

from tailor_ingest.adapters import TopicGuard
from tailor_shared.config import CommonSettings
from tailor_tools import localstack

pytestmark = pytest.mark.integration


def _retention(bootstrap: str, topic: str) -> str:
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    admin = AdminClient({"bootstrap.servers": bootstrap})  # kept alive until the future resolves
    configs = admin.describe_configs([resource])[resource].result(timeout=10)
    return str(configs["retention.ms"].value)


def test_dataset_topics_keep_everything_unless_a_retention_is_configured(
    stack: localstack.StackConfig, topic_prefix: str
) -> None:
    default = CommonSettings.from_env("ingest", 0, 0, env={})
    configured = CommonSettings.from_env("ingest", 0, 0, env={"TAILOR_DATASET_RETENTION_MS": "604800000"})
    forever, week = f"{topic_prefix}.g.interactions", f"{topic_prefix}.h.interactions"
    for settings, topic in ((default, forever), (configured, week)):
        guard = TopicGuard(stack.kafka_bootstrap, settings.dataset_retention_ms)
        guard.ensure(guard.dataset_spec(topic, "Interactions"))
    assert _retention(stack.kafka_bootstrap, forever) == "-1"
    assert _retention(stack.kafka_bootstrap, week) == "604800000"
