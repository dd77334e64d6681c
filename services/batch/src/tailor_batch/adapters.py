"""The batch worker's I/O: the serving state in Redis (read as the runtime reads it) and the job's files.

Redis: the same commands as the runtime's request read (``tailor_shared.redis_keys.user_state_commands``, parsed
by ``parse_user_state``), pipelined for a chunk of lines at a time, and the item metadata hashes. Files: input
paths are prefixes (``s3://bucket/folder`` also matches ``folder_test/...``, L12787), mapped to local paths by
``tailor_shared.locations``; outputs are written under a temporary name and renamed once complete.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from tailor_shared.redis_client import redis_from_url
from tailor_shared.redis_keys import Keys, UserState, parse_user_state, user_state_commands

METADATA_CHUNK = 500


class RedisReader:
    """Synchronous reads for the worker thread. Redis errors propagate: the job is retried, never answered
    from a guess (ADR 0011: an exception that escapes a handler is a crash)."""

    def __init__(self, url: str, history_length: int) -> None:
        self._redis = redis_from_url(url, decode_responses=True, socket_timeout=30.0)
        self._history = history_length

    def user_states(
        self, keys: Keys, user_ids: Sequence[str], event_types: Sequence[str], any_type: bool
    ) -> list[UserState]:
        """Each user's state for one request, in one round trip for all of them."""
        pipe = self._redis.pipeline(transaction=False)
        sizes: list[int] = []
        for user in user_ids:
            commands = user_state_commands(keys, user, event_types, history=self._history)
            sizes.append(len(commands))
            for command in commands:
                pipe.execute_command(*command)  # type: ignore[no-untyped-call]
        replies = pipe.execute()
        out: list[UserState] = []
        start = 0
        for size in sizes:
            state = parse_user_state(replies[start : start + size], event_types, history=self._history)
            if any_type:
                state.windows.setdefault("*", list(state.any_type_items))
            out.append(state)
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
