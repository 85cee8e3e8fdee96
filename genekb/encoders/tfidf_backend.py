"""TF-IDF + LSA: a text encoder with no neural model, fitted on the texts of its gene source.

Latent semantic analysis (Deerwester et al. 1990, JASIS 41:391): sublinear TF-IDF of the words of
every text, reduced by a truncated SVD (Halko et al. 2011 randomized solver, fixed seed) to a few
hundred dimensions, each vector L2-normalised. The recipe lives in the spec's `model_id`
(`tfidf-lsa:v1;dim=256;min_df=2;...`), so it is hashed into every version id; the fit (vocabulary,
IDF weights, SVD components) is made label-free from every text of the gene source under the
version's template (`genekb.build`), also when the version holds a gene list, and its sha256
becomes the spec's `weights_sha256`, so the version id covers the fit too. `fit_file()` gives the
fit itself, which the build stores beside the vectors.

Nothing is truncated: a text's vector uses all its words. `count_tokens` counts words.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from genekb.encoders.base import Encoder, EncoderSpec, Progress, l2_normalize
from genekb.errors import UsageError

BACKEND = "tfidf"
RECIPE_PREFIX = "tfidf-lsa:v1"
# Words that start with a letter; symbols and hyphenated names (CD3-epsilon) stay whole. The same
# pattern as the eval's bag-of-words control, so the two see the same words.
TOKEN_PATTERN = r"(?u)\b[A-Za-z][A-Za-z0-9-]+\b"
NO_LIMIT = 1_000_000  # max_length of a spec that never truncates
FIT_FILE = "tfidf_lsa_fit.npz"


def recipe_id(
    dim: int, min_df: int = 2, max_df: float = 0.5, seed: int = 0, n_iter: int = 7
) -> str:
    """The `model_id` that spells the whole fit recipe (parsed back by `parse_recipe`)."""
    return (
        f"{RECIPE_PREFIX};dim={dim};min_df={min_df};max_df={max_df};sublinear_tf=1;"
        f"svd_seed={seed};svd_iter={n_iter}"
    )


def parse_recipe(model_id: str) -> dict[str, Any]:
    head, *parts = model_id.split(";")
    if head != RECIPE_PREFIX:
        raise UsageError(f"{model_id!r} is not a {RECIPE_PREFIX} recipe")
    raw = dict(p.split("=", 1) for p in parts)
    return {
        "dim": int(raw["dim"]),
        "min_df": int(raw["min_df"]),
        "max_df": float(raw["max_df"]),
        "seed": int(raw["svd_seed"]),
        "n_iter": int(raw["svd_iter"]),
    }


class TfidfLsaEncoder(Encoder):
    """`fit(texts)` once (the text version's texts), then `encode` any texts with that fit."""

    def __init__(self, spec: EncoderSpec) -> None:
        super().__init__(spec)
        self.recipe = parse_recipe(spec.model_id)
        self.vectorizer: Any = None
        self.components: np.ndarray | None = None
        self._words = re.compile(TOKEN_PATTERN)

    @property
    def fitted(self) -> bool:
        return self.components is not None

    def fit(self, texts: Sequence[str]) -> EncoderSpec:
        """Fit vocabulary, IDF and SVD on `texts`; returns (and keeps) the spec with its hash."""
        from sklearn.decomposition import TruncatedSVD

        r = self.recipe
        # max_df is a share of the texts and min_df a count: below min_df / max_df texts no word
        # can pass both, and scikit-learn fails with its own wording; an LSA of the 2 dimensions
        # asked below needs 3 texts.
        least = max(3, int(np.ceil(r["min_df"] / r["max_df"])))
        if len(texts) < least:
            raise UsageError(
                f"{self.spec.name} fits its vocabulary on the source's texts and needs at"
                f" least {least} genes; {len(texts)} given: add genes or choose a neural"
                " encoder (--model)"
            )
        self.vectorizer = self._vectorizer()
        try:
            matrix = self.vectorizer.fit_transform(list(texts))
        except ValueError:  # every word pruned by min_df / max_df: scikit-learn's advice
            matrix = None  # names settings the recipe fixes
        dim = 0 if matrix is None else min(r["dim"], matrix.shape[1] - 1, matrix.shape[0] - 1)
        if dim < 2:
            raise UsageError(self._too_few_shared(len(texts), least))
        svd = TruncatedSVD(n_components=dim, n_iter=r["n_iter"], random_state=r["seed"])
        svd.fit(matrix)
        self.components = svd.components_.astype(np.float32)
        self.spec = self.spec.with_(dim=dim, weights_sha256=self.fit_sha256())
        return self.spec

    def _too_few_shared(self, n_texts: int, least: int) -> str:
        """Why no fit: the words an LSA keeps are those in at least min_df texts and at most a
        max_df share of them; a few short texts (cards without GO terms or summaries) share
        words with all or with none. No other recipe is tried: it is hashed into the id."""
        r = self.recipe
        return (
            f"{self.spec.name} fits its vocabulary on the words in at least {r['min_df']} and at"
            f" most {r['max_df']:.0%} of the source's gene texts, and the texts of these"
            f" {n_texts:,} genes have too few (it fits on as few as {least} genes only where"
            " their texts share words; in practice it needs a source of many genes with GO terms"
            " or summaries): add genes to the source, or choose another encoder with model="
            " (`genekb encoders` lists them)"
        )

    def _vectorizer(self) -> Any:
        from sklearn.feature_extraction.text import TfidfVectorizer

        r = self.recipe
        return TfidfVectorizer(
            sublinear_tf=True,
            min_df=r["min_df"],
            max_df=r["max_df"],
            token_pattern=TOKEN_PATTERN,
            dtype=np.float32,
        )

    def load_fit(self, files: dict[str, bytes]) -> TfidfLsaEncoder:
        """Take a fit stored by `fit_file()` (a version's, read through its hash check); its
        content must hash to the spec's `weights_sha256`."""
        with np.load(io.BytesIO(files[FIT_FILE]), allow_pickle=False) as fit:
            vocabulary = [str(w) for w in fit["vocabulary"]]
            idf, components = fit["idf"], fit["components"]
        self.vectorizer = self._vectorizer()
        self.vectorizer.vocabulary_ = {w: i for i, w in enumerate(vocabulary)}
        self.vectorizer.idf_ = idf
        self.components = components
        if self.fit_sha256() != self.spec.weights_sha256:
            raise UsageError(f"{self.spec.name}: the stored fit is not the one its spec names")
        return self

    def _vocabulary(self) -> list[str]:
        return [str(w) for w in self.vectorizer.get_feature_names_out()]

    def fit_sha256(self) -> str:
        """sha256 over the fit's content (vocabulary in order, IDF, components), not a file's."""
        assert self.components is not None
        digest = hashlib.sha256(json.dumps(self._vocabulary()).encode())
        digest.update(self.vectorizer.idf_.astype(np.float32).tobytes())
        digest.update(self.components.tobytes())
        return digest.hexdigest()

    def fit_file(self) -> dict[str, bytes]:
        """The fit as one .npz (vocabulary, idf, components), to store beside the vectors."""
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            vocabulary=np.array(self._vocabulary()),
            idf=self.vectorizer.idf_.astype(np.float32),
            components=self.components,
        )
        return {FIT_FILE: buffer.getvalue()}

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(self._words.findall(t)) for t in texts]

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: Progress | None = None
    ) -> np.ndarray:
        if not self.fitted:
            raise UsageError(f"{self.spec.name} encodes only after fit() on a version's texts")
        assert self.components is not None
        out = np.zeros((len(texts), self.components.shape[0]), np.float32)
        step = max(batch_size, 4096)  # sparse products are cheap; large chunks bound memory
        for start in range(0, len(texts), step):
            chunk = list(texts[start : start + step])
            out[start : start + len(chunk)] = self.vectorizer.transform(chunk) @ self.components.T
            if progress:
                progress(len(chunk))
        return l2_normalize(out) if self.spec.normalize else out


def load(spec: EncoderSpec, device: str | None = None) -> TfidfLsaEncoder:
    """An unfitted encoder (the device is ignored: sparse algebra on the CPU)."""
    return TfidfLsaEncoder(spec)


def needs_fit(spec: EncoderSpec) -> bool:
    return spec.backend == BACKEND
