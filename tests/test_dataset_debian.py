"""Datasets from Debian's R data packages: a .deb's data archive opened without dpkg, the R
files read without R (`cellmodel.datasets.rfiles`); offline except the slow real download."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pandas as pd
import pytest

from cellmodel import datasets
from cellmodel.datasets.debian import ar_members, data_tar
from cellmodel.datasets.rfiles import read_rda_pair
from cellmodel.io import expression
from genekb.errors import GenekbError, IntegrityError

MEMBER = "./usr/lib/R/site-library/pkg/extdata/cells.txt"


def ar_entry(name: str, payload: bytes) -> bytes:
    header = f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(payload):<10}`\n".encode()
    return header + payload + (b"\n" if len(payload) % 2 else b"")


def fake_deb(tmp_path: Path, payload: bytes) -> Path:
    """A .deb as dpkg-deb builds one: ar members debian-binary, control.tar.xz, data.tar.xz."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:xz") as tar:
        info = tarfile.TarInfo(MEMBER)
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    deb = tmp_path / "r-bioc-pkg_1.0-1_all.deb"
    parts = [ar_entry("debian-binary", b"2.0\n"), ar_entry("control.tar.xz", b"xyz"),
             ar_entry("data.tar.xz", data.getvalue())]  # fmt: skip
    deb.write_bytes(b"!<arch>\n" + b"".join(parts))
    return deb


def test_a_deb_member_is_fetched_and_checked(tmp_path: Path) -> None:
    payload = b"odd-sized payload\n"
    deb = fake_deb(tmp_path, payload)
    assert sorted(ar_members(deb)) == ["control.tar.xz", "data.tar.xz", "debian-binary"]
    assert data_tar(deb).extractfile(MEMBER).read() == payload  # type: ignore[union-attr]
    entry = datasets.Dataset(
        name="tinydeb", description="test", label_key="t", n_cells=1, n_classes=1,
        values="counts", taxon="mouse", file_sha256=hashlib.sha256(payload).hexdigest(),
        package="r-bioc-pkg", version="1.0-1",
        wheel_sha256=hashlib.sha256(deb.read_bytes()).hexdigest(), members=(MEMBER,),
        layout="rda", archive="deb",
    )  # fmt: skip

    def download(package: str, version: str, dest: Path) -> Path:
        assert (package, version) == ("r-bioc-pkg", "1.0-1")
        (dest / deb.name).write_bytes(deb.read_bytes())
        return dest / deb.name

    target = datasets.fetch_into(entry, tmp_path / "cache", download)
    assert target.name == "tinydeb.rda" and target.read_bytes() == payload
    wrong = datasets.Dataset(**{**entry.__dict__, "wheel_sha256": "0" * 64})
    with pytest.raises(IntegrityError, match=r"deb r-bioc-pkg_1\.0-1_all\.deb"):
        datasets.fetch_into(wrong, tmp_path / "bad", download)
    assert not list((tmp_path / "bad").glob("tinydeb*"))


def test_a_file_that_is_not_a_deb_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "x.deb"
    bogus.write_bytes(b"PK\x03\x04 not an ar archive")
    with pytest.raises(GenekbError, match="not a Debian package"):
        data_tar(bogus)


def test_rda_pair_refuses_a_phenotype_table_without_the_label(tmp_path: Path) -> None:
    import rdata

    pheno = tmp_path / "pheno.rda"
    rdata.write_rda(str(pheno), {"pheno": pd.DataFrame({"Hours": ["0", "24"]}, index=["a", "b"])})
    with pytest.raises(GenekbError, match="no data frame with a column 'age'"):
        read_rda_pair(tmp_path / "matrix.rda", pheno, "age")


@pytest.mark.slow
def test_real_download_of_the_debian_datasets(tmp_path: Path) -> None:
    """HSMM (an .rda matrix and sample sheet), Treutlein's lung cells (monocle's .RData files)
    and decoupleR's PBMCs (a Seurat .rds); skipped when Debian's archive cannot be reached."""
    shapes = {
        "treutlein2014-lung-185": (185, 218),
        "decoupler-pbmc-160": (160, 8674),
        "trapnell2014-hsmm-271": (271, 47192),
    }
    for name, shape in shapes.items():
        d = datasets.get(name)
        try:
            a = datasets.load(name, cache_dir=tmp_path)
        except GenekbError as exc:
            if "could not download" in str(exc) or "apt-get is needed" in str(exc):
                pytest.skip(f"no access to Debian's archive ({exc})")
            raise
        assert a.shape == shape and a.obs[d.label_key].nunique() == d.n_classes
        assert expression(a).kind == d.values
