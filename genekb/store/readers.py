"""One version of a store, read through its manifest: every file it hands out passed its hash.

`TextVersion` holds gene records and their texts; `EmbeddingVersion` holds one vector per gene.
Both are obtained from a `Store` (`store.text(ref)`, `store.embedding(ref)`), never built by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from genekb.encoders.base import EncoderSpec
from genekb.errors import GenekbError
from genekb.genemap import GeneIndex
from genekb.records import TAXA
from genekb.store import integrity, parquet_bytes
from genekb.store.fields import COPIED_FROM_TEXT
from genekb.store.manifest import MANIFEST

if TYPE_CHECKING:
    from genekb.store.store import Store

GENES_FILE, VECTORS_FILE = "genes.parquet", "vectors.parquet"


@dataclass
class Version:
    store: Store
    id: str
    path: Path
    manifest: dict[str, Any] = field(repr=False)

    kind = "version"
    data_file = ""

    @property
    def taxon(self) -> int:
        return int(self.manifest["taxon"])

    @property
    def created(self) -> str:
        return str(self.manifest.get("created", ""))

    def read_bytes(self, name: str) -> bytes:
        """A file of this version, checked against the manifest's sha256 (IntegrityError if not)."""
        return integrity.read_verified(self.path, self.manifest, name)

    def table(self, columns: Sequence[str] | None = None) -> pa.Table:
        """The version's Parquet table, decoded from bytes that passed their hash check."""
        return parquet_bytes.read_table(self.read_bytes(self.data_file), columns)

    def check(self) -> None:
        """Raise IntegrityError unless every file matches the manifest (cheap when unchanged)."""
        integrity.check_files(self.store.root, self.path, self.manifest)


@dataclass
class TextVersion(Version):
    kind = "text"
    data_file = GENES_FILE

    @property
    def template(self) -> str:
        return str(self.manifest["template"]["id"])

    def genes(self) -> pd.DataFrame:
        """The gene records with their `text` and `text_sha256`, one row per gene."""
        return self.table().to_pandas()


@dataclass
class EmbeddingVersion(Version):
    kind = "embedding"
    data_file = VECTORS_FILE

    @property
    def text_id(self) -> str:
        return str(self.manifest["text_id"])

    @property
    def text(self) -> TextVersion:
        if not self.store.has("text", self.text_id):
            raise integrity.damaged(self.path, f"its text version {self.text_id} is missing")
        return self.store.text(self.text_id)

    def check(self) -> None:
        """Raise IntegrityError unless this version's files and its text version's match their
        manifests: the vectors are keyed by the genes and texts of that version."""
        super().check()
        self.text.check()
        self.check_copied()

    def check_copied(self) -> None:
        """The facts this manifest repeats from its text version's (taxon, template) must be
        that version's: readers report and match genes by them."""
        text = self.text
        for name in COPIED_FROM_TEXT:
            if self.manifest.get(name) != text.manifest.get(name):
                raise integrity.damaged(
                    self.path / MANIFEST,
                    f"its {name} {self.manifest.get(name)!r} is not its text version's"
                    f" {text.manifest.get(name)!r}",
                )

    @property
    def spec(self) -> EncoderSpec:
        return EncoderSpec.from_dict(self.manifest["encoder"])

    @property
    def dim(self) -> int:
        return int(self.manifest["dim"])

    @property
    def tags(self) -> list[str]:
        return sorted(t for t, v in self.store.tags().items() if v == self.id)

    @property
    def tag(self) -> str | None:
        tags = self.tags
        return tags[0] if tags else None

    def genes(self) -> pd.DataFrame:
        return self.text.genes()

    @cached_property
    def _matrix(self) -> tuple[np.ndarray, np.ndarray]:
        table = self.table(["gene_id", "vector"])
        kind = table.schema.field("vector").type
        width = kind.list_size if pa.types.is_fixed_size_list(kind) else None
        if width != self.dim:  # the manifest's dim is what readers size their arrays by
            raise integrity.damaged(
                self.path / MANIFEST, f"its dim {self.dim} is not the vectors' width {width}"
            )
        ids = table.column("gene_id").to_numpy()
        flat = table.column("vector").combine_chunks().flatten().to_numpy(zero_copy_only=False)
        return ids.astype(np.int64), flat.astype(np.float32).reshape(len(ids), self.dim)

    def matrix(self) -> tuple[np.ndarray, np.ndarray]:
        """(gene ids, float32 vectors of shape (n_genes, dim)), in the stored order."""
        return self._matrix

    def vectors(self, genes: Sequence[int | str]) -> tuple[np.ndarray, np.ndarray]:
        """Vectors for `genes` (GeneIDs, or names resolved by symbol/alias/Ensembl) and found-mask.

        Rows of genes that are not in this version are zero.
        """
        _, matrix = self.matrix()
        rows = self.rows_of(genes)
        found = rows >= 0
        out = np.zeros((len(rows), self.dim), dtype=np.float32)
        out[found] = matrix[rows[found]]
        return out, found

    def rows_of(self, genes: Sequence[int | str]) -> np.ndarray:
        """Row of each gene (GeneID or name) in `matrix()`, -1 where absent."""
        ids, _ = self.matrix()
        row_of = {int(g): i for i, g in enumerate(ids)}
        if len(genes) and not all(isinstance(g, (int, np.integer)) for g in genes):
            from genekb.snapshot_names import resolve_names, snapshot_index

            columns = ["gene_id", "symbol", "aliases", "ensembl"]
            own = GeneIndex.from_frame(self.text.table(columns).to_pandas())
            snapshot = snapshot_index(self.text.manifest.get("source") or {}, self.taxon)
            wanted = [g for g, _ in resolve_names([str(g) for g in genes], own, snapshot)]
        else:
            wanted = [int(g) for g in genes]
        return np.array([row_of.get(g, -1) for g in wanted], dtype=np.int64)


def check_one_taxon(versions: Sequence[EmbeddingVersion], action: str) -> None:
    """Refuse to read `versions` side by side, gene by gene, unless they are of one taxon: their
    genes are matched by id, and ids of two species (or a given-text version's own numbers, taxon
    1) are other genes under the same numbers, so the result would be a silent mix."""
    first = versions[0]
    other = next((v for v in versions if v.taxon != first.taxon), None)
    if other is not None:
        names = {number: f"{number} ({name})" for name, number in TAXA.items()}
        raise GenekbError(
            f"{first.tag or first.id} is of taxon {names.get(first.taxon, first.taxon)} and"
            f" {other.tag or other.id} of taxon {names.get(other.taxon, other.taxon)}: their gene"
            f" ids name different genes; {action} versions of one species"
        )
