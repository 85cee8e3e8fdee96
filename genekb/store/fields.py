"""A manifest's facts recomputed from the data they describe.

The manifest's self-hash only proves that its bytes were not flipped by accident: anyone who edits
a field can recompute it. So every field a reader acts on is checked against what the data say:

- a text version: the gene count and the selection's sha256 (which the id hashes) from its gene
  ids, the counts of summaries and protein-coding genes, its taxon from every row's taxon, its
  template by rendering every record again and comparing the texts, and the facts its Parquet
  file carries in its own metadata;
- an embedding version: its dimension from the vectors' width (and the encoder spec's), its gene
  count, its genes and their text hashes against its text version's, its taxon, template and
  source against its text version's manifest, the spec hash from the spec, and a fitted encoder's
  fit against the spec's `weights_sha256`.

What no data can prove (the snapshot's name and date, descriptions, timings, library versions)
is listed in docs/integrity.md. These checks serve `genekb verify` and `genekb import`, and any
other reader of a version it was sent (a remote pull), through `version_problems`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from genekb.encoders.base import EncoderSpec
from genekb.encoders.tfidf_backend import FIT_FILE, TfidfLsaEncoder, needs_fit
from genekb.errors import GenekbError
from genekb.store import parquet_bytes
from genekb.store.ids import genes_sha

# An embedding manifest repeats these facts of its text version (genekb.store.versions).
COPIED_FROM_TEXT = ("taxon", "template")


def _meta(data: bytes) -> dict[str, str]:
    raw = parquet_bytes.read_schema(data).metadata or {}
    return {k.decode(): v.decode() for k, v in raw.items() if k.startswith(b"genekb.")}


def _differs(name: str, claimed: Any, found: Any) -> str | None:
    return None if claimed == found else f"manifest {name} {claimed!r}, the data say {found!r}"


def text_problems(manifest: dict[str, Any], data: bytes) -> list[str]:
    """Fields of a text version's manifest that its genes.parquet contradicts."""
    table = parquet_bytes.read_table(data)
    ids = table.column("gene_id").to_pylist()
    counts = manifest.get("counts") or {}
    selection = manifest.get("selection") or {}
    summaries = int(pc.sum(pc.invert(pc.is_null(table.column("summary")))).as_py() or 0)
    coding = int(pc.sum(pc.equal(table.column("gene_type"), "protein-coding")).as_py() or 0)
    taxa = sorted(set(table.column("taxon").to_pylist()))
    taxon = manifest.get("taxon")
    found = [
        _differs("counts.genes", counts.get("genes"), len(ids)),
        _differs("selection.n_genes", selection.get("n_genes"), len(ids)),
        _differs("selection.sha256", selection.get("sha256"), genes_sha(ids)),
        _differs("counts.with_summary", counts.get("with_summary"), summaries),
        _differs("counts.protein_coding", counts.get("protein_coding"), coding),
        _differs("taxon", [manifest.get("taxon")], taxa) if taxa else None,
        _differs("source.taxon", (manifest.get("source") or {}).get("taxon"), taxon),
    ]
    found += _template_problems(manifest, table)
    meta = _meta(data)
    found += [
        _differs("id", manifest.get("id"), meta.get("genekb.id")),
        _differs("taxon", str(manifest.get("taxon")), meta.get("genekb.taxon")),
        _differs("template", manifest.get("template"), _loads(meta.get("genekb.template"))),
    ]
    return [p for p in found if p]


def _template_problems(manifest: dict[str, Any], table: pa.Table) -> list[str]:
    """The texts rendered again by the template the manifest names must be the stored texts."""
    from genekb.templates import KNOWN

    key = manifest.get("template")
    template = KNOWN.get(key.get("id")) if isinstance(key, dict) else None
    if template is None or template.key() != key:
        return [f"manifest template {key!r} is not a template this genekb knows"]
    texts = table.column("text").to_pylist()
    records = table.drop_columns(["text", "text_sha256"]).to_pylist()
    pairs = enumerate(zip(records, texts, strict=True))
    wrong = [i for i, (record, text) in pairs if template.render(record) != text]
    if wrong:
        return [f"{len(wrong)} texts are not what template {key['id']!r} renders (row {wrong[0]})"]
    return []


def _loads(value: str | None) -> Any:
    try:
        return json.loads(value) if value is not None else None
    except ValueError:
        return value


def embedding_problems(
    manifest: dict[str, Any],
    data: bytes,
    text_manifest: dict[str, Any],
    text_data: bytes,
    read_file: Callable[[str], bytes] | None = None,
) -> list[str]:
    """Fields of an embedding version's manifest that its vectors, its text version or its own
    files contradict. `read_file(name)` gives another file of the version (a fit)."""
    table = parquet_bytes.read_table(data, ["gene_id", "text_sha256", "vector"])
    vectors = table.schema.field("vector").type
    width = vectors.list_size if pa.types.is_fixed_size_list(vectors) else None
    spec = EncoderSpec.from_dict(manifest["encoder"])
    text = parquet_bytes.read_table(text_data, ["gene_id", "text_sha256"])
    ours, theirs = _text_hashes(table), _text_hashes(text)
    found = [
        _differs("dim", manifest.get("dim"), width),
        _differs("encoder.dim", spec.dim, width) if spec.dim is not None else None,
        _differs("counts.genes", (manifest.get("counts") or {}).get("genes"), table.num_rows),
        _differs("encoder_sha256", manifest.get("encoder_sha256"), spec.spec_sha256()),
        None if len(ours) == table.num_rows else f"{table.num_rows - len(ours)} genes repeat",
        None if ours == theirs else "its genes or text hashes are not its text version's",
    ]
    found += [_differs(f, manifest.get(f), text_manifest.get(f)) for f in COPIED_FROM_TEXT]
    source = {k: (text_manifest.get("source") or {}).get(k) for k in ("source", "date", "taxon")}
    found.append(_differs("source", manifest.get("source"), source))
    meta = _meta(data)
    found += [
        _differs("id", manifest.get("id"), meta.get("genekb.id")),
        _differs("text_id", manifest.get("text_id"), meta.get("genekb.text_id")),
        _differs("dim", str(manifest.get("dim")), meta.get("genekb.dim")),
    ]
    if needs_fit(spec) and read_file is not None:
        has_fit = FIT_FILE in (manifest.get("files") or {})
        found.append(_fit_problem(spec, read_file(FIT_FILE)) if has_fit else f"no {FIT_FILE}")
    return [p for p in found if p]


def _fit_problem(spec: EncoderSpec, data: bytes) -> str | None:
    """A fitted encoder's stored fit must be the one its spec (and so the id) names."""
    try:
        TfidfLsaEncoder(spec).load_fit({FIT_FILE: data})
    except GenekbError:
        return f"{FIT_FILE} is not the fit its encoder spec names (weights_sha256)"
    except (KeyError, ValueError, OSError) as exc:
        return f"{FIT_FILE} cannot be read ({exc.__class__.__name__})"
    return None


def _text_hashes(table: pa.Table) -> dict[int, str]:
    ids, shas = table.column("gene_id").to_pylist(), table.column("text_sha256").to_pylist()
    return dict(zip(ids, shas, strict=True))


def version_problems(
    kind: str,
    manifest: dict[str, Any],
    data: bytes,
    text: tuple[dict[str, Any], bytes] | None = None,
    read_file: Callable[[str], bytes] | None = None,
) -> list[str]:
    """Every contradiction between a version's manifest and its data (for an embedding version,
    `text` is its text version's (manifest, genes.parquet bytes)); undecodable data is one."""
    try:
        if kind == "text":
            return text_problems(manifest, data)
        if text is None:
            return ["its text version is missing"]
        return embedding_problems(manifest, data, text[0], text[1], read_file)
    except (pa.ArrowException, KeyError, ValueError, TypeError, AttributeError) as exc:
        return [f"its data do not have the expected shape ({exc.__class__.__name__}: {exc})"]
