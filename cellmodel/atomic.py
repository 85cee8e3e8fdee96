"""A step on an AnnData in place either finishes or leaves it as it was."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import anndata as ad


@contextlib.contextmanager
def unchanged_on_failure(adata: ad.AnnData) -> Iterator[None]:
    """Undo what the block wrote into obs, obsm and uns (top-level keys) if it raises, a
    KeyboardInterrupt included: a run stopped inside its fit would otherwise leave the views
    it had already written beside no clusters. The snapshot holds references, not copies; it
    assumes the block replaces entries rather than changing them in place."""
    obs = adata.obs.copy(deep=False)
    obsm = dict(adata.obsm)
    uns = dict(adata.uns)
    try:
        yield
    except BaseException:
        adata.obs = obs
        _restore(adata.obsm, obsm)
        _restore(adata.uns, uns)
        raise


def _restore(mapping: Any, before: dict[str, Any]) -> None:
    for key in [k for k in mapping if k not in before]:
        del mapping[key]
    for key, value in before.items():
        if mapping.get(key) is not value:
            mapping[key] = value
