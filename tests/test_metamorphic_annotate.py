"""Metamorphic checks of `annotate`: the same cells written another way (genes in another order,
unexpressed genes filtered out or kept, ...) get the same calls."""

from __future__ import annotations

import json
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import pytest

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
