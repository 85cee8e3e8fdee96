"""Gene vectors made elsewhere, imported as first-class embedding versions.

Formats (read by `genekb.store.vector_files`, pickles by a restricted unpickler): a dict pickle of
gene → vector (GenePT's files), CSV/TSV/Parquet with a gene column and one column per dimension
(or one list column), NumPy `.npz` with a names array and a matrix.

Each import becomes an embedding version whose encoder spec names the declared model and the file's
sha256 (backend "imported"), resting on a text version of the matched genes' own records under a
template of the user's choice: that text is what `genekb eval` scores as the bag-of-words control,
not the foreign project's text, which the file does not carry. The manifest records the file, its
hash, the declared model and text, and the gene mapping (matched by symbol, alias, Ensembl or
Entrez id; the unmatched listed in full in mapping.parquet).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from genekb.encoders.base import EncoderSpec
from genekb.errors import GenekbError, GenekbWarning, UsageError, warn
from genekb.genemap import (
    ROUTES,
    GeneIndex,
    lookalike_note,
    other_style_examples,
    spreadsheet_dates,
)
from genekb.records import TAXA, GeneTable
from genekb.sources import load_source
from genekb.store import catalog
from genekb.store.content import CONTENT_KEY, content_of
from genekb.store.ids import check_tag, check_tag_species, default_tag
from genekb.store.manifest import write_manifest
from genekb.store.store import VECTORS_FILE, EmbeddingVersion, Store
from genekb.store.vector_files import check_informative, load_vectors
from genekb.store.versions import (
    embedding_file_meta,
    embedding_id,
    embedding_manifest,
    ensure_text_version,
    file_entry,
    planned_text_id,
    write_parquet,
)
from genekb.templates import DEFAULT_TEMPLATE
from genekb.templates import resolve as resolve_template

BACKEND = "imported"
MAPPING_FILE = "mapping.parquet"
ROUTE_RANK = {r: i for i, r in enumerate(ROUTES)}


def map_genes(
    names: list[str], genes: GeneTable, usable: np.ndarray | None = None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Resolve names to GeneIDs; one row per name with `kept` marking the row used per gene.

    Where several names reach one gene, the best route wins (symbol, Ensembl, Entrez, alias),
    then the first in the file. Rows that `usable` marks False (vectors of zeros: no direction)
    are never kept, and are counted in the report.
    """
    columns = ["gene_id", "symbol", "aliases", "ensembl"]
    index = GeneIndex.from_frame(genes.table.select(columns).to_pandas())
    mapping = index.resolve(names)
    mapping["row"] = np.arange(len(names))
    rank = mapping["route"].map(ROUTE_RANK).fillna(len(ROUTES))
    order = mapping.assign(rank=rank).sort_values(["rank", "row"], kind="stable")
    usable = np.ones(len(names), dtype=bool) if usable is None else np.asarray(usable, bool)
    first = order[(order["gene_id"] >= 0) & usable[order["row"]]].drop_duplicates("gene_id")
    mapping["kept"] = mapping["row"].isin(set(first["row"]))
    matched = mapping[mapping["gene_id"] >= 0]
    unmatched = mapping.loc[mapping["gene_id"] < 0, "query"].tolist()
    # A zero vector left out is no repeat: it is reported on its own below.
    repeated = ~matched["kept"] & usable[matched["row"].to_numpy()]
    duplicates = matched.loc[repeated, "query"].tolist()
    dates = spreadsheet_dates(unmatched)
    shared = index.shared_names(unmatched)
    report = {
        "names": len(names),
        "matched": int(mapping["kept"].sum()),
        "by_route": {
            str(k): int(v) for k, v in mapping.loc[mapping["kept"], "route"].value_counts().items()
        },
        "unmatched": len(unmatched),
        "unmatched_examples": unmatched[:50],
        "unmatched_dates": len(dates),  # symbols a spreadsheet made dates of: MARCH1 -> 1-Mar
        "unmatched_date_examples": dates[:20],
        "unmatched_shared": len(shared),  # names of several genes (SEPT2), taken for none
        "unmatched_shared_examples": shared[:20],
        "duplicates": len(duplicates),
        "duplicate_examples": duplicates[:20],
        "zero_vectors": int((~usable).sum()),
        "zero_vector_examples": [names[i] for i in np.flatnonzero(~usable)[:20]],
    }
    return mapping, report


class OtherSpeciesNamesWarning(GenekbWarning):
    """Imported names written as the other species writes its symbols (CD3E into mouse)."""


def import_vectors(
    store: Store,
    path: Path,
    *,
    model: str,
    text: str = "",
    fmt: str | None = None,
    gene_column: str | None = None,
    taxon: str = "human",
    template: str = DEFAULT_TEMPLATE,
    tag: str | None = None,
    gene_table: GeneTable | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Import a foreign vector file as an embedding version of `store`; returns a report.

    `model` is the declared model name, `text` the declared text the vectors were made from;
    `template` picks the text version of the matched genes' own records that the version rests on.
    The file is read and checked whole before anything is written; an existing `tag` that points
    elsewhere moves only with `force`.
    """
    if not model.strip():
        raise UsageError("--model must name the model that made the vectors")
    if taxon not in TAXA:
        raise UsageError(f"unknown taxon {taxon!r}; choose one of: {', '.join(TAXA)}")
    chosen = resolve_template(template)
    given = check_tag(tag)
    if given:
        check_tag_species(given, TAXA[taxon], "this import", force=force)
    tag = given or default_tag(taxon, "imported", model)
    if not given and tag == f"{taxon}/imported":  # the model's name held nothing a tag may
        raise UsageError(f"--model {model!r} gives no tag name; pass --tag (e.g. {tag}/NAME)")
    existing = store.tags() if not store.is_new else {}
    found = load_vectors(path, fmt, gene_column)  # every check before anything is written
    names, matrix, fmt = found.names, found.matrix, found.fmt
    if gene_table is None:
        gene_table = load_source("bundled", taxon)
    mapping, report = _mapped(names, gene_table, path, taxon, matrix.any(axis=1))
    file_sha = found.sha256
    kept = mapping[mapping["kept"]]
    check_informative(matrix[kept["row"].to_numpy()], path)  # what the version would hold
    gene_ids = kept["gene_id"].astype(int).tolist()
    spec = _spec(model, text or f"imported from {path.name}", int(matrix.shape[1]), file_sha)
    vid = embedding_id(planned_text_id(gene_table, chosen, gene_ids), spec)
    if not force:  # early, before writing; checked again under the lock when tagging
        store.refuse_moving({tag: vid}, existing)
    dim = spec.dim
    created = False
    # Under the tags lock: a concurrent import that took the tag first makes this one refuse
    # before it writes a version that would stay untagged.
    with store.tagging({tag: vid}, force=force):
        text_version, _ = ensure_text_version(store, gene_table, chosen, gene_ids)
        if not store.has("embedding", vid):
            with store.lock(vid):
                if not store.has("embedding", vid):
                    _write_version(store, vid, text_version, spec, kept, matrix, mapping, report, {
                        "file": path.name,
                        "file_sha256": file_sha,
                        "file_bytes": found.n_bytes,
                        "format": fmt,
                        "declared_model": model,
                        "declared_text": text,
                    })  # fmt: skip
                    created = True

    catalog.rebuild(store)
    return {
        "root": str(store.root),
        "embedding_id": vid,
        "text_id": text_version.id,
        "tag": tag,
        "created": created,
        "file": str(path),
        "file_sha256": file_sha,
        "format": fmt,
        "model": model,
        "dim": dim,
        "mapping": report,
    }


def _mapped(
    names: list[str], genes: GeneTable, path: Path, taxon: str, usable: np.ndarray
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """`map_genes`, refused when no name matches (a wrong taxon or gene column)."""
    mapping, report = map_genes(names, genes, usable)
    if report["matched"] == 0:
        raise GenekbError(
            f"{path}: none of its {len(names)} gene names (e.g. {', '.join(names[:3])}) matches "
            f"the {taxon} genes{lookalike_note(names)}; check --taxon and the gene column"
        )
    kept = mapping.loc[mapping["kept"] & (mapping["route"] == "symbol"), "query"].tolist()
    styled = other_style_examples(kept, genes.table.column("symbol").to_pylist()) if kept else []
    report["other_species_style"] = len(styled)
    if styled:
        other = "mouse" if taxon != "mouse" else "human"
        warn(
            f"{path}: {len(styled):,} matched names are written as {other} symbols (e.g."
            f" {', '.join(styled[:3])}) and matched the {taxon} genes case-blind; if the vectors"
            f" are {other}, import them with --taxon {other}",
            OtherSpeciesNamesWarning,
        )
    return mapping, report


def _spec(model: str, description: str, dim: int, file_sha: str) -> EncoderSpec:
    """The encoder spec of an import: the declared model and the file's sha256 (its identity)."""
    return EncoderSpec(
        name=model,
        backend=BACKEND,
        model_id=model,
        dim=dim,
        weights_sha256=file_sha,
        pooling="model",
        normalize=False,
        max_length=0,
        description=description,
    )


def _write_version(
    store: Store,
    vid: str,
    text: Any,
    spec: EncoderSpec,
    kept: pd.DataFrame,
    matrix: np.ndarray,
    mapping: pd.DataFrame,
    report: dict[str, Any],
    provenance: dict[str, Any],
) -> EmbeddingVersion:
    genes = text.table(["gene_id", "symbol", "text_sha256"])
    row_of = dict(zip(kept["gene_id"].astype(int), kept["row"].astype(int), strict=True))
    rows = [row_of[int(g)] for g in genes.column("gene_id").to_pylist()]
    vectors = matrix[rows].astype(np.float32)
    dim = vectors.shape[1]
    n = len(rows)
    table = pa.table(
        {
            "gene_id": genes.column("gene_id"),
            "symbol": genes.column("symbol"),
            "text_sha256": genes.column("text_sha256"),
            "n_tokens": pa.nulls(n, pa.int32()),  # unknown: the foreign text is not at hand
            "truncated": pa.nulls(n, pa.bool_()),
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), dim),
        }
    )
    mapping_table = pa.table(
        {
            "query": pa.array(mapping["query"].tolist(), pa.string()),
            "gene_id": pa.array(mapping["gene_id"].to_numpy(), pa.int64()),
            "route": pa.array(mapping["route"].tolist(), pa.string()),
            "kept": pa.array(mapping["kept"].to_numpy(), pa.bool_()),
        }
    )
    with store.staging("embedding", vid) as tmp:
        meta = {**embedding_file_meta(vid, text, spec, dim), "import": provenance}
        write_parquet(table, tmp / VECTORS_FILE, meta)
        write_parquet(mapping_table, tmp / MAPPING_FILE, {"kind": "import-mapping", "id": vid})
        manifest = {
            **embedding_manifest(vid, text, spec, dim),
            "encoder_loaded": None,
            "device": None,
            "counts": {"genes": n, "embedded": 0, "reused": 0, "imported": n, "truncated": 0},
            "import": {**provenance, "mapping": report},
            "files": {
                VECTORS_FILE: file_entry(tmp / VECTORS_FILE),
                MAPPING_FILE: file_entry(tmp / MAPPING_FILE),
            },
            CONTENT_KEY: content_of("embedding", table),
        }
        write_manifest(tmp, manifest)
    return store.embedding(vid)
