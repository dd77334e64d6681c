"""tailor_shared.objectstore: one contract, run against ``file://`` and the stack's real S3 server (versitygw)."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from tailor_shared.config import MIN_PART_SIZE, S3Settings
from tailor_shared.objectstore import ObjectStore, ObjectStoreError
from tailor_tools import localstack


@dataclass
class Backend:
    store: ObjectStore
    root: str  # a folder URL ending in "/"

    def url(self, name: str) -> str:
        return self.root + name


@pytest.fixture(params=["file", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    settings = replace(S3Settings.from_env(localstack.StackConfig.from_env().s3_env()), part_size=MIN_PART_SIZE)
    store = ObjectStore(settings)
    if request.param == "file":
        yield Backend(store, f"file://{tmp_path}/root/")
    else:
        bucket: str = request.getfixturevalue("s3_bucket")
        yield Backend(store, f"s3://{bucket}/root/")


def put(b: Backend, name: str, data: bytes) -> None:
    b.store.write_bytes(b.url(name), data)


def names(b: Backend, location: str, recursive: bool = True) -> list[str]:
    return [o.name for o in b.store.list_objects(location, recursive=recursive)]


def test_a_path_is_a_prefix_and_a_slash_restricts_it_to_a_folder(backend: Backend) -> None:
    for name in ("in/a.csv", "in/sub/b.csv", "in_test/c.csv", "in/.hidden", "other.csv"):
        put(backend, name, b"x")
    # "s3://bucket/folderName also matches folderName_test/..." (L12787); hidden names are not data.
    assert names(backend, backend.url("in")) == ["in/a.csv", "in/sub/b.csv", "in_test/c.csv"]
    assert names(backend, backend.url("in/")) == ["a.csv", "sub/b.csv"]
    # Imports read one object or the first level of a folder, with or without the slash (L8007).
    assert names(backend, backend.url("in/"), recursive=False) == ["a.csv"]
    assert names(backend, backend.url("in"), recursive=False) == ["a.csv"]
    # An object's exact key names that object alone, not its longer neighbours.
    put(backend, "in/a.csv.bak", b"yy")
    [only] = backend.store.list_objects(backend.url("in/a.csv"))
    assert (only.name, only.size, only.url) == ("a.csv", 1, backend.url("in/a.csv"))
    assert names(backend, backend.url("nothing/")) == []


def test_large_objects_stream_both_ways(backend: Backend) -> None:
    line = b"user,item,click,1,1700000000\n"
    lines = (2 * MIN_PART_SIZE + 12345) // len(line)  # three multipart parts on S3
    with backend.store.open_write(backend.url("big.csv")) as out:
        for start in range(0, lines, 10_000):
            out.write(line * min(10_000, lines - start))
    [info] = backend.store.list_objects(backend.url("big.csv"))
    assert info.size == lines * len(line)
    with backend.store.open_read(info.url) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        assert sum(1 for _ in text) == lines
        assert raw.tell() == info.size


def test_a_failed_write_leaves_nothing(backend: Backend) -> None:
    with pytest.raises(RuntimeError), backend.store.open_write(backend.url("half.csv")) as out:
        out.write(b"x" * (MIN_PART_SIZE + 1))  # one part already uploaded on S3
        raise RuntimeError("the job failed")
    assert names(backend, backend.root) == []


def test_folders_round_trip(backend: Backend, tmp_path: Path) -> None:
    src = tmp_path / "model"
    (src / "sub").mkdir(parents=True)
    (src / "model.onnx").write_bytes(b"\x00" * 1000)
    (src / "sub" / "items.json").write_text('["a"]')
    assert backend.store.upload_dir(src, backend.url("models/v1")) == 1005
    back = tmp_path / "back"
    assert backend.store.download_dir(backend.url("models/v1"), back) == 1005
    assert (back / "sub" / "items.json").read_text() == '["a"]'
    assert backend.store.delete_prefix(backend.url("models/v1")) == 2
    with pytest.raises(ObjectStoreError, match="Nothing found"):
        backend.store.download_dir(backend.url("models/v1"), tmp_path / "again")


def test_missing_objects_say_so(backend: Backend) -> None:
    with pytest.raises(ObjectStoreError, match=r"nope\.csv"):
        backend.store.read_bytes(backend.url("nope.csv"))


@pytest.fixture
def s3(stack: localstack.StackConfig) -> Callable[..., ObjectStore]:
    def make(**changes: object) -> ObjectStore:
        return ObjectStore(replace(S3Settings.from_env(stack.s3_env()), **changes))  # type: ignore[arg-type]

    return make


def test_s3_failures_are_job_failure_reasons_never_hangs(s3: Callable[..., ObjectStore], s3_bucket: str) -> None:
    with pytest.raises(ObjectStoreError, match="The S3 bucket test-missing-bucket-x does not exist"):
        s3().list_objects("s3://test-missing-bucket-x/in/")
    with pytest.raises(ObjectStoreError, match="Insufficient privileges for accessing data in Amazon S3"):
        s3(secret_access_key="wrong").list_objects(f"s3://{s3_bucket}/in/")
    with pytest.raises(ObjectStoreError, match="Insufficient privileges"):
        s3(access_key_id="nobody").write_bytes(f"s3://{s3_bucket}/x.csv", b"x")
    started = time.monotonic()
    with pytest.raises(ObjectStoreError, match=re.escape("Could not reach the S3 endpoint http://127.0.0.1:9")):
        s3(endpoint_url="http://127.0.0.1:9", connect_timeout_s=1.0, max_attempts=2).list_objects(
            f"s3://{s3_bucket}/in/"
        )
    assert time.monotonic() - started < 10
    with pytest.raises(ObjectStoreError, match="Invalid Data location s3://Not_A_Bucket/x"):
        s3().list_objects("s3://Not_A_Bucket/x")
