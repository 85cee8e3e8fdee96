"""The shared basics: one device rule, one L2 normalisation, one highly-variable-gene rule, and
library errors turned into the command line's flags."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cellmodel.pp import graph
from cli.common import as_flags
from genekb.device import resolve_device
from genekb.errors import GenekbError, UsageError
from genekb.linalg import l2_normalize
from tests.conftest import blobs


def test_device_rule() -> None:
    assert resolve_device("cpu") == "cpu"
    assert resolve_device(None) == resolve_device("auto")
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    for bad in ("tpu9", "mps", "cuda:x", "CPU"):
        with pytest.raises(UsageError, match="choose cpu, cuda, cuda:N or auto"):
            resolve_device(bad)
    if not torch.cuda.is_available():
        with pytest.raises(GenekbError, match="no GPU"):
            resolve_device("cuda:0")


def test_l2_normalize_keeps_zero_rows_zero() -> None:
    X = np.array([[3.0, 4.0], [0.0, 0.0]])
    out = l2_normalize(X)
    assert out.dtype == np.float32
    assert np.allclose(out, [[0.6, 0.8], [0.0, 0.0]])


def test_highly_variable_is_scanpys_seurat_mask_among_the_candidates() -> None:
    import anndata as ad
    import scanpy as sc

    def scanpy_mask(X: np.ndarray, n_top: int) -> np.ndarray:
        stats = sc.pp.highly_variable_genes(
            ad.AnnData(X), n_top_genes=n_top, flavor="seurat", inplace=False
        )
        return np.asarray(stats["highly_variable"], dtype=bool)

    X = np.log1p(blobs(30, dim=60, counts=True).X)
    every = graph.highly_variable(X, 10)
    assert every.dtype == bool and np.array_equal(every, scanpy_mask(X, 10))
    candidates = np.zeros(60, dtype=bool)
    candidates[::2] = True
    chosen = graph.highly_variable(X, 10, candidates=candidates)
    assert not (chosen & ~candidates).any()
    assert np.array_equal(chosen[candidates], scanpy_mask(X[:, candidates], 10))
    few = graph.highly_variable(X, 100, candidates=candidates)  # fewer candidates than asked
    assert np.array_equal(few, candidates)


def test_library_parameters_become_flags() -> None:
    assert (
        as_flags("n_clusters=500 must be between 1 and 9")
        == "--n-clusters 500 must be between 1 and 9"
    )
    assert (
        as_flags("pass taxon=human or check gene_key= (x)")
        == "pass --taxon human or check --gene-key (x)"
    )
    assert as_flags("needs label_key=: the obs column") == "needs --label-key: the obs column"
    assert as_flags("expects key=value") == "expects key=value"  # not a parameter: left alone
    assert as_flags("use gene_graph=data, or model='x'") == "use --gene-graph data, or --model 'x'"
    assert as_flags("another seed=, or the groups with groupby= (") == (
        "another --seed, or the groups with --groupby ("
    )
    assert as_flags("svd_seed=3") == "svd_seed=3"  # a word that only ends in a parameter's name
