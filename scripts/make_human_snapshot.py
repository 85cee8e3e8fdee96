"""Regenerate genekb/data/human_genes.parquet from Debian's Bioconductor packages (no R needed).

    .venv/bin/python scripts/make_human_snapshot.py [--deb-dir DIR] [--output PATH]

Downloads `r-bioc-org.hs.eg.db` and `r-bioc-go.db` with `apt-get download` (or takes the .debs
already in --deb-dir), records each .deb's version and sha256, unpacks them with `dpkg -x`, reads
`org.Hs.eg.sqlite` + `GO.sqlite` with genekb.sources.orgdb and writes every gene (all types) as
zstd Parquet with its provenance in the file's metadata. Prints counts per gene type and checks
the table is fit to ship.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

# The snapshot is package data of this checkout: import this checkout's genekb, not an install.
REPO_ROOT = Path(__file__).resolve().parents[1]

from genekb.errors import GenekbError  # noqa: E402
from genekb.records import HUMAN, Snapshot  # noqa: E402
from genekb.sources.bundled import (  # noqa: E402
    bundled_path,
    load_bundled,
    read_snapshot_metadata,
    write_with_snapshot,
)
from genekb.sources.orgdb import read_orgdb, sha256_file  # noqa: E402

DEB_PACKAGES = ("r-bioc-org.hs.eg.db", "r-bioc-go.db")
MIN_PROTEIN_CODING_WITH_TEXT = 19_000
MAX_BYTES = 8 * 1024 * 1024  # package data budget for the snapshot
DEFAULT_OUTPUT = REPO_ROOT / "genekb" / "data" / "human_genes.parquet"


def fetch_debs(work_dir: Path, deb_dir: Path | None) -> list[Path]:
    if deb_dir is None:
        subprocess.run(["apt-get", "download", *DEB_PACKAGES], cwd=work_dir, check=True)
        deb_dir = work_dir
    debs = [next(iter(sorted(deb_dir.glob(f"{package}_*.deb"))), None) for package in DEB_PACKAGES]
    missing = [p for p, deb in zip(DEB_PACKAGES, debs, strict=True) if deb is None]
    if missing:
        raise GenekbError(f"no .deb for {', '.join(missing)} in {deb_dir}; run apt-get update")
    return [deb for deb in debs if deb is not None]


def deb_field(deb: Path, field: str) -> str:
    result = subprocess.run(["dpkg-deb", "-f", str(deb), field], capture_output=True, text=True)
    result.check_returncode()
    return result.stdout.strip()


def find_one(root: Path, name: str) -> Path:
    found = sorted(root.rglob(name))
    if len(found) != 1:
        raise GenekbError(f"expected one {name} in the unpacked .debs, found {len(found)}")
    return found[0]


def build(output: Path, deb_dir: Path | None) -> None:
    with tempfile.TemporaryDirectory(prefix="genekb-human-") as tmp:
        work_dir = Path(tmp)
        debs = fetch_debs(work_dir, deb_dir)
        deb_records = []
        for deb in debs:
            deb_records.append(
                {
                    "file": deb.name,
                    "package": deb_field(deb, "Package"),
                    "version": deb_field(deb, "Version"),
                    "sha256": sha256_file(deb),
                }
            )
            subprocess.run(["dpkg", "-x", str(deb), str(work_dir / "root")], check=True)
        org_sqlite = find_one(work_dir / "root", "org.Hs.eg.sqlite")
        go_sqlite = find_one(work_dir / "root", "GO.sqlite")
        genes = read_orgdb(org_sqlite, go_sqlite, taxon=HUMAN)

    details = dict(genes.snapshot.details)
    details["debs"] = deb_records
    details["derived_from"] = "orgdb"
    versions = ", ".join(f"{d['package']} {d['version']}" for d in deb_records)
    snapshot = Snapshot(
        source="bundled",
        taxon=HUMAN,
        date=genes.snapshot.date,
        description=f"{genes.snapshot.description}; from Debian packages {versions}",
        details=details,
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    write_with_snapshot(genes.table, snapshot, output)
    for record in deb_records:
        print(f"{record['file']}  version {record['version']}  sha256 {record['sha256']}")
    print(f"NCBI Gene date {details['gene_source_date']}, GO date {details['go_source_date']}")
    print(f"wrote {output} ({output.stat().st_size:,} bytes, {len(genes):,} genes)")


def check(output: Path) -> None:
    """Check the written table: enough protein-coding text, small enough, and (when written to the
    package) readable through load_bundled."""
    table, snapshot = pq.read_table(output), read_snapshot_metadata(output)
    if output.resolve() == DEFAULT_OUTPUT:
        bundled = load_bundled("human")
        if bundled.table.num_rows != table.num_rows or bundled.snapshot != snapshot:
            raise GenekbError(f"load_bundled('human') does not read back {output}")
        print(f"load_bundled('human') reads {bundled_path('human')}: {len(bundled):,} genes")
    print(f"snapshot: source={snapshot.source} date={snapshot.date} taxon={snapshot.taxon}")
    counts = Counter(table.column("gene_type").to_pylist())
    for gene_type, count in counts.most_common():
        print(f"  {gene_type!s:<20} {count:>7,}")
    coding = table.filter(pc.equal(table.column("gene_type"), "protein-coding"))
    named = pc.greater(pc.utf8_length(pc.fill_null(coding.column("name"), "")), 0)
    has_go = pc.or_(
        pc.or_(
            pc.greater(pc.list_value_length(coding.column("go_bp")), 0),
            pc.greater(pc.list_value_length(coding.column("go_mf")), 0),
        ),
        pc.greater(pc.list_value_length(coding.column("go_cc")), 0),
    )
    n_named = pc.sum(named).as_py() or 0
    n_named_go = pc.sum(pc.and_(named, has_go)).as_py() or 0
    print(
        f"protein-coding: {coding.num_rows:,}; with a name: {n_named:,}; "
        f"with a name and >= 1 GO term: {n_named_go:,}"
    )
    if n_named < MIN_PROTEIN_CODING_WITH_TEXT:
        raise GenekbError(
            f"only {n_named} named protein-coding genes (< {MIN_PROTEIN_CODING_WITH_TEXT})"
        )
    if output.stat().st_size > MAX_BYTES:
        raise GenekbError(f"{output} is {output.stat().st_size:,} bytes, over {MAX_BYTES:,}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deb-dir", type=Path, help="use the .debs here instead of downloading")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    try:
        build(args.output, args.deb_dir)
        check(args.output)
    except (GenekbError, subprocess.CalledProcessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
