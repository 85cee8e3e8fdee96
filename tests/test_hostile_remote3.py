"""Sharing, hardened further: signing keys kept encrypted under a passphrase, a pull killed
during its checks that resumes from what it downloaded, and Ensembl ids in one home."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from genekb.store.store import Store
from tests.conftest import one_line_error
from tests.conftest import run_genekb as run
from tests.test_remote import build_tags, visible


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GENEKB_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def source(tmp_path) -> Store:
    store = Store.open(tmp_path / "source", create=True)
    build_tags(store, "t0")
    return store


def _encrypted_key(tmp_path: Path, monkeypatch) -> tuple[Path, str]:
    """(key file, fingerprint) of a key made encrypted with the passphrase in $LAB_PASS."""
    monkeypatch.setenv("LAB_PASS", "correct horse")
    key = tmp_path / "keys" / "lab.key"
    key.parent.mkdir()
    result = run("keys", "new", "--out", str(key), "--passphrase-env", "LAB_PASS", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["encrypted"] is True and stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    return key, report["fingerprint"]


def test_an_encrypted_key_signs_with_its_passphrase_from_the_environment(
    tmp_path, monkeypatch, source
):
    # Keys were written and read unencrypted only: an encrypted one was refused outright.
    key, fp = _encrypted_key(tmp_path, monkeypatch)
    folder = tmp_path / "pub"
    result = run("publish", str(folder), "--sign", str(key), "--passphrase-env", "LAB_PASS",
                 "--root", str(source.root), "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["signed_by"] == fp
    pulled = run("pull", str(folder), "t0", "--root", str(tmp_path / "local"), "--json",
                 "--trust", f"{key}.pub")  # fmt: skip
    assert pulled.exit_code == 0, pulled.output
    shown = run("keys", "show", str(key), "--passphrase-env", "LAB_PASS", "--json")
    assert json.loads(shown.stdout)["fingerprint"] == fp


def test_a_wrong_missing_or_empty_passphrase_is_one_line_and_publishes_nothing(
    tmp_path, monkeypatch, source
):
    key, _ = _encrypted_key(tmp_path, monkeypatch)
    folder = tmp_path / "pub"
    monkeypatch.setenv("WRONG", "incorrect horse")
    monkeypatch.setenv("EMPTY", "")
    monkeypatch.delenv("UNSET", raising=False)
    for extra, words in (
        (["--passphrase-env", "WRONG"], "lab.key: wrong passphrase"),
        (["--passphrase-env", "UNSET"], "--passphrase-env UNSET: no such environment variable"),
        (["--passphrase-env", "EMPTY"], "an empty passphrase was given"),
        ([], "is an encrypted key and no passphrase was given"),  # no terminal to ask in
    ):
        result = run("publish", str(folder), "--sign", str(key), *extra,
                     "--root", str(source.root))  # fmt: skip
        assert words in one_line_error(result)
        assert not folder.exists()  # refused before anything went up


def test_an_empty_passphrase_makes_no_key(tmp_path, monkeypatch):
    monkeypatch.setenv("EMPTY", "")
    key = tmp_path / "lab.key"
    result = run("keys", "new", "--out", str(key), "--passphrase-env", "EMPTY")
    assert "an empty passphrase protects nothing" in one_line_error(result)
    assert not key.exists() and not Path(f"{key}.pub").exists()


def test_an_encrypted_key_asks_for_its_passphrase_in_a_terminal(tmp_path, monkeypatch):
    from cli import keys_cmd
    from genekb.store.signing import key_fingerprint, load_private, new_key

    key = tmp_path / "lab.key"
    fp = new_key(key, passphrase="s3cret")["fingerprint"]
    asked = []

    class Terminal:
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(keys_cmd.sys, "stdin", Terminal())
    monkeypatch.setattr(keys_cmd.getpass, "getpass", lambda p: asked.append(p) or "s3cret")
    assert key_fingerprint(load_private(key, keys_cmd.key_passphrase(None))) == fp
    assert len(asked) == 1
    plain = tmp_path / "plain.key"
    new_key(plain)
    load_private(plain, keys_cmd.key_passphrase(None))  # unencrypted: nothing asked
    assert len(asked) == 1


def test_unencrypted_keys_still_sign(tmp_path, source):
    key = tmp_path / "plain.key"
    assert run("keys", "new", "--out", str(key)).exit_code == 0
    assert key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    folder = tmp_path / "pub"
    result = run("publish", str(folder), "--sign", str(key), "--root", str(source.root))
    assert result.exit_code == 0, result.output
    assert (folder / "genekb-remote.json.sig").is_file()
    assert visible(folder)
