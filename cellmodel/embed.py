"""`embed(adata, store)`: the semantic view of each cell, written into the AnnData scanpy-style.

Writes `obsm["X_semantic_w"]` (weighted path), `obsm["X_semantic_s"]` (sentence path),
`obsm["X_semantic"]` (their fusion) and `uns["cellmodel"]` (store root, embedding and text ids,
tag, gene match report, input kind, parameters, timings). See `cellmodel.semantic` for the methods.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np

from cellmodel import semantic
from cellmodel import sentences as sentence_path
from cellmodel._settings import DEFAULT_N_HVG, UNS_KEY
from cellmodel.arguments import check_count, check_seed
from cellmodel.embed_genes import GeneSide, gene_side
from cellmodel.io import Expression, expression, require_anndata
from cellmodel.knowledge.gene_key_hint import hint_notes
from cellmodel.knowledge.genes import taxon_name
from cellmodel.uns_record import h5ad_safe
from genekb.build import version_encoder
from genekb.encoders.base import Encoder
from genekb.errors import GenekbWarning, UsageError, warn
from genekb.store.ids import genes_sha
from genekb.store.store import EmbeddingVersion, Store
from genekb.templates import DEFAULT_TEMPLATE

# Chosen from the measurements in docs/semantic_experiments.md (scripts/exp_weighting.py).
DEFAULT_WEIGHTING = "hvg-scaled"
DEFAULT_ISOTROPY = "whiten"
DEFAULT_ISOTROPY_FIT = "used"
DEFAULT_RANKING = "hvg"
DEFAULT_TOP_N = 32
DEFAULT_FUSION = "concat"
# Which gene vectors the post-processing is fitted on, a set fixed by the data and the snapshot
# (recorded in uns["cellmodel"]["reference_genes"]), never by what else the store holds: the genes
# the weighting uses (the subspace the cells actually live in), or all matched data genes.
ISOTROPY_FITS = ("used", "data")

log = logging.getLogger(__name__)


class EmptyCellsWarning(GenekbWarning):
    """Cells that express none of the genes the semantic view weighs: their vectors say nothing."""


@dataclass(frozen=True)
class SemanticParams:
    """Every choice that shapes the semantic view; recorded in `uns` as given."""

    weighting: str = DEFAULT_WEIGHTING
    isotropy: str = DEFAULT_ISOTROPY
    n_remove: int = semantic.DEFAULT_N_REMOVE
    isotropy_fit: str = DEFAULT_ISOTROPY_FIT
    n_hvg: int = DEFAULT_N_HVG
    sentence_top_n: int = DEFAULT_TOP_N  # 0 skips the sentence path
    ranking: str = DEFAULT_RANKING
    fusion: str = DEFAULT_FUSION
    gene_vectors: str = "real"
    seed: int = 0

    @classmethod
    def from_arguments(cls, given: Mapping[str, Any], **fixed: Any) -> SemanticParams:
        """The parameters a run was called with (`given`: its `locals()`), `fixed` over them and
        any it does not take left at their defaults; checked."""
        named = {f.name: given[f.name] for f in fields(cls) if f.name in given}
        params = cls(**{**named, **fixed})
        params.check()
        return params

    def check(self) -> None:
        for name, value, choices in (
            ("weighting", self.weighting, semantic.WEIGHTINGS),
            ("isotropy", self.isotropy, semantic.ISOTROPY),
            ("isotropy fit", self.isotropy_fit, ISOTROPY_FITS),
            ("ranking", self.ranking, sentence_path.RANKINGS),
            ("fusion", self.fusion, semantic.FUSIONS),
            ("gene_vectors", self.gene_vectors, semantic.GENE_VECTORS),
        ):
            if value not in choices:
                raise UsageError(f"unknown {name} {value!r}; choose one of {', '.join(choices)}")
        check_seed(self.seed)  # a float seed was taken, and the controls' draws read it as is
        check_count(self.sentence_top_n, "sentence_top_n", minimum=0)
        check_count(self.n_remove, "n_remove", minimum=0)
        check_count(self.n_hvg, "n_hvg")
        if self.sentence_top_n == 0 and self.fusion == "sentence":
            raise UsageError("fusion 'sentence' needs the sentence path (sentence_top_n > 0)")


def fitted_genes(record: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """The `reference_genes` entry of an embed record (`uns["cellmodel"]`): the genes the view
    was fitted on (`gene_ids`, `sha256`); empty where the record has none."""
    return (record or {}).get("reference_genes") or {}


def reference_ids(given: Any) -> np.ndarray | None:
    """`reference_genes=` as GeneIDs: another run's entry (`uns["cellmodel"]["reference_genes"]`,
    a dict) read by its gene_ids; names, fractions or an empty list refused, where int() raised
    deep inside the match (or truncated 1002.5 to gene 1002)."""
    if given is None:
        return None
    if isinstance(given, Mapping):
        given = given.get("gene_ids")
    values = np.atleast_1d(np.asarray(given, dtype=object)) if given is not None else np.array([])
    whole = [
        isinstance(v, (int, np.integer)) or (isinstance(v, (float, np.floating)) and v == int(v))
        for v in values.ravel()
    ]
    if values.ndim != 1 or not values.size or not all(whole):
        raise UsageError(
            "reference_genes= takes NCBI GeneIDs, another run's"
            f" uns['cellmodel']['reference_genes']['gene_ids'] (or that entry), not {given!r:.60}"
        )
    return values.astype(np.int64)


def run_record(
    side: GeneSide,
    input_info: dict[str, Any],
    params: SemanticParams,
    all_genes: bool,
    sentence_info: dict[str, Any],
    timings: dict[str, float],
) -> dict[str, Any]:
    """The uns["cellmodel"] record of an embed run (in memory or chunked)."""
    ev = side.ev
    store_root = getattr(getattr(ev, "store", None), "root", None)
    return {
        "store_root": str(Path(store_root).resolve()) if store_root is not None else None,
        "embedding_id": ev.id,
        "text_id": ev.text_id,
        "tag": ev.tag,
        "model": ev.spec.name,
        "spec_sha256": ev.spec.spec_sha256(),
        "store_taxon": taxon_name(ev.taxon),
        "dim": int(ev.dim),
        "gene_match": side.match.report.to_dict(),
        "input": input_info,
        "params": asdict(params),
        "weights": {"n_genes_used": side.weights.n_genes_used},
        # The fixed gene set the post-processing is fitted on (see ISOTROPY_FITS).
        "reference_genes": {
            "rule": params.isotropy_fit,
            "n_genes": len(side.fit_ids),
            "sha256": genes_sha(side.fit_ids),
            "gene_ids": np.asarray(side.fit_ids, dtype=np.int64),
        },
        "vectors": {
            "source": "snapshot" if side.from_snapshot else "store version",
            "all_genes": bool(all_genes),
            "n_genes": side.n_vectors,
            "built": side.built or {},
        },
        "sentences": sentence_info,
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
    }


def _expression(
    adata: ad.AnnData, layer: str | None, gene_key: str | None, taxon: str | None
) -> Expression:
    """`expression`, with the note naming a var column of symbols where it matches more."""
    expr = expression(adata, layer=layer, gene_key=gene_key)
    expr.notes += hint_notes(expr.var, expr.genes, gene_key, taxon)
    return expr


def embed(
    adata: ad.AnnData,
    store_or_ev: Store | EmbeddingVersion,
    *,
    model: str = "minilm",
    taxon: str | None = None,
    gene_key: str | None = None,
    layer: str | None = None,
    weighting: str = DEFAULT_WEIGHTING,
    isotropy: str = DEFAULT_ISOTROPY,
    n_remove: int = semantic.DEFAULT_N_REMOVE,
    isotropy_fit: str = DEFAULT_ISOTROPY_FIT,
    n_hvg: int = DEFAULT_N_HVG,
    sentence_top_n: int = DEFAULT_TOP_N,
    ranking: str = DEFAULT_RANKING,
    fusion: str = DEFAULT_FUSION,
    gene_vectors: str = "real",
    seed: int = 0,
    template: str = DEFAULT_TEMPLATE,
    build_missing: bool = True,
    all_genes: bool = False,
    use_cache: bool = True,
    load_encoder: Callable[[], Encoder] | None = None,
    progress: semantic.StageProgress | None = None,
    notify: Callable[[str], None] | None = None,
    copy: bool = False,
    reference_genes: Sequence[int] | None = None,
) -> ad.AnnData:
    """Compute the dual-path semantic view of `adata`'s cells from a genekb store.

    `store_or_ev`: a `genekb.store.Store` or an embedding version itself. With a store, `model`
    is an encoder name (the data's genes are matched against the bundled snapshot, and vectors
    are read for the genes the view uses: see `vectors_for`, which writes a new version, never a
    tag, when the store lacks some and `build_missing`) or a tag or embedding id of the store
    (used as it is). `all_genes`: vectors for every matched gene, not only those the view reads.
    `gene_vectors`: "real", or the "shuffled"/"random" controls (seeded by `seed`).
    `load_encoder`: how to load the sentence encoder (default: the store spec's own encoder).
    `progress(stage, done, total)` is called as gene cards and sentences are embedded; `notify`
    receives one line when the store is written to. `reference_genes`: gene ids (another run's
    `uns["cellmodel"]["reference_genes"]["gene_ids"]`) the weighting chooses among and the
    post-processing is fitted on, so that two files' views share one space (each run's own
    choice of variable genes fits each its own). Returns `adata` (or a copy).
    """
    require_anndata(adata, cells_named_once=True)
    params = SemanticParams.from_arguments(locals())
    reference_genes = reference_ids(reference_genes)
    if copy:
        adata = adata.copy()
    timings: dict[str, float] = {}
    began = time.perf_counter()
    expr = _expression(adata, layer, gene_key, taxon)
    timings["read"] = time.perf_counter() - began

    began = time.perf_counter()
    weigh = weights_of(expr.X, params, every_candidate=reference_genes is not None)
    side = gene_side(
        store_or_ev, expr.genes, weigh, gene_totals=expr.X, model=model,
        taxon=taxon, params=params, template=template, build_missing=build_missing,
        all_genes=all_genes, progress=progress, notify=notify, pinned=reference_genes,
    )  # fmt: skip
    log.info("input: %s values (%s); %s", expr.kind, expr.source, side.match.report.summary())
    warn_of_empty_cells(empty_cells(expr.X, side.weights.scale), expr.X.shape[0], side)
    timings["genes"] = time.perf_counter() - began

    began = time.perf_counter()
    view_w = semantic.finish(semantic.weighted_path(expr.X, side.prepared.vectors, side.weights))
    timings["weighted"] = time.perf_counter() - began

    view_s, sentence_info = None, {}
    if params.sentence_top_n > 0:
        began = time.perf_counter()
        cache = _sentence_cache(side.ev) if use_cache else None
        view_s, sentence_info = _sentence_view(expr, side, params, cache, load_encoder, progress)
        timings["sentence"] = time.perf_counter() - began

    record = run_record(side, expr.to_dict(), params, all_genes, sentence_info, timings)
    if reference_genes is not None:
        record["reference_genes"]["rule"] = "given"
    _write(adata, view_w, view_s, params.fusion, record)
    return adata


def warn_of_empty_cells(n_empty: int, n_cells: int, side: GeneSide) -> str | None:
    """Warn of the `n_empty` cells that express none of the weighted genes, if any, and keep the
    warning with the match's (the record, --json); returns it. After centring each such cell's
    vector is the mean's opposite, one vector for them all that reads as a place in the semantic
    space (empty droplets clustered together, without a word)."""
    if not n_empty:
        return None
    note = (
        f"{n_empty} of {n_cells} cells express none of the {int(side.weights.n_genes_used)}"
        " genes the semantic view weighs: their vectors are all alike and say nothing of them"
        " (empty droplets? drop them, or read another layer=)"
    )
    side.match.report.warnings.append(note)
    warn(note, EmptyCellsWarning)
    return note


def empty_cells(X: Any, scale: np.ndarray) -> int:
    """The cells (rows of `X`) with no expression in the genes `scale` weighs."""
    return int((np.asarray(X @ np.asarray(scale, dtype=np.float64)).ravel() <= 0).sum())


_ALL_VARIABLE = {"hvg": "mean", "hvg-scaled": "scaled"}


def weights_of(
    X: Any, params: SemanticParams, every_candidate: bool = False
) -> Callable[[np.ndarray], semantic.GeneWeights]:
    """The weighted path's gene weights, computed once the matched genes are known;
    `every_candidate`: the given genes are the variable ones (pinned to another run's)."""

    # Every given gene variable: the HVG weightings are their plain forms over those genes.
    weighting = _ALL_VARIABLE.get(params.weighting, params.weighting) if every_candidate else None
    return lambda matched: semantic.gene_weights(
        X, matched, weighting or params.weighting, n_hvg=params.n_hvg
    )


def _write(
    adata: ad.AnnData,
    view_w: np.ndarray,
    view_s: np.ndarray | None,
    fusion: str,
    record: dict[str, Any],
) -> None:
    """The views into obsm (the sentence path's only when run) and the record into uns, kept
    beside what other steps wrote there."""
    adata.obsm["X_semantic_w"] = view_w
    if view_s is not None:
        adata.obsm["X_semantic_s"] = view_s
    else:  # a run again without the sentence path: the last run's would read as this one's
        adata.obsm.pop("X_semantic_s", None)
    adata.obsm["X_semantic"] = semantic.fuse(view_w, view_s, fusion)
    existing = adata.uns.get(UNS_KEY)
    merged = dict(existing) if isinstance(existing, dict) else {}
    merged.update(h5ad_safe(record))
    adata.uns[UNS_KEY] = merged


def _sentence_cache(ev: Any) -> sentence_path.SentenceCache | None:
    """The sentence-vector cache under the store the version lives in (none for a bare one)."""
    root = getattr(getattr(ev, "store", None), "root", None)
    return sentence_path.SentenceCache.under(root) if root is not None else None


def _sentence_view(
    expr: Expression,
    side: Any,
    params: SemanticParams,
    cache: sentence_path.SentenceCache | None,
    load_encoder: Callable[[], Encoder] | None,
    progress: semantic.StageProgress | None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """The sentence path: each cell's top genes as a sentence, embedded with the store's own
    encoder (or `load_encoder`); the view and what the run record keeps about it."""
    sentences = sentence_path.cell_sentences(
        expr.X,
        side.prepared.symbols,
        top_n=params.sentence_top_n,
        ranking=params.ranking,
        n_hvg=params.n_hvg,
    )
    spec, ev = side.ev.spec, side.ev
    if load_encoder is None:

        def load_encoder() -> Encoder:
            # A fitted encoder (tfidf-lsa) with the fit the gene vectors were made with.
            return version_encoder(ev)[0]

    vectors, stats = sentence_path.embed_sentences(
        sentences, spec=spec, load_encoder=load_encoder, cache=cache, progress=progress
    )
    info = {**stats.to_dict(), "example": sentences[0] if sentences else ""}
    return semantic.finish(vectors), info
