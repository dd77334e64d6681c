"""List* pagination: maxResults 1-100 (default 100), opaque nextToken, parent filters."""

from __future__ import annotations

import base64
import json

import pytest

from tailor_shared.errors import InvalidInputException, InvalidNextTokenException
from tests.support.control_plane import InMemoryControlPlane


def _groups(plane: InMemoryControlPlane, count: int) -> list[str]:
    return [plane.call("CreateDatasetGroup", {"name": f"g{i:03d}"})["datasetGroupArn"] for i in range(count)]


def test_pages_newest_first_without_gaps_or_repeats() -> None:
    plane = InMemoryControlPlane()
    plane.quotas = plane.quotas.__class__(active_dataset_groups=1000)
    created = _groups(plane, 7)
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        request: dict[str, object] = {"maxResults": 3}
        if token:
            request["nextToken"] = token
        response = plane.call("ListDatasetGroups", request)
        seen += [g["datasetGroupArn"] for g in response["datasetGroups"]]
        pages += 1
        token = response.get("nextToken")
        if token is None:
            break
    assert pages == 3
    assert seen == list(reversed(created))


def test_default_page_is_100_and_limits() -> None:
    plane = InMemoryControlPlane()
    plane.quotas = plane.quotas.__class__(active_dataset_groups=1000)
    _groups(plane, 101)
    first = plane.call("ListDatasetGroups", {})
    assert len(first["datasetGroups"]) == 100 and "nextToken" in first
    rest = plane.call("ListDatasetGroups", {"nextToken": first["nextToken"]})
    assert len(rest["datasetGroups"]) == 1 and "nextToken" not in rest
    with pytest.raises(InvalidInputException, match="greater than or equal to 1"):
        plane.call("ListDatasetGroups", {"maxResults": 0})
    with pytest.raises(InvalidInputException, match="less than or equal to 100"):
        plane.call("ListDatasetGroups", {"maxResults": 101})


def test_page_survives_inserts_between_calls() -> None:
    plane = InMemoryControlPlane()
    created = _groups(plane, 4)
    plane.advance()
    first = plane.call("ListDatasetGroups", {"maxResults": 2})
    plane.call("DeleteDatasetGroup", {"datasetGroupArn": created[0]})
    plane.advance()
    plane.call("CreateDatasetGroup", {"name": "late"})
    second = plane.call("ListDatasetGroups", {"maxResults": 2, "nextToken": first["nextToken"]})
    # Newest first: page 1 was g003, g002; g000 is gone and "late" sorts before the marker.
    assert [g["datasetGroupArn"] for g in second["datasetGroups"]] == [created[1]]


@pytest.mark.parametrize(
    "token",
    [
        "garbage!!",
        base64.urlsafe_b64encode(b"[1,2]").decode(),
        base64.urlsafe_b64encode(
            json.dumps({"op": "ListSchemas", "scope": None, "after": [1.0, "x"]}).encode()
        ).decode(),
        "x" * 1501,
        "ünïcode",
    ],
)
def test_bad_tokens(plane: InMemoryControlPlane, token: str) -> None:
    _groups(plane, 1)
    with pytest.raises(InvalidNextTokenException, match="The token is not valid"):
        plane.call("ListDatasetGroups", {"nextToken": token})


def test_token_is_bound_to_the_parent_filter(
    plane: InMemoryControlPlane, group: str, interactions: str, items: str
) -> None:
    first = plane.call("ListDatasets", {"datasetGroupArn": group, "maxResults": 1})
    assert len(first["datasets"]) == 1
    with pytest.raises(InvalidNextTokenException):
        plane.call("ListDatasets", {"maxResults": 1, "nextToken": first["nextToken"]})
    second = plane.call("ListDatasets", {"datasetGroupArn": group, "maxResults": 1, "nextToken": first["nextToken"]})
    assert {first["datasets"][0]["datasetArn"], second["datasets"][0]["datasetArn"]} == {interactions, items}


def test_parent_filters(plane: InMemoryControlPlane, group: str, interactions: str) -> None:
    other = plane.call("CreateDatasetGroup", {"name": "other"})["datasetGroupArn"]
    plane.advance()
    plane.call("CreateEventTracker", {"name": "t1", "datasetGroupArn": group})
    plane.call("CreateEventTracker", {"name": "t2", "datasetGroupArn": other})
    assert len(plane.call("ListEventTrackers", {})["eventTrackers"]) == 2
    only = plane.call("ListEventTrackers", {"datasetGroupArn": other})["eventTrackers"]
    assert [t["name"] for t in only] == ["t2"]
    assert plane.call("ListDatasets", {"datasetGroupArn": other})["datasets"] == []
    with pytest.raises(InvalidInputException, match="at 'datasetGroupArn'"):
        plane.call("ListDatasets", {"datasetGroupArn": "bad"})
