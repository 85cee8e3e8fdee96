"""cellmodel: cluster, name, explain and classify single cells with gene knowledge from a genekb
store, in scanpy's shape (`import cellmodel as cm`):

    >>> import cellmodel as cm
    >>> adata = cm.pp.read("pbmc68k-reduced")
    >>> cm.tl.cluster(adata, n_clusters=10)        # obs["cellmodel_cluster"]
    >>> cm.tl.annotate(adata, ontology_subtree="CL:0000738")  # obs["cellmodel_annotation"]
    >>> cm.pl.umap(adata, color=["cellmodel_cluster", "cellmodel_annotation"])

`cm.pp` reads and normalizes, `cm.tl` runs the steps (AnnData first, results in obs / obsm /
uns, `copy=True` for a new AnnData), `cm.pl` draws, `cm.settings.verbosity` sets how much a
session is told. Each loads on first use, so `import cellmodel` itself is quick.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

# OpenMP threads (torch's and scikit-learn's libgomp) that finish a parallel region spin-wait for
# the next one by default. cellmodel's fit runs thousands of small regions; when other work shares
# the cores, the spinning thread takes the core from the one computing. Sleeping instead changes
# no arithmetic (the same bits out). It must be set before the first OpenMP library loads, hence
# here; a value the user set wins. See docs/cluster_design_set.md, "Time".
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__all__ = ["__version__", "pl", "pp", "settings", "tl"]
__version__ = "0.1.0"

_SUBMODULES = ("pl", "pp", "tl")


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"cellmodel.{name}")
    if name == "settings":  # one settings object for genekb and cellmodel
        from genekb.settings import settings

        return settings
    raise AttributeError(f"module 'cellmodel' has no attribute {name!r}")


def __dir__() -> list[str]:  # tab completion offers the public names, not internal modules
    return sorted(__all__)
