"""Streaming one NCBI Gene bulk file (`gene_info`, `gene2go`, `gene_orthologs`): the header
checked, the data lines of the wanted taxa yielded, and the file's sha256 and row counts recorded.

The files are tab-separated with a `#`-prefixed header line, gzip-compressed or plain (the gzip
magic bytes decide, not the file name). They are read line by line and filtered by taxon while
streaming, so an 8 GB `gene_info.gz` of all organisms never sits in memory; each file's sha256 is
computed over the same single pass.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO

from genekb.errors import GenekbError
from genekb.sniff import GZIP_MAGIC, binary_kind


@dataclass
class FileDigest:
    """What a snapshot records about one input file."""

    role: str  # "gene_info", "gene2go" or "gene_orthologs"
    file: str
    sha256: str = ""
    bytes: int = 0
    rows_read: int = 0  # data lines seen, all taxa
    rows_kept: int = 0  # data lines of the wanted taxon (or taxon pair)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)  # every field, in declaration order


class _HashingReader(io.RawIOBase):
    """A raw byte stream that feeds every byte it reads into a sha256 (one pass, any file size)."""

    def __init__(self, handle: IO[bytes], digest: FileDigest) -> None:
        self._handle = handle
        self._digest = digest
        self._sha = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._handle.read(len(buffer))
        buffer[: len(data)] = data
        self._sha.update(data)
        self._digest.bytes += len(data)
        return len(data)

    def finish(self) -> None:
        # gzip can stop before trailing bytes; the recorded hash must cover the whole file.
        while block := self._handle.read(1 << 20):
            self._sha.update(block)
            self._digest.bytes += len(block)
        self._digest.sha256 = self._sha.hexdigest()


@dataclass
class NcbiRows:
    """Streams one NCBI table: checks the header, yields (line number, fields) for the data lines
    of the wanted taxa (by the row's own tax_id) and counts what it read and kept."""

    path: Path
    role: str
    columns: tuple[str, ...]  # expected header, in NCBI's order
    needed: tuple[str, ...]  # columns the caller reads; the header must name these
    taxa: tuple[int, ...]
    digest: FileDigest = field(init=False)
    index: dict[str, int] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        # a pipe's name (/dev/fd/63, another number next time) says nothing of its bytes and
        # would give the same bytes another snapshot, so another text version id
        name = f"{self.role} from a pipe" if self.path.is_fifo() else self.path.name
        self.digest = FileDigest(self.role, name)

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        # a pipe (`gene_info=<(zcat …)`) streams as a file does: it is read once, in order
        if not (self.path.is_file() or self.path.is_fifo()):
            raise GenekbError(f"{self.role} file not found: {self.path}; check the path")
        with self.path.open("rb") as raw:
            head = raw.peek(64)[:64]  # read without taking: a pipe cannot seek back
            compressed = head.startswith(GZIP_MAGIC)
            self._refuse_container(head)
            reader = _HashingReader(raw, self.digest)
            buffered = io.BufferedReader(reader, buffer_size=1 << 20)
            binary: IO[bytes] = gzip.GzipFile(fileobj=buffered) if compressed else buffered
            # utf-8-sig: a BOM (a spreadsheet's save) would hide the header's '#'; bad bytes
            # become U+FFFD, refused by line in _lines rather than embedded as text.
            text = io.TextIOWrapper(binary, encoding="utf-8-sig", errors="replace", newline="\n")
            try:
                yield from self._lines(text)
            except (OSError, EOFError, zlib.error) as exc:
                raise GenekbError(
                    f"{self.path} is not a readable {self.role} file ({exc}); "
                    "download it again from ftp.ncbi.nlm.nih.gov/gene/DATA"
                ) from exc
            reader.finish()

    def _refuse_container(self, head: bytes) -> None:
        """An xz, bzip2 or zip download (or a workbook) was read as text: its header showed as
        binary noise, "not an NCBI file". gzip, NCBI's own packing, is read."""
        found = None if head.startswith(GZIP_MAGIC) else binary_kind(head)
        if found:
            kind, todo = found
            raise GenekbError(
                f"{self.path} is {kind}, not a {self.role} file; {todo}, or give NCBI's"
                f" {self.role}.gz as downloaded"
            )

    def _lines(self, text: IO[str]) -> Iterator[tuple[int, list[str]]]:
        header = text.readline().rstrip("\r\n")
        self.index = self._check_header(header)
        width, tax_column = len(self.index), self.index["tax_id"]
        wanted = {str(taxon) for taxon in self.taxa}
        # tax_id leads every NCBI gene file: a prefix test skips other organisms' lines unsplit.
        prefixes = tuple(f"{taxon}\t" for taxon in self.taxa) if tax_column == 0 else ("",)
        for number, line in enumerate(text, start=2):
            if line.startswith("#") or not line.strip():
                continue
            self.digest.rows_read += 1
            if not line.startswith(prefixes):
                continue
            fields = line.rstrip("\r\n").split("\t")
            if len(fields) < width:
                raise GenekbError(
                    f"{self.path} line {number} has {len(fields)} tab-separated fields, the header "
                    f"{width}; the file is truncated or not an NCBI {self.role} file"
                )
            if fields[tax_column].strip() not in wanted:
                continue
            if any(extra.strip() for extra in fields[width:]):  # the fields after it shifted
                raise GenekbError(
                    f"{self.path} line {number} has {len(fields)} tab-separated fields, the"
                    f" header {width}: a field holds a tab (quoted by a spreadsheet?); give the"
                    f" {self.role} file as NCBI wrote it"
                )
            if "\ufffd" in line:
                raise GenekbError(
                    f"{self.path} line {number} is not UTF-8 text; save the file as UTF-8"
                    " (from Latin-1: `iconv -f latin1 -t utf-8`)"
                )
            self.digest.rows_kept += 1
            yield number, fields

    def _check_header(self, header: str) -> dict[str, int]:
        names = _header_names(header)
        missing = [name for name in self.needed if name not in names]
        if not header.startswith("#") or missing:
            shown = header if len(header) <= 120 else header[:117] + "..."
            raise GenekbError(
                f"{self.path} is not an NCBI {self.role} file: its header is {shown!r}; expected "
                f"'#{' '.join(self.columns[:4])} ...' (missing {', '.join(missing) or '#'})"
            )
        return {name: position for position, name in enumerate(names)}


def _header_names(header: str) -> list[str]:
    """Column names of an NCBI header line, either the current tab-separated
    `#tax_id<TAB>GeneID...` or the older `#Format: tax_id GeneID ... (tab is used as a separator,
    pound sign - start of a comment)`."""
    body = header.lstrip("#").strip()
    if body.startswith("Format:"):
        body = body.removeprefix("Format:").split("(", 1)[0]
        return body.split()
    return [name.strip() for name in body.split("\t")]
