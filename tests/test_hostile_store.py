"""The audit's reproduction classes (issue 64), each run as a real command in its own process:
one `error:` line on stderr, exit 1 (2 for usage), no traceback, nothing damaged, done within
the time limit (a hang is killed and fails) and within a memory bound (peak RSS of the process).

Each case is (name, setup, expected exit code, words the line must hold). `setup(Case)` prepares
files under the case's folder and returns the command line; a store built once per module (the
fake encoder, in this process) is copied for the cases that attack one.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import resource
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from genekb.build import build
from genekb.store.store import Store
from tests.conftest import make_genes

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TIME_LIMIT = 10.0  # seconds a refusal may take, on top of the interpreter's start
MEMORY_LIMIT = 1 << 30  # bytes of peak RSS: none of these inputs may make a command allocate more
TAG = "human/ncbi-card/fake"


@dataclass
class Case:
    folder: Path
    store: Path  # a copy of the module's store, to attack

    def version(self, kind: str = "embeddings") -> Path:
        return next((self.store / kind).iterdir())


def _peak_rss(pid: int, seen: int) -> int:
    """The larger of `seen` and the process's own high-water RSS (VmHWM, in bytes). Read from
    /proc while it runs: wait4's ru_maxrss would also count the pages a fork inherits from this
    test process, which is large after the rest of the suite has run in it."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return max(seen, int(line.split()[1]) * 1024)
    except (OSError, ValueError):
        pass  # gone between two looks: keep what was seen
    return seen


def _run(argv: list[str], cwd: Path, **popen) -> tuple[int, str, float, int]:
    """(exit code, stderr, seconds, peak RSS in bytes) of one command, killed past the limit."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    command = [str(BIN / argv[0]), *argv[1:]]
    start = time.monotonic()
    peak = 0
    with open(cwd / "stderr.txt", "wb") as err:
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=err, **popen)  # fmt: skip
        deadline = start + TIME_LIMIT + 20  # the start of Python on a busy machine, generously
        while True:
            peak = _peak_rss(proc.pid, peak)
            pid, status, _usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                os.wait4(proc.pid, 0)
                raise AssertionError(f"{argv} still running after {deadline - start:.0f} s")
            time.sleep(0.02)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return (proc.returncode, (cwd / "stderr.txt").read_text(), time.monotonic() - start,
            peak)  # fmt: skip


# ---- setups -------------------------------------------------------------------------------------


def _link(target: str | Path) -> Callable[[Case], list[str]]:
    def setup(case: Case) -> list[str]:
        (case.version() / "vectors.parquet").unlink()
        (case.version() / "vectors.parquet").symlink_to(target)
        return ["genekb", "similar", "GENE3", "--ref", TAG, "--root", str(case.store)]

    return setup


def manifest_to_dev_zero(case: Case) -> list[str]:
    (case.version() / "manifest.json").unlink()
    (case.version() / "manifest.json").symlink_to("/dev/zero")
    return ["genekb", "similar", "GENE3", "--ref", TAG, "--root", str(case.store)]


def store_file_to_dev_zero(name: str) -> Callable[[Case], list[str]]:
    def setup(case: Case) -> list[str]:
        (case.store / name).unlink()
        (case.store / name).symlink_to("/dev/zero")
        return ["genekb", "similar", "GENE3", "--ref", TAG, "--root", str(case.store)]

    return setup


def vectors_fifo_verify(case: Case) -> list[str]:
    (case.version() / "vectors.parquet").unlink()
    os.mkfifo(case.version() / "vectors.parquet")
    return ["genekb", "verify", "--root", str(case.store)]


def vectors_dir_verify(case: Case) -> list[str]:
    (case.version() / "vectors.parquet").unlink()
    (case.version() / "vectors.parquet").mkdir()
    return ["genekb", "verify", "--root", str(case.store)]


def manifest_zero_verify(case: Case) -> list[str]:
    manifest_to_dev_zero(case)
    return ["genekb", "verify", "--root", str(case.store)]


def version_dir_linked_out(case: Case) -> list[str]:
    version = case.version()
    moved = case.folder / "elsewhere"
    shutil.move(version, moved)
    version.symlink_to(moved, target_is_directory=True)
    return ["genekb", "verify", "--root", str(case.store)]


def import_of(kind: str) -> Callable[[Case], list[str]]:
    def setup(case: Case) -> list[str]:
        target = {"stdin": "-", "dir": str(case.folder), "device": "/dev/zero"}.get(kind)
        if kind == "fifo":
            target = str(case.folder / "pipe")
            os.mkfifo(target)
        return ["genekb", "import", str(target), "--root", str(case.folder / "new")]

    return setup


def export_with_id_tag(case: Case) -> list[str]:
    sent = case.folder / "sent.tar"
    assert subprocess.run([str(BIN / "genekb"), "export", TAG, str(sent), "--root",
                           str(case.store)], capture_output=True).returncode == 0  # fmt: skip
    with tarfile.open(sent) as tar:
        members = [(m, tar.extractfile(m).read() if m.isfile() else None) for m in tar]
    forged = case.folder / "forged.tar"
    with tarfile.open(forged, "w") as tar:
        for member, data in members:
            if member.name == "genekb-export.json":
                header = json.loads(data)
                header["tags"] = {"emb-0": next(iter(header["tags"].values()))}
                data = json.dumps(header).encode()
                member.size = len(data)
            tar.addfile(member, io.BytesIO(data) if data is not None else None)
    return ["genekb", "import", str(forged), "--root", str(case.folder / "new")]


def nested_pickle(case: Case) -> list[str]:
    shared: list = [0.5] * 30
    for _ in range(12):
        shared = [shared] * 30
    with open(case.folder / "nested.pkl", "wb") as fh:
        pickle.dump({"CD3E": shared, "CD4": shared}, fh)
    return ["genekb", "import-vectors", "nested.pkl", "-m", "x", "--root", "s"]


def wide_csv(case: Case) -> list[str]:
    with open(case.folder / "wide.csv", "w") as fh:
        fh.write("gene," + ",".join(f"d{i}" for i in range(100_000)) + "\n")
        for gene in ("CD3E", "CD4"):
            fh.write(gene + "," + ",".join("0.1" for _ in range(100_000)) + "\n")
    return ["genekb", "import-vectors", "wide.csv", "-m", "x", "--root", "s"]


def huge_npz(case: Case) -> list[str]:
    vectors = np.zeros((2, 40_000_000), np.float32)
    vectors[:, 0] = 1
    np.savez_compressed(case.folder / "huge.npz", genes=np.array(["CD3E", "CD4"]), vectors=vectors)
    return ["genekb", "import-vectors", "huge.npz", "-m", "x", "--root", "s"]


def cluster_dev_zero(case: Case) -> list[str]:
    (case.folder / "cells.csv").symlink_to("/dev/zero")
    return ["cellmodel", "cluster", "cells.csv", "-o", "out.h5ad"]


def square_mtx(case: Case) -> list[str]:
    import scipy.sparse as sp
    from scipy.io import mmwrite

    folder = case.folder / "tenx"
    folder.mkdir()
    counts = np.random.default_rng(0).poisson(2.0, (12, 12)).astype(np.float32)
    mmwrite(str(folder / "matrix.mtx"), sp.coo_matrix(counts))
    (folder / "features.tsv").write_text("".join(f"ENSG{i:011d}\tG{i}\n" for i in range(12)))
    (folder / "barcodes.tsv").write_text("".join(f"c{j}\n" for j in range(12)))
    return ["cellmodel", "cluster", "tenx", "-o", "out.h5ad"]


def huge_declared_mtx(case: Case) -> list[str]:
    folder = case.folder / "tenx"
    square_mtx(case)
    (folder / "matrix.mtx").write_text(
        "%%MatrixMarket matrix coordinate integer general\n100000000 100000000 1\n1 1 5\n"
    )
    return ["cellmodel", "cluster", "tenx", "-o", "out.h5ad"]


def _small_h5ad(path: Path, change: Callable | None = None) -> None:
    import anndata as ad
    import pandas as pd

    X = np.random.default_rng(0).poisson(2, (30, 20)).astype(np.float32)
    obs = pd.DataFrame({"cellmodel_cluster": pd.Categorical(["0", "1"] * 15)},
                       index=[f"c{i}" for i in range(30)])  # fmt: skip
    adata = ad.AnnData(X, obs=obs, var=pd.DataFrame(index=[f"G{i}" for i in range(20)]))
    if change:
        change(adata)
    adata.write_h5ad(path)


def uns_string(case: Case) -> list[str]:
    _small_h5ad(case.folder / "in.h5ad", lambda a: a.uns.update(cellmodel="not a record"))
    return ["cellmodel", "explain", "in.h5ad"]


def repeated_obs_column(case: Case) -> list[str]:
    import h5py

    _small_h5ad(case.folder / "in.h5ad", lambda a: a.obs.insert(1, "b", "x"))
    with h5py.File(case.folder / "in.h5ad", "r+") as f:
        f["obs"].attrs["column-order"] = np.array(["cellmodel_cluster", "cellmodel_cluster"],
                                                  dtype=object)  # fmt: skip
    return ["cellmodel", "cluster", "in.h5ad", "-o", "out.h5ad", "--label-key", "b"]


def _similar_empty_ref(case: Case) -> list[str]:
    return ["genekb", "similar", "GENE3", "--ref", "", "--root", str(case.store)]


CASES: dict[str, tuple[Callable[[Case], list[str]], int, str]] = {
    "vectors linked to /dev/zero": (_link("/dev/zero"), 1, "symbolic link"),
    "vectors linked out of the store": (_link("/etc/hostname"), 1, "symbolic link"),
    "manifest linked to /dev/zero": (manifest_to_dev_zero, 1, "symbolic link"),
    "tags.json linked to /dev/zero": (store_file_to_dev_zero("tags.json"), 1, "corrupt"),
    "the store marker linked to /dev/zero": (
        store_file_to_dev_zero("genekb-store.json"),
        1,
        "unreadable or corrupt",
    ),
    "verify: vectors a FIFO": (vectors_fifo_verify, 1, "versions verify clean"),
    "verify: vectors a directory": (vectors_dir_verify, 1, "versions verify clean"),
    "verify: manifest linked to /dev/zero": (manifest_zero_verify, 1, "versions verify clean"),
    "verify: version linked out": (version_dir_linked_out, 1, "versions verify clean"),
    "import -": (import_of("stdin"), 1, "stdin"),
    "import a directory": (import_of("dir"), 1, "a directory"),
    "import a device": (import_of("device"), 1, "a device"),
    "import a FIFO": (import_of("fifo"), 1, "a pipe"),
    "import an id-like tag": (export_with_id_tag, 1, "looks like a version id"),
    "build --tag emb-e8967": (lambda c: ["genekb", "build", "--tag", "emb-e8967"], 2, "version id"),
    "build --tag ../../etc/passwd": (lambda c: ["genekb", "build", "--tag", "../../x"], 2, "name"),
    "similar --ref ''": (_similar_empty_ref, 2, "not ''"),
    "--root ~nosuchuser": (lambda c: ["genekb", "list", "--root", "~nosuchuser64/x"], 2, "home"),
    "pickle of shared nested lists": (nested_pickle, 1, "holds lists"),
    "CSV of 100,000 columns": (wide_csv, 1, "100,000 dimensions"),
    "npz of 40M-dim vectors": (huge_npz, 1, "40,000,000 dimensions"),
    "cluster input linked to /dev/zero": (cluster_dev_zero, 1, "a device"),
}
# Refused on reading, before any work: run in this process (a `cellmodel` start costs seconds).
IN_PROCESS = {
    "square 10x matrix": (square_mtx, 1, "cannot be told"),
    "10x matrix declaring 10^8 × 10^8": (huge_declared_mtx, 1, "refused before reading"),
    "uns['cellmodel'] a string": (uns_string, 1, "uns['cellmodel']"),
    "an obs column named twice": (repeated_obs_column, 1, "more than once"),
}


@pytest.fixture(scope="module")
def built_store(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hostile") / "store"
    build(Store.open(root, create=True), model="fake", gene_table=make_genes())
    return root


DERIVED = (".verified", "catalog.duckdb", "locks")  # records a reader may refresh


def _tree(folder: Path) -> dict[str, tuple]:
    """What a command must leave as it was: each path's kind, size and mtime (records a reader
    may refresh, such as the catalog and which files were last verified, left out)."""
    found = {}
    for p in sorted(folder.rglob("*")):
        if p.relative_to(folder).parts[0] in DERIVED:
            continue
        st = p.lstat()
        found[str(p.relative_to(folder))] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return found


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_input_is_one_line_bounded_and_harmless(tmp_path, built_store, name):
    setup, code, words = CASES[name]
    case = Case(tmp_path / "case", tmp_path / "store")
    case.folder.mkdir()
    shutil.copytree(built_store, case.store, symlinks=True)
    argv = setup(case)
    store_before = _tree(case.store)
    returncode, stderr, _seconds, peak = _run(argv, case.folder)
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert "Traceback" not in stderr and returncode == code, (returncode, stderr[-2000:])
    if argv[1] == "verify":  # verify's report: a BAD line per damaged version, then a total
        assert "BAD" in stderr and words in lines[-1], stderr
    else:
        assert len(lines) == 1 and lines[0].startswith("error:") and words in lines[0], stderr
    assert peak < MEMORY_LIMIT, f"peak RSS {peak / 2**20:.0f} MiB"
    assert _tree(case.store) == store_before  # nothing of the store changed
    assert not (case.folder / "new").exists() and not (case.folder / "out.h5ad").exists()


@pytest.mark.parametrize("name", sorted(IN_PROCESS))
def test_a_refused_cell_file_is_one_line(tmp_path, name):
    from tests.conftest import one_line_error, run_cellmodel

    setup, code, words = IN_PROCESS[name]
    case = Case(tmp_path, tmp_path / "store")
    argv = setup(case)
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)
        line = one_line_error(run_cellmodel(*argv[1:]), code)
    finally:
        os.chdir(cwd)
    assert words in line and not (tmp_path / "out.h5ad").exists()


def _ctrl_c_as_at_a_terminal() -> None:
    """A runner started in the background (nohup, `&`) passes SIGINT on ignored, and the
    command then rightly leaves it ignored; these tests are about Ctrl-C at a terminal."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


@pytest.mark.parametrize("command", [["genekb", "build"], ["cellmodel", "cluster", "x.h5ad"]])
def test_ctrl_c_while_starting_is_one_line_and_exit_130(tmp_path, command):
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    proc = subprocess.Popen([str(BIN / command[0]), *command[1:], "--root", str(tmp_path)]
                            if command[0] == "genekb" else [str(BIN / command[0]), *command[1:]],
                            env=env, cwd=tmp_path, stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL,
                            preexec_fn=_ctrl_c_as_at_a_terminal)  # fmt: skip
    time.sleep(0.5)  # past the interpreter's own start, inside the modules' loading
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    lines = [ln for ln in err.decode().splitlines() if ln.strip()]
    assert proc.returncode == 130 and len(lines) == 1 and "interrupted" in lines[0], err


def test_a_failed_h5ad_write_is_one_line_and_leaves_no_temp_file(tmp_path):
    """`cluster -o` under a file-size limit: one line naming the output, no temporary file,
    no crash (h5py used to segfault cleaning up after the failed write)."""
    script = (
        "import anndata as ad, numpy as np, sys\n"
        "from pathlib import Path\n"
        "from cli.cellmodel_args import write_h5ad\n"
        "from genekb.errors import GenekbError\n"
        "a = ad.AnnData(np.random.default_rng(0).random((2000, 300), dtype=np.float32))\n"
        "try:\n"
        "    write_h5ad(a, Path(sys.argv[1]))\n"
        "except GenekbError as exc:\n"
        "    print(exc, file=sys.stderr); sys.exit(1)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    limit = lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))  # noqa: E731
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path / "out.h5ad")], env=env,
                            capture_output=True, timeout=60, preexec_fn=limit)  # fmt: skip
    err = result.stderr.decode()
    assert result.returncode == 1 and "Traceback" not in err, err[-2000:]
    assert err.strip().startswith(f"cannot write {tmp_path / 'out.h5ad'}") and len(
        err.strip().splitlines()) == 1  # fmt: skip
    assert list(tmp_path.iterdir()) == []
