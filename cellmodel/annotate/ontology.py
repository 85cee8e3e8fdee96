"""Candidate cell types and their text, from the Cell Ontology (CL).

CL is read offline through `cellxgene-ontology-guide` (MIT), which bundles the release its schema
names (CL v2026-03-26 for 1.11.1); nothing here parses the ontology files. A candidate is what the
user gave (free text or a CL id) or a CL term picked by subtree / tissue word / all; when a free
label matches a CL label or exact synonym it gains the term's id and definition.

The text embedded for a candidate (`TEXT_STYLES`) is chosen a priori: its label followed by its CL
definition, the way a textbook names and then describes a cell type; gene cards in the store are
written in the same register (name, then function).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from cellmodel.annotate import label_lines
from cellmodel.annotate.synonyms import exact_synonyms
from cellmodel.annotate.tissue_words import tissue_pattern
from genekb.errors import GenekbError, UsageError
from genekb.input_streams import read_input_text

CL_ROOT = "CL:0000000"  # "cell"
# As CL writes it, as OBO files and CellxGene do ("CL_0000236", its PURL) or with no separator.
CL_ID = re.compile(r"^(?:https?://purl\.obolibrary\.org/obo/)?CL[:_]?(\d{7})$", re.IGNORECASE)
TEXT_STYLES: dict[str, str] = {
    "definition": "label, then its CL definition (the given words alone without a CL term)",
    "label": "the label alone",
    "synonyms": "label, CL synonyms, then the definition",
    "parents": "label and definition, then each direct parent's label and definition (a CL"
    " definition names its genus and only the difference; the parent supplies the genus)",
}
DEFAULT_TEXT_STYLE = "parents"
UNASSIGNED = "unassigned"  # the call of a group no candidate is given to


@dataclass(frozen=True)
class Candidate:
    """One label a group can be given: `given` is written back exactly as the user wrote it
    (`name`: a CL id as its term's label)."""

    given: str
    cl_id: str | None
    label: str  # the CL label where known, else `given`
    definition: str | None
    read_as: str | None = None  # how a free label was read as `cl_id` (`free_labels`)
    same_as: str | None = None  # the label (`given`) of another candidate this one repeats

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def name(self) -> str:
        """What a call of this candidate is written as: `given`, or for a CL id given, its CL
        label (the id stays in the call's `cl_id`)."""
        return self.label if self.cl_id and normalize_id(self.given) else self.given


def called(cands: list[Candidate], index: int) -> Candidate:
    """The candidate a call of `cands[index]` is written as: itself, or, for a label that repeats
    another's term (`same_as`), the one that names it."""
    same = cands[index].same_as
    return next((c for c in cands if same and c.given == same), cands[index])


@lru_cache(maxsize=1)
def _parser() -> Any:
    try:
        from cellxgene_ontology_guide.ontology_parser import OntologyParser
    except ImportError:  # pragma: no cover - a declared dependency
        raise GenekbError(
            "the Cell Ontology needs the package cellxgene-ontology-guide;"
            " pip install cellxgene-ontology-guide==1.11.1"
        ) from None
    return OntologyParser()


def parser() -> Any:
    """The Cell Ontology reader (read once per process)."""
    return _parser()


def live_ids() -> list[str]:
    """Every live CL cell-type id under CL_ROOT, sorted."""
    return _index()[2]


@lru_cache(maxsize=1)
def live_labels() -> dict[str, str]:
    """CL id -> label, for every live cell type (read once per process)."""
    return {i: label or "" for i, label in _parser().map_term_labels(live_ids()).items()}


def cl_version() -> str:
    """The CL release the installed package reads (e.g. 'v2026-03-26')."""
    return str(_parser().cxg_schema.supported_ontologies["CL"]["version"])


# What a CL label appends when the term is defined for one clade only: ", human", "(Mmus)",
# "(Primate)", "(sensu Teleostei)".
CLADE_TAG = re.compile(r",\s*(human|mouse)$|\((?:sensu )?([A-Z][A-Za-z ]+)\)$")


def normalize_id(text: str) -> str | None:
    """'CL_0000169' / 'cl:0000169' -> 'CL:0000169'; None when `text` is no CL id."""
    m = CL_ID.match(text.strip())
    return f"CL:{m.group(1)}" if m else None


def _key(text: str) -> str:
    return " ".join(text.lower().replace("-", " ").split())


@lru_cache(maxsize=1)
def _index() -> tuple[dict[str, str], dict[str, str], list[str]]:
    """(label key -> id, exact-synonym key -> id, every live cell-type id under CL_ROOT)."""
    p = _parser()
    labels = p.get_term_label_to_id_map("CL")
    live = [i for i in labels.values() if not p.is_term_deprecated(i)]
    under = set(p.get_term_descendants(CL_ROOT, include_self=True))
    ids = sorted(i for i in live if i in under)
    by_label = {_key(lab): i for lab, i in labels.items() if i in under}
    names = {i: lab or "" for i, lab in p.map_term_labels(ids).items()}
    by_synonym = exact_synonyms(p.map_term_synonyms(ids), names, _key, CLADE_TAG)
    return by_label, by_synonym, ids


def lookup(text: str) -> str | None:
    """The CL id for a CL id, an exact label or an exact synonym (case-insensitive), else None."""
    cl = normalize_id(text)
    by_label, by_synonym, ids = _index()
    if cl is not None:
        return cl if cl in set(ids) else None
    key = _key(text)
    return by_label.get(key) or by_synonym.get(key)


def term(cl_id: str, given: str | None = None) -> Candidate:
    p = _parser()
    return Candidate(
        given=given if given is not None else cl_id,
        cl_id=cl_id,
        label=p.get_term_label(cl_id),
        definition=p.get_term_description(cl_id) or None,
    )


def from_user(items: Any) -> list[Candidate]:
    """Candidates as given: CL ids must exist; free text gains a CL term where one is its label
    or exact synonym (`free_labels.user_candidates` reads the rest's words too). Refused: a
    label given twice (or two that name one CL term: their scores would tie), an id of another
    ontology or a CL id miswritten, the word a group without a call is given, and a line of a
    list or table (';', a tab, a CL id beside words)."""
    labels = _label_list(items)
    out: list[Candidate] = []
    seen: dict[str, str] = {}  # a label's key, or its CL id -> the label that took it
    for raw in labels:
        given = label_lines.clean(raw)
        if not given:
            continue
        _refuse_label(given)
        cl = lookup(given)
        if cl is None and normalize_id(given) is not None:
            raise GenekbError(
                f"{given!r} is {_not_live(given)}; check the id (e.g. CL:0000169) or give the"
                " cell type in words"
            )
        for key in filter(None, (_key(given), cl)):
            if key in seen:
                _refuse_twice(seen[key], given, cl)
            seen[key] = given
        out.append(term(cl, given) if cl else Candidate(given, None, given, None))
    if len(out) < 2:
        hint = ""
        if len(out) == 1 and "," in out[0].given:
            hint = f": {out[0].given!r} is one label; separate labels with ';' (or give a file)"
        raise UsageError(f"annotation needs at least two candidate labels to choose between{hint}")
    return out


def _refuse_twice(first: str, given: str, cl: str | None) -> None:
    """Refuse a label that repeats `first` (as written, or the same CL term `cl`)."""
    if first == given:
        said = f"candidate {given!r} is given twice"
    else:
        same = f"name the same Cell Ontology term ({cl} {term(cl).label})" if cl else ""
        said = f"candidates {first!r} and {given!r} {same or 'are the same label'}"
    raise UsageError(f"{said}; give each cell type once (their scores would tie)")


def _label_list(items: Any) -> list[str]:
    """`items` as a list of strings: a list, tuple, array or Series (any ordered iterable)."""
    if isinstance(items, (str, bytes, set, frozenset, Mapping)) or not isinstance(items, Iterable):
        # A lone string would be taken letter by letter; a set's order changes from run to run
        # (and with it which of two tied labels wins); a mapping's values would be dropped.
        raise UsageError(
            f"candidates must be a list of labels, e.g. ['T cell', 'B cell'], not {items!r}"
        )
    labels = list(items)  # a generator is read once, here
    bad = next((i for i, label in enumerate(labels) if not isinstance(label, str)), None)
    if bad is not None:  # named alone: the whole list (500 labels) made a 6,000-character line
        missing = labels[bad] is None or labels[bad] != labels[bad]  # None or NaN
        raise UsageError(
            f"candidates[{bad}] is {labels[bad]!r}{', a missing value' if missing else ''}: not"
            " a label; candidates must be a list of labels, strings (drop missing values)"
        )
    return labels


# What a user wrote as an ontology id: a prefix and digits (UBERON:0002107, GO_0008150, cl:84);
# four digits at least but after CL, so that free text such as "ILC_2" stays a label.
_OTHER_ID = re.compile(r"^(CL)[:_](\d+)$|^([A-Za-z][A-Za-z.]+)[:_](\d{4,})$", re.IGNORECASE)
# A CL id inside longer text ("T cell,CL:0000084"): a row of a label-and-id table.
_ID_IN_TEXT = re.compile(r"(?<![A-Za-z])CL[:_]\d{7}(?!\d)", re.IGNORECASE)


def _refuse_label(given: str) -> None:
    """Refuse a label that cannot be a cell type's name (see `from_user`)."""
    label_lines.refuse_not_a_name(given)
    if given.lower() == UNASSIGNED:
        raise UsageError(
            f"candidate {given!r} is the word a group without a call is given; name a cell type"
        )
    if any(ch in given for ch in "\t\r\n"):
        raise UsageError(
            f"candidate {given!r} holds a tab or line break; give one label per line (of a"
            " table, its label column alone)"
        )
    if ";" in given:  # a file line of the command line's 'a;b' list: one label, never called
        raise UsageError(
            f"candidate {given!r} holds ';'; in a file give one label per line (';' separates"
            " labels on the command line only)"
        )
    if _ID_IN_TEXT.search(given) and normalize_id(given) is None:  # a table's label and id
        raise UsageError(
            f"candidate {given!r} holds a CL id beside other text; give the id or the cell type"
            " in words, one per line (of a table, one column alone)"
        )
    found = _OTHER_ID.match(given)
    if found is None or normalize_id(given) is not None:
        return
    cl_digits, prefix = found.group(2), found.group(3)
    if cl_digits is not None:
        padded = f"CL:{int(cl_digits):07d}" if len(cl_digits) < 7 else "e.g. CL:0000169"
        raise UsageError(f"{given!r} is no CL id: one is CL: and seven digits ({padded})")
    raise UsageError(
        f"{given!r} is a {prefix} id, not a Cell Ontology cell type; give a CL id"
        " (e.g. CL:0000169) or the cell type in words"
    )


def parse_candidates(spec: str) -> list[str]:
    """A candidates file (one label per line, '#' comments) or a 'a;b;c' list."""
    if not spec.strip():  # Path("") is the working directory
        raise UsageError("candidates= is empty; give a file (one label per line) or 'a;b;c'")
    path = Path(spec)
    # Any existing path (a file of any name, a pipe, `-` for stdin) is read as a file.
    if ";" not in spec and (spec == "-" or path.exists()):
        return label_lines.file_labels(read_input_text(path, "candidates file"))
    if ";" not in spec and (path.suffix in (".txt", ".csv", ".tsv", ".list") or "/" in spec):
        raise UsageError(f"candidates file {spec} not found; give a file or 'label a;label b'")
    return [label_lines.clean(s) for s in spec.split(";") if label_lines.clean(s)]


def _not_live(text: str) -> str:
    """What a CL id no live term has is: obsolete (with its replacement where CL names one),
    or no term of this release."""
    cl = normalize_id(text) or text
    p = _parser()
    try:
        obsolete = bool(p.is_term_deprecated(cl))
    except (KeyError, ValueError):  # an id the release does not hold
        obsolete = False
    if not obsolete:
        return f"not a live Cell Ontology term in CL {cl_version()}"
    instead = p.get_term_replacement(cl)
    live = instead if instead and lookup(instead) else None
    return f"obsolete in CL {cl_version()}" + (
        f" (replaced by {live} {term(live).label})" if live else ""
    )


def resolve_term(text: str) -> str:
    cl = lookup(text)
    if cl is None and normalize_id(text) is not None:  # a CL id: say why it names no term
        raise UsageError(f"{text!r} is {_not_live(text)}; give a live CL id or an exact label")
    if cl is None:
        raise UsageError(
            f"{text!r} names no Cell Ontology term; give a CL id, a label, or words naming one"
            " term ('T cells') (a tissue's terms: tissue=)"
        )
    return cl


def from_ontology(*, subtree: str | None = None, tissue: str | None = None) -> list[Candidate]:
    """CL cell types: all of them, those under `subtree` (a CL id or label), and/or those whose
    label, synonyms or definition name the `tissue` word."""
    for name, value in (("ontology_subtree", subtree), ("tissue", tissue)):
        if value is not None and not isinstance(value, str):
            raise UsageError(f"{name}={value!r} must be a word, e.g. {name}='pancreatic'")
        if value is not None and not value.strip():  # a blank word would match every term
            raise UsageError(f"{name}= is blank; give a word (or leave it out for every term)")
    p = _parser()
    _, _, ids = _index()
    chosen = ids
    if subtree:
        root = resolve_term(subtree)
        under = set(p.get_term_descendants(root, include_self=True))
        chosen = [i for i in chosen if i in under]
    hint = ""
    if tissue and (normalize_id(tissue) or _OTHER_ID.match(tissue.strip())):
        # an id is no word of any term's text: it left no term, and "widen it" sent nowhere
        raise UsageError(
            f"tissue={tissue!r} is an id; tissue= takes a word of the terms' text (e.g."
            " 'pancreatic'); the terms under a CL term: ontology_subtree="
        )
    if tissue:
        word = tissue_pattern(tissue)
        labels = p.map_term_labels(chosen)
        defs = p.map_term_descriptions(chosen)
        syns = p.map_term_synonyms(chosen)
        named = [
            i
            for i in chosen
            if any(word.search(t or "") for t in [labels.get(i), defs.get(i), *(syns.get(i) or [])])
        ]
        if len(named) * 2 > len(ids):  # "T", "cell", "the": the start of words in most texts
            raise UsageError(
                f"tissue={tissue!r} begins a word in the text of {len(named)} of the"
                f" {len(ids)} Cell Ontology terms, so it restricts almost nothing; give a"
                " tissue's word (e.g. 'pancreatic', 'lung')"
            )
        hint = "" if named else _close_words(tissue, chosen)
        chosen = named
    if len(chosen) < 2:
        given = {"ontology_subtree": subtree, "tissue": tissue}  # named as `annotate` takes them
        said = ", ".join(f"{k}={v!r}" for k, v in given.items() if v is not None)
        raise UsageError(
            f"the Cell Ontology restriction ({said}) leaves {len(chosen)} term(s); {hint}widen it"
        )
    labels = p.map_term_labels(chosen)
    defs = p.map_term_descriptions(chosen)
    # Nothing was given: the call is written as the CL label (its id sits beside it).
    return [Candidate(labels[i], i, labels[i], defs.get(i) or None) for i in chosen]


def _close_words(word: str, ids: list[str]) -> str:
    """'did you mean …? ' naming the words of the terms' labels and synonyms (the names of
    tissues, not the definitions' prose) nearest a tissue word no term names."""
    p = _parser()
    labels, syns = p.map_term_labels(ids), p.map_term_synonyms(ids)
    names = [labels.get(i) or "" for i in ids] + [s for i in ids for s in syns.get(i) or []]
    vocabulary = {w for name in names for w in re.findall(r"[a-z]{3,}", name.lower())}
    close = difflib.get_close_matches(word.strip().lower(), vocabulary, n=3, cutoff=0.75)
    return f"did you mean {' or '.join(map(repr, close))}? " if close else ""


def candidate_text(c: Candidate, style: str = DEFAULT_TEXT_STYLE) -> str:
    """The sentence embedded for a candidate (see `TEXT_STYLES`)."""
    if style not in TEXT_STYLES:
        raise UsageError(f"unknown text style {style!r}; choose one of {', '.join(TEXT_STYLES)}")
    if style == "label" or c.cl_id is None:
        return c.label
    parts = [c.label]
    if style == "synonyms":
        syn = synonyms(c.cl_id)
        if syn:
            parts.append("also called " + ", ".join(syn[:8]))
    if c.definition:
        parts.append(c.definition)
    if style == "parents":
        p = _parser()
        for parent in sorted(p.get_term_parents(c.cl_id)):
            parts.append(p.get_term_label(parent))
            if p.get_term_description(parent):
                parts.append(p.get_term_description(parent))
    return ". ".join(p.rstrip(".") for p in parts) + "."


def synonyms(cl_id: str) -> list[str]:
    return list(_parser().get_term_synonyms(cl_id) or [])


def parents(cl_id: str) -> set[str]:
    return set(_parser().get_term_parents(cl_id))


def children(cl_id: str) -> set[str]:
    return set(_parser().get_term_children(cl_id))


def credit(predicted: str | None, truth: str | None) -> tuple[bool, bool]:
    """(exact, ontology-aware): the same CL id; or the same, its direct parent or direct child."""
    if not predicted or not truth:
        return False, False
    if predicted == truth:
        return True, True
    return False, predicted in parents(truth) or predicted in children(truth)
