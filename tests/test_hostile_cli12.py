"""Hostile input to both command lines, twelfth sweep: the command line as the shell treats it.
An empty path (an unset variable), a stdout or stderr the shell closed, a reader that left the
pipe early, and a terminal that cannot show every character."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import one_line_error, run_cellmodel, run_genekb

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    ("app", "args", "flag"),
    [
        (run_cellmodel, ["cluster", "cells.h5ad", "-o", "out.h5ad", "--plots", ""], "--plots"),
        (run_cellmodel, ["bench", "--datasets", "nosuch", "--out", ""], "--out"),
        (run_cellmodel, ["explain", "cells.h5ad", "--root="], "--root"),
        (run_cellmodel, ["cluster", ""], "SOURCE"),
        (run_cellmodel, ["classify", "c.h5ad", "--label-key", "g", "--reference="], "--reference"),
        (run_genekb, ["list", "--root", ""], "--root"),
        (run_genekb, ["build", "--genes="], "--genes"),
        (run_genekb, ["import", ""], "FILE"),
        (run_genekb, ["keys", "new", "--out", ""], "--out"),
    ],
)
def test_an_empty_path_is_a_usage_error_not_the_current_folder(
    tmp_path, monkeypatch, app, args, flag
):
    # Path("") is ".": `--plots ""` wrote the pictures into the current folder and `bench --out ""`
    # its tables there, `--root ""` took $GENEKB_HOME, `keys new --out ""` failed with
    # "unexpected ValueError", and an empty input was called "not a 10x matrix folder".
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GENEKB_HOME", str(tmp_path / "home"))
    line = one_line_error(app(*args), code=2)
    assert f"{flag}: it is empty; give a path" in line
    assert list(tmp_path.iterdir()) == []
