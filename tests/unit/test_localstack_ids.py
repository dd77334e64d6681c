"""The local stack's KRaft cluster ids (pure: no broker needed)."""

from __future__ import annotations

from tailor_tools import localstack


def test_cluster_ids_are_never_read_as_an_option() -> None:
    # Without the guard about 1 id in 64 starts with "-" (the storage tool then fails on "-t <id>"): 2,000 draws
    # would hit one with probability 1 - (63/64)**2000, i.e. always.
    ids = [localstack.new_cluster_id() for _ in range(2000)]
    assert not [i for i in ids if i.startswith("-")]
    assert {len(i) for i in ids} == {22} and len(set(ids)) == len(ids)
