from __future__ import annotations

import os
import threading
from pathlib import Path

import pyarrow as pa
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from genekb.records import GeneTable, Snapshot
from tests import fake_encoder

# T-cell receptor complex genes, other immune genes, and unrelated tissue genes, for checks of
# what the real encoder's neighbourhoods mean.
TCELL_PANEL = [
    "CD3E", "CD3D", "CD3G", "CD247", "CD4", "CD8A", "CD19", "MS4A1", "CD14", "LYZ",
    "INS", "GCG", "ALB", "HBB", "KRT18", "COL1A1", "MYH7", "TTN", "ACTB", "GAPDH",
]  # fmt: skip

# CD3E as NCBI Gene names and places it: the ncbi and orgdb sources' rows for it both begin so.
CD3E_IDENTITY = {
    "gene_id": 916,
    "taxon": 9606,
    "symbol": "CD3E",
    "name": "CD3 epsilon subunit of T-cell receptor complex",
    "gene_type": "protein-coding",
    "map_location": "11q23.3",
}


@pytest.fixture(scope="session", autouse=True)
def fake_spec():
    return fake_encoder.install()


def make_genes(
    n: int = 40, taxon: int = 9606, date: str = "2024-01-01", rename: dict | None = None
):
    """A small synthetic GeneTable in GENE_SCHEMA (the names carry no biology)."""
    rename = rename or {}
    rows = {
        "gene_id": list(range(1, n + 1)),
        "taxon": [taxon] * n,
        "symbol": [f"GENE{i}" for i in range(1, n + 1)],
        "name": [rename.get(i, f"test gene number {i}") for i in range(1, n + 1)],
        "gene_type": ["protein-coding"] * n,
        "map_location": [f"{i % 22 + 1}q1{i % 9}" for i in range(1, n + 1)],
        "aliases": [[f"ALIAS{i}"] for i in range(1, n + 1)],
        "ensembl": [[f"ENSG{i:011d}"] for i in range(1, n + 1)],
        "summary": [None] * n,
        "go_bp": [["process a", "process b"] if i % 2 else [] for i in range(1, n + 1)],
        "go_mf": [[] for _ in range(n)],
        "go_cc": [["membrane"] for _ in range(n)],
    }
    snapshot = Snapshot(
        source="test",
        taxon=taxon,
        date=date,
        description="synthetic test genes",
        details={"rename": sorted(rename)},
    )
    return GeneTable(pa.table(rows), snapshot)


# Short fit schedules keep each fit around a second; the procedure is the same as the defaults'.
FAST_FIT = {"pretrain_steps": 60, "min_pretrain_steps": 30, "cluster_steps": 40, "hidden_dim": 64}


@pytest.fixture(scope="module")
def one_torch_thread() -> object:
    """One torch thread: on a small shared CPU, thread contention makes tiny fits ~5× slower."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def three_groups(n: int = 60, n_genes: int = 12):  # -> anndata.AnnData
    """Counts of `n` cells in three groups (obs['grp']), each with its own four genes high: a
    small file for steps whose inputs must be read as scanpy leaves them."""
    import anndata as ad
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    groups = np.arange(n) % 3
    means = np.where(np.arange(n_genes)[None] // 4 == groups[:, None], 8.0, 1.0)
    adata = ad.AnnData(
        rng.poisson(means).astype(np.float32),
        var=pd.DataFrame(index=[f"G{i}" for i in range(n_genes)]),
    )
    adata.obs_names = [f"c{i}" for i in range(n)]
    adata.obs["grp"] = pd.Categorical(np.array(["a", "b", "c"])[groups])
    return adata


def blobs(
    sizes: int | dict[str, int] = 60,
    *,
    n_classes: int = 3,
    dim: int = 20,
    spread: float = 1.0,
    radius: float | None = 10.0,
    seed: int = 0,
    counts: bool = False,
):
    """Well separated groups of cells, the one synthetic data set of the tests.

    `sizes`: cells per group, an int for `n_classes` groups named 0, 1, … (integer labels) or a
    dict of group name → size (string labels). Gaussian blobs in `dim` dimensions, centres at
    `radius` from the origin (None: centres drawn with standard deviation 3), noise `spread`;
    returns (X float32, labels). `counts=True`: instead an AnnData of Poisson counts over `dim`
    genes in which each group over-expresses its own block of genes, with labels in
    obs["group"] (categorical).
    """
    import anndata as ad
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    names = list(sizes) if isinstance(sizes, dict) else list(range(n_classes))
    per = list(sizes.values()) if isinstance(sizes, dict) else [sizes] * n_classes
    labels = np.concatenate([[name] * n for name, n in zip(names, per, strict=True)])
    codes = np.repeat(np.arange(len(names)), per)
    if counts:
        means = np.full((len(names), dim), 1.0)
        block = dim // len(names)
        for g in range(len(names)):
            means[g, g * block : (g + 1) * block] = 12.0
        adata = ad.AnnData(
            rng.poisson(means[codes]).astype(np.float32),
            var=pd.DataFrame(index=[f"G{i}" for i in range(dim)]),
        )
        adata.obs_names = [f"c{i}" for i in range(adata.n_obs)]
        adata.obs["group"] = pd.Categorical(labels.astype(str))
        return adata
    centres = rng.standard_normal((len(names), dim))
    if radius is None:
        centres *= 3.0
    else:
        centres = radius * centres / np.linalg.norm(centres, axis=1, keepdims=True)
    X = centres[codes] + spread * rng.standard_normal((len(codes), dim))
    return X.astype(np.float32), labels


def feed_fifo(path: Path, payload: bytes) -> Path:
    """A named pipe at `path` that a background thread fills with `payload` (a reader's pipe)."""
    os.mkfifo(path)

    def feed() -> None:
        with path.open("wb") as fh:
            fh.write(payload)

    threading.Thread(target=feed, daemon=True).start()
    return path


def run_genekb(*args: str):
    """`genekb ARGS` through Typer's test runner (stdout and stderr kept apart)."""
    from typer.testing import CliRunner

    from cli.genekb_app import app

    return CliRunner().invoke(app, list(args))


def run_cellmodel(*args: str):
    """`cellmodel ARGS` through Typer's test runner (stdout and stderr kept apart)."""
    from typer.testing import CliRunner

    from cli.cellmodel_app import app

    return CliRunner().invoke(app, list(args))


def one_line_error(result, code: int = 1) -> str:
    """The single `error:` line a failed command printed, after checking its exit code."""
    assert result.exit_code == code, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    # A heartbeat ("…: still working, 10 s") is progress, not a second message: a refusal that
    # comes after a slow step on a loaded machine follows one.
    lines = [ln for ln in result.stderr.splitlines() if ln.strip() and "still working, " not in ln]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    return lines[0]


@pytest.fixture
def encoder_registry():
    """The encoder registry, restored after the test (for tests that register specs)."""
    from genekb.encoders import registry

    specs, backends = dict(registry._SPECS), dict(registry.BACKENDS)
    yield registry
    registry._SPECS.clear()
    registry._SPECS.update(specs)
    registry.BACKENDS.clear()
    registry.BACKENDS.update(backends)


def mount_read_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every store as on a read-only mount: its files read, but no lock file, folder or file can
    be made (EROFS, as `mount -o ro` answers; root would pass any permission bits)."""
    import errno

    import genekb.store.locks as locks

    class ReadOnlyLock(locks.FileLock):
        def acquire(self, *args, **kwargs):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), self.lock_file)

    monkeypatch.setattr(locks, "FileLock", ReadOnlyLock)
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: mode != os.W_OK and real_access(p, mode))
