"""The console's static files as the gateway serves them: content types, caching, gzip, the app's own routes."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from tailor_gateway.config import CHECKOUT_CONSOLE_DIR, GatewaySettings
from tailor_gateway.handlers import HttpResponse
from tailor_gateway.static import ConsoleFiles


@pytest.fixture
def files(tmp_path: Path) -> ConsoleFiles:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>Tailor console</title>")
    (tmp_path / "assets" / "index-abc123.js").write_text("console.log('x');" * 50)
    (tmp_path / "assets" / "logo-9f.png").write_bytes(b"\x89PNG....")
    (tmp_path / ".build-sha256").write_text("deadbeef")
    return ConsoleFiles.load(tmp_path)


def header(reply: HttpResponse, name: str) -> str | None:
    return dict(reply.headers).get(name)


def test_only_reads_of_the_console_are_static() -> None:
    assert ConsoleFiles.handles("GET", "/console/assets/x.js")
    assert ConsoleFiles.handles("HEAD", "/console")
    assert ConsoleFiles.handles("GET", "/")
    assert not ConsoleFiles.handles("POST", "/console/x")  # the APIs are POST only
    assert not ConsoleFiles.handles("GET", "/recommendations")
    assert not ConsoleFiles.handles("GET", "/consoles")


def test_root_redirects_to_the_console(files: ConsoleFiles) -> None:
    for path in ("/", "/console"):
        reply = files.reply(path, "")
        assert reply.status == 308 and header(reply, "location") == "/console/"


def test_index_is_revalidated_and_hashed_assets_are_immutable(files: ConsoleFiles) -> None:
    index = files.reply("/console/index.html", "")
    assert index.status == 200 and index.body.startswith(b"<!doctype html>")
    assert header(index, "content-type") == "text/html; charset=utf-8"
    assert header(index, "cache-control") == "no-cache"
    assert "frame-ancestors 'none'" in (header(index, "content-security-policy") or "")
    js = files.reply("/console/assets/index-abc123.js", "")
    assert header(js, "content-type") == "text/javascript; charset=utf-8"
    assert header(js, "cache-control") == "public, max-age=31536000, immutable"
    assert header(js, "content-encoding") is None
    png = files.reply("/console/assets/logo-9f.png", "gzip")
    assert header(png, "content-type") == "image/png" and header(png, "content-encoding") is None


def test_text_is_gzipped_for_browsers_that_accept_it(files: ConsoleFiles) -> None:
    plain = files.reply("/console/assets/index-abc123.js", "")
    zipped = files.reply("/console/assets/index-abc123.js", "gzip, deflate, br")
    assert header(zipped, "content-encoding") == "gzip" and header(zipped, "vary") == "accept-encoding"
    assert gzip.decompress(zipped.body) == plain.body and len(zipped.body) < len(plain.body)


def test_app_routes_get_the_index_and_missing_files_404(files: ConsoleFiles) -> None:
    route = files.reply("/console/groups/arn%3Aaws%3Apersonalize", "")
    assert route.status == 200 and b"Tailor console" in route.body
    assert files.reply("/console/assets/gone-123.js", "").status == 404
    assert files.reply("/console/.build-sha256", "").status == 404  # set-up's bookkeeping is not served


def test_an_unbuilt_console_says_how_to_build_it(tmp_path: Path) -> None:
    reply = ConsoleFiles.load(tmp_path / "absent").reply("/console/", "")
    assert reply.status == 404 and b"scripts/setup.sh" in reply.body


def test_settings_default_to_the_checkouts_build_and_can_turn_it_off() -> None:
    assert GatewaySettings.from_env({}).console_dir == CHECKOUT_CONSOLE_DIR
    assert CHECKOUT_CONSOLE_DIR.parent.joinpath("package.json").is_file()
    assert GatewaySettings.from_env({"TAILOR_CONSOLE_DIR": ""}).console_dir is None
    assert GatewaySettings.from_env({"TAILOR_CONSOLE_DIR": "/srv/console"}).console_dir == Path("/srv/console")
