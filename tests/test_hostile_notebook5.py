"""A scanpy user's habits through the notebook API (the fifth sweep): the tutorial's
`adata.raw = adata` before `sc.pp.scale`, ... Each works as a scanpy user expects, or is refused
in words that name what to do."""

from __future__ import annotations

import warnings

import pytest
import scanpy as sc

import cellmodel as cm
from genekb.errors import GenekbError
from tests.conftest import blobs


def _scaled_over_shared_raw():
    adata = blobs(20, counts=True)
    sc.pp.normalize_total(adata)
    sc.pp.log1p(adata)
    adata.raw = adata  # keeps X's own dense array: the next line scales .raw as well
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sc.pp.scale(adata)
    return adata


def test_a_raw_scaled_with_x_is_named_not_called_missing():
    adata = _scaled_over_shared_raw()
    assert adata.raw is not None
    # Was "the file holds no other (no layers, no .raw)" to a user looking at adata.raw.
    with pytest.raises(GenekbError, match=r"\.raw shares X's array.*adata\.raw = adata\.copy\(\)"):
        cm.pp.normalize(adata)
