"""The `orgdb` source: a Bioconductor `org.*.eg.db` SQLite plus GO.db's `GO.sqlite`, read without R.

An org.*.eg.db package keeps its data in one SQLite file (`extdata/org.Hs.eg.sqlite` and the like)
with the AnnotationDbi schema: `genes` (internal `_id` -> Entrez GeneID), one table per annotation
keyed by `_id`, and a `metadata` table of name/value pairs saying which upstream snapshot it was
built from. GO annotations are GO ids only; their names come from GO.db's `go_term` table.
"""

from __future__ import annotations

import re
import sqlite3
from collections import defaultdict
from collections.abc import Iterable
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from genekb.ensembl import stable_ensembl
from genekb.errors import GenekbError
from genekb.fileio import sha256_file
from genekb.records import GENE_SCHEMA, GeneTable, Snapshot
from genekb.sniff import binary_kind

SOURCE_NAME = "orgdb"
ONTOLOGIES = ("bp", "mf", "cc")
_REQUIRED_ORG_TABLES = ("metadata", "genes", "gene_info")
_ORGANISM_TAXA = {"Homo sapiens": 9606, "Mus musculus": 10090}
# Dates in AnnotationDbi metadata come in several spellings, e.g. "2022-Sep12", "2022-07-01",
# "Fri Sep 23 16:26:35 2022".
_DATE_FORMATS = ("%Y-%m-%d", "%Y-%b%d", "%Y-%b-%d", "%d-%b-%Y", "%Y%m%d", "%a %b %d %H:%M:%S %Y")


def read_orgdb(org_sqlite: Path, go_sqlite: Path, *, taxon: int | None = None) -> GeneTable:
    """Read an org.*.eg.db SQLite and GO.db's GO.sqlite into a GeneTable (source "orgdb").

    `taxon` defaults to the db's own TAXID; if given, it must agree with it.
    """
    org_sqlite, go_sqlite = Path(org_sqlite), Path(go_sqlite)
    with closing(_open(org_sqlite, "org.*.eg.db")) as org, closing(_open(go_sqlite, "GO.db")) as go:
        org_tables = _require_tables(org, org_sqlite, _REQUIRED_ORG_TABLES, "an org.*.eg.db")
        _require_tables(go, go_sqlite, ("go_term",), "a GO.db")
        org_meta = _metadata(org)
        go_meta = _metadata(go) if _has_table(go, "metadata") else {}
        taxon = _resolve_taxon(org_meta, taxon, org_sqlite)
        go_names = _go_names(go)
        table, unresolved_go = _gene_table(org, org_tables, go_names, taxon, org_sqlite)

    package, version = _package_identity(org_sqlite)
    gene_date = _snapshot_date(org_meta, org_sqlite)
    go_date = _parse_date(go_meta.get("GOSOURCEDATE") or org_meta.get("GOSOURCEDATE") or "")
    snapshot = Snapshot(
        source=SOURCE_NAME,
        taxon=taxon,
        date=gene_date,
        description=(
            f"{package} {version or '(version unknown)'} ({org_meta.get('ORGANISM', 'unknown')}, "
            f"NCBI Gene {gene_date}) with GO term names from GO.db (GO {go_date or 'date unknown'})"
        ),
        details={
            "package": package,
            "package_version": version,
            "gene_source_date": gene_date,
            "go_source_date": go_date,
            "org_sqlite": {"file": org_sqlite.name, "sha256": sha256_file(org_sqlite)},
            "go_sqlite": {"file": go_sqlite.name, "sha256": sha256_file(go_sqlite)},
            "org_metadata": org_meta,
            "go_metadata": go_meta,
            "n_genes": table.num_rows,
            # GO ids the org db cites that GO.sqlite cannot name (dropped from go_* lists).
            "unresolved_go_ids": unresolved_go,
        },
    )
    return GeneTable(table, snapshot)


class OrgDbSource:
    """A user's org.*.eg.db SQLite plus GO.sqlite as a gene source."""

    name = SOURCE_NAME

    def __init__(self, org_sqlite: Path, go_sqlite: Path, *, taxon: int | None = None) -> None:
        self.org_sqlite = Path(org_sqlite)
        self.go_sqlite = Path(go_sqlite)
        self.taxon = taxon

    def load(self) -> GeneTable:
        return read_orgdb(self.org_sqlite, self.go_sqlite, taxon=self.taxon)


def _open(path: Path, what: str) -> sqlite3.Connection:
    if not path.is_file():
        raise GenekbError(f"{what} SQLite file not found: {path}; check the path")
    # Read-only so a wrong path can never create or modify a database.
    connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        connection.execute("SELECT name FROM sqlite_master LIMIT 1").fetchall()
    except sqlite3.DatabaseError as exc:
        connection.close()
        with path.open("rb") as fh:  # a package's .tar.gz, a gzipped db: say what it is
            packed = binary_kind(fh.read(64))
        if packed:
            raise GenekbError(
                f"{path} is {packed[0]}, not a SQLite database; {packed[1]}: {what} is the"
                " .sqlite file in the package's extdata/ folder"
            ) from None
        raise GenekbError(f"{path} is not a SQLite database ({exc}); expected {what}") from exc
    return connection


def _has_table(connection: sqlite3.Connection, name: str) -> bool:
    query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
    return connection.execute(query, (name,)).fetchone() is not None


def _require_tables(
    connection: sqlite3.Connection, path: Path, required: Iterable[str], what: str
) -> set[str]:
    tables = {
        row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
    }
    missing = [name for name in required if name not in tables]
    if missing:
        raise GenekbError(
            f"{path} is not {what} SQLite (no table {', '.join(missing)}); "
            "point at the file under the package's extdata/ folder"
        )
    return tables


def _metadata(connection: sqlite3.Connection) -> dict[str, str]:
    return {str(k): str(v) for k, v in connection.execute("SELECT name, value FROM metadata")}


def _resolve_taxon(meta: dict[str, str], taxon: int | None, path: Path) -> int:
    found: int | None = None
    if meta.get("TAXID", "").strip().isdigit():
        found = int(meta["TAXID"])
    elif meta.get("ORGANISM") in _ORGANISM_TAXA:
        found = _ORGANISM_TAXA[meta["ORGANISM"]]
    if taxon is None:
        if found is None:
            raise GenekbError(f"{path} names no TAXID in its metadata; pass the taxon explicitly")
        return found
    if found is not None and found != taxon:
        raise GenekbError(
            f"{path} is for taxon {found} ({meta.get('ORGANISM', '?')}), not {taxon}; "
            "pass the matching taxon or file"
        )
    return taxon


def _parse_date(raw: str) -> str | None:
    raw = raw.strip()
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(raw, fmt).date().isoformat()
        except ValueError:
            continue
    return None


def _snapshot_date(meta: dict[str, str], path: Path) -> str:
    # The central id's source date (EG = Entrez Gene) first; newer AnnotationForge dbs say GENE.
    central = meta.get("CENTRALID", "EG")
    keys = (f"{central}SOURCEDATE", "EGSOURCEDATE", "GENESOURCEDATE", "GOEGSOURCEDATE")
    for key in keys:
        if key in meta and (parsed := _parse_date(meta[key])):
            return parsed
    raise GenekbError(
        f"{path} has no readable gene source date in its metadata (looked for {', '.join(keys)})"
    )


def _package_identity(org_sqlite: Path) -> tuple[str, str | None]:
    """The R package's name and version: from its DESCRIPTION when the file sits in a package."""
    description = org_sqlite.parent.parent / "DESCRIPTION"
    fields: dict[str, str] = {}
    if description.is_file():
        for line in description.read_text(errors="replace").splitlines():
            key, sep, value = line.partition(":")
            if sep and not line[:1].isspace():
                fields[key.strip()] = value.strip()
    name = fields.get("Package") or re.sub(r"\.sqlite$", "", org_sqlite.name) + ".db"
    return name, fields.get("Version")


def _go_names(go: sqlite3.Connection) -> dict[str, tuple[str, str]]:
    """GO id -> (ontology "bp"/"mf"/"cc", term name), secondary (alt) ids included."""
    names = {
        go_id: (ontology.lower(), term)
        for go_id, term, ontology in go.execute("SELECT go_id, term, ontology FROM go_term")
    }
    if _has_table(go, "go_synonym"):
        # Annotations may cite an alt id that GO merged into another term.
        query = (
            "SELECT s.secondary, t.term, t.ontology FROM go_synonym s JOIN go_term t USING (_id) "
            "WHERE s.secondary IS NOT NULL"
        )
        for secondary, term, ontology in go.execute(query):
            names.setdefault(secondary, (ontology.lower(), term))
    return names


def _grouped(
    connection: sqlite3.Connection, tables: set[str], table: str, column: str
) -> dict[int, list[str]]:
    """`_id` -> values of `table.column` in stored order (one query); empty if no such table."""
    grouped: dict[int, list[str]] = defaultdict(list)
    if table in tables:
        query = f"SELECT _id, {column} FROM {table} WHERE {column} IS NOT NULL ORDER BY rowid"
        for internal_id, value in connection.execute(query):
            grouped[internal_id].append(str(value))
    return grouped


def _unique_in_order(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _gene_table(
    org: sqlite3.Connection,
    tables: set[str],
    go_names: dict[str, tuple[str, str]],
    taxon: int,
    path: Path,
) -> tuple[pa.Table, list[str]]:
    genes = org.execute(
        "SELECT g._id, g.gene_id, i.symbol, i.gene_name "
        "FROM genes g LEFT JOIN gene_info i USING (_id) ORDER BY g._id"
    ).fetchall()
    gene_ids: dict[int, int] = {}
    for internal_id, gene_id, _, _ in genes:
        try:
            gene_ids[internal_id] = int(gene_id)
        except (TypeError, ValueError):
            raise GenekbError(
                f"{path} is keyed by {gene_id!r}, not NCBI GeneIDs; only org.*.eg.db files "
                "(Entrez-keyed) can be read"
            ) from None

    gene_types = _grouped(org, tables, "genetype", "gene_type")
    aliases = _grouped(org, tables, "alias", "alias_symbol")
    ensembl = _grouped(org, tables, "ensembl", "ensembl_id")
    if "cytogenetic_locations" in tables:
        locations = _grouped(org, tables, "cytogenetic_locations", "cytogenetic_location")
    else:  # dbs without cytobands: the chromosome is the best location they have
        locations = _grouped(org, tables, "chromosomes", "chromosome")

    go_terms: dict[str, dict[int, set[str]]] = {ont: defaultdict(set) for ont in ONTOLOGIES}
    unresolved: set[str] = set()
    for ontology in ONTOLOGIES:
        if f"go_{ontology}" not in tables:
            continue
        for internal_id, go_id in org.execute(f"SELECT _id, go_id FROM go_{ontology}"):
            named = go_names.get(go_id)
            if named is None:
                unresolved.add(go_id)
                continue
            # File by the term's own ontology: an alt id can move a term between tables.
            go_terms[named[0]][internal_id].add(named[1])

    columns: dict[str, list[Any]] = {name: [] for name in GENE_SCHEMA.names}
    rows = sorted(genes, key=lambda row: gene_ids[row[0]])
    for internal_id, _, symbol, gene_name in rows:
        symbol = symbol or str(gene_ids[internal_id])
        columns["gene_id"].append(gene_ids[internal_id])
        columns["taxon"].append(taxon)
        columns["symbol"].append(symbol)
        columns["name"].append(gene_name or None)
        types = _unique_in_order(gene_types.get(internal_id, []))
        columns["gene_type"].append(types[0] if types else None)
        places = _unique_in_order(locations.get(internal_id, []))
        columns["map_location"].append("|".join(places) if places else None)
        columns["aliases"].append(sorted(set(aliases.get(internal_id, [])) - {symbol}))
        stripped = {stable_ensembl(e) for e in ensembl.get(internal_id, [])}
        columns["ensembl"].append(sorted(stripped))
        columns["summary"].append(None)  # org.*.eg.db carries no RefSeq summaries
        for ontology in ONTOLOGIES:
            columns[f"go_{ontology}"].append(sorted(go_terms[ontology].get(internal_id, ())))
    return pa.Table.from_pydict(columns, schema=GENE_SCHEMA), sorted(unresolved)
