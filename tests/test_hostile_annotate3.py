"""Hostile input to `annotate` (the third sweep): a key_added that names the cells' index, an
obsolete CL id or an id given as the tissue word, many groups left unnamed at once, and a group
whose only higher genes are mitochondrial."""

from __future__ import annotations

import warnings
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from cellmodel.annotate import annotate
from cellmodel.annotate.ontology import from_ontology, from_user
from cellmodel.annotate.tissue_words import _singular
from genekb.errors import GenekbError, GenekbWarning, UsageError
from tests.conftest import run_cellmodel
from tests.test_annotate import ALPHA, BETA, DELTA, _islets, _planted, _TextEncoder

pytestmark = pytest.mark.filterwarnings(
    "ignore::cellmodel.annotate.signatures.UncheckedLineageWarning"
)
CANDIDATES = ["CL:0000169", "CL:0000171", "CL:0000173"]


def _annotate(adata: ad.AnnData, fake_spec: object, **extra: object) -> ad.AnnData:
    return annotate(
        adata, _planted(fake_spec), groupby="kind", candidates=[BETA, ALPHA, DELTA],
        n_markers=5, top_k=2, n_background=200, load_encoder=_TextEncoder, model="fake", **extra,
    )  # fmt: skip


@pytest.mark.parametrize(("index_name", "key"), [("cell_id", "cell_id"), (None, "_index")])
def test_a_key_added_naming_the_cells_index_is_refused_before_any_work(
    fake_spec: object, tmp_path: Path, index_name: str | None, key: str
) -> None:
    # In memory the whole run went through, then writing the file failed ("unexpected
    # ValueError"); out of core the written file's cell names were replaced by the labels.
    adata = _islets()
    adata.obs.index.name = index_name
    with pytest.raises(UsageError, match=f"key_added='{key}' would write obs"):
        _annotate(adata, fake_spec, key_added=key)
    pytest.importorskip("dask")
    from cellmodel.chunked.annotate import annotate_h5ad

    source, output = tmp_path / "cells.h5ad", tmp_path / "out.h5ad"
    adata.write_h5ad(source)
    with pytest.raises(UsageError, match="the name under which the file keeps the cell names"):
        annotate_h5ad(
            source, _planted(fake_spec), output=output, groupby="kind", candidates=CANDIDATES,
            key_added=key, model="fake", load_encoder=_TextEncoder, chunk_size=30, workers=1,
        )  # fmt: skip
    assert not output.exists()


@pytest.mark.parametrize(
    ("subtree", "says"),
    [("CL:0000003", r"'CL:0000003' is obsolete in CL v[\d-]+ \(replaced by CL:0000000 cell\)"),
     ("CL:0000004", r"'CL:0000004' is obsolete in CL v[\d-]+; give a live CL id")],
)  # fmt: skip
def test_an_obsolete_subtree_is_named_obsolete(subtree: str, says: str) -> None:
    # was "'CL:0000003' names no Cell Ontology term; give a CL id or an exact label": it is one
    with pytest.raises(UsageError, match=says):
        from_ontology(subtree=subtree)
    with pytest.raises(GenekbError, match=says.split(";")[0]):
        from_user([subtree, "B cell", "T cell"])


@pytest.mark.parametrize("tissue", ["CL:0000169", "UBERON:0001264", "uberon_0001264"])
def test_an_id_given_as_the_tissue_word_says_what_tissue_takes(tissue: str) -> None:
    # was "the Cell Ontology restriction (tissue=...) leaves 0 term(s); widen it"
    with pytest.raises(UsageError, match="is an id; tissue= takes a word of the terms' text"):
        from_ontology(tissue=tissue)


def _exact(adata: ad.AnnData) -> ad.AnnData:
    """The islets without noise: each gene at its group's mean, so no gene is higher by chance."""
    kinds = adata.obs["kind"].to_numpy()
    X = np.full(adata.shape, 3.0, dtype=np.float32)
    for kind, genes in (("b", ["INS", "IAPP"]), ("a", ["GCG", "TTR"]), ("d", ["SST", "HHEX"])):
        X[np.ix_(kinds == kind, adata.var_names.isin(genes))] = 40.0
    adata.X = X
    return adata


def test_many_groups_left_unnamed_for_one_reason_are_one_warning(fake_spec: object) -> None:
    # Each kind split into three identical groups: none has a gene higher than its twins. With
    # 200 groups of a clustering this was one warning line per group (185 lines on stderr).
    adata = _exact(_islets())
    adata.obs["kind"] = pd.Categorical([f"{k}{i % 3}" for i, k in enumerate(adata.obs["kind"])])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _annotate(adata, fake_spec)
    said = [str(w.message) for w in caught if "left unassigned" in str(w.message)]
    assert len(said) == 1, said
    assert said[0].startswith("groups 'a0', 'a1', 'a2', 'b0', 'b1', 'b2', 'd0', 'd1', 'd2' of")


def test_a_group_higher_only_in_mitochondrial_genes_is_said_to_be_so(fake_spec: object) -> None:
    # was "no gene with a gene card is higher in it", beside MT-CO1 at a hundred times the rest
    adata = _exact(_islets())
    adata.X[np.ix_(adata.obs["kind"].to_numpy() == "a", adata.var_names.isin(["GCG", "TTR"]))] = 3
    mito = np.where((adata.obs["kind"] == "a").to_numpy()[:, None], 400.0, 3.0).astype(np.float32)
    both = ad.AnnData(np.hstack([adata.X, np.repeat(mito, 2, axis=1)]), obs=adata.obs)
    both.var_names = [*adata.var_names, "MT-CO1", "MT-ND1"]
    says = "group 'a' of obs\\['kind'\\] left unassigned: only mitochondrial genes are higher in it"
    with pytest.warns(GenekbWarning, match=says):
        named = _annotate(both, fake_spec)
    assert (named.obs["cellmodel_annotation"][named.obs["kind"] == "a"] == "unassigned").all()


def test_a_cell_without_counts_gets_no_per_cell_call(fake_spec: object) -> None:
    # Every signature scores 0 on an empty cell, and the tie went to the first label: the empty
    # droplets of an unnamed group, and an empty cell among named ones, were called alpha cells.
    adata = _islets()
    adata.X[(adata.obs["kind"] == "d").to_numpy()] = 0
    adata.X[0] = 0
    with pytest.warns(GenekbWarning, match="group 'd' of obs\\['kind'\\] left unassigned: its 30"):
        out = _annotate(adata, fake_spec, per_cell=True)
    empty = adata.X.sum(axis=1) == 0
    assert (out.obs["cellmodel_annotation_cell"][empty] == "unassigned").all()
    assert out.obs["cellmodel_annotation_cell_score"][empty].isna().all()
    assert (out.obs["cellmodel_annotation_cell"][~empty] != "unassigned").all()


def test_plots_of_groups_none_of_which_has_a_marker_draw_the_calls_alone(tmp_path: Path) -> None:
    # The run went through, drew calls.png, then failed on the dot plot ("none of the report's
    # genes is named in the data; pass the AnnData that was annotated"): exit 1, no report, no -o.
    from cellmodel import pl

    adata = _islets()
    adata.X[:] = 5.0  # no gene tells the groups apart
    source, output, plots = tmp_path / "cells.h5ad", tmp_path / "out.h5ad", tmp_path / "plots"
    adata.write_h5ad(source)
    args = ["annotate", str(source), "--groupby", "kind", "--root", str(tmp_path / "store")]
    args += ["--model", "fake", "--candidates", ";".join(CANDIDATES), "-o", str(output)]
    result = run_cellmodel(*args, "--plots", str(plots))
    assert result.exit_code == 0, result.output
    assert "--plots: no markers.png: no group has a marker gene" in result.stderr
    assert sorted(p.name for p in plots.iterdir()) == ["calls.png"] and output.exists()
    with pytest.raises(GenekbError, match="no group of the annotation has a marker gene"):
        pl.markers(ad.read_h5ad(output), show=False)


# The fourth sweep (as a user runs it right after scanpy).


def test_a_key_added_naming_the_users_own_column_is_refused(
    fake_spec: object, tmp_path: Path
) -> None:
    # key_added='louvain' (or 'n_genes') replaced the user's clustering or QC column with the
    # names, in memory and in the written file, without a word.
    adata = _islets()
    kept = adata.obs["truth"].copy()
    with pytest.raises(UsageError, match=r"key_added='truth' would overwrite obs\['truth'\]"):
        _annotate(adata, fake_spec, key_added="truth")
    assert adata.obs["truth"].equals(kept)
    # A key whose companion column is the user's: the first run's confidence was overwritten
    adata.obs["named_confidence"] = 1.0
    with pytest.raises(UsageError, match=r"overwrite obs\['named_confidence'\]"):
        _annotate(adata, fake_spec, key_added="named")
    # scanpy's leiden: obs['leiden'] and its parameters in uns['leiden'], no annotate record
    adata.obs["leiden"] = adata.obs["kind"].astype(str)
    adata.uns["leiden"] = {"params": {"resolution": 1.0}}
    with pytest.raises(UsageError, match=r"would overwrite obs\['leiden'\]"):
        _annotate(adata, fake_spec, key_added="leiden")
    adata.uns["neighbors"] = {"params": {"n_neighbors": 15}}
    with pytest.raises(UsageError, match=r"would overwrite uns\['neighbors'\], which another"):
        _annotate(adata, fake_spec, key_added="neighbors")
    assert adata.uns["neighbors"] == {"params": {"n_neighbors": 15}}
    # The default key's columns are annotate's by name, with no record (sc.concat drops uns)
    adata.obs["cellmodel_annotation"] = "old"
    assert (_annotate(adata, fake_spec).obs["cellmodel_annotation"] != "old").all()
    # A run again under its own key replaces its own columns, as before
    for _ in range(2):
        _annotate(adata, fake_spec, key_added="again")
    pytest.importorskip("dask")
    from cellmodel.chunked.annotate import annotate_h5ad

    source, output = tmp_path / "cells.h5ad", tmp_path / "out.h5ad"
    adata.write_h5ad(source)
    for key, says in (("leiden", r"obs\['leiden'\]"), ("neighbors", r"uns\['neighbors'\]")):
        with pytest.raises(UsageError, match=f"would overwrite {says}"):
            annotate_h5ad(
                source, _planted(fake_spec), output=output, groupby="kind", candidates=CANDIDATES,
                key_added=key, model="fake", load_encoder=_TextEncoder, chunk_size=30, workers=1,
            )  # fmt: skip
    assert not output.exists()


@pytest.mark.parametrize("tissue", ["T", "cell", "the"])
def test_a_tissue_word_most_terms_begin_a_word_with_is_refused(tissue: str) -> None:
    # --tissue T kept 3105 of 3324 terms: no restriction, and 4 minutes embedding their texts
    with pytest.raises(UsageError, match=f"tissue='{tissue}' begins a word in the text of"):
        from_ontology(tissue=tissue)
    assert 2 <= len(from_ontology(tissue="pancrea")) < 100  # a word's start still reads


def test_symbols_with_a_version_suffix_are_said_to_carry_one() -> None:
    # was "only 0.0% of the gene names are human genes (feature ids or another species' names?)"
    from cellmodel.knowledge.genes import require_gene_names

    names = [f"{g}.1" for g in ["CD3E", "CD19", "LYZ", "NKG7", "MS4A1", "GNLY", "CD14", "INS"]]
    with pytest.raises(UsageError, match=r"8 of 8 gene names end in a version's suffix \('CD3E.1'"):
        require_gene_names(names, None, "annotate")
    assert require_gene_names(["ENSG00000198851.12", "ENSG00000177455.9"], None, "x") == "human"


def test_ensembl_ids_of_human_and_mouse_in_one_matrix_are_refused() -> None:
    # A barnyard matrix: 400 ENSMUSG outvoted 298 ENSG, the human genes (all the signal) were
    # dropped without a word, and PBMC T cells were named motor neurons.
    from cellmodel.knowledge.genes import require_gene_names
    from genekb.sources.bundled import load_bundled

    def ids(taxon: str, n: int) -> list[str]:
        column = load_bundled(taxon).table.column("ensembl").to_pylist()
        return [e[0] for e in column if e][:n]

    human, mouse = ids("human", 30), ids("mouse", 40)
    with pytest.raises(UsageError, match=r"Ensembl ids of two species \(30 human ENSG…, 40 mouse"):
        require_gene_names(human + mouse, None, "annotate")
    assert require_gene_names(human + mouse, "human", "annotate") == "human"  # as asked
    assert require_gene_names(human + mouse[:2], None, "annotate") == "human"  # a few strays


@pytest.mark.parametrize(
    ("plural", "singular"),
    [("kidneys", "kidney"), ("lymph nodes", "lymph node"), ("islets", "islet")],
)
def test_a_plural_tissue_word_reads_as_its_singular(plural: str, singular: str) -> None:
    # --tissue kidneys kept the 3 terms whose text writes "kidneys" ('granzyme K-associated CD8 T
    # cell' among them) of the 119 that name the kidney, and named kidney cells from those
    def labels(word: str) -> list[str]:
        return [c.label for c in from_ontology(tissue=word)]

    assert labels(plural) == labels(singular)
    # 'pancreas' is no plural (it now also reads its adjective, 'pancreatic': test_new_user14)
    assert _singular("pancreas") == "pancreas" and _singular("thymus") == "thymus"


@pytest.mark.parametrize(("subtree", "root"), [("PBMC", "CL:0000738"), ("blood", "CL:0000988")])
def test_a_sample_type_as_the_subtree_reads_as_it_does_as_the_tissue(
    subtree: str, root: str
) -> None:
    # --subtree PBMC took the CL term 'peripheral blood mononuclear cell', whose subtree holds 3
    # terms and no B, T or NK cell; --subtree blood 'blood cell' (42 terms, no lymphocyte)
    from cellmodel.annotate.params import setup

    _, cands = setup("kind", None, subtree, None)
    assert cands.ontology_subtree == root
    assert {"B cell", "T cell", "natural killer cell"} <= {c.label for c in cands.terms}


@pytest.mark.parametrize(("taxon", "name"), [("homo_sapiens", "human"), ("Mus_musculus", "mouse")])
def test_a_binomial_written_as_ensembl_writes_it_is_a_taxon(taxon: str, name: str) -> None:
    # was "unknown taxon 'homo_sapiens'; choose one of human, mouse", though the binomial reads
    from cellmodel.knowledge.genes import taxon_name

    assert taxon_name(taxon) == name


def test_a_gene_key_only_x_holds_when_raw_is_read_says_so() -> None:
    # X scaled (scanpy's HVGs), .raw the log values: .raw is read, and a gene_key of X's var
    # was "gene key 'sym' is not a var column of raw; columns: none", the user's var holding it
    from cellmodel.io import expression

    adata = _islets()
    adata.raw = ad.AnnData(
        np.log1p(adata.X), obs=adata.obs, var=pd.DataFrame(index=adata.var_names)
    )
    adata.X = adata.X - adata.X.mean(axis=0)
    adata.var["sym"] = adata.var_names
    with pytest.raises(GenekbError, match=r"'sym' is a column of var, not of raw.var .* so"):
        expression(adata, gene_key="sym")
    with pytest.raises(GenekbError, match="layer='raw' is read; leave out gene_key="):
        expression(adata, gene_key="sym", layer="raw")
    assert expression(adata).source == "raw"  # without the key, raw's own names
