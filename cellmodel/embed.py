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
from cellmodel.genes import GeneMatch, detect_taxon, match_genes, taxon_name
from cellmodel.io import Expression, expression, h5ad_safe
from genekb.encoders.base import Encoder
from genekb.errors import GenekbError, IntegrityError, UsageError
from genekb.sources.bundled import available_taxa
from genekb.store.ids import genes_sha
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
    matched genes). Matched genes the store version lacks get zero rows; the caller makes sure
    every gene the view reads is there (`needed_rows`).
    """
    matched = match.matched
    fit_rows = reference_rows(match, matched if used is None else used, params)
    # Random vectors have no store to be fitted on, so they are fitted on themselves too.
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


def store_version(store: Any, model: str) -> Any | None:
    """The store's embedding version when `model` names one (a tag, an id or a unique id prefix)
    rather than an encoder of the registry; None for an encoder. Such a version is used as it is:
    never built, grown or re-tagged."""
    from genekb.encoders import registry

    try:
        registry.resolve(model)
        return None
    except UsageError:
        pass
    try:
        return store.embedding(model)
    except IntegrityError:
        raise
    except GenekbError:
        choices = registry.names() + sorted(store.tags())
        raise UsageError(
            f"--model {model!r} is neither an encoder nor a tag or embedding id of the store at"
            f" {store.root}; choose one of: {', '.join(choices)}"
        ) from None


def reference_table(genes: list[str], taxon: str | None) -> tuple[str, Any]:
    """The bundled gene snapshot the data's names are matched against: the data's own species,
    or human (through orthologs) when no snapshot of it ships."""
    from genekb.sources.bundled import load_bundled

    data_taxon = taxon_name(taxon) if taxon else detect_taxon(genes)
    ref_taxon = data_taxon if data_taxon in available_taxa() else "human"
    return ref_taxon, load_bundled(ref_taxon)


def run_reference(record: dict[str, Any], genes: list[str], ev: Any) -> tuple[Any, Any]:
    """The gene table (a DataFrame with the records) and taxon a run matched `genes` against,
    rebuilt from its uns record: the bundled snapshot for an encoder run, else the version's own
    genes. `cellmodel explain` uses it so it weighs the very genes the view weighed."""
    if (record.get("vectors") or {}).get("source") == "snapshot":
        data_taxon = (record.get("gene_match") or {}).get("data_taxon")
        ref_taxon, table = reference_table(genes, data_taxon)
        return table.table.to_pandas(), ref_taxon
    return ev.genes(), ev.taxon


def _snapshot_key(source: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(str(source.get(k)) for k in ("source", "date", "taxon"))


def _covering_version(
    store: Any, gene_ids: list[int], spec: Any, gene_table: Any, template_key: dict[str, Any]
) -> Any | None:
    """A version already in the store with vectors of this encoder, snapshot and template for
    every gene in `gene_ids` (the tagged one first); its vectors are the ones a build would write,
    since vectors are reused by (encoder, text hash)."""
    import warnings

    tag = f"{taxon_name(gene_table.snapshot.taxon)}/{template_key.get('id')}/{spec.name}"
    wanted = spec.learned_fields_cleared().hashed_fields()
    snapshot = _snapshot_key(gene_table.snapshot.to_dict())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # damaged versions are skipped here, reported elsewhere
        versions = store.embeddings()
    tagged = store.tags().get(tag)
    for version in sorted(versions, key=lambda v: v.id != tagged):
        manifest = version.manifest
        if (
            version.spec.learned_fields_cleared().hashed_fields() != wanted
            or manifest.get("template") != template_key
            or _snapshot_key(manifest.get("source", {})) != snapshot
        ):
            continue
        if set(gene_ids) <= set(version.matrix()[0].tolist()):
            return version
    return None


def vectors_for(
    store: Any,
    gene_table: Any,
    gene_ids: list[int],
    *,
    model: str,
    template: str,
    build_missing: bool,
    progress: semantic.StageProgress | None = None,
    notify: Callable[[str], None] | None = None,
) -> tuple[Any, dict[str, Any] | None]:
    """An embedding version holding vectors for `gene_ids`, and a build report when one was
    written.

    Reading never moves a tag. The exact version for these genes (content-addressed) or any
    version of the same encoder, snapshot and template that covers them is used as it is;
    otherwise (unless `build_missing` is False) a version for exactly these genes is written,
    reusing every vector the store already holds, and no tag is set or moved.
    """
    from genekb.encoders import registry
    from genekb.store.versions import built_spec, embedding_id, planned_text_id
    from genekb.templates import resolve as resolve_template

    spec = registry.resolve(model)
    chosen = resolve_template(template)
    text_id = planned_text_id(gene_table, chosen, gene_ids)
    full = built_spec(store, text_id, spec)
    if full is not None and store.has("embedding", embedding_id(text_id, full)):
        return store.embedding(embedding_id(text_id, full)), None
    covering = _covering_version(store, gene_ids, spec, gene_table, chosen.key())
    if covering is not None:
        return covering, None
    if not build_missing:
        raise GenekbError(
            f"the store at {store.root} has no {spec.name} vectors for the {len(gene_ids)} genes"
            " this run needs; drop --no-build to embed them into a new version (no tag moves),"
            " or build them with `genekb build --genes-from FILE`"
        )
    from genekb.store import catalog
    from genekb.store.versions import ensure_embedding_version, ensure_text_version

    def factory(total: int, reused: int) -> Callable[[int], None]:
        if notify:
            notify(
                f"embedding {total} gene card(s) with {spec.name} into a new store version for"
                f" the {len(gene_ids)} genes this run needs ({reused} reused); no tag moves"
            )
        done = [0]
        if progress:
            progress("build", 0, total)

        def advance(n: int) -> None:
            done[0] += n
            if progress:
                progress("build", done[0], total)

        return advance

    text, _ = ensure_text_version(store, gene_table, chosen, gene_ids)
    ev, stats = ensure_embedding_version(
        store, text, spec, lambda: registry.load(spec), progress=factory
    )
    catalog.rebuild(store)
    if notify and stats.get("created"):
        notify(f"wrote embedding version {ev.id} ({len(gene_ids)} genes) to {store.root}")
    report = {
        "embedding_id": ev.id,
        "n_genes": len(gene_ids),
        "embedded": int(stats.get("embedded", 0)),
        "reused": int(stats.get("reused", 0)),
        "seconds": round(float(stats.get("seconds", 0.0)), 3),
    }
    return ev, report


def needed_rows(match: GeneMatch, used: np.ndarray, params: SemanticParams) -> np.ndarray:
    """The data genes whose vectors the semantic view reads: those the weighting uses (and the
    post-processing is fitted on), or every matched gene when the fit or the shuffled control
    spans them all."""
    if params.isotropy_fit == "data" or params.gene_vectors == "shuffled":
        return match.matched
    return match.matched & used


def reference_rows(match: GeneMatch, used: np.ndarray, params: SemanticParams) -> np.ndarray:
    """The data genes the post-processing statistics are fitted on (see `ISOTROPY_FITS`)."""
    return match.matched & used if params.isotropy_fit == "used" else match.matched


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
    all_genes: bool = False,
    use_cache: bool = True,
    load_encoder: Callable[[], Encoder] | None = None,
    progress: semantic.StageProgress | None = None,
    notify: Callable[[str], None] | None = None,
    copy: bool = False,
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
    receives one line when the store is written to. Returns `adata` (or a copy).
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
    ev = store_or_ev if _is_embedding_version(store_or_ev) else store_version(store_or_ev, model)
    gene_table = None
    if ev is not None:
        # A version given as such (or by tag or id) is used as it is: its own genes are the
        # reference, and it is never built, grown or re-tagged.
        ref_taxon: Any = ev.taxon
        reference = ev.genes()
    else:
        ref_taxon, gene_table = reference_table(expr.genes, taxon)
        reference = gene_table.table.select(["gene_id", "symbol", "aliases", "ensembl"])
        reference = reference.to_pandas()
    match = match_genes(expr.genes, reference, store_taxon=ref_taxon, data_taxon=taxon, X=expr.X)
    log.info("input: %s values (%s); %s", expr.kind, expr.source, match.report.summary())
    symbol_of = dict(zip(reference["gene_id"].astype(int), reference["symbol"], strict=True))
    weights = semantic.gene_weights(expr.X, match.matched, params.weighting, n_hvg=params.n_hvg)
    used = weights.scale != 0
    fit_ids = sorted({int(g) for g in match.gene_ids[reference_rows(match, used, params)]})
    built = None
    if ev is None:
        rows = match.matched if all_genes else needed_rows(match, used, params)
        needed = sorted({int(g) for g in match.gene_ids[rows]})
        if not needed:
            raise GenekbError("no gene of the data has a weight in the semantic view")
        ev, built = vectors_for(
            store_or_ev,
            gene_table,
            needed,
            model=model,
            template=template,
            build_missing=build_missing,
            progress=progress,
            notify=notify,
        )
    store_ids, store_vectors = ev.matrix()
    timings["genes"] = time.perf_counter() - began

    began = time.perf_counter()
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
        # The fixed gene set the post-processing is fitted on (see ISOTROPY_FITS).
        "reference_genes": {
            "rule": params.isotropy_fit,
            "n_genes": len(fit_ids),
            "sha256": genes_sha(fit_ids),
            "gene_ids": np.asarray(fit_ids, dtype=np.int64),
        },
        "vectors": {
            "source": "snapshot" if gene_table is not None else "store version",
            "all_genes": bool(all_genes),
            "n_genes": len(store_ids),
            "built": built or {},
        },
        "sentences": sentence_info,
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
    }
    existing = adata.uns.get(UNS_KEY)
    merged = dict(existing) if isinstance(existing, dict) else {}
    merged.update(h5ad_safe(record))
    adata.uns[UNS_KEY] = merged
    return adata
