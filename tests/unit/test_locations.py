"""The one data-location mapping every job uses (tailor_shared.locations)."""

from __future__ import annotations

import pytest

from tailor_shared.locations import InvalidLocation, parse


def test_parse_s3_and_file_locations() -> None:
    s3 = parse("s3://my-bucket/in/my%20file.csv")
    assert (s3.bucket, s3.key, s3.is_s3, s3.url) == (
        "my-bucket",
        "in/my file.csv",
        True,
        "s3://my-bucket/in/my file.csv",
    )
    assert parse("s3://my-bucket").key == ""
    assert parse("s3://my-bucket/out").child("job/part-00000.csv").url == "s3://my-bucket/out/job/part-00000.csv"
    assert parse("s3://my-bucket/out/").child("x").url == "s3://my-bucket/out/x"
    local = parse("file://localhost/data/in/")
    assert (local.bucket, local.key, local.url) == (None, "/data/in/", "file:///data/in/")
    assert parse("/data/x.csv").key == "/data/x.csv"
    assert parse("file:///data/my%20file.csv").key == "/data/my file.csv"


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ("s3://Upper_Case/x.csv", "use s3://<name of your S3 bucket>"),
        ("s3://ab/x.csv", "use s3://<name of your S3 bucket>"),
        ("s3:///x.csv", "use s3://<name of your S3 bucket>"),
        ("s3://bucket/" + "k" * 250, "at most 256 characters"),
        ("https://example.com/x.csv", "Invalid Data location https://example.com/x.csv"),
        ("file://relative/x.csv", "file:///absolute/path"),
    ],
)
def test_bad_locations_get_the_guides_error(location: str, message: str) -> None:
    with pytest.raises(InvalidLocation, match=message):
        parse(location)
