"""The Cell Ontology's term texts embedded once per store and encoder, kept as store versions.

Over the whole ontology a run scores 3,324 term texts; embedding them is most of a first run. They
are kept the store's way, so `genekb export` / `import` carry them and `genekb verify` checks them:
a **text version** of the terms (one row per CL term: `gene_id` its CL number, `symbol` its CL
id, `name` its label, `summary` the embedded text; snapshot "cell-ontology" at the installed CL
release with the text style in its details; taxon 1, NCBI's root, since a CL term is no one
species'; genekb's `given-text` template), and an **embedding version** of that text version
under the gene vectors' own encoder spec. The store's existing machinery then gives ids,
manifests, sha256 on read, reuse of any vector already embedded for the same text, and atomic,
locked writes; a damaged version is written again by the next run.

Only the whole ontology is kept this way (one version per CL release, text style and encoder); a
user's list or a subtree is a few terms, embedded through the sentence cache as before.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from cellmodel.annotate import ontology
from cellmodel.annotate.ontology import Candidate
from genekb.encoders.registry import load as registry_load
from genekb.errors import IntegrityError
from genekb.records import GeneTable, Snapshot
from genekb.store import catalog
from genekb.store.store import Store
from genekb.store.versions import ensure_embedding_version, ensure_text_version
from genekb.templates import GIVEN_TEXT

SOURCE = "cell-ontology"
TAXON_ANY = 1  # NCBI taxonomy's root: the terms belong to no single species
STAGE = "ontology term texts"
# Term texts are long (a term with its parents' definitions): small batches keep progress lines
# coming at least every few seconds on a slow CPU.
TERM_BATCH = 32


def _snapshot(style: str) -> Snapshot:
    """The text style goes into the snapshot's details, so each style has its own text id (the
    template, genekb's `given-text`, only reads the stored text back)."""
    release = ontology.cl_version()
    return Snapshot(
        source=SOURCE,
        taxon=TAXON_ANY,
        date=release.lstrip("v"),
        description=f"Cell Ontology {release} as read by cellxgene-ontology-guide",
        details={"cl_version": release, "text_style": style},
    )


def _number(cl_id: str) -> int:
    return int(cl_id.split(":", 1)[1])


def term_table(cands: Sequence[Candidate], style: str) -> GeneTable:
    """The terms as a store gene table (see the module docstring for the column mapping)."""
    n = len(cands)
    table = pa.table(
        {
            "gene_id": pa.array([_number(c.cl_id or "") for c in cands], pa.int64()),
            "taxon": pa.array([TAXON_ANY] * n, pa.int32()),
            "symbol": [c.cl_id for c in cands],
            "name": [c.label for c in cands],
            "gene_type": ["cell type"] * n,
            "map_location": pa.nulls(n, pa.string()),
            "aliases": pa.array([[] for _ in cands], pa.list_(pa.string())),
            "ensembl": pa.array([[] for _ in cands], pa.list_(pa.string())),
            "summary": [ontology.candidate_text(c, style) for c in cands],
            "go_bp": pa.array([[] for _ in cands], pa.list_(pa.string())),
            "go_mf": pa.array([[] for _ in cands], pa.list_(pa.string())),
            "go_cc": pa.array([[] for _ in cands], pa.list_(pa.string())),
        }
    )
    return GeneTable(table, _snapshot(style))


def term_vectors(
    store: Store,
    cands: Sequence[Candidate],
    style: str,
    spec: Any,
    load_encoder: Callable[[], Any] | None = None,
    progress: Any = None,
) -> tuple[np.ndarray, str]:
    """The candidates' (CL terms, each with a `cl_id`) text vectors, in their order, from the
    store's term version for `style` and `spec`, written first if the store lacks it; and that
    embedding version's id. `progress`: the `(stage, done, total)` hook."""
    text, _ = ensure_text_version(store, term_table(cands, style), GIVEN_TEXT)

    def factory(total: int, reused: int, costs: Sequence[float]) -> Callable[[int], None]:
        weigh = getattr(progress, "weigh", None)
        if weigh:
            weigh(STAGE, costs)
        done = [0]
        if progress:
            progress(STAGE, 0, total)

        def advance(n: int) -> None:
            done[0] += n
            if progress:
                progress(STAGE, done[0], total)

        return advance

    version, stats = ensure_embedding_version(
        store,
        text,
        spec,
        load_encoder or (lambda: registry_load(spec)),
        batch_size=TERM_BATCH,
        progress=factory,
    )
    if stats.get("created"):
        catalog.rebuild(store)
    vectors, found = version.vectors([_number(c.cl_id or "") for c in cands])
    if not found.all():  # its id pins the selection, so only a damaged version gets here
        raise IntegrityError(f"term version {version.id} lacks some of its own terms")
    return vectors, version.id
