"""Data deletion jobs' rules (ADR 0015), pure: the input list of users and which records a rewrite drops.

The worker (``tailor_stream.deletion``) does the I/O: it lists and reads the input files, then streams the
group's user-keyed dataset topics through ``Eraser`` into their new generation.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

#: "The maximum total size of your data deletion input file or files is 50 MB." (L15010)
MAX_INPUT_BYTES = 50 * 1024 * 1024
USER_ID = "USER_ID"
#: The datasets whose records belong to users (keyed by USER_ID, docs/specs/topics.md); Items and Actions
#: hold no user data and keep their topics.
USER_DATASETS = ("Interactions", "Users", "Action_Interactions")
EVENT_DATASETS = frozenset({"Interactions", "Action_Interactions"})


class DeletionInputError(Exception):
    """Bad input: the job fails with this message as its failureReason."""


def check_total_size(sizes: Iterable[int]) -> None:
    total = sum(sizes)
    if total > MAX_INPUT_BYTES:
        raise DeletionInputError(
            f"The input files total {total} bytes; the maximum total size of data deletion input files is 50 MB."
        )


def parse_user_ids(name: str, data: bytes) -> set[str]:
    """The user ids of one input CSV: a header row with a ``USER_ID`` column, one user per row (other columns
    are ignored, blank ids skipped). A BOM is tolerated, as in import jobs."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DeletionInputError(f"Input CSV {name} is not UTF-8: {err.reason} at byte {err.start}.") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise DeletionInputError(f"Input CSV {name} is empty: it needs a USER_ID header row.") from None
    except csv.Error as err:
        raise DeletionInputError(f"Input CSV {name} is not valid CSV: {err}") from None
    names = [h.strip() for h in header]
    if USER_ID not in names:
        raise DeletionInputError(
            f"Input CSV {name} is missing the following columns:[{USER_ID}] (header: {','.join(names)})."
        )
    column = names.index(USER_ID)
    out: set[str] = set()
    try:
        for line, row in enumerate(reader, start=2):
            if not row or column >= len(row):
                if row and any(cell.strip() for cell in row):
                    raise DeletionInputError(f"Input CSV {name} line {line}: no {USER_ID} value.")
                continue
            value = row[column].strip()
            if value:
                if len(value) > 256:
                    raise DeletionInputError(f"Input CSV {name} line {line}: a USER_ID is at most 256 characters.")
                out.add(value)
    except csv.Error as err:
        raise DeletionInputError(f"Input CSV {name} is not valid CSV: {err}") from None
    return out


@dataclass
class Eraser:
    """Decides, record by record, what the new generation of one dataset topic keeps.

    Records are keyed by USER_ID (anonymous events: by their session id), so almost every record is judged
    by its key alone; the row is decoded only when the key names a deleted user or one of their sessions.
    Anonymous events of a session that a deleted user's events carry (the stream merged them into that user's
    history, L14378) are the user's data and go too. Markers (import attempts) are always kept, so import
    generations read the same from the new topic."""

    users: frozenset[str]
    sessions: set[str] = field(default_factory=set)
    dropped: int = 0

    def note_session(self, dataset_type: str, key: bytes | None, decode: Callable[[], dict[str, Any]],
                     session: bytes | None) -> None:  # fmt: skip
        """First pass over an event dataset: remember the sessions the deleted users' events carry."""
        if dataset_type not in EVENT_DATASETS or key is None or session is None:
            return
        if key.decode("utf-8", "replace") in self.users:
            user = decode().get(USER_ID)
            sid = session.decode("utf-8", "replace")
            if user in self.users and sid and sid != user:
                self.sessions.add(sid)

    def keep(self, dataset_type: str, key: bytes | None, decode: Callable[[], dict[str, Any]],
             session: bytes | None) -> bool:  # fmt: skip
        if key is None:
            return True
        text = key.decode("utf-8", "replace")
        if text in self.users:
            user = decode().get(USER_ID)
            if user in self.users:
                self.dropped += 1
                return False
        if dataset_type in EVENT_DATASETS and text in self.sessions:
            user = decode().get(USER_ID) or ""
            sid = session.decode("utf-8", "replace") if session is not None else text
            if user in ("", sid):
                self.dropped += 1
                return False
        return True


def user_dataset_types(types: Sequence[str]) -> list[str]:
    return [t for t in USER_DATASETS if t in types]
