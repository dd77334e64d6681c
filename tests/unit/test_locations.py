"""The one data-location mapping every job uses (tailor_shared.locations)."""

from __future__ import annotations

import pytest

from tailor_shared.locations import InvalidLocation, local_path


def test_file_urls_paths_and_mapped_s3() -> None:
    assert local_path("file:///data/in/ratings.csv", None, "X") == "/data/in/ratings.csv"
    assert local_path("file://localhost/data/in/", None, "X") == "/data/in/"
    assert local_path("file:///data/my%20file.csv", None, "X") == "/data/my file.csv"
    assert local_path("/data/x.csv", None, "X") == "/data/x.csv"
    assert local_path("s3://bucket/folder/", "/srv/s3/", "X") == "/srv/s3/bucket/folder/"


@pytest.mark.parametrize(
    ("location", "root", "message"),
    [
        ("s3://bucket/x.csv", None, "set TAILOR_X_S3_ROOT"),
        ("https://example.com/x.csv", None, "Invalid Data location https://example.com/x.csv"),
        ("file://relative/x.csv", None, "file:///absolute/path"),
    ],
)
def test_unreadable_locations_say_why(location: str, root: str | None, message: str) -> None:
    with pytest.raises(InvalidLocation, match=message):
        local_path(location, root, "TAILOR_X_S3_ROOT")
