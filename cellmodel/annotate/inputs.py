"""What one `annotate` call reads besides the cells: the human gene reference, each group's
markers, the fixed hubness background, the store's vectors for them (built only where missing) and
the candidates' text vectors from the store's own encoder (cached per encoder and text)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from cellmodel.arguments import check_obs_column
from cellmodel.knowledge.orthologs import bundled_index
from cellmodel.knowledge.vectors import store_version, vectors_for
from cellmodel.markers import VARIANCE_FLOOR, cell_groups, top_markers
from cellmodel.sentences import SentenceCache, embed_sentences
from genekb.encoders.registry import load as registry_load
from genekb.errors import GenekbError, UsageError
from genekb.genemap import MITOCHONDRIAL_NAMES, UNMATCHED
from genekb.sources.bundled import load_bundled
from genekb.store.ids import default_tag
from genekb.store.store import Store

MARKER_RULES: dict[str, str] = {
    "specific": "effect size against the closest other group (the smallest pairwise effect), so"
    " genes a group shares with a sibling (endocrine genes in every islet type) drop out",
    "rest": "effect size against all other cells pooled (one-vs-rest)",
}
DEFAULT_N_BACKGROUND = 1000
BACKGROUND_SEED = 0  # fixed: the background is part of the method, not of a run


@lru_cache(maxsize=1)
def reference() -> pd.DataFrame:
    """The human gene table genes are mapped through (read once per process)."""
    table = load_bundled("human").table.select(["gene_id", "symbol", "aliases", "ensembl"])
    return table.to_pandas()


@lru_cache(maxsize=1)
def mitochondrial_ids() -> frozenset[int]:
    """The human GeneIDs of the mitochondrial genome's genes (`MITOCHONDRIAL_NAMES`)."""
    found = bundled_index("human").resolve(list(MITOCHONDRIAL_NAMES))["gene_id"]
    return frozenset(int(g) for g in found if g != UNMATCHED)


@lru_cache(maxsize=4)
def background_ids(n: int = DEFAULT_N_BACKGROUND) -> np.ndarray:
    """A seeded sample of human protein-coding GeneIDs, the same in every run."""
    table = load_bundled("human").table.select(["gene_id", "gene_type"]).to_pandas()
    coding = np.sort(table.loc[table["gene_type"] == "protein-coding", "gene_id"].to_numpy())
    rng = np.random.default_rng(BACKGROUND_SEED)
    return np.sort(rng.choice(coding, size=min(n, len(coding)), replace=False)).astype(np.int64)


def specific_effect(stats: Any) -> np.ndarray:
    """groups × genes: each group's smallest effect size against any single other group."""
    k = stats.means.shape[0]
    out = np.empty_like(stats.means)
    for g in range(k):
        others = [h for h in range(k) if h != g]
        diff = stats.means[g] - stats.means[others]
        pooled = 0.5 * (stats.var[g] + stats.var[others]) + VARIANCE_FLOOR
        out[g] = (diff / np.sqrt(pooled)).min(axis=0)
    return out


def group_markers(stats: Any, n: int, rule: str) -> list[np.ndarray]:
    """Per group, column indices of its `n` best markers under `rule` (up-regulated only)."""
    if rule == "rest":
        return top_markers(stats, n)
    effect = specific_effect(stats)
    out = []
    for g in range(effect.shape[0]):
        order = np.argsort(-effect[g], kind="stable")
        out.append(order[effect[g, order] > 0][:n])
    return out


def store_vectors(
    store: Store,
    ids: np.ndarray,
    *,
    model: str,
    template: str,
    build_missing: bool,
    progress: Any = None,
) -> Any:
    """An embedding version holding vectors for the human GeneIDs `ids`: a store tag or id given
    as `model` used as it is, else a version of this encoder and template that covers them,
    else a new one for exactly these genes (reusing every vector the store holds). No tag moves.
    """
    given = store_version(store, model)
    if given is not None:
        return given
    wanted = {int(g) for g in ids}
    tag = default_tag("human", template, model)
    if tag in store.tags():  # the default version, when it already holds them all
        tagged = store.embedding(tag)
        if wanted <= set(tagged.matrix()[0].tolist()):
            return tagged
    ev, _ = vectors_for(
        store,
        load_bundled("human"),
        sorted(wanted),
        model=model,
        template=template,
        build_missing=build_missing,
        progress=progress,
    )
    return ev


# Candidate texts are long (a term with its parents' definitions): small batches keep a progress
# line coming at least every few seconds on a slow CPU.
TEXT_BATCH = 32


def embed_texts(texts: list[str], ev: Any, load_encoder: Any, progress: Any = None) -> np.ndarray:
    """The candidates' texts embedded by the store version's encoder, cached under the store."""
    spec = ev.spec
    if load_encoder is None:

        def load_encoder() -> Any:
            return registry_load(spec)

    root = getattr(getattr(ev, "store", None), "root", None)
    cache = SentenceCache.under(root) if root is not None else None

    def hook(_stage: str, done: int, total: int) -> None:
        progress("candidate texts", done, total)

    vectors, _ = embed_sentences(
        texts,
        spec=spec,
        load_encoder=load_encoder,
        cache=cache,
        batch_size=TEXT_BATCH,
        progress=hook if progress else None,
    )
    return vectors


# A priori, no labels read: under MIN_CELLS a group's markers are one or two cells' noise, so it
# gets no name (`naming`).
MIN_CELLS = 3


def nameable_groups(sums: Any) -> np.ndarray:
    """Per group (`markers.GroupSums`), whether it can be named at all: MIN_CELLS cells or more,
    holding some counts. The others get no markers and are no rival or rest of any group."""
    return (np.asarray(sums.sizes) >= MIN_CELLS) & (np.asarray(sums.sums).sum(axis=1) > 0)


def groups_of(adata: ad.AnnData, groupby: str | None) -> tuple[str, pd.Categorical]:
    """The obs column that holds the groups (default: `cellmodel cluster`'s) and its groups."""
    if groupby is None:
        if "cellmodel_cluster" in adata.obs:
            groupby = "cellmodel_cluster"
        else:
            choices = [c for c in adata.obs.columns if adata.obs[c].nunique() <= 200]
            raise UsageError(
                "say which obs column holds the groups with groupby= (or run"
                f" cm.tl.cluster(adata) first); columns: {', '.join(map(str, choices)) or 'none'}"
            )
    check_obs_column(adata.obs, groupby, "groupby")
    # The column as it is, not as text: text would sort a categorical's or numbers' order away
    groups = cell_groups(adata.obs[groupby], groupby)
    largest = int(np.bincount(np.asarray(groups.codes)).max())
    if largest < MIN_CELLS:  # each would be left unnamed, after the whole scoring
        raise GenekbError(
            f"every group of obs[{groupby!r}] has fewer than {MIN_CELLS} cells (the largest"
            f" {largest}): too few for markers, so none could be named; group the cells by a"
            " coarser column, or cluster them into fewer groups"
        )
    return groupby, groups
