"""Hostile input to `annotate` (the fifth sweep): gene namings the project never saw (genome
prefixes of older references, other species' symbols), tiny and mixed groups, few genes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cellmodel.knowledge.genes import require_gene_names
from genekb.errors import UsageError
from tests.conftest import blobs, one_line_error, run_cellmodel


@pytest.mark.parametrize(
    ("names", "selects", "example"),
    [(["hg19_CD3E", "hg19_LYZ", "hg19_MS4A1"], "startswith('hg19_')", "'hg19_CD3E' -> 'CD3E'"),
     (["mm10___Cd3e", "mm10___Lyz2", "GRCh38_CD3E"], "startswith('mm10___')",
      "'mm10___Cd3e' -> 'Cd3e'")],
)  # fmt: skip
def test_the_genome_prefix_fix_names_the_files_own_prefix(
    names: list[str], selects: str, example: str
) -> None:
    # An hg19_ file was told to keep adata.var_names.str.startswith('GRCh38_'): copied, that
    # kept no gene at all, and the next run said "0 genes".
    with pytest.raises(UsageError) as caught:
        require_gene_names(names, None, "annotate")
    said = str(caught.value)
    assert selects in said and example in said and "GRCh38_'" not in said.replace(example, "")


def _named(adata: object, fake_spec: object) -> dict[str, tuple[str | None, list[str]]]:
    from cellmodel.annotate import annotate, report_of
    from tests.test_annotate import ALPHA, BETA, DELTA, _planted, _TextEncoder

    named = annotate(
        adata, _planted(fake_spec), groupby="kind", candidates=[BETA, ALPHA, DELTA], n_markers=5,
        top_k=2, n_background=200, load_encoder=_TextEncoder, model="fake", copy=True,
    )  # fmt: skip
    return {e["group"]: (e["label"], e["markers"]) for e in report_of(named)["groups"]}


@pytest.mark.filterwarnings("ignore::genekb.errors.GenekbWarning")
def test_a_group_too_small_to_name_moves_no_other_groups_markers(fake_spec: object) -> None:
    # Two delta cells given a group of their own ('stray', too small to name) outranked the
    # delta group in SST and HHEX, which then were no delta markers: the delta group lost its
    # name. On pbmc68k three such cells renamed 6 of the 10 groups (CD8 T cells 'T-helper 1').
    import pandas as pd

    from tests.test_annotate import _islets

    adata = _islets()
    before = _named(adata, fake_spec)
    kinds = adata.obs["kind"].astype(str).to_numpy()
    stray = np.flatnonzero(kinds == "d")[:2]
    kinds[stray] = "stray"
    adata.obs["kind"] = pd.Categorical(kinds)
    adata.X[np.ix_(stray, adata.var_names.isin(["SST", "HHEX"]))] = 400.0
    after = _named(adata, fake_spec)
    assert after["stray"] == (None, [])
    # the two cells fewer leave the delta group's filler genes in another order
    assert {k: (v[0], v[1][:2]) for k, v in after.items() if k in before} == {
        k: (v[0], v[1][:2]) for k, v in before.items()
    }


ZEBRAFISH = ["cd74a", "cd79a", "ptprca", "mpx", "lyz", "cd3e", "cd4-1", "rag1", "mhc2dab", "spi1b",
             "lck", "il7r", "gata1a", "hbba1", "marco", "mfap4"]  # fmt: skip


def test_zebrafish_style_names_are_said_to_be_perhaps_zebrafish() -> None:
    # Read as human symbols with "gene names of no telling case read as human symbols (8 human,
    # 7 mouse)": half of a zebrafish file's genes dropped, not a word on orthologs; names that
    # read as no species ('si:ch211-…') were pointed to --taxon human|mouse alone.
    from cellmodel.knowledge.genes import read_gene_names

    read = read_gene_names(ZEBRAFISH)
    assert read.taxon == "human" and "zebrafish's genes are named in lower case" in read.note
    with pytest.raises(UsageError, match=r"as zebrafish's are\?\); map the genes to human or"):
        require_gene_names([f"si:ch211-{i}" for i in range(20)], None, "annotate")
    # a lower-cased human file reads as before, without the hint
    human = [g.lower() for g in ["CD3E", "CD19", "LYZ", "NKG7", "MS4A1", "GNLY", "CD14", "INS"]]
    assert "zebrafish" not in read_gene_names(human).note


def test_a_group_walked_away_from_its_best_terms_kind_records_it() -> None:
    # A 50/50 mix of pbmc68k's B and NK cells: its markers the NK cells', every ranking's best
    # 'mature natural killer cell'; the B-cell genes kept the walk out of the NK kind and it was
    # called 'mature B cell', its why "7 terms within 0.25 of the best", nothing on stderr.
    from cellmodel.annotate import lineage, ontology

    ids = [c.cl_id for c in ontology.from_ontology(subtree="CL:0000542")]  # lymphocytes
    row = np.full(len(ids), 0.0)
    row[ids.index("CL:0000824")], row[ids.index("CL:0000623")] = 5.5, 5.0  # NK cells lead
    genes = {"hematopoietic": 0.8, "lymphocyte": 0.7, "B cell": 0.7, "innate lymphoid": 0.3}
    walk = lineage.Walker(ids).walk(row, genes)
    assert walk.kinds[-1] == "B cell" and walk.overruled == "innate lymphoid"
    assert "best-ranked term CL:0000824 is of the innate lymphoid kind" in walk.why
    assert walk.to_dict()["overruled"] == "innate lymphoid"
    # the NK genes as strong as the B genes: no gate, no note
    assert lineage.Walker(ids).walk(row, {**genes, "innate lymphoid": 0.7}).overruled is None


def _ensembl_ids(taxon: str, n: int) -> list[str]:
    from genekb.sources.bundled import load_bundled

    column = load_bundled(taxon).table.column("ensembl").to_pylist()
    return [e[0] for e in column if e][:n]


def test_human_ensembl_ids_given_a_mouse_taxon_are_refused(tmp_path: Path) -> None:
    # pbmc68k by ENSG ids with --taxon mouse: "read as mouse genes as asked", 5% matched, and
    # monocytes, NK cells and dendritic cells were named alveolar and ciliated epithelial cells.
    human = _ensembl_ids("human", 40)
    with pytest.raises(UsageError, match=r"taxon=mouse is given, but 40 of 40 gene names are"):
        require_gene_names(human, "mouse", "annotate")
    with pytest.raises(UsageError, match="pass taxon=mouse, or leave taxon= out"):
        require_gene_names(_ensembl_ids("mouse", 40), "human", "annotate")
    # as before: a barnyard matrix's own species kept as asked, ids of the asked species read
    assert require_gene_names(human + _ensembl_ids("mouse", 30), "mouse", "annotate") == "mouse"
    assert require_gene_names(human, "human", "annotate") == "human"
    cells = tmp_path / "cells.h5ad"
    adata = blobs(20, dim=40, counts=True)
    adata.var_names = human
    adata.write_h5ad(cells)
    args = ["annotate", str(cells), "--groupby", "group", "--root", str(tmp_path / "store")]
    said = one_line_error(run_cellmodel(*args, "--taxon", "mouse"), 2)
    assert "--taxon mouse is given, but 40 of 40" in said and "pass --taxon human" in said
