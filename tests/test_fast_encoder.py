"""The fast CPU encoder path: ONNX Runtime export of the packaged MiniLM, int8 quantized."""

from __future__ import annotations

import json

import numpy as np
import pytest

from genekb.encoders import registry
from genekb.errors import IntegrityError, UsageError

CARDS = [
    "INS insulin. Type: protein-coding. Processes: glucose homeostasis; insulin secretion.",
    "GCG glucagon. Type: protein-coding. Processes: glucagon signaling; gluconeogenesis.",
    "CD3E CD3 epsilon subunit of T-cell receptor complex. Processes: T cell activation.",
    "MALAT1 metastasis associated lung adenocarcinoma transcript 1. Type: ncRNA.",
    "short",
    " ".join(["a long card that the model truncates at its token limit"] * 60),
]


def test_backend_and_quantization_are_part_of_the_spec_hash():
    fp32, onnx, int8 = (registry.resolve(n) for n in ("minilm", "minilm-onnx", "minilm-int8"))
    assert len({fp32.spec_sha256(), onnx.spec_sha256(), int8.spec_sha256()}) == 3
    assert int8.quantization == "int8-dynamic" and onnx.quantization == "none"
    # "none" stays out of the hash, so every spec that existed before keeps its version ids.
    assert "quantization" not in fp32.hashed_fields()
    assert "quantization" in int8.hashed_fields()


def test_unknown_recipe_is_a_usage_error():
    from genekb.encoders.onnx_backend import recipe

    with pytest.raises(UsageError, match="int8-dynamic"):
        recipe("int4")


@pytest.fixture(scope="module")
def models_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("models")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GENEKB_MODELS", str(home))
        yield home


@pytest.mark.slow
def test_int8_export_is_cached_hash_checked_and_close_to_float32(models_home):
    from genekb.encoders.onnx_backend import EXPORT_FILE, MODEL_FILE, export_dir

    int8 = registry.load("minilm-int8")
    folder = export_dir(int8.spec)
    assert folder.is_relative_to(models_home)
    record = json.loads((folder / EXPORT_FILE).read_text())
    assert record["quantization"] == "int8-dynamic" and record["fp32_nodes"]
    fast = int8.encode(CARDS, batch_size=4)
    reference = registry.load("minilm", device="cpu").encode(CARDS)
    cosine = (fast * reference).sum(axis=1)
    assert fast.shape == (len(CARDS), 384) and np.allclose(
        np.linalg.norm(fast, axis=1), 1, atol=1e-5
    )
    assert cosine.min() > 0.98, cosine
    # The float32 export agrees with sentence-transformers to rounding.
    onnx = registry.load("minilm-onnx").encode(CARDS)
    assert (onnx * reference).sum(axis=1).min() > 0.9999
    # Token counts ignore truncation, as the other backends' do.
    assert int8.count_tokens(CARDS)[-1] > int8.spec.max_length
    # A changed model file is refused on the next load, never used.
    with (folder / MODEL_FILE).open("r+b") as fh:
        fh.seek(-64, 2)
        fh.write(b"\0" * 64)
    with pytest.raises(IntegrityError, match="delete"):
        registry.load("minilm-int8")
