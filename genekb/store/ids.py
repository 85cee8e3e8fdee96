"""How a version's id is derived from its inputs: the one recipe, shared by writers and checkers.

A text version's id hashes the source snapshot, taxon, template and gene selection; an embedding
version's id hashes its text id and the encoder spec's hashed fields. `verify`, `import` and every
read recompute the id from the manifest and refuse a version whose directory name disagrees.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from genekb.encoders.base import EncoderSpec
from genekb.errors import UsageError
from genekb.records import TAXA
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


ID_PREFIXES = ("txt-", "emb-")  # every version id starts with one (see short_id)
# A version's folder, its index entry: exactly short_id's shape, by kind.
VERSION_NAME = {
    "text": re.compile(r"txt-[0-9a-f]{16}"),
    "embedding": re.compile(r"emb-[0-9a-f]{16}"),
}
# A prefix names a version only with this many hex digits after "emb-"/"txt-" (git's floor):
# "emb-3" would name whichever version happens to be alone in starting so, and `genekb rm` acts
# on the name given.
PREFIX_DIGITS = 4
TAG_MAX = 200  # characters
_SEGMENT = r"[A-Za-z0-9][A-Za-z0-9._+:=@-]*"
TAG_PATTERN = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})*")
TAG_RULE = (
    f"a tag is up to {TAG_MAX} characters: ASCII letters, digits and . _ + : = @ -, in parts"
    " split by /, each part starting with a letter or digit, never starting with txt- or emb-"
    " (those are version ids)"
)


def tag_problem(tag: object) -> str | None:
    """Why `tag` cannot be a tag (None when it can): a tag is a name, never mistaken for an id,
    a path outside the store or a second line."""
    if not isinstance(tag, str) or not tag.strip():
        return f"a tag must be a non-empty name, not {tag!r}"
    shown = repr(tag if len(tag) <= 60 else tag[:60] + "…")
    if len(tag) > TAG_MAX:
        return f"tag {shown} is {len(tag):,} characters long; {TAG_RULE}"
    if tag.lower().startswith(ID_PREFIXES):
        return f"tag {shown} looks like a version id; {TAG_RULE}"
    if not TAG_PATTERN.fullmatch(tag) or any(set(p) <= {"."} for p in tag.split("/")):
        return f"tag {shown} is not a name; {TAG_RULE}"
    return None


def prefix_matches(ref: str, ids: Iterable[str]) -> list[str]:
    """The ids `ref` names: itself, or those it is a prefix of when it carries at least
    `PREFIX_DIGITS` digits after the id's kind."""
    long_enough = ref.startswith(ID_PREFIXES) and len(ref) >= 4 + PREFIX_DIGITS
    return [i for i in ids if i == ref or (long_enough and i.startswith(ref))]


def short_prefix_note(ref: str, ids: Iterable[str]) -> str:
    """A note where `ref` begins some id but is too short to name it ("" otherwise)."""
    if not ref.startswith(ID_PREFIXES) or prefix_matches(ref, ids):
        return ""
    if not any(i.startswith(ref) for i in ids):
        return ""
    return f" (an id prefix needs {PREFIX_DIGITS} digits after {ref[:4]!r})"


def ambiguous(ref: str, matches: list[str], what: str) -> UsageError:
    """The refusal of a prefix that names several versions (`what`: "embedding versions")."""
    shown = ", ".join(matches[:3]) + (", …" if len(matches) > 3 else "")
    return UsageError(
        f"{ref!r} is a prefix of {len(matches)} {what} ({shown}); give more of the id"
    )


def check_tag(tag: str | None) -> str | None:
    """`tag` when it is a valid tag (or None); UsageError saying why not, before any work."""
    problem = None if tag is None else tag_problem(tag)
    if problem:
        raise UsageError(problem)
    return tag


def check_tag_species(tag: str, taxon: int, what: str, *, force: bool) -> None:
    """Refuse a tag whose first part names another species than the version it points at
    (`human/…` on a mouse build), unless `force`: readers look a species' default tag up by that
    name and are refused the other species' genes only when they read (api.default_version).
    `what`: the version, in words ("this build", an id)."""
    named = tag.split("/", 1)[0].lower()
    if force or TAXA.get(named) in (None, taxon):
        return
    own = next((n for n, number in TAXA.items() if number == taxon), None)
    rename = f"name the tag {own}/…" if own else "name the tag apart"
    raise UsageError(
        f"tag {tag!r} names {named}, but {what} is of taxon {taxon} ({own or 'another species'}),"
        f" not {named}; {rename}, or pass --force to tag it so ({named} readers of the tag are"
        " then refused it)"
    )


def default_tag(taxon: str, template: str, model: str) -> str:
    """The tag a build moves unless told otherwise, and the name readers look a version up by:
    `taxon/template/model` (e.g. human/ncbi-card/minilm). A model given by path keeps the parts
    of its name a tag may hold."""
    pieces = f"{taxon}/{template}/{model}".split("/")
    parts = [re.sub(r"[^A-Za-z0-9._+:=@-]", "-", p) for p in pieces]
    parts = [p.lstrip("._+:=@-") for p in parts]
    return "/".join(p for p in parts if p)[:TAG_MAX]
