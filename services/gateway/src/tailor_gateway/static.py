"""The web console's built files (``console/dist``), served by the gateway under ``/console/`` (ADR 0029).

Why in the gateway: the console calls the Personalize APIs with the AWS SDK for JavaScript, SigV4-signed, and
serving it from the same origin as those APIs needs no CORS and no second server. The folder is read once at
start (a Vite build is a few files of a few hundred KiB), so a request costs a dict lookup: Vite's content-hashed
``assets/`` are cached for a year (``immutable``), ``index.html`` is revalidated on every load (``no-cache``) so
a rebuild shows at the next reload of a restarted gateway. Text files are gzipped once at load and sent gzipped
to browsers that accept it. Any other path under ``/console/`` without a file extension is the single-page app's
own route and gets ``index.html``.
"""

from __future__ import annotations

import gzip
import mimetypes
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tailor_gateway.handlers import HttpResponse

PREFIX = "/console"

#: Content types the stdlib's table may lack or get wrong on a minimal system (it reads /etc/mime.types).
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
    ".png": "image/png",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".txt": "text/plain; charset=utf-8",
}
_IMMUTABLE = "public, max-age=31536000, immutable"
_REVALIDATE = "no-cache"
_COMPRESSIBLE = ("text/", "application/json", "image/svg+xml")


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    gzipped: bytes | None
    content_type: str
    cache_control: str


class ConsoleFiles:
    """The files of one console build, keyed by URL path (``/console/assets/index-abc123.js``)."""

    def __init__(self, files: Mapping[str, StaticFile]) -> None:
        self._files = dict(files)

    @classmethod
    def load(cls, root: Path) -> ConsoleFiles:
        """Every file under ``root``; an absent folder (console not built) gives an empty set, whose pages
        say how to build it."""
        files: dict[str, StaticFile] = {}
        if root.is_dir():
            for path in sorted(p for p in root.rglob("*") if p.is_file()):
                rel = path.relative_to(root).as_posix()
                if rel.startswith(".") or "/." in rel:
                    continue  # build bookkeeping (set-up's .build-sha256), not part of the site
                body = path.read_bytes()
                ctype = _TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0]
                ctype = ctype or "application/octet-stream"
                zipped = gzip.compress(body, 6, mtime=0) if ctype.startswith(_COMPRESSIBLE) else None
                cache = _IMMUTABLE if rel.startswith("assets/") else _REVALIDATE
                files[f"{PREFIX}/{rel}"] = StaticFile(body, zipped, ctype, cache)
        return cls(files)

    @staticmethod
    def handles(method: str, path: str) -> bool:
        """GET/HEAD of ``/`` or anything under ``/console``: the APIs use POST only."""
        return method in ("GET", "HEAD") and (path == "/" or path == PREFIX or path.startswith(PREFIX + "/"))

    def reply(self, path: str, accept_encoding: str) -> HttpResponse:
        """The file's reply (uvicorn drops the body of a HEAD answer and keeps its content-length)."""
        if path in ("/", PREFIX):
            return HttpResponse(308, (("location", PREFIX + "/"), ("cache-control", _REVALIDATE)), b"")
        found = self._files.get(path)
        if found is None and "." not in path.rpartition("/")[2]:
            found = self._files.get(f"{PREFIX}/index.html")  # a client-side route of the single-page app
        if found is None:
            text = (
                b"Not found.\n"
                if self._files
                else b"The console is not built: run scripts/setup.sh (or npm ci && npm run build in console/).\n"
            )
            return HttpResponse(
                404, (("content-type", "text/plain; charset=utf-8"), ("cache-control", "no-store")), text
            )
        headers = [
            ("content-type", found.content_type),
            ("cache-control", found.cache_control),
            ("x-content-type-options", "nosniff"),
            ("vary", "accept-encoding"),
        ]
        body = found.body
        if found.gzipped is not None and "gzip" in accept_encoding.lower():
            body = found.gzipped
            headers.append(("content-encoding", "gzip"))
        if found.content_type.startswith("text/html"):
            # The console's own code only; the SDK calls go to this same origin (ADR 0029).
            headers.append(
                (
                    "content-security-policy",
                    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                    "connect-src 'self'; frame-ancestors 'none'",
                )
            )
            headers.append(("x-frame-options", "DENY"))
        return HttpResponse(200, tuple(headers), body)
