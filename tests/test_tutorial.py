"""docs/tutorial.py runs end to end as a notebook (jupytext reads it, nbclient executes every
cell in a fresh ipykernel): a cell that raises fails the test. It builds its own store from the
bundled snapshot with the real minilm encoder, on pbmc68k-reduced (shipped in scanpy)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TUTORIAL = REPO / "docs" / "tutorial.py"
FIGURES = ("neighbours", "calls", "markers", "umap", "confusion", "classify")


@pytest.mark.slow
def test_the_tutorial_runs_cell_by_cell(tmp_path, monkeypatch) -> None:
    import jupytext
    import nbclient

    monkeypatch.setenv("GENEKB_HOME", str(tmp_path / "store"))
    monkeypatch.setenv("TUTORIAL_FIGURES", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the kernel imports this checkout
    notebook = jupytext.read(TUTORIAL)
    began = time.perf_counter()
    client = nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(REPO)}}
    )
    client.execute()  # raises CellExecutionError, naming the cell, when one fails
    seconds = time.perf_counter() - began
    errors = [
        out for cell in notebook.cells for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]  # fmt: skip
    assert not errors
    for name in FIGURES:
        assert (tmp_path / f"{name}.png").stat().st_size > 0, name
    print(f"tutorial: {seconds:.0f} s")
