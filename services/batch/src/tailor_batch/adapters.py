"""The batch worker's I/O: the serving state in Redis (read as the runtime reads it) and the job's files.

Redis: the same commands as the runtime's request read (``tailor_shared.redis_keys.user_state_commands``, parsed
by ``parse_user_state``) for a chunk of lines at a time, run by one read-only Lua call (``READ_SCRIPT``), and the
item metadata hashes. Files: input
paths are prefixes (``s3://bucket/folder`` also matches ``folder_test/...``, L12787); ``s3://`` locations are
staged on local disk (``Staging``, through ``tailor_shared.objectstore``); outputs are written under a temporary
name and renamed once complete, then uploaded.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from tailor_batch.domain.lines import check_inputs
from tailor_shared.locations import InvalidLocation, Location, parse
from tailor_shared.objectstore import ObjectStore, ObjectStoreError
from tailor_shared.redis_client import redis_from_url
from tailor_shared.redis_keys import Keys, UserState, parse_user_state, user_state_commands

METADATA_CHUNK = 500

#: A chunk's state reads in one round trip: the commands go in as one JSON argument and every reply comes back
#: as one JSON string, so the worker neither packs nor parses per command (redis-py's per-command cost was most of
#: the read: measured 46-70 -> 16 µs of worker CPU per user without live events, 316 -> 156 µs with 30; the
#: runtime's per-request read does the same, ADR 0009). Every key of a dataset group is in one hash slot
#: (``redis_keys``), so the group's namespace routes the call.
READ_SCRIPT = """#!lua flags=no-writes
local commands = cjson.decode(ARGV[1])
local replies = {}
for i, command in ipairs(commands) do
  replies[i] = redis.call(unpack(command))
end
return cjson.encode(replies)
"""


class RedisReader:
    """Synchronous reads for the worker thread. Redis errors propagate: the job is retried, never answered
    from a guess (ADR 0011: an exception that escapes a handler is a crash)."""

    def __init__(self, url: str, history_length: int) -> None:
        self._redis = redis_from_url(url, decode_responses=True, socket_timeout=30.0)
        self._history = history_length
        self._read = self._redis.register_script(READ_SCRIPT)

    def user_states(
        self, keys: Keys, user_ids: Sequence[str], event_types: Sequence[str], any_type: bool
    ) -> list[UserState]:
        """Each user's state for one request, in one round trip for all of them."""
        commands: list[tuple[Any, ...]] = []
        sizes: list[int] = []
        for user in user_ids:
            own = user_state_commands(keys, user, event_types, history=self._history)
            if not any_type:  # the all-types windows (one per subject) are read only for a "*" filter
                per = (len(own) - 1) // 2
                own = [c for k, c in enumerate(own) if k not in (1, per + 1)]
            sizes.append(len(own))
            commands.extend(own)
        replies = json.loads(self._read(keys=[keys.ns], args=[json.dumps(commands)])) if commands else []
        out: list[UserState] = []
        start = 0
        for size in sizes:
            own_replies = replies[start : start + size]
            if not any_type:
                per = (size - 1) // 2
                own_replies[per + 1 : per + 1] = [[]]
                own_replies[1:1] = [[]]
            out.append(parse_user_state(own_replies, event_types, history=self._history))
            if any_type:
                out[-1].windows.setdefault("*", list(out[-1].any_type_items))
            start += size
        return out

    def item_metadata(self, keys: Keys, item_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        """Every item's metadata hash (field names upper-cased, as the runtime indexes them)."""
        out: dict[str, dict[str, str]] = {}
        for start in range(0, len(item_ids), METADATA_CHUNK):
            chunk = item_ids[start : start + METADATA_CHUNK]
            pipe = self._redis.pipeline(transaction=False)
            for item in chunk:
                pipe.hgetall(keys.metadata("item", item))
            for item, fields in zip(chunk, pipe.execute(), strict=True):
                if fields:
                    out[item] = {str(k).upper(): str(v) for k, v in fields.items()}
        return out

    def close(self) -> None:
        self._redis.close()


def input_files(local_prefix: str) -> list[Path]:
    """The files a prefix names, sorted: every regular file under the prefix's folder whose path starts with
    the prefix (a prefix ending in ``/`` is one folder, recursively). Hidden files and our outputs are not
    input."""
    if local_prefix.endswith("/"):
        folder, stem = Path(local_prefix), ""
    else:
        folder, stem = Path(local_prefix).parent, Path(local_prefix).name
    if not folder.is_dir():
        return []
    found: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            rel = path.relative_to(folder).as_posix()
            if rel.startswith(stem) and not name.startswith(".") and path.is_file():
                found.append(path)
    return found


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of the non-blank lines of a JSON-lines file; undecodable bytes are replaced so a
    bad line becomes an error line, not a failed job."""
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            text = line.strip()
            if text:
                yield number, text


def count_lines(path: Path) -> int:
    return sum(1 for _ in read_lines(path))


class Staging:
    """A job's ``s3://`` locations mirrored on local disk for its run (ADR 0023): an input prefix's objects are
    downloaded (streamed, after the guide's limits are checked on the listing: at most 1000 files, 1 GB), and
    files the job creates under an output location are uploaded by ``publish`` once the job succeeded, each a
    streamed multipart upload. The job's file code stays the same for ``file://`` and ``s3://``."""

    def __init__(self, store: ObjectStore, work: Path) -> None:
        self._store = store
        self._work = work
        self._mirrors: list[tuple[Path, Location]] = []
        self._fetched: set[Path] = set()

    def local(self, location: str) -> str:
        """The local prefix that mirrors ``location`` (raises ObjectStoreError, or JobLimit with the reason)."""
        loc = _parse(location)
        base = Location(loc.bucket, loc.key[: loc.key.rfind("/") + 1])
        mirror = self._work / f"m{len(self._mirrors)}"
        mirror.mkdir(parents=True)
        self._mirrors.append((mirror, base))
        found = self._store.list_objects(location)
        reason = check_inputs([o.size for o in found]) if found else None
        if reason is not None:
            raise JobLimit(reason)
        for obj in found:
            path = mirror / obj.name
            path.parent.mkdir(parents=True, exist_ok=True)
            with self._store.open_read(obj.url) as src, path.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1024 * 1024)
            self._fetched.add(path)
        return str(mirror) + "/" + loc.key[len(base.key) :]

    def publish(self) -> int:
        """Upload every file the job wrote under a mirror; returns how many."""
        count = 0
        for mirror, base in self._mirrors:
            for path in sorted(p for p in mirror.rglob("*") if p.is_file()):
                if path in self._fetched or path.name.startswith("."):
                    continue
                target = base.child(path.relative_to(mirror).as_posix()).url
                with path.open("rb") as src, self._store.open_write(target) as dst:
                    shutil.copyfileobj(src, dst, 1024 * 1024)
                count += 1
        return count


class JobLimit(Exception):
    """An input over the guide's batch limits, seen on the listing before anything is downloaded."""


def _parse(location: str) -> Location:
    try:
        return parse(location)
    except InvalidLocation as err:
        raise ObjectStoreError(str(err)) from None
