"""A user's candidate labels as lines of text: what a spreadsheet, R or an editor adds around a
label, taken off before the label is read (`ontology.from_user`, `ontology.parse_candidates`).

- a column's header ("cell_type", "label", …) or a missing value ("nan", "NA") is not a cell
  type: refused (as a candidate it was scored and could be a group's call);
- a comment after a label ("T cell  # lymphocytes") is dropped, as a whole-line one is;
- quotes around a label (`write.table` in R, a CSV export) are dropped;
- a byte-order mark or a zero-width character (a file read without "utf-8-sig", a label copied
  from a web page) is dropped: `str.strip` keeps them, and the label read as no term.
"""

from __future__ import annotations

import re

from genekb.errors import UsageError

# Headers a one-column export writes over its labels (compared as `_header_key` writes them).
HEADERS = frozenset(
    {
        "cell type", "cell types", "celltype", "celltypes", "cell label", "cell labels",
        "label", "labels", "name", "names", "candidate", "candidates", "annotation",
        "annotations", "cell ontology class", "cell type ontology term id", "ontology term id",
        "cl id", "cl ids", "cluster label", "cell type label",
    }
)  # fmt: skip
# What pandas and R write for a missing cell of a table.
MISSING = frozenset({"nan", "na", "n/a", "none", "null", "<na>"})
_INVISIBLE = "\ufeff\u200b\u200c\u200d\u2060"
_COMMENT = re.compile(r"\s+#(?:\s.*)?$")  # "# note", not "#2": a label may number its groups so
_QUOTED = re.compile(r"""^(["'])(.*)\1$""")


def clean(raw: str) -> str:
    """`raw` without surrounding white space, invisible characters or one pair of quotes."""
    text = raw.strip().strip(_INVISIBLE).strip()
    quoted = _QUOTED.match(text)
    return quoted.group(2).strip() if quoted else text


def file_labels(text: str) -> list[str]:
    """The labels of a candidates file: one a line, '#' comments (whole-line or after a label)
    and blank lines left out."""
    lines = (_COMMENT.sub("", ln).strip() for ln in text.splitlines())
    return [clean(ln) for ln in lines if ln and not ln.startswith("#") and clean(ln)]


def _header_key(text: str) -> str:
    return " ".join(re.split(r"[\s_.\-]+", text.lower())).strip()


def refuse_not_a_name(given: str) -> None:
    """Refuse a column's header or a table's missing value given as a candidate: each was
    scored as a cell type's name. (A label of digits alone stays: cell lines are named so.)"""
    if _header_key(given) in HEADERS:
        raise UsageError(
            f"candidate {given!r} is a column's header, not a cell type; remove the header line"
            " (one label per line, no header)"
        )
    if given.lower() in MISSING:
        raise UsageError(
            f"candidate {given!r} is a table's missing value, not a cell type; leave it out"
        )
