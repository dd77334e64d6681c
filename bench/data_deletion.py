"""Data deletion benchmark (D2, ADR 0015): a data deletion job for N users in a dataset group of M interactions.

Loopback only (the local stack: ``uv run tailor local up``). A dataset group (records as control writes them,
``tailor_tools.workload``) gets M interactions of U users (uniformly drawn, so each deleted user has about
M/U of them) and a Users row per user, produced straight to its topics; a real control and a real stream
process (which hosts the deletion worker and the storage janitor) run; once the stream has applied everything,
CreateDataDeletionJob erases N users. Reported: the job's wall time from Create to COMPLETED with its phases
(announce + copy until the switch, tail + Redis wipe), how long the stream then takes to rebuild the group's
Redis state from the new generation, how long until the janitor deleted the old topics, and the topics'
records and bytes (the broker's log directory) before and after.

    uv run python bench/data_deletion.py [--interactions 1000000] [--users 20000] [--delete 1000]
"""

from __future__ import annotations

import argparse
import os
import random
import time
import uuid
from pathlib import Path

import harness
import redis

from tailor_shared import storage
from tailor_shared.dataset_reader import count_records, end_offsets, watermarks
from tailor_shared.kafka import OutgoingRecord
from tailor_shared.records import new_event_id
from tailor_tools import localstack
from tailor_tools import workload as wl
from tailor_tools.client import Client

ROLE = "arn:aws:iam::000000000000:role/PersonalizeRole"
KINDS = ("Interactions", "Users")


def _topic_bytes(data_dir: Path, topic: str) -> int:
    """Bytes of a topic's log segments (``*.log``) in the local broker's log directory: the records as stored
    (lz4 batches), without the preallocated index files."""
    return sum(
        f.stat().st_size
        for d in data_dir.glob(f"{topic}-*")
        if d.name[len(topic) + 1 :].isdigit()
        for f in d.glob("*.log")
    )


def _records(group: wl.DatasetGroup, interactions: int, users: int, now: int) -> list[OutgoingRecord]:
    rnd = random.Random(7)
    out = []
    for i in range(interactions):
        user = f"u{rnd.randrange(users)}"
        item = f"i{int(rnd.paretovariate(1.1)) % 5000}"
        row = wl.interaction_row(user, item, now - i, "click")
        out.append(group.record("Interactions", row, event_id=new_event_id(), session_id=f"s-{user}"))
    out += [
        group.record("Users", {"USER_ID": f"u{u}", "MEMBERSHIP": rnd.choice(["gold", "silver"]), "AGE": 20 + u % 50})
        for u in range(users)
    ]
    return out


def _applied(client: redis.Redis[bytes], keys_offsets: str, topics: list[str], bootstrap: str) -> bool:
    """Has the stream applied every record of these topics (its offsets hash at their end offsets)?"""
    stored = {k.decode(): int(v) for k, v in client.hgetall(keys_offsets).items()}
    for topic in topics:
        inc_suffix = topic.rsplit(".", 2)
        field_prefix = f"{inc_suffix[2]}.{inc_suffix[1]}"
        for p, end in end_offsets(bootstrap, topic).items():
            if end and stored.get(f"{field_prefix}:{p}", -1) < end - 1:
                return False
    return True


def _wait(check: object, what: str, timeout: float) -> float:
    started = time.monotonic()
    while not check():  # type: ignore[operator]
        if time.monotonic() - started > timeout:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.25)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--delete", type=int, default=1_000)
    parser.add_argument("--timeout", type=float, default=1800.0, help="per waiting step")
    args = parser.parse_args()
    stack = localstack.StackConfig.from_env()
    localstack.up(stack)
    data_dir = stack.state_dir / "kafka-data"
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"tailor-bench-{uuid.uuid4().hex[:6]}"
    workdir.mkdir(parents=True)
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    bootstrap = stack.kafka_bootstrap
    env = {"TAILOR_KAFKA_BOOTSTRAP": bootstrap, "TAILOR_REDIS_URL": stack.redis_url, "TAILOR_TOPIC_PREFIX": prefix}
    client: redis.Redis[bytes] = redis.Redis.from_url(stack.redis_url)
    procs: list[harness.Proc] = []
    try:
        group = wl.DatasetGroup(prefix, "shop", incarnated=True)
        group.create(bootstrap)
        t0 = time.monotonic()
        wl.produce(bootstrap, _records(group, args.interactions, args.users, int(time.time())))
        produced_s = time.monotonic() - t0
        control = harness.start_service("control", env, workdir)
        stream = harness.start_service(
            "stream", env, workdir, TAILOR_STREAM_DATA_DIR=str(workdir / "stream"),
            TAILOR_STREAM_JANITOR_INTERVAL_S="2", TAILOR_STREAM_JANITOR_GRACE_S="5",
        )  # fmt: skip
        procs += [control, stream]
        harness.wait_serving(control)
        offsets = group.keys().offsets()
        old = {k: group.topic(k) for k in KINDS}
        applied_s = _wait(lambda: _applied(client, offsets, list(old.values()), bootstrap), "the stream", args.timeout)
        before = {k: (count_records(bootstrap, t), _topic_bytes(data_dir, t)) for k, t in old.items()}

        users_csv = workdir / "forget.csv"
        users_csv.write_text("USER_ID\n" + "".join(f"u{u}\n" for u in range(args.delete)))
        personalize = Client(control.address, "control")
        started = time.monotonic()
        arn = personalize.call(
            "CreateDataDeletionJob", jobName="forget", datasetGroupArn=group.arn, roleArn=ROLE,
            dataSource={"dataLocation": f"file://{users_csv}"},
        )["dataDeletionJobArn"]  # fmt: skip
        switched_at = None
        while True:
            job = personalize.call("DescribeDataDeletionJob", dataDeletionJobArn=arn)["dataDeletionJob"]
            if switched_at is None:
                with storage.records(bootstrap, prefix) as view:
                    if storage.dataset_topic(view, prefix, group.dataset_arns["Interactions"]) != old["Interactions"]:
                        switched_at = time.monotonic()
            if job["status"] in ("COMPLETED", "FAILED"):
                break
            if time.monotonic() - started > args.timeout:
                raise SystemExit("the deletion job did not finish")
            time.sleep(0.2)
        completed_at = time.monotonic()
        if job["status"] != "COMPLETED":
            raise SystemExit(f"the deletion job failed: {job.get('failureReason')}")
        with storage.records(bootstrap, prefix) as view:
            new = {k: storage.dataset_topic(view, prefix, group.dataset_arns[k]) for k in KINDS}
        rebuilt_s = _wait(lambda: _applied(client, offsets, list(new.values()), bootstrap), "the rebuild", args.timeout)
        gone_s = _wait(lambda: all(not watermarks(bootstrap, t) for t in old.values()), "the janitor", args.timeout)
        after = {k: (count_records(bootstrap, t), _topic_bytes(data_dir, t)) for k, t in new.items()}
        personalize.close()
    finally:
        for proc in procs:
            proc.stop()
        client.close()
        localstack.purge_prefix(stack, prefix)

    job_s = completed_at - started
    copy_s = (switched_at or completed_at) - started
    print(
        f"\ndata deletion benchmark ({os.cpu_count()} CPUs): {args.delete:,} of {args.users:,} users deleted "
        f"from {args.interactions:,} interactions + {args.users:,} Users rows "
        f"(produced in {produced_s:.1f} s, applied by the stream in {applied_s:.1f} s before the job)\n"
    )
    print("| step | seconds |\n|---|---:|")
    print(f"| CreateDataDeletionJob -> COMPLETED (wall) | {job_s:.1f} |")
    print(f"| of which: read input, announce, copy + catch up, until control switched the datasets | {copy_s:.1f} |")
    print(f"| of which: tail copy until quiet (2 s), Redis wipe, COMPLETED | {job_s - copy_s:.1f} |")
    print(f"| COMPLETED -> stream rebuilt the group's Redis state from the new topics | {rebuilt_s:.1f} |")
    print(f"| COMPLETED + rebuild -> janitor deleted the old topics (grace 5 s) | {gone_s:.1f} |")
    print(f"\nnumDeleted: {job['numDeleted']:,}\n")
    print("| dataset | records before | records after | topic bytes before | topic bytes after |")
    print("|---|---:|---:|---:|---:|")
    for k in KINDS:
        print(f"| {k} | {before[k][0]:,} | {after[k][0]:,} | {before[k][1]:,} | {after[k][1]:,} |")


if __name__ == "__main__":
    main()
