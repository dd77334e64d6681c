"""The multi-node stack for the fault tests (ADR 0025): a fresh three-node Kafka cluster and a Redis primary,
replica and three Sentinels, started by the project's own code (``tailor_tools.cluster``) on free ports under
this session's temporary directory, and stopped and removed at the end, so nothing is left on any stack."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tailor_tools import cluster, localstack


@pytest.fixture(scope="session")
def kafka_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[cluster.ClusterConfig]:
    base = localstack.StackConfig.from_env()
    cfg = cluster.free_config(tmp_path_factory.mktemp("cluster"), base.kafka_libs, kafka_heap="384m")
    try:
        cluster.up(cfg)
    except localstack.StackError as err:
        cluster.down(cfg)
        pytest.fail(f"the multi-node stack could not start: {err}", pytrace=False)
    yield cfg
    cluster.down(cfg)
