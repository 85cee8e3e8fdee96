"""What to do with a gene-vector file no format here reads: a PyTorch file, a bare .npy matrix,
a compressed or Excel file; each note names the one line that converts it."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

from genekb.errors import GenekbError

TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # the first pickle of torch's format before zip


def vocab_to_npz(matrix: str, vocab: str = "vocab.json") -> str:
    """One line of Python that saves a matrix (.npy, or a tensor torch.save wrote) and the
    {gene: row} vocabulary naming its rows, as scGPT and others ship them, as the .npz read here."""
    torch = not matrix.lower().endswith(".npy")
    # a model's state dict (scGPT's best_model.pt) holds the gene embedding under this key
    load = (
        f"torch.load({matrix!r}, map_location='cpu', weights_only=True);"
        " m = (m if torch.is_tensor(m) else m['encoder.embedding.weight']).float()"
        if torch
        else f"np.load({matrix!r})"
    )
    return (
        f'python -c "import json, numpy as np{", torch" if torch else ""};'
        f" v = json.load(open({vocab!r})); m = {load}; np.savez('vectors.npz',"
        ' genes=np.array(list(v)), vectors=np.asarray(m)[list(v.values())])"'
    )


def torch_note(name: str) -> str:
    """Why a PyTorch file is not read, and the line that converts it."""
    return (
        "a PyTorch file (torch.save) is a pickle that can run code when loaded, so it is not"
        " read here; where you trust it, save its embedding matrix (a tensor, or a state dict's"
        " 'encoder.embedding.weight' as scGPT's) with the vocabulary naming its rows as .npz: "
        + vocab_to_npz(name)
    )


def _npy_note(name: str) -> str:
    return (
        "a .npy array holds no gene names: save it with the vocabulary naming its rows"
        " ({gene: row}, e.g. vocab.json) as .npz: " + vocab_to_npz(name)
    )


def _fixed(note: str) -> Any:
    return lambda _name: note


# Suffixes of files no format here reads, and what to do instead of passing --format.
_SUFFIX_NOTES = {
    ".npy": _npy_note,
    ".pt": torch_note,
    ".pth": torch_note,
    ".ckpt": torch_note,
    ".gz": _fixed("decompress it first (gunzip)"),
    ".xlsx": _fixed("save it as CSV (UTF-8)"),
    ".xls": _fixed("save it as CSV (UTF-8)"),
}


def suffix_note(path: Path, otherwise: str) -> str:
    """What to do with a vector file whose suffix names no format read here."""
    note = _SUFFIX_NOTES.get(path.suffix.lower())
    return otherwise if note is None else note(path.name)


def refuse_zip(source: Any, where: Any) -> None:
    """A zip given as a pickle: torch.save's (whose 'PK' was read as a pickle opcode and failed
    with "no persistent_load function") or an .npz."""
    with source.open("rb") if isinstance(source, Path) else io.BytesIO(source.getvalue()) as fh:
        if fh.read(4) != b"PK\x03\x04":
            return
        fh.seek(0)
        try:
            members = zipfile.ZipFile(fh).namelist()
        except (zipfile.BadZipFile, OSError):
            members = []
    if any(m.endswith("data.pkl") for m in members):
        name = Path(where).name if str(where) != "-" else "FILE.pt"
        raise GenekbError(f"{where} is a zip archive, not a pickle; {torch_note(name)}")
    raise GenekbError(
        f"{where} is a zip archive (an .npz?), not a pickle; pass --format npz if it is one"
    )
