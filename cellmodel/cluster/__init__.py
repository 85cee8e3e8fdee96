"""Clustering: the job (`cluster(adata, store)`, job.py) and its parts.

`options` holds the fit's tunables (`ClusterOptions`) and a run's choices (`ClusterRun`); `fit`
the procedure (pretraining, k-means start, OT refinement) over the torch blocks of
`cellmodel.module.model`; `sampling` the neighbourhood mini-batches; `batch_choice`, `consensus` and
`merge_split` the label-free checks of a finished partition.
"""

from cellmodel._settings import CLUSTER_KEY
from cellmodel.cluster.fit import ClusterOptions, ClusterResult, fit_clusters, relabel_by_size
from cellmodel.cluster.job import cluster
from cellmodel.cluster.options import ClusterRun
from cellmodel.cluster.outputs import score

__all__ = [
    "CLUSTER_KEY",
    "ClusterOptions",
    "ClusterResult",
    "ClusterRun",
    "cluster",
    "fit_clusters",
    "relabel_by_size",
    "score",
]
