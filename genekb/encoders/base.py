"""What every encoder backend provides: a frozen spec, token counting and batched encoding."""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from genekb.linalg import l2_normalize  # noqa: F401 (the backends import it from here)

Progress = Callable[[int], None]  # called with the number of texts just finished
# (texts to embed, vectors reused, each text's cost in encoding order) -> a Progress, or None
ProgressFactory = Callable[[int, int, Sequence[float]], Progress | None]


_HASHED_WHEN_SET = ("endpoint",)


@dataclass(frozen=True)
class EncoderSpec:
    """Everything that determines the vectors an encoder produces.

    Two specs with the same `spec_sha256()` give the same vectors for the same text, so vectors are
    reused across builds by (spec hash, text hash). `name` is only a label and is not hashed.
    """

    name: str
    backend: str  # key of BACKENDS: "sentence-transformers", "hf", "decoder", "openai", "onnx"
    model_id: str  # hub id, local path, or API model name
    dim: int | None = None  # None until known (generic specs learn it on load)
    revision: str | None = None  # pinned hub revision, when loaded from a hub
    weights_sha256: str | None = None  # sha256 of the weights file actually loaded
    pooling: str = (
        "mean"  # "mean" (masked), "cls", "last" (last real token), "model" (backend's own)
    )
    normalize: bool = True  # L2-normalise each vector
    max_length: int = 256  # tokens, including special tokens; longer texts are truncated
    prompt: str = ""  # prepended to every text (instruction-tuned models)
    dtype: str = "float32"  # compute dtype; stored vectors are always float32
    # A named quantization recipe (onnx backend: "int8-dynamic"); "none" keeps the weights as they
    # are and, like any default here, is left out of the hash so older specs keep their ids.
    quantization: str = "none"
    # "truncate": text past max_length is cut (the build counts how many); "windows": long texts
    # are embedded in windows and pooled (genekb.encoders.windows). The default is left out of the
    # hash, so versions built before this field keep their ids.
    long_text: str = "truncate"
    description: str = ""
    # Remote backends: the server that computes the vectors (None: the backend's default).
    endpoint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EncoderSpec:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def hashed_fields(self) -> dict[str, Any]:
        fields = self.to_dict()
        for label_only in ("name", "description"):
            fields.pop(label_only)
        if fields["quantization"] == "none":
            fields.pop("quantization")
        if fields["long_text"] == "truncate":
            fields.pop("long_text")
        for optional in _HASHED_WHEN_SET:  # unset, they leave existing version ids unchanged
            if fields.get(optional) is None:
                fields.pop(optional, None)
        return fields

    def learned_fields_cleared(self) -> EncoderSpec:
        """This spec without what a backend fills in on load (dim, weights hash)."""
        return replace(self, dim=None, weights_sha256=None)

    def spec_sha256(self) -> str:
        blob = json.dumps(self.hashed_fields(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()

    def with_(self, **changes: Any) -> EncoderSpec:
        return replace(self, **changes)


TOKENS_PER_BATCH_ITEM = 128  # padded-token budget per batch slot


class Encoder(ABC):
    """A loaded encoder. `encode` returns float32 vectors of shape (len(texts), dim)."""

    def __init__(self, spec: EncoderSpec) -> None:
        self.spec = spec

    @property
    def dim(self) -> int:
        assert self.spec.dim is not None, "backend must set spec.dim on load"
        return self.spec.dim

    @abstractmethod
    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens each text would take untruncated, special tokens and prompt included."""

    @abstractmethod
    def encode(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: Progress | None = None
    ) -> np.ndarray:
        """Embed `texts` (truncated to spec.max_length tokens); float32, L2-normalised if asked."""

    def windows(self, texts: Sequence[str], counts: Sequence[int]) -> list[int]:
        """How many windows each text is embedded in (one, unless the backend windows)."""
        return [1] * len(texts)

    def truncated(self, counts: Sequence[int]) -> list[bool]:
        """Whether each text (of `counts` tokens) was cut to fit max_length."""
        return [n > self.spec.max_length for n in counts]

    def _capped_lengths(self, texts: Sequence[str]) -> list[int]:
        """Each text's token count, capped where the encoder truncates (no texts: no
        tokenizer call)."""
        if not texts:
            return []
        return [min(n, self.spec.max_length) for n in self.count_tokens(texts)]

    def _batches(self, lengths: Sequence[int], batch_size: int) -> list[list[int]]:
        """Indices in batches of similar length: at most `batch_size` texts and
        `batch_size * TOKENS_PER_BATCH_ITEM` padded tokens each, so short gene cards pack
        densely and long ones stay cheap."""
        return length_sorted_batches(
            lengths, max_tokens=batch_size * TOKENS_PER_BATCH_ITEM, max_count=batch_size
        )

    def close(self) -> None:  # noqa: B027 - optional hook for backends holding resources
        """Release held resources (sessions, GPU memory)."""


# Per-text cost, in tokens, of the work outside attention and the feed-forward (tokenizing,
# pooling, batch set-up): short cards are not free.
TEXT_OVERHEAD_TOKENS = 16


def encoding_costs(counts: Sequence[int], max_length: int) -> list[float]:
    """Each text's share of the encoding work, in the order backends encode (longest first, as
    `length_sorted_batches` orders them): what a progress line needs to estimate the time left,
    since the first texts are the slowest."""
    capped = sorted((min(n, max_length) for n in counts), reverse=True)
    return [float(n + TEXT_OVERHEAD_TOKENS) for n in capped]


def length_sorted_batches(
    lengths: Sequence[int], max_tokens: int, max_count: int
) -> list[list[int]]:
    """Group indices into batches of similar length, bounded by padded tokens and by count.

    Sorting by length keeps padding small, which is most of the speed-up on CPU.
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i], reverse=True)
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for i in order:
        longest_if_added = max(longest, lengths[i], 1)
        if current and (
            len(current) >= max_count or longest_if_added * (len(current) + 1) > max_tokens
        ):
            batches.append(current)
            current, longest_if_added = [], max(lengths[i], 1)
        current.append(i)
        longest = longest_if_added
    if current:
        batches.append(current)
    return batches
