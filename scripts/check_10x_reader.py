"""Compare `cellmodel.io.read` on Cell Ranger .h5 files with `scanpy.read_10x_h5`.

    pip download scanpy==1.11.5 --no-binary :all: --no-deps -d DIR
    # scanpy-1.11.5.tar.gz sha256:
    # b2ef5476dfb1144b7dd0fae90b0198699c7988e6b27f083904150642c7ba6b89
    tar xzf DIR/scanpy-1.11.5.tar.gz -C DIR
    python scripts/check_10x_reader.py DIR/scanpy-1.11.5/tests/_data

For every .h5 under the folder: our shape, and whether the counts, barcodes, feature ids and
gene symbols equal scanpy's (its var_names are the symbols, its `gene_ids` the ids); a file we
refuse prints our one-line error. Markdown on stdout.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path


def compare(path: Path) -> str:
    import scanpy as sc

    from cellmodel.io import read
    from genekb.errors import GenekbError

    try:
        ours = read(path)
    except GenekbError as exc:
        return f"refused: {exc}"
    theirs = sc.read_10x_h5(path)
    same = {
        "counts": abs(ours.X - theirs.X).sum() == 0,
        "barcodes": list(ours.obs_names) == list(theirs.obs_names),
        "ids": list(ours.var_names) == list(theirs.var["gene_ids"]),
        "symbols": list(ours.var["gene_symbols"]) == list(theirs.var_names),
    }
    return f"{ours.shape[0]} × {ours.shape[1]}; " + ", ".join(
        f"{name} {'same' if bool(equal) else 'differ'}" for name, equal in same.items()
    )


def main(folder: str) -> None:
    warnings.simplefilter("ignore")  # scanpy's notes on non-unique names
    print("| file | ours against scanpy.read_10x_h5 |\n|---|---|")
    for path in sorted(Path(folder).rglob("*.h5")):
        print(f"| {path.relative_to(folder)} | {compare(path)} |")


if __name__ == "__main__":
    main(sys.argv[1])
