"""Multi-view gene vectors: one embedding version holding several views of each gene side by side.

A view is any embedding version: the card under one encoder, the RefSeq summary alone, the GO terms
alone (templates `summary`, `go-terms`), or the TF-IDF/LSA block of the card. `combine` puts the
views of the same genes side by side: each view's vectors L2-normalised, then scaled by
1/sqrt(number of views), so every view carries the same weight and the result has unit norm. The
rule is label-free and has no setting.

The first view sets the genes (and the text version the combined version rests on, whose texts
`genekb eval` uses for its bag-of-words control); every other view must hold each of them. The
combined spec (backend "concat") names the component versions' ids, which hash their texts and
encoders, so the combined version's id covers all of them. Nothing is re-embedded.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from genekb.encoders.base import EncoderSpec
from genekb.errors import GenekbError, UsageError
from genekb.linalg import l2_normalize
from genekb.records import TAXA
from genekb.store import catalog
from genekb.store.content import CONTENT_KEY, content_of
from genekb.store.ids import check_tag, check_tag_species, default_tag
from genekb.store.manifest import write_manifest
from genekb.store.readers import check_one_taxon
from genekb.store.store import VECTORS_FILE, EmbeddingVersion, Store
from genekb.store.versions import (
    embedding_file_meta,
    embedding_id,
    embedding_manifest,
    file_entry,
    write_parquet,
)

BACKEND = "concat"
RULE = "concat:l2-blocks/sqrt(k):v1"


def combined_matrix(views: Sequence[EmbeddingVersion]) -> tuple[np.ndarray, np.ndarray]:
    """(gene ids of the first view, the side-by-side normalised blocks of every view)."""
    ids, first = views[0].matrix()
    blocks = [l2_normalize(first)]
    for view in views[1:]:
        rows = view.rows_of([int(g) for g in ids])
        if (rows < 0).any():
            missing = int((rows < 0).sum())
            raise GenekbError(
                f"view {view.tag or view.id} lacks {missing} of the {len(ids)} genes of "
                f"{views[0].tag or views[0].id}; build every view over the same genes (or more)"
            )
        blocks.append(l2_normalize(view.matrix()[1][rows]))
    return ids, (np.hstack(blocks) / np.sqrt(len(blocks))).astype(np.float32)


def combined_spec(views: Sequence[EmbeddingVersion], dim: int) -> EncoderSpec:
    return EncoderSpec(
        name="+".join(f"{v.spec.name}[{v.manifest.get('template', {}).get('id')}]" for v in views),
        backend=BACKEND,
        model_id=f"{RULE};" + ",".join(v.id for v in views),
        dim=dim,
        pooling="concat",
        normalize=True,
        max_length=max(v.spec.max_length for v in views),
        description="views side by side: " + ", ".join(v.tag or v.id for v in views),
    )


def tag_build(store: Store, tag: str, vid: str, force: bool) -> None:
    """Point `tag` at the version just built. A tag may move to a version holding every gene of
    the one it points at (a newer snapshot, another encoder's run); one that would lose genes its
    readers use (a build for a few genes taking the default tag) moves only with `force`."""
    held = store.tags().get(tag)
    if not force and held not in (None, vid) and store.has("embedding", held):
        lost = _gene_ids(store, held) - _gene_ids(store, vid)
        if lost:
            # The version stays, so the derived catalog must list it: else verify later calls
            # the catalog "behind the store (a write stopped early)". The refusal is what to say.
            with contextlib.suppress(GenekbError, OSError):
                catalog.rebuild(store)
            raise GenekbError(
                f"built {vid}, but tag {tag!r} points at {held}, which holds {len(lost)} gene(s)"
                " this build lacks; pass --force to move it, or --tag NAME to tag this build apart"
                " (the version stays in the store)"
            )
    store.set_tag(tag, vid)


def publish_build(store: Store, tag: str, vid: str, force: bool, *, created: bool) -> None:
    """Tag the version a build made or found and rewrite the catalog over it. A build that
    created nothing and finds its tag in place writes nothing, so takes no lock: a rebuild of
    what a read-only store already holds reports it, as a read does."""
    if not created and store.tags().get(tag) == vid:
        return
    tag_build(store, tag, vid, force)
    catalog.rebuild(store)


def refuse_losing_genes(store: Store, tag: str, gene_ids: set[int], force: bool) -> None:
    """Before a build's work: the refusal `tag_build` would give at its end (the tag points at a
    version holding genes this build lacks), while nothing is embedded yet."""
    held = None if force or store.is_new else store.tags().get(tag)
    if held is None or not store.has("embedding", held):
        return
    try:
        lost = _gene_ids(store, held) - gene_ids
    except GenekbError:  # a damaged copy: this build may be the one that writes it again
        return
    if lost:
        raise GenekbError(
            f"tag {tag!r} points at {held}, which holds {len(lost)} gene(s) this build lacks;"
            " pass --force to move it, or --tag NAME to tag this build apart (nothing was built)"
        )


def _gene_ids(store: Store, vid: str) -> set[int]:
    table = store.embedding(vid).table(["gene_id"])
    return set(table.column("gene_id").to_numpy().tolist())


def combine(
    store: Store, refs: Sequence[str], tag: str | None = None, *, force: bool = False
) -> dict[str, Any]:
    """Write (or find) the version holding the views `refs` side by side; tag it; a report.
    A tag that holds genes this version lacks moves only with `force`, as after a build."""
    if len(refs) < 2:
        raise UsageError("combine needs two or more views (embedding ids or tags)")
    check_tag(tag)
    views = [store.embedding(r) for r in refs]
    if len({v.id for v in views}) < len(views):
        raise UsageError("the same view is given twice")
    check_one_taxon(views, "combine")
    if tag is not None:
        check_tag_species(tag, views[0].text.taxon, "the combined version", force=force)
    ids, matrix = combined_matrix(views)
    spec = combined_spec(views, matrix.shape[1])
    text = views[0].text
    vid = embedding_id(text.id, spec)
    created = not store.has("embedding", vid)
    if created:
        _write(store, vid, views, spec, ids, matrix)
    taxon = {v: k for k, v in TAXA.items()}.get(text.taxon, str(text.taxon))
    tag = tag or default_tag(taxon, "views", "+".join(v.spec.name for v in views))
    publish_build(store, tag, vid, force, created=created)
    return {"embedding_id": vid, "tag": tag, "dim": spec.dim, "n_genes": len(ids),
            "views": [v.id for v in views], "created": created}  # fmt: skip


def _write(
    store: Store,
    vid: str,
    views: Sequence[EmbeddingVersion],
    spec: EncoderSpec,
    ids: np.ndarray,
    matrix: np.ndarray,
) -> None:
    text = views[0].text
    genes = text.table(["gene_id", "symbol", "text_sha256"])
    order = {int(g): i for i, g in enumerate(ids)}
    rows = [order[int(g)] for g in genes.column("gene_id").to_pylist()]
    first = views[0].table(["gene_id", "n_tokens", "truncated"])
    dim = matrix.shape[1]
    table = pa.table(
        {
            "gene_id": genes.column("gene_id"),
            "symbol": genes.column("symbol"),
            "text_sha256": genes.column("text_sha256"),
            "n_tokens": first.column("n_tokens"),  # the first view's, whose text this rests on
            "truncated": first.column("truncated"),
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(matrix[rows].reshape(-1)), dim),
        }
    )
    about = [
        {"id": v.id, "tag": v.tag, "model": v.spec.name, "dim": v.dim,
         "template": v.manifest.get("template"), "text_id": v.text.id}
        for v in views
    ]  # fmt: skip
    with store.staging("embedding", vid) as tmp:
        write_parquet(table, tmp / VECTORS_FILE, embedding_file_meta(vid, text, spec, dim))
        manifest = {
            **embedding_manifest(vid, text, spec, dim),
            "encoder_loaded": None,
            "device": None,
            "views": about,
            "counts": {
                "genes": len(rows),
                "embedded": 0,
                "reused": len(rows),
                "truncated": int(
                    sum(bool(t) for t in first.column("truncated").to_pylist() if t is not None)
                ),
            },
            "files": {VECTORS_FILE: file_entry(tmp / VECTORS_FILE)},
            CONTENT_KEY: content_of("embedding", table),
        }
        write_manifest(tmp, manifest)
