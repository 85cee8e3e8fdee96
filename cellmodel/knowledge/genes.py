"""Map the genes of a cell matrix to the genes of a store, and report how well that went.

Same-species names resolve through `genekb.genemap.GeneIndex` (symbol, unique alias, Ensembl with or
without version, Entrez). Mouse data against a human store (or the reverse) goes through the bundled
human–mouse ortholog table: names resolve to GeneIDs of their own species first (the bundled mouse
table when installed, else the ortholog table's own symbols), then cross over (route "ortholog";
`orthologs`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from genekb.ensembl import parse_ensembl
from genekb.errors import GenekbError, GenekbWarning, UsageError, warn
from genekb.genemap import UNMATCHED, GeneIndex, spreadsheet_date_note, spreadsheet_dates
from genekb.records import TAXA

# The module, not its names: tests swap bundled's tables (monkeypatch) and must reach here.
from genekb.sources import bundled

from .match_report import GeneMatch, MatchReport
from .name_forms import (
    MIXED_FIX,
    OTHER_SPECIES_FIX,
    VERSION_SUFFIX_FIX,
    genome_prefix_fix,
    genome_prefix_note,
    given_against_names,
    ids_against_taxon,
    made_unique_sources,
    mixed_ensembl_note,
    other_species_note,
    restore_hyphens,
    species_by_nomenclature,
    version_suffix_note,
    zebrafish_hint,
)
from .orthologs import bundled_index, ortholog_ids

LOW_MATCH_RATE = 0.5
# Names count as genes of a species only when this share of them resolve in its snapshot; below
# it a matrix is treated as unnamed (feature ids, g0..gN, another species' genes).
NAMED_MIN_RATE = 0.1
# Numeric names are Entrez GeneIDs only when this share of them are GeneIDs of one snapshot...
ENTREZ_MIN_RATE = 0.5
# ...and some reach the range row numbers never do: 31% of human and 49% of mouse protein-coding
# GeneIDs are >= 100,000, while human GeneIDs fill about 80% of 1..10,000, so a rate alone cannot
# tell a gene list from the row numbers of a matrix.
ENTREZ_HIGH_ID = 100_000
ENTREZ_MIN_HIGH_SHARE = 0.05
UNMATCHED_SHOWN = 50
GENE_KEY_FIX = "pass gene_key=COLUMN if a var column holds gene symbols"
ORTHOLOG_ROUTE = "ortholog"
MADE_UNIQUE_ROUTE = "made-unique"

_ENSEMBL_SPECIES = {"ENSG": "human", "ENSMUSG": "mouse"}


class LowMatchWarning(GenekbWarning):
    """Fewer than half of the data's genes matched the store (said on the command line too)."""


class NumericGeneIdWarning(GenekbWarning):
    """Numeric gene names were read as Entrez GeneIDs."""


class SpreadsheetDateWarning(GenekbWarning):
    """Some unmatched gene names are dates a spreadsheet made of symbols (MARCH1 -> "1-Mar")."""


class GeneNameFormWarning(GenekbWarning):
    """Gene names were read other than as they look (upper-case names as mouse genes)."""


class NoGeneNamesWarning(GenekbWarning):
    """The matrix's gene names could not be read as genes: the run uses the expression alone."""


NEEDS_NAMES = "explain, annotate and the semantic view need gene names"


# What a user may type for a species besides its name here: the binomial (case and spacing aside).
SPECIES_NAMES = {"homo sapiens": "human", "mus musculus": "mouse"}


def taxon_name(taxon: int | str) -> str:
    """ "human"/"mouse" for a name (any case: "Human"; or the binomial, "Mus musculus") or an
    NCBI taxonomy id."""
    if isinstance(taxon, str):
        key = " ".join(taxon.replace("_", " ").split()).casefold()  # Ensembl's "homo_sapiens"
        key = SPECIES_NAMES.get(key, key)
        if key in TAXA:
            return key
    by_id = {v: k for k, v in TAXA.items()}
    try:
        return by_id[int(taxon)]
    except (KeyError, ValueError):
        raise UsageError(f"unknown taxon {taxon!r}; choose one of {', '.join(TAXA)}") from None


def detect_taxon(names: Sequence[str]) -> str:
    """Guess "human" or "mouse" from gene names: ENSG vs ENSMUSG, "CD3E" vs "Cd3e" symbols.

    Symbols vote by case: all letters upper case votes human; an upper-case first letter followed by
    lower-case letters votes mouse (as do RIKEN names like "0610007P14Rik"). The majority wins.
    """
    human = mouse = 0
    for raw in names:
        name = str(raw).strip()
        ensembl = parse_ensembl(name)  # versioned and _PAR_Y ids too
        species = _ENSEMBL_SPECIES.get(ensembl.prefix) if ensembl else None
        if species == "human":
            human += 1
        elif species == "mouse":
            mouse += 1
        elif name.isdigit() or not any(c.isalpha() for c in name):
            continue  # Entrez ids and numbers say nothing about species
        elif name.upper() == name:
            human += 1
        elif any(c.islower() for c in name) and not name[:1].islower():
            mouse += 1
    if human == mouse:
        raise UsageError(
            "cannot tell the species from the gene names; pass taxon=human or taxon=mouse"
        )
    return "human" if human > mouse else "mouse"


@dataclass(frozen=True)
class GeneNames:
    """How a matrix's gene names read: the species they name (None: unnamed) and why."""

    taxon: str | None
    note: str  # how the names were read, or why they could not be; "" when plain
    fix: str | None = None  # the way out where the usual one (gene_key=, taxon=) is none

    @property
    def named(self) -> bool:
        return self.taxon is not None

    def warn(self) -> None:
        """Warn with the note of names read as genes, if any (the run goes on with them)."""
        if self.named and self.note:
            numeric = self.note.startswith("numeric")  # `_read_numbers`' note
            category = NumericGeneIdWarning if numeric else GeneNameFormWarning
            warn(self.note, category)


def gene_share(names: Sequence[str]) -> float:
    """The share of `names` that resolve as genes of the species they vote for (`detect_taxon`);
    0 when no species can be told (numbers, unnamed features)."""
    names = [str(n).strip() for n in names]
    try:
        taxon = detect_taxon(names)
    except UsageError:
        return 0.0
    return _resolved_share(names, taxon)


def _resolved_share(names: Sequence[str], taxon: str) -> float:
    if taxon not in bundled.available_taxa():
        return 1.0  # nothing to check against: trust the species the names vote for
    resolved = _resolves(names, taxon)
    return float(resolved.mean()) if len(resolved) else 0.0


def _resolves(names: Sequence[str], taxon: str) -> np.ndarray:
    return bundled_index(taxon).resolve(list(names))["gene_id"].to_numpy() != UNMATCHED


def _in_both(names: Sequence[str]) -> tuple[np.ndarray, np.ndarray] | None:
    """Whether each name resolves in the human and in the mouse snapshot (the nomenclature
    votes of `name_forms`); None unless both are installed."""
    if not {"human", "mouse"} <= set(bundled.available_taxa()):
        return None
    return _resolves(names, "human"), _resolves(names, "mouse")


def _read_numbers(names: Sequence[str], taxon: str | None) -> GeneNames:
    """Numeric names: Entrez GeneIDs of one snapshot, or row numbers (unnamed)."""
    values = np.array([int(n) for n in names if str(n).strip().isdigit()], dtype=np.int64)
    unique = np.unique(values)
    if unique.size == values.size and unique[-1] - unique[0] + 1 == unique.size:
        said = f"the gene names are the numbers {unique[0]}..{unique[-1]}"
        return GeneNames(None, said, GENE_KEY_FIX)
    high = float((values >= ENTREZ_HIGH_ID).mean())
    rates = {
        t: float(np.isin(values, list(bundled_index(t).gene_ids)).mean())
        for t in ([taxon] if taxon else bundled.available_taxa())
    }
    best = max(rates, key=rates.__getitem__)
    if rates[best] >= ENTREZ_MIN_RATE and high >= ENTREZ_MIN_HIGH_SHARE:
        note = f"numeric gene names read as {best} Entrez GeneIDs ({rates[best]:.0%} are)"
        return GeneNames(best, note)
    return GeneNames(
        None,
        f"the gene names are numbers that do not read as Entrez GeneIDs ({rates[best]:.0%} are"
        f" {best} GeneIDs, {high:.0%} at or above {ENTREZ_HIGH_ID:,})",
        GENE_KEY_FIX,  # a species given reads numbers no other way: taxon= is no way out
    )


def _read_by_symbols(names: Sequence[str]) -> GeneNames:
    """Names whose case says nothing (all lower case: 'acss1', 'gad1'): the species whose
    bundled snapshot knows more of them as symbols (not aliases), where it knows enough."""
    counts = {}
    for taxon in bundled.available_taxa():
        routes = bundled_index(taxon).resolve(list(names))["route"]
        counts[taxon] = int((routes == "symbol").sum())
    ranked = sorted(counts, key=counts.__getitem__, reverse=True)
    best = ranked[0] if ranked else None
    lower = sum(n.islower() for n in names) * 2 >= len(names)
    if (
        best is None
        or (len(ranked) > 1 and counts[best] == counts[ranked[1]])
        or counts[best] < NAMED_MIN_RATE * len(names)
    ):
        if not lower:  # zebrafish (ZFIN) names its genes in lower case; this is no such file
            return GeneNames(None, "the species cannot be told from the gene names")
        return GeneNames(
            None,
            "the species cannot be told from the gene names (lower case, as zebrafish's are?)",
            f"{OTHER_SPECIES_FIX}; or taxon=human|mouse if the names are genes of that species",
        )
    note = ", ".join(f"{counts[t]} {t}" for t in ranked)
    said = f"gene names of no telling case read as {best} symbols ({note}, of {len(names)} names)"
    return GeneNames(best, said + (zebrafish_hint(counts[best] / len(names)) if lower else ""))


def read_gene_names(names: Sequence[str], taxon: int | str | None = None) -> GeneNames:
    """Whether `names` name genes, and of which species.

    Mostly numeric names are Entrez GeneIDs only when enough of them are GeneIDs of one snapshot
    and some lie where row numbers never do (`_read_numbers`); otherwise, and for names whose
    species cannot be told or that resolve under `NAMED_MIN_RATE` in the detected species'
    snapshot, the matrix is unnamed. Symbols vote by case (`detect_taxon`) unless the names only
    one species' snapshot knows clearly say the other species (`species_by_nomenclature`). A
    `taxon` the caller gives is trusted for symbols.
    """
    names = [str(n).strip() for n in names]
    given = taxon_name(taxon) if taxon is not None else None
    prefixed = genome_prefix_note(names)
    if prefixed is not None:  # no taxon makes them match: say what they are
        return GeneNames(None, prefixed, genome_prefix_fix(names))
    suffixed = version_suffix_note(names)
    if suffixed is not None:
        return GeneNames(None, suffixed, VERSION_SUFFIX_FIX)
    foreign = other_species_note(names)
    if foreign is not None:
        return GeneNames(None, foreign, OTHER_SPECIES_FIX)
    if names and sum(n.isdigit() for n in names) * 2 >= len(names):
        return _read_numbers(names, given)
    against = ids_against_taxon(names, given) if given is not None else None
    if against is not None:
        return GeneNames(None, *against)
    if given is not None:  # obeyed, with a word where the names clearly say otherwise
        both = _in_both(names)
        note = given_against_names(*both, given) if both else None
        return GeneNames(given, note or "")
    mixed = mixed_ensembl_note(names)
    if mixed is not None:  # a species given above reads its own ids
        return GeneNames(None, mixed, MIXED_FIX)
    try:
        detected = detect_taxon(names)
    except UsageError:
        return _read_by_symbols(names)
    both = _in_both(names)  # resolved once: the share below and the nomenclature vote read it
    resolved = both[0 if detected == "human" else 1] if both else None
    share = float(resolved.mean()) if resolved is not None else _resolved_share(names, detected)
    if share < NAMED_MIN_RATE:
        return GeneNames(
            None,
            f"only {share:.1%} of the gene names are {detected} genes (feature ids or another"
            " species' names?)",
        )
    # The case voted; the names only one species knows overrule it (upper-case mouse symbols,
    # title-case human ones).
    overruled = species_by_nomenclature(*both, detected) if both else None
    return GeneNames(*overruled) if overruled is not None else GeneNames(detected, "")


def require_gene_names(
    names: Sequence[str],
    taxon: int | str | None,
    what: str,
    fix: str | None = None,
    notes: list[str] | None = None,
) -> str:
    """The species `names` name, for a step that cannot run without gene names; a usage error
    saying why the names do not read as genes, and `fix` (by default: a gene_key= column, or
    taxon= where none is given), otherwise. `notes`: where the warning on how they read (if
    any) is kept too, for a run record."""
    read = read_gene_names(names, taxon)
    if read.taxon is None:
        raise UsageError(f"{what} needs gene names and {read.note}; {fix or way_out(read, taxon)}")
    read.warn()
    if notes is not None and read.note:
        notes.append(read.note)
    return read.taxon


def way_out(read: GeneNames, taxon: int | str | None) -> str:
    """What to give for names that did not read as genes (`read`): their own way out (numbers,
    prefixed or other species' names), else a gene_key= column, or taxon= where none is given."""
    if read.fix is not None:
        return read.fix
    if taxon is not None:  # given, it is no way out: the names did not read as its genes
        return GENE_KEY_FIX
    return f"{GENE_KEY_FIX}, or taxon=human|mouse if the names are genes of that species"


def expression_share(X: Any, matched: np.ndarray) -> float:
    """Share of the total (normalized) expression that falls on matched genes."""
    per_gene = np.asarray(X.sum(axis=0)).ravel().astype(np.float64)
    total = float(per_gene.sum())
    return float(per_gene[matched].sum() / total) if total > 0 else 0.0


def match_genes(
    names: Sequence[str],
    store_genes: pd.DataFrame,
    *,
    store_taxon: int | str,
    data_taxon: int | str | None = None,
    X: Any = None,
    strict: bool = True,
    version: str | None = None,
) -> GeneMatch:
    """Map data gene `names` to the GeneIDs of `store_genes` (GENE_SCHEMA columns).

    `data_taxon`: None detects it from the names. `X` (cells × genes, normalized) adds the share of
    expression covered to the report. A rate under 50% adds a warning (also raised as
    `LowMatchWarning`); no match at all raises `GenekbError` unless `strict` is False, naming
    `version` (the id of a version given as such) where given.
    """
    names = [str(n) for n in names]
    store_name = taxon_name(store_taxon)
    data_name = taxon_name(data_taxon) if data_taxon is not None else detect_taxon(names)
    store_ids = set(store_genes["gene_id"].astype(np.int64).tolist())
    index = GeneIndex.from_frame(store_genes) if data_name == store_name else None

    def lookup(query: list[str]) -> tuple[np.ndarray, list[str | None]]:
        if index is not None:
            resolved = index.resolve(query)
            return resolved["gene_id"].to_numpy(dtype=np.int64), list(resolved["route"])
        found = ortholog_ids(query, data_name, store_name)
        return found, [ORTHOLOG_ROUTE if g != UNMATCHED else None for g in found]

    gene_ids, routes = lookup(names)
    spelled = restore_hyphens(names, gene_ids, routes, lookup)  # "HLA.DRA", as R writes it
    # A GeneID the store does not hold (e.g. an Entrez id of another gene set) is not a match.
    for i, g in enumerate(gene_ids):
        if g != UNMATCHED and int(g) not in store_ids:
            gene_ids[i], routes[i] = UNMATCHED, None
    # "TBCE-1" beside "TBCE": a repeated symbol that var_names_make_unique renamed is that gene.
    for i, j in made_unique_sources(spelled, gene_ids != UNMATCHED).items():
        gene_ids[i], routes[i] = gene_ids[j], MADE_UNIQUE_ROUTE
    matched = gene_ids != UNMATCHED
    unmatched = [n for n, m in zip(names, matched, strict=True) if not m]
    report = MatchReport(
        n_genes=len(names),
        n_matched=int(matched.sum()),
        by_route=dict(Counter(r for r in routes if r is not None)),
        unmatched=unmatched[:UNMATCHED_SHOWN],
        data_taxon=data_name,
        store_taxon=store_name,
        expression_covered=expression_share(X, matched) if X is not None else None,
        n_store_genes=len(set(gene_ids[matched].tolist())),
    )
    if report.n_matched == 0 and strict and version is not None:  # names may be fine
        raise GenekbError(
            f"none of the {len(names)} genes is among the {len(store_ids)} of {version}, the"
            " version given as model=; give one built for these genes, or an encoder"
            " (model='minilm') to build their vectors; else check taxon= and gene_key="
        )
    if report.n_matched == 0 and strict:
        raise GenekbError(
            f"none of the {len(names)} genes matched the {store_name} store (data look"
            f" {data_name}); check taxon= and gene_key= (CELLxGENE keeps symbols in feature_name)"
        )
    if report.match_rate < LOW_MATCH_RATE:
        message = (
            f"only {report.match_rate:.1%} of genes matched the {store_name} store; what the gene"
            " knowledge reads (markers, the semantic view) rests on few genes (check taxon= and"
            " gene_key=)"
        )
        report.warnings.append(message)
        warn(message, LowMatchWarning)
    dates = spreadsheet_date_note(spreadsheet_dates(unmatched))
    if dates:
        report.warnings.append(dates)
        warn(dates, SpreadsheetDateWarning)
    return GeneMatch(names=names, gene_ids=gene_ids, routes=routes, report=report)
