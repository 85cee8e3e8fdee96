"""The same file read in memory and out of core (`--chunk-size`) reads the same genes and the
same value kind; cell names and gene names are judged alike by the commands."""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from cellmodel.formats import FeaturesLeftOutWarning
from tests.fakes import FakeEmbedding

pytest.importorskip("dask")

GENES = [f"G{i}" for i in range(60)]


def _multiome(n_cells: int = 240) -> ad.AnnData:
    """Gene expression beside peaks and antibody tags, as a 10x multiome or CITE-seq file."""
    rng = np.random.default_rng(0)
    peaks = [f"chr1:{i}-{i + 500}" for i in range(40)]
    tags = [f"CD{i}_TotalSeqB" for i in range(10)]
    names = GENES + peaks + tags
    X = sp.random(n_cells, len(names), density=0.3, random_state=1, format="csr") * 20
    X.data = np.ceil(X.data).astype(np.float32)
    X[:, len(GENES) :] = X[:, len(GENES) :] * 50  # the other features' counts dwarf the genes'
    types = ["Gene Expression"] * 60 + ["Peaks"] * 40 + ["Antibody Capture"] * 10
    var = pd.DataFrame({"feature_types": types}, index=names)
    obs = pd.DataFrame(
        {"g": rng.choice(list("ab"), n_cells)}, index=[f"c{i}" for i in range(n_cells)]
    )
    return ad.AnnData(sp.csr_matrix(X, dtype=np.float32), obs=obs, var=var)


def test_out_of_core_leaves_out_peaks_and_tags_as_in_memory(tmp_path):
    from cellmodel.chunked import embed_h5ad
    from cellmodel.embed import embed

    adata = _multiome()
    path = tmp_path / "multiome.h5ad"
    adata.write_h5ad(path)
    ev = FakeEmbedding(tmp_path, list(adata.var_names), dim=32)  # every feature has a vector
    with pytest.warns(FeaturesLeftOutWarning):
        embed(adata, ev, sentence_top_n=0, n_hvg=30)
    with pytest.warns(FeaturesLeftOutWarning, match="50 features"):
        record = embed_h5ad(path, ev, output=tmp_path / "out.h5ad", chunk_size=70, n_hvg=30)
    assert record["input"]["n_genes"] == len(GENES) == adata.uns["cellmodel"]["input"]["n_genes"]
    assert record["input"]["notes"] == adata.uns["cellmodel"]["input"]["notes"]
    out = ad.read_h5ad(tmp_path / "out.h5ad").obsm["X_semantic_w"]
    assert np.abs(out - adata.obsm["X_semantic_w"]).max() <= 1e-5


def _counts_with_a_few_fractions(tmp_path) -> tuple[ad.AnnData, str]:
    """Counts over more values than one sample reads, a few fractional ones among them, placed
    between the runs an evenly spaced sample of values read."""
    n_cells, n_genes = 1200, 1000
    X = np.random.default_rng(2).integers(1, 60, size=(n_cells, n_genes)).astype(np.float32)
    X[600, 7] = 2.5  # halfway through the stored values, between two sampled runs
    X[601, 9] = 0.25
    adata = ad.AnnData(sp.csr_matrix(X))
    adata.obs_names = [f"c{i}" for i in range(n_cells)]
    adata.var_names = [f"G{i}" for i in range(n_genes)]
    path = tmp_path / "fractions.h5ad"
    adata.write_h5ad(path)
    return adata, str(path)


def test_value_kind_is_the_same_in_memory_and_out_of_core(tmp_path):
    from cellmodel.chunked import h5
    from cellmodel.chunked.embed import value_kind
    from cellmodel.io import expression

    adata, path = _counts_with_a_few_fractions(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        in_memory = expression(adata).kind
    _, out_of_core, _ = value_kind(h5.pick(path, None), None)
    assert in_memory == out_of_core == "other"  # linear values, as in memory, in both


def _cells_named_twice() -> ad.AnnData:
    """Two samples joined by sc.concat without index_unique=: each barcode twice."""
    X = np.random.default_rng(3).poisson(2, (120, 60)).astype(np.float32)
    adata = ad.AnnData(sp.csr_matrix(X), var=pd.DataFrame(index=GENES))
    adata.obs_names = [f"c{i % 60}" for i in range(120)]
    adata.obs["g"] = pd.Categorical(["x", "y", "z"] * 40)
    return adata


@pytest.mark.parametrize("command", ["cluster", "embed", "classify", "annotate", "refine"])
def test_cells_named_twice_are_refused_alike_by_each_command_that_writes_per_cell(
    tmp_path, command
):
    import cellmodel as cm
    from cellmodel.annotate import annotate
    from cellmodel.classify.pipeline import classify_cells
    from cellmodel.embed import embed
    from cellmodel.refine import refine
    from genekb.errors import GenekbError

    adata = _cells_named_twice()
    calls = {
        "cluster": lambda: cm.tl.cluster(adata, n_clusters=3, use_semantic=False),
        "embed": lambda: embed(adata, FakeEmbedding(tmp_path, GENES), sentence_top_n=0),
        "classify": lambda: classify_cells(adata, label_key="g", train_fraction=0.5, view="pca"),
        "annotate": lambda: annotate(adata, None, groupby="g"),
        "refine": lambda: refine(adata),
    }
    with pytest.raises(GenekbError, match="occur more than once") as caught:
        calls[command]()
    assert str(caught.value).endswith("make them unique first (adata.obs_names_make_unique())")


def _ids_and_symbols(n: int = 300, retired: int = 60) -> pd.DataFrame:
    """A CELLxGENE-like var: Ensembl ids as var_names (`retired` of them unknown to the
    snapshot, as retired ids are), symbols in `feature_name`, a biotype column beside."""
    from cellmodel.knowledge.vectors import reference_table

    table = reference_table(["CD3E"], "human")[1].table.to_pandas()
    table = table[table["ensembl"].map(len) > 0].head(n)
    ids = [e[0] for e in table["ensembl"]]
    ids[:retired] = [f"ENSG9{i:010d}" for i in range(retired)]
    return pd.DataFrame(
        {"feature_name": table["symbol"].to_numpy(), "feature_biotype": "gene"}, index=ids
    )


def test_ensembl_var_names_beside_a_column_of_symbols_name_the_column():
    from cellmodel.knowledge.gene_key_hint import GeneKeyHintWarning, gene_key_note

    var = _ids_and_symbols()
    with pytest.warns(GeneKeyHintWarning) as caught:
        note = gene_key_note(var, list(var.index), None, None)
    assert len(caught) == 1 and note is not None
    assert "'feature_name'" in note and "--gene-key feature_name" in note
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to say: the column is read, or adds nothing
        assert gene_key_note(var, list(var["feature_name"]), "feature_name", None) is None
        whole = _ids_and_symbols(retired=0)
        assert gene_key_note(whole, list(whole.index), None, None) is None


def test_one_hyphenated_name_in_an_r_written_file_leaves_the_rest_restored():
    # R's make.names wrote HLA-DRA as HLA.DRA; one gene added by hand after the conversion
    # (HLA-DRB1) turned the rescue off for every name of the file.
    from cellmodel.knowledge.genes import match_genes
    from cellmodel.knowledge.vectors import reference_table

    table = reference_table(["CD3E"], "human")[1].table.to_pandas()
    symbols = table["symbol"].astype(str)
    hyphenated = symbols[symbols.str.contains("-") & ~symbols.str.contains(r"\.")].head(40)
    plain = symbols[~symbols.str.contains(r"[-.]")].head(200)
    names = [*[s.replace("-", ".") for s in hyphenated], *plain, "HLA-DRB1"]
    match = match_genes(names, table, store_taxon="human", data_taxon="human")
    restored = match.report.by_route.get("hyphens-restored", 0)
    assert restored >= 0.6 * len(hyphenated)  # the rest match as they are, or not at all
    assert match.gene_ids[names.index("HLA-DRB1")] > 0
