"""The development identity: one access key with an admin policy, made by the project's set-up under the state dir.

Authentication is on by default (ADR 0026), so every locally started service needs credentials and every client
in the tree must sign. ``ensure`` writes, once per state dir, ``<state>/identity/credentials.yaml`` (the format of
``TAILOR_CREDENTIALS_FILE``: one key with a fresh random secret, account ``000000000000``, principal
``arn:aws:iam::000000000000:user/tailor-dev``) and ``<state>/identity/policies.yaml`` (``TAILOR_POLICIES_FILE``:
that principal is admin), both readable by their owner only. The local stack's services get both files
(``env``); the tools' client, the demo, the tests and the benchmarks sign with its key (``default_credential``).
Unlike the published ``TAILOR_AUTH_DEV`` key (ADR 0013 §8) its secret is not known to anyone else.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from tailor_shared.auth import Credential, CredentialStore
from tailor_shared.grpc_auth import credential_from_env
from tailor_shared.iam import POLICIES_FILE_ENV
from tailor_tools.private_files import create_private_once, write_private

ACCOUNT_ID = "000000000000"
PRINCIPAL_ARN = f"arn:aws:iam::{ACCOUNT_ID}:user/tailor-dev"
ADMIN_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["personalize:*", "tailor:*"], "Resource": "*"}],
}
#: What ``ensure`` wrote before the console's ``tailor:*`` reads existed (issue 19): upgraded in place.
_PERSONALIZE_ONLY = {
    "principals": {
        PRINCIPAL_ARN: [
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "personalize:*", "Resource": "*"}]}
        ]
    }
}


@dataclass(frozen=True)
class DevIdentity:
    credentials_file: Path
    policies_file: Path
    credential: Credential

    def env(self) -> dict[str, str]:
        """What a service started locally needs to accept this identity (and only the keys in these files)."""
        return {"TAILOR_CREDENTIALS_FILE": str(self.credentials_file), POLICIES_FILE_ENV: str(self.policies_file)}


def _write_yaml_once(path: Path, document: object) -> None:
    create_private_once(path, yaml.safe_dump(document, sort_keys=False).encode("utf-8"))


def _upgrade_policies(path: Path) -> None:
    """An identity made before the console's reads gets ``tailor:*`` too; a policies file anyone edited is
    left alone. Written aside and renamed over, so a reader sees the old or the new file, never half of one."""
    if yaml.safe_load(path.read_text(encoding="utf-8")) != _PERSONALIZE_ONLY:
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    write_private(tmp, yaml.safe_dump({"principals": {PRINCIPAL_ARN: [ADMIN_POLICY]}}, sort_keys=False).encode())
    os.replace(tmp, path)


def ensure(state_dir: Path) -> DevIdentity:
    """The development identity of ``state_dir``, created on first use (``tailor local up`` does it)."""
    folder = state_dir / "identity"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    policies = folder / "policies.yaml"
    credentials = folder / "credentials.yaml"
    _write_yaml_once(policies, {"principals": {PRINCIPAL_ARN: [ADMIN_POLICY]}})
    _upgrade_policies(policies)
    key = {
        "access_key_id": f"TAILORDEV{secrets.token_hex(8).upper()}",
        "secret_access_key": secrets.token_urlsafe(30),
        "account_id": ACCOUNT_ID,
        "principal": PRINCIPAL_ARN,
    }
    _write_yaml_once(credentials, {"credentials": [key]})
    (credential,) = CredentialStore.from_file(credentials)
    return DevIdentity(credentials, policies, credential)


def default_credential(env: Mapping[str, str] | None = None) -> Credential:
    """What a client in this tree signs with: ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` (and
    ``AWS_SESSION_TOKEN``) when set, else the development identity of ``TAILOR_STATE_DIR``."""
    from tailor_tools.localstack import StackConfig

    e = os.environ if env is None else env
    return credential_from_env(e) or ensure(StackConfig.from_env(e).state_dir).credential
