"""Hugging Face encoders with pooling: `biobert`, `pubmedbert`, `scibert` and any `hf:PATH_OR_ID`.

A model loads from, in order: the directory `model_id` names; `models_home()/hf/<org>--<name>`
(where a user puts a downloaded copy for offline use); the hub at the spec's pinned revision
(the local Hugging Face cache when HF_HUB_OFFLINE=1). Texts are tokenized once, sorted by length
and padded per batch on the right; vectors are the masked mean of the last hidden state (or the
[CLS] / last real token, as the spec's pooling says), computed in float32.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from genekb.encoders.base import (
    Encoder,
    EncoderSpec,
    Progress,
    l2_normalize,
)
from genekb.encoders.packaged import models_home, sha256_file
from genekb.encoders.registry import default_device
from genekb.encoders.runtime import (
    POOLINGS,
    canonical_dtype,
    compute_context,
    encoding_threads,
    pinned_threads,
    quiet_transformers,
)
from genekb.errors import GenekbError, UsageError

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def hub_dir_name(model_id: str) -> str:
    return model_id.strip("/").replace("/", "--")


def user_model_dir(model_id: str) -> Path:
    """Where an offline copy of hub model `model_id` is looked for."""
    return models_home() / "hf" / hub_dir_name(model_id)


def looks_like_path(model_id: str) -> bool:
    return model_id.startswith(("/", "./", "../", "~")) or Path(model_id).expanduser().exists()


def local_weights(model_dir: Path) -> Path | None:
    return next((model_dir / n for n in WEIGHT_FILES if (model_dir / n).is_file()), None)


def cached_hub_file(model_id: str, revision: str | None, filename: str) -> Path | None:
    """A file of a hub model in the local HF cache, without touching the network."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(model_id, filename, revision=revision)
    return Path(found) if isinstance(found, str) else None


def locate_model(spec: EncoderSpec) -> tuple[str, Path | None]:
    """(what to pass to from_pretrained, the local directory if there is one)."""
    if looks_like_path(spec.model_id):
        path = Path(spec.model_id).expanduser()
        if not (path / "config.json").is_file():
            raise GenekbError(f"no Hugging Face model (config.json) in {path}; check the path")
        return str(path), path
    user_dir = user_model_dir(spec.model_id)
    if (user_dir / "config.json").is_file():
        return str(user_dir), user_dir
    return spec.model_id, None


def not_available_message(spec: EncoderSpec) -> str:
    rev = f" --revision {spec.revision}" if spec.revision else ""
    return (
        f"encoder {spec.name!r}: model {spec.model_id} is not available offline; download it with"
        f" `hf download {spec.model_id}{rev} --local-dir"
        f" {user_model_dir(spec.model_id)}` or pass hf:/path/to/model"
    )


class TransformersEncoder(Encoder):
    """AutoModel + AutoTokenizer with masked pooling over the last hidden state."""

    def __init__(self, spec: EncoderSpec, device: str | None) -> None:
        if spec.pooling not in POOLINGS:
            raise UsageError(
                f"encoder {spec.name!r}: pooling {spec.pooling!r} is not one of"
                f" {', '.join(sorted(POOLINGS))}"
            )
        canonical_dtype(spec.dtype)
        pinned_threads()  # GENEKB_THREADS checked before the load; set only while encoding
        self.device = device or default_device()
        with quiet_transformers():
            self.tokenizer, self.model, weights_sha = self.load_model(spec)
        if spec.weights_sha256 and weights_sha and weights_sha != spec.weights_sha256:
            raise GenekbError(
                f"weights of {spec.name!r} have sha256 {weights_sha}, expected"
                f" {spec.weights_sha256}; re-download the model"
            )
        # Right padding: real tokens keep positions 0..n-1 and, in a causal model, never see pads.
        self.tokenizer.padding_side = "right"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token or self.tokenizer.unk_token
        self.model.eval().to(self.device)
        dim = int(self.model.config.hidden_size)
        # A generic spec's default max_length may exceed a small model's positions: clamp it.
        max_length = min(spec.max_length, self.max_positions())
        if spec.dim is not None and spec.dim != dim:
            raise GenekbError(
                f"encoder {spec.name!r} gives {dim}-d vectors, its spec says {spec.dim}"
            )
        super().__init__(
            spec.with_(
                dim=dim, max_length=max_length, weights_sha256=spec.weights_sha256 or weights_sha
            )
        )

    def max_positions(self) -> int:
        """The longest input the model takes: the tokenizer's limit if set, else the config's."""
        limits = [getattr(self.model.config, "max_position_embeddings", None)]
        limits.append(getattr(self.tokenizer, "model_max_length", None))
        usable = [int(n) for n in limits if isinstance(n, int) and 0 < n < 1_000_000]
        return min(usable) if usable else 1_000_000

    def load_model(self, spec: EncoderSpec) -> tuple[Any, Any, str | None]:
        from transformers import AutoModel, AutoTokenizer

        source, local_dir = locate_model(spec)
        revision = None if local_dir is not None else spec.revision
        try:
            tokenizer = AutoTokenizer.from_pretrained(source, revision=revision)
            model = AutoModel.from_pretrained(source, revision=revision)
        except (OSError, ValueError) as exc:  # missing files; a config transformers cannot read
            if local_dir is None and isinstance(exc, OSError):
                raise GenekbError(not_available_message(spec)) from None
            raise GenekbError(f"cannot load Hugging Face model {source}: {exc}") from None
        if local_dir is not None:
            weights = local_weights(local_dir)
        else:
            weights = next(
                (p for n in WEIGHT_FILES if (p := cached_hub_file(source, revision, n))), None
            )
        return tokenizer, model, sha256_file(weights) if weights else None

    def _tokenize(self, texts: Sequence[str], truncate: bool) -> list[list[int]]:
        prompted = [self.spec.prompt + t for t in texts]
        kwargs: dict[str, Any] = {"add_special_tokens": True}
        if truncate:
            kwargs |= {"truncation": True, "max_length": self.spec.max_length}
        return list(self.tokenizer(prompted, **kwargs)["input_ids"])

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(ids) for ids in self._tokenize(texts, truncate=False)]

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: Progress | None = None
    ) -> np.ndarray:
        import torch

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        # Tokenized once (batches are only padded); no texts, no tokenizer call.
        ids = self._tokenize(texts, truncate=True) if texts else []
        batches = self._batches([len(x) for x in ids], batch_size)
        pool = POOLINGS[self.spec.pooling]
        with (
            torch.inference_mode(),
            encoding_threads(),
            compute_context(self.device, self.spec.dtype),
        ):
            for idx in batches:
                padded = self.tokenizer.pad(
                    {"input_ids": [ids[i] for i in idx]}, padding=True, return_tensors="pt"
                )
                mask = padded["attention_mask"].to(self.device)
                hidden = self.model(
                    input_ids=padded["input_ids"].to(self.device), attention_mask=mask
                ).last_hidden_state
                out[idx] = pool(hidden.float(), mask).cpu().numpy()
                if progress:
                    progress(len(idx))
        return l2_normalize(out) if self.spec.normalize else out

    def close(self) -> None:
        self.model = None


def load(spec: EncoderSpec, device: str | None) -> Encoder:
    return TransformersEncoder(spec, device)
