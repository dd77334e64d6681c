"""Deployment artefacts agree with the code: docker-compose.yml, the Dockerfiles, k8s/ and the dashboard.

Offline and fast. Which env vars a service reads is not listed here: each service's ``Settings.from_env`` is
called with a recording mapping, so a variable a manifest sets but no service reads fails the test, and a
variable a service starts reading needs no change here. The kustomizations are rendered by a small renderer
for the subset k8s/ uses (resources, components, configMapGenerator, patches, namespace, labels, images;
anything else is refused), then
validated against the Kubernetes 1.30 JSON schemas (kubernetes-validate, strict) and Tailor's policies
(docs/specs/deployment.md).
"""

from __future__ import annotations

import ast
import copy
import fnmatch
import hashlib
import http.server
import importlib
import json
import os
import re
import shlex
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator, Mapping
from concurrent import futures
from functools import cache
from pathlib import Path
from typing import Any

import grpc
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import HealthServicer
from kubernetes_validate.utils import SchemaNotFoundError  # type: ignore[import-untyped]

from tailor_shared.config import DEFAULT_PORTS, CommonSettings
from tailor_shared.jobs import job_topic_specs
from tailor_shared.kafka import ACCOUNT_USER_PREFIX, account_user
from tailor_shared.redis_client import SentinelUrl, parse_sentinel_url
from tailor_shared.topics import DATASET_KINDS
from tailor_tools.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("control", "ingest", "stream", "trainer", "runtime", "gateway", "batch")
#: Services whose port is an HTTP server (GET /health) rather than gRPC: the stream's Faust web and the gateway.
HTTP_SERVICES = frozenset({"stream", "gateway"})
#: HTTP services that serve /metrics on that one port (the others have a metrics port as the gRPC services do).
METRICS_ON_HTTP_PORT = frozenset({"stream"})
#: The services that talk to Kafka (all but the gateway, which only forwards to the gRPC services).
KAFKA_USERS = frozenset(SERVICES) - {"gateway"}
GRPC_SERVICES = tuple(s for s in SERVICES if s not in HTTP_SERVICES)
#: The services that talk to Redis (docs/specs/configuration.md).
REDIS_USERS = frozenset({"control", "stream", "runtime", "batch"})
#: Variables the manifests set ahead of the code, and the services that will read them. A variable here
#: that its services already read is fine; one that nobody plans to read is not.
PLANNED_VARS: dict[str, frozenset[str]] = {"TAILOR_MODEL_STORE": frozenset({"trainer", "runtime", "batch"})}
K8S_VERSION = "1.30"
KAFKA_IMAGE = "apache/kafka:4.1.2"
REDIS_IMAGE = "redis:7"
#: The one image template every service is built from (per-service differences are build arguments).
DOCKERFILE = "services/Dockerfile"
#: Settings naming files the image itself carries (read only, not a volume): the gateway's web console.
IMAGE_PATHS = {"TAILOR_CONSOLE_DIR"}

Doc = dict[str, Any]


# --- what the services read ------------------------------------------------------------------------------


class RecordingEnv(Mapping[str, str]):
    """A read-only environment that remembers every key looked up (``get``, ``in`` and ``[]`` all land in
    ``__getitem__``)."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        raise AssertionError("settings must look variables up by name, not scan the environment")

    def __len__(self) -> int:
        return len(self._values)


def _settings_class(service: str) -> Any:
    module = importlib.import_module(f"tailor_{service}.config")
    found = [
        obj
        for name, obj in vars(module).items()
        if isinstance(obj, type)
        and name.endswith("Settings")
        and obj.__module__ == module.__name__
        and hasattr(obj, "from_env")
    ]
    assert len(found) == 1, f"tailor_{service}.config should define exactly one *Settings with from_env: {found}"
    return found[0]


def load_settings(service: str, env: Mapping[str, str]) -> tuple[Any, set[str]]:
    """The service's settings built from ``env``, and the variables it looked up."""
    recording = RecordingEnv(env)
    settings = _settings_class(service).from_env(recording)
    return settings, recording.read


@cache
def _default_reads(service: str) -> frozenset[str]:
    return frozenset(load_settings(service, {})[1])


def common(settings: Any) -> CommonSettings:
    value = settings.common
    assert isinstance(value, CommonSettings)
    return value


def check_env_read(service: str, env: Mapping[str, str], where: str) -> CommonSettings:
    """Every TAILOR_* variable in ``env`` is one ``service`` reads (or a planned one); returns its settings."""
    settings, reads = load_settings(service, env)
    reads |= _default_reads(service)
    for key in env:
        if not key.startswith("TAILOR_"):
            continue
        planned = service in PLANNED_VARS.get(key, frozenset())
        assert key in reads or planned, f"{where}: {service} does not read {key} (it reads {sorted(reads)})"
    return common(settings)


def test_planned_vars_are_used_by_the_manifests() -> None:
    text = (ROOT / "docker-compose.yml").read_text() + "".join(p.read_text() for p in (ROOT / "k8s").rglob("*.yaml"))
    for key in PLANNED_VARS:
        assert key in text, f"{key} is planned but no manifest sets it: drop it from PLANNED_VARS"


# --- docker-compose.yml ----------------------------------------------------------------------------------


@cache
def _compose() -> Doc:
    doc = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(doc, dict)
    return doc


def compose_services() -> dict[str, Doc]:
    services = _compose()["services"]
    assert isinstance(services, dict)
    return services


def compose_env(svc: Doc) -> dict[str, str]:
    env = svc.get("environment", {})
    assert isinstance(env, dict), "environment as a mapping"
    return {str(k): str(v) for k, v in env.items()}


def _published(svc: Doc) -> dict[int, int]:
    """container port -> host port."""
    out: dict[int, int] = {}
    for entry in svc.get("ports", []):
        host, _, container = str(entry).rpartition(":")
        out[int(container)] = int(host)
    return out


def _service_ports(service: str, settings: CommonSettings) -> list[int]:
    return [settings.grpc_port] if service in METRICS_ON_HTTP_PORT else [settings.grpc_port, settings.metrics_port]


def build_args(service: str) -> dict[str, str]:
    """The build arguments docker-compose.yml passes the image template for ``service``."""
    args = compose_services()[service]["build"].get("args", {})
    assert isinstance(args, dict), f"{service}: build.args as a mapping"
    return {str(k): str(v) for k, v in args.items()}


def _healthcheck_text(svc: Doc) -> str:
    test = svc["healthcheck"]["test"]
    return " ".join(test) if isinstance(test, list) else str(test)


def test_compose_has_kafka_redis_and_every_service() -> None:
    services = compose_services()
    assert set(services) >= {"kafka", "redis", *SERVICES}
    kafka = services["kafka"]
    assert kafka["image"] == KAFKA_IMAGE
    env = compose_env(kafka)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}, "single-node KRaft"
    assert env.get("CLUSTER_ID") and env.get("KAFKA_CONTROLLER_QUORUM_VOTERS")
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert services["redis"]["image"] == REDIS_IMAGE
    for service in SERVICES:
        svc = services[service]
        build = svc["build"]
        assert build["context"] == "."
        assert build["dockerfile"] == DOCKERFILE, f"{service}: every image is built from the one template"
        assert (ROOT / build["dockerfile"]).is_file()
        assert build_args(service)["SERVICE"] == service
        assert str(svc["image"]).startswith(f"tailor/{service}:")
    leftovers = sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("services/*/Dockerfile"))
    assert not leftovers, f"one template ({DOCKERFILE}), no per-service Dockerfiles: {leftovers}"


def test_compose_healthchecks_and_dependencies() -> None:
    services = compose_services()
    for name, svc in services.items():
        assert svc.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        for dep, spec in svc.get("depends_on", {}).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            assert spec == {"condition": "service_healthy"}, f"{name} -> {dep}: wait for it to be healthy"
    for service in SERVICES:
        deps = set(services[service].get("depends_on", {}))
        assert ("kafka" in deps) == (service in KAFKA_USERS), service
        if service in REDIS_USERS:
            assert "redis" in deps, service


def test_compose_env_is_what_the_services_read_and_ports_match() -> None:
    services = compose_services()
    for service in SERVICES:
        svc = services[service]
        env = compose_env(svc)
        assert all(k.startswith("TAILOR_") for k in env), f"{service}: only TAILOR_* settings"
        settings = check_env_read(service, env, "docker-compose.yml")
        assert settings.grpc_host == "0.0.0.0", f"{service} must listen on every interface in a container"
        assert settings.kafka_bootstrap == "kafka:9092"
        assert settings.redis_url.startswith("redis://redis:6379")
        expected = _service_ports(service, settings)
        assert expected == list(DEFAULT_PORTS[service][: len(expected)]), f"{service} ports differ from DEFAULT_PORTS"
        assert _published(svc) == {p: p for p in expected}, f"{service} publishes {_published(svc)}"
        health = _healthcheck_text(svc)
        assert f"127.0.0.1:{settings.grpc_port}" in health
        if service in HTTP_SERVICES:
            assert "/health" in health
        else:
            assert "grpc_health" in health and "SERVING" in health
        if health.startswith("CMD python -c "):
            compile(svc["healthcheck"]["test"][3], f"{service} healthcheck", "exec")


def test_compose_paths_are_writable_and_model_store_is_shared() -> None:
    services = compose_services()
    volumes: dict[str, dict[str, str]] = {}
    for service in SERVICES:
        svc = services[service]
        mounts: dict[str, str] = {}
        for entry in svc.get("volumes", []):
            source, target, *mode = str(entry).split(":")
            assert source in _compose().get("volumes", {}), f"{service}: named volumes only ({source})"
            mounts[target] = source + (":ro" if mode == ["ro"] else "")
        volumes[service] = mounts
        if not svc.get("read_only"):
            continue
        assert svc.get("tmpfs") and "/tmp" in svc["tmpfs"], f"{service}: read-only root needs a tmpfs /tmp"
        writable = [*svc["tmpfs"], *(t for t, s in mounts.items() if not s.endswith(":ro"))]
        for key, value in compose_env(svc).items():
            if value.startswith("/") and key != "TAILOR_MODEL_STORE" and key not in IMAGE_PATHS:
                assert any(value == w or value.startswith(w.rstrip("/") + "/") for w in writable), (
                    f"{service}: {key}={value} is on the read-only root file system"
                )
    store = {service: compose_env(services[service]).get("TAILOR_MODEL_STORE") for service in ("trainer", "runtime")}
    assert store["trainer"] and store["trainer"] == store["runtime"]
    assert volumes["trainer"][store["trainer"]] == "models"
    assert volumes["runtime"][store["trainer"]] == "models:ro", "the runtime only reads the model store"


# --- Dockerfiles -----------------------------------------------------------------------------------------


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, rest = line.partition(" ")
        out.append((keyword.upper(), rest.strip()))
    assert not pending, f"{path}: dangling line continuation"
    return out


def stages(instructions: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    out: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions:
        if keyword == "FROM":
            out.append([])
        if out:
            out[-1].append((keyword, rest))
    return out


def _exec_form(rest: str) -> list[str]:
    value = json.loads(rest)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value)
    return value


@cache
def _lock_packages() -> dict[str, Doc]:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    return {p["name"]: p for p in lock["package"]}


def dependency_closure(package: str) -> set[str]:
    """Every package ``package`` can pull in according to uv.lock (markers ignored: a superset)."""
    packages = _lock_packages()
    seen: set[str] = set()
    todo = [package]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for dep in packages[name].get("dependencies", []):
            todo.append(dep["name"])
    return seen


def _dockerignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _ignored(path: str, patterns: list[str]) -> bool:
    parts = Path(path).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        if pattern.startswith("!"):
            raise AssertionError("negated .dockerignore patterns are not checked here")
        candidates = [pattern, pattern.removeprefix("**/")]
        if any(fnmatch.fnmatchcase(p, c) for p in prefixes for c in candidates):
            return True
        if pattern.startswith("**/") and any(fnmatch.fnmatchcase(part, pattern[3:]) for part in parts):
            return True
    return False


def test_dockerignore_keeps_the_context_small() -> None:
    patterns = _dockerignore_patterns()
    for path in (".venv", ".tailor", "tests", ".git", ".mypy_cache", ".pytest_cache", ".ruff_cache"):
        assert _ignored(path, patterns), f".dockerignore should exclude {path}"
    assert _ignored("shared/src/tailor_shared/__pycache__/config.cpython-311.pyc", patterns)
    assert _ignored("tools/src/tailor_tools/cli.py", patterns), "developer tooling stays out of the images"
    assert not _ignored("tools/pyproject.toml", patterns), "uv needs every workspace member's manifest"


_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")


def substitute(text: str, values: Mapping[str, str]) -> str:
    """``${NAME}`` / ``$NAME`` replaced as Docker (or the shell, for RUN and ``sh -c``) does; unset -> empty."""
    return _VARIABLE.sub(lambda m: values.get(m.group(1) or m.group(2), ""), text)


def render_dockerfile(path: Path, args: Mapping[str, str]) -> list[list[tuple[str, str]]]:
    """The stages of ``path`` built with the build arguments ``args``: each stage's ARGs (given or default)
    and ENVs substituted into the instructions that follow. Exec-form CMD and HEALTHCHECK stay as written
    (Docker does not substitute them); ``sh -c`` commands are expanded by :func:`shell_command`."""
    out: list[list[tuple[str, str]]] = []
    for stage in stages(dockerfile_instructions(path)):
        values: dict[str, str] = {}
        rendered: list[tuple[str, str]] = []
        for keyword, rest in stage:
            if keyword in {"CMD", "HEALTHCHECK"}:
                rendered.append((keyword, rest))
                continue
            rest = substitute(rest, values)
            if keyword == "ARG":
                name, has_default, default = rest.partition("=")
                values[name] = args.get(name, default if has_default else "")
            elif keyword == "ENV":
                for pair in shlex.split(rest):
                    key, _, value = pair.partition("=")
                    values[key] = value
            rendered.append((keyword, rest))
        out.append(rendered)
    return out


def stage_env(stage: list[tuple[str, str]]) -> dict[str, str]:
    """The environment a (rendered) stage leaves in its image."""
    env: dict[str, str] = {}
    for keyword, rest in stage:
        if keyword == "ENV":
            env.update(pair.partition("=")[::2] for pair in shlex.split(rest))
    return env


def shell_command(argv: list[str], env: Mapping[str, str]) -> list[str]:
    """The argv a CMD finally runs: ``/bin/sh -c "exec ..."`` expanded with the image's environment."""
    if argv[:2] in (["/bin/sh", "-c"], ["sh", "-c"]):
        argv = shlex.split(substitute(argv[2], env))
        if argv[:1] == ["exec"]:
            argv = argv[1:]
    return argv


def _probe(final: list[tuple[str, str]]) -> list[str]:
    health = [rest for keyword, rest in final if keyword == "HEALTHCHECK"]
    assert len(health) == 1
    return _exec_form(health[0][health[0].index("CMD ") + 4 :])


def _workspace_members() -> list[str]:
    """Every uv workspace member (its directory, relative to the root)."""
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]["members"]
    found = {
        str(p.relative_to(ROOT)) for pattern in globs for p in ROOT.glob(pattern) if (p / "pyproject.toml").is_file()
    }
    assert {"shared", "tools", *(f"services/{s}" for s in SERVICES)} <= found
    return sorted(found)


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfile(service: str) -> None:
    path = ROOT / DOCKERFILE
    args = build_args(service)
    declared = {rest.partition("=")[0] for keyword, rest in dockerfile_instructions(path) if keyword == "ARG"}
    assert set(args) <= declared, f"docker-compose.yml passes {sorted(set(args) - declared)}: not ARGs of {path}"
    all_stages = render_dockerfile(path, args)
    # The web console's node stage (ADR 0029), then Python's: a uv builder and a slim run stage.
    console_stage, *python_stages = all_stages
    assert console_stage[0][1] == "node:20-slim AS console", f"{path}: FROM {console_stage[0][1]}"
    console_runs = [rest for keyword, rest in console_stage if keyword == "RUN"]
    assert console_runs == ["npm ci --no-audit --no-fund", "npm run build"], console_runs
    assert len(python_stages) >= 2, "multi-stage: a uv builder and a slim run stage"
    for stage in python_stages:
        image = stage[0][1].split()[0]
        assert image == "python:3.11-slim", f"{path}: FROM {image}"
    builder, final = python_stages[0], python_stages[-1]

    runs = [rest for keyword, rest in builder if keyword == "RUN"]
    assert any(re.search(r"pip install .*\buv\b", r) for r in runs), "uv is installed with pip in the builder"
    syncs = [shlex.split(r.partition("&&")[0]) for r in runs if r.startswith("uv sync")]
    assert syncs, "the builder runs uv sync"
    for argv in syncs:
        assert {"--frozen", "--no-dev"} <= set(argv), argv
        assert argv[argv.index("--package") + 1] == f"tailor-{service}", argv
    # Only this service's code (and shared) goes into the image; the other members (tools/ included)
    # contribute only their manifests, which uv needs to read the workspace.
    patterns = _dockerignore_patterns()
    copied: set[str] = set()
    for keyword, rest in builder:
        if keyword != "COPY" or rest.startswith("--from"):
            continue
        *sources, _dest = (arg for arg in rest.split() if not arg.startswith("--"))
        for source in sources:
            copied.add(source.rstrip("/"))
            assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
            assert not _ignored(source.rstrip("/"), patterns), f"COPY {source} is excluded by .dockerignore"
            match = re.match(r"services/([a-z]+)/?(.*)$", source)
            if match and match.group(1) != service:
                assert match.group(2) == "pyproject.toml", f"COPY {source}: another service's code"
            if source.startswith("tools"):
                assert source == "tools/pyproject.toml", f"COPY {source}: developer tooling in a service image"
    missing = [m for m in _workspace_members() if f"{m}/pyproject.toml" not in copied and m not in copied]
    assert not missing, f"uv needs every member's pyproject.toml: {missing} not copied"
    assert "tailor-tools" not in dependency_closure(f"tailor-{service}"), "the image would install tailor-tools"
    assert any(k == "COPY" and rest.startswith("--from=") and "/app/.venv" in rest for k, rest in final)

    users = [rest for keyword, rest in final if keyword == "USER"]
    assert users, "the run stage sets USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, f"USER {users[-1]}: numeric and non-root (runAsNonRoot can verify it)"

    env = stage_env(final)
    cmd = [rest for keyword, rest in final if keyword == "CMD"]
    assert cmd, "the run stage sets CMD"
    assert shell_command(_exec_form(cmd[-1]), env) == ["python", "-m", f"tailor_{service}"]

    probe = _probe(final)
    assert probe[:2] == ["python", "-c"]
    compile(probe[2], f"{service} HEALTHCHECK", "exec")
    assert env.get("SERVICE") == service
    assert env.get("SERVICE_HEALTH") == ("http" if service in HTTP_SERVICES else "grpc")

    exposed = {int(p) for keyword, rest in final if keyword == "EXPOSE" for p in rest.split()}
    settings, _ = load_settings(service, {})
    assert exposed == set(_service_ports(service, common(settings)))

    check_env_read(service, {k: "0.0.0.0" for k in env if k.startswith("TAILOR_")}, f"{path} ENV")

    # The directory the service writes exists in the image, owned by its user (a named volume mounted
    # there starts with that owner).
    console_dir = compose_env(compose_services()[service]).get("TAILOR_CONSOLE_DIR")
    assert console_dir == ("/app/console" if service == "gateway" else None), "the image's console build"
    assert any(k == "COPY" and rest == "--from=builder /app/console /app/console" for k, rest in final)
    for key, value in compose_env(compose_services()[service]).items():
        if key in IMAGE_PATHS:
            continue
        if value.startswith("/") and not (service == "batch" and key == "TAILOR_MODEL_STORE"):  # mounted :ro
            assert args.get("DATA_DIR") == value, f"{service}: {key}={value} but DATA_DIR={args.get('DATA_DIR')}"


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfile_healthcheck_probes_the_service_port(service: str) -> None:
    """The image's HEALTHCHECK, run against a server on the port the service reads (TAILOR_<SERVICE>_PORT):
    healthy while the server answers, unhealthy once it is gone."""
    final = render_dockerfile(ROOT / DOCKERFILE, build_args(service))[-1]
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAILOR_")}
    env.update({**stage_env(final), "PATH": os.environ["PATH"], f"TAILOR_{service.upper()}_PORT": str(port)})
    probe = [sys.executable, *_probe(final)[1:]]
    if service in HTTP_SERVICES:
        httpd = http.server.HTTPServer(("127.0.0.1", port), _Health)
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            assert subprocess.run(probe, env=env, timeout=30).returncode == 0
        finally:
            httpd.shutdown()
            httpd.server_close()
    else:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        health = HealthServicer()
        health.set("", health_pb2.HealthCheckResponse.SERVING)
        health_pb2_grpc.add_HealthServicer_to_server(health, server)
        server.add_insecure_port(f"127.0.0.1:{port}")
        server.start()
        try:
            assert subprocess.run(probe, env=env, timeout=30).returncode == 0
        finally:
            server.stop(None).wait()
    assert subprocess.run(probe, env=env, timeout=30, capture_output=True).returncode != 0


def test_heavy_dependencies_stay_in_their_images() -> None:
    closures = {service: dependency_closure(f"tailor-{service}") for service in SERVICES}
    # onnxruntime: the services that score (the runtime, and the batch worker on the same code, ADR 0016).
    for package, owners in (
        ("torch", ["trainer"]),
        ("onnxruntime", ["batch", "runtime"]),
        ("faust-streaming", ["stream"]),
    ):
        holders = sorted(service for service, deps in closures.items() if package in deps)
        assert holders == owners, f"{package} is in the images of {holders}"


# --- kustomize -------------------------------------------------------------------------------------------

_GENERATED = "tailor.test/generated"  # internal mark on generated ConfigMaps, removed by finalize()
_KUSTOMIZATION_FIELDS = frozenset(
    {"apiVersion", "kind", "namespace", "labels", "resources", "components", "configMapGenerator", "patches", "images"}
)
_CLUSTER_SCOPED = frozenset(
    {"Namespace", "PersistentVolume", "StorageClass", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}
)
_POD_TEMPLATE_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"})


def _load_docs(path: Path) -> list[Doc]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _metadata(doc: Doc) -> Doc:
    meta = doc.setdefault("metadata", {})
    assert isinstance(meta, dict)
    return meta


def _kustomize_hash(data: Mapping[str, str]) -> str:
    """kustomize's ConfigMap name suffix (api/hasher): sha256 of Go's JSON of kind, data and an empty name."""
    encoded = json.dumps({"data": dict(data), "kind": "ConfigMap", "name": ""}, sort_keys=True, separators=(",", ":"))
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        encoded = encoded.replace(char, escaped)
    digest = hashlib.sha256(encoded.encode()).hexdigest()[:10]
    return digest.translate(str.maketrans("013ae", "ghkmt"))


def _strategic_merge(target: Any, patch: Any) -> Any:
    if isinstance(target, dict) and isinstance(patch, dict):
        merged = dict(target)
        for key, value in patch.items():
            if value is None:  # a strategic merge patch deletes a key with null (k8s/components/tls's probes)
                merged.pop(key, None)
                continue
            merged[key] = _strategic_merge(target[key], value) if key in target else value
        return merged
    if (
        isinstance(target, list)
        and isinstance(patch, list)
        and all(isinstance(x, dict) and "name" in x for x in [*target, *patch])
    ):
        by_name = {item["name"]: item for item in target}
        out = [_strategic_merge(by_name[i["name"]], i) if i["name"] in by_name else i for i in patch]
        patched = {item["name"] for item in patch}
        return [item for item in target if item["name"] not in patched] + out
    return patch


def _same_resource(doc: Doc, ref: Doc) -> bool:
    return bool(
        doc.get("kind") == ref.get("kind")
        and doc.get("apiVersion") == ref.get("apiVersion")
        and _metadata(doc).get("name") == ref.get("metadata", {}).get("name")
    )


def _apply_patch(directory: Path, entry: Doc, docs: list[Doc]) -> None:
    assert set(entry) <= {"path", "patch"}, f"unsupported patch fields {sorted(entry)} (targets are not rendered)"
    patch_docs = _load_docs(directory / entry["path"]) if "path" in entry else list(yaml.safe_load_all(entry["patch"]))
    for patch in patch_docs:
        matches = [i for i, doc in enumerate(docs) if _same_resource(doc, patch)]
        assert len(matches) == 1, f"patch {patch.get('kind')}/{patch.get('metadata')} matches {len(matches)}"
        if patch.get("$patch") == "delete":
            del docs[matches[0]]
        else:
            docs[matches[0]] = _strategic_merge(docs[matches[0]], patch)


def _generate(directory: Path, entry: Doc, docs: list[Doc]) -> None:
    assert set(entry) <= {"name", "behavior", "literals", "files", "options"}, sorted(entry)
    data: dict[str, str] = {}
    for literal in entry.get("literals", []):
        key, sep, value = str(literal).partition("=")
        assert sep and not value.startswith(("'", '"')), f"literal {literal!r}"
        data[key] = value
    for file in entry.get("files", []):
        key, sep, rel = str(file).partition("=")
        rel = rel if sep else key
        key = key if sep else Path(rel).name
        data[key] = (directory / rel).read_text()
    options = entry.get("options", {})
    assert set(options) <= {"disableNameSuffixHash", "labels"}, sorted(options)
    behavior = entry.get("behavior", "create")
    if behavior == "merge":
        found = [d for d in docs if d.get("kind") == "ConfigMap" and _metadata(d).get("name") == entry["name"]]
        assert len(found) == 1 and _GENERATED in _metadata(found[0]).get("annotations", {}), entry["name"]
        found[0]["data"].update(data)
        return
    assert behavior == "create", behavior
    meta: Doc = {
        "name": entry["name"],
        "annotations": {_GENERATED: "plain" if options.get("disableNameSuffixHash") else "hash"},
    }
    if options.get("labels"):
        meta["labels"] = dict(options["labels"])
    docs.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data})


def pod_spec(doc: Doc) -> Doc | None:
    if doc.get("kind") in _POD_TEMPLATE_KINDS:
        spec = doc["spec"]["template"]["spec"]
        assert isinstance(spec, dict)
        return spec
    return None


def containers(spec: Doc, init: bool = True) -> list[Doc]:
    return [*(spec.get("initContainers", []) if init else []), *spec.get("containers", [])]


def _set_images(images: list[Doc], docs: list[Doc]) -> None:
    for doc in docs:
        spec = pod_spec(doc)
        if spec is None:
            continue
        for container in containers(spec):
            current: str = container["image"]
            name, sep, tag = current.rpartition(":")
            if not sep or "/" in tag:  # no tag (a colon only in a registry's host:port)
                name, tag = current, ""
            for image in images:
                if image["name"] != name:
                    continue
                assert set(image) <= {"name", "newName", "newTag"}, sorted(image)
                tag = str(image.get("newTag", tag))
                container["image"] = str(image.get("newName", name)) + (f":{tag}" if tag else "")


def _build(directory: Path, acc: list[Doc] | None = None) -> list[Doc]:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unsupported = set(kustomization) - _KUSTOMIZATION_FIELDS
    assert not unsupported, f"{directory}: the test renderer does not support {sorted(unsupported)}"
    is_component = kustomization.get("kind") == "Component"
    assert is_component == (acc is not None), f"{directory}: components only under components:"
    docs: list[Doc] = acc if acc is not None else []
    for entry in kustomization.get("resources", []):
        target = directory / entry
        docs.extend(_build(target) if target.is_dir() else _load_docs(target))
    for entry in kustomization.get("components", []):
        _build(directory / entry, docs)
    for entry in kustomization.get("configMapGenerator", []):
        _generate(directory, entry, docs)
    for entry in kustomization.get("patches", []):
        _apply_patch(directory, entry, docs)
    if "namespace" in kustomization:
        for doc in docs:
            if doc.get("kind") not in _CLUSTER_SCOPED:
                _metadata(doc)["namespace"] = kustomization["namespace"]
    for label in kustomization.get("labels", []):
        assert set(label) == {"pairs"}, "labels with includeSelectors/includeTemplates are not rendered here"
        for doc in docs:
            _metadata(doc).setdefault("labels", {}).update(label["pairs"])
    _set_images(kustomization.get("images", []), docs)
    return docs


def _finalize(docs: list[Doc]) -> list[Doc]:
    renames: dict[str, str] = {}
    for doc in docs:
        meta = _metadata(doc)
        mark = meta.get("annotations", {}).pop(_GENERATED, None)
        if not meta.get("annotations"):
            meta.pop("annotations", None)
        if mark == "hash":
            renames[meta["name"]] = f"{meta['name']}-{_kustomize_hash(doc['data'])}"
            meta["name"] = renames[meta["name"]]
    for doc in docs:
        spec = pod_spec(doc)
        if spec is None:
            continue
        for container in containers(spec):
            for source in container.get("envFrom", []):
                ref = source.get("configMapRef")
                if ref and ref["name"] in renames:
                    ref["name"] = renames[ref["name"]]
            for var in container.get("env", []):
                ref = var.get("valueFrom", {}).get("configMapKeyRef")
                if ref and ref["name"] in renames:
                    ref["name"] = renames[ref["name"]]
        for volume in spec.get("volumes", []):
            ref = volume.get("configMap")
            if ref and ref["name"] in renames:
                ref["name"] = renames[ref["name"]]
    return docs


@cache
def _render_cached(relative: str) -> list[Doc]:
    return _finalize(_build(ROOT / relative))


def render(relative: str) -> list[Doc]:
    """The rendered manifests of ``k8s/<relative>`` (a fresh copy: tests may not share mutations)."""
    return copy.deepcopy(_render_cached(relative))


KUSTOMIZATIONS = ("k8s/base", "k8s/overlays/production", "k8s/overlays/sentinel")


def _key(doc: Doc) -> tuple[str, str, str, str]:
    meta = doc.get("metadata", {})
    return (doc.get("apiVersion", ""), doc.get("kind", ""), meta.get("namespace", ""), meta.get("name", ""))


def test_every_kustomization_is_rendered() -> None:
    found = {str(p.parent.relative_to(ROOT)) for p in (ROOT / "k8s").rglob("kustomization.yaml")}
    components = {
        d for d in found if yaml.safe_load((ROOT / d / "kustomization.yaml").read_text()).get("kind") == "Component"
    }
    assert found - components == set(KUSTOMIZATIONS)
    used = {
        str((ROOT / k / c).resolve().relative_to(ROOT))
        for k in found
        for c in yaml.safe_load((ROOT / k / "kustomization.yaml").read_text()).get("components", [])
    }
    assert components <= used, f"components no overlay renders: {components - used}"


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_manifests_validate_against_kubernetes_schemas(kustomization: str) -> None:
    for doc in render(kustomization):
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except SchemaNotFoundError:
            # Custom resources (Strimzi's, cert-manager's in k8s/components/tls) have no core schema.
            assert doc["apiVersion"].startswith(("kafka.strimzi.io/", "cert-manager.io/")), f"no schema: {_key(doc)}"
            assert doc["metadata"]["name"] and doc["spec"]
        except kubernetes_validate.ValidationError as err:
            pytest.fail(f"{_key(doc)}: {'.'.join(str(p) for p in err.path)}: {err.message}")


def _by_kind(docs: list[Doc], kind: str) -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def _workloads(docs: list[Doc]) -> list[Doc]:
    return [d for d in docs if pod_spec(d) is not None]


def _selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def _tailor_container(doc: Doc) -> tuple[str, Doc] | None:
    spec = pod_spec(doc)
    assert spec is not None
    for container in spec["containers"]:
        if container["name"] in SERVICES:
            return container["name"], container
    return None


def effective_env(docs: list[Doc], container: Doc) -> dict[str, str]:
    config_maps = _by_kind(docs, "ConfigMap")
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        name = source["configMapRef"]["name"]
        assert name in config_maps, f"envFrom {name}: no such ConfigMap"
        env.update(config_maps[name]["data"])
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = str(var["value"])
        elif "secretKeyRef" in var.get("valueFrom", {}):
            env[var["name"]] = "(from a Secret)"  # set at run time; the settings must still accept the rest
    return env


def _port(container: Doc, port: int | str) -> int:
    if isinstance(port, int):
        return port
    numbers = [p["containerPort"] for p in container.get("ports", []) if p.get("name") == port]
    assert len(numbers) == 1, f"{container['name']}: no port named {port}"
    return int(numbers[0])


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_pods_are_hardened_and_sized(kustomization: str) -> None:
    docs = render(kustomization)
    assert _workloads(docs)
    for doc in _workloads(docs):
        name = doc["metadata"]["name"]
        spec = pod_spec(doc)
        assert spec is not None
        pod_security = spec.get("securityContext", {})
        assert pod_security.get("runAsNonRoot") is True, f"{name}: runAsNonRoot"
        assert pod_security.get("runAsUser", 1) != 0
        assert spec.get("enableServiceLinks") is False, f"{name}: no injected *_PORT=tcp://... variables"
        assert spec.get("automountServiceAccountToken") is False, f"{name}: needs no API access"
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        claims = {t["metadata"]["name"] for t in doc["spec"].get("volumeClaimTemplates", [])}
        for container in containers(spec):
            where = f"{name}/{container['name']}"
            security = container.get("securityContext", {})
            assert security.get("allowPrivilegeEscalation") is False, where
            assert security.get("readOnlyRootFilesystem") is True, where
            assert "ALL" in security.get("capabilities", {}).get("drop", []), where
            assert security.get("runAsUser", 1) != 0, where
            resources = container.get("resources", {})
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(bound, {})), f"{where}: {bound}"
            for mount in container.get("volumeMounts", []):
                assert mount["name"] in volumes or mount["name"] in claims, f"{where}: volume {mount['name']}"
        for container in containers(spec, init=False):
            where = f"{name}/{container['name']}"
            assert container.get("readinessProbe") and container.get("livenessProbe"), f"{where}: probes"
            tmp = [m for m in container.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
            assert tmp and "emptyDir" in volumes[tmp[0]["name"]], f"{where}: /tmp on an emptyDir"


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_every_workload_has_a_disruption_budget(kustomization: str) -> None:
    docs = render(kustomization)
    budgets = list(_by_kind(docs, "PodDisruptionBudget").values())
    for doc in _workloads(docs):
        labels = doc["spec"]["template"]["metadata"]["labels"]
        covering = [b for b in budgets if _selects(b["spec"]["selector"]["matchLabels"], labels)]
        assert len(covering) == 1, f"{doc['metadata']['name']}: {len(covering)} PodDisruptionBudgets"
        assert _selects(doc["spec"]["selector"]["matchLabels"], labels)


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_tailor_services_env_ports_and_probes(kustomization: str) -> None:
    docs = render(kustomization)
    services = list(_by_kind(docs, "Service").values())
    kafka_clusters = {d["metadata"]["name"] for d in docs if d["kind"] == "Kafka"}
    seen: set[str] = set()
    for doc in _workloads(docs):
        found = _tailor_container(doc)
        if found is None:
            continue
        service, container = found
        seen.add(service)
        assert container["image"].startswith(f"tailor/{service}:"), container["image"]
        env = effective_env(docs, container)
        settings = check_env_read(service, env, f"{kustomization} {service}")
        assert settings.grpc_host == "0.0.0.0", service
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        expected_ports = _service_ports(service, settings)
        assert expected_ports == list(DEFAULT_PORTS[service][: len(expected_ports)])
        readiness, liveness = container["readinessProbe"], container["livenessProbe"]
        if service in HTTP_SERVICES:
            metrics = {} if service in METRICS_ON_HTTP_PORT else {"metrics": settings.metrics_port}
            assert ports == {"http": settings.grpc_port, **metrics}, service
            assert readiness["httpGet"]["path"] == "/health"
            for probe in (readiness, liveness):
                assert _port(container, probe["httpGet"]["port"]) == settings.grpc_port
                if service == "gateway" and settings.tls.serves_tls:
                    assert probe["httpGet"]["scheme"] == "HTTPS", "the gateway serves HTTPS only"
        else:
            assert ports == {"grpc": settings.grpc_port, "metrics": settings.metrics_port}, service
            for probe in (readiness, liveness, container.get("startupProbe") or readiness):
                if settings.tls.serves_tls:  # the kubelet's gRPC probes cannot speak TLS (ADR 0027)
                    assert set(probe) & {"grpc", "httpGet", "tcpSocket"} == set(), f"{service}: one probe handler"
                    assert probe["exec"]["command"] == ["python", "-m", "tailor_shared.healthcheck", service]
                else:
                    assert probe["grpc"]["port"] == settings.grpc_port, f"{service}: native gRPC probes"
        # Where Kafka and Redis are: a Service of this render (or Strimzi's bootstrap Service).
        service_names = {s["metadata"]["name"] for s in services} | {f"{k}-kafka-bootstrap" for k in kafka_clusters}
        kafka_host = settings.kafka_bootstrap.split(",")[0].rsplit(":", 1)[0]
        assert kafka_host in service_names, f"{service}: TAILOR_KAFKA_BOOTSTRAP={settings.kafka_bootstrap}"
        sentinels = parse_sentinel_url(settings.redis_url)
        if sentinels is None:
            redis_host = re.sub(r"^rediss?://(?:[^@/]*@)?([^:/]+).*$", r"\1", settings.redis_url)
            assert redis_host in service_names, f"{service}: TAILOR_REDIS_URL={settings.redis_url}"
        else:
            check_sentinel_url(docs, sentinels)
        # A Service in front of it, with named ports (gRPC ones marked appProtocol: grpc).
        labels = doc["spec"]["template"]["metadata"]["labels"]
        fronts = [s for s in services if _selects(s["spec"].get("selector", {}), labels)]
        assert len(fronts) == 1, f"{service}: {len(fronts)} Services"
        for port in fronts[0]["spec"]["ports"]:
            assert _port(container, port["targetPort"]) == port["port"], f"{service} Service port {port['name']}"
        if service not in HTTP_SERVICES:
            grpc_ports = [p for p in fronts[0]["spec"]["ports"] if p["name"] == "grpc"]
            assert grpc_ports and grpc_ports[0]["appProtocol"] == "grpc", service
            assert grpc_ports[0]["port"] == settings.grpc_port
    assert seen == set(SERVICES)


def check_sentinel_url(docs: list[Doc], url: SentinelUrl) -> None:
    """Each Sentinel of a ``redis+sentinel://`` URL is a pod of a StatefulSet of this render, by its stable name
    (``<pod>.<headless Service>:<port>``), and the primary's name is the one its Sentinels monitor."""
    services = _by_kind(docs, "Service")
    sets = {s["spec"]["serviceName"]: s for s in _by_kind(docs, "StatefulSet").values()}
    for host, port in url.sentinels:
        pod, _, headless = host.partition(".")
        assert headless in services and headless in sets, f"Sentinel {host}: no headless Service/StatefulSet"
        front = services[headless]["spec"]
        assert front["clusterIP"] == "None" and front.get("publishNotReadyAddresses") is True, headless
        assert port in [p["port"] for p in front["ports"]], f"Sentinel {host}:{port}"
        workload = sets[headless]
        ordinal = pod.removeprefix(workload["metadata"]["name"] + "-")
        assert ordinal.isdigit() and int(ordinal) < workload["spec"]["replicas"], f"Sentinel {host}: no such pod"
        scripts = {v["configMap"]["name"] for v in workload["spec"]["template"]["spec"]["volumes"] if "configMap" in v}
        texts = [d["data"] for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] in scripts]
        assert any(f"sentinel monitor {url.primary} " in t for data in texts for t in data.values()), url.primary


def test_sentinel_overlay_redis_fails_over() -> None:
    """A primary and a replica, three Sentinels (quorum 2) in front of the services, instead of the base's one
    Redis; the base keeps its single Redis (``redis://``)."""
    docs = render("k8s/overlays/sentinel")
    sets = _by_kind(docs, "StatefulSet")
    assert "redis" not in _by_kind(docs, "Deployment") and "redis" not in _by_kind(docs, "Service")
    assert sets["redis-node"]["spec"]["replicas"] == 2
    assert sets["redis-sentinel"]["spec"]["replicas"] == 3
    config = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("tailor-env"))
    url = parse_sentinel_url(config["data"]["TAILOR_REDIS_URL"])
    assert url is not None and len(url.sentinels) == 3
    check_sentinel_url(docs, url)
    scripts = next(
        d["data"] for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("redis-sentinel-")
    )
    assert re.search(rf"sentinel monitor {url.primary} \S+ 6379 2\n", scripts["sentinel.sh"]), "quorum 2 of 3"
    assert "--replicaof" in scripts["redis-node.sh"] and "get-master-addr-by-name" in scripts["redis-node.sh"]
    for script in scripts.values():
        checked = subprocess.run(["sh", "-n"], input=script, text=True, capture_output=True, check=False)
        assert checked.returncode == 0, checked.stderr
    base = next(
        d for d in render("k8s/base") if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("tailor-env")
    )
    assert parse_sentinel_url(base["data"]["TAILOR_REDIS_URL"]) is None


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_scaling_shape(kustomization: str) -> None:
    docs = render(kustomization)
    deployments = _by_kind(docs, "Deployment")
    hpas = {h["spec"]["scaleTargetRef"]["name"]: h for h in _by_kind(docs, "HorizontalPodAutoscaler").values()}
    control = deployments["control"]
    assert control["spec"]["replicas"] == 1 and control["spec"]["strategy"]["type"] == "Recreate"
    assert "control" not in hpas, "control is the single writer of resources"
    for name in ("runtime", "ingest"):
        hpa = hpas[name]
        assert hpa["spec"]["scaleTargetRef"]["kind"] == "Deployment"
        assert any(m["type"] == "Resource" and m["resource"]["name"] == "cpu" for m in hpa["spec"]["metrics"])
        assert hpa["spec"]["minReplicas"] >= 2
        assert "replicas" not in deployments[name]["spec"], f"{name}: the HPA owns replicas"
    most_partitions = max(partitions for _, partitions in DATASET_KINDS.values())
    assert deployments["stream"]["spec"]["replicas"] == most_partitions, "stream workers sized to partitions"
    assert "stream" not in hpas
    jobs_partitions = job_topic_specs("tailor")[0].partitions
    assert 1 <= deployments["trainer"]["spec"]["replicas"] <= jobs_partitions
    for doc in _workloads(docs):
        images = {c["image"] for c in containers(pod_spec(doc) or {})}
        if doc["metadata"]["name"] == "kafka":
            assert images == {KAFKA_IMAGE} and doc["kind"] == "StatefulSet"
        if doc["metadata"]["name"] in ("redis", "redis-node", "redis-sentinel"):
            assert images == {REDIS_IMAGE}


def test_kafka_statefulset_is_single_node_kraft() -> None:
    kafka = _by_kind(render("k8s/base"), "StatefulSet")["kafka"]
    container = kafka["spec"]["template"]["spec"]["containers"][0]
    env = {v["name"]: v.get("value") for v in container["env"]}
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert kafka["spec"]["replicas"] == 1
    assert str(env["KAFKA_CONTROLLER_QUORUM_VOTERS"]).startswith(f"{env['KAFKA_NODE_ID']}@")
    assert env["CLUSTER_ID"] and env["KAFKA_LOG_DIRS"].startswith("/var/lib/kafka/data")
    assert kafka["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    production = render("k8s/overlays/production")
    assert "kafka" not in _by_kind(production, "StatefulSet"), "Strimzi replaces the StatefulSet"


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_model_store_is_a_shared_read_write_many_claim(kustomization: str) -> None:
    docs = render(kustomization)
    claims = _by_kind(docs, "PersistentVolumeClaim")
    mounts: dict[str, tuple[str, bool]] = {}
    for doc in _workloads(docs):
        found = _tailor_container(doc)
        if found is None:
            continue
        service, container = found
        spec = pod_spec(doc) or {}
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        env = effective_env(docs, container)
        for key, value in env.items():
            if not value.startswith("/") or key in IMAGE_PATHS:
                continue
            under = [m for m in container.get("volumeMounts", []) if (value + "/").startswith(m["mountPath"] + "/")]
            assert under, f"{service}: {key}={value} is on the read-only root file system"
            if key == "TAILOR_MODEL_STORE":
                claim = volumes[under[0]["name"]]["persistentVolumeClaim"]["claimName"]
                mounts[service] = (claim, bool(under[0].get("readOnly")))
    assert set(mounts) == {"trainer", "runtime", "batch"}
    assert mounts["trainer"][0] == mounts["runtime"][0] == mounts["batch"][0]
    assert mounts["trainer"][1] is False and mounts["runtime"][1] is True and mounts["batch"][1] is True
    assert claims[mounts["trainer"][0]]["spec"]["accessModes"] == ["ReadWriteMany"]


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_everything_is_in_one_namespace(kustomization: str) -> None:
    for doc in render(kustomization):
        if doc["kind"] == "Namespace":
            assert doc["metadata"]["name"] == "tailor"
        else:
            assert doc["metadata"].get("namespace") == "tailor", _key(doc)


# --- the Grafana dashboard -------------------------------------------------------------------------------


def _call_name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


@cache
def declared_series() -> frozenset[str]:
    """The Prometheus series the code exports: every ``Counter/Gauge/Histogram(metric_name(...))``. A
    non-literal service (the shared gRPC interceptor) stands for every gRPC service."""
    series: set[str] = set()
    sources = [*(ROOT / "shared/src/tailor_shared").rglob("*.py"), *(ROOT / "services").glob("*/src/**/*.py")]
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text())):
            kind = _call_name(node.func) if isinstance(node, ast.Call) else ""
            if not isinstance(node, ast.Call) or kind not in {"Counter", "Gauge", "Histogram", "Summary"}:
                continue
            first = node.args[0] if node.args else None
            if not isinstance(first, ast.Call) or _call_name(first.func) != "metric_name":
                continue
            service, thing, unit = first.args
            assert isinstance(thing, ast.Constant) and isinstance(unit, ast.Constant), f"{path}: literal metric names"
            owners = [str(service.value)] if isinstance(service, ast.Constant) else list(GRPC_SERVICES)
            for owner in owners:
                base = f"tailor_{owner}_{thing.value!s}_{unit.value!s}"
                suffixes = {"Histogram": ["_bucket", "_sum", "_count"], "Summary": ["", "_sum", "_count"]}
                series.update(base + s for s in suffixes.get(kind, [""]))
    return frozenset(series)


def _panels(panels: list[Doc]) -> Iterator[Doc]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def test_dashboard_uses_only_metrics_the_services_export() -> None:
    dashboard = json.loads((ROOT / "k8s/grafana/tailor-dashboard.json").read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    options = [o["value"] for o in variables["service"]["options"] if o["value"] != "$__all"]
    assert sorted(options) == sorted(GRPC_SERVICES)
    series = declared_series()
    used: set[str] = set()
    for panel in _panels(dashboard["panels"]):
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "${datasource}"
            for service in options:
                expr = target["expr"].replace("${service}", service).replace("$service", service)
                for name in re.findall(r"\btailor_[a-z0-9_]+", expr):
                    assert name in series, f"panel {panel['title']!r}: {name} is not exported by any service"
                    used.add(name)
    for wanted in (
        "tailor_runtime_grpc_requests_total",
        "tailor_runtime_grpc_request_duration_seconds_bucket",
        "tailor_stream_events_processed_total",
        "tailor_stream_consumer_lag_records",
        "tailor_stream_dead_letters_total",
        "tailor_kafka_produced_records_total",
        "tailor_runtime_redis_call_seconds_bucket",
        "tailor_runtime_models_loaded_count",
        "tailor_trainer_epochs_total",
        "tailor_stream_attribution_metric_value",
    ):
        assert wanted in used, f"the dashboard has no panel over {wanted}"


def test_strimzi_kafka_authorises_accounts_per_dataset_group() -> None:
    """ADR 0034: the secure cluster runs simple authorization with the services' user as super user, and an
    account's KafkaUser may only write and describe topics under its dataset group incarnations' prefixes."""
    docs = render("k8s/overlays/production")
    kafka = _by_kind(docs, "Kafka")["tailor"]["spec"]["kafka"]
    containers = [found[1] for doc in _workloads(docs) if (found := _tailor_container(doc)) is not None]
    users = {effective_env(docs, c)["TAILOR_KAFKA_SASL_USERNAME"] for c in containers}
    assert kafka["authorization"]["type"] == "simple"
    assert users and kafka["authorization"]["superUsers"] == sorted(users)
    accounts = {n: d for n, d in _by_kind(docs, "KafkaUser").items() if n.startswith(ACCOUNT_USER_PREFIX)}
    assert accounts, "no example account KafkaUser"
    for name, doc in accounts.items():
        assert name == account_user(name.removeprefix(ACCOUNT_USER_PREFIX))
        assert doc["spec"]["authentication"]["type"] == "scram-sha-512"
        for acl in doc["spec"]["authorization"]["acls"]:
            resource = acl["resource"]
            assert (resource["type"], resource["patternType"]) == ("topic", "prefix"), name
            assert re.fullmatch(r"tailor\.[^.]+\.[0-9a-f]{8}\.", resource["name"]), resource["name"]
            assert sorted(acl["operations"]) == ["Describe", "Write"], name
