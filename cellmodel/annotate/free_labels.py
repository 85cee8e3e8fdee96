"""A user's own label names read as Cell Ontology terms.

Labs name cell types as they write them ("CD14+ Mono", "B cells", "Tregs", "T.CD4.Naive"), seldom
as CL labels ("CD14-positive monocyte"). A candidate no CL term names is scored by the text
channel alone: the marker table, the knowledge and the lineage checks all need a term. So a label
that is neither a CL id nor a CL label or exact synonym is read again, and takes a term only
where exactly one reads from it:

1. **Written forms**: "+" (or "++") after a marker is "-positive" and a "-" ending one
   "-negative", "hi"/"lo" on one "-high"/"-low"; a possessive is the name ("Kupffer's") and a
   species word is left out ("mouse B cells"); "_",
   ".", "/", "," and brackets separate words; superscripts, full-width forms, Greek letters
   ("γδ T": "gamma-delta") and accents are written as CL writes them; a plural word is
   singular where CL knows the singular ("monocytes", "cells"); a few abbreviations common in
   public label sets are expanded (`abbreviations.ABBREVIATIONS`: "Mono", "DC", "Mk", "Astro",
   …); a cell type's own abbreviation ("AT1", "cDC1", "NKT", "Trm": `abbreviations`) where
   the label as written reads as no term or only by every word (step 3) ("type II NKT" is CL's
   "type II NKT cell", not a mature NK T cell's; "CD8 Trm" is no lung TRM cell).
2. **Exact**: that form, or that form with "cell" added ("B", "CD8 T", "dendritic"), is one
   term's label or exact synonym.
3. **Every word**: the label has two words or more beside "cell", and one term's label or exact
   synonym holds them all with the fewest other words (in any order: "Memory CD4 T" reads as
   "CD4-positive, alpha-beta memory T cell"). The qualifiers CL writes into most T-cell labels
   ("positive", "alpha", "beta", "thymus-derived") do not count as words of the label or as
   other words; a marker or a marker's level the user did not write (a word with a digit, as
   "CD14", or "negative", "low", …) bars the term: "Mono.CD16" does not read as "CD14-low,
   CD16-positive monocyte" (it is CL's "CD16+ monocyte", the CD14-positive one, except beside
   a CD14 monocyte: `abbreviations.cd16_beside_cd14`), nor as "CD16-negative monocyte"; so does
   a subtype's number ("activated NK" is not the "activated type II NK T cell"). Two terms
   equally close read as none. A "/" joining two labels that read as two cell types ("B/Plasma")
   names a mixed group: none; so does a label ending in a cluster's number ("T cells 2": not
   the T-helper 2 cell). A marker written with both signs ("CD16+/- Mono") is not read.

One name written twice ("B cells" beside "B cell", "monocytes" beside "Monocyte": the same words
as step 1 reads them) is said in a `NearDuplicateWarning`, and a call of either is written as
the one that names the term (`user_candidates`).

A term CL defines for one clade ("…, human", "(Mmus)") is never read from a lab's label, which
names no species (nor is its exact synonym, where a term for every clade holds the synonym's
words: `synonyms`); CL's superseded synonyms "DC1" and "DC2" are read as today's atlases mean
them. A list's gene-named cortical subclasses ("Pvalb", "Sst") are read beside its cortical
neurons (`abbreviations.list_vocabularies`). Nothing here reads data or a call; each reading
is reported (`read_label`'s `how`). A subtree named in words is read alike (`subtree_term`); a
sample type or blood given as the tissue is read as its cells' subtree
(`tissue_words.sample_subtree`).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from dataclasses import replace
from functools import lru_cache
from typing import Any

from cellmodel.annotate import ontology, other_terms
from cellmodel.annotate.abbreviations import (
    ABBREVIATIONS,
    CELL_ABBREVIATIONS,
    cd16_beside_cd14,
    expand,
    list_vocabularies,
)
from cellmodel.annotate.synonyms import not_read
from genekb.errors import GenekbWarning, UsageError, warn

# A tissue's adjective as CL labels write it before a cell's name ("pancreatic alpha cell").
TISSUE_ADJECTIVES: dict[str, str] = {
    "pancreas": "pancreatic",
    "lung": "pulmonary",
    "kidney": "renal",
    "liver": "hepatic",
    "gut": "intestinal",
    "skin": "epidermal",
    "heart": "cardiac",
    "retina": "retinal",
    "brain": "cerebral",
    "pituitary": "pituitary",
}
NEURON = "CL:0000540"
# Words CL writes into most T-cell labels; a reading may add them.
QUALIFIERS = frozenset({"positive", "alpha", "beta", "thymus", "derived", "cell"})
# A marker's level: a claim a reading may not add.
LEVELS = frozenset({"negative", "low", "high", "dim", "bright", "hi", "lo", "int", "intermediate"})
# A subtype's number in Roman numerals ("type II NK T cell"): a claim, as a digit is ("activated
# T" and "activated NK" were read as the activated type II NK T cell).
NUMERALS = frozenset({"i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x"})
# The ending of a one-word cell's name ("granulocyte", "myeloblast"): a reading may not add one.
_CELL_NOUN = ("cyte", "blast", "phil", "phage")
_ABBREVIATED = (ABBREVIATIONS, CELL_ABBREVIATIONS)  # a plural of either is read singular
# "++" is a bright marker ("CD14++CD16-": the classical monocyte), which CL writes "-positive".
_POSITIVE = re.compile(r"(?<=[A-Za-z0-9])\+\+?")
# A possessive ("Kupffer's cells", "Langerhans' cells"): CL writes the name alone.
_POSSESSIVE = re.compile(r"['\u2019]s\b|(?<=s)['\u2019](?=\s|$)")
# The species a label names ("mouse B cells", "Human NK cells"): CL's terms for every species
# are its reading (a lab's own list names no species: module docstring).
SPECIES = frozenset({"human", "humans", "mouse", "mice", "murine", "rat"})
_NEGATIVE = re.compile(r"(?<=[A-Za-z0-9])-(?=$|[\s/,;.])")
# A marker written with both signs ("CD16+/-", "CD4±") says neither: the marker is not read
# ("CD16+/- Mono" was the CD16-positive monocyte).
_EITHER_SIGN = re.compile(r"[a-z0-9]+(?:\+/?-|-/?\+|±|∓)(?=$|[\s/,;.)\]])")
_SEPARATORS = re.compile(r"[_./,;()\[\]{}\-\s]+")
# Other keyboards' characters as CL writes them: Greek letters spelled out ("γδ T", "CD8α": CL's
# "gamma-delta", "CD8-alpha"), dashes and minus signs as "-"; superscripts and full-width forms
# are folded by Unicode's compatibility mapping ("CD4⁺", "ＣＤ４"), accents dropped ("naïve").
_GREEK = {"α": "alpha", "β": "beta", "γ": "gamma", "δ": "delta", "ε": "epsilon", "κ": "kappa"}
_GREEK |= {"λ": "lambda", "μ": "mu"}
_G = "".join(_GREEK)
_AT_GREEK = re.compile(f"(?<=[a-z0-9{_G}])(?=[{_G}])|(?<=[{_G}])(?=[a-z0-9])")  # "γδt": γ-δ-t
_PLAIN = str.maketrans({**_GREEK, "\u2010": "-", "\u2011": "-", "\u2013": "-", "\u2212": "-"})
# A marker's level written onto it ("CD56bright", "CD16hi", "CD27neg") as CL writes it apart.
_LEVEL_SUFFIX = re.compile(r"(?<=\d)(bright|dim|high|hi|low|lo|neg|pos)\b", re.IGNORECASE)
_LEVEL_WORDS = {"neg": "negative", "pos": "positive", "hi": "high", "lo": "low"}
# A number ending a label after a name, as clusters are numbered ("T cells 2", "Endo_1"): an index,
# not the name's ("T cells 2" was the T-helper 2 cell, "Endo 2" an alveolar capillary cell), and
# the label is left words (its siblings would read as one term); after a word that takes a
# number ("type 2", "group 3", "T-helper 17") it is the name's.
_INDEX = re.compile(
    r"(?<=[A-Za-z+\-])(?<!type)(?<!group)(?<!layer)(?<!segment)(?<!stage)(?<!helper)"
    r"[\s_.]+\d+\s*$",
    re.IGNORECASE,
)


def user_candidates(items: Any) -> list[ontology.Candidate]:
    """A user's candidates (`ontology.from_user`), each free label read as the CL term its words
    give where no other label has that term (two labels read as one term keep their words: the
    reading is a guess, not theirs), then the rest with the list's tissue (`_tissue_readings`);
    `read_as` says how."""
    out = _same_as(ontology.from_user(items))
    for readings in (_readings, _tissue_readings):
        taken = {c.cl_id for c in out if c.cl_id}
        found = readings([c.given if c.cl_id is None and not c.same_as else None for c in out])
        counts = Counter(cl for cl, _ in found.values() if cl)
        for i, (cl, how) in found.items():
            if cl and cl not in taken and counts[cl] == 1:
                out[i] = replace(ontology.term(cl, out[i].given), read_as=how)
    out = list_vocabularies(cd16_beside_cd14(out))
    free = [c.given for c in out if c.cl_id is None and not c.same_as]
    other_terms.warn_not_cell_types(free)
    other_terms.warn_close_terms(free)
    return out


class NearDuplicateWarning(GenekbWarning):
    """Two candidates are one cell type written two ways ("B cells" beside "B cell")."""


def _same_as(out: list[ontology.Candidate]) -> list[ontology.Candidate]:
    """`out`, each label that is another's name written another way (the same words as
    `_words` reads them, "cell" aside: a plural, a hyphen, case, "cell" left out: "B cells"
    beside "B cell") marked `same_as` the first of them that names a CL term, else the first;
    that one takes the term its words read as (`read_label`) where no other label has it.
    "monocytes" beside "Monocyte" was kept as free text, scored by its words alone, and the
    groups of one kind were split between the two names; a call of either is now written as
    the one. The pairs are named in one `NearDuplicateWarning`. Different names of one term
    ("pDC" beside "Plasmacytoid DCs") are not pairs: a label set may mean two cell types by
    them."""
    same: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for i, c in enumerate(out):
        key = tuple(w for w in _word_tuple(c.name) if w != "cell")
        if key:
            same[key].append(i)
    pairs = []
    for idx in (idx for idx in same.values() if len(idx) > 1):
        first = next((i for i in idx if out[i].cl_id), idx[0])
        cl, how = read_label(out[first].given) if out[first].cl_id is None else (None, "")
        if cl and cl not in {c.cl_id for c in out}:
            out[first] = replace(ontology.term(cl, out[first].given), read_as=how)
        for i in idx:
            if i != first:
                out[i] = replace(out[i], same_as=out[first].given)
                pairs.append(f"{out[i].given!r} repeats {out[first].name!r}")
    if len({c.same_as or c.given for c in out}) < 2:
        raise UsageError(
            f"candidates {'; '.join(pairs)}: one cell type; give at least two to choose between"
        )
    if pairs:
        warn(
            f"candidates name one cell type twice: {'; '.join(pairs)}; a call of either is"
            " written as the second (give each cell type once)",
            NearDuplicateWarning,
        )
    return out


def subtree_term(text: Any) -> Any:
    """A subtree named as labs write it ("T cells", "monocytes") as the CL id its words read as
    (`read_label`), where CL names it not exactly; else `text` as given (checked by
    `ontology.from_ontology`)."""
    if not isinstance(text, str) or ontology.lookup(text) or ontology.normalize_id(text):
        return text
    return read_label(text)[0] or text


def _readings(free: list[str | None]) -> dict[int, tuple[str | None, str]]:
    return {i: read_label(text) for i, text in enumerate(free) if text is not None}


def _tissue_readings(free: list[str | None]) -> dict[int, tuple[str | None, str]]:
    """The labels still free read with one tissue's word before them ("alpha" as "pancreatic
    alpha cell"), the tissue being the one under which most of them read, at least two and
    more than under any other: a lab's list names the cells of one tissue."""
    found: dict[str, dict[int, tuple[str | None, str]]] = {}
    # Each label's words once, not once per tissue: 2,000 long labels took seconds.
    parsed = {i: _words(text) for i, text in enumerate(free) if text is not None}
    for tissue, adjective in TISSUE_ADJECTIVES.items():
        found[tissue] = {}
        for i, words in parsed.items():
            cl = _read_words([adjective, *words])[0] if _names_a_cell(words) else None
            if cl:
                found[tissue][i] = (cl, f"with '{adjective}', the list's tissue")
    ranked = sorted(found.values(), key=len, reverse=True)
    if not ranked or len(ranked[0]) < 2 or (len(ranked) > 1 and len(ranked[1]) == len(ranked[0])):
        return {}
    return ranked[0]


def _names_a_cell(words: list[str]) -> bool:
    """Whether a label's words hold a name, not a number alone ("1", "II", "type 2"): a list of
    cluster numbers read as the lung's "pulmonary alveolar type 1 cell", "… type 2 cell"."""
    return any(not w.isdigit() and w not in NUMERALS and w not in ("type", "cell") for w in words)


@lru_cache(maxsize=8192)  # a list's labels are read for duplicates, then for terms
def read_label(text: str) -> tuple[str | None, str]:
    """The CL id one term gives `text` (a label CL does not name exactly), and how it was read
    ("written form", "with 'cell'", "every word"); (None, "") where none or several do, or
    where the label names a mixture (`_mixture`)."""
    return (None, "") if _mixture(text) else _read_words(_words(text))


def _mixture(text: str) -> bool:
    """Whether a "/" joins two labels each read as its own cell type ("B/Plasma", "T/NK"): a
    group of both, which neither term names (read whole, "B/Plasma" was the plasma cell)."""
    parts = text.split("/")
    return len(parts) > 1 and len({_read_words(_words(p))[0] for p in parts} - {None}) > 1


def _read_words(words: list[str]) -> tuple[str | None, str]:
    """`read_label` on a label's words (`_words`)."""
    if not words:
        return None, ""
    found = _read_as_written(words)
    expanded = expand(words)
    # Read as written unless that is none or only a guess by every word: "CD8 Trm" held every
    # word of CL's "lung TRM CD8-positive, integrin alpha E-positive cell".
    if found[1] in ("", "every word") and expanded != words:
        again = _read_as_written(expanded)
        found = again if again[0] else found
    return found if found[0] else _as_neuron(words)


def _as_neuron(words: list[str]) -> tuple[str | None, str]:
    """A neuron named "… neuron" where CL writes "… cell" ("Granule neurons": CL's granule
    cell), read only as a neuron's term. Not the reverse: a lab's "… cells" may be no neurons
    ("Sensory cells" are hair cells too)."""
    found = _written([*words[:-1], "cell"]) if len(words) > 1 and words[-1] == "neuron" else None
    if found and NEURON in ontology.parser().get_term_ancestors(found[0]):
        return found[0], "'neuron' as CL's 'cell'"
    return None, ""


def _read_as_written(words: list[str]) -> tuple[str | None, str]:
    written = _written(words)
    if written:
        return written
    found = _closest(words)
    return (found, "every word") if found else (None, "")


def _written(words: list[str]) -> tuple[str, str] | None:
    """The one term whose label or exact synonym is `words`, or those and "cell" (step 2), or
    those with "cell" last ("Cells, dendritic", "Cell, mast")."""
    index, _ = _terms()
    last = [w for w in words if w != "cell"] + ["cell"]
    forms = [(words, "written form"), ([*words, "cell"], "with 'cell'")]
    for form, how in [*forms, *([(last, "'cell' last")] if "cell" in words[:-1] else [])]:
        ids = index.get(" ".join(form), set())
        if len(ids) == 1:
            return next(iter(ids)), how
    return None


def _split(text: str) -> list[str]:
    """Lower-case words, a marker's "+" read as "positive" and a trailing "-" as "negative"
    (CL's synonyms write "CD16- monocyte" too)."""
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in text if not unicodedata.combining(c))
    text = _POSSESSIVE.sub("", text)
    text = _EITHER_SIGN.sub(" ", _AT_GREEK.sub("-", text.lower()).translate(_PLAIN))
    text = _NEGATIVE.sub("-negative ", _POSITIVE.sub("-positive ", text))
    text = _LEVEL_SUFFIX.sub(lambda m: " " + _LEVEL_WORDS.get(m[1], m[1]), text)
    return [w for w in _SEPARATORS.split(text) if w]


def _words(text: str) -> list[str]:
    """The label's words as CL writes them (module docstring, step 1); none for a label ending
    in a cluster's number, unless CL writes the name with it ("ILC_2": "ILC2")."""
    return list(_word_tuple(text))


@lru_cache(maxsize=8192)  # a list's labels are read twice: alone, then with its tissue
def _word_tuple(text: str) -> tuple[str, ...]:
    index = _INDEX.search(text) if text.rstrip()[-1:].isdigit() else None  # the regex is slow
    if index and not _written(_plain_words(text[: index.start()] + index[0].strip(" _.\t"))):
        return ()  # one cluster of several of a kind (module docstring, step 3)
    return tuple(_plain_words(text))


def _plain_words(text: str) -> list[str]:
    _, vocabulary = _terms()
    out: list[str] = []
    for raw in _split(text):
        plural = raw.endswith("s") and not raw.endswith(("ss", "us", "is"))
        if plural and any(raw[:-1] in known for known in (vocabulary, *_ABBREVIATED)):
            raw = raw[:-1]  # "cells", "monocytes", "Tregs", "DCs"
        out += ABBREVIATIONS.get(raw, raw).lower().split()
    named = [w for w in out if w not in SPECIES]
    return named if named else out


def _closest(words: list[str]) -> str | None:
    """The one term holding every word with the fewest others (module docstring, step 3)."""
    wanted = set(words) - {"cell"}
    if len(wanted - QUALIFIERS) < 2:
        return None
    index, _ = _terms()
    postings = _postings()
    if any(w not in postings for w in wanted):
        return None
    keys = set.intersection(*(postings[w] for w in wanted))
    best: dict[str, int] = {}
    numbered = len(wanted) + 99  # the fewest other words of a subtype barred for its number
    for key in keys:
        held, ids = set(key.split()), index[key]
        extra = held - wanted - QUALIFIERS
        if extra & (LEVELS | NUMERALS) or any(any(ch.isdigit() for ch in w) for w in extra):
            named = {w for w in extra if w.isdigit() or w in NUMERALS or w == "type"}
            if not extra & LEVELS and not any(any(c.isdigit() for c in w) for w in extra - named):
                numbered = min(numbered, len(extra - named))
            continue  # a marker, its level or a subtype's number the user did not write
        if any(w.endswith(_CELL_NOUN) and w in index for w in extra):
            continue  # another kind of cell ("Monocyte precursor" is no granulocyte/monocyte one)
        for cl in ids:
            best[cl] = min(best.get(cl, len(extra)), len(extra))
    if not best:
        return None
    fewest = min(best.values())
    closest = [cl for cl, n in best.items() if n == fewest]
    # A numbered subtype closer than the term found makes it a guess between siblings:
    # "Alveolar fibroblasts" is no more the adventitial one than "alveolar type 1 fibroblast".
    return closest[0] if len(closest) == 1 and numbered >= fewest else None


@lru_cache(maxsize=1)
def _postings() -> dict[str, set[str]]:
    """Each word -> the label and synonym keys (`_terms`) that hold it."""
    out: dict[str, set[str]] = defaultdict(set)
    for key in _terms()[0]:
        for word in key.split():
            out[word].add(key)
    return dict(out)


@lru_cache(maxsize=1)
def _terms() -> tuple[dict[str, set[str]], frozenset[str]]:
    """(the words of each live term's label and exact synonyms -> the ids they name, every such
    word); terms defined for one clade are left out."""
    p = ontology.parser()
    labels = ontology.live_labels()
    index: dict[str, set[str]] = defaultdict(set)
    synonyms = p.map_term_synonyms(list(labels))
    for cl, label in labels.items():
        if ontology.CLADE_TAG.search(label):
            continue
        for name in (label, *(synonyms.get(cl) or [])):
            key = " ".join(_split(name))
            if name == label or not not_read(key):  # "DC2", "LP": `synonyms`
                index[key].add(cl)
    vocabulary = frozenset(w for key in index for w in key.split())
    return dict(index), vocabulary
