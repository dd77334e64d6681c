"""The one owner of object storage (ADR 0023): every job's data location and the model store, on ``s3://`` (any
S3-compatible endpoint, through boto3) or ``file://`` (a local directory), with one API for both.

Locations are prefixes, as in Personalize: ``s3://bucket/folder`` also matches ``folder_test/...``; a trailing
``/`` restricts a listing to one folder (L12787). Reads stream (a buffered reader over the HTTP body, never the
whole object in memory); writes stream as a multipart upload of ``part_size`` parts, completed only when the
writer closes without an error, so a failed job leaves no partial object (``file://``: a temporary name, then a
rename). Every failure is an ``ObjectStoreError`` with a message for a job's ``failureReason``: an unreachable
endpoint fails after ``connect_timeout_s`` x ``max_attempts``, never hangs.
"""

from __future__ import annotations

import io
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

import boto3
import botocore.exceptions
from botocore.config import Config

from tailor_shared.config import S3Settings
from tailor_shared.locations import InvalidLocation, Location, parse

_READ_BUFFER = 1024 * 1024
_DENIED = frozenset(
    {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403", "AllAccessDisabled", "InvalidToken"}
    | {"XAdminUserNotFound"}  # versitygw: an access key it does not know
)
_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})


class ObjectStoreError(OSError):
    """A location that cannot be read or written (an I/O error); ``str()`` is the job's failureReason."""


@dataclass(frozen=True)
class ObjectInfo:
    """One object of a listing: its URL, its name relative to the listed folder, and its size in bytes."""

    url: str
    name: str
    size: int


class ObjectStore:
    """Thread-safe; one per process (the boto3 client is created on first ``s3://`` use)."""

    def __init__(self, settings: S3Settings | None = None) -> None:
        self.settings = settings or S3Settings()
        self._client: Any = None
        self._lock = threading.Lock()

    # --- listing ----------------------------------------------------------------------------------------------
    def list_objects(self, location: str, *, recursive: bool = True) -> list[ObjectInfo]:
        """The objects a location names, sorted by name. ``recursive``: every object under the prefix (batch
        and deletion jobs); otherwise one object or the first level of a folder (imports, L8007). Names that
        start with "." and folder markers are not data."""
        loc = _parse(location)
        base = loc.key[: loc.key.rfind("/") + 1]
        found = self._list_s3(loc, recursive) if loc.is_s3 else _list_local(loc, recursive)
        exact = [(k, n) for k, n in found if k == loc.key]
        if exact:
            found = exact
        elif not recursive and loc.key and not loc.key.endswith("/"):
            folder = loc.child("")
            found = self._list_s3(folder, False) if loc.is_s3 else _list_local(folder, False)
            base = folder.key
        out = []
        for key, size in sorted(found):
            name = key[len(base) :]
            if key.endswith("/") or any(part.startswith(".") for part in name.split("/")):
                continue
            out.append(ObjectInfo(Location(loc.bucket, key).url, name, size))
        return out

    def _list_s3(self, loc: Location, recursive: bool) -> list[tuple[str, int]]:
        client = self._s3()
        args: dict[str, Any] = {"Bucket": loc.bucket, "Prefix": loc.key}
        if not recursive:
            args["Delimiter"] = "/"
        out: list[tuple[str, int]] = []
        with self._errors(loc):
            for page in client.get_paginator("list_objects_v2").paginate(**args):
                out.extend((str(o["Key"]), int(o["Size"])) for o in page.get("Contents", ()))
        return out

    # --- reading ----------------------------------------------------------------------------------------------
    def open_read(self, location: str) -> IO[bytes]:
        """A buffered binary reader that streams the object (close it, or use it in ``with``)."""
        loc = _parse(location)
        if not loc.is_s3:
            try:
                return open(loc.key, "rb")
            except OSError as err:
                raise ObjectStoreError(f"Could not read {loc.url}: {err.strerror}") from None
        with self._errors(loc):
            body = self._s3().get_object(Bucket=loc.bucket, Key=loc.key)["Body"]
        return io.BufferedReader(_BodyReader(body, self, loc), buffer_size=_READ_BUFFER)

    def read_bytes(self, location: str) -> bytes:
        with self.open_read(location) as f:
            return f.read()

    # --- writing ----------------------------------------------------------------------------------------------
    @contextmanager
    def open_write(self, location: str) -> Iterator[IO[bytes]]:
        """A binary writer; the object appears only when the block ends without an exception."""
        loc = _parse(location)
        if not loc.is_s3:
            path = Path(loc.key)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
                handle = tmp.open("wb")
            except OSError as err:
                raise ObjectStoreError(f"Could not write {loc.url}: {err.strerror}") from None
            try:
                with handle:
                    yield handle
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
            return
        writer = _MultipartWriter(self, loc)
        try:
            yield writer  # type: ignore[misc]  # a RawIOBase with write(); typing's IO[bytes] is wider
        except BaseException:
            writer.abort()
            raise
        writer.close()

    def write_bytes(self, location: str, data: bytes) -> None:
        with self.open_write(location) as f:
            f.write(data)

    # --- folders: the model store -------------------------------------------------------------------------------
    def upload_dir(self, local: Path, location: str) -> int:
        """Every file under ``local`` to ``location``/<relative path>; returns the bytes written."""
        loc = _parse(location)
        total = 0
        for path in sorted(p for p in local.rglob("*") if p.is_file()):
            rel = path.relative_to(local).as_posix()
            with path.open("rb") as src, self.open_write(loc.child(rel).url) as dst:
                shutil.copyfileobj(src, dst, _READ_BUFFER)
            total += path.stat().st_size
        return total

    def download_dir(self, location: str, local: Path) -> int:
        """Every object under the folder ``location`` into ``local`` (created); returns the bytes read."""
        loc = _parse(location).child("")
        total = 0
        found = self._list_s3(loc, True) if loc.is_s3 else _list_local(loc, True)
        if not found:
            raise ObjectStoreError(f"Nothing found under {loc.url}")
        for key, size in found:
            if key.endswith("/"):
                continue
            target = local / key[len(loc.key) :]
            target.parent.mkdir(parents=True, exist_ok=True)
            with self.open_read(Location(loc.bucket, key).url) as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst, _READ_BUFFER)
            total += size
        return total

    def delete_prefix(self, location: str) -> int:
        """Remove every object under the folder ``location``; returns how many."""
        loc = _parse(location).child("")
        if not loc.is_s3:
            path = Path(loc.key)
            count = sum(1 for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0
            shutil.rmtree(path, ignore_errors=True)
            return count
        keys = [k for k, _ in self._list_s3(loc, True)]
        with self._errors(loc):
            for start in range(0, len(keys), 1000):
                chunk = [{"Key": k} for k in keys[start : start + 1000]]
                self._s3().delete_objects(Bucket=loc.bucket, Delete={"Objects": chunk, "Quiet": True})
        return len(keys)

    # --- buckets: the local stack and tests -----------------------------------------------------------------------
    def create_bucket(self, bucket: str) -> None:
        """Create ``bucket`` unless this account has it already."""
        loc = Location(bucket, "")
        try:
            with self._errors(loc):
                self._s3().create_bucket(Bucket=bucket)
        except ObjectStoreError:
            with self._errors(loc):
                self._s3().head_bucket(Bucket=bucket)  # exists and is ours: fine; anything else raises

    def bucket_exists(self, bucket: str) -> bool:
        try:
            with self._errors(Location(bucket, "")):
                self._s3().head_bucket(Bucket=bucket)
        except ObjectStoreError:
            return False
        return True

    def delete_bucket(self, bucket: str) -> None:
        """Delete ``bucket`` and everything in it."""
        self.delete_prefix(f"s3://{bucket}/")
        with self._errors(Location(bucket, "")):
            self._s3().delete_bucket(Bucket=bucket)

    # --- the client and its errors --------------------------------------------------------------------------------
    def _s3(self) -> Any:
        with self._lock:
            if self._client is None:
                s = self.settings
                config = Config(
                    region_name=s.region,
                    connect_timeout=s.connect_timeout_s,
                    read_timeout=s.read_timeout_s,
                    retries={"max_attempts": s.max_attempts, "mode": "standard"},
                    s3=cast(Any, {"addressing_style": s.addressing_style}),
                    signature_version="s3v4",
                    # S3-compatible stores differ in the newer default checksums; send them only when required.
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                    max_pool_connections=32,
                )
                self._client = boto3.session.Session().client(
                    "s3",
                    endpoint_url=s.endpoint_url,
                    aws_access_key_id=s.access_key_id,
                    aws_secret_access_key=s.secret_access_key,
                    config=config,
                )
            return self._client

    @contextmanager
    def _errors(self, loc: Location) -> Iterator[None]:
        try:
            yield
        except ObjectStoreError:
            raise
        except botocore.exceptions.ClientError as err:
            raise self.describe(err, loc) from None
        except (botocore.exceptions.NoCredentialsError, botocore.exceptions.PartialCredentialsError):
            raise ObjectStoreError(
                f"Insufficient privileges for accessing data in Amazon S3: no credentials for {loc.url}."
            ) from None
        except botocore.exceptions.BotoCoreError as err:  # connection refused, timeouts, bad endpoint
            endpoint = self.settings.endpoint_url or "AWS S3"
            raise ObjectStoreError(f"Could not reach the S3 endpoint {endpoint} for {loc.url}: {err}") from None

    def describe(self, err: botocore.exceptions.ClientError, loc: Location) -> ObjectStoreError:
        code = str(err.response.get("Error", {}).get("Code", ""))
        if code == "NoSuchBucket":
            return ObjectStoreError(f"The S3 bucket {loc.bucket} does not exist ({loc.url}).")
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in _DENIED or status == 403:
            return ObjectStoreError(f"Insufficient privileges for accessing data in Amazon S3 ({loc.url}): {code}.")
        if code in _MISSING:
            return ObjectStoreError(f"No such object: {loc.url}.")
        message = err.response.get("Error", {}).get("Message") or code
        return ObjectStoreError(f"S3 refused {err.operation_name} on {loc.url}: {code} {message}".rstrip())


def _parse(location: str) -> Location:
    try:
        return parse(location)
    except InvalidLocation as err:
        raise ObjectStoreError(str(err)) from None


def _list_local(loc: Location, recursive: bool) -> list[tuple[str, int]]:
    """(path, size) of the files whose path starts with the prefix ``loc.key``, as S3 lists keys."""
    folder = Path(loc.key) if loc.key.endswith("/") else Path(loc.key).parent
    if not folder.is_dir():
        return []
    prefix = loc.key
    out: list[tuple[str, int]] = []
    if recursive:
        for root, _dirs, files in os.walk(folder):
            for name in files:
                path = os.path.join(root, name)
                if path.startswith(prefix) and os.path.isfile(path):
                    out.append((path, os.path.getsize(path)))
        return out
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.path.startswith(prefix) and entry.is_file():
                out.append((entry.path, entry.stat().st_size))
    return out


class _BodyReader(io.RawIOBase):
    """An S3 response body as a raw stream (for io.BufferedReader), errors translated, position counted."""

    def __init__(self, body: Any, store: ObjectStore, loc: Location) -> None:
        self._body = body
        self._store = store
        self._loc = loc
        self._pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        with self._store._errors(self._loc):
            data = self._body.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self._pos += n
        return n

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


class _MultipartWriter(io.RawIOBase):
    """Buffers one part at a time; a small object is one PutObject, a large one a multipart upload."""

    def __init__(self, store: ObjectStore, loc: Location) -> None:
        self._store = store
        self._loc = loc
        self._buffer = bytearray()
        self._parts: list[dict[str, Any]] = []
        self._upload_id: str | None = None
        self._done = False

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._buffer += data
        if len(self._buffer) >= self._store.settings.part_size:
            self._flush_part()
        return len(data)

    def _flush_part(self) -> None:
        client = self._store._s3()
        with self._store._errors(self._loc):
            if self._upload_id is None:
                made = client.create_multipart_upload(Bucket=self._loc.bucket, Key=self._loc.key)
                self._upload_id = str(made["UploadId"])
            number = len(self._parts) + 1
            sent = client.upload_part(
                Bucket=self._loc.bucket,
                Key=self._loc.key,
                UploadId=self._upload_id,
                PartNumber=number,
                Body=bytes(self._buffer),
            )
        self._parts.append({"ETag": sent["ETag"], "PartNumber": number})
        self._buffer = bytearray()

    def close(self) -> None:
        if self._done or self.closed:
            super().close()
            return
        self._done = True
        client = self._store._s3()
        if self._upload_id is None:
            with self._store._errors(self._loc):
                client.put_object(Bucket=self._loc.bucket, Key=self._loc.key, Body=bytes(self._buffer))
        else:
            if self._buffer:
                self._flush_part()
            with self._store._errors(self._loc):
                client.complete_multipart_upload(
                    Bucket=self._loc.bucket,
                    Key=self._loc.key,
                    UploadId=self._upload_id,
                    MultipartUpload={"Parts": self._parts},
                )
        super().close()

    def abort(self) -> None:
        """Drop what was uploaded so far (best effort: S3 also expires incomplete uploads by lifecycle)."""
        self._done = True
        if self._upload_id is not None:
            with suppress(botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
                self._store._s3().abort_multipart_upload(
                    Bucket=self._loc.bucket, Key=self._loc.key, UploadId=self._upload_id
                )
        super().close()
