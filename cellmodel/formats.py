"""Readers for the files users bring: .h5ad and HDF5 files besides .h5ad, told apart by what they
hold (`read_hdf5`); a 10x .mtx folder is `cellmodel.mtx`, CSV/TSV tables `cellmodel.tables`:

- Cell Ranger's feature-barcode matrix (`filtered_feature_bc_matrix.h5`): v3 (a "matrix" group
  with "features") and v2 (one group per genome with "genes" and "gene_names"). As for the .mtx
  folder, var_names are the feature ids and the symbols go to `var["gene_symbols"]`; only
  "Gene Expression" features are kept where the file lists feature types.
- loom (a dense genes × cells "matrix", per-gene "row_attrs", per-cell "col_attrs"): genes named
  by row_attrs/Gene (or anndata's var_names, `LOOM_GENE_KEYS`) where present, cells by
  col_attrs/CellID (or obs_names), every other col_attr with one value per cell an obs column,
  every other row_attr with one value per gene a var column (for `gene_key=`).
- the scDeepCluster benchmark layout (a dense cells × genes "X", optional labels "Y"), genes
  named g0..gN, the labels in `obs["Y"]`;
- Matilda's dense genes × cells "matrix" group (`cellmodel.dense_h5`; its labels file apart);
- an AnnData file saved under one of these suffixes (it has "obs" and "var"), read as .h5ad.
Each HDF5 reader gives sparse float32 counts, cells × genes.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import anndata as ad
import h5py  # anndata's own HDF5 library, loaded with it
import numpy as np
import pandas as pd
import scipy.sparse as sp

from cellmodel.dense_h5 import is_dense_matrix, read_dense_matrix
from cellmodel.storage import as_float32, check_sparse_structure, text_values
from genekb.errors import GenekbError, GenekbWarning, warn

GENE_EXPRESSION = "Gene Expression"
# Cell Ranger's other feature types: counts of tags, guides or peaks, never of a gene's mRNA.
OTHER_FEATURE_TYPES = frozenset(
    {"Antibody Capture", "CRISPR Guide Capture", "Multiplexing Capture", "Custom", "Peaks"}
)
# Where looms name genes and cells: loompy's convention first, then anndata's `write_loom`.
LOOM_GENE_KEYS = ("Gene", "var_names", "gene_names", "Symbol")
LOOM_CELL_KEYS = ("CellID", "obs_names", "cell_names")
LOOM_ROWS_PER_BLOCK = 2048  # genes read from a loom matrix at a time (dense block → sparse)
HDF5_SUFFIXES = (".h5", ".hdf5", ".loom")


def read_h5ad(path: str | Path) -> ad.AnnData:
    path = Path(path)
    try:
        return ad.read_h5ad(path)
    except Exception as exc:  # h5py raises OSError, anndata raises various things on foreign files
        raise unreadable(path, exc, "h5ad file") from None


def unreadable(path: Path, exc: BaseException, what: str) -> GenekbError:
    """One line for an HDF5 file that does not read: cut short (a copy that stopped early), of
    another layout under the .h5ad suffix (a loom, a Cell Ranger matrix), or else damaged."""
    text = reason(exc)
    cut = re.search(r"truncated file: eof = (\d+).*stored_eof = (\d+)", text)
    if cut:
        return GenekbError(
            f"{path} is cut short ({int(cut[1]):,} of its {int(cut[2]):,} bytes); copy it again"
        )
    text_instead = _text_file(path) if "file signature not found" in text else None
    if text_instead:
        return GenekbError(f"{path} is {text_instead}")
    if what == "h5ad file":
        try:
            with h5py.File(path, "r") as f:
                refuse_foreign_layout(f, path)
        except GenekbError as foreign:  # a loom or Cell Ranger file under the .h5ad suffix
            return foreign
        except (OSError, KeyError, ValueError):
            pass  # not HDF5 at all, or too damaged to tell: the reader's own words follow
    return GenekbError(f"{path} is not a readable {what} ({text}); write or copy it again")


def _text_file(path: Path) -> str | None:
    """What a file that is no HDF5 holds, when it is text under an HDF5 suffix (a table or a
    matrix.mtx saved as .h5ad): renaming it, not copying it again, is what reads it."""
    try:
        with path.open("rb") as fh:
            head = fh.read(4096).decode("utf-8")
    except (OSError, UnicodeDecodeError):  # binary: damaged HDF5 or another format
        return None
    first = next(iter(head.lstrip("\ufeff").splitlines()), "")
    if "\x00" in head or not first.strip() or not first.replace("\t", " ").isprintable():
        return None
    shown = first if len(first) <= 40 else first[:40] + "…"
    if first.lower().startswith("%%matrixmarket"):
        return (
            f"a MatrixMarket text file ({shown!r}), not HDF5: name it matrix.mtx beside"
            " features.tsv and barcodes.tsv"
        )
    return f"a text file (its first line: {shown!r}), not HDF5: if it is a table, name it .csv"


def refuse_foreign_layout(f: Any, path: Path) -> None:
    """Refuse an open HDF5 file, read as .h5ad, that holds a layout `read_hdf5` reads under
    another suffix (a loom, a Cell Ranger matrix): name the suffix that reads it."""
    if "obs" in f and "var" in f:
        return
    try:
        kind, _ = _layout(f, sorted(f.keys()), path)
    except GenekbError:
        return  # no layout of ours either: the caller names what is missing
    suffix = ".loom" if kind == "loom file" else ".h5"
    raise GenekbError(f"{path} holds a {kind}, not an AnnData file; name it {suffix}")


class FeaturesLeftOutWarning(GenekbWarning):
    """Features of another type than "Gene Expression" (antibody tags, guides, peaks) were not
    read as genes."""


def gene_expression_mask(kinds: Sequence[str], path: str | Path) -> np.ndarray | None:
    """Which features to read (None: all) by their 10x types: the "Gene Expression" ones, with a
    warning that counts the rest; a file of other types only is refused, as their counts read as
    genes would be clustered as expression."""
    keep, left_out = gene_expression_features(kinds, path)
    if left_out:
        warn(left_out, FeaturesLeftOutWarning)
    return keep


def gene_expression_features(kinds: Sequence[str], where: str | Path) -> tuple[Any, str]:
    """`gene_expression_mask` without its warning: the mask (None: all) and the line that says
    what was left out ("" when nothing was)."""
    kinds = np.asarray(kinds, dtype=str)
    keep = kinds == GENE_EXPRESSION
    others = Counter(kinds[~keep].tolist())
    if keep.all() or (not keep.any() and not set(others) <= OTHER_FEATURE_TYPES):
        return None, ""  # one type, or types of another tool's naming: every feature is read
    listed = ", ".join(f"{kind}: {n:,}" for kind, n in others.most_common())
    if not keep.any():
        raise GenekbError(
            f"{where} holds no 'Gene Expression' features, only {listed}; cellmodel reads gene"
            " expression: give the matrix of a gene expression library"
        )
    return keep, (
        f"{where}: {int((~keep).sum()):,} features that are not 'Gene Expression' left out"
        f" ({listed}), their counts not read as genes; read them apart to use them"
    )


def refuse_repeated(
    names: Any,
    path: str | Path,
    what: str,
    fix: str = "name each once (rename, sum or drop the repeats) first",
) -> None:
    """Refuse `names` (cells or genes; `what` says which, and where) when any is given twice,
    in one line that shows a few and says how to `fix` it."""
    repeated = pd.Index(names)
    repeated = repeated[repeated.duplicated()].unique()
    if len(repeated):
        shown = ", ".join(map(str, repeated[:5]))
        raise GenekbError(
            f"{path}: {len(repeated)} {what} occur more than once (e.g. {shown}); {fix}"
        )


def repeated_key_fix(var_names: pd.Index) -> str:
    """What to do when the var column gene_key= names repeats names, said so that the command
    line can follow it too (gene_key= reads --gene-key there): var names that are unique (a 10x
    folder's Ensembl ids) map without the column; adata.var_names_make_unique would not touch it."""
    if not pd.Index(var_names).is_unique:
        return "choose another gene_key=, or name each gene once in the column first"
    shown = ", ".join(map(str, var_names[:2]))
    return (
        f"leave out gene_key= to map the var names (unique: {shown}, …) or choose another gene_key="
    )


def read_hdf5(path: str | Path) -> ad.AnnData:
    """A Cell Ranger .h5, a loom file or the X/Y layout, by what the file holds."""
    return _with_layout(path, lambda f, kind, reader: reader())


def hdf5_cell_count(path: str | Path) -> int:
    """The cells `read_hdf5` would give, read from the file's shapes without the matrix."""
    return _with_layout(path, _cell_count)


def hdf5_cell_columns(path: str | Path) -> list[str]:
    """The obs columns `read_hdf5` would give, read without the matrix."""
    return _with_layout(path, _cell_columns)


def hdf5_cell_column(path: str | Path, key: str) -> pd.Series:
    """The obs column `key` (one of `hdf5_cell_columns`) as `read_hdf5` gives it, read without
    the matrix: bench checks a label column before any run."""
    return _with_layout(path, lambda f, kind, reader: _cell_column(f, kind, key))


def hdf5_stored_values(f: Any, path: Path) -> Any:
    """The HDF5 dataset of the matrix values `read_hdf5` reads from the open file `f`: a loom's or
    X/Y layout's matrix, Matilda's, a Cell Ranger matrix's non-zeros; None for an AnnData file."""
    kind, _ = _layout(f, sorted(f.keys()), path)
    if kind == "Cell Ranger matrix":  # "matrix", or v2's one genome
        groups = (f.get(k) for k in ("matrix", *f))
        return next(g for g in groups if isinstance(g, h5py.Group) and "indptr" in g)["data"]
    where = {"loom file": "matrix", "X/Y file": "X", "dense matrix": "matrix/data"}.get(kind)
    return f[where] if where else None


def _with_layout(path: str | Path, use: Callable[[Any, str, Callable[[], ad.AnnData]], Any]) -> Any:
    """Open the file, tell its layout and return `use(file, kind, reader)`; one error line for
    an unreadable, foreign or damaged file."""
    path = Path(path)
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise unreadable(path, exc, "HDF5 file") from None
    with f:
        kind, reader = _layout(f, sorted(f.keys()), path)
        try:
            return use(f, kind, reader)
        except (KeyError, ValueError, IndexError, TypeError, OSError) as exc:
            # Arrays missing or of the wrong size: a damaged or hand-made file.
            raise GenekbError(
                f"{path}: a damaged {kind} ({reason(exc)}); write it again from its source"
            ) from None


def _cell_columns(f: Any, kind: str, reader: Callable[[], ad.AnnData]) -> list[str]:
    if kind == "AnnData file":
        return [str(c) for c in f["obs"].attrs.get("column-order", [])]
    if kind == "loom file":
        return [k for k in _loom_cell_keys(f) if k != _first_key(f["col_attrs"], LOOM_CELL_KEYS)]
    if kind == "X/Y file":
        return ["Y"] if "Y" in f else []
    return []  # a Cell Ranger or dense matrix: barcodes only


def _cell_count(f: Any, kind: str, reader: Callable[[], ad.AnnData]) -> int:
    if kind == "loom file":
        return int(f["matrix"].shape[1])  # genes × cells
    if kind == "X/Y file":
        return int(f["X"].shape[0])
    if kind in ("Cell Ranger matrix", "dense matrix"):  # "matrix", or v2's one genome
        groups = [f[k] for k in ("matrix", *f.keys()) if isinstance(f.get(k), h5py.Group)]
        return int(next(g for g in groups if "barcodes" in g)["barcodes"].shape[0])
    obs = f["obs"]  # an AnnData file: its obs index
    index = obs.attrs.get("_index", "_index")
    return int(obs[index.decode() if isinstance(index, bytes) else str(index)].shape[0])


def _cell_column(f: Any, kind: str, key: str) -> pd.Series:
    if kind == "AnnData file":
        from anndata.io import read_elem

        return pd.Series(read_elem(f["obs"][key]))
    if kind == "loom file":
        return pd.Series(_cell_text(f["col_attrs"][key]))
    if kind == "X/Y file" and key == "Y":
        return pd.Series(_label_text(np.asarray(f["Y"]).ravel()))
    raise KeyError(key)


def reason(exc: BaseException) -> str:
    """The first line of an exception's message (or its type), for a one-line error."""
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _layout(f: Any, keys: list[str], path: Path) -> tuple[str, Callable[[], ad.AnnData]]:
    """What the file is, and how to read it."""
    if "obs" in f and "var" in f:  # an AnnData file under another suffix
        return "AnnData file", lambda: ad.read_h5ad(f.filename)
    groups = {k: f[k] for k in keys if isinstance(f[k], h5py.Group) and "indptr" in f[k]}
    if "matrix" in groups and "features" in groups["matrix"]:
        return "Cell Ranger matrix", lambda: _cell_ranger(f["matrix"], "features")
    genomes = [k for k, group in groups.items() if "gene_names" in group]
    if len(genomes) > 1:
        raise GenekbError(
            f"{path} holds {len(genomes)} genomes ({', '.join(genomes)}); split it per genome or"
            " convert the one you want to .h5ad"
        )
    if genomes:
        return "Cell Ranger matrix", lambda: _cell_ranger(f[genomes[0]], "v2")
    if "matrix" in f and "row_attrs" in f and "col_attrs" in f:
        return "loom file", lambda: _loom(f)
    if "X" in f and isinstance(f["X"], h5py.Dataset):
        return "X/Y file", lambda: read_xy(f, path)
    if is_dense_matrix(f):
        return "dense matrix", lambda: read_dense_matrix(f)
    raise GenekbError(
        f"cannot read {path}: an HDF5 file that is not a Cell Ranger matrix, a loom file, the"
        f" X/Y layout or Matilda's dense matrix (top-level keys: {', '.join(keys) or 'none'});"
        " convert it to .h5ad"
    )


def _label_text(y: np.ndarray) -> list[str | None]:
    """Labels as text; whole numbers without a decimal point (1.0 → "1"), NaN missing."""
    if y.dtype.kind not in "iuf":
        return text_values(y)
    return [None if np.isnan(v) else str(int(v)) if float(v).is_integer() else str(v) for v in y]


def _cell_text(values: Any) -> list[str | None]:
    """A cell column as text; a missing number (NaN) stays missing, not a class "nan"."""
    array = np.asarray(values).ravel()
    texts: list[str | None] = list(text_values(array))
    if array.dtype.kind == "f":
        texts = [None if np.isnan(v) else t for v, t in zip(array, texts, strict=True)]
    return texts


def _cell_ranger(group: Any, version: str) -> ad.AnnData:
    """Columns of the stored genes × cells CSC matrix are cells: read as cells × genes CSR."""
    n_genes, n_cells = (int(v) for v in group["shape"][:2])
    what = f"the matrix of {group.file.filename}"
    X = sp.csr_matrix(
        (as_float32(group["data"][:], what), group["indices"][:], group["indptr"][:]),
        shape=(n_cells, n_genes),
    )
    check_sparse_structure(X, what)  # before any subset, which would drop damaged entries
    if version == "features":
        features = group["features"]
        ids, symbols = text_values(features["id"]), text_values(features["name"])
        kinds = text_values(features["feature_type"]) if "feature_type" in features else None
    else:
        ids, symbols, kinds = text_values(group["genes"]), text_values(group["gene_names"]), None
    var = pd.DataFrame({"gene_symbols": symbols}, index=pd.Index(ids, dtype=str))
    adata = ad.AnnData(X=X, obs=pd.DataFrame(index=text_values(group["barcodes"])), var=var)
    keep = gene_expression_mask(kinds, group.file.filename) if kinds is not None else None
    return adata[:, keep].copy() if keep is not None else adata


def _loom(f: Any) -> ad.AnnData:
    matrix = f["matrix"]
    n_genes, n_cells = matrix.shape
    what = f"the matrix of {f.filename}"
    blocks = [  # each block refused before a cast would parse text as numbers
        sp.csr_matrix(as_float32(matrix[start : start + LOOM_ROWS_PER_BLOCK], what))
        for start in range(0, n_genes, LOOM_ROWS_PER_BLOCK)
    ]
    X = sp.csr_matrix(sp.vstack(blocks).T) if blocks else sp.csr_matrix((n_cells, 0))
    rows, columns = f["row_attrs"], f["col_attrs"]
    obs = pd.DataFrame({k: _cell_text(columns[k]) for k in _loom_cell_keys(f)})
    obs.index = pd.Index([f"c{i}" for i in range(n_cells)])
    cell_key, gene_key = _first_key(columns, LOOM_CELL_KEYS), _first_key(rows, LOOM_GENE_KEYS)
    if cell_key is not None:
        obs.index = _loom_cell_names(f, cell_key, obs.pop(cell_key) if cell_key in obs else None)
    genes = text_values(rows[gene_key]) if gene_key else [f"g{j}" for j in range(n_genes)]
    # The other per-gene attributes (Accession, gene ids) are var columns: where no Gene
    # attribute names the genes, --gene-key picks the one that does.
    var = pd.DataFrame({k: _cell_text(rows[k]) for k in _loom_keys(rows, n_genes) if k != gene_key})
    var.index = pd.Index(genes, dtype=str)
    adata = ad.AnnData(X=X, obs=obs, var=var)
    adata.var_names_make_unique()  # loom genes are often symbols, some repeated
    return adata


def _loom_cell_names(f: Any, key: str, names: pd.Series | None) -> pd.Index:
    """The cells' names from col_attrs/`key`: one per cell, none missing."""
    if names is None:
        raise GenekbError(
            f"{f.filename}: col_attrs/{key} holds {f['col_attrs'][key].shape[0]} names for"
            f" {f['matrix'].shape[1]} cells; write the file again from its source"
        )
    if names.isna().any():
        raise GenekbError(
            f"{f.filename}: col_attrs/{key} has a missing name (cell {int(names.isna().argmax())});"
            " name every cell"
        )
    return pd.Index(names.to_numpy(), dtype=str)


def _first_key(attrs: Any, keys: tuple[str, ...]) -> str | None:
    return next((k for k in keys if k in attrs), None)


def _loom_cell_keys(f: Any) -> list[str]:
    """The col_attrs with one value per cell."""
    return _loom_keys(f["col_attrs"], f["matrix"].shape[1])


def _loom_keys(attrs: Any, n: int) -> list[str]:
    """The attributes (row_attrs or col_attrs) with one value per gene or cell: shape (n,) or
    (n, 1); wider ones (coordinates, embeddings) are left out."""
    return [k for k in attrs if attrs[k].ndim and attrs[k].shape[0] == attrs[k].size == n]


def read_xy(f: Any, path: Path) -> ad.AnnData:
    """The X/Y layout from an open HDF5 file: X cells × genes, the labels Y (if any) in obs["Y"]."""
    X = sp.csr_matrix(as_float32(f["X"][()], f"X of {path}"))
    obs = pd.DataFrame(index=[f"c{i}" for i in range(X.shape[0])])
    if "Y" in f:
        y = np.asarray(f["Y"]).ravel()
        if y.shape[0] != X.shape[0]:
            raise GenekbError(f"{path}: X has {X.shape[0]} rows but Y {y.shape[0]} labels")
        obs["Y"] = pd.Categorical(_label_text(y))
    var = pd.DataFrame(index=[f"g{j}" for j in range(X.shape[1])])
    return ad.AnnData(X=X, obs=obs, var=var)
