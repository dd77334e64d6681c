"""The layout rules of DESIGN.md, checked on the import graph: services depend only on shared, never on
each other or on tests; domain modules do no I/O; torch stays in the trainer."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("control", "ingest", "stream", "trainer", "runtime")
IO_MODULES = {"confluent_kafka", "aiokafka", "redis", "grpc", "faust", "socket", "subprocess", "requests", "urllib"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def _py_files(base: Path) -> list[Path]:
    return sorted(p for p in base.rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("service", SERVICES)
def test_service_imports_only_itself_and_shared(service: str) -> None:
    others = {f"tailor_{s}" for s in SERVICES if s != service}
    for path in _py_files(ROOT / "services" / service / "src"):
        bad = _imports(path) & (others | {"tests", "conftest"})
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_shared_imports_no_service() -> None:
    services = {f"tailor_{s}" for s in SERVICES}
    for path in _py_files(ROOT / "shared" / "src"):
        bad = _imports(path) & services
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_domain_modules_do_no_io() -> None:
    domain_files = [
        p
        for s in SERVICES
        for p in _py_files(ROOT / "services" / s / "src")
        if p.name == "domain.py" or "domain" in p.relative_to(ROOT / "services" / s / "src").parts[1:-1]
    ]
    assert domain_files, "expected domain modules"
    for path in domain_files:
        bad = _imports(path) & IO_MODULES
        assert not bad, f"{path.relative_to(ROOT)} (domain) imports I/O modules {sorted(bad)}"


@pytest.mark.parametrize("service", [s for s in SERVICES if s != "trainer"])
def test_torch_only_in_trainer(service: str) -> None:
    for path in _py_files(ROOT / "services" / service / "src"):
        assert "torch" not in _imports(path), f"{path.relative_to(ROOT)} imports torch"
    assert "torch" not in (ROOT / "services" / service / "pyproject.toml").read_text()
