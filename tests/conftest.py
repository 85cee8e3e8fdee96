from __future__ import annotations

import os

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
