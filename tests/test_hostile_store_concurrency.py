"""A store under concurrency, crashes and odd file systems: writers killed or limited half-way
(`ulimit -f`, as a full disk would), two writers at once, a lock another process holds. Each
command runs in its own process, as a user's would. Earlier rounds (test_hostile_store,
test_hostile_store2, test_store*) are not repeated."""

from __future__ import annotations

import json
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from genekb.build import build
from genekb.store.sharing import export_version
from genekb.store.store import Store
from tests.conftest import make_genes, mount_read_only, one_line_error
from tests.conftest import run_genekb as run

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def genekb(*args: str | Path, cwd: Path, file_limit: int | None = None) -> tuple[int, str]:
    """(exit code, stderr) of `genekb ARGS` in its own process, under a file size limit of
    `file_limit` bytes (`ulimit -f`: a write past it fails with EFBIG, as on a full disk)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")

    def limit() -> None:
        if file_limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_limit, file_limit))

    done = subprocess.run([str(BIN / "genekb"), *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, timeout=120, preexec_fn=limit)  # fmt: skip
    return done.returncode, done.stderr.decode()


def one_error_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert "Traceback" not in stderr and len(lines) == 1, stderr[-2000:]
    assert lines[0].startswith("error:"), stderr
    return lines[0]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An export of a small version (40 genes, tag `human`): every file of it a few KB."""
    folder = tmp_path_factory.mktemp("exported")
    store = Store.open(folder / "store", create=True)
    build(store, model="fake", gene_table=make_genes(40), tag="human")
    export_version(store, "human", folder / "human.tar")
    return folder / "human.tar"


def test_an_import_whose_catalog_hits_the_file_size_limit_says_so(exported, tmp_path):
    # DuckDB's close swallowed the failed checkpoint: the import exited 0 and put an unreadable
    # catalog.duckdb in place (its log, which held everything, was removed), and `verify` then
    # found it damaged. The versions (a few KB each) fit under the limit; the catalog does not.
    code, err = genekb("import", exported, "--root", tmp_path / "s", cwd=tmp_path,
                       file_limit=100 << 10)  # fmt: skip
    line = one_error_line(err)
    assert code == 1 and "cannot write the catalog" in line and "ulimit -f" in line, line
    store = tmp_path / "s"
    assert not (store / "catalog.duckdb").exists()  # nothing half-written in its place
    assert not [p for p in store.iterdir() if p.name.startswith(".catalog.duckdb")]
    result = run("verify", "--root", str(store))
    assert result.exit_code == 0 and "2 of 2 versions verify clean" in result.stderr


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, int]:
    """A published store of two versions, (folder, its largest file's bytes, all files')."""
    folder = tmp_path_factory.mktemp("published")
    store = Store.open(folder / "store", create=True)
    build(store, model="fake", gene_table=make_genes(6000), tag="human")
    assert run("publish", str(folder / "remote"), "--root", str(store.root)).exit_code == 0
    sizes = [p.stat().st_size for p in (folder / "remote").rglob("*.parquet")]
    return folder / "remote", max(sizes), sum(sizes)


def test_a_pull_of_files_each_under_the_file_size_limit_is_not_refused(published, tmp_path):
    # `ulimit -f` limits each file, but the pull compared the sum of all its files with it and
    # refused a pull whose every file fitted ("needs about 1,100,000 bytes, over the limit").
    remote, largest, total = published
    limit = max(largest + (total - largest) // 2, 600 << 10)  # room for the catalog too
    assert largest < limit < total
    code, err = genekb("pull", remote, "--root", tmp_path / "s", cwd=tmp_path, file_limit=limit)
    assert code == 0 and "Traceback" not in err, err
    assert all(r["ok"] for r in Store.open(tmp_path / "s").verify())
    # A file over the limit is still refused before the first byte, and says which limit.
    code, err = genekb("pull", remote, "--root", tmp_path / "t", cwd=tmp_path,
                       file_limit=largest - 1)  # fmt: skip
    line = one_error_line(err)
    assert code == 1 and "largest file" in line and "ulimit -f" in line, line
    assert not (tmp_path / "t").exists()


def _first_line_with(stream, words: str, seconds: float) -> str:
    """The first line of `stream` holding `words`, read within `seconds` (else fails)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not select.select([stream], [], [], 0.2)[0]:
            continue
        line = stream.readline().decode()
        if words in line:
            return line
        assert line, f"the stream ended before a line with {words!r}"
    raise AssertionError(f"no line with {words!r} within {seconds} s")


def _holder(store: Path, lock: str) -> subprocess.Popen:
    """Another process (`python -c …`) that holds the store's lock `lock` for up to 2 minutes."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1")
    hold = ("import sys, time; from genekb.store.store import Store\n"
            "with Store.open(sys.argv[1]).lock(sys.argv[2]):\n"
            "    print('held', flush=True); time.sleep(120)\n")  # fmt: skip
    holder = subprocess.Popen([sys.executable, "-c", hold, str(store), lock], env=env,
                              stdout=subprocess.PIPE, bufsize=0)  # fmt: skip
    _first_line_with(holder.stdout, "held", 60)
    return holder


def test_a_waiter_names_who_holds_the_lock_and_goes_on_once_it_is_killed(exported, tmp_path):
    # A second writer said only "another process is writing there" and waited up to an hour:
    # the user could not tell which process to wait for or stop. Killed, the holder's flock
    # goes with it: the waiter must go on at once (no stale lock file to remove by hand).
    store = tmp_path / "s"
    assert genekb("import", exported, "--root", store, cwd=tmp_path)[0] == 0
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1")
    holder = _holder(store, "tags")
    waiter = None
    try:
        waiter = subprocess.Popen([str(BIN / "genekb"), "tag", "second", "human", "--root",
                                   str(store)], env=env, stderr=subprocess.PIPE,
                                  bufsize=0)  # fmt: skip
        line = _first_line_with(waiter.stderr, "waiting for the tags lock", 60)
        assert f"process {holder.pid} (-c " in line, line
        holder.send_signal(signal.SIGKILL)  # mid-write, as a crash would
        holder.wait(10)
        assert waiter.wait(60) == 0, waiter.stderr.read().decode()
    finally:
        for proc in (holder, waiter):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
    tags = json.loads((store / "tags.json").read_text())["tags"]
    assert tags["second"] == tags["human"]


@pytest.fixture
def read_only(exported, tmp_path, monkeypatch) -> Path:
    """A store as on a read-only mount: its files read, but no lock file, folder or file can
    be made there (EROFS, as `mount -o ro` answers; root would pass any permission bits)."""
    store = tmp_path / "s"
    assert run("import", str(exported), "--root", str(store)).exit_code == 0

    mount_read_only(monkeypatch)
    return store


@pytest.mark.parametrize("command", [["tag", "x", "human"], ["tag", "--delete", "human"],
                                     ["gc"], ["reindex"]])  # fmt: skip
def test_a_write_into_a_read_only_store_says_so_and_what_to_do(read_only, command):
    # It said "…/locks/tags.lock: Read-only file system; nothing half-written was published":
    # a bare OSError caught at the top, no word of what to do.
    line = one_line_error(run(*command, "--root", str(read_only)))
    assert "the store's file system is read-only" in line and "genekb pull" in line, line


@pytest.mark.parametrize("command", [["gc", "--dry-run"], ["rm", "human", "--force", "--dry-run"]])
def test_a_dry_run_in_a_read_only_store_looks_without_a_lock(read_only, command):
    # `--dry-run` changes nothing, but it was refused for want of a lock file it could not make.
    result = run(*command, "--root", str(read_only), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["dry_run"] is True
    assert (read_only / "embeddings").is_dir() and len(list((read_only / "embeddings").iterdir()))


def test_rm_frees_a_full_disk_though_the_catalog_cannot_be_rewritten(exported, tmp_path):
    # The catalog is rewritten first, without the versions to go; on a full disk (here its
    # file size limit) that failed, and `rm`, the way to free the disk, was refused with
    # "the versions and tags are not affected". The catalog, derived, now goes instead.
    store = tmp_path / "s"
    assert run("import", str(exported), "--root", str(store)).exit_code == 0
    code, err = genekb("rm", "human", "--force", "--root", store, cwd=tmp_path,
                       file_limit=100 << 10)  # fmt: skip
    assert code == 0 and "Traceback" not in err, err
    assert "removed the catalog" in err and "`genekb reindex` writes it again" in err, err
    assert not list((store / "embeddings").iterdir()) and not (store / "catalog.duckdb").exists()
    assert "human" not in json.loads((store / "tags.json").read_text())["tags"]
    assert run("verify", "--root", str(store)).exit_code == 0


def test_verify_reports_though_a_catalog_behind_cannot_be_rewritten(exported, tmp_path):
    # verify rewrites a catalog behind the store; where that failed (a full disk) its one
    # error line was all it said, with exit 1 and no word on the versions.
    store = tmp_path / "s"
    assert run("import", str(exported), "--root", str(store)).exit_code == 0
    behind = (store / "catalog.duckdb").read_bytes()
    build(Store.open(store), model="fake", gene_table=make_genes(5), tag="five")
    (store / "catalog.duckdb").write_bytes(behind)  # as a write stopped before the catalog
    code, err = genekb("verify", "--root", store, cwd=tmp_path, file_limit=100 << 10)
    assert code == 0 and "4 of 4 versions verify clean" in err, err
    assert "is behind the store and could not be rewritten" in err and "ulimit -f" in err, err


def test_a_backup_copy_of_a_version_folder_is_no_version(exported, tmp_path):
    # `cp -r embeddings/emb-X embeddings/emb-X.bak` made a "damaged version" emb-X.bak: verify
    # failed (exit 1, "contents do not match the version id"), the id prefix of emb-X became
    # ambiguous, and `rm emb-X` was refused as if the copy were one of its views.
    store = tmp_path / "s"
    assert run("import", str(exported), "--root", str(store)).exit_code == 0
    (vid,) = [p.name for p in (store / "embeddings").iterdir()]
    backup = store / "embeddings" / f"{vid}.bak"
    shutil.copytree(store / "embeddings" / vid, backup)
    assert run("similar", "GENE3", "--ref", vid[:8], "--root", str(store)).exit_code == 0
    result = run("verify", "--root", str(store))
    assert result.exit_code == 0 and f"{backup} is no embedding version" in result.stderr
    result = run("rm", vid, "--force", "--dry-run", "--root", str(store), "--json")
    assert result.exit_code == 0, result.output
    assert run("gc", "--root", str(store)).exit_code == 0 and backup.is_dir()  # never deleted


@pytest.mark.parametrize("target", ["nowhere", "link"])  # "link": to itself, a loop
@pytest.mark.parametrize("command", ["import", "list"])
def test_a_store_root_through_a_broken_link_says_so(exported, tmp_path, target, command):
    # A link to a store's folder that leads nowhere: import said "cannot create a store at X:
    # File exists" (or, round a loop, a bare "Too many levels of symbolic links"), and list
    # "no genekb store at X; build one".
    link = tmp_path / "link"
    link.symlink_to(tmp_path / target)
    args = ["import", str(exported)] if command == "import" else ["list"]
    line = one_line_error(run(*args, "--root", str(link / "store")))
    leads = "round in a loop" if target == "link" else "to nothing"
    assert f"{link} is a symbolic link {leads}" in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link"]  # nothing made through it


def test_a_publish_killed_while_holding_the_index_lock_does_not_block_the_next(exported, tmp_path):
    # Killed before it wrote the index, a publish leaves its lock and the card saying who held
    # it; the next publish into that folder must take them for its own, not for "other things".
    store = tmp_path / "s"
    assert run("import", str(exported), "--root", str(store)).exit_code == 0
    remote = tmp_path / "remote"
    remote.mkdir()
    (remote / "genekb-remote.json.lock").touch()
    (remote / "genekb-remote.json.lock.holder").write_text("999999999 host genekb publish\n")
    result = run("publish", str(remote), "--root", str(store))
    assert result.exit_code == 0, result.output
    assert not (remote / "genekb-remote.json.lock.holder").exists()  # the card went with it


def test_a_version_a_newer_genekb_wrote_is_not_called_damaged(exported, tmp_path):
    # Its manifest's format "genekb-store/2" read as damage: "this version is damaged … `genekb
    # import --replace-damaged FILE` replaces it", which puts an older copy in its place.
    store = tmp_path / "s"
    assert run("import", str(exported), "--root", str(store)).exit_code == 0
    (manifest,) = (store / "embeddings").glob("*/manifest.json")
    data = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**data, "format": "genekb-store/2"}))
    line = one_line_error(run("similar", "GENE3", "--ref", "human", "--root", str(store)))
    assert "written by a newer genekb" in line and "upgrade genekb" in line, line
    assert "damaged" not in line and "--replace-damaged" not in line, line


def test_gc_refused_while_a_version_is_written_names_the_writer(exported, tmp_path):
    # "another process is writing into S (emb-…)": which one, the user could not tell.
    store = tmp_path / "s"
    assert run("import", str(exported), "--root", str(store)).exit_code == 0
    holder = _holder(store, "emb-0123456789abcdef")
    try:
        line = one_line_error(run("gc", "--root", str(store)))
    finally:
        holder.kill()
        holder.wait()
    assert f"emb-0123456789abcdef, by process {holder.pid} (-c " in line, line
