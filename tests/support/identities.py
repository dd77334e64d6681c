"""Credential files for tests that run services with principals of their own (the format of
``TAILOR_CREDENTIALS_FILE``, docs/specs/auth.md)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from tailor_shared.auth import Credential


def write_credentials(path: Path, credentials: Iterable[Credential]) -> Path:
    path.write_text(
        json.dumps(
            {
                "credentials": [
                    {
                        "access_key_id": c.access_key_id,
                        "secret_access_key": c.secret_access_key,
                        "account_id": c.account_id,
                        "principal": c.principal_arn,
                    }
                    for c in credentials
                ]
            }
        )
    )
    return path
