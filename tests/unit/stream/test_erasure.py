"""Data deletion jobs' pure rules (ADR 0015): the input list of users and what a rewrite drops."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tailor_shared.objectstore import ObjectStore
from tailor_stream import erasure
from tailor_stream.deletion import read_user_ids


def test_user_ids_from_a_csv_with_a_user_id_header() -> None:
    data = "\ufeffUSER_ID\nabc\n2a\n\n 5basc \nabc\n".encode()
    assert erasure.parse_user_ids("users.csv", data) == {"abc", "2a", "5basc"}
    assert erasure.parse_user_ids("u.csv", b"NAME,USER_ID\nx,u1\ny,\n") == {"u1"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "is empty"),
        (b"USERID\nabc\n", r"missing the following columns:\[USER_ID\]"),
        (b"ITEM_ID,X\n1,2\n", r"missing the following columns:\[USER_ID\]"),
        (b"USER_ID\n\xff\xfe\n", "not UTF-8"),
        (b"USER_ID\n" + b"a" * 257 + b"\n", "at most 256"),
    ],
)
def test_bad_input_files_are_typed_errors(data: bytes, message: str) -> None:
    with pytest.raises(erasure.DeletionInputError, match=message):
        erasure.parse_user_ids("users.csv", data)


def test_locations_and_the_size_limit(tmp_path: Path) -> None:
    with pytest.raises(erasure.DeletionInputError, match="Invalid Data location"):
        read_user_ids(ObjectStore(), "https://example.com/u.csv")
    erasure.check_total_size([erasure.MAX_INPUT_BYTES])
    with pytest.raises(erasure.DeletionInputError, match="50 MB"):
        erasure.check_total_size([erasure.MAX_INPUT_BYTES, 1])


def test_a_folder_reads_every_csv_below_it(tmp_path: Path) -> None:
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    (tmp_path / "a.csv").write_text("USER_ID\nu1\n")
    (tmp_path / "sub" / "deeper" / "b.csv").write_text("USER_ID\nu2\n")
    (tmp_path / "sub" / "notes.txt").write_text("not,a,list\n")
    store = ObjectStore()
    assert read_user_ids(store, f"file://{tmp_path}/") == {"u1", "u2"}
    assert read_user_ids(store, str(tmp_path / "a.csv")) == {"u1"}
    with pytest.raises(erasure.DeletionInputError, match="does not exist"):
        read_user_ids(store, str(tmp_path / "missing.csv"))
    with pytest.raises(erasure.DeletionInputError, match=r"no \.csv files"):
        read_user_ids(store, str(tmp_path / "sub" / "notes"))
    big = tmp_path / "big"
    big.mkdir()
    with (big / "users.csv").open("wb") as f:
        f.write(b"USER_ID\n")
        f.truncate(erasure.MAX_INPUT_BYTES + 1)
    with pytest.raises(erasure.DeletionInputError, match="50 MB"):
        read_user_ids(store, str(big))


def _row(user: str) -> Any:
    return lambda: {"USER_ID": user, "ITEM_ID": "i1"}


def test_the_eraser_drops_the_users_rows_and_their_sessions_anonymous_events() -> None:
    eraser = erasure.Eraser(frozenset({"u1", "u2"}))
    # First pass: u1's events carry session s1, so s1's anonymous events are u1's too.
    eraser.note_session("Interactions", b"u1", _row("u1"), b"s1")
    eraser.note_session("Interactions", b"u3", _row("u3"), b"s3")
    eraser.note_session("Users", b"u2", _row("u2"), None)
    assert eraser.sessions == {"s1"}
    assert not eraser.keep("Interactions", b"u1", _row("u1"), b"s1")
    assert not eraser.keep("Interactions", b"s1", _row(""), b"s1")  # anonymous, linked to u1
    assert eraser.keep("Interactions", b"s3", _row(""), b"s3")  # anonymous, no deleted user
    assert eraser.keep("Interactions", b"u3", _row("u3"), b"s1")  # another user in u1's session keeps theirs
    assert not eraser.keep("Users", b"u2", _row("u2"), None)
    assert eraser.keep("Users", b"u1x", _row("u1x"), None)
    # A key that names a deleted user but a row that is not theirs (an anonymous session called "u1").
    assert eraser.keep("Interactions", b"u1", _row(""), b"u1")
    assert eraser.keep("Items", None, _row(""), None)
    assert eraser.dropped == 3
