"""`embed(adata, store)`: the semantic view of each cell, written into the AnnData scanpy-style.

Writes `obsm["X_semantic_w"]` (weighted path), `obsm["X_semantic_s"]` (sentence path),
`obsm["X_semantic"]` (their fusion) and `uns["cellmodel"]` (store root, embedding and text ids,
tag, gene match report, input kind, parameters, timings). See `cellmodel.semantic` for the methods.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np

from cellmodel import semantic
from cellmodel._settings import DEFAULT_N_HVG, UNS_KEY
from cellmodel.genes import GeneMatch, detect_taxon, match_genes, ortholog_ids, taxon_name
from cellmodel.io import Expression, expression, h5ad_safe
from genekb.encoders.base import Encoder
from genekb.errors import GenekbError, UsageError
from genekb.sources.bundled import available_taxa
from genekb.templates import DEFAULT_TEMPLATE

# Chosen from the measurements in docs/semantic_experiments.md (scripts/exp_weighting.py).
DEFAULT_WEIGHTING = "hvg-scaled"
DEFAULT_ISOTROPY = "whiten"
DEFAULT_ISOTROPY_FIT = "used"
DEFAULT_RANKING = "hvg"
DEFAULT_TOP_N = 32
DEFAULT_FUSION = "concat"
# Which gene vectors the post-processing is fitted on: those the weighting uses (the subspace the
# cells actually live in), all matched data genes, or the whole store.
ISOTROPY_FITS = ("used", "data", "store")

log = logging.getLogger(__name__)


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

    def check(self) -> None:
        for name, value, choices in (
            ("weighting", self.weighting, semantic.WEIGHTINGS),
            ("isotropy", self.isotropy, semantic.ISOTROPY),
            ("isotropy fit", self.isotropy_fit, ISOTROPY_FITS),
            ("ranking", self.ranking, semantic.RANKINGS),
            ("fusion", self.fusion, semantic.FUSIONS),
            ("gene_vectors", self.gene_vectors, semantic.GENE_VECTORS),
        ):
            if value not in choices:
                raise UsageError(f"unknown {name} {value!r}; choose one of {', '.join(choices)}")
        if self.sentence_top_n < 0 or self.n_hvg < 1 or self.n_remove < 0:
            raise UsageError("sentence_top_n and n_remove must be >= 0 and n_hvg >= 1")
        if self.sentence_top_n == 0 and self.fusion == "sentence":
            raise UsageError("fusion 'sentence' needs the sentence path (sentence_top_n > 0)")


@dataclass
class GeneVectors:
    """The data's gene vectors after post-processing and the chosen control."""

    vectors: np.ndarray  # data genes × dim; zero rows for unmatched genes
    symbols: list[str | None]  # store symbol per data gene (control applied), None if unmatched


def prepare_gene_vectors(
    store_ids: np.ndarray,
    store_vectors: np.ndarray,
    store_symbols: dict[int, str],
    match: GeneMatch,
    params: SemanticParams,
    used: np.ndarray | None = None,
) -> GeneVectors:
    """Vectors for the data genes: the chosen control, post-processed (see `ISOTROPY_FITS`).

    `used`: the genes the weighting gives weight to (for `isotropy_fit="used"`; default: all
    matched genes).
    """
    matched = match.matched
    fit_rows = matched & used if used is not None and params.isotropy_fit == "used" else matched
    if params.isotropy_fit == "store" and params.gene_vectors != "random":
        fitted = semantic.fit_isotropy(store_vectors, params.isotropy, params.n_remove)
        vectors = semantic.gene_matrix(store_ids, fitted.apply(store_vectors), match.gene_ids)
        vectors = semantic.control_vectors(vectors, matched, params.gene_vectors, params.seed)
    else:
        # Random vectors have no store to be fitted on, so they are always fitted on themselves.
        vectors = semantic.gene_matrix(store_ids, store_vectors, match.gene_ids)
        vectors = semantic.control_vectors(vectors, matched, params.gene_vectors, params.seed)
        if fit_rows.any():
            fitted = semantic.fit_isotropy(vectors[fit_rows], params.isotropy, params.n_remove)
            vectors[matched] = fitted.apply(vectors[matched])
    vectors[~matched] = 0.0
    symbols = [
        store_symbols.get(int(g)) if m else None
        for g, m in zip(match.gene_ids, matched, strict=True)
    ]
    symbols = semantic.control_symbols(symbols, matched, params.gene_vectors, params.seed)
    return GeneVectors(vectors=vectors, symbols=symbols)


def _is_embedding_version(obj: Any) -> bool:
    return hasattr(obj, "matrix") and hasattr(obj, "spec")


def _known_tag(store: Any, tag: str) -> bool:
    return tag in store.tags()


def resolve_embedding(
    store: Any,
    genes: list[str],
    *,
    model: str,
    taxon: str | None,
    template: str,
    build_missing: bool,
    progress: semantic.StageProgress | None = None,
) -> Any:
    """The embedding version for these genes: the store's tag `<taxon>/<template>/<model>`, built
    (or grown to cover the data's genes, reusing every vector already computed) when needed.

    Mouse data uses a mouse store when the store has one, else the human store through orthologs.
    """
    data_taxon = taxon_name(taxon) if taxon else detect_taxon(genes)
    candidates = [f"{data_taxon}/{template}/{model}"]
    if data_taxon == "mouse":
        candidates.append(f"human/{template}/{model}")
    present = [t for t in candidates if _known_tag(store, t)]
    ev = store.embedding(present[0]) if present else None
    if not build_missing:
        if ev is None:
            raise GenekbError(
                f"the store at {store.root} has no embedding {candidates[0]!r}; build it with"
                f" `genekb build --taxon {data_taxon} --model {model}` or allow building"
            )
        return ev
    store_taxon = taxon_name(ev.taxon) if ev is not None else data_taxon
    if ev is not None and store_taxon != data_taxon:
        return ev  # orthologs decide coverage; growing the store would not add matches
    if ev is None and data_taxon not in available_taxa() and data_taxon == "mouse":
        # No mouse snapshot here: build the human genes the data's mouse genes are orthologs of.
        store_taxon = "human"
        genes = [str(int(g)) for g in ortholog_ids(genes, "mouse", "human") if g >= 0]
    missing = _genes_missing_from(ev, genes, store_taxon)
    if ev is not None and not missing:
        return ev
    from genekb.build import build

    wanted = list(genes)
    if ev is not None:
        # Grow, never shrink: the tag moves to a version holding the old genes and the new ones.
        wanted += [str(int(g)) for g in ev.matrix()[0]]
    if progress:
        progress("build", 0, len(missing))
    try:
        report = build(store, model=model, taxon=store_taxon, template=template, genes=wanted)
    except GenekbError as exc:
        if ev is not None:
            return ev
        raise GenekbError(f"cannot build a {store_taxon} store for these genes: {exc}") from None
    if progress:
        progress("build", len(missing), len(missing))
    return store.embedding(report["embedding_id"])


def _genes_missing_from(ev: Any, genes: list[str], taxon: str) -> list[str]:
    """Data genes the bundled snapshot knows but `ev` lacks (all known ones when ev is None)."""
    from genekb.genemap import GeneIndex
    from genekb.sources.bundled import load_bundled

    if taxon not in available_taxa():
        return [] if ev is not None else list(genes)
    frame = load_bundled(taxon).table.select(["gene_id", "symbol", "aliases", "ensembl"])
    resolved = GeneIndex.from_frame(frame.to_pandas()).resolve(genes)
    known = resolved[resolved["gene_id"] >= 0]
    if ev is None:
        return known["query"].tolist()
    have = set(ev.matrix()[0].tolist())
    return known.loc[~known["gene_id"].isin(have), "query"].tolist()


def embed(
    adata: ad.AnnData,
    store_or_ev: Any,
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
    use_cache: bool = True,
    load_encoder: Callable[[], Encoder] | None = None,
    progress: semantic.StageProgress | None = None,
    copy: bool = False,
) -> ad.AnnData:
    """Compute the dual-path semantic view of `adata`'s cells from a genekb store.

    `store_or_ev`: a `genekb.store.Store` (the embedding is found by its tag
    `<taxon>/<template>/<model>` and built for the data's genes when missing) or an embedding
    version itself.
    `gene_vectors`: "real", or the "shuffled"/"random" controls (seeded by `seed`).
    `load_encoder`: how to load the sentence encoder (default: the store spec's own encoder).
    `progress(stage, done, total)` is called as sentences are embedded. Returns `adata` (or a copy).
    """
    params = SemanticParams(
        weighting=weighting,
        isotropy=isotropy,
        n_remove=n_remove,
        isotropy_fit=isotropy_fit,
        n_hvg=n_hvg,
        sentence_top_n=sentence_top_n,
        ranking=ranking,
        fusion=fusion,
        gene_vectors=gene_vectors,
        seed=seed,
    )
    params.check()
    if copy:
        adata = adata.copy()
    timings: dict[str, float] = {}
    began = time.perf_counter()
    expr: Expression = expression(adata, layer=layer, gene_key=gene_key)
    timings["read"] = time.perf_counter() - began

    began = time.perf_counter()
    if _is_embedding_version(store_or_ev):
        ev = store_or_ev
    else:
        ev = resolve_embedding(
            store_or_ev,
            expr.genes,
            model=model,
            taxon=taxon,
            template=template,
            build_missing=build_missing,
            progress=progress,
        )
    store_genes = ev.genes()
    match = match_genes(expr.genes, store_genes, store_taxon=ev.taxon, data_taxon=taxon, X=expr.X)
    log.info("input: %s values (%s); %s", expr.kind, expr.source, match.report.summary())
    store_ids, store_vectors = ev.matrix()
    symbol_of = dict(zip(store_genes["gene_id"].astype(int), store_genes["symbol"], strict=True))
    timings["genes"] = time.perf_counter() - began

    began = time.perf_counter()
    weights = semantic.gene_weights(expr.X, match.matched, params.weighting, n_hvg=params.n_hvg)
    used = weights.scale != 0
    prepared = prepare_gene_vectors(store_ids, store_vectors, symbol_of, match, params, used)
    view_w = semantic.finish(semantic.weighted_path(expr.X, prepared.vectors, weights))
    timings["weighted"] = time.perf_counter() - began

    view_s: np.ndarray | None = None
    sentence_info: dict[str, Any] = {}
    if params.sentence_top_n > 0:
        began = time.perf_counter()
        sentences = semantic.cell_sentences(
            expr.X,
            prepared.symbols,
            top_n=params.sentence_top_n,
            ranking=params.ranking,
            n_hvg=params.n_hvg,
        )
        root = getattr(getattr(ev, "store", None), "root", None)
        cache = semantic.SentenceCache.under(root) if use_cache and root is not None else None
        spec = ev.spec
        if load_encoder is None:
            from genekb.encoders.registry import load as registry_load

            def load_encoder() -> Encoder:
                return registry_load(spec)

        vectors, stats = semantic.embed_sentences(
            sentences, spec=spec, load_encoder=load_encoder, cache=cache, progress=progress
        )
        view_s = semantic.finish(vectors)
        sentence_info = {**stats.to_dict(), "example": sentences[0] if sentences else ""}
        timings["sentence"] = time.perf_counter() - began

    adata.obsm["X_semantic_w"] = view_w
    if view_s is not None:
        adata.obsm["X_semantic_s"] = view_s
    adata.obsm["X_semantic"] = semantic.fuse(view_w, view_s, params.fusion)

    store_root = getattr(getattr(ev, "store", None), "root", None)
    record = {
        "store_root": str(Path(store_root).resolve()) if store_root is not None else None,
        "embedding_id": ev.id,
        "text_id": ev.text_id,
        "tag": ev.tag,
        "model": ev.spec.name,
        "spec_sha256": ev.spec.spec_sha256(),
        "store_taxon": taxon_name(ev.taxon),
        "dim": int(ev.dim),
        "gene_match": match.report.to_dict(),
        "input": expr.to_dict(),
        "params": asdict(params),
        "weights": {"n_genes_used": weights.n_genes_used},
        "sentences": sentence_info,
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
    }
    existing = adata.uns.get(UNS_KEY)
    merged = dict(existing) if isinstance(existing, dict) else {}
    merged.update(h5ad_safe(record))
    adata.uns[UNS_KEY] = merged
    return adata
