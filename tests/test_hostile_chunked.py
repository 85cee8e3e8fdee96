"""Hostile situations for the out-of-core paths (`--chunk-size`): an input written by another
process while the passes read it, and a disk that fills during the write. Each ends in one line
that says what is wrong and what to do, with no output and no temporary file left."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import anndata as ad
import pytest

from cellmodel.chunked import h5, h5_out
from tests.conftest import one_line_error, run_cellmodel

pytest.importorskip("dask")


@pytest.fixture
def cells(tmp_path: Path) -> Path:
    from cellmodel.datasets.synthetic import write_synthetic_h5ad

    return write_synthetic_h5ad(tmp_path / "cells.h5ad", 60, n_genes=40, n_groups=2, seed=0)


def _embed(source: Path, out: Path, *extra: str):
    root = str(source.parent / "store")
    return run_cellmodel(
        "embed", str(source), "-o", str(out), "--chunk-size", "10", "--workers", "1",
        "--model", "fake", "--root", root, *extra,
    )  # fmt: skip


def _left(folder: Path) -> list[str]:
    """What a run left in `folder`, beside the input and the store."""
    return sorted(p.name for p in folder.iterdir() if p.name not in ("cells.h5ad", "store"))


def _error_line(result) -> str:
    """The one `error:` line of a run that failed with exit 1 (progress lines may precede it)."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def _on_open(monkeypatch: pytest.MonkeyPatch, nth: int, action) -> None:
    """Run `action` before the `nth` chunk reader opens the file (each task opens its own)."""
    opened = [0]
    original = h5.ChunkReader.__init__

    def init(self: h5.ChunkReader, ref: h5.MatrixRef) -> None:
        opened[0] += 1
        if opened[0] == nth:
            action()
        original(self, ref)

    monkeypatch.setattr(h5.ChunkReader, "__init__", init)


def test_an_input_cut_short_between_passes_is_named_as_changed(cells, monkeypatch):
    # A copy still running, or a job that rewrites the file: HDF5 then said only "Unable to
    # synchronously open file (truncated file: eof = …)", naming no file and no way out.
    out = cells.parent / "out.h5ad"
    _on_open(monkeypatch, 4, lambda: os.truncate(cells, cells.stat().st_size // 2))
    line = _error_line(_embed(cells, out))
    assert f"{cells} changed while it was being read" in line
    assert "run again once nothing else writes to it" in line
    assert _left(cells.parent) == []


def test_an_input_rewritten_before_the_copy_is_not_published(cells, monkeypatch):
    # The output is a copy of the input plus the new arrays, and embed's view pass runs after
    # the copy: a file rewritten in between (here its cells in another order) gave an output
    # whose statistics came from one file and whose view and obs from the other, with exit 0.
    out = cells.parent / "out.h5ad"
    copy = shutil.copyfile

    def rewrite_then_copy(src: str, dst: str) -> str:
        if Path(src) == cells:  # the output's copy, not a store file
            ad.read_h5ad(src)[list(range(59, -1, -1))].copy().write_h5ad(src)
        return copy(src, dst)

    monkeypatch.setattr(h5_out.shutil, "copyfile", rewrite_then_copy)
    line = _error_line(_embed(cells, out))
    assert f"{cells} changed while it was being read" in line
    assert _left(cells.parent) == []


def test_an_unchanged_input_given_as_its_own_output_is_replaced_whole(cells):
    result = _embed(cells, cells, "--force")
    assert result.exit_code == 0, result.output
    assert ad.read_h5ad(cells).obsm["X_semantic_w"].shape[0] == 60
    assert _left(cells.parent) == []


def test_a_query_cut_short_is_named_with_the_way_out(cells, tmp_path):
    # classify reads the query's record first: a file cut short was HDF5's words alone.
    out = tmp_path / "out.h5ad"
    assert _embed(cells, out).exit_code == 0
    os.truncate(out, out.stat().st_size // 2)
    result = run_cellmodel(
        "classify", str(out), "--view", "semantic", "--chunk-size", "10",
        "--reference", str(cells), "--label-key", "group", "-o", str(tmp_path / "p.h5ad"),
    )  # fmt: skip
    line = one_line_error(result)
    assert f"{out} is cut short" in line and "copy it again" in line
    assert not (tmp_path / "p.h5ad").exists()


def test_a_disk_that_fills_during_the_write_says_what_to_do(cells, monkeypatch):
    # The room is checked before the copy; another process can still take it while the arrays
    # are written. The line said only "No space left on device; nothing was written there".
    out = cells.parent / "out.h5ad"

    def full(*_args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(h5_out.ObsmWriter, "merge_uns", full)
    line = _error_line(_embed(cells, out))
    assert f"cannot write {out}: No space left on device; nothing was written there" in line
    assert line.endswith("; free some space or write elsewhere")
    assert _left(cells.parent) == []
