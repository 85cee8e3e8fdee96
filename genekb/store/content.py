"""A version's content id: the sha256 of what it holds, beside its recipe id.

A version's id hashes its recipe (source, template, genes, encoder), so two builds of one recipe
share it whatever bytes they hold. The content id hashes the decoded data in a fixed layout that
does not depend on how Parquet encoded it:

- an embedding version: its gene ids (int64, little-endian), then its vectors (float32,
  little-endian, row-major), then its dimension;
- a text version: its gene ids, then each gene's text sha256; every text's sha256 is itself
  recomputed from the text.

Writers record it in the manifest (`content_sha256`); `verify` and `import` recompute it from the
data and refuse a version whose data do not match the id it claims. Someone who rewrites the
data, the file hashes and the content id together makes a consistent version with a new content
id: compare it with the one the sender published (`genekb import --expect`). A version written
before genekb recorded the content id has the same id, recomputed from its data by `verify`,
`export` and `import`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from genekb.store import parquet_bytes
from genekb.store.hashing import sha256_text

CONTENT_KEY = "content_sha256"
_LAYOUT = b"genekb-content/1\n"


def _ids(table: pa.Table) -> bytes:
    return table.column("gene_id").to_numpy().astype("<i8").tobytes()


def embedding_content(table: pa.Table) -> str:
    """The content id of an embedding version's table (columns gene_id and vector)."""
    vectors = table.column("vector").combine_chunks()
    dim = vectors.type.list_size if pa.types.is_fixed_size_list(vectors.type) else None
    flat = vectors.flatten().to_numpy(zero_copy_only=False).astype("<f4")
    dim = dim if dim is not None else (flat.size // max(table.num_rows, 1))
    digest = hashlib.sha256(_LAYOUT + b"embedding\n")
    digest.update(_ids(table))
    digest.update(flat.tobytes())
    digest.update(f"\n{dim}\n".encode())
    return digest.hexdigest()


def text_content(table: pa.Table) -> str:
    """The content id of a text version's table (columns gene_id and text_sha256)."""
    digest = hashlib.sha256(_LAYOUT + b"text\n")
    digest.update(_ids(table))
    digest.update("\n".join(table.column("text_sha256").to_pylist()).encode())
    return digest.hexdigest()


def content_of(kind: str, table: pa.Table) -> str:
    return text_content(table) if kind == "text" else embedding_content(table)


def data_problems(kind: str, data: bytes) -> tuple[str | None, list[str]]:
    """(the content id recomputed from a data file's bytes, problems found inside it)."""
    try:
        table = parquet_bytes.read_table(data)
        problems = []
        if kind == "text":
            texts, shas = table.column("text").to_pylist(), table.column("text_sha256").to_pylist()
            wrong = [
                i
                for i, (t, s) in enumerate(zip(texts, shas, strict=True))
                if sha256_text(t or "") != s
            ]
            if wrong:
                problems.append(
                    f"{len(wrong)} texts do not match their text_sha256 (row {wrong[0]})"
                )
        else:
            flat = table.column("vector").combine_chunks().flatten().to_numpy(zero_copy_only=False)
            if not np.isfinite(flat).all():
                problems.append("holds NaN or infinite vector values")
        return content_of(kind, table), problems
    except (pa.ArrowException, KeyError, ValueError, TypeError) as exc:
        return None, [f"its data cannot be decoded ({exc.__class__.__name__})"]


def check_content(path: Path, manifest: dict[str, Any], data_file: str, data: bytes) -> list[str]:
    """Problems with a version's content: its data undecodable or inconsistent, or its content id
    not the one the manifest claims (see `content_and_problems`)."""
    return content_and_problems(path, manifest, data_file, data)[1]


def content_and_problems(
    path: Path, manifest: dict[str, Any], data_file: str, data: bytes
) -> tuple[str | None, list[str]]:
    """(the content id recomputed from the data, problems with it): the data undecodable or
    inconsistent, or the content id not the one the manifest claims. A manifest without a content
    id (written before genekb recorded one) gets no problem here: its id is the recomputed one."""
    kind = manifest.get("kind", "")
    found, problems = data_problems(kind, data)
    claimed = manifest.get(CONTENT_KEY)
    if found is not None and claimed is not None and claimed != found:
        problems.append(f"content sha256 {found[:12]}… is not the {str(claimed)[:12]}… it claims")
    return found, [f"{path / data_file}: {p}" for p in problems]
