"""Hostile but plausible use of `cellmodel explain` / `embed` and `cm.tl.explain` / `embed`:
a view embedded again with a control, a two-way split, a layer dropped after the run, a view
pinned to another run's genes, Ensembl ids, a species given against the names, and a file an
out-of-core run wrote before."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from cellmodel.bench.data import synthetic_counts
from cellmodel.embed import EmptyCellsWarning, embed
from cellmodel.explain import explain, to_markdown
from cellmodel.explain_inputs import OtherCellsWarning
from cellmodel.knowledge.vectors import reference_table
from genekb.errors import GenekbError, UsageError
from tests.conftest import blobs, one_line_error, run_cellmodel
from tests.fakes import FakeEmbedding, OneVersionStore

GENES = [f"GENE{i}" for i in range(30)]


@pytest.fixture
def embedded(tmp_path):
    """Three groups of cells, each over-expressing its block of ten genes, embedded."""
    cells = blobs(30, dim=30, counts=True)
    cells.var_names = GENES
    ev = FakeEmbedding(tmp_path, GENES)
    embed(cells, ev, sentence_top_n=0, n_hvg=30)
    cells.obs["cellmodel_cluster"] = pd.Categorical(cells.obs["group"].astype(str))
    return cells, OneVersionStore(tmp_path, ev)


def test_explain_names_the_control_a_later_embed_used(embedded, tmp_path):
    # A clustering writes its own top-level gene_vectors; a later embed with a control changed
    # the view, and explain read the clustering's "real": shuffled contributors shown as knowledge.
    cells, store = embedded
    cells.uns["cellmodel"]["gene_vectors"] = "real"
    embed(cells, store.ev, sentence_top_n=0, n_hvg=30, gene_vectors="shuffled")
    report = explain(cells, store, top_n=3)
    assert report["gene_vectors"] == "shuffled"
    assert "**shuffled** control vectors" in to_markdown(report)


def test_contributors_say_whether_the_gene_is_higher_or_lower_in_the_cluster(embedded):
    # Two groups split one way: each half's contributors are the same genes (a gene lower in a
    # cluster moves it too), so "not B cells" listed the B-cell genes as its own.
    cells, store = embedded
    cells.obs["first"] = pd.Categorical(np.where(cells.obs["group"] == "0", "in", "out"))
    report = explain(cells, store, cluster_key="first", top_n=5)
    by_name = {entry["cluster"]: entry["semantic_genes"] for entry in report["clusters"]}
    first_block = {f"GENE{i}" for i in range(10)}
    assert {g["gene"] for g in by_name["in"]} <= first_block
    assert all(g["direction"] == "higher" for g in by_name["in"])
    assert all(g["direction"] == "lower" for g in by_name["out"] if g["gene"] in first_block)
    assert "| in cluster |" in to_markdown(report) and "| lower |" in to_markdown(report)


def test_explain_says_the_recorded_layer_is_gone(tmp_path):
    # "layer 'counts' is not in the input": a layer the user never gave explain.
    cells = blobs(30, dim=30, counts=True)
    cells.var_names = GENES
    cells.layers["counts"] = cells.X.copy()
    ev = FakeEmbedding(tmp_path, GENES)
    embed(cells, ev, sentence_top_n=0, n_hvg=30, layer="counts")
    del cells.layers["counts"]
    with pytest.raises(GenekbError, match=r"read layers\['counts'\], which this AnnData no longer"):
        explain(cells, OneVersionStore(tmp_path, ev), cluster_key="group")


def test_explain_of_a_pinned_view_weighs_only_the_pinned_genes(embedded):
    # A view pinned to another run's genes (reference_genes=) reads those genes only; explain
    # weighed every matched gene again, so a gene the view never read was a top contributor.
    cells, store = embedded
    pinned = store.ev.ids[10:30]  # groups 1 and 2's blocks: group 0's genes are not read
    embed(cells, store.ev, sentence_top_n=0, n_hvg=30, reference_genes=pinned)
    report = explain(cells, store, top_n=10)
    genes = {g["gene"] for entry in report["clusters"] for g in entry["semantic_genes"]}
    assert genes and not genes & {f"GENE{i}" for i in range(10)}, genes


def test_markers_only_explain_names_ensembl_ids_by_their_symbols():
    # No semantic view: the markers were named "ENSG00000111341.9" beside "matrix Gla protein".
    cells = synthetic_counts(90, n_genes=200)
    _, table = reference_table(list(cells.var_names), "human")
    frame = table.table.to_pandas()
    pairs = zip(frame["symbol"], frame["ensembl"], strict=True)
    ensembl = {s: ids[0] for s, ids in pairs if len(ids)}
    symbols = [s for s in cells.var_names if s in ensembl]
    cells = cells[:, symbols].copy()
    cells.var_names = [f"{ensembl[s]}.7" for s in symbols]
    report = explain(cells, None, cluster_key="group", top_n=3)
    shown = [g["gene"] for entry in report["clusters"] for g in entry.get("markers", [])]
    assert shown and all(name in symbols for name in shown), shown


def test_embed_json_lists_the_warning_on_how_the_names_read(tmp_path):
    # --taxon mouse on human names was warned on stderr, while --json said "warnings": [].
    source = tmp_path / "cells.h5ad"
    synthetic_counts(60, n_genes=200).write_h5ad(source)
    args = ["embed", str(source), "--model", "fake", "--root", str(tmp_path / "s"), "--json"]
    result = run_cellmodel(*args, "--taxon", "mouse")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert any("--taxon mouse is given" in w or "taxon=mouse" in w for w in report["warnings"])


def test_in_memory_embed_does_not_report_an_earlier_out_of_core_run(tmp_path):
    source, chunked = tmp_path / "cells.h5ad", tmp_path / "chunked.h5ad"
    synthetic_counts(60, n_genes=200).write_h5ad(source)
    root = ["--model", "fake", "--root", str(tmp_path / "s")]
    first = run_cellmodel("embed", str(source), "-o", str(chunked), "--chunk-size", "20", *root)
    assert first.exit_code == 0, first.output
    result = run_cellmodel("embed", str(chunked), *root, "--json")
    assert result.exit_code == 0, result.output
    assert "chunked" not in json.loads(result.stdout)


def test_cli_explain_of_a_dropped_layer_is_one_line(tmp_path):
    cells = blobs(30, dim=30, counts=True)
    cells.var_names = GENES
    cells.layers["counts"] = cells.X.copy()
    cells.uns["cellmodel"] = {"input": {"source": "layers/counts"}}
    del cells.layers["counts"]
    path = tmp_path / "cells.h5ad"
    cells.write_h5ad(path)
    line = one_line_error(run_cellmodel("explain", str(path), "--cluster-key", "group"))
    assert "no longer holds" in line and "cluster (or embed) the file again" in line


def test_embed_warns_of_cells_that_express_none_of_the_weighted_genes(tmp_path):
    # Empty cells got one shared vector (the mean's opposite) that read as a place in the
    # semantic space, without a word.
    cells = blobs(30, dim=30, counts=True)
    cells.var_names = GENES
    cells.X[:5] = 0
    with pytest.warns(EmptyCellsWarning, match="5 of 90 cells express none"):
        embed(cells, FakeEmbedding(tmp_path, GENES), sentence_top_n=0, n_hvg=30)
    assert any("5 of 90" in w for w in cells.uns["cellmodel"]["gene_match"]["warnings"])


def test_explain_of_a_version_removed_from_its_own_store_says_so(embedded, tmp_path):
    # "open the store the file was clustered with": it was that store; the version was removed.
    cells, store = embedded
    cells.uns["cellmodel"]["store_root"] = str(tmp_path)

    class Emptied(OneVersionStore):
        def embedding(self, ref: str) -> FakeEmbedding:
            raise GenekbError(f"no embedding {ref}")

    with pytest.raises(GenekbError, match=r"removed from it \(genekb rm or gc\): embed the file"):
        explain(cells, Emptied(tmp_path, store.ev))


def test_embed_json_warnings_name_flags_not_python_parameters(tmp_path):
    # stderr said "--layer" and --json "layer=", which no command line takes.
    cells = synthetic_counts(60, n_genes=200)
    cells.X = cells.X.toarray()
    cells.X[:4] = 0
    source = tmp_path / "cells.h5ad"
    cells.write_h5ad(source)
    args = ["embed", str(source), "--model", "fake", "--root", str(tmp_path / "s"), "--json"]
    result = run_cellmodel(*args)
    assert result.exit_code == 0, result.output
    (warning,) = [w for w in json.loads(result.stdout)["warnings"] if "express none" in w]
    assert "--layer" in warning and "layer=" not in warning, warning


def test_out_of_core_embed_warns_of_empty_cells_as_in_memory(tmp_path):
    cells = synthetic_counts(60, n_genes=200)
    cells.X = cells.X.toarray()
    cells.X[:4] = 0
    source, out = tmp_path / "cells.h5ad", tmp_path / "out.h5ad"
    cells.write_h5ad(source)
    args = ["--model", "fake", "--root", str(tmp_path / "s"), "--json", "-o", str(out)]
    result = run_cellmodel("embed", str(source), *args, "--chunk-size", "20")
    assert result.exit_code == 0, result.output
    assert "4 of 60 cells express none" in result.stderr
    assert any("4 of 60 cells" in w for w in json.loads(result.stdout)["warnings"])


def test_explain_of_a_subset_taken_after_the_embed_warns(embedded):
    # The weights are recomputed on the subset's cells: its scores were presented as the
    # view's own, without a word.
    cells, store = embedded
    subset = cells[cells.obs["group"] != "2"].copy()
    with pytest.warns(OtherCellsWarning, match="computed on 90 cells × 30 genes"):
        explain(subset, store, top_n=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", OtherCellsWarning)
        explain(cells, store, top_n=3)  # the very cells: no warning


@pytest.mark.parametrize(
    "given", [["GENE1", "GENE2"], [1001.0, 1002.5], [], [[1001, 1002]]]
)  # fmt: skip
def test_embed_refuses_reference_genes_that_are_not_gene_ids(embedded, given):
    # Names raised int()'s ValueError deep in the match; 1002.5 was read as gene 1002.
    cells, store = embedded
    with pytest.raises(UsageError, match="reference_genes= takes NCBI GeneIDs"):
        embed(cells, store.ev, sentence_top_n=0, n_hvg=30, reference_genes=given)


def test_embed_takes_another_run_s_reference_genes_entry_whole(embedded):
    # The entry itself (a dict) raised "int() argument must be ... not 'dict'".
    cells, store = embedded
    entry = cells.uns["cellmodel"]["reference_genes"]
    embed(cells, store.ev, sentence_top_n=0, n_hvg=30, reference_genes=entry)
    assert cells.uns["cellmodel"]["reference_genes"]["rule"] == "given"


def test_explain_with_a_url_root_says_it_takes_a_local_store(tmp_path):
    # "the store https:/lab.example.org/s this file was clustered with is gone": the URL was the
    # user's --root, folded by Path, and the file's store was never the question.
    cells = blobs(30, dim=30, counts=True)
    cells.var_names = GENES
    embed(cells, FakeEmbedding(tmp_path, GENES), sentence_top_n=0, n_hvg=30)
    cells.uns["cellmodel"]["store_root"] = str(tmp_path)
    path = tmp_path / "cells.h5ad"
    cells.write_h5ad(path)
    args = ["explain", str(path), "--cluster-key", "group", "--root", "https://lab.example.org/s"]
    line = one_line_error(run_cellmodel(*args), code=2)
    assert "is a URL; this command takes a local store" in line and "is gone" not in line


def test_embed_with_a_version_of_other_genes_names_the_version(tmp_path):
    # "check taxon= and gene_key=": the names were fine, the version given holds other genes.
    from cli.flags import as_flags

    cells = synthetic_counts(60, n_genes=200)
    with pytest.raises(GenekbError) as caught:
        embed(cells, FakeEmbedding(tmp_path, GENES), sentence_top_n=0)
    said = as_flags(str(caught.value))
    assert "none of the 200 genes is among the 30 of emb-1, the version given as --model" in said


def test_a_refused_build_says_build_true_in_python_and_no_build_on_the_command_line(tmp_path):
    # cm.tl.embed(build=False) was told to "drop --no-build", a flag no notebook has.
    import cellmodel as cm

    cells = synthetic_counts(60, n_genes=200)
    with pytest.raises(GenekbError, match=r"pass build=True to embed them") as caught:
        cm.tl.embed(cells, tmp_path / "s", model="fake", build=False, sentence_top_n=0)
    assert "--no-build" not in str(caught.value)
    source = tmp_path / "cells.h5ad"
    cells.write_h5ad(source)
    args = ["embed", str(source), "--model", "fake", "--root", str(tmp_path / "s"), "--no-build"]
    assert "drop --no-build to embed them" in one_line_error(run_cellmodel(*args))


def test_all_genes_with_a_version_given_as_the_model_is_refused(embedded, tmp_path):
    # Taken, and recorded as vectors.all_genes=True, though a given version is never built.
    from cli.flags import as_flags

    cells, store = embedded
    with pytest.raises(UsageError, match=r"all_genes=True asks for .* leave all_genes out") as got:
        embed(cells, store.ev, sentence_top_n=0, n_hvg=30, all_genes=True)
    said = as_flags(str(got.value))
    assert "--all-genes asks for" in said and "leave --all-genes out" in said and "--model" in said
