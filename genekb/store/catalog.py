"""A DuckDB catalog over the store: views `genes`, `embeddings`, `versions`.

The catalog is derived: Parquet files and manifests are canonical. `query` builds the views in an
in-memory database over the versions that pass their hash check, then locks DuckDB down before
running the user's SQL: no file system access (no COPY TO, ATTACH, read_text or read_csv of other
files), no extension install or load, no spilling to disk, and the configuration locked so that
SQL cannot switch any of it back. The store's files are scanned through Arrow datasets registered
with the connection, which need no DuckDB file access. Read-only by construction, not by parsing
the statement.

`rebuild` also writes `catalog.duckdb` at the root for tools that open it directly.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow.dataset as pads

from genekb.errors import DamagedVersionWarning, GenekbError, IntegrityError, UsageError, warn
from genekb.fileio import NOTHING_WRITTEN, WRITE_FIXES, atomic_path, write_failed
from genekb.store.catalog_check import CATALOG_FILE
from genekb.store.manifest import written_by_newer
from genekb.store.store import GENES_FILE, VECTORS_FILE, EmbeddingVersion, Store, TextVersion

# duckdb loads in the functions that open a connection: the writers that import this module
# (build, views, vectors) are imported by every command, most of which never open one.
if TYPE_CHECKING:
    import duckdb

NEWER = "newer"  # `genekb list`'s status of a version a newer genekb wrote
_COLUMNS = [
    "id", "kind", "text_id", "tags", "taxon", "template", "source", "snapshot_date", "model",
    "backend", "dim", "n_genes", "created", "status",
]  # fmt: skip
_LOCKDOWN = (  # order matters: some settings cannot change once external access is off
    "SET temp_directory = ''",
    "SET autoinstall_known_extensions = false",
    "SET autoload_known_extensions = false",
    "SET allow_community_extensions = false",
    "SET python_enable_replacements = false",
    "SET enable_external_access = false",
    "SET lock_configuration = true",
)


def _row(v: TextVersion | EmbeddingVersion, tags: dict[str, list[str]], status: str) -> dict:
    m = v.manifest
    encoder = m.get("encoder") or {}
    return {
        "id": v.id,
        "kind": v.kind,
        "text_id": m.get("text_id", v.id),
        "tags": sorted(tags.get(v.id, [])),
        "taxon": m.get("taxon"),
        "template": (m.get("template") or {}).get("id"),
        "source": (m.get("source") or {}).get("source"),
        "snapshot_date": (m.get("source") or {}).get("date"),
        "model": encoder.get("name"),
        "backend": encoder.get("backend"),
        "dim": m.get("dim"),
        "n_genes": (m.get("counts") or {}).get("genes"),
        "created": m.get("created"),
        "status": status,
    }


def _tags(store: Store) -> dict[str, str]:
    """The store's tags; a corrupt tags.json leaves the catalog's `tags` column empty and warns,
    since the versions themselves are intact."""
    try:
        return store.tags()
    except IntegrityError as exc:
        warn(str(exc), DamagedVersionWarning)
        return {}


def checked_versions(store: Store) -> tuple[list[Any], list[str]]:
    """(versions whose files all pass their hash check, one message per damaged version).

    Use `connect` / `query` for SQL; they warn (DamagedVersionWarning) about each one left out.
    """
    damaged: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        versions = list(store.versions())
    damaged += [str(w.message) for w in caught]
    good = []
    for v in versions:
        try:
            v.check()
        except IntegrityError as exc:
            damaged.append(str(exc))
            continue
        good.append(v)
    ids = {v.id for v in good}
    # An embedding resting on a damaged or missing text version is not usable either.
    for v in [v for v in good if isinstance(v, EmbeddingVersion) and v.text_id not in ids]:
        good.remove(v)
        damaged.append(f"{v.path}: its text version {v.text_id} is damaged or missing")
    return good, list(dict.fromkeys(damaged))  # a text version's damage is met once per reader


def version_rows(store: Store) -> list[dict[str, Any]]:
    """One row per version the store lists, with `status` ok, damaged, or newer (written by a
    newer genekb: refused here, but nothing to repair)."""
    tags: dict[str, list[str]] = {}
    for tag, vid in _tags(store).items():
        tags.setdefault(vid, []).append(tag)
    good, _ = checked_versions(store)
    good_ids = {v.id for v in good}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        listed = list(store.versions())
    rows = [_row(v, tags, "ok" if v.id in good_ids else "damaged") for v in listed]
    # A version whose manifest cannot be read is listed too, by its directory name alone.
    shown = {v.id for v in listed}
    for kind in ("text", "embedding"):
        for vid in store.version_ids(kind):
            if vid not in shown:
                row = dict.fromkeys(_COLUMNS, None)
                row.update(id=vid, kind=kind, tags=sorted(tags.get(vid, [])))
                newer = written_by_newer(store.version_dir(kind, vid))
                rows.append({**row, "status": NEWER if newer else "damaged"})
    return rows


def _versions_table(con: duckdb.DuckDBPyConnection, versions: list[Any], tags: dict) -> None:
    by_id: dict[str, list[str]] = {}
    for tag, vid in tags.items():
        by_id.setdefault(vid, []).append(tag)
    frame = pd.DataFrame([_row(v, by_id, "ok") for v in versions], columns=_COLUMNS)
    # Whole numbers stay whole where some rows have none (a text version has no dim): as NumPy
    # floats the column became DOUBLE, and `sql --json` wrote a dim of 384.0.
    frame = frame.astype({"taxon": "Int64", "dim": "Int64", "n_genes": "Int64"})
    frame["tags"] = frame["tags"].str.join(",")  # one text column in SQL (`tags LIKE '%name%'`)
    con.register("_versions_frame", frame)
    con.execute("CREATE TABLE versions AS SELECT * EXCLUDE (status) FROM _versions_frame")
    con.unregister("_versions_frame")


def _define_views(con: duckdb.DuckDBPyConnection, versions: list[Any], tags: dict) -> None:
    """Views over `versions`, each file registered as an Arrow dataset (no DuckDB file access)."""
    _versions_table(con, versions, tags)
    texts = [v for v in versions if isinstance(v, TextVersion)]
    embeddings = [v for v in versions if isinstance(v, EmbeddingVersion)]
    parts = []
    for i, v in enumerate(texts):
        con.register(f"_genes_{i}", pads.dataset(str(v.path / GENES_FILE), format="parquet"))
        parts.append(f"SELECT '{v.id}' AS text_id, * FROM _genes_{i}")
    _union_view(
        con, "genes", parts, " UNION ALL BY NAME ",
        "NULL::VARCHAR AS text_id, NULL::BIGINT AS gene_id, NULL::VARCHAR AS symbol, "
        "NULL::VARCHAR AS text",
    )  # fmt: skip
    parts = []
    for i, v in enumerate(embeddings):
        con.register(f"_vectors_{i}", pads.dataset(str(v.path / VECTORS_FILE), format="parquet"))
        model = str(v.manifest["encoder"].get("name", "")).replace("'", "''")
        # Dimensions differ between encoders, so vectors are exposed as variable-length FLOAT[].
        parts.append(
            f"SELECT '{v.id}' AS embedding_id, '{v.text_id}' AS text_id, '{model}' AS model, "
            "gene_id, symbol, text_sha256, n_tokens, truncated, vector::FLOAT[] AS vector "
            f"FROM _vectors_{i}"
        )
    _union_view(
        con, "embeddings", parts, " UNION ALL ",
        "NULL::VARCHAR AS embedding_id, NULL::VARCHAR AS text_id, NULL::VARCHAR AS model, "
        "NULL::BIGINT AS gene_id, NULL::VARCHAR AS symbol, NULL::FLOAT[] AS vector",
    )  # fmt: skip


def _union_view(
    con: duckdb.DuckDBPyConnection, name: str, parts: list[str], joiner: str, empty: str
) -> None:
    """View `name` as the union of the `parts` queries; with none, an empty view whose typed
    columns are `empty` (so queries on a store without versions still run)."""
    if parts:
        con.execute(f"CREATE VIEW {name} AS " + joiner.join(parts))
    else:
        con.execute(f"CREATE VIEW {name} AS SELECT {empty} WHERE false")


def connect(store: Store) -> duckdb.DuckDBPyConnection:
    """A locked-down in-memory connection with views over the store's clean versions; each
    damaged version left out is reported as a DamagedVersionWarning."""
    versions, damaged = checked_versions(store)
    for message in damaged:
        warn(f"left out of the catalog: {message}", DamagedVersionWarning)
    import duckdb

    con = duckdb.connect(":memory:")
    try:
        _define_views(con, versions, _tags(store))
        for statement in _LOCKDOWN:
            con.execute(statement)
    except BaseException:
        con.close()
        raise
    return con


def query(store: Store, sql: str, limit: int | None = None) -> pd.DataFrame:
    """Run read-only SQL over the catalog's views; at most `limit` rows (None: all).

    With a limit, rows are fetched in one batch of `limit + 1`, so a huge result is never
    materialized; `frame.attrs["truncated"]` says whether rows were left out.
    """
    import duckdb

    con = connect(store)
    try:
        _refuse_changes(sql)
        return _interruptible(con, lambda: _fetch(con, sql, limit))
    except duckdb.InterruptException:
        raise KeyboardInterrupt from None
    except duckdb.Error as exc:
        lines = [ln for ln in str(exc).splitlines() if ln.strip()]
        raise GenekbError(f"SQL error: {lines[0] if lines else exc}") from None
    except RuntimeError as exc:
        # DuckDB turns Ctrl-C into RuntimeError("Query interrupted"); give it back as the
        # interrupt it was, so the command exits 130 like every other.
        if "interrupt" in str(exc).lower():
            raise KeyboardInterrupt from None
        raise
    finally:
        with contextlib.suppress(duckdb.Error):  # after a Ctrl-C it may still be winding down
            con.close()


def _unique_names(names: list[str]) -> list[str]:
    """Repeated column names suffixed as DuckDB's `fetchdf` does (`a`, `a_1`, `a_2`; case-blind)."""
    taken: set[str] = set()
    unique = []
    for name in names:
        chosen, k = name, 1
        while chosen.lower() in taken:
            chosen, k = f"{name}_{k}", k + 1
        taken.add(chosen.lower())
        unique.append(chosen)
    return unique


def _fetch(con: duckdb.DuckDBPyConnection, sql: str, limit: int | None) -> pd.DataFrame:
    result = con.execute(sql)
    # Named as DuckDB's fetchdf names them: two columns `a` became one key of a --json row,
    # which kept the second value and dropped the first.
    names = _unique_names([d[0] for d in result.description or []])
    # Python values either way, not fetchdf's NumPy ones: --json --all wrote a vector column as
    # NumPy's text, "[0.1 0.2 ... 0.3]" with the middle left out, and dates as timestamps.
    rows = result.fetchall() if limit is None else result.fetchmany(limit + 1)
    frame = pd.DataFrame(rows if limit is None else rows[:limit], columns=names)
    frame.attrs["truncated"] = limit is not None and len(rows) > limit
    return frame


def _interruptible(con: duckdb.DuckDBPyConnection, work: Callable[[], pd.DataFrame]) -> Any:
    """Run `work` in a thread so that Ctrl-C, which Python delivers to the main thread only
    between bytecodes (never inside DuckDB's long C call), interrupts the query at once. The
    main thread waits on an event, not on `join`: an interrupted `join` can leave the thread
    looking finished while it still runs."""
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # handed to the main thread
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name="genekb-sql", daemon=True).start()
    try:
        while not done.wait(0.1):
            pass
    except KeyboardInterrupt:
        with contextlib.suppress(Exception):  # the query may have ended meanwhile
            con.interrupt()
        done.wait(5)
        raise
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


_FIRST_WORD = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*([A-Za-z]+)", re.DOTALL)


def _refuse_changes(sql: str) -> None:
    """Only queries run: a DROP or CREATE would change nothing on disk (the views live in memory)
    but would answer as if it had."""
    import duckdb

    queries = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}
    statements = duckdb.extract_statements(sql)
    kinds = [s.type for s in statements]
    other = next((s for s in statements if s.type not in queries), None)
    if other is not None:
        # The statement's own first word: DuckDB's type for INSTALL is LOAD, for PIVOT MULTI.
        word = _FIRST_WORD.match(other.query)
        raise GenekbError(
            f"SQL error: only queries run here (SELECT, EXPLAIN), not"
            f" {word[1].upper() if word else other.type.name}; the store changes through"
            " genekb's own commands"
        )
    if len(kinds) != 1:
        # An empty query had no result to print; of several, only the last one's was printed.
        found = "no statement" if not kinds else f"{len(kinds)} statements"
        raise UsageError(f"give one SQL query (found {found})")


def _quote(path: Path) -> str:
    return "'" + str(path.resolve()).replace("'", "''") + "'"


class CatalogWriteError(GenekbError):
    """The catalog could not be written (a full disk, `ulimit -f`, a folder in its place);
    `reason` is the file system's or DuckDB's own words, without the way out."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def rebuild(store: Store, leaving: frozenset[str] = frozenset()) -> Path:
    """Rewrite `catalog.duckdb` at the root (atomically) over the clean versions, for tools that
    open it directly; its views read the Parquet files by absolute path. `leaving`: ids of
    versions about to be removed, left out (a catalog behind the store is no damage)."""
    versions = [v for v in checked_versions(store)[0] if v.id not in leaving]
    target = store.root / CATALOG_FILE
    with store.lock("catalog"):
        tags = _tags(store)
        try:
            with atomic_path(target, durable=False) as tmp:
                _write_catalog(tmp, target, versions, tags)
        except GenekbError as exc:  # a duckdb error, or a write refused (a folder in its place)
            reason = str(exc).removeprefix(f"cannot write {target}: ")
            # The catalog's own way out follows; the file system's (ulimit -f, space) ends it.
            reason, _, disk_fix = reason.partition(NOTHING_WRITTEN)
            # It is derived, and written last: what the command wrote before it is in place.
            fix = "`genekb reindex` rewrites the catalog once it can be written"
            if target.is_dir():  # no rewrite replaces a folder: say what will
                fix = f"remove the folder {target}, then `genekb reindex` writes the catalog"
            raise CatalogWriteError(
                f"cannot write the catalog {target}: {reason}; the versions and tags are not"
                f" affected, and {fix}{disk_fix}",
                reason=reason,
            ) from None
    return target


def _write_catalog(tmp: Path, target: Path, versions: list[Any], tags: dict[str, str]) -> None:
    """The catalog written to `tmp`; a DuckDB error names `target`, not the temporary file."""
    import duckdb

    try:
        con = duckdb.connect(str(tmp))
        try:
            _versions_table(con, versions, tags)
            _file_views(con, versions)
            # Closing checkpoints the log into the file and swallows a failed write (a full
            # disk, `ulimit -f`): the log, removed below, held everything, and an unreadable
            # catalog went into place with exit 0. A checkpoint of our own raises instead.
            con.execute("CHECKPOINT")
        finally:
            con.close()
    except duckdb.Error as exc:
        line = str(exc).splitlines()[0].replace(str(tmp), str(target))
        raise _write_error(line, target) from None
    finally:
        Path(str(tmp) + ".wal").unlink(missing_ok=True)


def _write_error(line: str, target: Path) -> GenekbError:
    """DuckDB's one-line error; a write the file system refused (its words in the line: "File
    too large") reads as every refused write does, with its way out (ulimit -f, free space)."""
    code = next((c for c in WRITE_FIXES if os.strerror(c) in line), None)
    if code is None:
        return GenekbError(line)
    return write_failed(target, OSError(code, os.strerror(code)))


def _file_views(con: duckdb.DuckDBPyConnection, versions: list[Any]) -> None:
    texts = [v for v in versions if isinstance(v, TextVersion)]
    embeddings = [v for v in versions if isinstance(v, EmbeddingVersion)]
    if texts:
        parts = [
            f"SELECT '{v.id}' AS text_id, * FROM read_parquet({_quote(v.path / GENES_FILE)})"
            for v in texts
        ]
        con.execute("CREATE VIEW genes AS " + " UNION ALL BY NAME ".join(parts))
    if embeddings:
        parts = [
            f"SELECT '{v.id}' AS embedding_id, '{v.text_id}' AS text_id, gene_id, symbol, "
            "text_sha256, n_tokens, truncated, vector::FLOAT[] AS vector "
            f"FROM read_parquet({_quote(v.path / VECTORS_FILE)})"
            for v in embeddings
        ]
        con.execute("CREATE VIEW embeddings AS " + " UNION ALL ".join(parts))
