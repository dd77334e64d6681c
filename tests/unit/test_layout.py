"""The layout rules of DESIGN.md, checked on the import graph: services depend only on shared, never on
each other or on tests; domain modules do no I/O; torch stays in the trainer."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("control", "ingest", "stream", "trainer", "runtime", "gateway", "batch")
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
    # Every service has a pure core (a domain.py or a domain/ package, e.g. tailor_ingest/domain/put.py).
    assert {p.relative_to(ROOT / "services").parts[0] for p in domain_files} == set(SERVICES)
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


# --- developer tooling (tools/, tailor_tools) stays out of the shipped packages ----------------------------

#: Modules that are developer tooling and belong in ``tailor_tools``, never in ``tailor_shared``.
TOOLING_MODULES = ("cli", "demo", "localstack", "client", "synthetic")
#: Test and benchmark helpers that belong in ``tailor_tools`` or ``tests/support``, never in a service.
HELPER_MODULES = ("workload", "seed", "memory", "fakes")


def _manifest(path: Path) -> dict[str, object]:
    data = tomllib.loads(path.read_text())
    assert isinstance(data, dict)
    return data


def _requirement_names(manifest: dict[str, object]) -> set[str]:
    """The distribution names a pyproject.toml's [project] dependencies and optional dependencies list."""
    project = manifest.get("project", {})
    assert isinstance(project, dict)
    reqs = list(project.get("dependencies", []))
    for extra in dict(project.get("optional-dependencies", {})).values():
        reqs.extend(extra)
    return {re.split(r"[\s\[<>=!~;@]", str(r), maxsplit=1)[0].lower().replace("_", "-") for r in reqs}


def _service_manifests() -> list[Path]:
    found = sorted((ROOT / "services").glob("*/pyproject.toml"))
    assert {p.parent.name for p in found} >= set(SERVICES), "every service is a distribution"
    return found


def test_no_service_or_shared_distribution_depends_on_tools() -> None:
    for path in [*_service_manifests(), ROOT / "shared" / "pyproject.toml"]:
        deps = _requirement_names(_manifest(path))
        assert "tailor-tools" not in deps, f"{path.relative_to(ROOT)} depends on tailor-tools"


def test_tools_is_a_workspace_member_that_owns_the_tailor_command() -> None:
    tools = _manifest(ROOT / "tools" / "pyproject.toml")
    project = tools["project"]
    assert isinstance(project, dict)
    assert project["name"] == "tailor-tools"
    assert _requirement_names(tools) & {f"tailor-{s}" for s in SERVICES} == set(), "tools depends on shared only"
    assert "tailor-shared" in _requirement_names(tools)
    assert dict(project.get("scripts", {})).get("tailor", "").startswith("tailor_tools."), "tools owns `tailor`"
    for path in [*_service_manifests(), ROOT / "shared" / "pyproject.toml"]:
        project = _manifest(path).get("project", {})
        assert isinstance(project, dict)
        assert "tailor" not in dict(project.get("scripts", {})), f"{path.relative_to(ROOT)} declares `tailor`"


def test_no_shipped_module_imports_tailor_tools() -> None:
    bases = [ROOT / "shared" / "src", *(ROOT / "services" / s / "src" for s in SERVICES)]
    files = [p for base in bases for p in _py_files(base)]
    assert files
    for path in files:
        assert "tailor_tools" not in _imports(path), f"{path.relative_to(ROOT)} imports tailor_tools"


def test_shared_holds_no_tooling_modules() -> None:
    package = ROOT / "shared" / "src" / "tailor_shared"
    for name in TOOLING_MODULES:
        assert not (package / f"{name}.py").exists(), f"tailor_shared/{name}.py is tooling: it belongs in tools/"
        assert not (package / name).is_dir(), f"tailor_shared/{name}/ is tooling: it belongs in tools/"


def test_tools_imports_no_service() -> None:
    services = {f"tailor_{s}" for s in SERVICES}
    files = _py_files(ROOT / "tools" / "src")
    assert files, "expected tools/src"
    for path in files:
        bad = _imports(path) & (services | {"tests", "conftest"})
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}: tools start services only as processes"


@pytest.mark.parametrize("service", SERVICES)
def test_services_hold_no_test_or_benchmark_helpers(service: str) -> None:
    for path in _py_files(ROOT / "services" / service / "src"):
        stem = path.stem if path.name != "__init__.py" else path.parent.name
        assert stem not in HELPER_MODULES, (
            f"{path.relative_to(ROOT)} is a test/benchmark helper: it belongs in tools/ or tests/support/"
        )


def test_pre_commit_ruff_is_the_locked_ruff() -> None:
    """The ruff pre-commit hook runs the same ruff as ``uv run ruff`` (make lint, make test)."""
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    revs = {repo["repo"]: repo["rev"] for repo in config["repos"] if "rev" in repo}
    locked = {p["name"]: p["version"] for p in tomllib.loads((ROOT / "uv.lock").read_text())["package"]}
    assert revs["https://github.com/astral-sh/ruff-pre-commit"] == f"v{locked['ruff']}"


def test_test_modules_have_unique_basenames() -> None:
    """pytest imports test modules by basename (rootdir, no packages): two ``test_x.py`` anywhere under tests/
    make the whole suite fail at collection, which a run of one folder never shows."""
    seen: dict[str, Path] = {}
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        assert path.name not in seen, f"{path.relative_to(ROOT)} and {seen[path.name].relative_to(ROOT)}"
        seen[path.name] = path
