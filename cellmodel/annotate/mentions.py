"""Genes a candidate's own text names, and how strongly each group expresses them.

A Cell Ontology term often names its cell type's genes outright: "a cell that secretes insulin",
"a monocyte that expresses CD14", "phenotype perforin-positive and granzyme B-positive",
"CD117-high". The gene knowledge that reads those words is the gene's nomenclature in the store's
source (NCBI Gene via org.Hs.eg.db): its official symbol, its aliases and its full name. This
module finds such mentions and scores each group by how much more it expresses the named genes
than the other cells do, which is the way a person reads a definition against marker genes.

**Lexicon** (`Lexicon.from_table`): official symbols, matched case-sensitively as whole tokens;
aliases that carry a digit (CD56, CD117: most letter-only aliases are abbreviations that CL text
uses for something else, MHC, TCR, ILC), unless the token is some gene's official symbol (CD14
is CD14, not NDUFA2, which has it as an alias); full names as whole phrases, case-insensitive, with
hyphens read as spaces; and two shorter forms of a full name, kept only where at most
`MAX_FORM_GENES` genes' names contain them: the name without its trailing designators ("perforin"
from "perforin 1"), and the first of two joined names ("ghrelin" from "ghrelin and obestatin
prepropeptide") where the gene's own GO terms use it as a word ("ghrelin receptor binding"), so that
an adjective opening a name ("hepatic and glial cell adhesion molecule") is not read as the gene.
Where phrases overlap, the longest wins ("granzyme B" before "granzyme").

**Negation.** A mention followed by negative / low / neg, or inside a clause opened by "negative
for", "lacks", "lack of" or "does not express", says the type does *not* express the gene; such
mentions are left out.

The mentions read the source's nomenclature, not the store's vectors: under the "bag-of-words"
control they are left as they are (they are words already); under "shuffled" and "random" each
named gene is read from a random data gene.

**Score.** For a group g and a candidate whose text names the genes present in the data, each
mention's value is the largest log-fold change (group mean minus the mean of the other cells, on
log-normalised expression) among the genes it may name (an alias can name two genes; the data
tells which one is meant); the candidate's mention score is the mean of those values. A candidate
whose text names no gene in the data has no mention score (nan).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from cellmodel.annotate.ontology import synonyms
from genekb.fileio import atomic_write
from genekb.sources.bundled import load_bundled
from genekb.store.hashing import sha256_json, sha256_text

MAX_FORM_GENES = 3
# Bump when the lexicon or `find` changes what a text's mentions are: cached mentions are keyed
# by it, the snapshot the lexicon is built from and each text's sha256.
MENTIONS_FORMAT = 1
MAX_PHRASE_WORDS = 8
_NEGATIVE_AFTER = {"negative", "low", "neg", "lo"}
_NEGATION_CLAUSE = re.compile(
    r"\b(negative for|lacks?|lacking|does not express|do not express|absence of)\b",
    re.IGNORECASE,
)
_DESIGNATOR = re.compile(r"^(\d+[a-z]?|[a-z]\d*|[ivx]+|[a-z]?\d+[a-z]?\d*)$")
_WORD = re.compile(r"[A-Za-z0-9]+")


def split_words(text: str) -> list[str]:
    """The words of `text`, hyphens read as spaces (shared with the process index)."""
    return _WORD.findall(text.replace("-", " "))


def readable_alias(alias: str) -> bool:
    """Whether text may name a gene by this alias: three or more letters and digits, a digit
    among them (CD56, CD117; letter-only aliases are mostly abbreviations of other things)."""
    return len(alias) >= 3 and alias.isalnum() and any(ch.isdigit() for ch in alias)


@dataclass
class Mention:
    """One place in a text that names genes: the words as written, the GeneIDs it may mean,
    and whether the text says the type expresses them."""

    words: str
    gene_ids: tuple[int, ...]
    positive: bool


@dataclass
class Lexicon:
    """Token (symbol / digit-bearing alias) and phrase (full name forms) -> GeneIDs."""

    tokens: dict[str, tuple[int, ...]] = field(default_factory=dict)
    phrases: dict[tuple[str, ...], tuple[int, ...]] = field(default_factory=dict)

    @classmethod
    def from_table(cls, gene_ids, symbols, aliases, names, go_terms) -> Lexicon:
        tokens: dict[str, set[int]] = defaultdict(set)
        by_alias: dict[str, set[int]] = defaultdict(set)
        full: dict[tuple[str, ...], set[int]] = defaultdict(set)
        short: dict[tuple[str, ...], set[int]] = defaultdict(set)
        rows = zip(gene_ids, symbols, aliases, names, go_terms, strict=True)
        for gid, symbol, alias_list, name, go in rows:
            gid = int(gid)
            if symbol and len(symbol) >= 2:
                tokens[symbol].add(gid)
            for alias in alias_list if alias_list is not None else ():
                if readable_alias(alias):
                    by_alias[alias].add(gid)
            words = tuple(w.lower() for w in split_words(name or ""))
            if not words or len(words) > MAX_PHRASE_WORDS:
                continue
            if len("".join(words)) >= 4:
                full[words].add(gid)
            for form in _short_forms(words, " ".join(go if go is not None else ()).lower()):
                short[form].add(gid)
        # A short form shared by many genes' names ("receptor", "granzyme") names none of them.
        contains: dict[tuple[str, ...], int] = defaultdict(int)
        for words in full:
            for n in range(1, len(words) + 1):
                for i in range(len(words) - n + 1):
                    if words[i : i + n] in short:
                        contains[words[i : i + n]] += 1
        for alias, gids in by_alias.items():  # an official symbol outranks others' aliases
            if alias not in tokens:
                tokens[alias] = gids
        phrases = {k: set(v) for k, v in full.items()}
        for form, gids in short.items():
            if contains[form] <= MAX_FORM_GENES and form not in phrases:
                phrases[form] = set(gids)
        return cls(
            tokens={k: tuple(sorted(v)) for k, v in tokens.items()},
            phrases={k: tuple(sorted(v)) for k, v in phrases.items()},
        )

    def find(self, text: str) -> list[Mention]:
        """The gene mentions of `text`, in order, longest phrase first where they overlap."""
        out: list[Mention] = []
        for sentence in re.split(r"(?<=[.;:])\s+", text):
            clause = _NEGATION_CLAUSE.search(sentence)
            cut = clause.start() if clause else len(sentence)
            for part, negated in ((sentence[:cut], False), (sentence[cut:], True)):
                out.extend(self._scan(part, negated))
        return out

    def _scan(self, text: str, negated: bool) -> list[Mention]:
        words = split_words(text)
        lower = [w.lower() for w in words]
        out: list[Mention] = []
        i = 0
        while i < len(words):
            hit, span = None, 1
            for n in range(min(MAX_PHRASE_WORDS, len(words) - i), 0, -1):
                gids = self.phrases.get(tuple(lower[i : i + n]))
                if gids:
                    hit, span = gids, n
                    break
            if hit is None:
                hit = self.tokens.get(words[i])
            if hit:
                after = lower[i + span] if i + span < len(words) else ""
                positive = not negated and after not in _NEGATIVE_AFTER
                out.append(Mention(" ".join(words[i : i + span]), hit, positive))
            i += span
        return out


def _short_forms(words: tuple[str, ...], go_text: str) -> list[tuple[str, ...]]:
    forms = []
    stripped = list(words)
    while len(stripped) > 1 and _DESIGNATOR.match(stripped[-1]):
        stripped.pop()
    if tuple(stripped) != words and len("".join(stripped)) >= 5:
        forms.append(tuple(stripped))
    if "and" in words:
        first = words[: words.index("and")]
        used = first and re.search(rf"\b{re.escape(' '.join(first))}\b", go_text)
        if used and len("".join(first)) >= 5:
            forms.append(first)
    return forms


@lru_cache(maxsize=1)
def human_lexicon() -> Lexicon:
    """The lexicon of the bundled human snapshot (symbols, aliases and names of NCBI Gene)."""
    columns = ["gene_id", "symbol", "aliases", "name", "go_bp", "go_mf", "go_cc"]
    df = load_bundled("human").table.select(columns).to_pandas()
    go = [[*bp, *mf, *cc] for bp, mf, cc in zip(df["go_bp"], df["go_mf"], df["go_cc"], strict=True)]
    return Lexicon.from_table(df["gene_id"], df["symbol"], df["aliases"], df["name"], go)


def mention_text(c: Any) -> str:
    """What is read for mentions: the candidate as given, its CL label, synonyms and definition
    (not its parents': a parent's genes belong to every child alike)."""
    if c.cl_id is None:
        return c.given
    return ". ".join([c.given, c.label, *synonyms(c.cl_id), c.definition or ""])


@dataclass
class MentionScores:
    """groups × candidates scores (nan: the candidate names no data gene), and per candidate its
    distinct mentions that name data genes, as (words, data columns)."""

    scores: np.ndarray
    named: list[list[tuple[str, list[int]]]]

    def evidence(self, lfc: np.ndarray, group: int, cand: int) -> list[tuple[str, int, float]]:
        """(words, data column, log-fold change) of each gene the candidate names, in `group`:
        of the genes a mention may name, the one the group expresses most; strongest first."""
        out = []
        for words, cols in self.named[cand]:
            best = cols[int(np.argmax(lfc[group, cols]))]
            out.append((words, best, float(lfc[group, best])))
        return sorted(out, key=lambda e: -e[2])


def text_mentions(texts: list[str], cache_dir: str | None = None) -> list[list[Mention]]:
    """Each text's mentions. Building the lexicon and reading the whole ontology's texts take
    seconds and depend on no data, so with `cache_dir` they are kept there as JSON (keyed by each
    text's sha256, in a file named by the snapshot and `MENTIONS_FORMAT`; delete it to rebuild);
    only texts it lacks are read and the file is then rewritten whole."""
    keys = [sha256_text(t) for t in texts]
    path = None
    known: dict[str, list] = {}
    if cache_dir is not None:
        snapshot = load_bundled("human").snapshot.to_dict()
        name = sha256_json({"format": MENTIONS_FORMAT, "snapshot": snapshot})[:16]
        path = Path(cache_dir) / f"mentions-{name}.json"
        try:
            known = json.loads(path.read_text()) if path.exists() else {}
        except (OSError, ValueError):  # unreadable: rebuilt below, as if absent
            known = {}
        if not isinstance(known, dict):
            known = {}
    missing = {k: t for k, t in zip(keys, texts, strict=True) if k not in known}
    if missing:
        lexicon = human_lexicon()
        for k, t in missing.items():
            known[k] = [[m.words, list(m.gene_ids), m.positive] for m in lexicon.find(t)]
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, json.dumps(known).encode())
    return [[Mention(w, tuple(g), bool(p)) for w, g, p in known[k]] for k in keys]


def score_groups(
    cands: list[Any],
    lfc: np.ndarray,
    data_gene_ids: np.ndarray,
    *,
    gene_vectors: str,
    seed: int,
    cache_dir: str | None = None,
) -> MentionScores:
    """Mention scores of `cands` over the data genes: `lfc` is groups × data genes, their human
    GeneIDs in `data_gene_ids`. Under a control of the gene knowledge ("shuffled", "random")
    each GeneID reads a seeded random data gene's column, so a mention names no real gene.
    `cache_dir`: where each text's mentions are kept (`text_mentions`)."""
    # Every data gene of a GeneID (a mouse gene's paralogs, an alias beside its symbol), not the
    # first in the file's gene order: the mention reads the one the group expresses most.
    columns_of: dict[int, list[int]] = {}
    for j, g in enumerate(np.asarray(data_gene_ids).tolist()):
        columns_of.setdefault(int(g), []).append(j)
    if gene_vectors in ("shuffled", "random"):
        keys = list(columns_of)
        order = np.random.default_rng(seed).permutation(len(keys))
        columns_of = {g: columns_of[keys[i]] for g, i in zip(keys, order.tolist(), strict=True)}
    scores = np.full((lfc.shape[0], len(cands)), np.nan)
    named: list[list[tuple[str, list[int]]]] = []
    found = text_mentions([mention_text(c) for c in cands], cache_dir)
    for c, mentions in enumerate(found):
        distinct: dict[tuple[int, ...], str] = {}  # a gene named twice counts once
        for m in mentions:
            cols = tuple(sorted({j for g in m.gene_ids for j in columns_of.get(g, ())}))
            if m.positive and cols:
                distinct.setdefault(cols, m.words)
        named.append([(words, list(cols)) for cols, words in distinct.items()])
        if distinct:
            values = [lfc[:, list(cols)].max(axis=1) for cols in distinct]
            scores[:, c] = np.mean(values, axis=0)
    return MentionScores(scores, named)
