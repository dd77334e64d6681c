"""Personalize data locations (``s3://bucket/key``, ``file://`` URLs), parsed for every job that reads or
writes data: import and export jobs (ingest), data deletion jobs (stream), batch jobs, metric attribution
output, and the model store. ``tailor_shared.objectstore`` does the I/O (ADR 0023). Pure: no I/O.
"""

from __future__ import annotations

import contextlib
import json
import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tailor_shared.errors import InvalidInputException

#: The services' model store when ``TAILOR_MODEL_STORE`` is unset (relative to their working directory).
DEFAULT_MODEL_STORE = ".tailor/models"
#: Where a process keeps its copies of an ``s3://`` store's models when ``TAILOR_MODEL_CACHE_DIR`` is unset.
DEFAULT_MODEL_CACHE = ".tailor/model-cache"
MAX_LOCATION_CHARS = 256  # S3PATH: "String max 256" (S3DataConfig.path, DataSource.dataLocation)
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")  # S3's bucket naming rules (3-63 characters)


class InvalidLocation(ValueError):
    """The location cannot be read here; the message follows the guide's "Invalid Data location" error."""


@dataclass(frozen=True)
class Location:
    """``s3://bucket/key`` (``bucket`` set) or a local path (``file://``, ``bucket`` None, ``key`` the absolute
    path). A key is a prefix; one ending in ``/`` names a folder."""

    bucket: str | None
    key: str

    @property
    def is_s3(self) -> bool:
        return self.bucket is not None

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}" if self.bucket is not None else f"file://{self.key}"

    def child(self, name: str) -> Location:
        """``name`` under this location taken as a folder (a ``/`` is added when the key has none)."""
        base = self.key if not self.key or self.key.endswith("/") else self.key + "/"
        return Location(self.bucket, base + name.lstrip("/"))


def parse(location: str) -> Location:
    """A job's data location; a bad one raises InvalidLocation with the guide's wording."""
    if len(location) > MAX_LOCATION_CHARS:
        raise InvalidLocation(
            f"Invalid Data location {location[:64]}...: a location has at most {MAX_LOCATION_CHARS} characters."
        )
    if location.startswith("s3://"):
        bucket, _, key = location[len("s3://") :].partition("/")
        if not _BUCKET.match(bucket) or ".." in bucket:
            raise InvalidLocation(
                f"Invalid Data location {location}: use s3://<name of your S3 bucket>/<folder path>/<file name>."
            )
        return Location(bucket, _unquote(key))
    if location.startswith("file://"):
        rest = location[len("file://") :]
        if rest.startswith("localhost/"):
            rest = rest[len("localhost") :]
        if not rest.startswith("/"):
            raise InvalidLocation(f"Invalid Data location {location}: use file:///absolute/path")
        return Location(None, _unquote(rest))
    if location.startswith("/"):
        return Location(None, location)
    raise InvalidLocation(f"Invalid Data location {location}: use s3://bucket/path or file:///absolute/path.")


def _unquote(text: str) -> str:
    """Percent-decoding for paths (``%20``), without importing urllib into pure code."""
    if "%" not in text:
        return text
    return re.sub(rb"%([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), text.encode()).decode(
        "utf-8", "replace"
    )


# --- which account a location belongs to (ADR 0028 §5) --------------------------------------------------------

#: Env var: JSON ``{"<account id>": ["s3://bucket/", "s3://shared/folder/", "file:///srv/acme/"], ...}``.
ACCOUNT_LOCATIONS_ENV = "TAILOR_ACCOUNT_LOCATIONS"
_ACCOUNT = re.compile(r"^[0-9]{12}$")
#: The owner of a reserved location (the model store): no account may name it.
NOBODY = ""


def _folder_url(location: Location) -> str:
    """The location as a folder URL with ``.``/``..`` segments and doubled slashes resolved, so that a prefix
    test on it can't be escaped with ``../`` (a local path resolves them; an S3 gateway on a file system may)."""
    key = posixpath.normpath("/" + location.key.lstrip("/"))
    url = Location(location.bucket, key if location.bucket is None else key.lstrip("/")).url
    return url if url.endswith("/") else url + "/"


@dataclass(frozen=True)
class LocationOwners:
    """Which account owns each data location. Tailor has no S3 IAM: where Personalize checks the role's access
    to a bucket, a deployment lists each account's buckets or folders (``TAILOR_ACCOUNT_LOCATIONS``); the
    longest listed prefix of a location names its owner, a location nobody lists belongs to the deployment's
    own account (``TAILOR_ACCOUNT_ID``), and the model store belongs to no account."""

    default_account: str
    prefixes: tuple[tuple[str, str], ...] = ()  # (folder URL, owner), longest first

    @classmethod
    def from_env(cls, env: Mapping[str, str], default_account: str, reserved: Sequence[str] = ()) -> LocationOwners:
        """Parsed once at start-up; a malformed setting raises ValueError (the service does not start)."""
        text = env.get(ACCOUNT_LOCATIONS_ENV, "").strip()
        try:
            document = json.loads(text) if text else {}
        except json.JSONDecodeError as err:
            raise ValueError(f"{ACCOUNT_LOCATIONS_ENV} is not JSON: {err}") from err
        if not isinstance(document, dict):
            raise ValueError(
                f'{ACCOUNT_LOCATIONS_ENV} must map account ids to lists of locations ({{"1234...": [...]}})'
            )
        owners: dict[str, str] = {}
        for account, listed in document.items():
            if not _ACCOUNT.match(str(account)) or not isinstance(listed, list):
                raise ValueError(f"{ACCOUNT_LOCATIONS_ENV}: {account!r} must be a 12-digit account id with a list")
            for text_location in listed:
                try:
                    url = _folder_url(parse(str(text_location)))
                except InvalidLocation as err:
                    raise ValueError(f"{ACCOUNT_LOCATIONS_ENV}: {err}") from err
                if owners.setdefault(url, account) != account:
                    raise ValueError(f"{ACCOUNT_LOCATIONS_ENV}: {url} is listed for two accounts")
        for text_location in reserved:
            with contextlib.suppress(InvalidLocation):
                owners[_folder_url(parse(text_location))] = NOBODY
        ordered = sorted(owners.items(), key=lambda kv: len(kv[0]), reverse=True)
        return cls(default_account, tuple(ordered))

    def owner(self, location: Location) -> str:
        """The account that owns ``location`` (:data:`NOBODY` for a reserved one)."""
        url = _folder_url(location)
        return next((acct for prefix, acct in self.prefixes if url.startswith(prefix)), self.default_account)

    def check(self, account: str, location: str) -> None:
        """InvalidInputException with Personalize's wording unless ``account`` owns ``location``; a location
        that does not parse is left to the operation's own validation ("Invalid Data location")."""
        try:
            parsed = parse(location)
        except InvalidLocation:
            return
        if self.owner(parsed) != account:
            raise InvalidInputException(
                f"Insufficient privileges for accessing data in {location}: it is not a location of account "
                f"{account}. Use a bucket or folder the deployment lists for your account ({ACCOUNT_LOCATIONS_ENV})."
            )
