"""The multi-node stack for the fault tests (ADR 0025): a fresh three-node Kafka cluster and a Redis primary,
replica and three Sentinels, started by the project's own code (``tailor_tools.cluster``) on free ports under
this session's temporary directory, and stopped and removed at the end, so nothing is left on any stack."""

from __future__ import annotations

import fcntl
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tailor_tools import cluster, localstack

#: Two runs at once must not pick the same free ports: a JVM binds its ports seconds after the choice.
PORTS_LOCK = Path(tempfile.gettempdir()) / "tailor-cluster-ports.lock"


@pytest.fixture(scope="session")
def kafka_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[cluster.ClusterConfig]:
    base = localstack.StackConfig.from_env()
    with PORTS_LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, with the ports bound
        cfg = cluster.free_config(tmp_path_factory.mktemp("cluster"), base.kafka_libs, kafka_heap="384m")
        try:
            cluster.up(cfg)
        except localstack.StackError as err:
            cluster.down(cfg)
            pytest.fail(f"the multi-node stack could not start: {err}", pytrace=False)
    yield cfg
    cluster.down(cfg)
