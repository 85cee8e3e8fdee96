"""Where a run's gene vectors come from: the reference its gene names are matched against, and
the store version that holds vectors for the genes it needs (read as it is, or written for exactly
those genes; never a tag moved). `cellmodel.embed` is the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from cellmodel.knowledge.genes import detect_taxon, taxon_name
from genekb.build import fit_on_source
from genekb.encoders import registry
from genekb.errors import GenekbError, IntegrityError, UsageError
from genekb.sources.bundled import available_taxa, load_bundled
from genekb.store import catalog
from genekb.store.ids import default_tag
from genekb.store.store import EmbeddingVersion, Store
from genekb.store.versions import (
    built_spec,
    embedding_id,
    ensure_embedding_version,
    ensure_text_version,
    planned_text_id,
)
from genekb.templates import resolve as resolve_template

# (stage, done, total), as cellmodel.semantic.StageProgress
StageProgress = Callable[[str, int, int], None]


def store_version(store: Store, model: str) -> EmbeddingVersion | None:
    """The store's embedding version when `model` names one (a tag, an id or a unique id prefix)
    rather than an encoder of the registry; None for an encoder. Such a version is used as it is:
    never built, grown or re-tagged."""
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
            f"model={model!r} is neither an encoder nor a tag or embedding id of the store at"
            f" {store.root}; choose one of: {', '.join(choices)}"
        ) from None


def reference_table(genes: list[str], taxon: str | None) -> tuple[str, Any]:
    """The bundled gene snapshot the data's names are matched against: the data's own species,
    or human (through orthologs) when no snapshot of it ships."""
    data_taxon = taxon_name(taxon) if taxon else detect_taxon(genes)
    ref_taxon = data_taxon if data_taxon in available_taxa() else "human"
    return ref_taxon, load_bundled(ref_taxon)


def run_reference(record: dict[str, Any], genes: list[str], ev: Any) -> tuple[Any, Any]:
    """The gene table (a DataFrame with the records) and taxon a run matched `genes` against,
    rebuilt from its uns record: the bundled snapshot for an encoder run, else the version's own
    genes. `cellmodel.explain` uses it so it weighs the very genes the view weighed."""
    if (record.get("vectors") or {}).get("source") == "snapshot":
        data_taxon = (record.get("gene_match") or {}).get("data_taxon")
        ref_taxon, table = reference_table(genes, data_taxon)
        return table.table.to_pandas(), ref_taxon
    return ev.genes(), ev.taxon


def _snapshot_key(source: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(str(source.get(k)) for k in ("source", "date", "taxon"))


def _covering_version(
    store: Store, gene_ids: list[int], spec: Any, gene_table: Any, template_key: dict[str, Any]
) -> EmbeddingVersion | None:
    """A version already in the store with vectors of this encoder, snapshot and template for
    every gene in `gene_ids` (the tagged one first); its vectors are the ones a build would write,
    since vectors are reused by (encoder, text hash)."""
    import warnings

    tag = default_tag(taxon_name(gene_table.snapshot.taxon), template_key.get("id"), spec.name)
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


# A Python session's words (cm.tl's build=): "drop --no-build" was no advice in a notebook. The
# command line says its own (cli.flags.PYTHON_ONLY).
BUILD_ADVICE = "pass build=True to embed them"


def vectors_for(
    store: Store,
    gene_table: Any,
    gene_ids: list[int],
    *,
    model: str,
    template: str,
    build_missing: bool,
    progress: StageProgress | None = None,
    notify: Callable[[str], None] | None = None,
) -> tuple[Any, dict[str, Any] | None]:
    """An embedding version holding vectors for `gene_ids`, and a build report when one was
    written.

    Reading never moves a tag. The exact version for these genes (content-addressed) or any
    version of the same encoder, snapshot and template that covers them is used as it is;
    otherwise (unless `build_missing` is False) a version for exactly these genes is written,
    reusing every vector the store already holds, and no tag is set or moved.
    """
    if progress is None:  # a Python session's bars (`genekb.progress.stage_bars`), if active
        from genekb.progress import active_stage_hook

        progress = active_stage_hook()
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
            f" this run needs; {BUILD_ADVICE} into a new version (no tag moves),"
            " or build them with `genekb build --genes-from FILE`"
        )

    def factory(total: int, reused: int, costs: Sequence[float]) -> Callable[[int], None]:
        if notify:
            notify(
                f"embedding {total} gene card(s) with {spec.name} into a new store version for"
                f" the {len(gene_ids)} genes this run needs ({reused} reused); no tag moves"
            )
        done = [0]
        weigh = getattr(progress, "weigh", None)  # optional: the CLI's hook weighs long cards
        if weigh:
            weigh("build", costs)
        if progress:
            progress("build", 0, total)

        def advance(n: int) -> None:
            done[0] += n
            if progress:
                progress("build", done[0], total)

        return advance

    text, _ = ensure_text_version(store, gene_table, chosen, gene_ids)
    # An encoder fitted on texts (tfidf-lsa) learns from every card of the snapshot, as in
    # `genekb build`, so its vectors match the whole store's.
    spec, fitted, fit_files = fit_on_source(store, text, spec, None, gene_table, chosen)
    ev, stats = ensure_embedding_version(
        store, text, spec, lambda: fitted or registry.load(spec), progress=factory,
        extra_files=fit_files,
    )  # fmt: skip
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
