"""Signed remotes: `genekb keys new`, `publish --sign KEY`, `pull --trust KEY.pub`. A remote that
its owner does not control cannot serve, under a trusted key, an index of its own making."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from genekb.store.remote_index import dump_index
from genekb.store.store import Store
from tests.conftest import one_line_error
from tests.conftest import run_genekb as run
from tests.remote_servers import http_server
from tests.test_remote import build_tags, verifies, visible

SIG = "genekb-remote.json.sig"


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GENEKB_CACHE", str(tmp_path / "cache"))


def new_key(folder: Path, name: str) -> tuple[Path, str]:
    """(private key file, fingerprint) of a fresh key pair in `folder`."""
    folder.mkdir(exist_ok=True)
    result = run("keys", "new", "--out", str(folder / name), "--json")
    assert result.exit_code == 0, result.output
    return folder / name, json.loads(result.stdout)["fingerprint"]


@pytest.fixture
def signed(tmp_path):
    """t0 and t1 published to a folder, signed by the lab's key; (source, ids, folder, key)."""
    source = Store.open(tmp_path / "source", create=True)
    ids = build_tags(source, "t0", "t1")
    key, fp = new_key(tmp_path / "keys", "lab.key")
    folder = tmp_path / "pub"
    result = run("publish", str(folder), "--sign", str(key), "--root", str(source.root), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["signed_by"] == fp
    return source, ids, folder, key, fp


def pull(folder: Path, local: Path, *args: str):
    return run("pull", str(folder), "t0", "--root", str(local), "--json", *args)


def test_a_signed_remote_pulls_with_its_key_trusted_over_http(tmp_path, signed):
    _, ids, folder, key, fp = signed
    local = tmp_path / "local"
    with http_server(folder) as (url, _):
        result = run("pull", url, "t0", "--root", str(local), "--json", "--trust", f"{key}.pub")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["signed_by"] == fp and report["trusted"] is True
    assert Store.open(local).tags() == {"t0": ids["t0"]}
    verifies(local)
    # The key line itself is a --trust too, and one of several keys is enough.
    other, _ = new_key(tmp_path / "keys", "other.key")
    line = Path(f"{key}.pub").read_text().strip()
    trust = ["--trust", f"{other}.pub", "--trust", line]
    assert pull(folder, tmp_path / "local2", *trust).exit_code == 0


def test_without_trust_a_signed_remote_is_named_and_pulled_as_before(tmp_path, signed):
    *_, folder, _, fp = signed
    result = pull(folder, tmp_path / "local")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["signed_by"] == fp
    assert f"index signed by key {fp}; pass --trust to require it" in result.stderr
    assert json.loads(run("remote", "ls", str(folder), "--json").stdout)["signed_by"] == fp


def test_another_keys_signature_is_refused_and_the_store_unchanged(tmp_path, signed):
    *_, folder, _, fp = signed
    mine, mine_fp = new_key(tmp_path / "mine", "mine.key")
    local = tmp_path / "local"
    assert pull(folder, local, "--trust", f"{mine}.pub").exit_code == 1
    assert not local.exists()  # a root that held no store gets none
    build_tags(Store.open(local, create=True), "t1")
    before = visible(local)
    line = one_line_error(pull(folder, local, "--trust", f"{mine}.pub"))
    assert f"signed by key {fp}, which is not one you trust ({mine_fp})" in line
    assert "nothing fetched" in line
    assert visible(local) == before


def test_an_index_edited_after_signing_is_refused(tmp_path, signed):
    # A hostile remote moves tag t0 to the other version it lists and re-hashes the index, so
    # that every check of its own passes; the signature no longer does.
    _, ids, folder, key, fp = signed
    index_path = folder / "genekb-remote.json"
    index = json.loads(index_path.read_text())
    index["tags"]["t0"] = ids["t1"]
    index_path.write_bytes(dump_index(index["tags"], index["versions"], index["published"]))
    local = tmp_path / "local"
    line = one_line_error(pull(folder, local, "--trust", f"{key}.pub"))
    assert f"signature by key {fp} does not verify" in line
    assert not local.exists()
    assert pull(folder, local).exit_code == 0  # unchecked, it is taken (the reason for --trust)


def test_a_missing_signature_is_refused(tmp_path, signed):
    *_, folder, key, _ = signed
    (folder / SIG).unlink()
    local = tmp_path / "local"
    line = one_line_error(pull(folder, local, "--trust", f"{key}.pub"))
    assert "the index is not signed" in line and "publish with --sign" in line
    assert not local.exists()


def test_an_unsigned_republish_leaves_no_stale_signature(tmp_path, signed):
    source, _, folder, key, _ = signed
    result = run("publish", str(folder), "--root", str(source.root), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["signed_by"] is None
    assert not (folder / SIG).exists()
    line = one_line_error(pull(folder, tmp_path / "local", "--trust", f"{key}.pub"))
    assert "the index is not signed" in line
    # Signed again, it is trusted again.
    again = run("publish", str(folder), "--sign", str(key), "--root", str(source.root))
    assert again.exit_code == 0, again.output
    assert pull(folder, tmp_path / "local", "--trust", f"{key}.pub").exit_code == 0


def test_the_private_key_is_0600_and_never_overwritten_without_force(tmp_path):
    key, fp = new_key(tmp_path / "keys", "lab.key")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    pub = Path(f"{key}.pub").read_text()
    words = pub.split()
    assert pub.count("\n") == 1 and len(words) == 2 and words[0] == "genekb-ed25519"
    kept = key.read_bytes()
    line = one_line_error(run("keys", "new", "--out", str(key)))
    assert "exists; pass --force" in line
    assert key.read_bytes() == kept
    result = run("keys", "new", "--out", str(key), "--force", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["fingerprint"] != fp
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and key.read_bytes() != kept


def test_malformed_keys_are_one_line_errors(tmp_path, signed):
    source, _, folder, key, _ = signed
    bad = tmp_path / "bad.pub"
    bad.write_text("genekb-ed25519 not-base64!\n")
    local = tmp_path / "local"
    for trust, words in (
        (str(bad), "is not a genekb public key"),
        (str(tmp_path / "absent.pub"), "no such file"),
        (str(key), "is a private key; --trust takes its public key"),
        ("genekb-ed25519 AAAA", "is not a genekb public key"),
    ):
        assert words in one_line_error(pull(folder, local, "--trust", trust))
    assert not local.exists()
    before = visible(folder)
    for sign, words in ((f"{key}.pub", "is a public key; --sign takes the private key"),
                        (str(bad), "is not a genekb signing key")):  # fmt: skip
        result = run("publish", str(folder), "--sign", sign, "--root", str(source.root))
        assert words in one_line_error(result)
    assert visible(folder) == before  # refused before anything went up


def test_store_open_url_honours_trust(tmp_path, signed):
    _, ids, folder, key, _ = signed
    mine, _ = new_key(tmp_path / "mine", "mine.key")
    from genekb.errors import IntegrityError

    with http_server(folder) as (url, _):
        store = Store.open(url, trust=[f"{key}.pub"])
        assert store.tags() == {"t0": ids["t0"], "t1": ids["t1"]}
        with pytest.raises(IntegrityError, match="not one you trust"):
            Store.open(url, trust=[f"{mine}.pub"])
