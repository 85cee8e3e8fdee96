"""Debian packages as a pinned source of datasets: download one .deb, open its data archive.

Debian ships Bioconductor and CRAN data packages (`r-bioc-*`, `r-cran-*`) whose data/ and
extdata/ hold labelled single-cell objects. A .deb is an `ar` archive whose `data.tar.*` member
holds the installed files; `data_tar` opens that member as a tarfile, so the registry extracts a
file from a .deb as from an sdist. Nothing is installed: `apt-get download` only fetches.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

from genekb.errors import GenekbError

_AR_MAGIC = b"!<arch>\n"
_HEADER = 60  # bytes of one ar member header


def ar_members(path: Path) -> dict[str, tuple[int, int]]:
    """Each member of an `ar` archive: its name -> (offset of its data, size)."""
    out: dict[str, tuple[int, int]] = {}
    with path.open("rb") as f:
        if f.read(len(_AR_MAGIC)) != _AR_MAGIC:
            raise GenekbError(f"{path.name} is not a Debian package (no ar header)")
        while header := f.read(_HEADER):
            if len(header) < _HEADER:
                break
            name = header[:16].decode("ascii").strip().rstrip("/")
            size = int(header[48:58].decode("ascii").strip())
            out[name] = (f.tell(), size)
            f.seek(size + size % 2, io.SEEK_CUR)  # members are padded to an even size
    return out


def data_tar(path: Path) -> tarfile.TarFile:
    """The installed files of a .deb as an open tarfile (data.tar.xz, .gz or uncompressed)."""
    members = ar_members(path)
    names = [n for n in members if n.startswith("data.tar")]
    if not names:
        raise GenekbError(f"{path.name} has no data.tar member ({sorted(members)})")
    if names[0].endswith(".zst"):
        raise GenekbError(f"{path.name}: zstd-compressed data archives are not supported")
    offset, size = members[names[0]]
    with path.open("rb") as f:
        f.seek(offset)
        payload = io.BytesIO(f.read(size))  # data packages here are tens of MB at most
    return tarfile.open(fileobj=payload, mode="r:*")


def apt_download(package: str, version: str, dest: Path) -> Path:
    """Download `package=version` as a .deb into `dest` with `apt-get download` (no install)."""
    cmd = ["apt-get", "download", "-q", f"{package}={version}"]
    try:
        done = subprocess.run(
            cmd, cwd=dest, capture_output=True, text=True, timeout=900, check=False
        )
    except FileNotFoundError:
        raise GenekbError(f"apt-get is needed to download {package}={version}") from None
    except subprocess.TimeoutExpired:
        raise GenekbError(f"downloading {package}={version} took over 15 minutes; retry") from None
    found = sorted(dest.glob("*.deb"))
    if done.returncode != 0 or not found:
        last = (done.stderr.strip().splitlines() or ["nothing downloaded"])[-1]
        raise GenekbError(
            f"apt-get could not download {package}={version} ({last}); run `apt-get update` and"
            " check access to Debian's package archive"
        )
    return found[0]
