"""cellmodel's AnnData keys and default sizes, in one place (every module imports them here)."""

from __future__ import annotations

# uns entries
UNS_KEY = "cellmodel"  # embed and cluster: provenance, parameters, gene match, metrics
CLASSIFY_UNS_KEY = "cellmodel_classify"  # classify: scores, comparisons, parameters
EXPLAIN_UNS_KEY = "cellmodel_explain"  # explain: the report of each cluster's genes
# obs / obsm entries
CLUSTER_KEY = "cellmodel_cluster"
PREDICTION_KEY = "cellmodel_pred"
ANNOTATION_KEY = "cellmodel_annotation"  # annotate: names, and columns named from it
CLASSIFY_OBSM_KEY = "X_classify"

# Seeds: numpy's and scikit-learn's are unsigned 32-bit integers.
SEED_MAX = 2**32 - 1

# Preprocessing of the expression (Seurat-flavour highly variable genes, then PCA).
DEFAULT_N_HVG = 2000
DEFAULT_N_PCS = 50

# annotate: which ranking names the groups (text + marker table; see cellmodel.annotate.core)
DEFAULT_ANNOTATE_METHOD = "combined"

# Pictures: classes or groups named at most (a confusion matrix's rows and columns, a legend's
# entries); a few hundred made a huge picture, slowly, with the plot squeezed to nothing.
MAX_DRAWN = 40
