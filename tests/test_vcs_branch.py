"""Pushing a proposal from GitHub Actions: the token travels as a header of that one command."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest

from reconciler.vcs.branch import _auth, _git


def test_the_token_is_a_header_for_the_push_only_and_only_to_github(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(
        ["git", "-C", str(tmp_path), "remote", "add", "origin", "https://github.com/acme/models.git"], check=True
    )
    subprocess.run(["git", "-C", str(tmp_path), "remote", "add", "mirror", "https://git.example.com/m.git"], check=True)
    repo = _git(tmp_path)
    monkeypatch.setenv("GH_TOKEN", "s3cret")
    monkeypatch.delenv("GITHUB_SERVER_URL", raising=False)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    assert _auth(repo, "origin") == [], "outside Actions: git's own credentials"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    (flag, config) = _auth(repo, "origin")
    assert flag == "-c" and config.startswith("http.https://github.com/.extraheader=AUTHORIZATION: basic ")
    assert base64.b64decode(config.rsplit(" ", 1)[1]) == b"x-access-token:s3cret"
    assert _auth(repo, "mirror") == [], "never sent to another host"
    assert "s3cret" not in (tmp_path / ".git" / "config").read_text()
