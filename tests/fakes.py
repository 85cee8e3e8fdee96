"""Stand-ins for tests: a genekb store's embedding version (for code that only reads one), and
the reply of the local HTTP servers that play remote services."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import numpy as np
import pandas as pd

from genekb.encoders.base import EncoderSpec
from genekb.linalg import l2_normalize


@dataclass
class FakeStore:
    root: Path


class FakeEmbedding:
    """The store's embedding-version contract, backed by arrays."""

    def __init__(self, root: Path, symbols: list[str], dim: int = 16) -> None:
        self.store = FakeStore(root)
        self.id, self.text_id, self.tag, self.taxon, self.dim = (
            "emb-1",
            "txt-1",
            "t/x/fake",
            9606,
            dim,
        )
        self.spec = EncoderSpec(name="fake", backend="sentence-transformers", model_id="f", dim=dim)
        self.ids = np.arange(1000, 1000 + len(symbols), dtype=np.int64)
        rng = np.random.default_rng(7)
        common = rng.standard_normal(dim) * 3  # an anisotropic shared direction, like text vectors
        self.vectors = l2_normalize(
            (rng.standard_normal((len(symbols), dim)) + common).astype(np.float32)
        )
        self.frame = pd.DataFrame(
            {
                "gene_id": self.ids,
                "symbol": symbols,
                "aliases": [[] for _ in symbols],
                "ensembl": [[] for _ in symbols],
                "text": symbols,
            }
        )

    def genes(self) -> pd.DataFrame:
        return self.frame

    def matrix(self) -> tuple[np.ndarray, np.ndarray]:
        return self.ids, self.vectors


def send_reply(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: bytes,
    headers: Mapping[str, str] | None = None,
) -> None:
    """Answer a test server's request: the status, `headers`, a Content-Length, then `body`."""
    handler.send_response(status)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


@dataclass
class OneVersionStore:
    """A store whose one embedding version is `ev` (asked for by its id)."""

    root: Path
    ev: FakeEmbedding

    def embedding(self, ref: str) -> FakeEmbedding:
        assert ref == self.ev.id
        return self.ev
