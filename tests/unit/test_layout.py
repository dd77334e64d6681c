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


_METRIC_TYPES = {"Counter", "Gauge", "Histogram", "Summary", "Info", "Enum"}


def _declares_metrics(path: Path) -> bool:
    """Whether a module constructs a prometheus_client metric (imports one of its metric types)."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module == "prometheus_client"
            and any(alias.name in _METRIC_TYPES for alias in node.names)
        ):
            return True
        if isinstance(node, ast.Import) and any(alias.name == "prometheus_client" for alias in node.names):
            return True
    return False


@pytest.mark.parametrize("service", SERVICES)
def test_metrics_declared_once_per_service_in_its_metrics_module(service: str) -> None:
    """DESIGN.md: metrics are declared once per service — in ``tailor_<service>/metrics.py`` — and domain
    modules (no I/O) never touch them."""
    package = ROOT / "services" / service / "src" / f"tailor_{service}"
    assert (package / "metrics.py").is_file(), f"tailor_{service} has no metrics.py"
    for path in _py_files(package):
        rel = path.relative_to(package)
        if rel == Path("metrics.py"):
            continue
        assert not _declares_metrics(path), f"{path.relative_to(ROOT)} declares metrics outside metrics.py"
        if rel.parts[0] == "domain" or rel.name == "domain.py":
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    bad = node.module == f"tailor_{service}.metrics" or (
                        node.module == f"tailor_{service}" and any(a.name == "metrics" for a in node.names)
                    )
                    assert not bad, f"{path.relative_to(ROOT)} (domain) imports the service's metrics"
            assert "prometheus_client" not in _imports(path), f"{path.relative_to(ROOT)} (domain) imports metrics"
