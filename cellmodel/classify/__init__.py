"""Few-label classification: supervised contrastive refinement of cell embeddings, then kNN.

The caller hands over a cells × d matrix (the semantic, structure or fused view) and labels for
some of the cells. The procedure:

1. Split. `split` draws a stratified training set (a fraction, or N cells per class) or checks a
   given mask. Only training labels reach the fitting code; held-out labels only score the result.
2. Refinement. A residual MLP projection (`RefineNet`: it starts as the identity on the unit
   sphere, so epoch 0 is the unrefined geometry) is trained with the supervised contrastive loss
   (SupCon, Khosla et al. 2020). Each step sees two augmented views of every cell in the batch
   (feature dropout + Gaussian noise); a cell's positives are its other view and every view of the
   other cells of its class. SupCon rather than triplet loss: it uses every positive and negative
   in the batch at once, so it needs no triplet mining (brittle when a class has one or two
   labelled cells), and the view-pair positive keeps a class with a single labelled cell in the
   loss. Anchors are weighted by 1 / class size so rare classes pull as hard as common ones.
   Self-training: unlabelled cells that the unrefined kNN assigns with a vote share of at least
   `pseudo_threshold` (0.5: more votes for that class than for all others together) can join the
   loss with that class, each anchor weighted by its vote margin (top share − runner-up, so a
   near-tie in a two-class problem barely counts). On views where the unrefined kNN is already
   good, the projection trained on a few labelled cells alone overfits them and the pseudo-labels
   give it the shape of the classes instead; where the unrefined geometry misleads, pseudo-labels
   copy its mistakes (docs/classify_experiments.md). So by default (`self_training="auto"`) the
   held-out training labels of step 3 decide between the two.
3. Stopping. With `epochs=None`, a stratified part of the *training* labels is held out (those
   cells become unlabelled for the search), the model is trained on the rest, and the epoch count
   (0 included: the residual net starts as the identity) with the best held-out kNN accuracy,
   ties going to the larger true-class vote share, is kept, together with the self-training mode
   that reached it; the model is then trained afresh on all training cells for that many epochs.
   The labels of the cells being classified never take part in any choice.
4. kNN. Distance-weighted kNN (k = 15 by default) in the refined space, with a Gaussian kernel on
   the cosine geometry (`knn_votes`); its vote shares are averaged with those of the same kNN on
   the unrefined view (`blend`, 0.5), and a cell's confidence is the share of its predicted class.
   Why: the projection learns the common classes from many labelled cells but cannot learn a
   class of one labelled cell, whose unlabelled cells the refined geometry moves toward their
   common neighbours; averaging the two votes was at least as good as the refined vote alone on
   every dataset and vote rule measured (docs/classify_experiments.md).
5. Vote rule. By default (`vote="auto"`: "mass" in `classify`, "frequency" in `transfer`) the
   blended shares are class-mass normalized (`mass_normalize`, Zhu et al. 2003): each class's
   total share over the cells being classified is matched to its share of the labelled cells
   before each cell takes its largest. A class of one labelled cell is outvoted by the common
   classes' labelled cells around its members, so the plain vote gives it far less mass than
   its share; matching masses lifts it by how much it is underpredicted. The same rule votes in
   the stopping search and chooses the pseudo-labels. It assumes the cells being classified hold
   the classes in about the labelled proportions, which a stratified or random split guarantees
   and a reference-to-query transfer does not (a class absent from the query draws false calls),
   hence frequency there.
   `vote="balanced"` divides each class's votes by its number of labelled cells (the rule for
   balanced accuracy: every class of one labelled cell weighs as much as one of sixty, which
   costs accuracy in false calls).

Before step 2, when the caller passes the expression (`classify(..., expression=...)`), a marker
block is appended to the view (`marker_view`): per class, the genes that set its *training* cells
apart (effect size against the other training cells), standardized over all cells, and by default
combined into one marker score per class (weighted by squared effect size). A type too rare
to own a principal component still owns its marker genes.

The same run scores two comparisons on the same held-out cells: the same kNN on the unrefined
input, and multinomial logistic regression on a PCA of the expression (`expression_pca`).
Everything is deterministic for a seed on the CPU.

Layout: `options` (constants, `ClassifyOptions`), `labels` (labels, the training split), `knn` (the
vote), `views` (expression PCA, fused view, marker block), `model` (the torch module and loss),
`training` (the training loop and stopping search: `refine`), `predict` (the vote, refinement and
comparisons both share), `core` (`classify`, `transfer` on matrices), `results`, and `pipeline`
(`classify_cells`: the whole job on AnnData); `label_table` (`read_labels`: labels kept in a
file of cell id -> label).
"""

from __future__ import annotations

from cellmodel._settings import DEFAULT_N_PCS
from cellmodel.classify.core import classify, transfer
from cellmodel.classify.knn import (
    Scaler,
    as_matrix,
    knn_predict,
    knn_votes,
    mass_normalize,
)
from cellmodel.classify.label_table import read_labels
from cellmodel.classify.labels import label_array, split
from cellmodel.classify.model import RefineNet, supcon_loss
from cellmodel.classify.options import (
    DEFAULT_K,
    KNN_WEIGHTINGS,
    MARKER_BLOCKS,
    MIN_DISTANCE,
    SELF_TRAINING,
    SMALL_CLASSES,
    VOTE_AUTO,
    VOTES,
    ClassifyOptions,
    LabelsLike,
    SmallClasses,
    ViewBuilder,
    resolve_vote,
    with_options,
)
from cellmodel.classify.pipeline import (
    VIEWS,
    annotate,
    cell_view,
    check_view,
    classify_cells,
    marker_inputs,
    semantic_view,
    shared_marker_inputs,
)
from cellmodel.classify.results import (
    ClassifyResult,
    MethodScores,
    by_class,
    genes_by_class,
    score,
)
from cellmodel.classify.training import refine
from cellmodel.classify.views import (
    expression_pca,
    fused_view,
    joint_expression_pca,
    marker_block,
    marker_view,
    shared_expression,
)
from genekb.device import resolve_device

__all__ = [
    "DEFAULT_K",
    "DEFAULT_N_PCS",
    "KNN_WEIGHTINGS",
    "MARKER_BLOCKS",
    "MIN_DISTANCE",
    "SELF_TRAINING",
    "SMALL_CLASSES",
    "VIEWS",
    "VOTES",
    "VOTE_AUTO",
    "ClassifyOptions",
    "ClassifyResult",
    "LabelsLike",
    "MethodScores",
    "RefineNet",
    "Scaler",
    "SmallClasses",
    "ViewBuilder",
    "annotate",
    "as_matrix",
    "by_class",
    "cell_view",
    "check_view",
    "classify",
    "classify_cells",
    "expression_pca",
    "fused_view",
    "genes_by_class",
    "joint_expression_pca",
    "knn_predict",
    "knn_votes",
    "label_array",
    "marker_block",
    "marker_inputs",
    "marker_view",
    "mass_normalize",
    "read_labels",
    "refine",
    "resolve_device",
    "resolve_vote",
    "score",
    "semantic_view",
    "shared_expression",
    "shared_marker_inputs",
    "split",
    "supcon_loss",
    "transfer",
    "with_options",
]
