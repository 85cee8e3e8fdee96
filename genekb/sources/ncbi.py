"""The `ncbi` source: NCBI Gene's bulk files `gene_info`, `gene2go` and `gene_orthologs`, turned
into gene tables and ortholog pairs.

The files are streamed and filtered by taxon by `genekb.sources.ncbi_files` (an 8 GB
`gene_info.gz` of all organisms never sits in memory); this module reads their fields. In NCBI's
files "-" means an empty field.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyarrow as pa

from genekb.ensembl import stable_ensembl
from genekb.errors import GenekbError
from genekb.genemap import spreadsheet_dates
from genekb.records import GENE_SCHEMA, ORTHOLOG_SCHEMA, GeneTable, Snapshot
from genekb.sources.ncbi_files import FileDigest, NcbiRows

SOURCE_NAME = "ncbi"
EMPTY = "-"

GENE_INFO_COLUMNS = (
    "tax_id", "GeneID", "Symbol", "LocusTag", "Synonyms", "dbXrefs", "chromosome",
    "map_location", "description", "type_of_gene", "Symbol_from_nomenclature_authority",
    "Full_name_from_nomenclature_authority", "Nomenclature_status", "Other_designations",
    "Modification_date", "Feature_type",
)  # fmt: skip
GENE2GO_COLUMNS = (
    "tax_id", "GeneID", "GO_ID", "Evidence", "Qualifier", "GO_term", "PubMed", "Category",
)  # fmt: skip
GENE_ORTHOLOGS_COLUMNS = ("tax_id", "GeneID", "relationship", "Other_tax_id", "Other_GeneID")

# The columns each reader needs; older gene_info files lack Feature_type and are still readable.
_GENE_INFO_NEEDED = (
    "tax_id", "GeneID", "Symbol", "Synonyms", "dbXrefs", "map_location", "description",
    "type_of_gene", "Modification_date",
)  # fmt: skip
_GENE2GO_NEEDED = ("tax_id", "GeneID", "GO_ID", "Qualifier", "GO_term", "Category")
_GO_CATEGORY = {"Process": "go_bp", "Function": "go_mf", "Component": "go_cc"}
_ENSEMBL_PREFIX = "Ensembl:"


def _value(raw: str) -> str | None:
    raw = raw.strip()
    return None if raw in ("", EMPTY) else raw


def _split(raw: str) -> list[str]:
    value = _value(raw)
    return [part.strip() for part in value.split("|") if part.strip()] if value else []


def _gene_id(raw: str, rows: NcbiRows, number: int) -> int:
    try:
        return int(raw)
    except ValueError:
        raise GenekbError(
            f"{rows.path} line {number}: GeneID {raw!r} is not a number; "
            f"is this an NCBI {rows.role} file?"
        ) from None


def _iso_date(yyyymmdd: str | None) -> str | None:
    if yyyymmdd is None:
        return None
    try:
        return datetime.strptime(yyyymmdd, "%Y%m%d").date().isoformat()
    except ValueError:
        return None


# The date of a table without a Modification_date. The file's mtime was taken: a copy of the
# same bytes (cp, a download, a checkout) then made another text version, with another id.
UNDATED = "undated"


@dataclass
class _GeneInfoRead:
    rows: dict[int, dict[str, object]]  # GeneID -> row in GENE_SCHEMA, in GeneID order
    newest_modification: str | None
    digest: FileDigest


def _read_gene_info_rows(path: Path, taxon: int) -> _GeneInfoRead:
    rows_in = NcbiRows(path, "gene_info", GENE_INFO_COLUMNS, _GENE_INFO_NEEDED, (taxon,))
    genes: dict[int, dict[str, object]] = {}
    newest: str | None = None
    for number, fields in rows_in:
        col = rows_in.index
        gene_id = _gene_id(fields[col["GeneID"]], rows_in, number)
        if gene_id in genes:
            raise GenekbError(
                f"{path} line {number}: GeneID {gene_id} appears twice; the file is corrupt"
            )
        symbol = _value(fields[col["Symbol"]])
        if symbol is None:
            raise GenekbError(f"{path} line {number}: GeneID {gene_id} has no Symbol")
        if spreadsheet_dates([symbol]):  # no NCBI symbol is one: the file went through Excel
            raise GenekbError(
                f"{path} line {number}: GeneID {gene_id} has the Symbol {symbol!r}, a date as a"
                " spreadsheet writes SEPT1 or MARCH1; the file was saved from a spreadsheet:"
                " download it again from ftp.ncbi.nlm.nih.gov/gene/DATA and give it as it comes"
            )
        name = _value(fields[col["description"]])
        if name is None and "Full_name_from_nomenclature_authority" in col:
            name = _value(fields[col["Full_name_from_nomenclature_authority"]])
        ensembl = sorted(
            {
                stable_ensembl(xref.removeprefix(_ENSEMBL_PREFIX))
                for xref in _split(fields[col["dbXrefs"]])
                if xref.startswith(_ENSEMBL_PREFIX)
            }
        )
        # YYYYMMDD strings order like dates; parsing only the newest keeps the loop cheap.
        modified = fields[col["Modification_date"]].strip()
        if len(modified) == 8 and modified.isdigit() and (newest is None or modified > newest):
            newest = modified
        genes[gene_id] = {
            "gene_id": gene_id,
            "taxon": taxon,
            "symbol": symbol,
            "name": name,
            "gene_type": _value(fields[col["type_of_gene"]]),
            "map_location": _value(fields[col["map_location"]]),
            "aliases": sorted(set(_split(fields[col["Synonyms"]])) - {symbol}),
            "ensembl": ensembl,
            "summary": None,  # gene_info carries no RefSeq summaries (the entrez source adds them)
            "go_bp": [],
            "go_mf": [],
            "go_cc": [],
        }
    return _GeneInfoRead({g: genes[g] for g in sorted(genes)}, _iso_date(newest), rows_in.digest)


def read_gene2go(path: Path, *, taxon: int) -> tuple[dict[int, dict[str, list[str]]], FileDigest]:
    """GeneID -> {"go_bp"/"go_mf"/"go_cc": sorted unique GO term names} for `taxon`.

    Annotations whose Qualifier starts with "NOT" (the gene is shown *not* to have the function)
    are left out: a gene's text must not claim them.
    """
    rows_in = NcbiRows(path, "gene2go", GENE2GO_COLUMNS, _GENE2GO_NEEDED, (taxon,))
    terms: dict[int, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for number, fields in rows_in:
        col = rows_in.index
        qualifier = (_value(fields[col["Qualifier"]]) or "").upper()
        if qualifier.startswith("NOT"):
            continue
        category = fields[col["Category"]].strip()
        if category not in _GO_CATEGORY:
            raise GenekbError(
                f"{path} line {number}: Category {category!r} is not Process, Function or "
                "Component; is this an NCBI gene2go file?"
            )
        term = _value(fields[col["GO_term"]])
        if term:
            gene_id = _gene_id(fields[col["GeneID"]], rows_in, number)
            terms[gene_id][_GO_CATEGORY[category]].add(term)
    grouped = {
        gene_id: {column: sorted(names) for column, names in by_column.items()}
        for gene_id, by_column in terms.items()
    }
    return grouped, rows_in.digest


def _refuse_unrelated_go(
    path: Path, terms: Mapping[int, object], digest: FileDigest, read: _GeneInfoRead, taxon: int
) -> None:
    """A gene2go that annotates none of the genes (another organism's file, or one of another
    release) built every card without GO terms, with no word of it."""
    if any(gene_id in terms for gene_id in read.rows):
        return
    raise GenekbError(
        f"{path} annotates none of the {len(read.rows):,} genes of taxon {taxon} in"
        f" {read.digest.file} ({digest.rows_read:,} rows read, {digest.rows_kept:,} of taxon"
        f" {taxon}); give the gene2go of that organism (ftp.ncbi.nlm.nih.gov/gene/DATA), or"
        " leave gene2go out"
    )


def read_gene_info(path: Path, *, taxon: int, gene2go: Path | None = None) -> GeneTable:
    """The genes of `taxon` in an NCBI `gene_info(.gz)`, with GO term names from `gene2go(.gz)`
    when given. Snapshot source "ncbi"; its date is the newest Modification_date among the
    taxon's rows ("undated" when there are none: the same bytes give the same snapshot)."""
    path = Path(path)
    read = _read_gene_info_rows(path, taxon)
    if not read.rows:
        raise GenekbError(
            f"{path} has no genes of taxon {taxon} ({read.digest.rows_read:,} rows read); "
            "check the taxon or download the file for that organism"
        )
    digests = [read.digest]
    go_genes_without_record = 0
    if gene2go is not None:
        go_terms, go_digest = read_gene2go(Path(gene2go), taxon=taxon)
        _refuse_unrelated_go(gene2go, go_terms, go_digest, read, taxon)
        digests.append(go_digest)
        for gene_id, row in read.rows.items():
            row.update(go_terms.pop(gene_id, {}))
        go_genes_without_record = len(go_terms)  # GeneIDs gene2go cites but gene_info lacks

    snapshot_date = read.newest_modification or UNDATED
    files = ", ".join(d.file for d in digests)
    details: dict[str, object] = {
        "files": [d.to_dict() for d in digests],
        "date_from": "Modification_date" if read.newest_modification else "none",
        "n_genes": len(read.rows),
    }
    if gene2go is not None:
        details["gene2go_genes_without_gene_info"] = go_genes_without_record
    snapshot = Snapshot(
        source=SOURCE_NAME,
        taxon=taxon,
        date=snapshot_date,
        description=f"NCBI Gene bulk files {files} (taxon {taxon}, as of {snapshot_date})",
        details=details,
    )
    return GeneTable(pa.Table.from_pylist(list(read.rows.values()), schema=GENE_SCHEMA), snapshot)


def read_ncbi(gene_info: Path, gene2go: Path | None = None, *, taxon: int) -> GeneTable:
    """`read_gene_info` joined with `gene2go` when given: the `ncbi` source's loader."""
    return read_gene_info(gene_info, taxon=taxon, gene2go=gene2go)


def read_gene_orthologs(
    path: Path,
    *,
    taxon_a: int = 9606,
    taxon_b: int = 10090,
    symbols_a: Mapping[int, str] | None = None,
    symbols_b: Mapping[int, str] | None = None,
) -> pa.Table:
    """Ortholog pairs between two taxa from NCBI `gene_orthologs(.gz)`, in ORTHOLOG_SCHEMA.

    `taxon_a` fills the `human_*` columns and `taxon_b` the `mouse_*` ones. A pair may be listed
    from either side; each pair appears once, sorted by (a, b). Symbols come from `symbols_a` /
    `symbols_b` (GeneID -> symbol, e.g. from a gene table) and are null when not given.
    """
    if taxon_a == taxon_b:
        raise GenekbError(f"taxon_a and taxon_b are both {taxon_a}; orthologs need two taxa")
    columns = GENE_ORTHOLOGS_COLUMNS
    rows_in = NcbiRows(Path(path), "gene_orthologs", columns, columns, (taxon_a, taxon_b))
    pairs: set[tuple[int, int]] = set()
    for number, fields in rows_in:
        col = rows_in.index
        tax, other_tax = fields[col["tax_id"]].strip(), fields[col["Other_tax_id"]].strip()
        if {tax, other_tax} != {str(taxon_a), str(taxon_b)}:
            continue
        if fields[col["relationship"]].strip() != "Ortholog":
            continue
        gene = _gene_id(fields[col["GeneID"]], rows_in, number)
        other = _gene_id(fields[col["Other_GeneID"]], rows_in, number)
        pairs.add((gene, other) if tax == str(taxon_a) else (other, gene))
    ordered = sorted(pairs)
    symbols_a, symbols_b = symbols_a or {}, symbols_b or {}
    return pa.Table.from_pydict(
        {
            "human_gene_id": [a for a, _ in ordered],
            "human_symbol": [symbols_a.get(a) for a, _ in ordered],
            "mouse_gene_id": [b for _, b in ordered],
            "mouse_symbol": [symbols_b.get(b) for _, b in ordered],
        },
        schema=ORTHOLOG_SCHEMA,
    )


class NcbiSource:
    """NCBI's bulk gene_info(.gz) [+ gene2go(.gz)] for one taxon as a gene source."""

    name = SOURCE_NAME

    def __init__(self, gene_info: Path, gene2go: Path | None = None, *, taxon: int) -> None:
        self.gene_info = Path(gene_info)
        self.gene2go = Path(gene2go) if gene2go is not None else None
        self.taxon = taxon

    def load(self) -> GeneTable:
        return read_ncbi(self.gene_info, self.gene2go, taxon=self.taxon)


def one_to_one(pairs: pa.Table) -> pa.Table:
    """The pairs (ORTHOLOG_SCHEMA) whose human gene has exactly one mouse ortholog and whose mouse
    gene has exactly one human ortholog."""
    human = pairs.column("human_gene_id").to_pylist()
    mouse = pairs.column("mouse_gene_id").to_pylist()
    human_counts, mouse_counts = Counter(human), Counter(mouse)
    keep = [human_counts[h] == 1 == mouse_counts[m] for h, m in zip(human, mouse, strict=True)]
    return pairs.filter(pa.array(keep, type=pa.bool_()))


__all__ = [
    "GENE2GO_COLUMNS",
    "GENE_INFO_COLUMNS",
    "GENE_ORTHOLOGS_COLUMNS",
    "NcbiSource",
    "one_to_one",
    "read_gene2go",
    "read_gene_info",
    "read_gene_orthologs",
    "read_ncbi",
]
