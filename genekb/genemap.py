"""Resolve gene names (symbol, alias, Ensembl id, Entrez id) to NCBI GeneIDs of one gene table."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from genekb.ensembl import parse_ensembl
from genekb.errors import GenekbError

UNMATCHED = -1
# Headers of a column of gene names as `column_key` spells them, the likeliest first: a task
# file's, a vector table's, a gene list's first line.
GENE_COLUMNS = (
    "gene", "symbol", "gene_name", "gene_symbol", "hgnc_symbol", "gene_id", "entrez_id", "entrez",
    "entrez_gene_id", "ensembl_id", "ensembl", "ensembl_gene_id", "name",
)  # fmt: skip
ROUTES = ("symbol", "alias", "ensembl", "entrez")
# Invisible characters a name picks up: a BOM where two files were joined (`cat a.csv b.csv`),
# zero-width spaces from a web page; `str.strip()` keeps them, and no gene name holds one.
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"
_WHOLE_FLOAT = re.compile(r"(?<=\d)\.0+$")
_MISSING = frozenset({"na", "nan", "<na>", "n/a", "#n/a"})  # lower case
# HGNC (and so GENCODE, Cell Ranger, CELLxGENE) names the mitochondrial genes "MT-CO1", "MT-ND1",
# "MT-TL1"; NCBI Gene's symbols drop the prefix ("COX1", "ND1", "TRNL1") and its aliases hold
# "MTCO1" for some genes and "MT-CO2" for a pseudogene only, so neither lookup finds the gene.
_HGNC_MITO = re.compile(r"^MT-(CO|CYB|ND|ATP|RNR|T)([0-9A-Z]*)$")
_NCBI_MITO_STEM = {"CO": "COX", "CYB": "CYTB", "T": "TRN"}
# Spreadsheets (Excel, LibreOffice) read symbols such as MARCH1, SEPT2, DEC1 as dates and write
# them back as "1-Mar", "Mar-01", "2023-03-01", "3/1/2023". Month-first forms need two digits:
# NCBI aliases such as "Oct-4" and "Sep-1" are real names.
_MONTH = (
    r"(jan(uary)?|feb(ruary)?|mar(ch)?|apr(il)?|may|june?|july?|aug(ust)?|sept?(ember)?"
    r"|oct(ober)?|nov(ember)?|dec(ember)?)"
)
_SPREADSHEET_DATE = re.compile(
    rf"^(\d{{1,2}}-{_MONTH}(-\d{{2,4}})?|{_MONTH}-\d{{2}}"
    r"|\d{4}-\d{1,2}-\d{1,2}([ T]00:00:00)?|\d{1,2}/\d{1,2}/\d{2,4}|\d{1,2}\.\d{1,2}\.\d{4})$",
    re.IGNORECASE,
)


# The 37 genes of the mitochondrial genome, by their HGNC names: 13 proteins, 2 rRNAs, 22 tRNAs.
MITOCHONDRIAL_NAMES: tuple[str, ...] = (
    *(f"MT-{g}" for g in ("ATP6", "ATP8", "CO1", "CO2", "CO3", "CYB", "ND1", "ND2", "ND3", "ND4")),
    *(f"MT-{g}" for g in ("ND4L", "ND5", "ND6", "RNR1", "RNR2")),
    *(f"MT-T{a}" for a in ("A", "C", "D", "E", "F", "G", "H", "I", "K", "L1", "L2", "M", "N")),
    *(f"MT-T{a}" for a in ("P", "Q", "R", "S1", "S2", "T", "V", "W", "Y")),
)


def column_key(name: object) -> str:
    """A header as GENE_COLUMNS spells it: case, and spaces, hyphens or dots between words, set
    aside ("Gene Symbol", "gene-symbol", R's "Gene.Symbol" are "gene_symbol"), as spreadsheets
    and R write headers."""
    return re.sub(r"[\s_.-]+", "_", str(name).strip().casefold()).strip("_")


def named_column(
    columns: Sequence[str], wanted: Sequence[str], what: str, where: object
) -> str | None:
    """The column named like one of `wanted` (`column_key`), the earliest in `wanted`; None where
    none is. Two columns of that one name ("Gene Symbol" and "gene_symbol") are refused: which
    holds the `what`s is the user's to say (a task file's, a vector table's)."""
    keys = list(wanted)
    found = [(keys.index(column_key(c)), c) for c in columns if column_key(c) in keys]
    ranked = sorted(found, key=lambda pair: pair[0])  # ties in the file's order
    if not ranked:
        return None
    tied = [c for rank, c in ranked if rank == ranked[0][0]]
    if len(tied) > 1:
        raise GenekbError(
            f"{where}: columns {tied[0][:40]!r} and {tied[1][:40]!r} both name the {what} column;"
            f" rename or drop one, so that it is clear which holds the {what}s"
        )
    return ranked[0][1]


def drop_whole_float(text: str) -> str:
    """`text` without the ".0" of a whole number written as a float ("7157.0" -> "7157")."""
    return _WHOLE_FLOAT.sub("", text)


def lookalike_note(names: Iterable[str]) -> str:
    """A note naming the first character outside ASCII in names that matched nothing, or "".

    A Cyrillic 'С' or Greek 'Ο' pasted from a PDF looks like a Latin letter and a zero-width
    space shows as nothing, so without it a message says a gene that looks present is missing.
    """
    for name in names:
        for char in str(name):
            if not char.isascii():
                what = unicodedata.name(char, "an unnamed character")
                return f" ({name!r} holds U+{ord(char):04X} {what}, no ASCII letter: retype it)"
    return ""


def spreadsheet_dates(names: Iterable[str]) -> list[str]:
    """The names that are dates, as a spreadsheet writes gene symbols it took for dates."""
    return [str(n) for n in names if _SPREADSHEET_DATE.match(str(n).strip())]


def spreadsheet_date_note(dates: Sequence[str], count: int | None = None) -> str:
    """A note on names a spreadsheet turned into dates (`count` of them, `dates` their first
    ones; all of them when `count` is None), or "".

    They are reported, never mapped back: "1-Mar" was MARCH1 (now MARCHF1) or MARC1 (MTARC1).
    """
    if not dates:
        return ""
    count = len(dates) if count is None else count
    shown = ", ".join(repr(d) for d in dates[:3])
    return (
        f"{count} gene name{'s are dates' if count > 1 else ' is a date'} ({shown}), left"
        " unmatched: a spreadsheet took symbols such as MARCH1, SEPT2, DEC1 for dates ('1-Mar'"
        " was MARCH1 or MARC1); re-export the table with the gene column as text, or name the"
        " genes by Ensembl or Entrez ids"
    )


def same_numbers_alike(labels: pd.Series) -> pd.Series:
    """Text labels that are all numbers, with "1.0" written "1": a column pandas saved as floats
    (it held a NaN) beside one saved as integers made "1" and "1.0" two classes. Missing values
    (`is_missing`) do not count."""
    numbers = labels[~labels.map(is_missing)]
    if numbers.empty or pd.to_numeric(numbers, errors="coerce").isna().any():
        return labels
    return labels.map(drop_whole_float)


def is_missing(value: object) -> bool:
    """Whether a table's cell is empty or what R (NA), pandas (NaN, <NA>) or a spreadsheet
    (#N/A) writes for a missing value: "NA" is an NCBI alias of XK and "NaN" one of SCN11A,
    so such a cell read as a gene name takes a gene nobody named."""
    if value is None:  # None in a list of names (str(None) is "None") is no name either
        return True
    text = str(value).strip().lower()
    return not text or text in _MISSING


def shared_name_note(names: Sequence[str], count: int | None = None) -> str:
    """A note on unmatched names several genes share (`count` of them, `names` their first
    ones), or "": such a name is taken for none of its genes, never guessed."""
    if not names:
        return ""
    count = len(names) if count is None else count
    # an Ensembl id NCBI gives to several genes: "give them by Ensembl id" sent the user round
    ids = (
        "symbol or Entrez id"
        if all(parse_ensembl(n.upper()) for n in names)
        else ("symbol, Ensembl or Entrez id")
    )
    return (
        f"{count} unmatched name{'s name' if count > 1 else ' names'} several genes each"
        f" ({', '.join(names[:3])}), so none was taken: give those genes by {ids}"
    )


def _bare(name: object) -> str:
    """`name` without the white space and invisible characters round it."""
    return str(name).strip().strip(_INVISIBLE).strip()


def name_key(name: object) -> str:
    """A gene name as two files that name one gene alike agree on it: without the white space
    round it and, for an Ensembl id, its stable id (`genekb.ensembl`: "ENSG00000141510.16 " ->
    "ENSG00000141510"; a GENCODE "_PAR_Y" copy is its X copy's gene)."""
    bare = _bare(name)
    ensembl = parse_ensembl(bare.upper())
    return ensembl.stable if ensembl else bare


def _unique_map(
    pairs: Iterable[tuple[str, int]], ambiguous: dict[str, set[int]] | None = None
) -> dict[str, int]:
    """Map keys seen with exactly one gene id; ambiguous keys are dropped, never guessed (and
    recorded in `ambiguous`, key -> every gene id it names, when given)."""
    seen: dict[str, int] = {}
    named: dict[str, set[int]] = {} if ambiguous is None else ambiguous
    for key, gid in pairs:
        if key in named:
            named[key].add(gid)
        elif key in seen and seen[key] != gid:
            named[key] = {seen.pop(key), gid}
        else:
            seen[key] = gid
    return seen


class GeneIndex:
    """Lookup tables built once from a gene table (columns gene_id, symbol, aliases, ensembl)."""

    def __init__(
        self,
        gene_ids: Sequence[int],
        symbols: Sequence[str],
        aliases: Sequence[Sequence[str] | None],
        ensembl: Sequence[Sequence[str] | None],
    ) -> None:
        ids = [int(g) for g in gene_ids]
        self.gene_ids = set(ids)
        self.symbol = _unique_map(zip(symbols, ids, strict=True))
        shared: list[dict[str, set[int]]] = [{}, {}, {}]  # names of several genes, by route
        self.symbol_ci = _unique_map(
            ((s.upper(), g) for s, g in zip(symbols, ids, strict=True)), shared[0]
        )
        symbol_keys = set(self.symbol_ci)
        # An alias that is another gene's official symbol would hijack that gene: skip it.
        self.alias = _unique_map(
            (
                (a.upper(), g)
                for al, g in zip(aliases, ids, strict=True)
                for a in (al if al is not None else [])
                if a.upper() not in symbol_keys
            ),
            shared[1],
        )
        self.ensembl = _unique_map(
            (
                (e, g)
                for el, g in zip(ensembl, ids, strict=True)
                for e in (el if el is not None else [])
            ),
            shared[2],
        )
        # Upper-cased name -> the gene ids it names, where it names several (an alias two genes
        # share): what a refusal lists, since such a name resolves to none of them.
        self.ambiguous: dict[str, set[int]] = {}
        for named in shared:
            for key, found in named.items():
                self.ambiguous.setdefault(key, set()).update(found)

    @classmethod
    def from_frame(cls, genes: pd.DataFrame) -> GeneIndex:
        return cls(genes["gene_id"], genes["symbol"], genes["aliases"], genes["ensembl"])

    def resolve_one(self, name: str) -> tuple[int, str | None]:
        name = _bare(name)
        if name in self.symbol:
            return self.symbol[name], "symbol"
        upper = name.upper()
        if upper in self.symbol_ci:
            return self.symbol_ci[upper], "symbol"
        ensembl = parse_ensembl(upper)
        if ensembl:
            gid = self.ensembl.get(ensembl.stable)
            return (gid, "ensembl") if gid is not None else (UNMATCHED, None)
        # "7157.0": an Entrez id column that pandas wrote as floats (it held a missing value).
        number = drop_whole_float(name)
        if number.isdecimal() and int(number) in self.gene_ids:  # isdigit takes "²"
            return int(number), "entrez"
        mito = self._mitochondrial(upper)
        if mito is not None:
            return mito, "symbol"
        if upper in self.alias:
            return self.alias[upper], "alias"
        return UNMATCHED, None

    def candidates(self, name: str) -> list[int]:
        """The gene ids a name that matched no one gene names (an alias two genes share), or []."""
        upper = _bare(name).upper()
        ensembl = parse_ensembl(upper)
        return sorted(self.ambiguous.get(ensembl.stable if ensembl else upper, ()))

    def shared_names(self, names: Iterable[str]) -> list[str]:
        """The names that matched no gene because several genes share them (SEPT2)."""
        return [str(n) for n in names if self.candidates(n)]

    def _mitochondrial(self, upper: str) -> int | None:
        """The GeneID of an HGNC mitochondrial name ("MT-CO1") under NCBI's symbol ("COX1") or,
        where that is not one gene's, its dashless alias ("MTRNR1"); None for other names."""
        found = _HGNC_MITO.match(upper)
        if found is None:
            return None
        stem, rest = found.groups()
        ncbi = _NCBI_MITO_STEM.get(stem, stem) + rest
        if ncbi in self.symbol_ci:
            return self.symbol_ci[ncbi]
        return self.alias.get("MT" + upper[3:])

    def resolve(self, names: Sequence[str]) -> pd.DataFrame:
        """One row per query: `query`, `gene_id` (int64, -1 when unmatched), `route` (or None)."""
        resolved = [self.resolve_one(n) for n in names]
        return pd.DataFrame(
            {
                "query": list(names),
                "gene_id": np.array([g for g, _ in resolved], dtype=np.int64),
                "route": [r for _, r in resolved],
            }
        )


_CAPITALISED = re.compile(r"^[A-Z][a-z][A-Za-z0-9-]*$")  # "Cd3e", "Rpl3": how mouse writes symbols


def case_style_examples(names: Sequence[str], symbols: Iterable[str]) -> list[str]:
    """Task names written as mouse symbols ("Cd3e") where the version's symbols are upper case
    (a human version), most of them: they match case-blind, so a mouse task is silently read as
    the human genes of the same name. Empty when the styles agree."""
    written = [n for n in (str(n).strip() for n in names) if _CAPITALISED.match(n)]
    upper = sum(1 for s in symbols if s and s == s.upper())
    if len(written) * 2 <= len(names) or upper * 2 <= len(set(symbols)):
        return []
    return written


_UPPER = re.compile(r"^[A-Z][A-Z0-9-]*[A-Z][A-Z0-9-]*$")  # "CD3E", "RPL3": how human writes them


def other_style_examples(names: Sequence[str], symbols: Iterable[str]) -> list[str]:
    """Names written in the other species' style than the version's symbols, most of them:
    mouse symbols ("Cd3e") against upper-case (human) symbols, or upper-case names ("CD3E")
    against capitalised (mouse) symbols. Both match case-blind, so vectors of one species were
    read as the other's genes without a word. Empty when the styles agree."""
    symbols = [s for s in symbols if s]
    if sum(1 for s in symbols if _CAPITALISED.match(s)) * 2 <= len(set(symbols)):
        return case_style_examples(names, symbols)
    written = [n for n in (str(n).strip() for n in names) if _UPPER.match(n)]
    return written if len(written) * 2 > len(names) else []
