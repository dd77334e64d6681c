"""Fixtures for the control-plane domain tests: an in-memory control plane and ready-made resources.

Each fixture builds through the public API (``handle`` via ``InMemoryControlPlane``), so the set-up
itself exercises the happy paths.
"""

from __future__ import annotations

import pytest

from tests.support.control_plane import InMemoryControlPlane
from tests.support.schemas import INTERACTIONS, ITEMS

_UP = "arn:aws:personalize:::recipe/aws-user-personalization"
_ECOMM_FOR_YOU = "arn:aws:personalize:::recipe/aws-ecomm-recommended-for-you"


@pytest.fixture
def plane() -> InMemoryControlPlane:
    return InMemoryControlPlane()


def _make_group(plane: InMemoryControlPlane, name: str, domain: str | None = None) -> str:
    request: dict[str, object] = {"name": name}
    if domain is not None:
        request["domain"] = domain
    arn = str(plane.call("CreateDatasetGroup", request)["datasetGroupArn"])
    plane.advance()
    return arn


def _make_dataset(
    plane: InMemoryControlPlane, group: str, dataset_type: str, schema: str, name: str, domain: str | None = None
) -> str:
    request: dict[str, object] = {"name": f"{name}-schema", "schema": schema}
    if domain is not None:
        request["domain"] = domain
    schema_arn = plane.call("CreateSchema", request)["schemaArn"]
    arn = plane.call(
        "CreateDataset", {"name": name, "datasetGroupArn": group, "datasetType": dataset_type, "schemaArn": schema_arn}
    )["datasetArn"]
    plane.advance()
    return str(arn)


def _make_solution(plane: InMemoryControlPlane, group: str, name: str, recipe: str, **extra: object) -> str:
    request: dict[str, object] = {
        "name": name,
        "datasetGroupArn": group,
        "recipeArn": recipe,
        "performAutoTraining": False,
        **extra,
    }
    arn = str(plane.call("CreateSolution", request)["solutionArn"])
    plane.advance()
    return arn


def _make_version(plane: InMemoryControlPlane, solution: str, **extra: object) -> str:
    arn = str(plane.call("CreateSolutionVersion", {"solutionArn": solution, **extra})["solutionVersionArn"])
    plane.report({"resourceArn": arn, "status": "ACTIVE", "fields": {"metrics": {"coverage": 0.5}}})
    return arn


@pytest.fixture
def group(plane: InMemoryControlPlane) -> str:
    return _make_group(plane, "movies")


@pytest.fixture
def interactions(plane: InMemoryControlPlane, group: str) -> str:
    return _make_dataset(plane, group, "Interactions", INTERACTIONS, "interactions")


@pytest.fixture
def items(plane: InMemoryControlPlane, group: str, interactions: str) -> str:
    return _make_dataset(plane, group, "Items", ITEMS, "items")


@pytest.fixture
def solution(plane: InMemoryControlPlane, group: str, interactions: str) -> str:
    return _make_solution(plane, group, "up", _UP)


@pytest.fixture
def version(plane: InMemoryControlPlane, solution: str) -> str:
    return _make_version(plane, solution)


@pytest.fixture
def campaign(plane: InMemoryControlPlane, version: str) -> str:
    arn = str(plane.call("CreateCampaign", {"name": "camp", "solutionVersionArn": version})["campaignArn"])
    plane.report({"resourceArn": arn, "status": "ACTIVE"})
    return arn


@pytest.fixture
def domain_group(plane: InMemoryControlPlane) -> str:
    arn = _make_group(plane, "shop", "ECOMMERCE")
    _make_dataset(plane, arn, "Interactions", INTERACTIONS, "shop-interactions", domain="ECOMMERCE")
    return arn


@pytest.fixture
def recommender(plane: InMemoryControlPlane, domain_group: str) -> str:
    arn = str(
        plane.call(
            "CreateRecommender", {"name": "for-you", "datasetGroupArn": domain_group, "recipeArn": _ECOMM_FOR_YOU}
        )["recommenderArn"]
    )
    plane.report({"resourceArn": arn, "status": "ACTIVE"})
    return arn
