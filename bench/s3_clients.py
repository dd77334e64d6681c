"""boto3 against obstore on the local stack's S3 server (versitygw), the measurement behind ADR 0023's choice:
a 1,000,000-line CSV (~35 MB) read line by line through an ``io`` text stream, and written as a streamed
multipart upload. obstore is not a Tailor dependency: without it only boto3 is measured.

    uv run --with obstore python bench/s3_clients.py [--runs 5]
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

from harness import pct

from tailor_shared.config import S3Settings
from tailor_shared.objectstore import ObjectStore
from tailor_tools import localstack

CHUNK = 1 << 20


class _Raw(io.RawIOBase):
    """A ``read(n)`` object as a raw stream, so io.BufferedReader / TextIOWrapper can sit on it."""

    def __init__(self, source: Any) -> None:
        self._source = source

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = bytes(self._source.read(len(buffer)))
        buffer[: len(data)] = data
        return len(data)


def lines(stream: Any) -> int:
    return sum(1 for _ in io.TextIOWrapper(stream, encoding="utf-8", newline=""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    cfg = localstack.StackConfig.from_env()
    localstack.up(cfg)
    store = ObjectStore(S3Settings.from_env(cfg.s3_env()))
    bucket = f"bench-s3c-{uuid.uuid4().hex[:8]}"
    store.create_bucket(bucket)
    data = b"".join(b"%d,item%d,click,1,1700000000\n" % (i, i % 5000) for i in range(args.rows))
    cases: list[tuple[str, Callable[[], object]]] = []
    try:
        store.write_bytes(f"s3://{bucket}/big.csv", data)

        def boto_write() -> None:
            with store.open_write(f"s3://{bucket}/up.csv") as out:
                for i in range(0, len(data), CHUNK):
                    out.write(data[i : i + CHUNK])

        cases += [
            ("boto3: read line by line", lambda: lines(store.open_read(f"s3://{bucket}/big.csv"))),
            ("boto3: streamed multipart write", boto_write),
        ]
        try:
            import obstore  # type: ignore[import-not-found]
            from obstore.store import S3Store  # type: ignore[import-not-found]
        except ImportError:
            obstore = None
        if obstore is not None:
            s3 = S3Store(
                bucket,
                endpoint=cfg.s3_endpoint,
                access_key_id=localstack.S3_ACCESS_KEY,
                secret_access_key=localstack.S3_SECRET_KEY,
                region="us-east-1",
                client_options={"allow_http": True},
            )

            def obstore_reader() -> Any:
                return obstore.open_reader(s3, "big.csv", buffer_size=CHUNK)

            def obs_write() -> None:
                with obstore.open_writer(s3, "up2.csv") as out:
                    for i in range(0, len(data), CHUNK):
                        out.write(data[i : i + CHUNK])

            cases += [
                (
                    "obstore: read line by line",
                    lambda: lines(io.BufferedReader(_Raw(obstore.open_reader(s3, "big.csv")), CHUNK)),
                ),
                ("obstore: streamed multipart write", obs_write),
            ]
        rows = [f"{len(data) / 1e6:.1f} MB, {args.rows:,} lines; {args.runs} runs each.", ""]
        rows += ["| client and operation | median s | p99 s | MB/s at the median |", "|---|---:|---:|---:|"]
        for label, run in cases:
            times = []
            for _ in range(args.runs):
                started = time.perf_counter()
                run()
                times.append(time.perf_counter() - started)
            med = statistics.median(times)
            rows.append(f"| {label} | {med:.2f} | {pct(times, 0.99):.2f} | {len(data) / 1e6 / med:.0f} |")
        if obstore is None:
            rows += ["", "(obstore not installed: `uv run --with obstore python bench/s3_clients.py` measures it too)"]
        print("\n".join(rows))
    finally:
        store.delete_bucket(bucket)


if __name__ == "__main__":
    main()
