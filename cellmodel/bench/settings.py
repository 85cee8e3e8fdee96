"""The benchmark's defaults and fixed choices."""

from __future__ import annotations

# The synthetic data's own settings live with its generator; named here for the benchmark.
from cellmodel.datasets.synthetic import SYNTHETIC_GENES as SYNTHETIC_GENES
from cellmodel.datasets.synthetic import SYNTHETIC_GROUPS as SYNTHETIC_GROUPS
from cellmodel.datasets.synthetic import SYNTHETIC_LABEL_KEY as SYNTHETIC_LABEL_KEY

DEFAULT_DATASETS: tuple[str, ...] = ("pbmc68k-reduced", "baron-human", "wu2020-200")
DEFAULT_SEEDS = 5
DEFAULT_SCALE: tuple[int, ...] = (10_000, 30_000, 100_000)
SCALE_METHODS: tuple[str, ...] = ("cellmodel", "pca-kmeans")
DEFAULT_TIMEOUT_S = 3600.0  # per (dataset, method) process
SYNTHETIC_PREFIX = "synthetic-"
# The largest synthetic datasets a 128 GB machine still runs. In memory the clustering needs
# about 0.04 MB a cell (`cellmodel.chunked.limits`): 2×10⁶ cells ≈ 79 GB. Out of core memory
# stays near 2 GB, but the file grows by 5.75 GB per 10⁶ cells: 10⁷ cells ≈ 58 GB on disk, the
# largest size docs/scale.md estimates.
MAX_SYNTHETIC_CELLS = 2_000_000
MAX_OUT_OF_CORE_CELLS = 10_000_000
METRICS: tuple[str, ...] = ("acc", "nmi", "ari", "f1")
REPORT_FORMAT = "cellmodel-bench/1"
# Control gene vectors (shuffled / random) are drawn once, with this seed, for every run seed: each
# control's sentences cost a full pass of the encoder, and the run seeds still vary everything
# else (PCA, graph, training, k-means).
CONTROL_SEED = 0
# The one obs column a method may see: the dataset's technical batch (e.g. Baron's donor), copied
# under this neutral name. Every method gets the same correction, so the comparison stays fair.
BATCH_COLUMN = "batch"
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
PRELOAD: tuple[str, ...] = (
    "torch",
    "scanpy",
    "sklearn.cluster",
    "sklearn.decomposition",
    "sklearn.neighbors",
    "leidenalg",
    "cellmodel.cluster.job",
    "cellmodel.embed",
    "cellmodel.metrics",
)
