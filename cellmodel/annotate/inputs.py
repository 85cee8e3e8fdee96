"""What one `annotate` call reads besides the cells: the human gene reference, each group's
markers, the fixed hubness background, the store's vectors for them (built only where missing) and
the candidates' text vectors from the store's own encoder (cached per encoder and text)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from genekb.errors import GenekbError

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
    from genekb.sources.bundled import load_bundled

    table = load_bundled("human").table.select(["gene_id", "symbol", "aliases", "ensembl"])
    return table.to_pandas()


@lru_cache(maxsize=4)
def background_ids(n: int = DEFAULT_N_BACKGROUND) -> np.ndarray:
    """A seeded sample of human protein-coding GeneIDs, the same in every run."""
    from genekb.sources.bundled import load_bundled

    table = load_bundled("human").table.select(["gene_id", "gene_type"]).to_pandas()
    coding = np.sort(table.loc[table["gene_type"] == "protein-coding", "gene_id"].to_numpy())
    rng = np.random.default_rng(BACKGROUND_SEED)
    return np.sort(rng.choice(coding, size=min(n, len(coding)), replace=False)).astype(np.int64)


def specific_effect(stats: Any) -> np.ndarray:
    """groups × genes: each group's smallest effect size against any single other group."""
    from cellmodel.markers import VARIANCE_FLOOR

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
    from cellmodel.markers import top_markers

    if rule == "rest":
        return top_markers(stats, n)
    effect = specific_effect(stats)
    out = []
    for g in range(effect.shape[0]):
        order = np.argsort(-effect[g], kind="stable")
        out.append(order[effect[g, order] > 0][:n])
    return out


def store_vectors(
    store: Any, ids: np.ndarray, *, model: str, template: str, build_missing: bool
) -> Any:
    """The embedding version tagged human/<template>/<model>, grown to hold `ids` if needed."""
    tag = f"human/{template}/{model}"
    ev = store.embedding(tag) if tag in store.tags() else None
    have = set(ev.matrix()[0].tolist()) if ev is not None else set()
    missing = [int(g) for g in ids if int(g) not in have]
    if not missing:
        return ev
    if not build_missing:
        raise GenekbError(
            f"the store at {store.root} lacks {len(missing)} marker/background gene(s) in {tag};"
            " allow building or run `genekb build` for them"
        )
    from genekb.build import build

    wanted = sorted(have | {int(g) for g in ids})
    report = build(
        store,
        model=model,
        taxon="human",
        template=template,
        genes=[str(g) for g in wanted],
    )
    return store.embedding(report["embedding_id"])


def embed_texts(texts: list[str], ev: Any, load_encoder: Any) -> np.ndarray:
    from cellmodel.semantic import SentenceCache, embed_sentences

    spec = ev.spec
    if load_encoder is None:
        from genekb.encoders.registry import load as registry_load

        def load_encoder() -> Any:
            return registry_load(spec)

    root = getattr(getattr(ev, "store", None), "root", None)
    cache = SentenceCache.under(root) if root is not None else None
    vectors, _ = embed_sentences(texts, spec=spec, load_encoder=load_encoder, cache=cache)
    return vectors
