"""`cellmodel bench --task annotate`: labelled files named over the whole Cell Ontology and graded
(a thin shell over `cellmodel.bench.annotate_eval.user_report.evaluate_files`)."""

from __future__ import annotations

import csv
import re
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

from cli.cellmodel_args import refuse_unused
from cli.common import info, print_json
from genekb.errors import UsageError
from genekb.output_paths import check_output_dir

DEFAULT_TIMEOUT = 3600.0  # bench's --timeout default (cli.bench_cmd)
DEFAULT_SEEDS = 2  # control draws: each is a whole scoring of every group
_WHY = "--task annotate leaves out (it names the groups, it does not cluster)"


def cluster_only(a: SimpleNamespace) -> dict[str, bool]:
    """The options of the clustering bench that the annotate task cannot use, set or not."""
    return {
        "--methods": a.methods is not None,
        "--batch-key": a.batch_key is not None,
        "--scale": a.scale is not None,
        "--out-of-core": a.out_of_core,
        "--device": a.device is not None,
        "--no-warm": not a.warm,
        "--threads": a.threads is not None,
        "--timeout": a.timeout != DEFAULT_TIMEOUT,  # it bounds a worker process; none runs here
        "--gene-vectors": a.gene_vectors != "real",
    }


def run_annotate(a: SimpleNamespace, command_of: Callable[[Path], str]) -> None:
    """Check the options, grade every file, print the page (or JSON) and say where it went."""
    from cellmodel.bench import parse_datasets
    from cellmodel.bench.annotate_eval.user_report import FILES, evaluate_files
    from cellmodel.datasets import store_root
    from cli.progress import steady_progress
    from genekb.store.store import Store

    refuse_unused(cluster_only(a), "the clustering bench", _WHY, "drop --task annotate")
    if a.datasets is None:
        raise UsageError("--task annotate needs --datasets: labelled files (with --label-key)")
    if any(n.strip().startswith("synthetic-") for n in a.datasets.split(",")):
        raise UsageError("synthetic data has no cell types to name; give labelled files")
    label_map = read_label_map(a.label_map) if a.label_map is not None else None
    if label_map is not None and a.ontology_key is not None:
        raise UsageError("give --label-map or --ontology-key, not both")
    refs = parse_datasets(a.datasets, a.label_key)
    given = a.out is not None
    out = a.out or store_root(a.root) / "bench-annotate"
    check_output_dir(out, force=a.force, flag="--out", files=FILES, parents=not given)
    store = Store.open(a.root, create=True)
    # Each scoring takes minutes: the steps under way are said at least every few seconds.
    with steady_progress(f"{refs[0].name}: reading") as progress:
        report = evaluate_files(
            refs, store, ontology_key=a.ontology_key, label_map=label_map,
            seeds=a.seeds if a.seeds is not None else DEFAULT_SEEDS,
            reading={"layer": a.layer, "gene_key": a.gene_key},
            root=str(a.root) if a.root else None, out=out, command=command_of(out),
            log=lambda line: progress(line, 0, 1), model=a.model, progress=progress,
        )  # fmt: skip
    if a.json_:
        print_json(report)
    else:
        sys.stdout.write(Path(report["written"][1]).read_text(encoding="utf-8"))
    info(f"wrote {', '.join(report['written'])}")


# A header's names for the two columns where a map holds more ("dataset,label,cl_id,reason").
LABEL_NAMES = ("label", "cell_type", "cluster", "group")
_ID_LIKE = re.compile(r"CL[:_ ]?\d", re.IGNORECASE)
ID_NAMES = ("cl_id", "cl", "ontology_id", "cell_type_ontology_term_id", "cell_ontology_id")


def _named_columns(header: list[str], rows: list[list[str]]) -> list[list[str]]:
    """The label and CL id columns a header names (other columns left); the rows as they are
    where it names neither."""
    label = next((header.index(n) for n in LABEL_NAMES if n in header), None)
    cl_id = next((header.index(n) for n in ID_NAMES if n in header), None)
    if label is None or cl_id is None or len(header) == 2:
        return rows
    return [[r[label], r[cl_id]] if len(r) == len(header) else r for r in rows]


def read_label_map(path: Path) -> dict[str, str]:
    """label -> CL id from a two-column CSV or TSV (a header line is allowed); ids written as
    CL:0000000 (CL_0000000, cl:0000000 and OBO addresses are read so)."""
    from cellmodel.annotate.ontology import normalize_id

    if not path.is_file():
        raise UsageError(f"--label-map {path}: no such file; give a CSV of label,CL id lines")
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    first = text.splitlines()[0] if text.strip() else ""
    dialect = "excel-tab" if "\t" in first else "excel"
    rows = [r for r in csv.reader(text.splitlines(), dialect=dialect) if any(f.strip() for f in r)]
    # A first row whose id is a mistyped CL id (CL:000169) is data, refused by name later, not
    # a header dropped unsaid.
    if rows and normalize_id(rows[0][-1]) is None and not _ID_LIKE.search(rows[0][-1]):
        header, rows = [f.strip().casefold() for f in rows[0]], rows[1:]
        rows = _named_columns(header, rows)
    if not rows or any(len(r) != 2 for r in rows):
        raise UsageError(
            f"--label-map {path}: give two columns, a label and its CL id (CL:0000000), per line,"
            " or a header naming them (label, cl_id) beside other columns"
        )
    out: dict[str, str] = {}
    for label, cl_id in rows:
        label, cl_id = label.strip(), normalize_id(cl_id) or cl_id.strip()
        if out.setdefault(label, cl_id) != cl_id:
            raise UsageError(f"--label-map {path}: {label!r} is mapped twice, to two ids")
    return out
