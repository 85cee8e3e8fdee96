"""Long texts in windows: no silent truncation.

A text longer than the encoder's `max_length` tokens is cut at line and sentence ends into windows
that each fit (a sentence longer than a window is cut between words); every window is embedded and
the text's vector is the mean of its windows' vectors weighted by their token counts, then
L2-normalised. A text that fits is one window, embedded exactly as without windows. The spec says
`long_text="windows"`, so windowed vectors have their own spec hash and version ids; each gene's
window count is stored in the `n_windows` column of vectors.parquet.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from genekb.encoders.base import Encoder, Progress, l2_normalize

WINDOWS = "windows"
_SENTENCE_END = re.compile(r"(?<=[.;])\s+|\n+")


def _pieces(text: str) -> list[str]:
    return [p for p in _SENTENCE_END.split(text) if p.strip()]


class WindowedEncoder(Encoder):
    """Wraps a loaded encoder; same spec (with long_text="windows"), same dim."""

    def __init__(self, inner: Encoder) -> None:
        super().__init__(inner.spec.with_(long_text=WINDOWS))
        self.inner = inner

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self.inner.count_tokens(texts)

    def split(self, text: str) -> list[str]:
        """Consecutive windows of `text`, each within max_length tokens."""
        limit = self.inner.spec.max_length
        if self.inner.count_tokens([text])[0] <= limit:
            return [text]
        windows: list[str] = []
        current = ""
        for piece in self._fitting(_pieces(text), limit):
            joined = f"{current} {piece}".strip()
            if current and self.inner.count_tokens([joined])[0] > limit:
                windows.append(current)
                joined = piece
            current = joined
        return [*windows, current] if current else windows

    def _fitting(self, pieces: list[str], limit: int) -> list[str]:
        """The pieces, each over-long one cut between words into parts that fit."""
        out: list[str] = []
        for piece, n in zip(pieces, self.inner.count_tokens(pieces), strict=True):
            if n <= limit:
                out.append(piece)
                continue
            words = piece.split()
            step = max(1, int(len(words) * (limit - 8) / n))  # words per part, with margin
            while step > 1 and any(
                c > limit
                for c in self.inner.count_tokens(
                    [" ".join(words[i : i + step]) for i in range(0, len(words), step)]
                )
            ):
                step = max(1, step * 3 // 4)
            out += [" ".join(words[i : i + step]) for i in range(0, len(words), step)]
        return out

    def windows(self, texts: Sequence[str], counts: Sequence[int]) -> list[int]:
        limit = self.inner.spec.max_length
        return [1 if n <= limit else len(self.split(t)) for t, n in zip(texts, counts, strict=True)]

    def truncated(self, counts: Sequence[int]) -> list[bool]:
        return [False] * len(counts)

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: Progress | None = None
    ) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        step = max(batch_size * 8, 256)  # texts per round, so progress is reported as it goes
        for start in range(0, len(texts), step):
            chunk = texts[start : start + step]
            out[start : start + len(chunk)] = self._pooled(chunk, batch_size)
            if progress:
                progress(len(chunk))
        return out

    def _pooled(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        """Each text's windows embedded, then averaged with weights = their token counts."""
        parts: list[str] = []
        owner: list[int] = []
        for i, text in enumerate(texts):
            split = self.split(text)
            parts += split
            owner += [i] * len(split)
        vectors = self.inner.encode(parts, batch_size=batch_size).astype(np.float64)
        weights = np.asarray(self.inner.count_tokens(parts), np.float64)
        pooled = np.zeros((len(texts), vectors.shape[1]), np.float64)
        totals = np.zeros(len(texts), np.float64)
        np.add.at(pooled, np.asarray(owner), vectors * weights[:, None])
        np.add.at(totals, np.asarray(owner), weights)
        pooled /= np.maximum(totals, 1.0)[:, None]
        return l2_normalize(pooled) if self.spec.normalize else pooled.astype(np.float32)

    def close(self) -> None:
        self.inner.close()
