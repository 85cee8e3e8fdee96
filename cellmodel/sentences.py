"""The sentence path (Cell2Sentence / GenePT-s): each cell's top-N genes, by a named ranking,
joined by spaces and embedded by the store's encoder.

Sentence vectors are cached per (encoder spec hash, sentence sha256) in SQLite under
`<store root>/cache/sentences/`, so a rerun embeds nothing. Gene-vector controls reach this path
through the gene names (`cellmodel.semantic.control_symbols`).
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from cellmodel._settings import DEFAULT_N_HVG
from cellmodel.semantic import StageProgress, check_choice, highly_variable_weights
from genekb.encoders.base import Encoder, EncoderSpec
from genekb.errors import GenekbWarning, warn

RANKINGS: dict[str, str] = {
    "expression": "highest normalized expression first (GenePT-s, Cell2Sentence)",
    "relative": "highest expression above the gene's mean over cells first (log fold change vs"
    " the average cell), so housekeeping and ribosomal genes drop out",
    "hvg": "highest expression first among the highly variable genes only (the genes the 'hvg'"
    " weightings use), so genes expressed alike in every cell never fill a sentence",
}
CACHE_BATCH = 256


def ranking_scores(X: Any, ranking: str = "expression") -> sp.csr_matrix:
    """Per-cell scores of expressed genes under a named ranking (same sparsity as X)."""
    check_choice("ranking", ranking, RANKINGS)
    S = sp.csr_matrix(X, dtype=np.float32, copy=True)
    S.eliminate_zeros()
    if ranking == "relative":
        mean = np.asarray(S.mean(axis=0)).ravel().astype(np.float32)
        S.data = S.data - mean[S.indices]
    return S


def top_genes(
    scores: sp.csr_matrix, usable: np.ndarray, top_n: int, tie_rank: np.ndarray | None = None
) -> list[np.ndarray]:
    """Per cell, the column indices of its `top_n` best-scored usable genes, best first; tied
    scores in the order of `tie_rank` (one number per gene; default: the column)."""
    keep = usable[scores.indices]
    rank = np.arange(scores.shape[1]) if tie_rank is None else np.asarray(tie_rank)
    out: list[np.ndarray] = []
    for c in range(scores.shape[0]):
        lo, hi = scores.indptr[c], scores.indptr[c + 1]
        cols, vals = scores.indices[lo:hi][keep[lo:hi]], scores.data[lo:hi][keep[lo:hi]]
        # A total order (score, then tie rank) even at the cut: expression values tie often, and
        # a partial sort would pick among tied genes by memory layout, changing cached sentences.
        order = np.lexsort((rank[cols], -vals))[:top_n]
        out.append(cols[order])
    return out


def cell_sentences(
    X: Any,
    symbols: Sequence[str | None],
    *,
    top_n: int = 32,
    ranking: str = "expression",
    n_hvg: int = DEFAULT_N_HVG,
) -> list[str]:
    """Each cell's top-N genes (by `ranking`) as a space-separated sentence of symbols.

    Genes without a symbol (unmatched) never enter a sentence.
    """
    usable = np.array([s is not None and s != "" for s in symbols], dtype=bool)
    names = np.array([s if s else "" for s in symbols], dtype=object)
    if ranking == "hvg":
        usable &= highly_variable_weights(X, n_hvg, candidates=usable)
    # Tied genes in the order of their symbols, not of the columns: the same cells with their
    # genes in another order (another file's layout) make the same sentences.
    tie_rank = np.unique(names.astype(str), return_inverse=True)[1]
    tops = top_genes(
        ranking_scores(X, "expression" if ranking == "hvg" else ranking), usable, top_n, tie_rank
    )
    return [" ".join(names[cols]) for cols in tops]


def sentence_sha256(sentence: str) -> str:
    return hashlib.sha256(sentence.encode()).hexdigest()


class SentenceCache:
    """Sentence vectors in SQLite, keyed by (encoder spec sha256, sentence sha256).

    It only saves work: when the disk fails under it (full, read-only, an I/O error) the run
    goes on without it, with one warning naming the cache, rather than failing the command."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.broken = False
        with self._failing_softly("open"):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with closing(self._connect()) as db, db:
                db.execute(
                    "CREATE TABLE IF NOT EXISTS sentence_vectors (spec_sha256 TEXT NOT NULL,"
                    " sentence_sha256 TEXT NOT NULL, dim INTEGER NOT NULL, vector BLOB NOT NULL,"
                    " PRIMARY KEY (spec_sha256, sentence_sha256))"
                )

    @contextlib.contextmanager
    def _failing_softly(self, doing: str) -> Iterator[None]:
        try:
            yield
        except (sqlite3.Error, OSError) as exc:
            if not self.broken:
                warn(
                    GenekbWarning(
                        f"cannot {doing} the sentence cache {self.path} ({exc}); going on"
                        " without it (sentences are embedded again next time)"
                    ),
                )
            self.broken = True

    @classmethod
    def under(cls, root: str | Path) -> SentenceCache:
        return cls(Path(root) / "cache" / "sentences" / "sentences.sqlite")

    def _connect(self) -> sqlite3.Connection:
        # Several processes may share a store root: wait for their writes instead of failing.
        db = sqlite3.connect(self.path, timeout=60)
        db.execute("PRAGMA journal_mode=WAL")
        return db

    def get(self, spec_sha: str, keys: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        if self.broken:
            return found
        with self._failing_softly("read"), closing(self._connect()) as db:
            for start in range(0, len(keys), 500):
                chunk = list(keys[start : start + 500])
                marks = ",".join("?" * len(chunk))
                rows = db.execute(
                    "SELECT sentence_sha256, dim, vector FROM sentence_vectors"
                    f" WHERE spec_sha256 = ? AND sentence_sha256 IN ({marks})",
                    [spec_sha, *chunk],
                )
                for key, dim, blob in rows:
                    found[key] = np.frombuffer(blob, dtype=np.float32, count=dim).copy()
        return found

    def put(self, spec_sha: str, items: dict[str, np.ndarray]) -> None:
        if self.broken:
            return
        with self._failing_softly("write"), closing(self._connect()) as db, db:
            db.executemany(
                "INSERT OR REPLACE INTO sentence_vectors VALUES (?, ?, ?, ?)",
                [
                    (spec_sha, k, int(v.shape[0]), np.asarray(v, np.float32).tobytes())
                    for k, v in items.items()
                ],
            )

    def count(self, spec_sha: str | None = None) -> int:
        with closing(self._connect()) as db:
            if spec_sha is None:
                return int(db.execute("SELECT COUNT(*) FROM sentence_vectors").fetchone()[0])
            return int(
                db.execute(
                    "SELECT COUNT(*) FROM sentence_vectors WHERE spec_sha256 = ?", [spec_sha]
                ).fetchone()[0]
            )


@dataclass
class SentenceStats:
    n_sentences: int
    n_unique: int
    n_cached: int
    n_embedded: int
    embed_seconds: float

    @property
    def sentences_per_second(self) -> float | None:
        return self.n_embedded / self.embed_seconds if self.embed_seconds > 0 else None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "n_sentences": self.n_sentences,
            "n_unique": self.n_unique,
            "n_cached": self.n_cached,
            "n_embedded": self.n_embedded,
            "embed_seconds": round(self.embed_seconds, 3),
        }
        if self.sentences_per_second is not None:
            out["sentences_per_second"] = round(self.sentences_per_second, 2)
        return out


def embed_sentences(
    sentences: Sequence[str],
    *,
    spec: EncoderSpec,
    load_encoder: Callable[[], Encoder],
    cache: SentenceCache | None,
    batch_size: int = CACHE_BATCH,
    progress: StageProgress | None = None,
) -> tuple[np.ndarray, SentenceStats]:
    """Vectors for `sentences`: cached ones read back, the rest embedded in batches and cached.

    The encoder is loaded only when something is missing from the cache. Each batch is written
    before the next starts, so an interrupted run resumes where it stopped.
    """
    spec_sha = spec.spec_sha256()
    keys = [sentence_sha256(s) for s in sentences]
    unique = list(dict.fromkeys(keys))
    text_of = dict(zip(keys, sentences, strict=True))
    vectors = cache.get(spec_sha, unique) if cache is not None else {}
    n_cached = len(vectors)
    missing = [k for k in unique if k not in vectors]
    seconds = 0.0
    if progress:
        progress("sentences", n_cached, len(unique))
    if missing:
        encoder = load_encoder()
        for start in range(0, len(missing), batch_size):
            batch = missing[start : start + batch_size]
            began = time.perf_counter()
            encoded = encoder.encode([text_of[k] for k in batch], batch_size=64)
            seconds += time.perf_counter() - began
            fresh = dict(zip(batch, encoded, strict=True))
            if cache is not None:
                cache.put(spec_sha, fresh)
            vectors.update(fresh)
            if progress:
                progress("sentences", n_cached + start + len(batch), len(unique))
    dim = next(iter(vectors.values())).shape[0] if vectors else int(spec.dim or 0)
    out = np.zeros((len(sentences), dim), dtype=np.float32)
    for i, k in enumerate(keys):
        out[i] = vectors[k]
    stats = SentenceStats(len(sentences), len(unique), n_cached, len(missing), seconds)
    return out, stats


# ------------------------------------------------------------------------------------- fusion
