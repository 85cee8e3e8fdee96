"""Every command that writes a file, given each class of bad output path: one line on stderr,
exit 1 (or 2), nothing written anywhere, the store still verifying, and no work done first.

Classes: a missing directory, an unwritable place (under a regular file, which no user can write
into; and a directory `os.access` calls unwritable, simulated, because these tests run as root,
which permission bits do not stop), an existing file without --force, and a directory where a
file is expected (for folder outputs: a file where a folder is expected).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from genekb.build import build
from genekb.store.store import Store
from tests.conftest import blobs, make_genes, one_line_error, run_cellmodel, run_genekb
from tests.test_integrity import snapshot


@pytest.fixture(scope="module")
def place(tmp_path_factory) -> Path:
    """A store with one fake-encoder version, a tiny .h5ad input and a regular file."""
    base = tmp_path_factory.mktemp("hostile")
    build(Store.open(base / "store", create=True), model="fake", gene_table=make_genes())
    blobs(30, dim=20, counts=True).write_h5ad(base / "cells.h5ad")
    (base / "afile").write_text("a regular file\n")
    (base / "adir").mkdir()
    return base


# (name, app, args before the output, output flag or None for a positional, suffix, kind)
FILE_OUTPUTS = [
    ("export", "genekb", ["export", "human/ncbi-card/fake"], None, ".tar"),
    ("embed -o", "cellmodel", ["embed", "{cells}"], "-o", ".h5ad"),
    ("cluster -o", "cellmodel", ["cluster", "{cells}", "--no-semantic"], "-o", ".h5ad"),
    ("classify -o", "cellmodel", ["classify", "{cells}", "--label-key", "group"], "-o", ".h5ad"),
    ("annotate -o", "cellmodel", ["annotate", "{cells}", "--candidates", "a;b"], "-o", ".h5ad"),
    ("annotate --markdown", "cellmodel", ["annotate", "{cells}", "--candidates", "a;b"],
     "--markdown", ".md"),
]  # fmt: skip
DIR_OUTPUTS = [
    ("cluster --plots", ["cluster", "{cells}", "--no-semantic"], "--plots", "umap.png"),
    ("classify --plots", ["classify", "{cells}", "--label-key", "group"], "--plots",
     "classify_confusion.png"),
    ("bench --out", ["bench", "--datasets", "{cells}", "--label-key", "group"], "--out",
     "bench.json"),
]  # fmt: skip
FILE_CLASSES = ["missing dir", "under a file", "unwritable dir", "exists without --force", "a dir"]
DIR_CLASSES = ["missing dir", "under a file", "unwritable dir", "exists without --force", "a file"]
# What the one error line says for each kind of bad output path.
REFUSALS = {
    "missing dir": "does not exist",
    "under a file": "is not a directory",
    "unwritable dir": "permission denied",
    "exists without --force": "--force",
    "a dir": "is a directory",
    "a file": "is not a directory",
}


def _bad_path(place: Path, case: str, name: str, tmp: Path) -> tuple[Path, Path | None]:
    """(the bad output path, a directory to report unwritable or None), made under `tmp`."""
    if case == "missing dir":
        return tmp / "missing" / name, None
    if case == "under a file":
        (tmp / "plain").write_text("x")
        return tmp / "plain" / name, None
    if case == "unwritable dir":
        (tmp / "locked").mkdir()
        return tmp / "locked" / name, tmp / "locked"
    if case == "exists without --force":
        (tmp / name).write_text("precious")
        return tmp / name, None
    if case == "a dir":
        (tmp / name).mkdir()
        return tmp / name, None
    (tmp / name).write_text("a file, not a folder")  # "a file"
    return tmp / name, None


def _deny(monkeypatch, folder: Path | None) -> None:
    """Make `os.access` say `folder` is not writable (root passes permission bits)."""
    if folder is None:
        return
    real = os.access

    def access(path, mode, *args, **kwargs):
        if Path(path) == folder and mode & os.W_OK:
            return False
        return real(path, mode, *args, **kwargs)

    monkeypatch.setattr("genekb.fileio.os.access", access)


def _no_work(monkeypatch) -> None:
    """Any of the commands' real work raises, so a check that came late would show."""

    def boom(*args, **kwargs):
        raise AssertionError("the command started its work before checking its output")

    for target in (
        "cellmodel.io.read",
        "cellmodel.datasets.load",
        "genekb.store.sharing.EmbeddingVersion.check",
        "cellmodel.bench.run_bench",
    ):
        monkeypatch.setattr(target, boom)


def _expect_refused(result, place: Path, before: dict, tmp: Path, tmp_before: dict) -> str:
    assert result.exit_code in (1, 2), (result.exit_code, result.output)
    line = one_line_error(result, result.exit_code)
    assert snapshot(place) == before, "something was written beside the inputs"
    assert snapshot(tmp) == tmp_before, "something was written at the bad path"
    assert run_genekb("verify", "--root", str(place / "store")).exit_code == 0
    return line


@pytest.mark.parametrize("case", FILE_CLASSES)
@pytest.mark.parametrize(("name", "app", "args", "flag", "suffix"), FILE_OUTPUTS)
def test_file_outputs_refuse_bad_paths(place, tmp_path, monkeypatch, case, name, app, args,
                                       flag, suffix):  # fmt: skip
    target, locked = _bad_path(place, case, f"out{suffix}", tmp_path)
    _deny(monkeypatch, locked)
    _no_work(monkeypatch)
    before, tmp_before = snapshot(place), snapshot(tmp_path)
    words = [a.format(cells=place / "cells.h5ad") for a in args]
    words += [str(target)] if flag is None else [flag, str(target)]
    words += ["--root", str(place / "store")]
    run = run_genekb if app == "genekb" else run_cellmodel
    line = _expect_refused(run(*words), place, before, tmp_path, tmp_before)
    assert REFUSALS[case] in line, line


@pytest.mark.parametrize("case", DIR_CLASSES)
@pytest.mark.parametrize(("name", "args", "flag", "written"), DIR_OUTPUTS)
def test_folder_outputs_refuse_bad_paths(place, tmp_path, monkeypatch, case, name, args, flag,
                                         written):  # fmt: skip
    target, locked = _bad_path(place, case, "plots", tmp_path)
    if case == "exists without --force":
        target.unlink()
        target.mkdir()
        (target / written).write_text("precious")
    _deny(monkeypatch, locked)
    _no_work(monkeypatch)
    before, tmp_before = snapshot(place), snapshot(tmp_path)
    words = [a.format(cells=place / "cells.h5ad") for a in args]
    words += [flag, str(target), "--root", str(place / "store")]
    line = _expect_refused(run_cellmodel(*words), place, before, tmp_path, tmp_before)
    assert REFUSALS[case] in line, line


STORE_WRITERS = [
    ("build", ["build", "--model", "fake", "--genes", "{genes}"]),
    ("import", ["import", "{tar}"]),
    ("import-vectors", ["import-vectors", "{vectors}", "-m", "x"]),
]


@pytest.mark.parametrize("case", ["under a file", "unwritable dir", "a file"])
@pytest.mark.parametrize(("name", "args"), STORE_WRITERS)
def test_store_writers_refuse_a_root_they_cannot_write(place, tmp_path, monkeypatch, case, name,
                                                       args):  # fmt: skip
    (tmp_path / "genes.txt").write_text("CD3E\nCD19\n")
    (tmp_path / "v.csv").write_text("gene,a,b\nCD3E,1,2\nCD19,3,4\n")
    (tmp_path / "x.tar").write_bytes(b"")  # never opened: the root is refused first
    if case == "a file":
        (tmp_path / "rootfile").write_text("x")
        root, locked = tmp_path / "rootfile", None
    else:
        root, locked = _bad_path(place, case, "newstore", tmp_path)
    _deny(monkeypatch, locked)
    before, tmp_before = snapshot(place), snapshot(tmp_path)
    words = [
        a.format(genes=tmp_path / "genes.txt", tar=tmp_path / "x.tar", vectors=tmp_path / "v.csv")
        for a in args
    ]
    line = _expect_refused(
        run_genekb(*words, "--root", str(root)), place, before, tmp_path, tmp_before
    )
    assert any(w in line for w in ("not a directory", "permission denied", "is a file")), line
