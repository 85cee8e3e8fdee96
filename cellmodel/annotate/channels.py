"""Every channel of one annotate run scored, before any fusion or call: the data's genes matched
and each group's markers picked, the markers' card vectors against the candidates' text, the
genes each candidate names, its GO processes, the marker table, the context prior and the
lineage signatures. `naming.name_groups` fuses and calls from what `score_channels` returns.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cellmodel.annotate import (
    markerdb,
    mentions,
    ontology,
    prebuilt,
    processes,
    score,
    signatures,
)
from cellmodel.annotate.inputs import (
    background_ids,
    embed_texts,
    group_markers,
    mitochondrial_ids,
    nameable_groups,
    reference,
    store_vectors,
)
from cellmodel.annotate.methods import CONTEXT
from cellmodel.annotate.ontology import Candidate
from cellmodel.annotate.params import AnnotateParams, Candidates
from cellmodel.annotate.readable import Readability, readability
from cellmodel.annotate.term_vectors import term_vectors
from cellmodel.annotate.words import bag_of_words
from cellmodel.knowledge.genes import match_genes, require_gene_names
from cellmodel.markers import GroupStats, GroupSums
from cellmodel.semantic import control_vectors
from genekb.store.store import Store


@dataclass
class Markers:
    """The data side of a run: the matched genes some cell expresses (`matched`), their per-group
    statistics and each group's marker GeneIDs (columns into `matched`), none of it read from a
    label."""

    match: Any
    matched: np.ndarray
    stats: Any
    lfc: np.ndarray
    ids: list[np.ndarray]
    cols: list[np.ndarray]
    symbol_of: dict[int, str]
    data_symbols: list[str]
    symbols: list[list[str]]
    mito_only: list[bool]  # per group: its only higher genes are mitochondrial (left out)


@dataclass
class TextChannel:
    """The markers' card vectors against the candidates' text: per-group scores and the kept
    similarities, with where each group's markers sit in the stacked list."""

    scores: np.ndarray
    sims: list[np.ndarray]
    present: np.ndarray
    bounds: np.ndarray
    records: pd.DataFrame
    n_background: int


@dataclass
class Scored:
    """Everything one run scored: the data side, the store version, the text channel, the gene
    channels and every channel's groups × candidates matrix (`channel`)."""

    mk: Markers
    ev: Any
    text: TextChannel
    gene_channels: tuple[Any, Any, Any]
    channel: dict[str, np.ndarray]
    across: bool
    taxon: str
    signature: list[dict[str, float]]
    readable: Readability | None = None  # whether the file can tell the candidates apart


def score_channels(
    genes: list[str],
    sums: Any,
    n_groups: int,
    store: Store,
    params: AnnotateParams,
    candidates: Candidates,
    *,
    gene_totals: Any,
    taxon: str | None,
    build_missing: bool,
    load_encoder: Any,
    progress: Any = None,
) -> Scored:
    """Match the genes, pick the markers and score every channel (no fusion, no call).
    `progress`: a `(stage, done, total)` hook for the two steps that can take long, embedding
    gene cards the store lacks and candidate texts not yet cached."""
    step = _stepper(progress)
    taxon = require_gene_names(genes, taxon, "annotate")  # a usage error comes before any line
    step("matching genes and picking markers")
    mk = _markers(genes, sums, n_groups, params, taxon, gene_totals)
    bg = background_ids(params.n_background)
    all_ids = np.unique(np.concatenate([*mk.ids, bg]))
    if build_missing and isinstance(store, Store):  # the background's cards, made once per install
        wanted = prebuilt.background_id(params.model, params.template, params.n_background)
        prebuilt.adopt(store, wanted, prebuilt.BACKGROUND, params.model, _say(progress))
        step("gene vectors for the markers and the background")  # names the wait for the encoder
    ev = store_vectors(
        store,
        all_ids,
        model=params.model,
        template=params.template,
        build_missing=build_missing,
        progress=progress,
    )
    cands, user_candidates = candidates.terms, candidates.user_given
    text = _text_channel(
        mk, ev, all_ids, bg, cands, params, load_encoder, candidates.whole_ontology, progress
    )
    across = params.across_groups == "on" or (params.across_groups == "auto" and user_candidates)
    if across and n_groups > 2:
        text.scores = score.standardise_columns(text.scores)
    prior = score.context(text.scores, on=candidates.whole_ontology and not across)
    step("marker table, named genes and GO processes")
    db, ment, proc = _gene_channels(mk, cands, params, getattr(store, "root", None))
    channel = {
        "text": text.scores,
        "mentions": ment.scores,
        "processes": proc.scores,
        "markerdb": db.scores,
        CONTEXT: prior,
    }
    step("lineage signatures")
    cache_dir = _table_cache(getattr(store, "root", None))
    sig = signatures.group_scores(
        mk.stats.means, mk.data_symbols, signatures.signatures(mk.data_symbols, cache_dir)
    )
    read = readability(mk.data_symbols, [c.cl_id for c in cands], cache_dir)
    return Scored(mk, ev, text, (db, ment, proc), channel, across, taxon, sig, read)


def _stepper(progress: Any) -> Any:
    """A one-line announcement of each step through the `(stage, done, total)` hook, so a log
    shows what a run is doing between the counted stages."""

    def step(name: str) -> None:
        if progress:
            progress(f"annotate: {name}", 0, 1)

    return step


def _say(progress: Any) -> Any:
    """A note as one line through the `(stage, done, total)` hook (None without a hook)."""
    if not progress:
        return None
    return lambda line: progress(f"annotate: {line}", 0, 1)


def _table_cache(root: Any) -> str | None:
    return str(Path(root) / "cache" / "markerdb") if root is not None else None


def _mention_cache(root: Any) -> str | None:
    return str(Path(root) / "cache" / "mentions") if root is not None else None


def _markers(
    genes: list[str], sums: Any, k: int, params: AnnotateParams, taxon: str | None, totals: Any
) -> Markers:
    """Match the genes to human GeneIDs and pick each group's top markers, one gene per GeneID."""
    ref = reference()
    match = match_genes(genes, ref, store_taxon="human", data_taxon=taxon, X=totals)
    symbol_of = dict(zip(ref["gene_id"].astype(int), ref["symbol"], strict=True))
    # A gene no cell of the file expresses tells no group from another: kept, it took a place in
    # the marker table's and the processes' gene universes and in each group's expression
    # percentiles, so the same cells, with or without their unexpressed genes filtered out, were
    # called apart.
    expressed = np.asarray(sums.sums).sum(axis=0) > 0
    matched = np.flatnonzero(match.matched & expressed)
    kept = nameable_groups(sums)
    stats, kept_stats = _group_stats(sums.columns(matched), kept)
    # A group's mitochondrial transcripts say how its cells fared, not what they are (their cards
    # speak of mitochondrial disease, of the brain and muscle): no marker names a kind from them.
    handling = np.isin(match.gene_ids[matched], list(mitochondrial_ids()))
    # room for genes sharing a GeneID, and for the mitochondrial ones left out
    room = params.n_markers * 2 + int(handling.sum())
    higher = [np.zeros(0, dtype=np.intp)] * k
    kept_markers = group_markers(kept_stats, room, params.markers) if kept.any() else []
    for g, found in zip(np.flatnonzero(kept), kept_markers, strict=True):
        higher[g] = found
    tops = [t[~handling[t]] for t in higher]
    ids: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    for g in range(k):
        found = match.gene_ids[matched[tops[g]]]
        _, first = np.unique(found, return_index=True)
        keep = np.sort(first)[: params.n_markers]
        ids.append(found[keep])
        cols.append(tops[g][keep])
    return Markers(
        match=match,
        matched=matched,
        stats=stats,
        lfc=stats.means - stats.rest_means,
        ids=ids,
        cols=cols,
        symbol_of=symbol_of,
        data_symbols=[symbol_of.get(int(i), "") for i in match.gene_ids[matched]],
        symbols=[[symbol_of.get(int(i), "") for i in m] for m in ids],
        mito_only=[len(h) > 0 and len(t) == 0 for h, t in zip(higher, tops, strict=True)],
    )


def _group_stats(sums: GroupSums, kept: np.ndarray) -> tuple[GroupStats, GroupStats]:
    """Every group's statistics, and those of the nameable groups (`kept`) alone. A group of one
    or two cells, or of empty droplets, is no group's rival or rest: one cell's noise had moved
    the other groups' markers, and with them the names of most groups of a file. The nameable
    groups' rest is the other nameable groups in both."""
    whole = sums.stats()
    if kept.all() or not kept.any():
        return whole, whole
    part = GroupSums(sums.sizes[kept], sums.sums[kept], sums.sums_sq[kept]).stats()
    rest_means, rest_var = whole.rest_means.copy(), whole.rest_var.copy()
    rest_means[kept], rest_var[kept] = part.rest_means, part.rest_var
    return replace(whole, rest_means=rest_means, rest_var=rest_var), part


def _text_channel(
    mk: Markers,
    ev: Any,
    all_ids: np.ndarray,
    bg: np.ndarray,
    cands: list[Candidate],
    params: AnnotateParams,
    load_encoder: Any,
    whole: bool,
    progress: Any = None,
) -> TextChannel:
    """Score each group's marker cards against each candidate's text (hubness-corrected against
    the fixed background, pooled per group)."""
    vecs, found = ev.vectors([int(g) for g in all_ids])
    row = {int(g): i for i, g in enumerate(all_ids)}
    records = ev.genes()
    records = records.set_index(records["gene_id"].astype(int))
    if params.gene_vectors == "bag-of-words":
        texts = [ontology.candidate_text(c, params.text_style) for c in cands]
        cards = records["text"].reindex([int(g) for g in all_ids]).fillna("").tolist()
        vecs, labels = bag_of_words(cards, texts)
    else:
        vecs = control_vectors(vecs, found, params.gene_vectors, params.seed)
        labels = _candidate_vectors(cands, ev, params.text_style, whole, load_encoder, progress)
    bg_rows = [row[int(g)] for g in bg if found[row[int(g)]]]
    stacked = [row[int(g)] for g in np.concatenate(mk.ids)]
    sims_all = score.corrected_similarity(vecs[stacked], labels, vecs[bg_rows], params.hubness)
    bounds = np.cumsum([0, *[len(m) for m in mk.ids]])
    present = found[stacked]
    scores = np.zeros((len(mk.ids), len(cands)))
    sims: list[np.ndarray] = []
    for g in range(len(mk.ids)):
        sims.append(sims_all[bounds[g] : bounds[g + 1]][present[bounds[g] : bounds[g + 1]]])
        scores[g] = score.pool(sims[-1], params.pooling, params.top_k)
    return TextChannel(scores, sims, present, bounds, records, len(bg_rows))


def _candidate_vectors(
    cands: list[Candidate], ev: Any, style: str, whole: bool, load_encoder: Any, progress: Any
) -> np.ndarray:
    """The whole ontology's term vectors from the store's term version (built once per store and
    encoder; `term_vectors`); a user's list or a subtree through the sentence cache."""
    store = getattr(ev, "store", None)
    if whole and isinstance(store, Store) and all(c.cl_id for c in cands):
        wanted = prebuilt.terms_id(cands, style, ev.spec)
        prebuilt.adopt(store, wanted, prebuilt.TERMS, ev.spec.name, _say(progress))
        return term_vectors(store, cands, style, ev.spec, load_encoder, progress)[0]
    texts = [ontology.candidate_text(c, style) for c in cands]
    return embed_texts(texts, ev, load_encoder, progress)


def _gene_channels(
    mk: Markers, cands: list[Candidate], params: AnnotateParams, root: Any
) -> tuple[Any, Any, Any]:
    """The marker-table baseline, the genes each candidate names, and its GO processes' genes."""
    db = markerdb.score_groups(
        mk.symbols,
        mk.data_symbols,
        [c.cl_id for c in cands],
        cache_dir=_table_cache(root),
    )
    data_ids = mk.match.gene_ids[mk.matched]
    controls = {"gene_vectors": params.gene_vectors, "seed": params.seed}
    ment = mentions.score_groups(
        cands, mk.lfc, data_ids, cache_dir=_mention_cache(root), **controls
    )
    proc = processes.score_groups(cands, mk.ids, data_ids, **controls)
    return db, ment, proc
