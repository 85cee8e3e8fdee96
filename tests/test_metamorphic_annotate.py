"""Metamorphic checks of `annotate`: the same cells written another way (genes in another order,
unexpressed genes filtered out or kept, ...) get the same calls."""

from __future__ import annotations

import json
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from cellmodel.annotate import mentions, ontology, signatures
from tests.test_annotate import ALPHA, BETA, DELTA, _islets, _planted, _TextEncoder

# Genes the marker table lists for the planted islet kinds that the planted file does not hold.
TABLE_GENES = ["MAFA", "PCSK1", "G6PC2", "TM4SF4", "ARX", "LEPR", "RBP4", "HADH"]


def _report(adata: ad.AnnData, fake_spec: object) -> dict[str, Any]:
    from cellmodel.annotate import annotate, report_of

    named = annotate(
        adata, _planted(fake_spec), groupby="kind", candidates=[BETA, ALPHA, DELTA], n_markers=5,
        top_k=2, n_background=200, load_encoder=_TextEncoder, model="fake", copy=True,
    )  # fmt: skip
    return report_of(named)


def _with_zero_genes(adata: ad.AnnData, names: list[str]) -> ad.AnnData:
    zeros = ad.AnnData(
        np.zeros((adata.n_obs, len(names)), dtype=np.float32),
        obs=adata.obs[[]],
        var=pd.DataFrame(index=names),
    )
    out = ad.concat([adata, zeros], axis=1)
    out.obs = adata.obs.copy()
    return out


@pytest.mark.filterwarnings("ignore::genekb.errors.GenekbWarning")
def test_genes_no_cell_expresses_change_no_call_nor_score(fake_spec: object) -> None:
    # The same islets with the marker table's genes they never express kept in the file (not
    # filtered out): those took places in the table's reference sets and universe, and every
    # group's table scores (and, on real files, calls: pbmc68k's non-classical monocytes became
    # 'CD14-low, CD16-positive monocyte') moved.
    adata = _islets()
    before = _report(adata, fake_spec)
    after = _report(_with_zero_genes(adata, TABLE_GENES), fake_spec)
    assert after["marker_table"]["universe"] == before["marker_table"]["universe"]
    assert json.dumps(after["groups"]) == json.dumps(before["groups"])


def test_a_signature_reads_every_data_gene_of_a_symbol_whatever_the_gene_order() -> None:
    # Two data genes of one human symbol (a mouse gene's paralogs through orthologs; an alias
    # beside its symbol): the first in the file's order was read, so the same mouse file with
    # its genes in another order got other signature scores, confidences and tissue scores.
    symbols = ["CD14", "LYZ", "CD14", "ACTB", "CST3", "S100A8"]
    means = np.array([[0.1, 2.0, 3.0, 1.0, 0.5, 0.2], [0.0, 0.1, 0.0, 1.0, 0.3, 2.0]])
    signature = {"monocyte": ["CD14", "LYZ", "S100A8"]}
    order = [2, 1, 0, 3, 4, 5]  # the two CD14 genes swapped
    first = signatures.group_scores(means, symbols, signature)
    swapped = signatures.group_scores(means[:, order], [symbols[i] for i in order], signature)
    assert first == swapped
    assert first[0][signatures.GENE_PREFIX + "CD14"] == swapped[0][signatures.GENE_PREFIX + "CD14"]


def test_a_mention_reads_every_data_gene_of_its_gene_whatever_the_gene_order() -> None:
    # "CD14-positive monocyte" names CD14; the file holds two genes that read as CD14: the
    # mention read the first of them in the file's order, the other order another score.
    cands = [ontology.term("CL:0001054")]
    lfc = np.array([[0.2, 3.0, 0.0], [2.5, 0.0, 0.1]])  # 2 groups × 3 data genes
    ids = np.array([929, 929, 7157])  # CD14 twice, TP53
    order = [1, 0, 2]
    first = mentions.score_groups(cands, lfc, ids, gene_vectors="real", seed=0).scores
    swapped = mentions.score_groups(cands, lfc[:, order], ids[order], gene_vectors="real", seed=0)
    np.testing.assert_array_equal(first, swapped.scores)
    assert list(first[:, 0]) == [3.0, 2.5]  # each group's more expressed of the two


def test_per_cell_scores_hang_neither_on_the_gene_order_nor_on_unexpressed_genes() -> None:
    # Each signature gene's control genes were drawn from its expression bin in the file's gene
    # order, and unexpressed genes filled the lowest bins: the same cells with their genes in
    # another order, or with their unexpressed genes kept, drew other controls (pbmc68k with
    # zero genes added: 37 of 700 per-cell calls changed).
    from cellmodel.annotate.cells import call_cells

    rng = np.random.default_rng(0)
    n_cells, n_genes = 80, 2000
    X = rng.gamma(0.5, 1.0, (n_cells, n_genes)) * (rng.random((n_cells, n_genes)) < 0.3)
    X = X.astype(np.float32)
    X[:40, :5] += 3.0
    X[40:, 5:10] += 3.0
    genes = [f"G{i}" for i in range(n_genes)]
    codes = np.repeat([0, 1], n_cells // 2)
    report = {"groups": [{"label": "A", "signature_data_names": genes[:5]},
                         {"label": "B", "signature_data_names": genes[5:10]}]}  # fmt: skip
    calls, best, _ = call_cells(X, genes, report, codes)
    perm = rng.permutation(n_genes)
    moved, moved_best, _ = call_cells(X[:, perm], [genes[i] for i in perm], report, codes)
    np.testing.assert_allclose(moved_best, best, rtol=1e-5)
    assert list(moved) == list(calls)
    padded = np.hstack([X, np.zeros((n_cells, 300), dtype=np.float32)])
    kept, kept_best, _ = call_cells(padded, genes + [f"Z{i}" for i in range(300)], report, codes)
    np.testing.assert_allclose(kept_best, best, rtol=1e-5)
    assert list(kept) == list(calls)


def test_a_few_fractional_values_are_found_wherever_the_matrix_stores_them() -> None:
    # Counts with a stray fractional value: integer detection read 1M evenly spaced values of
    # a larger matrix, so CSR, CSC or the cells in another order hit or missed it, and the same
    # file was normalized as counts (normalize_total + log1p) or as linear values (log1p alone).
    import scipy.sparse as sp

    from cellmodel.io import detect_kind

    rng = np.random.default_rng(0)
    X = sp.random(2000, 1500, density=0.7, format="csr", random_state=0, dtype=np.float32)
    X.data = rng.integers(1, 100, X.nnz).astype(np.float32)
    assert detect_kind(X) == "counts"
    X.data[1] = 2.5  # between the values a sample of every second one read
    kinds = {detect_kind(X), detect_kind(sp.csc_matrix(X)), detect_kind(X[::-1])}
    assert kinds == {"other"}
