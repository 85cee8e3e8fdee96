"""`classify_h5ad(path, reference, ...)`: label transfer from an in-memory reference to an .h5ad
query too large for memory, the query's cell view read chunk by chunk (Dask).

What runs is the unrefined kNN of `cellmodel.classify.transfer` (`refine_view=False`, no marker
block): the reference's labelled cells are scaled (`knn.Scaler`, fitted on them) and indexed once;
each query chunk is scaled alike and votes against them (`knn.vote_shares`), so a cell's vote
depends on its own row alone. Only the votes (cells × classes) are kept, not the view, so memory
grows with the cells by one small row each; the `mass` vote then matches the class masses over all
query cells (`knn.mass_normalize`), as in memory. The contrastive refinement and the marker block
are not run out of core (both fit on, and standardize over, the cells of both files at once).

The view is the weighted semantic view, `obsm["X_semantic_w"]`, which `cellmodel embed
--chunk-size` writes: the query must hold it, and the reference either holds it, fitted on the
query's genes, or is embedded here in memory with the query's recorded parameters and genes
(same store and model), so both sides are one space. The output is a copy of the query with
`obs[key_added]`, `obs[key_added + "_confidence"]` and `uns["cellmodel_classify"]`, renamed into
place when whole.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np

from cellmodel._settings import CLASSIFY_UNS_KEY, PREDICTION_KEY, UNS_KEY
from cellmodel.arguments import check_obs_column, class_order, warn_unlabelled
from cellmodel.chunked import h5
from cellmodel.chunked.embed import DEFAULT_CHUNK_SIZE
from cellmodel.chunked.engine import DaskEngine
from cellmodel.classify.knn import Scaler, as_matrix, decide_class, mass_normalize, vote_shares
from cellmodel.classify.labels import (
    check_reference_labels,
    label_array,
    ordered_classes,
    unseen_notes,
    warn_unseen,
)
from cellmodel.classify.options import DEFAULT_K, ClassifyOptions, resolve_vote
from cellmodel.classify.results import MethodScores, score
from cellmodel.classify.views import said_of
from cellmodel.classify.writing import refuse_overwriting_inputs
from cellmodel.embed import embed, fitted_genes
from cellmodel.uns_record import h5ad_safe
from genekb.errors import GenekbError, UsageError
from genekb.fileio import atomic_path
from genekb.store.store import Store

VIEW_KEY = "X_semantic_w"
# The embed parameters a reference is embedded with to match the query's recorded view.
EMBED_PARAMS = (
    "weighting",
    "isotropy",
    "n_remove",
    "isotropy_fit",
    "n_hvg",
    "gene_vectors",
    "seed",
)


def _query_record(path: Path) -> dict[str, Any]:
    """The query's uns["cellmodel"] (its embed record), checked to hold the view."""
    with h5.open_read(path) as f:
        if f"obsm/{VIEW_KEY}" not in f:
            raise GenekbError(
                f"{path} has no obsm[{VIEW_KEY!r}]; run `cellmodel embed {path} --chunk-size N"
                " -o OUT.h5ad` first and classify OUT.h5ad"
            )
        if f"uns/{UNS_KEY}" not in f:
            return {}
        from anndata.io import read_elem

        return dict(read_elem(f[f"uns/{UNS_KEY}"]))


def reference_view(reference: Any, record: dict[str, Any], store: Store | None) -> np.ndarray:
    """The reference's weighted semantic view in the query's space: its own obsm where both were
    fitted on the same genes, else embedded now (in memory, on a copy) with the query's recorded
    parameters and its genes (`reference_genes`): each file's own variable genes would fit each
    its own post-processing, and a kNN across two such views votes far worse."""
    genes = fitted_genes(record)
    own = reference.uns.get(UNS_KEY)
    if VIEW_KEY in reference.obsm and _same_genes(reference, genes) and _same_run(own, record):
        return np.asarray(reference.obsm[VIEW_KEY])
    if store is None:
        why = (
            "has no"
            if VIEW_KEY not in reference.obsm
            else "was fitted on other genes than the"
            if not _same_genes(reference, genes)
            else "was made with another encoder or other parameters than the"
        )
        raise UsageError(
            f"the reference {why} obsm[{VIEW_KEY!r}] of the query; give a genekb store to embed"
            " it in the query's space"
        )
    params = record.get("params", {})
    pinned = genes.get("gene_ids")
    embedded = embed(
        reference,
        store,
        model=record.get("model", "minilm"),
        sentence_top_n=0,
        reference_genes=None if pinned is None else np.asarray(pinned, dtype=np.int64),
        copy=True,
        **{k: params[k] for k in EMBED_PARAMS if k in params},
    )
    return np.asarray(embedded.obsm[VIEW_KEY])


def _same_genes(reference: Any, genes: Mapping[str, Any]) -> bool:
    """Whether the reference's own view was fitted on the query's genes (or the query does not
    say which it was fitted on, a file written before the record had them)."""
    if not genes.get("sha256"):
        return True
    return fitted_genes(reference.uns.get(UNS_KEY)).get("sha256") == genes["sha256"]


def _same_run(own: Any, record: Mapping[str, Any]) -> bool:
    """Whether the reference's own view was made with the query's encoder and embed parameters,
    where both records say: the same genes under another encoder, weighting or gene-vector
    control are another space, and its view was reused as if it were the query's."""
    own = own if isinstance(own, Mapping) else {}
    encoders = {str(r["spec_sha256"]) for r in (own, record) if r.get("spec_sha256")}
    if len(encoders) > 1:
        return False
    mine, theirs = own.get("params") or {}, record.get("params") or {}
    return all(str(mine[k]) == str(theirs[k]) for k in EMBED_PARAMS if k in mine and k in theirs)


def _votes_task(
    ref: h5.MatrixRef,
    start: int,
    stop: int,
    train: np.ndarray,
    train_y: np.ndarray,
    scaler: Scaler,
    k: int,
    opts: ClassifyOptions,
) -> np.ndarray:
    with h5.ChunkReader(ref) as reader:
        block = as_matrix(reader.rows(start, stop), "the query embedding")
    return vote_shares(train, train_y, scaler.apply(block), k, opts)[1]


def write_obs(file: Any, columns: dict[str, Any], drop: Any = ()) -> None:
    """Add (or replace) obs columns of an open .h5ad, keeping anndata's column order; remove the
    columns `drop` names where present."""
    from anndata.io import write_elem

    obs = file["obs"]
    order = [str(c) for c in obs.attrs.get("column-order", [])]
    for name in drop:
        if name in order:
            del obs[name]
            order.remove(name)
    index = obs.attrs.get("_index", "_index")
    for name, values in columns.items():
        if name == (index.decode() if isinstance(index, bytes) else str(index)):
            # deleting it would replace the cell names with this column
            raise GenekbError(f"obs[{name!r}] is where the file keeps the cell names; not written")
        if name in obs:
            del obs[name]
        write_elem(obs, name, values)
        if name not in order:
            order.append(name)
    obs.attrs["column-order"] = order


def write_copy(
    source: h5.MatrixRef,
    output: Path,
    obs: dict[str, Any],
    uns_key: str,
    uns: dict[str, Any],
    drop: Any = (),
) -> None:
    """`output`: a copy of the .h5ad `source` was read from, with the `obs` columns added (those
    `drop` names removed) and `uns` merged into `uns[uns_key]`, renamed into place only when
    whole."""
    added = sum(64 * len(v) for v in obs.values())  # a few columns of labels and scores
    need = h5.copy_size(source.path, added)
    with atomic_path(output, suffix=".tmp.h5ad", expected_bytes=need) as tmp:
        h5.copy_file(source, tmp)
        with h5.ObsmWriter(tmp) as out:
            write_obs(out.file, obs, drop)
            out.merge_uns(uns_key, uns)


@dataclass(frozen=True)
class _Reference:
    """The reference's labelled cells as the query votes against them: scaled (by `scaler`,
    fitted on them), their labels, and how many cells the reference has in all."""

    train: np.ndarray
    labels: np.ndarray
    scaler: Scaler
    n_cells: int
    classes: list[str]  # the label column's order (`class_order`), for the written categories


def _labelled_reference(
    reference: Any, label_key: str, record: dict[str, Any], store: Store | None
) -> _Reference:
    """The reference's labelled cells in the query's view (`reference_view`), checked, scaled."""
    check_obs_column(reference.obs, label_key, "reference_label_key", " of the reference")
    warn_unlabelled(reference.obs[label_key], label_key, "the reference's training cells")
    values = label_array(reference.obs[label_key])
    check_reference_labels(values, label_key)  # one class: every query cell would get it
    labelled = values != None  # noqa: E711
    with said_of("the reference"):  # the one file embedded here
        ref_X = as_matrix(reference_view(reference, record, store), "the reference embedding")
    scaler = Scaler.fit(ref_X[labelled])
    classes = class_order(reference.obs[label_key])
    return _Reference(scaler.apply(ref_X[labelled]), values[labelled], scaler, len(ref_X), classes)


def _query_view(path: Path, n_features: int) -> tuple[h5.MatrixRef, int]:
    """The query's view, to be read in chunks, and its number of cells; its width checked against
    the reference's."""
    key = f"obsm/{VIEW_KEY}"
    view = h5.MatrixRef(str(path), key, "var", key, h5.stamp_of(path))
    with h5.ChunkReader(view) as reader:
        n_cells, dim = reader.shape
    if dim != n_features:
        raise UsageError(
            f"the reference has {n_features} features and the query {dim}; embed both with"
            " the same store and model"
        )
    return view, n_cells


def _query_truth(path: Path, label_key: str | None, key_added: str) -> np.ndarray | None:
    """The query's own labels, which only score the result (none without `label_key`); first,
    `key_added` checked as in memory, as its columns are written into a copy of this obs (it
    replaced the labels themselves, or the clusters, without a word)."""
    obs = h5.read_frame(path, "obs")
    refuse_overwriting_inputs(ad.AnnData(obs=obs), key_added, label_key, None)
    if label_key is None:
        return None
    check_obs_column(obs, label_key, "label_key", f" of {path}")
    warn_unlabelled(obs[label_key], label_key, "the scores")
    return label_array(obs[label_key])


def _vote_shares(
    engine: DaskEngine,
    view: h5.MatrixRef,
    ranges: list[tuple[int, int]],
    ref: _Reference,
    k: int,
    opts: ClassifyOptions,
) -> np.ndarray:
    """Every query cell's vote shares over the reference classes, chunk by chunk."""
    # Each chunk votes by frequency (or balanced); "mass" is matched once over all cells below.
    component = replace(opts, vote="frequency") if opts.vote == "mass" else opts
    tasks = [(view, a, b, ref.train, ref.labels, ref.scaler, k, component) for a, b in ranges]
    shares = np.vstack(list(engine.map(_votes_task, tasks)))
    if opts.vote == "mass":
        shares = mass_normalize(shares, np.unique(ref.labels.astype(str), return_counts=True)[1])
    return shares


def _scores(
    truth: np.ndarray | None, predictions: np.ndarray, seconds: float
) -> MethodScores | None:
    """The kNN's scores on the query cells whose own label is known (none if no cell has one)."""
    if truth is None:
        return None
    scored = np.asarray([y is not None for y in truth])
    return score("knn", truth[scored], predictions[scored], seconds) if scored.any() else None


def _params_entry(
    k: int, opts: ClassifyOptions, ref: _Reference, n_query: int, record: dict[str, Any]
) -> dict[str, Any]:
    """The run's parameters as the in-memory unrefined transfer records them, and the query's
    embedding."""
    return {
        "k": k,
        "refine_view": False,
        "n_markers": 0,
        "options": asdict(opts),
        "n_reference": ref.n_cells,
        "n_train": len(ref.labels),
        "n_query": n_query,
        "embedding_id": record.get("embedding_id"),
    }


def classify_h5ad(
    path: str | Path,
    reference: Any,
    *,
    output: str | Path,
    reference_label_key: str,
    label_key: str | None = None,
    store: Store | None = None,
    k: int = DEFAULT_K,
    options: ClassifyOptions | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    dask_address: str | None = None,
    workers: int | None = None,
    key_added: str = PREDICTION_KEY,
) -> dict[str, Any]:
    """Predict each cell of the .h5ad at `path` from the labelled cells of `reference` (AnnData,
    labels in `obs[reference_label_key]`), `chunk_size` query cells at a time; writes `output`
    and returns the uns["cellmodel_classify"] record. `label_key`: a query obs column that only
    scores the result. `options`: the kNN's weighting, temperature and vote (auto: frequency).
    """
    if chunk_size < 1:
        raise UsageError("chunk_size must be >= 1")
    if k < 1:
        raise UsageError(f"k must be at least 1 (got {k})")
    opts = resolve_vote(options or ClassifyOptions(), "transfer")
    opts.check()
    began = time.perf_counter()
    path, output = Path(path), Path(output)
    record = _query_record(path)
    truth = _query_truth(path, label_key, key_added)  # before the reference is embedded
    ref = _labelled_reference(reference, reference_label_key, record, store)
    view, n_cells = _query_view(path, ref.train.shape[1])
    ranges = h5.chunk_ranges(n_cells, chunk_size)
    with DaskEngine(dask_address, workers) as engine:
        shares = _vote_shares(engine, view, ranges, ref, k, opts)
        scheduler = engine.scheduler
    predictions, confidence = decide_class(np.unique(ref.labels.astype(str)).astype(object), shares)
    seconds = time.perf_counter() - began
    scores = _scores(truth, predictions, seconds)
    notes = [] if truth is None else unseen_notes(ref.labels, truth)
    warn_unseen(notes)  # as in memory: a query class the reference lacks is never predicted
    n_scored = 0 if truth is None else sum(y is not None for y in truth)
    result = {
        # The in-memory record's keys first, so one script reads both (`--json`).
        "accuracy": scores.accuracy if scores is not None else None,
        "macro_f1": scores.macro_f1 if scores is not None else None,
        "n_train": len(ref.labels),
        "n_scored": n_scored,
        "comparisons": {},
        "refinement": {},
        "method": "knn",
        "view": VIEW_KEY,
        "scores": scores.to_dict() if scores is not None else None,
        "params": _params_entry(k, opts, ref, n_cells, record),
        "chunked": {"chunk_size": chunk_size, "n_chunks": len(ranges), "scheduler": scheduler},
        "seconds": round(seconds, 3),
        "notes": notes,
    }
    predicted = {
        key_added: ordered_classes(predictions, ref.classes),
        f"{key_added}_confidence": confidence,
    }
    write_copy(view, output, predicted, CLASSIFY_UNS_KEY, h5ad_safe(result))
    return result
