"""Forms gene names take in real files that a lookup of each name alone misreads.

- Multi-genome references (species-mixing, "barnyard" experiments) prefix every gene with its
  genome: Cell Ranger writes "GRCh38_CD3E" and "mm10___Cd3e", older ones "hg19_", "mm10_".
- `var_names_make_unique` (scanpy, anndata) renames the second "TBCE" to "TBCE-1".
- Another species' gene ids (Ensembl's "ENSDARG…" for zebrafish, FlyBase's "FBgn…") match
  neither snapshot; said as that species, not as "feature ids".
- R's `make.names` (a Seurat object converted to .h5ad, `write.csv`) writes each "-" as ".":
  "HLA.DRA", "MT.CO1", "RP11.782C8.1", and `make.unique`'s "TBCE.1".
- Some pipelines upper-case mouse symbols ("CD3E", "INS2", "LY6A"), which then vote human by case,
  and some write human symbols in title case ("Cd3e", "Ins", "Hla-a"), which then vote mouse.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np

from genekb.ensembl import parse_ensembl
from genekb.genemap import UNMATCHED

_GENOME_PREFIX = re.compile(r"^(GRCh3[78]|hg19|hg38|mm9|mm10|mm39|GRCm3[89])_+", re.IGNORECASE)
_UNIQUE_SUFFIX = re.compile(r"^(.+)-\d+$")
# Gene ids of the species most often sequenced besides human and mouse (Ensembl's stable-id
# prefixes, FlyBase, WormBase), by their prefix.
_OTHER_SPECIES_IDS = {
    "ENSRNOG": "rat", "ENSMMUG": "rhesus macaque", "ENSMFAG": "crab-eating macaque",
    "ENSCJAG": "marmoset", "ENSPTRG": "chimpanzee", "ENSSSCG": "pig", "ENSBTAG": "cattle",
    "ENSCAFG": "dog", "ENSOARG": "sheep", "ENSECAG": "horse", "ENSOCUG": "rabbit",
    "ENSGALG": "chicken", "ENSDARG": "zebrafish", "ENSXETG": "Xenopus tropicalis",
    "FBgn": "fruit fly", "WBGene": "C. elegans",
}  # fmt: skip
_FLY_WORM_ID = re.compile(r"^(FBgn|WBGene)\d{5,}(\.\d+)?$")  # Ensembl's: `parse_ensembl`
OTHER_SPECIES_FIX = (
    "map the genes to human or mouse orthologs (Ensembl BioMart, or the species' own ortholog"
    " table) and pass their symbols as a var column with gene_key=COLUMN"
)
# Ignoring case most names resolve alike in both species ("CD3E", "Cd3e"); the names only one
# species knows tell them apart: a human file holds HLA-DRA, LYZ, lncRNAs, a mouse file Lyz2,
# H2-K1, Gm and Rik genes. They overrule the names' case when the other species' such names are
# at least this share of all names, this many, and SPECIES_ONLY_RATIO times the case's own; a near
# tie (short marker lists, where one alias could tip it) leaves the case to decide.
SPECIES_ONLY_MIN_RATE = 0.02
SPECIES_ONLY_MIN = 3
SPECIES_ONLY_RATIO = 2


def _other_species_prefix(name: str) -> str | None:
    """The prefix of a gene id of a species in _OTHER_SPECIES_IDS (or of human or mouse)."""
    ensembl = parse_ensembl(name)
    if ensembl is not None:
        return ensembl.prefix
    found = _FLY_WORM_ID.match(name)
    return found[1] if found else None


def _genome_prefixes(names: Sequence[str]) -> Counter[str]:
    return Counter(m.group(0) for n in names if (m := _GENOME_PREFIX.match(n)))


def genome_prefix_note(names: Sequence[str]) -> str | None:
    """A note naming the genome prefixes when at least half of `names` carry one, else None."""
    counts = _genome_prefixes(names)
    if not names or sum(counts.values()) * 2 < len(names):
        return None
    shown = ", ".join(f"{prefix} {n}" for prefix, n in counts.most_common())
    return (
        f"the gene names carry the genome prefixes of a multi-genome reference ({shown} names):"
        " a species-mixing matrix whose names match no species' genes as they are"
    )


def genome_prefix_fix(names: Sequence[str]) -> str:
    """What to do with prefixed `names`, shown on the file's own commonest prefix and one of its
    names: the fix had always named 'GRCh38_', which selects nothing in an hg19_ or mm10___ file."""
    prefix = _genome_prefixes(names).most_common(1)[0][0]
    example = next(n for n in names if n.startswith(prefix))
    return (
        "keep one species' genes and strip the prefix from their names"
        f" (adata[:, adata.var_names.str.startswith({prefix!r})], then"
        f" {example!r} -> {example[len(prefix) :]!r})"
    )


_VERSION_SUFFIX = re.compile(r"^[^.]+\.\d+$")
VERSION_SUFFIX_FIX = (
    "strip the suffix (adata.var_names = adata.var_names.str.replace(r'\\.\\d+$', '',"
    " regex=True)), or pass gene_key=COLUMN if a var column holds the plain symbols"
)


def version_suffix_note(names: Sequence[str]) -> str | None:
    """A note when at least half of `names` are symbols with a version's suffix ("CD3E.1"):
    Ensembl ids carry one and are read without it; a symbol never does, so none matched."""
    suffixed = [n for n in names if _VERSION_SUFFIX.match(n) and parse_ensembl(n) is None]
    if not names or len(suffixed) * 2 < len(names):
        return None
    return (
        f"{len(suffixed)} of {len(names)} gene names end in a version's suffix"
        f" ({', '.join(map(repr, suffixed[:3]))}), which gene symbols do not carry"
    )


# A barnyard matrix named by Ensembl ids: each id says its species, so nothing is read from case
MIXED_MIN_SHARE = 0.1
MIXED_FIX = (
    "pass taxon=human or taxon=mouse to read that species' genes (the other's are left out), or"
    " keep one species' genes (adata[:, adata.var_names.str.startswith('ENSG')])"
)


def mixed_ensembl_note(names: Sequence[str]) -> str | None:
    """A note when human (ENSG) and mouse (ENSMUSG) Ensembl ids are each at least
    MIXED_MIN_SHARE of `names`: the larger species won the vote and the other's genes, which may
    carry the cells' signal, were dropped without a word."""
    counts = Counter(e.prefix for n in names if (e := parse_ensembl(n)) is not None)
    human, mouse = counts.get("ENSG", 0), counts.get("ENSMUSG", 0)
    if not names or min(human, mouse) < MIXED_MIN_SHARE * len(names):
        return None
    return (
        f"the gene names are Ensembl ids of two species ({human} human ENSG…, {mouse} mouse"
        " ENSMUSG…): a species-mixing matrix, whose genes one species' knowledge reads only in part"
    )


def ids_against_taxon(names: Sequence[str], given: str) -> tuple[str, str] | None:
    """(note, fix) where most of `names` are the other species' Ensembl ids and few are
    `given`'s: an id says its species, so no taxon= reads ENSG ids as mouse genes (they were,
    "as asked": 5% of pbmc68k's matched, and monocytes were named alveolar type 2 cells)."""
    counts = Counter(e.prefix for n in names if (e := parse_ensembl(n)) is not None)
    own, other = ("ENSG", "ENSMUSG") if given == "human" else ("ENSMUSG", "ENSG")
    if not names or counts[other] * 2 < len(names) or counts[own] >= MIXED_MIN_SHARE * len(names):
        return None
    species = "mouse" if given == "human" else "human"
    return (
        f"taxon={given} is given, but {counts[other]} of {len(names)} gene names are {species}"
        f" Ensembl ids ({other}…), which name no {given} gene",
        f"pass taxon={species}, or leave taxon= out (an Ensembl id says its species)",
    )


# Lower-case names under this share symbols are hinted to be zebrafish's ('cd74a' beside 'lck'):
# a lower-cased human file reads above 0.9 (pbmc68k: 701 of 765), a zebrafish one near half.
ZEBRAFISH_HINT_BELOW = 0.75


def zebrafish_hint(symbol_share: float) -> str:
    """What to add to the note on lower-case names of which `symbol_share` read as symbols."""
    if symbol_share >= ZEBRAFISH_HINT_BELOW:
        return ""
    return (
        "; zebrafish's genes are named in lower case too: if these are, map them to human or"
        " mouse orthologs"
    )


def other_species_note(names: Sequence[str]) -> str | None:
    """A note naming the species when at least half of `names` are its gene ids (Ensembl,
    FlyBase, WormBase) and it is neither human nor mouse, else None."""
    counts = Counter(p for n in names if (p := _other_species_prefix(n)) in _OTHER_SPECIES_IDS)
    if not names or sum(counts.values()) * 2 < len(names):
        return None
    prefix, n = counts.most_common(1)[0]
    return (
        f"the gene names are {_OTHER_SPECIES_IDS[prefix]} gene ids ({n} of {len(names)} are"
        f" {prefix}…), and gene knowledge here is of human and mouse genes"
    )


def name_form(names: Sequence[str]) -> str:
    """What most of `names` are: "Entrez ids" (numbers), "Ensembl ids" or "symbols"; so two files
    that share no gene can be told that they name genes differently."""
    sample = [str(n).strip() for n in names[:2000]]  # a file names its genes one way
    counts = Counter(
        "Entrez ids" if n.isdecimal() else "Ensembl ids" if parse_ensembl(n) else "symbols"
        for n in sample
    )
    return counts.most_common(1)[0][0] if counts else "symbols"


HYPHENS_ROUTE = "hyphens-restored"


# R's make.names leaves no "-": a file whose names keep their hyphens, but this many times fewer
# than the dotted names that match once R's dots are hyphens again, had one name added by hand
# (a gene typed in after the conversion) and is read as R wrote the rest.
R_NAMES_PER_HYPHEN = 10


def restore_hyphens(
    names: Sequence[str],
    gene_ids: np.ndarray,
    routes: list[str | None],
    lookup: Callable[[list[str]], tuple[np.ndarray, list[str | None]]],
) -> list[str]:
    """Match, in place, the unmatched names R's make.names wrote with "." for "-" by `lookup` of
    their hyphens restored: each dot, or each but the last (a clone name's version,
    "RP11-782C8.1"). Names holding a "-" keep their dots, and where such names are more than
    one in `R_NAMES_PER_HYPHEN` of the names restored, nothing is: a file that keeps hyphens
    writes a dot as the name's own. Returns the names as spelled with hyphens (for
    `made_unique_sources`: "TBCE.1")."""
    spelled = list(names)
    rows = [
        i for i, n in enumerate(names) if "." in n and "-" not in n and gene_ids[i] == UNMATCHED
    ]
    found: dict[int, tuple[int, str]] = {}
    for form in (_every_dot, _all_but_last):
        todo = [i for i in rows if i not in found]
        ids, _ = lookup([form(names[i]) for i in todo]) if todo else (np.array([]), [])
        found |= {
            i: (int(g), form(names[i])) for i, g in zip(todo, ids, strict=True) if g != UNMATCHED
        }
    hyphenated = sum("-" in n for n in names)
    if hyphenated and len(found) < R_NAMES_PER_HYPHEN * hyphenated:
        return spelled
    for i, (gid, name) in found.items():
        gene_ids[i], routes[i], spelled[i] = gid, HYPHENS_ROUTE, name
    for i in rows:
        if i not in found:
            spelled[i] = _every_dot(names[i])
    return spelled


def _every_dot(name: str) -> str:
    return name.replace(".", "-")


def _all_but_last(name: str) -> str:
    head, _, tail = name.rpartition(".")
    return f"{head.replace('.', '-')}.{tail}"


def made_unique_sources(names: Sequence[str], matched: np.ndarray) -> dict[int, int]:
    """Row of each unmatched name made unique ("TBCE-1") -> row of the matched name it was made
    from ("TBCE"). Both names are in the data, so the suffix is the renaming, not a gene's own
    name; a real gene named so ("NKX2-1") matched already and is never touched."""
    row_of = {name: i for i, name in enumerate(names)}
    sources = {}
    for i, name in enumerate(names):
        found = None if matched[i] else _UNIQUE_SUFFIX.match(name)
        j = row_of.get(found.group(1)) if found else None
        if j is not None and matched[j]:
            sources[i] = j
    return sources


def species_by_nomenclature(
    human: np.ndarray, mouse: np.ndarray, by_case: str
) -> tuple[str, str] | None:
    """The other species and a note when the names only one species knows clearly outvote the
    species the names' case voted for (`by_case`); None when they agree or nearly tie.
    `human`, `mouse`: whether each name resolves in that species' snapshot, ignoring case."""
    only, other = _outvoted(human, mouse, by_case)
    if other is None:
        return None
    written = "upper-case" if by_case == "human" else "title-case"
    return other, (
        f"{written} gene names read as {other} genes ({only[other]} are {other} genes and not"
        f" {by_case} ones, {only[by_case]} the reverse); pass taxon={by_case} to read them as"
        f" {by_case}"
    )


def _outvoted(
    human: np.ndarray, mouse: np.ndarray, voted: str
) -> tuple[dict[str, int], str | None]:
    """Each species' count of names only it knows, and the other species where its count
    clearly outvotes `voted`'s (`SPECIES_ONLY_*`), else None."""
    only = {"human": int((human & ~mouse).sum()), "mouse": int((mouse & ~human).sum())}
    other = "mouse" if voted == "human" else "human"
    least = max(SPECIES_ONLY_MIN, SPECIES_ONLY_MIN_RATE * len(human))
    if only[other] < least or only[other] < SPECIES_ONLY_RATIO * only[voted]:
        return only, None
    return only, other


def given_against_names(human: np.ndarray, mouse: np.ndarray, given: str) -> str | None:
    """A note where the names only one species knows clearly say another species than the one
    the caller gave (`given`), which is still obeyed; None where they do not."""
    only, other = _outvoted(human, mouse, given)
    if other is None:
        return None
    return (
        f"taxon={given} is given, but the names read as {other} genes ({only[other]} are {other}"
        f" genes and not {given} ones, {only[given]} the reverse); they are read as {given}"
        f" genes as asked: check taxon="
    )
