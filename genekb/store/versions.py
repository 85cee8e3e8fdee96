"""Writing versions: ids from inputs, Parquet with key-value provenance, manifests, vector reuse."""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from genekb.encoders.base import Encoder, EncoderSpec, ProgressFactory, encoding_costs
from genekb.errors import DamagedVersionWarning, IntegrityError, warn
from genekb.fileio import fsync_path, sha256_file
from genekb.records import GeneTable
from genekb.store.content import CONTENT_KEY, content_of
from genekb.store.hashing import sha256_text
from genekb.store.ids import (  # re-exported: writers and checkers share one recipe
    embedding_id,
    embedding_id_inputs,
    expected_id,
    genes_sha,
    text_id,
    text_id_inputs,
)
from genekb.store.manifest import FORMAT, library_versions, now_iso, write_manifest
from genekb.store.store import (
    GENES_FILE,
    VECTORS_FILE,
    EmbeddingVersion,
    Store,
    TextVersion,
)
from genekb.templates import Template

__all__ = [
    "built_spec",
    "embedding_file_meta",
    "embedding_id",
    "embedding_id_inputs",
    "embedding_manifest",
    "ensure_embedding_version",
    "ensure_text_version",
    "expected_id",
    "file_entry",
    "genes_sha",
    "planned_text_id",
    "reusable_rows",
    "text_id",
    "text_id_inputs",
    "write_parquet",
]


def write_parquet(table: pa.Table, path: Path, meta: dict[str, Any]) -> None:
    """Parquet with the key facts as key-value metadata, so a lone file says what it is."""
    kv = {
        f"genekb.{k}": (v if isinstance(v, str) else json.dumps(v, sort_keys=True))
        for k, v in meta.items()
    }
    pq.write_table(table.replace_schema_metadata(kv), path, compression="zstd")
    fsync_path(path)


def file_entry(path: Path) -> dict[str, Any]:
    return {"sha256": sha256_file(path), "bytes": path.stat().st_size}


def _existing(store: Store, kind: str, vid: str) -> Any:
    """The published version `vid`, checked whole, or None when the store holds no copy or a
    damaged one: a build of the same recipe then writes it again and replaces the damaged copy
    (its id names the recipe, so the rebuilt copy is the version it should have been)."""
    if not store.has(kind, vid):
        return None
    try:
        version = store.text(vid) if kind == "text" else store.embedding(vid)
        version.check()
    except IntegrityError as exc:
        reason = str(exc).split("; this version")[0]
        warn(DamagedVersionWarning(f"{reason}; rebuilding it"))
        return None
    return version


def _text_plan(
    genes: GeneTable, template: Template, gene_ids: Sequence[int] | None
) -> tuple[pa.Table, list[int], str, str]:
    table = genes.table
    if gene_ids is not None:
        table = table.filter(
            pc.is_in(table.column("gene_id"), pa.array(sorted(set(gene_ids)), pa.int64()))
        )
    table = table.sort_by("gene_id")
    selected = table.column("gene_id").to_pylist()
    sha = genes_sha(selected)
    vid = text_id(genes.snapshot.to_dict(), genes.snapshot.taxon, template.key(), sha)
    return table, selected, sha, vid


def planned_text_id(
    genes: GeneTable, template: Template, gene_ids: Sequence[int] | None = None
) -> str:
    """The id `ensure_text_version` would give these inputs, without writing anything."""
    return _text_plan(genes, template, gene_ids)[3]


def built_spec(store: Store, text_id: str, spec: EncoderSpec) -> EncoderSpec | None:
    """The full spec of a version of `text_id` already built by `spec` (which lacks what a backend
    learns on load: dim, weights hash), so a complete version is found without loading it."""
    wanted = spec.learned_fields_cleared().hashed_fields()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        candidates = store.embeddings()
    for version in candidates:
        stored = version.spec
        if version.text_id == text_id and stored.learned_fields_cleared().hashed_fields() == wanted:
            return stored.with_(name=spec.name)
    return None


def ensure_text_version(
    store: Store, genes: GeneTable, template: Template, gene_ids: Sequence[int] | None = None
) -> tuple[TextVersion, bool]:
    """The text version of `genes` (restricted to `gene_ids`) under `template`; True if new."""
    table, selected, sha, vid = _text_plan(genes, template, gene_ids)
    snapshot = genes.snapshot.to_dict()
    if found := _existing(store, "text", vid):
        return found, False
    with store.lock(vid):
        if found := _existing(store, "text", vid):
            return found, False
        texts = [template.render(r) for r in table.to_pylist()]
        table = table.append_column("text", pa.array(texts, pa.string()))
        table = table.append_column(
            "text_sha256", pa.array([sha256_text(t) for t in texts], pa.string())
        )
        with store.staging("text", vid, replace=True) as tmp:
            meta = {
                "kind": "text",
                "id": vid,
                "format": FORMAT,
                "taxon": str(genes.snapshot.taxon),
                "template": template.key(),
                "source": snapshot,
            }
            write_parquet(table, tmp / GENES_FILE, meta)
            manifest = {
                "format": FORMAT,
                "kind": "text",
                "id": vid,
                "created": now_iso(),
                "library_versions": library_versions(),
                "taxon": genes.snapshot.taxon,
                "source": snapshot,
                "template": template.key(),
                "template_description": template.description,
                "selection": {
                    "kind": "all" if gene_ids is None else "list",
                    "n_genes": len(selected),
                    "sha256": sha,
                },
                "counts": {
                    "genes": len(selected),
                    "with_summary": int(
                        pc.sum(pc.invert(pc.is_null(table.column("summary")))).as_py() or 0
                    ),
                    "protein_coding": int(
                        pc.sum(pc.equal(table.column("gene_type"), "protein-coding")).as_py() or 0
                    ),
                },
                "files": {GENES_FILE: file_entry(tmp / GENES_FILE)},
                CONTENT_KEY: content_of("text", table),
            }
            write_manifest(tmp, manifest)
    return store.text(vid), True


def embedding_file_meta(vid: str, text: TextVersion, spec: EncoderSpec, dim: int) -> dict[str, Any]:
    """The key facts a vectors file carries in its own metadata, so a lone file says what it is."""
    return {
        "kind": "embedding",
        "id": vid,
        "format": FORMAT,
        "text_id": text.id,
        "encoder": spec.to_dict(),
        "dim": str(dim),
    }


def embedding_manifest(vid: str, text: TextVersion, spec: EncoderSpec, dim: int) -> dict[str, Any]:
    """The manifest fields every embedding version carries; writers add counts and files."""
    return {
        "format": FORMAT,
        "kind": "embedding",
        "id": vid,
        "text_id": text.id,
        "created": now_iso(),
        "library_versions": library_versions(),
        "taxon": text.taxon,
        "template": text.manifest["template"],
        "source": {k: text.manifest["source"][k] for k in ("source", "date", "taxon")},
        "encoder": spec.to_dict(),
        "encoder_sha256": spec.spec_sha256(),
        "dim": dim,
    }


def reusable_rows(
    store: Store, spec: EncoderSpec, wanted: set[str], skipped: list[str] | None = None
) -> dict[str, tuple[np.ndarray, int, bool, int]]:
    """Vectors already computed by this exact encoder spec for any of the `wanted` text hashes.

    Only versions whose files pass their hash check give vectors; the message for each damaged
    one is appended to `skipped`.
    """
    spec_sha = spec.spec_sha256()
    found: dict[str, tuple[np.ndarray, int, bool, int]] = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        candidates = store.embeddings()
    if skipped is not None:
        skipped += [str(w.message) for w in caught]
    for version in candidates:
        if version.manifest.get("encoder_sha256") != spec_sha or not wanted - set(found):
            continue
        try:
            table = version.table(None)
        except IntegrityError as exc:
            if skipped is not None:
                skipped.append(str(exc))
            continue
        table = table.filter(
            pc.is_in(table.column("text_sha256"), pa.array(sorted(wanted - set(found))))
        )
        if table.num_rows == 0:
            continue
        flat = table.column("vector").combine_chunks().flatten().to_numpy(zero_copy_only=False)
        vectors = flat.astype(np.float32).reshape(table.num_rows, -1)
        windows = (
            table.column("n_windows").to_pylist()
            if "n_windows" in table.column_names  # versions written before the column: 1 each
            else [1] * table.num_rows
        )
        for i, (sha, n, trunc, w) in enumerate(
            zip(
                table.column("text_sha256").to_pylist(),
                table.column("n_tokens").to_pylist(),
                table.column("truncated").to_pylist(),
                windows,
                strict=True,
            )
        ):
            found[sha] = (vectors[i], int(n), bool(trunc), int(w))
    return found


def ensure_embedding_version(
    store: Store,
    text: TextVersion,
    spec: EncoderSpec,
    encoder_factory: Callable[[], Encoder],
    *,
    batch_size: int = 64,
    progress: ProgressFactory | None = None,
    device: str | None = None,
    extra_files: dict[str, bytes] | None = None,
) -> tuple[EmbeddingVersion, dict[str, Any]]:
    """The embedding version of `text` under `spec`; embeds only texts not embedded before.

    `extra_files` (name -> bytes) are written beside the vectors and listed, with their sha256, in
    the manifest: e.g. a fitted encoder's fit, which the spec's hash pins.

    `progress(total_to_embed, reused, costs)` returns a per-batch callback (or None); `costs`
    weighs each text in the order the encoder works through them, for the time left.
    Returns the version and stats: embedded, reused, seconds, created.
    """
    start = time.perf_counter()
    vid = embedding_id(text.id, spec)
    found = {"embedded": 0, "reused": 0, "created": False, "skipped_damaged": []}
    if version := _existing(store, "embedding", vid):
        return version, {**found, "seconds": time.perf_counter() - start}
    with store.lock(vid):
        if version := _existing(store, "embedding", vid):
            return version, {**found, "seconds": time.perf_counter() - start}
        genes = text.table(["gene_id", "symbol", "text", "text_sha256"])
        shas = genes.column("text_sha256").to_pylist()
        skipped: list[str] = []
        reused = reusable_rows(store, spec, set(shas), skipped)
        todo = sorted({s for s in shas if s not in reused})
        loaded_spec, embed_seconds = spec, 0.0
        if todo:
            texts_by_sha = dict(zip(shas, genes.column("text").to_pylist(), strict=True))
            loaded_spec, embed_seconds = _embed_missing(
                spec.name, encoder_factory, [texts_by_sha[s] for s in todo], todo, reused,
                batch_size, progress,
            )  # fmt: skip
        dim = int(loaded_spec.dim or next(iter(reused.values()))[0].shape[0])
        rows = [reused[s] for s in shas]
        table = _vector_table(genes, rows, dim)
        with store.staging("embedding", vid, replace=True) as tmp:
            write_parquet(table, tmp / VECTORS_FILE, embedding_file_meta(vid, text, spec, dim))
            for name, data in (extra_files or {}).items():
                (tmp / name).write_bytes(data)
                fsync_path(tmp / name)
            manifest = {
                **embedding_manifest(vid, text, spec, dim),
                "encoder_loaded": loaded_spec.to_dict() if todo else None,
                "device": device or "cpu",
                "counts": _counts(rows, len(todo)),
                "timing": {"embed_seconds": round(embed_seconds, 3)},
                "files": {
                    name: file_entry(tmp / name) for name in [VECTORS_FILE, *(extra_files or {})]
                },
                CONTENT_KEY: content_of("embedding", table),
            }
            write_manifest(tmp, manifest)
    stats = {
        "embedded": len(todo),
        "reused": len(shas) - len(todo),
        "created": True,
        "seconds": time.perf_counter() - start,
        "embed_seconds": embed_seconds,
        "truncated": manifest["counts"]["truncated"],
        "skipped_damaged": skipped,
    }
    return store.embedding(vid), stats


def _embed_missing(
    name: str,
    encoder_factory: Callable[[], Encoder],
    batch: list[str],
    todo: list[str],
    rows: dict[str, tuple],
    batch_size: int,
    progress: ProgressFactory | None,
) -> tuple[EncoderSpec, float]:
    """Embed the texts no earlier version holds into `rows` (by text sha256); the spec the
    encoder loaded with, and the seconds spent encoding."""
    encoder = encoder_factory()
    loaded = encoder.spec
    t0 = time.perf_counter()
    counts = encoder.count_tokens(batch)
    costs = encoding_costs(counts, loaded.max_length)
    callback = progress(len(batch), len(rows), costs) if progress else None
    vectors = encoder.encode(batch, batch_size=batch_size, progress=callback)
    seconds = time.perf_counter() - t0
    if not np.isfinite(vectors).all():
        raise ValueError(f"encoder {name} produced non-finite vectors")
    cut = encoder.truncated(counts)
    windows = encoder.windows(batch, counts)
    for s, v, n, c, w in zip(todo, vectors, counts, cut, windows, strict=True):
        rows[s] = (v, int(n), bool(c), int(w))
    encoder.close()
    return loaded, seconds


def _vector_table(genes: pa.Table, rows: list[tuple], dim: int) -> pa.Table:
    """The vectors file: one row per gene, its text's vector and token counts."""
    matrix = (
        np.stack([r[0] for r in rows]).astype(np.float32)
        if rows
        else np.zeros((0, dim), np.float32)
    )
    return pa.table(
        {
            "gene_id": genes.column("gene_id"),
            "symbol": genes.column("symbol"),
            "text_sha256": genes.column("text_sha256"),
            "n_tokens": pa.array([r[1] for r in rows], pa.int32()),
            "truncated": pa.array([r[2] for r in rows], pa.bool_()),
            # windows each text was embedded in: 1 unless the spec says long_text="windows"
            "n_windows": pa.array([r[3] for r in rows], pa.int32()),
            "vector": pa.FixedSizeListArray.from_arrays(
                pa.array(matrix.reshape(-1), pa.float32()), dim
            ).cast(pa.list_(pa.float32(), dim)),
        }
    )


def _counts(rows: list[tuple], n_embedded: int) -> dict[str, int]:
    """The manifest's counts: genes, embedded here, reused, truncated and windowed texts."""
    return {
        "genes": len(rows),
        "embedded": n_embedded,
        "reused": len(rows) - n_embedded,
        "truncated": sum(1 for r in rows if r[2]),
        "windowed": sum(1 for r in rows if r[3] > 1),
        "windows": sum(r[3] for r in rows),
    }
