"""ONNX Runtime backend: a sentence-transformers model exported here, optionally int8-quantized.

Nothing is downloaded. The first load exports the installed weights (checked against the spec's
`weights_sha256`) with torch's TorchScript exporter (`torch.onnx.export(..., dynamo=False)`;
optimum's exporter does not import against the transformers pinned here), quantizes the graph when
the spec asks for it, and caches the result under `models_home()/onnx/<key>/`, where `<key>`
hashes the weights hash and the recipe. `export.json` beside the model records the model file's
sha256 and the library versions that made it; every load checks that hash and refuses a file that
does not match.

Quantization recipes (`EncoderSpec.quantization`, part of the spec hash):
- "none": the float32 graph as exported;
- "int8-dynamic": onnxruntime dynamic quantization of the weight MatMuls (int8 weights per output
  channel, uint8 activations scaled per batch). The feed-forward output projections of the first
  three layers stay float32: their inputs (GELU outputs) have the widest range, and quantizing them
  is what pulled single genes' cosine to the float32 vectors below 0.99 on gene cards. Because
  activations are scaled per batch, a card's vector depends slightly on the cards batched with it
  (batches are formed by length, so the same set of cards gives the same vectors).

Pooling (masked mean or CLS) and L2 normalisation run in numpy on the last hidden state.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from genekb.encoders.base import Encoder, EncoderSpec, Progress
from genekb.encoders.packaged import models_home
from genekb.encoders.runtime import pinned_threads, quiet_transformers
from genekb.encoders.st_backend import locate, weights_sha256
from genekb.errors import GenekbError, IntegrityError, UsageError
from genekb.fileio import sha256_file
from genekb.linalg import l2_normalize
from genekb.store.hashing import sha256_json

OPSET = 17
EXPORT_FILE = "export.json"
MODEL_FILE = "model.onnx"


@dataclass(frozen=True)
class Recipe:
    """How the exported float32 graph is quantized (None: not at all)."""

    per_channel: bool = True
    fp32_ffn_out_layers: tuple[int, ...] = (0, 1, 2)


QUANTIZATIONS: dict[str, Recipe | None] = {"none": None, "int8-dynamic": Recipe()}
# BERT-family node names of the feed-forward output projection, as the TorchScript exporter
# names them (e.g. "/m/encoder/layer.0/output/dense/MatMul").
_FFN_OUT = re.compile(r"layer\.(\d+)/output/dense/MatMul$")


def recipe(quantization: str) -> Recipe | None:
    if quantization not in QUANTIZATIONS:
        raise UsageError(
            f"unknown quantization {quantization!r}; choose one of {', '.join(QUANTIZATIONS)}"
        )
    return QUANTIZATIONS[quantization]


def cache_key(spec: EncoderSpec) -> str:
    """The cache directory name: what determines the exported bytes (weights and recipe)."""
    if not spec.weights_sha256:
        raise UsageError(f"encoder {spec.name!r}: an ONNX export needs a pinned weights_sha256")
    plan = recipe(spec.quantization)
    inputs = {
        "weights": spec.weights_sha256,
        "quantization": spec.quantization,
        "recipe": asdict(plan) if plan is not None else None,
        "opset": OPSET,
    }
    return f"{spec.weights_sha256[:12]}-{sha256_json(inputs)[:12]}"


def export_dir(spec: EncoderSpec) -> Path:
    return models_home() / "onnx" / cache_key(spec)


def _source_dir(spec: EncoderSpec) -> Path:
    """The installed sentence-transformers model directory, its weights checked."""
    where = Path(locate(spec))
    if not where.is_dir():
        raise GenekbError(
            f"encoder {spec.name!r} exports from a local model directory; {where} is not one"
        )
    actual = weights_sha256(where)
    if actual != spec.weights_sha256:
        raise IntegrityError(
            f"weights of {spec.name!r} at {where} have sha256 {actual}, expected"
            f" {spec.weights_sha256}; reinstall the model package"
        )
    return where


def _export_float32(source: Path, target: Path) -> list[str]:
    """Export the transformer's last hidden state to ONNX; returns the graph's input names."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    with quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModel.from_pretrained(source).eval()
    names = [
        n
        for n in tokenizer.model_input_names
        if n in ("input_ids", "attention_mask", "token_type_ids")
    ]
    sample = tokenizer(["a gene", "a longer example sentence"], padding=True, return_tensors="pt")

    class LastHidden(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.m = inner

        def forward(self, *args: torch.Tensor) -> torch.Tensor:
            return self.m(**dict(zip(names, args, strict=True))).last_hidden_state

    axes = {n: {0: "batch", 1: "tokens"} for n in [*names, "hidden"]}
    # The exporter warns about traced shape arithmetic that the dynamic axes already cover.
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            LastHidden(model),
            tuple(sample[n] for n in names),
            str(target),
            input_names=names,
            output_names=["hidden"],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )
    return names


def _quantize(source: Path, target: Path, plan: Recipe) -> list[str]:
    """Dynamic int8 quantization of the weight MatMuls; returns the nodes kept in float32."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(source), load_external_data=False).graph
    kept = []
    for node in graph.node:
        found = _FFN_OUT.search(node.name) if node.op_type == "MatMul" else None
        if found and int(found.group(1)) in plan.fp32_ffn_out_layers:
            kept.append(node.name)
    # The quantizer logs a pre-processing hint to the root logger; it is not for our users.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(
            str(source),
            str(target),
            weight_type=QuantType.QInt8,
            per_channel=plan.per_channel,
            op_types_to_quantize=["MatMul"],
            nodes_to_exclude=kept,
        )
    finally:
        root.setLevel(level)
    return kept


def ensure_exported(spec: EncoderSpec) -> Path:
    """The cached ONNX model for `spec`, exported (and quantized) on first use; hash-checked."""
    plan = recipe(spec.quantization)
    target = export_dir(spec)
    if (target / EXPORT_FILE).exists():
        return _checked(target)
    source = _source_dir(spec)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}-") as tmp:
        staged = Path(tmp) / target.name
        staged.mkdir()
        fp32 = Path(tmp) / "float32.onnx"
        names = _export_float32(source, fp32)
        kept: list[str] = []
        if plan is None:
            fp32.rename(staged / MODEL_FILE)
        else:
            kept = _quantize(fp32, staged / MODEL_FILE, plan)
        for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
            if (source / name).exists():
                shutil.copy2(source / name, staged / name)
        record = {
            "weights_sha256": spec.weights_sha256,
            "quantization": spec.quantization,
            "fp32_nodes": kept,
            "inputs": names,
            "opset": OPSET,
            "model_sha256": sha256_file(staged / MODEL_FILE),
            "versions": _versions(),
        }
        (staged / EXPORT_FILE).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
        try:
            staged.rename(target)
        except OSError:
            if not (target / EXPORT_FILE).exists():  # not a concurrent winner: a real failure
                raise
    return _checked(target)


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for dist in ("torch", "transformers", "onnx", "onnxruntime"):
        with contextlib.suppress(md.PackageNotFoundError):
            out[dist] = md.version(dist)
    return out


def _checked(folder: Path) -> Path:
    record = json.loads((folder / EXPORT_FILE).read_text())
    actual = sha256_file(folder / MODEL_FILE)
    if actual != record.get("model_sha256"):
        raise IntegrityError(
            f"{folder / MODEL_FILE} has sha256 {actual[:12]}…, its export record says"
            f" {str(record.get('model_sha256'))[:12]}…; delete {folder} to export it again"
        )
    return folder


def session_threads() -> int:
    """Every core this process may use, unless OMP_NUM_THREADS or GENEKB_THREADS say otherwise."""
    pinned = pinned_threads()
    if pinned:
        return pinned
    if (os.environ.get("OMP_NUM_THREADS") or "").isdigit() and int(os.environ["OMP_NUM_THREADS"]):
        return int(os.environ["OMP_NUM_THREADS"])
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class OnnxEncoder(Encoder):
    def __init__(self, spec: EncoderSpec, device: str | None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        if spec.dtype != "float32":
            raise UsageError(f"{spec.name!r}: the onnx backend computes in float32 (or int8)")
        if spec.pooling not in ("mean", "cls"):
            raise UsageError(f"the onnx backend pools by mean or cls, not {spec.pooling!r}")
        folder = ensure_exported(spec)
        record = json.loads((folder / EXPORT_FILE).read_text())
        self.inputs: list[str] = list(record["inputs"])
        self.model_sha256 = str(record["model_sha256"])
        options = ort.SessionOptions()
        options.intra_op_num_threads = session_threads()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # CPU only: the point of this backend is a machine without a GPU.
        self.device = "cpu"
        self.session = ort.InferenceSession(
            str(folder / MODEL_FILE), options, providers=["CPUExecutionProvider"]
        )
        # Two tokenizers: one counts untruncated tokens, one truncates as the model reads.
        self.counter = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.counter.no_truncation()
        self.counter.no_padding()
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(spec.max_length)
        self.tokenizer.no_padding()
        dim = int(self.session.get_outputs()[0].shape[-1])
        super().__init__(spec.with_(dim=spec.dim or dim))

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        encoded = self.counter.encode_batch([self.spec.prompt + t for t in texts])
        return [len(e.ids) for e in encoded]

    def _feeds(self, texts: list[str]) -> tuple[dict[str, np.ndarray], np.ndarray]:
        encoded = self.tokenizer.encode_batch(texts)
        width = max(len(e.ids) for e in encoded)
        ids = np.zeros((len(texts), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        types = np.zeros_like(ids)
        for row, enc in enumerate(encoded):
            n = len(enc.ids)
            ids[row, :n] = enc.ids
            mask[row, :n] = 1
            types[row, :n] = enc.type_ids
        given = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        return {n: given[n] for n in self.inputs}, mask

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: Progress | None = None
    ) -> np.ndarray:
        prompted = [self.spec.prompt + t for t in texts]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        for idx in self._batches(self._capped_lengths(texts), batch_size):
            feeds, mask = self._feeds([prompted[i] for i in idx])
            hidden = self.session.run(None, feeds)[0]
            out[idx] = _pool(hidden, mask, self.spec.pooling)
            if progress:
                progress(len(idx))
        return l2_normalize(out) if self.spec.normalize else out


def _pool(hidden: np.ndarray, mask: np.ndarray, pooling: str) -> np.ndarray:
    if pooling == "cls":
        return hidden[:, 0]
    weights = mask[..., None].astype(np.float32)
    return (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0)


def load(spec: EncoderSpec, device: str | None) -> Encoder:
    return OnnxEncoder(spec, device)


def describe_export(spec: EncoderSpec) -> dict[str, Any]:
    """The export record of `spec`'s cached model (exporting it first if needed)."""
    return json.loads((ensure_exported(spec) / EXPORT_FILE).read_text())
