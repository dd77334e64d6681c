"""The Redis URL forms (plain and Sentinel) and the topic policy every created topic gets (ADR 0025)."""

from __future__ import annotations

import pytest

from tailor_shared.errors import InvalidInputException
from tailor_shared.kafka import TopicPolicy, TopicSpec
from tailor_shared.redis_client import SentinelUrl, parse_sentinel_url


def test_plain_redis_url_is_not_a_sentinel_url() -> None:
    assert parse_sentinel_url("redis://127.0.0.1:6379/0") is None


def test_sentinel_url_names_sentinels_primary_and_db() -> None:
    url = "redis+sentinel://:s%40cret@10.0.0.1:26379,10.0.0.2:26380/tailor/3"
    assert parse_sentinel_url(url) == SentinelUrl((("10.0.0.1", 26379), ("10.0.0.2", 26380)), "tailor", 3, "s@cret")
    assert parse_sentinel_url("redis+sentinel://h:1/p") == SentinelUrl((("h", 1),), "p", 0, None)


@pytest.mark.parametrize(
    "url", ["redis+sentinel://h:1", "redis+sentinel://h/p", "redis+sentinel://h:1/p/x", "redis+sentinel://h:1/p/0/1"]
)
def test_bad_sentinel_urls_are_refused_with_a_typed_error(url: str) -> None:
    with pytest.raises(InvalidInputException):
        parse_sentinel_url(url)


def test_topic_policy_defaults_to_one_broker_and_reads_the_environment() -> None:
    assert TopicPolicy.from_env({}) == TopicPolicy(1, 1)
    env = {"TAILOR_TOPIC_REPLICATION_FACTOR": "3", "TAILOR_TOPIC_MIN_INSYNC_REPLICAS": "2"}
    assert TopicPolicy.from_env(env) == TopicPolicy(3, 2)


def test_topic_policy_sets_replication_and_min_isr_unless_the_topic_says_otherwise() -> None:
    new = TopicPolicy(3, 2).new_topic(TopicSpec("t", 4, {"retention.ms": "-1"}))
    assert (new.topic, new.num_partitions, new.replication_factor) == ("t", 4, 3)
    assert new.config == {"min.insync.replicas": "2", "retention.ms": "-1"}


@pytest.mark.parametrize(("rf", "isr"), [(0, 1), (3, 0), (2, 3)])
def test_impossible_topic_policies_are_refused(rf: int, isr: int) -> None:
    with pytest.raises(InvalidInputException):
        TopicPolicy(rf, isr)


def test_a_call_no_server_answered_is_service_unavailable() -> None:
    """A process behind an address died mid-call (gRPC UNAVAILABLE without Tailor's metadata): retryable."""
    import grpc

    from tailor_shared.errors import ServiceUnavailableException, from_rpc_error

    class Dropped(grpc.RpcError):  # type: ignore[misc]
        def code(self) -> grpc.StatusCode:
            return grpc.StatusCode.UNAVAILABLE

        def details(self) -> str:
            return "Socket closed"

        def trailing_metadata(self) -> tuple[()]:
            return ()

    assert isinstance(from_rpc_error(Dropped()), ServiceUnavailableException)
