"""A deterministic stand-in encoder for store tests: vectors from text hashes, no model.

It exercises every store mechanism (ids, reuse, atomic writes) in milliseconds; the real
`minilm` encoder is covered by the slow tests.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Sequence

import numpy as np

from genekb.encoders import registry
from genekb.encoders.base import Encoder, EncoderSpec, Progress, l2_normalize

CALLS: list[int] = []  # sizes of encode() calls in this process


class FakeEncoder(Encoder):
    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(t.split()) + 2 for t in texts]

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: Progress | None = None
    ) -> np.ndarray:
        CALLS.append(len(texts))
        delay = float(os.environ.get("FAKE_ENCODER_DELAY", "0"))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            for i in range(start, min(start + batch_size, len(texts))):
                seed = int.from_bytes(hashlib.sha256(texts[i].encode()).digest()[:8], "little")
                out[i] = np.random.default_rng(seed).standard_normal(self.dim)
            if delay:
                time.sleep(delay)
            if progress:
                progress(min(batch_size, len(texts) - start))
        return l2_normalize(out)


def load(spec: EncoderSpec, device: str | None) -> Encoder:
    return FakeEncoder(spec)


def install() -> EncoderSpec:
    registry.register_backend("fake", "tests.fake_encoder:load")
    return registry.register(
        EncoderSpec(name="fake", backend="fake", model_id="fake", dim=16, max_length=20)
    )
