"""How a version's id is derived from its inputs: the one recipe, shared by writers and checkers.

A text version's id hashes the source snapshot, taxon, template and gene selection; an embedding
version's id hashes its text id and the encoder spec's hashed fields. `verify`, `import` and every
read recompute the id from the manifest and refuse a version whose directory name disagrees.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from genekb.encoders.base import EncoderSpec
from genekb.store.hashing import sha256_json, short_id
from genekb.store.manifest import FORMAT


def text_id_inputs(
    snapshot: dict[str, Any], taxon: int, template: dict[str, Any], genes_sha: str
) -> dict:
    return {
        "format": FORMAT,
        "source": snapshot,
        "taxon": taxon,
        "template": template,
        "genes": genes_sha,
    }


def embedding_id_inputs(text_id: str, spec: EncoderSpec) -> dict:
    return {"format": FORMAT, "text_id": text_id, "encoder": spec.hashed_fields()}


def text_id(snapshot: dict[str, Any], taxon: int, template: dict[str, Any], genes_sha: str) -> str:
    return short_id("txt", text_id_inputs(snapshot, taxon, template, genes_sha))


def embedding_id(text_id: str, spec: EncoderSpec) -> str:
    return short_id("emb", embedding_id_inputs(text_id, spec))


def genes_sha(gene_ids: Sequence[int]) -> str:
    return sha256_json(sorted(int(g) for g in gene_ids))


def expected_id(manifest: dict[str, Any]) -> str:
    """Recompute a version's id from its manifest's contents."""
    if manifest["kind"] == "text":
        return text_id(
            manifest["source"],
            manifest["taxon"],
            manifest["template"],
            manifest["selection"]["sha256"],
        )
    return embedding_id(manifest["text_id"], EncoderSpec.from_dict(manifest["encoder"]))


def default_tag(taxon: str, template: str, model: str) -> str:
    """The tag a build moves unless told otherwise, and the name readers look a version up by:
    `taxon/template/model` (e.g. human/ncbi-card/minilm)."""
    return f"{taxon}/{template}/{model}"
