"""What the cellmodel commands share: their common options, reading the input, checking and
writing the output."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from cellmodel._settings import SEED_MAX
from cli.progress import stage_progress
from genekb.errors import GenekbError, UsageError
from genekb.output_paths import check_output_file

T = TypeVar("T")

RootOpt = Annotated[
    Path | None,
    typer.Option("--root", help="Store root (default: $GENEKB_HOME, else ./artifacts)."),
]
# Text, not a Path, for genekb's commands: a Path folds a URL's "//", so the store could not tell
# a URL (read in place, or refused for a write) from a local folder named "https:".
StoreRootOpt = Annotated[
    str | None,
    typer.Option("--root", help="Store root (default: $GENEKB_HOME, else ./artifacts)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
ModelOpt = Annotated[
    str,
    typer.Option(
        "--model",
        "-m",
        help="An encoder (e.g. minilm, minilm-int8), or a tag or embedding id of the store (used"
        " as it is, never built).",
    ),
]
BuildOpt = Annotated[
    bool,
    typer.Option(
        "--build/--no-build",
        help="Embed the gene cards the store lacks into a new version (said on stderr; no tag"
        " moves). --no-build refuses instead.",
    ),
]
AllGenesOpt = Annotated[
    bool,
    typer.Option(
        "--all-genes", help="Vectors for every matched gene, not only the ones the view reads."
    ),
]


def file_path(value: str) -> Path:
    """A file output as typed: ending in '/' (a folder's name), is refused as a usage error
    before `Path` turns it into a name without the slash (the file was written under the
    folder's name). An empty one is refused for every path (`cli.common`)."""
    if value.endswith(("/", os.sep)):
        raise typer.BadParameter(
            f"{value!r} ends in '/', so it names a folder; give a file name (in it: {value}NAME)"
        )
    return Path(value)


FILE_OUTPUT: dict[str, Any] = {"parser": file_path, "metavar": "<path>"}  # a file output's option
InputArg = Annotated[
    str, typer.Argument(help="An .h5ad file, a 10x folder, a CSV/TSV, or a dataset name.")
]
OutputOpt = Annotated[
    Path | None,
    typer.Option("--output", "-o", **FILE_OUTPUT, help="Write the AnnData here (.h5ad)."),
]
ForceOpt = Annotated[bool, typer.Option(help="Overwrite an existing output file.")]
GeneKeyOpt = Annotated[
    str | None, typer.Option(help="var column with gene names (e.g. feature_name).")
]
LayerOpt = Annotated[str | None, typer.Option(help="Layer to read ('raw' for .raw); default X.")]
TaxonOpt = Annotated[
    str | None,
    typer.Option(help="human or mouse (any case, the binomial or NCBI id; default: detected)."),
]
OrientationOpt = Annotated[
    str,
    typer.Option(
        help="A CSV/TSV table's rows: cells-by-genes, genes-by-cells, or auto (genes in rows where"
        " its names say so, with a warning)."
    ),
]
SepOpt = Annotated[
    str | None, typer.Option(help="A table's column separator (default: by suffix, ',' or tab).")
]


def seed_option(help_text: str) -> Any:
    """A seed option that refuses, as a usage error, what numpy and scikit-learn cannot take."""
    return Annotated[int, typer.Option(min=0, max=SEED_MAX, help=help_text)]


GeneVectorsOpt = Annotated[
    str, typer.Option(help="real, or the controls shuffled / random (seeded).")
]


def load_input(
    source: str,
    root: Path | None,
    orientation: str = "auto",
    sep: str | None = None,
    role: str = "input",
) -> tuple[Any, str | None]:
    """AnnData from a path or a registry dataset name, and the dataset's label key (if any):
    `cellmodel.pp.inputs.read_input`, the reader `cm.pp.read` shares; `role` names it in a
    refusal."""
    from cellmodel.pp.inputs import read_input

    return read_input(source, root, orientation, sep, role)


def check_obs_keys(
    source: Any, keys: dict[str, str | None], where: str = "", other: dict[str, str] | None = None
) -> None:
    """The obs columns a run names (parameter -> column; None: not given), checked in an .h5ad
    file's header before its matrix is read, so a misspelt one is refused in a second, not
    after the load; other inputs are checked once read. `other`: a parameter's further choice
    (`check_obs_column`)."""
    wanted = {parameter: key for parameter, key in keys.items() if key is not None}
    path = Path(str(source))
    if not wanted or path.suffix.lower() != ".h5ad" or not path.is_file():
        return
    from cellmodel.arguments import check_obs_column
    from cellmodel.chunked.h5 import obs_columns

    columns = obs_columns(path)
    for parameter, key in wanted.items() if columns is not None else ():
        check_obs_column(columns, key, parameter, where, (other or {}).get(parameter, ""))


def check_store_model(root: Any, model: str) -> None:
    """--model naming a store version (a tag or an id, not an encoder) looked up before the data
    is read: a missing one was refused only once the run reached the semantic view."""
    from genekb.encoders import registry

    try:
        registry.resolve(model)
        return
    except GenekbError:  # not an encoder: a version of the store, or neither (refused here)
        pass
    from cellmodel.knowledge.vectors import store_version
    from genekb.store.store import Store

    store_version(Store.open(root, create=True), model)  # nothing written until a write


def check_output(output: Path | None, force: bool) -> None:
    """An AnnData output (-o): a new .h5ad in a writable directory, or an existing one with
    --force (`genekb.output_paths.check_output_file`, the check every writing command uses)."""
    if output is not None:
        check_output_file(output, force=force, flag="output", suffixes=(".h5ad",))


def check_distinct(outputs: dict[str, Path | None]) -> None:
    """Refuse two outputs of one command at one path: the second would overwrite the first."""
    seen: dict[Path, str] = {}
    for flag, path in outputs.items():
        if path is None:
            continue
        key = path.expanduser().resolve()
        if key in seen:
            raise UsageError(f"{seen[key]} and {flag} name the same path {path}; give each its own")
        seen[key] = flag


def refuse_replacing_input(output: Path | None, flag: str, source: Any, what: str) -> None:
    """Refuse an output at the path of an input it is not a copy of (the Markdown report over
    the cells' file, predictions over the reference): --force replaces outputs, not data."""
    if output is None or source is None or not Path(source).expanduser().exists():
        return  # a registry name, or nothing given
    if Path(source).expanduser().resolve() == output.expanduser().resolve():
        raise UsageError(f"{flag} {output} is {what}; give it its own path")


def plots_then_output(draw: Callable[[], T], adata: Any, output: Path | None) -> T:
    """Draw the plots (they may add their layout to the AnnData), then write the AnnData to
    `output`; where a plot fails, the AnnData is written before the failure is raised: a plot
    never costs the run's result."""
    try:
        figures = draw()
    except Exception:
        if output is not None:
            write_h5ad(adata, output)
        raise
    if output is not None:
        write_h5ad(adata, output)
    return figures


def write_h5ad(adata: Any, output: Path) -> None:
    """Write `adata` as .h5ad through a temporary file and rename, so a crash never leaves a half
    file. HDF5 builds the file in memory first (its `core` driver) and plain Python I/O writes
    it: when the disk fails (full, a quota, a file size limit) HDF5 half-wrote nothing, where a
    failed write inside HDF5 crashed the process in h5py's clean-up (a segfault)."""
    import anndata as ad
    import h5py

    from genekb.fileio import write_bytes_to

    adata.strings_to_categoricals()  # as AnnData.write_h5ad does before writing
    if adata.raw is not None:
        adata.strings_to_categoricals(adata.raw.var)
    # A file a newer anndata wrote may hold nullable strings (pd.StringDtype): it read them,
    # so it writes them back, where anndata's default refuses them after the whole run.
    nullable = ad.settings.override(allow_write_nullable_strings=True)
    with (
        nullable,
        h5py.File(f"{output.name}.in-memory", "w", driver="core", backing_store=False) as f,
    ):
        ad.io.write_elem(f, "/", adata)
        f.flush()
        image = f.id.get_file_image()
    write_bytes_to(output, image, suffix=".tmp.h5ad")


def run_progress(**line_options: Any) -> Any:
    return stage_progress(**line_options)


ChunkSizeOpt = Annotated[
    int | None,
    typer.Option(
        min=1,
        help="Read the .h5ad this many cells at a time (out of core, Dask; weighted view only, no"
        " sentence path); -o required. Default: the whole file in memory.",
    ),
]
ClusterChunkSizeOpt = Annotated[
    int | None,
    typer.Option(
        min=1,
        help="Cluster out of core, reading the .h5ad this many cells at a time (Dask; structure"
        " view only); -o required. Default: in memory, out of core past the memory estimate.",
    ),
]
DaskAddressOpt = Annotated[
    str | None,
    typer.Option(
        help="Dask scheduler address for the chunked path (its workers must read the input path);"
        " default: local threads."
    ),
]
WorkersOpt = Annotated[
    int | None, typer.Option(min=1, help="Local Dask threads (default: usable cores).")
]


def refuse_unused(given: dict[str, bool], acts_on: str, off: str, drop: str) -> None:
    """Options that act on `acts_on`, which this run's mode (`off`) leaves out: a usage error
    naming them, never dropped without a word. `given` maps each flag to whether it was set;
    `drop` is the other way out ("--no-semantic", "--chunk-size if you gave it")."""
    flags = [flag for flag, on in given.items() if on]
    if flags:
        verb, them = ("acts", "it") if len(flags) == 1 else ("act", "them")
        raise UsageError(
            f"{', '.join(flags)} {verb} on {acts_on}, which {off}; drop {them}, or {drop}"
        )


def check_dask_options(
    chunk_size: int | None, dask_address: str | None, workers: int | None
) -> None:
    """--dask-address and --workers only mean something beside --chunk-size; an empty address
    (an unset variable) is refused, where it ran on a local cluster without a word."""
    if dask_address is not None and not dask_address.strip():
        raise UsageError("--dask-address is empty; give the scheduler (tcp://HOST:PORT) or drop it")
    if chunk_size is None and (dask_address or workers):
        raise UsageError("--dask-address and --workers are for the chunked path (--chunk-size)")


def check_chunked(
    source: str, output: Path | None, what: str, orientation: str = "auto", sep: str | None = None
) -> Path:
    """The input file of a chunked run: an existing .h5ad, and an output to write into; a
    table's --orientation or --sep is refused, as the in-memory reader refuses it."""
    path = Path(source)
    if output is None:
        raise UsageError(f"--chunk-size writes {what} into a file as it goes; give -o OUT.h5ad")
    if not path.exists():  # a dangling link or a link loop too
        raise GenekbError(f"input {source} does not exist")
    if path.suffix.lower() != ".h5ad" or not path.is_file():
        raise GenekbError(f"--chunk-size reads an .h5ad file; {source!r} is not one")
    from cellmodel.io import refuse_gzipped_hdf5, refuse_table_options

    refuse_table_options(path, orientation, sep)
    refuse_gzipped_hdf5(path)
    return path
