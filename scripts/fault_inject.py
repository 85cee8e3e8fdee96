"""Damage each kind of store file and run every reader against it: damage x reader -> caught?

    .venv/bin/python scripts/fault_inject.py [--root /tmp/fault_store] [--out docs/...md]

Builds a scratch store (MiniLM gene cards of pbmc68k-reduced's genes under two templates, so the
store holds a damaged version A and an untouched version B), writes a clean `cellmodel cluster`
output for `explain`, then for each damage (flip a byte, truncate, delete, replace with B's file,
edit the manifest with or without recomputing its self-hash, corrupt the tags) runs each reader
through the real command line (in-process) and restores the file. A reader *catches* the damage
when it exits non-zero with one line that names the damaged file (or `genekb verify`); `sql`
instead leaves the damaged version out and names it in a warning, since the other versions must
keep working. After each damage, `similar` and `sql` on version B must still succeed.
Exit status 1 if any damage was missed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from typer.testing import CliRunner

from cli.cellmodel_app import app as cellmodel_app
from cli.genekb_app import app as genekb_app

DATASET = "pbmc68k-reduced"
TAG_A = "human/ncbi-card/minilm"
READS_BY_ID = {"cellmodel explain"}  # finds its version by the id recorded in the .h5ad
runner = CliRunner()


def invoke(app, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def build_store(root: Path, work: Path) -> dict[str, str]:
    """Two embedding versions of the dataset's genes; returns their ids and a clean output."""
    import scanpy as sc

    genes = work / "genes.txt"
    genes.write_text("\n".join(sc.datasets.pbmc68k_reduced().raw.var_names) + "\n")
    ids = {}
    for key, template in (("a", "ncbi-card"), ("b", "name-only")):
        code, out, err = invoke(
            genekb_app, "build", "--genes", str(genes), "--template", template,
            "--root", str(root), "--json",
        )  # fmt: skip
        if code:
            sys.exit(f"build failed: {err.strip()}")
        report = json.loads(out)
        ids[key], ids[f"{key}_text"] = report["embedding_id"], report["text_id"]
    clean = work / "clean.h5ad"
    code, _, err = invoke(
        cellmodel_app, "cluster", DATASET, "--root", str(root), "-o", str(clean), "--force"
    )
    if code:
        sys.exit(f"clean cluster run failed: {err.strip()}")
    ids["clean_output"] = str(clean)
    return ids


def count_sql(embedding_id: str) -> str:
    return f"SELECT count(*) AS n FROM embeddings WHERE embedding_id = '{embedding_id}'"


def readers(root: Path, work: Path, ids: dict[str, str]) -> dict[str, Callable[[], tuple]]:
    r = ["--root", str(root)]
    genes = work / "genes.txt"
    return {
        "similar": lambda: invoke(genekb_app, "similar", "CD3E", "--ref", TAG_A, *r),
        "sql": lambda: invoke(genekb_app, "sql", count_sql(ids["a"]), *r, "--json"),
        "build": lambda: invoke(genekb_app, "build", "--genes", str(genes), *r),
        "info": lambda: invoke(genekb_app, "info", TAG_A, *r),
        "export": lambda: invoke(genekb_app, "export", TAG_A, str(work / "a.tar"), "--force", *r),
        "cellmodel embed": lambda: invoke(cellmodel_app, "embed", DATASET, *r),
        "cellmodel cluster": lambda: invoke(cellmodel_app, "cluster", DATASET, *r),
        "cellmodel explain": lambda: invoke(cellmodel_app, "explain", ids["clean_output"], *r),
    }


def damages(root: Path, ids: dict[str, str]) -> list[tuple[str, Path, Callable[[Path], None]]]:
    a_emb, a_txt = root / "embeddings" / ids["a"], root / "texts" / ids["a_text"]
    b_emb, b_txt = root / "embeddings" / ids["b"], root / "texts" / ids["b_text"]

    def flip(p: Path) -> None:
        data = bytearray(p.read_bytes())
        data[len(data) // 2] ^= 0x01
        p.write_bytes(bytes(data))

    def truncate(p: Path) -> None:
        p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 3])

    def delete(p: Path) -> None:
        p.unlink()

    def swap(source: Path) -> Callable[[Path], None]:
        return lambda p: shutil.copyfile(source, p)

    def edit_manifest(rehash: bool) -> Callable[[Path], None]:
        def change(p: Path) -> None:
            text = p.read_text()
            data = json.loads(text)
            if "encoder" in data:
                data["encoder"]["max_length"] = int(data["encoder"]["max_length"]) + 1
            else:
                data["template"]["version"] = str(data["template"].get("version", "")) + "x"
            if rehash:  # an editor who knows the self-hash format
                from genekb.store.manifest import dump_manifest

                p.write_bytes(dump_manifest(data))
            else:
                p.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")

        return change

    plans = []
    for label, vdir, other, data_file in (
        ("vectors", a_emb, b_emb, "vectors.parquet"),
        ("gene texts", a_txt, b_txt, "genes.parquet"),
    ):
        for name, path, source in (
            (data_file, vdir / data_file, other / data_file),
            (f"{label} manifest", vdir / "manifest.json", other / "manifest.json"),
        ):
            plans += [
                (f"{name}: flip a byte", path, flip),
                (f"{name}: truncate", path, truncate),
                (f"{name}: delete", path, delete),
                (f"{name}: replace with B's", path, swap(source)),
            ]
        plans += [
            (f"{label} manifest: edit", vdir / "manifest.json", edit_manifest(False)),
            (f"{label} manifest: edit + rehash", vdir / "manifest.json", edit_manifest(True)),
        ]
    plans += [
        ("tags.json: flip a byte", root / "tags.json", flip),
        ("tags.json: truncate", root / "tags.json", truncate),
    ]
    return plans


def caught(reader: str, code: int, out: str, err: str, file: Path) -> bool:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    named = any(file.name in ln or "genekb verify" in ln for ln in lines)
    if reader == "sql":
        if code:  # refusing the whole query is also a catch, if it names the damage
            return named
        rows = json.loads(out)["rows"]
        # A damaged version is left out; damaged tags only empty the catalog's tags column.
        return named and (rows == [{"n": 0}] or file.name == "tags.json")
    return code != 0 and named and sum(ln.startswith("error:") for ln in lines) == 1


def others_work(root: Path, ids: dict[str, str]) -> bool:
    r = ["--root", str(root)]
    code_similar, _, _ = invoke(genekb_app, "similar", "CD3E", "--ref", ids["b"], *r)
    code_sql, out, _ = invoke(genekb_app, "sql", count_sql(ids["b"]), *r, "--json")
    return code_similar == 0 and code_sql == 0 and json.loads(out)["rows"][0]["n"] > 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("/tmp/genekb_fault_store"))
    parser.add_argument("--out", type=Path, help="also write the Markdown table here")
    args = parser.parse_args()
    work = args.root.with_name(args.root.name + "_work")
    for path in (args.root, work):
        shutil.rmtree(path, ignore_errors=True)
    work.mkdir(parents=True)
    start = time.perf_counter()
    ids = build_store(args.root, work)
    print(f"store built and clean run done in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    calls = readers(args.root, work, ids)
    for name, call in calls.items():  # every reader works on the clean store
        code, _, err = call()
        if code:
            sys.exit(f"{name} fails on the clean store: {err.strip()}")
    rows, missed = [], 0
    for label, path, damage in damages(args.root, ids):
        original = path.read_bytes()
        digest = hashlib.sha256(original).hexdigest()
        damage(path)
        row = {"damage": label}
        for name, call in calls.items():
            code, out, err = call()
            if path.name == "tags.json" and name in READS_BY_ID and code == 0:
                row[name] = "n/a (reads no tag)"
                continue
            ok = caught(name, code, out, err, path)
            row[name] = "caught" if ok else "MISSED"
            missed += not ok
        row["other versions work"] = "yes" if others_work(args.root, ids) else "NO"
        missed += row["other versions work"] != "yes"
        path.write_bytes(original)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
        rows.append(row)
        print(f"{label}: {sum(v == 'caught' for v in row.values())} caught", file=sys.stderr)
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row[h] for h in header) + " |" for row in rows]
    total = sum(v in ("caught", "MISSED") for row in rows for v in row.values())
    lines.append("")
    lines.append(
        f"{total - missed} of {total} damage × reader cases caught; "
        f"{len(rows)} damages; {time.perf_counter() - start:.0f} s."
    )
    table = "\n".join(lines)
    print(table)
    if args.out:
        args.out.write_text(table + "\n")
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
