"""Gene names as real files write them: HGNC mitochondrial names, make-unique suffixes, upper-cased
mouse symbols, genome prefixes of multi-species references, other species' gene ids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import genekb.sources.bundled as bundled
from cellmodel.knowledge.genes import (
    GeneNameFormWarning,
    match_genes,
    read_gene_names,
    require_gene_names,
)
from cellmodel.knowledge.orthologs import bundled_index
from genekb.errors import UsageError
from tests.conftest import blobs, one_line_error
from tests.conftest import run_cellmodel as run

needs_both = pytest.mark.skipif(
    not {"human", "mouse"} <= set(bundled.available_taxa()),
    reason="bundled human and mouse snapshots are not both installed",
)

# HGNC's 37 mitochondrial genes, as GENCODE, Cell Ranger and CELLxGENE name them.
HGNC_MITO = [
    *(f"MT-ND{i}" for i in ("1", "2", "3", "4", "4L", "5", "6")),
    "MT-CO1", "MT-CO2", "MT-CO3", "MT-ATP6", "MT-ATP8", "MT-CYB", "MT-RNR1", "MT-RNR2",
    *(f"MT-T{a}" for a in ("A", "C", "D", "E", "F", "G", "H", "I", "K", "L1", "L2")),
    *(f"MT-T{a}" for a in ("M", "N", "P", "Q", "R", "S1", "S2", "T", "V", "W", "Y")),
]  # fmt: skip


def _symbols(taxon: str, n: int, seed: int = 0) -> list[str]:
    table = bundled.load_bundled(taxon).table.to_pandas()
    coding = table.loc[table["gene_type"] == "protein-coding", "symbol"].to_numpy()
    return [str(s) for s in np.random.default_rng(seed).choice(coding, n, replace=False)]


@needs_both
def test_hgnc_mitochondrial_names_reach_the_mitochondrial_genes() -> None:
    found = bundled_index("human").resolve(HGNC_MITO)
    ids = found["gene_id"].tolist()
    # NCBI numbers the mitochondrial genome's 37 genes 4508..4579; MT-CO2 is COX2 (4513), not
    # the pseudogene MTCO2P12 whose alias it is.
    assert len(set(ids)) == 37 and all(4508 <= g <= 4579 for g in ids), found
    assert ids[HGNC_MITO.index("MT-CO2")] == 4513
    # Mouse names them as symbols already, so upper-cased ones stay with the mouse genes.
    assert bundled_index("mouse").resolve_one("MT-CO1") == bundled_index("mouse").resolve_one(
        "mt-Co1"
    )


STORE = pd.DataFrame(
    {
        "gene_id": np.array([6905, 916, 7080, 7079], dtype=np.int64),
        "symbol": ["TBCE", "CD3E", "NKX2-1", "NKX2"],
        "aliases": [[], [], [], []],
        "ensembl": [[], [], [], []],
    }
)


def test_names_made_unique_match_the_gene_they_repeat() -> None:
    names = ["TBCE", "CD3E", "TBCE-1", "TBCE-2", "NKX2", "NKX2-1", "CD3D-1", "LYZ"]
    m = match_genes(names, STORE, store_taxon="human", data_taxon="human")
    assert m.gene_ids.tolist() == [6905, 916, 6905, 6905, 7079, 7080, -1, -1]
    # "NKX2-1" is a gene of its own; "CD3D-1" has no "CD3D" beside it, so no renaming is assumed.
    assert m.report.by_route == {"symbol": 4, "made-unique": 2}
    assert m.report.unmatched == ["CD3D-1", "LYZ"]


@needs_both
def test_upper_cased_mouse_symbols_read_as_mouse_with_a_notice() -> None:
    mouse = [s.upper() for s in _symbols("mouse", 600)]
    with pytest.warns(GeneNameFormWarning, match="upper-case gene names read as mouse genes"):
        assert require_gene_names(mouse, None, "annotate") == "mouse"
    assert read_gene_names(mouse, "human").taxon == "human"  # a given taxon is obeyed
    human = bundled.load_bundled("human").table.to_pandas()
    h = human.loc[human["gene_type"] == "protein-coding", ["gene_id", "symbol"]]
    store = h.assign(aliases=None, ensembl=None)
    as_mouse = match_genes(mouse, store, store_taxon="human", data_taxon="mouse").report
    as_human = match_genes(mouse, store, store_taxon="human", data_taxon="human").report
    assert as_mouse.by_route == {"ortholog": as_mouse.n_matched}
    assert as_mouse.match_rate > as_human.match_rate + 0.1, (as_mouse, as_human)
    # Human files keep reading as human: all of the human table's kinds of genes.
    assert read_gene_names(_symbols("human", 600)) == read_gene_names(["CD3E", "LYZ", "MS4A1"])
    everything = human["symbol"].sample(3000, random_state=0).tolist()
    assert read_gene_names(everything).taxon == "human"


BARNYARD = [f"GRCh38_{s}" for s in ("CD3E", "LYZ", "MS4A1", "GAPDH", "ACTB", "INS")] + [
    f"mm10___{s}" for s in ("Cd3e", "Lyz2", "Actb", "Gcg")
]


def test_genome_prefixes_are_named_and_refused_whatever_the_taxon() -> None:
    read = read_gene_names(BARNYARD, "human")
    assert read.taxon is None and "GRCh38_ 6, mm10___ 4" in read.note
    with pytest.raises(UsageError, match=r"genome prefixes.*strip the prefix") as caught:
        require_gene_names(BARNYARD, "human", "annotate")
    assert "taxon=" not in str(caught.value).split(";")[-1]
    old = [f"hg19_{s}" for s in ("CD3E", "LYZ", "MS4A1")] + ["mm10_Cd3e", "mm10_Actb"]
    assert "hg19_ 3, mm10_ 2" in read_gene_names(old).note


def test_another_species_gene_ids_are_named_with_the_way_out() -> None:
    zebrafish = [f"ENSDARG{i:011d}" for i in range(8)] + ["ENSG00000141510", "x"]
    for taxon in (None, "human"):  # a taxon given makes them no human genes either
        read = read_gene_names(zebrafish, taxon)
        assert read.taxon is None and "zebrafish gene ids (8 of 10 are ENSDARG" in read.note
    with pytest.raises(UsageError, match=r"zebrafish.*orthologs.*gene_key=COLUMN"):
        require_gene_names(zebrafish, None, "annotate")
    rat = [f"ENSRNOG{i:011d}.2" for i in range(6)]
    assert "rat gene ids" in read_gene_names(rat).note
    assert "fruit fly" in read_gene_names([f"FBgn{i:07d}" for i in range(6)]).note
    # human ids with a few of another species' stay human
    human = [f"ENSG{i:011d}" for i in range(6)] + ["ENSDARG00000000001"]
    assert "zebrafish" not in read_gene_names(human).note


def test_cli_embed_refuses_a_barnyard_matrix_in_one_line(tmp_path: Path) -> None:
    adata = blobs(10, dim=len(BARNYARD), counts=True)
    adata.var_names = BARNYARD
    path = tmp_path / "hgmm.h5ad"
    adata.write_h5ad(path)
    args = ("embed", str(path), "-o", str(tmp_path / "x.h5ad"), "--root", str(tmp_path / "s"))
    line = one_line_error(run(*args, "--taxon", "human"), 2)
    assert "multi-genome reference" in line and "strip the prefix" in line


def test_explain_matches_as_the_run_read_the_species(tmp_path: Path) -> None:
    from cellmodel.embed import embed
    from cellmodel.explain import explain
    from tests.fakes import FakeEmbedding
    from tests.fakes import OneVersionStore as _Store

    # Upper-case names vote human; the run was told they are mouse genes of a mouse version.
    cells = blobs(30, dim=30, counts=True)
    cells.var_names = [f"GENE{i}" for i in range(30)]
    ev = FakeEmbedding(tmp_path, [f"GENE{i}" for i in range(30)])
    ev.taxon = 10090
    embed(cells, ev, taxon="mouse", sentence_top_n=0, n_hvg=30)
    cells.obs["cellmodel_cluster"] = pd.Categorical(cells.obs["group"].astype(str))
    report = explain(cells, _Store(tmp_path, ev), top_n=5)
    assert all(entry["semantic_genes"] for entry in report["clusters"]), report["clusters"]
