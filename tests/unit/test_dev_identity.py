"""The development identity (tailor_tools.identity, ADR 0026 §7): made once per state dir with a random secret
and an admin policy, private to its owner, never overwritten, and what the tools sign with by default."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml

from tailor_shared.auth import AuthSettings, load_credentials
from tailor_shared.iam import CONSOLE_SERVICE, Authorizer, action_of
from tailor_tools import cli, identity


def test_made_once_private_and_admin(tmp_path: Path) -> None:
    first = identity.ensure(tmp_path)
    again = identity.ensure(tmp_path)
    assert again == first  # never overwritten: services already started keep accepting the key
    other = identity.ensure(tmp_path / "elsewhere")
    assert other.credential.secret_access_key != first.credential.secret_access_key  # random per state dir
    for path in (first.credentials_file, first.policies_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(first.credentials_file.parent.stat().st_mode) == 0o700
    store = load_credentials(AuthSettings(credentials_file=str(first.credentials_file)))
    assert store.get(first.credential.access_key_id) == first.credential
    authorizer = Authorizer.from_file(first.policies_file)
    arn = "arn:aws:personalize:us-east-1:000000000000:dataset-group/x"
    authorizer.check(first.credential.principal, action_of("DeleteDatasetGroup"), [arn])  # admin: no raise
    assert first.env() == {
        "TAILOR_CREDENTIALS_FILE": str(first.credentials_file),
        "TAILOR_POLICIES_FILE": str(first.policies_file),
    }
    assert first.credential.secret_access_key not in repr(first)


def test_an_identity_made_before_the_console_reads_gets_them(tmp_path: Path) -> None:
    """``tailor:*`` (docs/specs/console-api.md) is added to the old generated admin policy; an edited one stays."""
    folder = tmp_path / "identity"
    folder.mkdir()
    old = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "personalize:*", "Resource": "*"}]}
    (folder / "policies.yaml").write_text(yaml.safe_dump({"principals": {identity.PRINCIPAL_ARN: [old]}}))
    made = identity.ensure(tmp_path)
    dg = "arn:aws:personalize:us-east-1:000000000000:dataset-group/x"
    Authorizer.from_file(made.policies_file).check(
        made.credential.principal, action_of("ListTrendingItems", CONSOLE_SERVICE), [dg]
    )
    edited = tmp_path / "edited"
    (edited / "identity").mkdir(parents=True)
    custom = {"principals": {identity.PRINCIPAL_ARN: [old], "arn:aws:iam::000000000000:user/x": [old]}}
    (edited / "identity" / "policies.yaml").write_text(yaml.safe_dump(custom))
    assert yaml.safe_load(identity.ensure(edited).policies_file.read_text()) == custom


def test_default_credential_prefers_the_aws_variables(tmp_path: Path) -> None:
    env = {"TAILOR_STATE_DIR": str(tmp_path)}
    assert identity.default_credential(env) == identity.ensure(tmp_path).credential
    aws = {**env, "AWS_ACCESS_KEY_ID": "K" * 16, "AWS_SECRET_ACCESS_KEY": "s" * 16}
    assert identity.default_credential(aws).access_key_id == "K" * 16


def test_tailor_local_credentials_prints_exports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TAILOR_STATE_DIR", str(tmp_path))
    assert cli.main(["local", "credentials"]) == 0
    dev = identity.ensure(tmp_path).credential
    out = capsys.readouterr().out
    assert f"export AWS_ACCESS_KEY_ID={dev.access_key_id} AWS_SECRET_ACCESS_KEY={dev.secret_access_key}\n" in out
