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


KILLED_WHILE_CHECKING = """
import os, sys
from genekb.store import pull as pull_module
from genekb.store.store import Store
check, calls = pull_module.check_staged, []
def killed(*args, **kwargs):
    calls.append(1)
    if len(calls) == 2:  # the embedding, after its text version passed: kill -9
        os._exit(137)
    return check(*args, **kwargs)
pull_module.check_staged = killed
pull_module.pull(Store.open(sys.argv[1], create=True), sys.argv[2], ["t0"])
"""


@pytest.mark.parametrize("damage", [None, "flip", "cut"])
def test_a_pull_killed_while_checking_fetches_again_only_what_is_missing_or_damaged(
    tmp_path, source, damage
):
    # The checks ran in a staging folder named for the process, which the next writer clears
    # as stale once the process is gone: the rerun fetched every file again.
    import os
    import subprocess
    import sys

    from genekb.store.pull import pull
    from tests.remote_servers import http_server
    from tests.test_remote import verifies

    assert run("publish", str(tmp_path / "pub"), "--root", str(source.root)).exit_code == 0
    local = tmp_path / "local"
    with http_server(tmp_path / "pub") as (url, served):
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        killed = subprocess.run([sys.executable, "-c", KILLED_WHILE_CHECKING, str(local), url],
                                env=env, capture_output=True, timeout=300)  # fmt: skip
        assert killed.returncode == 137, killed.stderr.decode()
        first = set(served.files_fetched())
        assert len(first) == 4 and not (local / "embeddings").exists()
        if damage:  # a byte changed, or the file cut short, while the pull was away
            (left,) = (local / ".staging").rglob("vectors.parquet")
            data = left.read_bytes()
            left.write_bytes(data[:-1] + bytes([data[-1] ^ 1]) if damage == "flip" else data[:9])
        report = pull(Store.open(local, create=True), url, ["t0"])
    refetched = {p for p, n in served.gets.items() if p in first and n == 2}
    assert refetched == ({p for p in first if p.endswith("/vectors.parquet")} if damage else set())
    assert report["files_fetched"] == len(refetched)
    assert report["files_reused"] == 4 - len(refetched)
    assert Store.open(local).tags() == {"t0": source.tags()["t0"]}
    assert not (local / ".staging").exists()
    verifies(local)


def test_gencode_par_y_ids_are_read_as_their_species_gene():
    # cellmodel's Ensembl patterns took no "_PAR_Y" (GENCODE's Y copy of a pseudoautosomal
    # gene): such mouse ids voted "human" by their upper case, zebrafish ids went unnamed.
    from cellmodel.knowledge.genes import detect_taxon
    from cellmodel.knowledge.name_forms import other_species_note
    from genekb.ensembl import EnsemblId, parse_ensembl, stable_ensembl

    assert parse_ensembl("ENSG00000002586.20_PAR_Y") == EnsemblId("ENSG00000002586", "ENSG")
    assert parse_ensembl("ENSGALG00000000003") == EnsemblId("ENSGALG00000000003", "ENSGALG")
    assert parse_ensembl("ENSG00000002586_PAR_X") is None and parse_ensembl("CD99") is None
    assert stable_ensembl("ENSG00000198851.10") == "ENSG00000198851"
    assert stable_ensembl("ENSG00000002586.20_PAR_Y") == "ENSG00000002586"
    assert detect_taxon(["ENSMUSG00000032093.5_PAR_Y", "ENSMUSG00000026395_PAR_Y"]) == "mouse"
    assert detect_taxon(["ENSG00000002586.20_PAR_Y", "Cd3e", "ENSG00000167286"]) == "human"
    note = other_species_note(["ENSDARG00000012345.3_PAR_Y", "ENSDARG00000054321"])
    assert note is not None and "zebrafish" in note


def test_the_ensembl_version_pattern_has_one_home():
    # It was written out in genekb/sources/ncbi.py and orgdb.py, and cellmodel kept two more
    # Ensembl patterns of its own (without GENCODE's _PAR_Y).
    root = Path(__file__).resolve().parents[1]
    patterns = ("ENS[A-Z]", "ENSG\\d", "ENSMUSG\\d", 'r"\\.\\d+$"')
    homes = sorted(
        str(p.relative_to(root))
        for folder in ("genekb", "cellmodel", "cli")
        for p in (root / folder).rglob("*.py")
        if any(pattern in p.read_text() for pattern in patterns)
    )
    assert homes == ["genekb/ensembl.py"]


def test_a_file_url_is_read_percent_decoded(tmp_path, source):
    # `Path.as_uri()` writes "pub with space" as "pub%20with%20space": pull said "no such
    # folder", and publish made a folder named "pub%20with%20space".
    folder = tmp_path / "pub with space"
    result = run("publish", folder.as_uri(), "--root", str(source.root))
    assert result.exit_code == 0, result.output
    assert (folder / "genekb-remote.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pub with space", "source"]
    local = tmp_path / "local"
    result = run("pull", folder.as_uri(), "t0", "--root", str(local))
    assert result.exit_code == 0, result.output
    assert Store.open(local).tags() == source.tags()


def test_an_export_file_given_as_a_remote_says_to_import_it(tmp_path, source):
    # It read "the remote's path runs into a file where a folder must be (or the reverse)",
    # over HTTP "no genekb remote (no genekb-remote.json there)".
    from tests.remote_servers import http_server

    export = tmp_path / "out" / "t0.tar.gz"
    export.parent.mkdir()
    assert run("export", "t0", str(export), "--root", str(source.root)).exit_code == 0
    local = tmp_path / "local"
    with http_server(export.parent) as (url, _):
        for where in (str(export), export.as_uri(), f"{url}/t0.tar.gz"):
            for args in (["pull", where, "t0", "--root", str(local)], ["remote", "ls", where]):
                line = one_line_error(run(*args))
                assert line == (
                    f"error: {where} is an export file (`genekb export`), not a published store;"
                    " import it with `genekb import FILE` (download it first if it is on a server)"
                )
    assert not local.exists()
    missing = one_line_error(run("pull", str(tmp_path / "none.tar"), "--root", str(local)))
    assert missing.endswith("none.tar: no such folder")  # no file there: not called an export


def test_an_index_listing_a_version_twice_is_refused(tmp_path):
    # json kept the last copy silently: a reader of the index's bytes (or a parser that keeps
    # the first) saw other files and hashes than the pull fetched.
    from tests.test_hostile_remote import _forged

    folder, vid = _forged(tmp_path, lambda index, vid: None)
    path = folder / "genekb-remote.json"
    raw = path.read_text()
    entry = json.dumps(json.loads(raw)["versions"][vid])
    at = raw.index(f'"{vid}": {{')
    path.write_text(raw[:at] + f'"{vid}": {entry},\n' + raw[at:])
    local = tmp_path / "local"
    for args in (["pull", str(folder), "t0", "--root", str(local)], ["remote", "ls", str(folder)]):
        line = one_line_error(run(*args))
        assert f"it lists '{vid}' twice (a version, tag, file or field); refused" in line
    assert not local.exists()


def test_a_store_given_as_a_remote_says_how_to_read_or_share_it(tmp_path, source):
    # It read "no genekb remote (no genekb-remote.json there); check the URL", of a folder the
    # user had just built: `--root file:///…/store` or `pull STORE` for a store of one's own.
    local = tmp_path / "local"
    for args in (["pull", str(source.root), "t0", "--root", str(local)],
                 ["similar", "GENE5", "--ref", "t0", "--root", source.root.as_uri()]):  # fmt: skip
        line = one_line_error(run(*args))
        assert "is a genekb store, not a published one (no genekb-remote.json): read it as" in line
        assert f"--root {source.root} (a path, not a URL)" in line and "genekb publish" in line
    assert not local.exists()
    plain = run("similar", "GENE5", "--ref", "t0", "--root", str(source.root))
    assert plain.exit_code == 0, plain.output


def test_a_file_url_naming_a_host_is_refused_and_localhost_is_this_machine(
    tmp_path, monkeypatch, source
):
    # fsspec took the host for a relative folder: file://localhost/srv/pub was
    # ./localhost/srv/pub, and a publish to file://server/pub wrote into ./server/pub.
    monkeypatch.chdir(tmp_path)
    line = one_line_error(run("publish", "file://server/pub", "--root", str(source.root)), 2)
    assert "names the host 'server'; a file:// URL names a folder on this machine" in line
    folder = tmp_path / "pub"
    result = run("publish", f"file://localhost{folder}", "--root", str(source.root))
    assert result.exit_code == 0, result.output
    assert (folder / "genekb-remote.json").is_file()
    assert not (tmp_path / "localhost").exists() and not (tmp_path / "server").exists()


def test_a_passphrase_without_a_key_or_of_another_type_is_a_usage_error(tmp_path, source):
    # --passphrase-env without --sign was ignored (an unsigned publish, said nowhere), and
    # passphrase=1234 failed as "unexpected TypeError: object of type 'int' has no len()".
    from genekb.errors import UsageError
    from genekb.store.signing import load_private, new_key

    folder = tmp_path / "pub"
    result = run("publish", str(folder), "--passphrase-env", "LAB_PASS", "--root", str(source.root))
    assert "--passphrase-env is the passphrase of --sign's key" in one_line_error(result, 2)
    assert not folder.exists()
    key = tmp_path / "lab.key"
    new_key(key, passphrase=b"s3cret")
    with pytest.raises(UsageError, match="passphrase= is bytes or str, not int"):
        load_private(key, 1234)  # type: ignore[arg-type]


def test_an_http_url_with_a_space_is_sent_escaped_not_retried(tmp_path, source):
    # http.client refused the request line ("can't contain control characters"), which was
    # retried five times as a network fault, then "check the remote and run the command again".
    from tests.remote_servers import http_server

    folder = tmp_path / "www" / "pub with space"
    assert run("publish", str(folder), "--root", str(source.root)).exit_code == 0
    local = tmp_path / "local"
    with http_server(folder.parent) as (url, served):
        result = run("pull", f"{url}/pub with space", "t0", "--root", str(local))
        assert result.exit_code == 0, result.output
        assert served.gets["pub with space/genekb-remote.json"] == 1
    assert Store.open(local).tags() == source.tags()


@pytest.mark.parametrize(("code", "words"), [
    (401, "HTTP 401 Unauthorized; the server asks for credentials: put them in the URL"),
    (403, "HTTP 403 Forbidden; the server refuses access: check the URL, and the credentials"),
])  # fmt: skip
def test_a_refusal_of_access_says_what_to_do(tmp_path, source, code, words):
    # It said "HTTP 401 Unauthorized" and no more, of a remote that wants credentials.
    from tests.remote_servers import Fault, http_server

    assert run("publish", str(tmp_path / "pub"), "--root", str(source.root)).exit_code == 0
    with http_server(tmp_path / "pub") as (url, served):
        served.faults.append(Fault("genekb-remote.json", "busy", at=code))
        line = one_line_error(run("pull", url, "t0", "--root", str(tmp_path / "local")))
        assert words in line and served.gets["genekb-remote.json"] == 1


def test_a_cache_that_cannot_be_made_names_genekb_cache(tmp_path, monkeypatch, source):
    # "cannot write …/remotes/1a5b…: … is not a directory" named a folder the user never chose,
    # and not the variable that moves it.
    assert run("publish", str(tmp_path / "pub"), "--root", str(source.root)).exit_code == 0
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    monkeypatch.setenv("GENEKB_CACHE", str(blocked))
    result = run("similar", "GENE5", "--ref", "t0", "--root", (tmp_path / "pub").as_uri())
    line = one_line_error(result)
    assert f"the cache of remote stores lies in $GENEKB_CACHE ({blocked}): set GENEKB_CACHE" in line


def test_the_index_files_url_given_as_the_remote_names_its_folder(tmp_path, source):
    # A URL copied from the browser (…/genekb-remote.json) read "no genekb remote there".
    from tests.remote_servers import http_server

    folder = tmp_path / "pub"
    assert run("publish", str(folder), "--root", str(source.root)).exit_code == 0
    with http_server(folder) as (url, _):
        for where, base in ((f"{folder}/genekb-remote.json", str(folder)),
                            (f"{url}/genekb-remote.json", url)):  # fmt: skip
            line = one_line_error(run("pull", where, "t0", "--root", str(tmp_path / "local")))
            assert line == (
                f"error: {where} is a remote's index file; give the folder or URL it lies in:"
                f" {base}"
            )
