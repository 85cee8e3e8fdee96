"""Build a store version: gene records -> text version -> embedding version -> tag and catalog."""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from genekb.device import resolve_device
from genekb.encoders import registry
from genekb.encoders.base import ProgressFactory
from genekb.encoders.ray_engine import RayEncoder, check_engine
from genekb.encoders.tfidf_backend import FIT_FILE, needs_fit
from genekb.errors import GenekbError, UnknownNameError, UsageError, add_note, check_whole
from genekb.gene_lists import warn_other_style, why_none_matched
from genekb.genemap import (
    GeneIndex,
    is_missing,
    lookalike_note,
    spreadsheet_dates,
)
from genekb.records import TAXA, GeneTable
from genekb.sources import load_source
from genekb.store.foreign import OtherSpeciesNamesWarning
from genekb.store.ids import check_tag, check_tag_species, default_tag
from genekb.store.store import Store
from genekb.store.versions import (
    built_spec,
    embedding_id,
    ensure_embedding_version,
    ensure_text_version,
    planned_text_id,
)
from genekb.templates import DEFAULT_TEMPLATE
from genekb.templates import resolve as resolve_template
from genekb.views import combine, publish_build, refuse_losing_genes

VIEW_SEPARATOR = "+"  # `--model minilm+tfidf-lsa`: one version of both encoders' views


def _check_request(
    model: object, tag: str | None, device: str | None, engine: str, batch: object, force: object
) -> None:
    """The model's and tag's form, the batch size, --force, and the device on the local engine
    up front: a build whose vectors are all reused would otherwise accept any device."""
    check_tag(tag)
    if not isinstance(model, str):  # None failed inside: "argument of type 'NoneType' ..."
        raise UsageError(f"model={model!r} must be an encoder name (see `genekb encoders`)")
    check_whole(batch, "batch_size")  # "64" or 0 failed inside ("range() arg 3 must not be zero")
    if not isinstance(force, bool):  # force="no" is truthy: it moved the tag
        raise UsageError(f"force={force!r} must be True or False")
    if device is not None and engine == "local":
        resolve_device(device)


def build(
    store: Store,
    *,
    model: str = registry.DEFAULT_MODEL,
    source: str = "bundled",
    taxon: str | None = None,
    template: str = DEFAULT_TEMPLATE,
    genes: str | Sequence[str] | None = None,
    source_options: dict[str, Any] | None = None,
    device: str | None = None,
    batch_size: int = 64,
    progress: ProgressFactory | None = None,
    tag: str | None = None,
    gene_table: GeneTable | None = None,
    engine: str = "local",
    address: str | None = None,
    num_workers: int | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Build (or find) the text and embedding versions for these inputs; returns a report.

    `gene_table` builds from records you already hold instead of loading `source`; `taxon`
    (human or mouse) defaults to its genes' taxon, else human.
    `engine`: "local" (this process) or "ray" (actors of the Ray cluster at `address`, default a
    private local instance; `num_workers` actors, default one per GPU else per CPU). The engine
    changes where texts are encoded, never the version written: same id, manifest and vectors.
    """
    _check_request(model, tag, device, engine, batch_size, force)
    taxon = _taxon_of(taxon, gene_table, tag, force)
    genes = _gene_names(genes)
    views = view_models(model)
    if views:
        return _build_views(
            store, views, tag=tag, source=source, taxon=taxon, template=template, genes=genes,
            source_options=source_options, device=device, batch_size=batch_size,
            progress=progress, gene_table=gene_table, engine=engine, address=address,
            num_workers=num_workers, force=force,
        )  # fmt: skip
    start = time.perf_counter()
    spec = _engine_spec(model, engine, address, num_workers)

    def load_encoder() -> Any:
        if engine == "ray":
            return RayEncoder(spec, device=device, address=address, num_workers=num_workers)
        return registry.load(spec, device)

    chosen_template = resolve_template(template)
    if gene_table is None:
        gene_table = _load_genes(store, source, taxon, source_options)
    else:
        source = gene_table.snapshot.source
    selected, unmatched, shared = _select(gene_table, genes, taxon, source)
    if tag or spec.dim is not None:  # else the tag's model name is known once the encoder loads
        ids = selected or gene_table.table.column("gene_id").to_pylist()
        refuse_losing_genes(store, tag or default_tag(taxon, chosen_template.id, spec.name),
                            set(ids), force)  # fmt: skip

    def planned() -> str:
        return planned_text_id(gene_table, chosen_template, selected)

    spec, encoder = _encoder_before_texts(store, spec, planned, load_encoder, engine)
    text, text_created = ensure_text_version(store, gene_table, chosen_template, selected)
    with texts_kept(text.id, text_created):
        spec, fitted, fit_files = fit_on_source(
            store, text, spec, device, gene_table, chosen_template
        )
        encoder = fitted or encoder
        embedding, stats = ensure_embedding_version(
            store, text, spec, lambda: encoder or load_encoder(),
            batch_size=batch_size, progress=progress, device=device, extra_files=fit_files,
        )  # fmt: skip
    tag = tag or default_tag(taxon, chosen_template.id, spec.name)
    publish_build(store, tag, embedding.id, force, created=text_created or stats["created"])
    return _report(
        store, text, embedding, spec, stats,
        tag=tag, source=source, taxon=taxon, template=chosen_template.id, engine=engine,
        text_created=text_created, genes=genes, unmatched=unmatched, shared=shared,
        seconds=time.perf_counter() - start,
    )  # fmt: skip


def _taxon_of(taxon: str | None, gene_table: GeneTable | None, tag: str | None, force: bool) -> str:
    """The taxon a build is named and tagged by, its `tag` refused where it names another
    (`check_tag_species`). A mouse `gene_table` built without taxon= was tagged human/…, taking
    the tag human readers look up (who were then refused its genes)."""
    if taxon is not None and taxon not in TAXA:  # "Mouse" with a table tagged Mouse/…
        raise UnknownNameError("taxon", taxon, list(TAXA))
    held = TAXA[taxon or "human"] if gene_table is None else int(gene_table.snapshot.taxon)
    own = next((name for name, number in TAXA.items() if number == held), str(held))
    if taxon is not None and TAXA[taxon] != held:
        raise UsageError(
            f"taxon={taxon!r} but gene_table holds genes of taxon {held} ({own}); pass"
            f" taxon={own!r} or leave taxon out"
        )
    if tag is not None:
        check_tag_species(tag, held, "this build", force=force)
    return taxon or own


def _gene_names(genes: str | Sequence[str] | None) -> list[str] | None:
    """The names asked for (None: every gene). "TP53" was read as T, P, 5 and 3 (3 genes); a
    generator has no len(); NaN from a pandas column is no name: str(NaN) is "nan", an alias of
    SCN11A; no names at all said "none of the 0 genes given matches the human bundled source"."""
    if genes is None:
        return None
    names = [g for g in ([genes] if isinstance(genes, str) else list(genes)) if not is_missing(g)]
    if not names:
        raise UsageError("genes= holds no gene names; give names, or None for every gene")
    return names


def _engine_spec(model: str, engine: str, address: str | None, workers: int | None) -> Any:
    """The encoder's spec, once the engine is known to take it."""
    check_engine(engine, address, workers)
    spec = registry.resolve(model)
    if engine == "ray" and (spec.long_text != "truncate" or needs_fit(spec)):
        raise UsageError(f"{spec.name} runs on the local engine only (--engine local)")
    return spec


@contextlib.contextmanager
def texts_kept(text_id: str, created: bool) -> Iterator[None]:
    """A failure after this build wrote its text version says the version stays. It is whole
    (staged, renamed into place with its manifest), content-addressed and checked on every read,
    so it is kept for the rerun to reuse, not removed; nothing else of the build is visible
    (the embedding is staged, and the tag moves last)."""
    try:
        yield
    except BaseException as exc:
        if created:
            add_note(
                exc,
                f"the text version {text_id} this build wrote is complete and kept (`genekb"
                " verify` checks it); run the build again once fixed: it reuses those texts",
            )
        raise


def _encoder_before_texts(
    store: Store, spec: Any, planned: Callable[[], str], load_encoder: Any, engine: str
) -> tuple[Any, Any]:
    """(spec, encoder or None): the encoder loaded before any text version is written where
    its spec needs it (a generic spec learns its dimension and weights hash on load), or where
    the store is new (no vectors to reuse: one that cannot load fails before a store exists)."""
    if spec.dim is None:
        # A remote server cannot be hashed: a version it built before is found without calling
        # it, so rebuilding a complete version works while the server is down.
        known = built_spec(store, planned(), spec) if spec.backend == "openai" else None
        if known is not None:
            return known, None
        encoder = load_encoder()
        return encoder.spec, encoder
    if store.is_new and engine == "local" and not needs_fit(spec):
        return spec, load_encoder()
    return spec, None


def view_models(model: str) -> list[str] | None:
    """The encoders of a multi-view name (`minilm+tfidf-lsa`), each resolved; None for one
    encoder. Generic names (`st:/path`) are never split."""
    if VIEW_SEPARATOR not in model or ":" in model:
        return None
    parts = model.split(VIEW_SEPARATOR)
    if len(set(parts)) < len(parts) or not all(parts):
        raise UsageError(f"{model!r}: name each encoder of a multi-view build once")
    for part in parts:
        registry.resolve(part)
    return parts


def _build_views(
    store: Store, models: list[str], *, tag: str | None, **options: Any
) -> dict[str, Any]:
    """Each encoder's version of the same texts (tagged as a one-encoder build tags it), then
    the version holding them side by side (genekb.views), tagged taxon/template/a+b."""
    start = time.perf_counter()
    local = {"engine": "local", "address": None, "num_workers": None}
    # A fitted view (seconds of sparse algebra) runs here whatever engine embeds the others.
    parts = []
    for m in models:
        here = local if needs_fit(registry.resolve(m)) else {}
        view_tag = None if tag is None else f"{tag}/{m}"  # a named build tags its views apart
        with warnings.catch_warnings():
            if parts:  # each view reads the same names: the first says what of them, once
                warnings.simplefilter("ignore", OtherSpeciesNamesWarning)
            parts.append(build(store, model=m, tag=view_tag, **{**options, **here}))
    first = parts[0]
    name = VIEW_SEPARATOR.join(models)
    joined = combine(
        store, [p["embedding_id"] for p in parts],
        tag or default_tag(first["taxon"], first["template"], name), force=options["force"],
    )  # fmt: skip
    combined = store.embedding(joined["embedding_id"])
    own_bytes = sum(int(f.get("bytes", 0)) for f in combined.manifest["files"].values())
    return {
        **first,
        "embedding_id": joined["embedding_id"],
        "tag": joined["tag"],
        "model": name,
        "dim": joined["dim"],
        "embedded": sum(p["embedded"] for p in parts),
        "reused": sum(p["reused"] for p in parts),
        "windowed": sum(p["windowed"] for p in parts),
        "bytes": own_bytes + sum(p["bytes"] for p in parts),
        "embedding_created": joined["created"],
        "skipped_damaged": [m for p in parts for m in p["skipped_damaged"]],
        "views": parts,
        "seconds": round(time.perf_counter() - start, 3),
        "texts_per_second": None,
    }


def _load_genes(
    store: Store, source: str, taxon: str, source_options: dict[str, Any] | None
) -> GeneTable:
    options = dict(source_options or {})
    if source == "entrez":  # summaries are cached beside the store they feed
        options.setdefault("cache_dir", str(store.root / "cache" / "entrez"))
    return load_source(source, taxon, **options)


def _select(
    gene_table: GeneTable, genes: Sequence[str] | None, taxon: str, source: str
) -> tuple[list[int] | None, list[str], list[str]]:
    """The GeneIDs asked for (None: all), the names that matched none, those several genes share."""
    if genes is None:
        return None, [], []
    index = GeneIndex.from_frame(
        gene_table.table.select(["gene_id", "symbol", "aliases", "ensembl"]).to_pandas()
    )
    resolved = index.resolve(list(genes))
    hit = resolved["gene_id"] >= 0
    unmatched = resolved.loc[~hit, "query"].tolist()
    selected = sorted(set(resolved.loc[hit, "gene_id"].tolist()))
    if not selected:
        raise GenekbError(
            f"none of the {len(genes)} genes given matches the {taxon} {source} source"
            f"{lookalike_note(unmatched)}; {why_none_matched(unmatched, index)}"
        )
    by_name = resolved.loc[hit & resolved["route"].isin(["symbol", "alias"]), "query"].tolist()
    warn_other_style(by_name, len(genes), gene_table.table.column("symbol").to_pylist(), taxon)
    return selected, unmatched, index.shared_names(unmatched)


def fit_on_source(
    store: Store, text: Any, spec: Any, device: str | None, gene_table: GeneTable, template: Any
) -> tuple[Any, Any, dict[str, bytes] | None]:
    """For an encoder fitted on texts (the fit's hash joins the spec first): the fitted spec, the
    fitted encoder (None where the whole corpus's version is found, not refitted) and the fit's
    file. The fit is made on every text of `gene_table` under `template`, whichever
    genes `text` holds, so a gene's vector does not depend on the genes built beside it (and a
    gene list's version reuses the whole store's vectors). Other encoders pass through."""
    if not needs_fit(spec):
        return spec, None, None
    corpus = text
    if text.manifest["counts"]["genes"] < gene_table.table.num_rows:  # a gene list's version
        corpus, _ = ensure_text_version(store, gene_table, template, None)
    known = built_spec(store, corpus.id, spec)
    if known is not None and corpus.id == text.id:
        return known, None, None
    if known is not None:  # the whole store's fit, read back instead of made again
        encoder, files = version_encoder(store.embedding(embedding_id(corpus.id, known)), device)
        return known, encoder, files
    encoder = registry.load(spec, device)
    spec = encoder.fit(corpus.table(["text"]).column("text").to_pylist())
    return spec, encoder, encoder.fit_file()


def version_encoder(version: Any, device: str | None = None) -> tuple[Any, dict[str, bytes] | None]:
    """The encoder that made an embedding version, with the fit it was made with where it was
    fitted on texts (read through the version's hash check), and that fit's files (else None)."""
    encoder = registry.load(version.spec, device)
    if not needs_fit(version.spec):
        return encoder, None
    files = {FIT_FILE: version.read_bytes(FIT_FILE)}
    return encoder.load_fit(files), files


def check_model(model: str) -> None:
    """Fail with the list of choices unless `model` names an encoder or encoders side by side."""
    if not view_models(model):
        registry.resolve(model)


def _report(
    store: Store,
    text: Any,
    embedding: Any,
    spec: Any,
    stats: dict[str, Any],
    *,
    tag: str,
    source: str,
    taxon: str,
    template: str,
    engine: str,
    text_created: bool,
    genes: Sequence[str] | None,
    unmatched: list[str],
    shared: list[str],
    seconds: float,
) -> dict[str, Any]:
    """What `build` did: the versions, the tag, counts and timings."""
    n_genes = int(text.manifest["counts"]["genes"])
    dates = spreadsheet_dates(unmatched)
    return {
        "root": str(store.root),
        "text_id": text.id,
        "embedding_id": embedding.id,
        "tag": tag,
        "model": spec.name,
        "source": source,
        "taxon": taxon,
        "template": template,
        "engine": engine,
        "n_genes": n_genes,
        "dim": embedding.dim,
        "embedded": stats["embedded"],
        "reused": stats["reused"],
        "truncated": int(embedding.manifest["counts"]["truncated"]),
        "windowed": int(embedding.manifest["counts"].get("windowed", 0)),
        "max_length": spec.max_length,
        "bytes": sum(int(f.get("bytes", 0)) for f in embedding.manifest["files"].values()),
        "text_created": text_created,
        "embedding_created": stats["created"],
        "genes_requested": len(genes) if genes is not None else None,
        "genes_unmatched": len(unmatched),
        "skipped_damaged": stats.get("skipped_damaged", []),
        "unmatched_examples": unmatched[:20],
        "unmatched_dates": len(dates),  # symbols a spreadsheet made dates of: MARCH1 -> 1-Mar
        "unmatched_date_examples": dates[:20],
        "unmatched_shared": len(shared),  # names of several genes (SEPT2), matched to none
        "unmatched_shared_examples": shared[:20],
        "seconds": round(seconds, 3),
        "texts_per_second": round(stats["embedded"] / stats["embed_seconds"], 1)
        if stats.get("embed_seconds")
        else None,
    }
