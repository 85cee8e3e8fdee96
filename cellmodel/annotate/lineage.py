"""The walk that names a group lineage first, over the kinds of `kinds.LEVELS`.

**The walk** (label-free). For each group, every candidate's score comes from one ranking (the
default's sum, or any one channel). A kind scores with its members: its score is the mean of the
`TOP_MEMBERS` best candidates inside its subtree, the kind's own term among them, so a kind that
many of the group's best terms belong to beats one a single stray term reaches. Level by level the
walk keeps the best kind among those inside the kind already chosen; where the best and the
runner-up are closer than `MIN_MARGIN` it stops there, and so never crosses into a lineage the
evidence does not separate. Inside the deepest kind reached, the group's best candidate is the
call when it leads the runner-up by `MIN_MARGIN`; otherwise the call is the lowest common
ancestor (inside the kind) of the candidates within `MIN_MARGIN` of the best: the deepest term
the evidence supports (e.g. "T cell" where two T-cell subtypes tie). Where those candidates lie
on one is_a line (each an ancestor of the deepest), the deepest is the call: its ancestors tie
with it on its own evidence, and no other branch comes near. A call that would be a
generic term stays at the kind. The default is the sum of two experts, the marker table
and the knowledge; the table's own ranking is walked alike, and where its call is neither the
default's nor on the default's is_a line, the two agree on no more than their deepest common
term, which is then the call (inside the kind the default reached; that kind's own term where no
deeper one is shared). Before the walk, a term whose label names a gene the group
does not express (`NAMED_FLOOR`; "CD34-positive …" for T cells) is dropped, and terms naming
the file's tissue gain `TISSUE_BONUS` while those whose label names only another tissue lose
as much. Where the candidates are a subtree's or a tissue's, a level's kind may have none of
them; when the group's genes are that kind's (`gates.outside`) the walk stops and names the
kind reached if it is a candidate, else nothing: a monocyte among T-cell terms is not a T cell.

**Confidence.** Each call carries the smallest margin met on its way (lineage levels and the final
pick), in the ranking's per-group standardised units. `MIN_MARGIN` is fixed a priori at a quarter
of a standard deviation of the group's scores over all candidates, set before any design-set file
was scored and not tuned afterwards; it reads no label.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from cellmodel.annotate import ontology
from cellmodel.annotate.gates import gated, outside
from cellmodel.annotate.kinds import LEVELS, kinds_of, refined_scores, structure
from cellmodel.annotate.named_genes import GENE_PREFIX, named_positive

TOP_MEMBERS = 3
MIN_MARGIN = 0.25
# Terms whose text names the file's tissue (given, or inferred: `infer.tissue`) gain this much
# (in the group's standardised units), so of near-equal terms the tissue's own wins
# ("pancreatic A cell" over "type A enteroendocrine cell").
TISSUE_BONUS = 1.0
# A term whose label names a gene as expressed ("CD14-positive monocyte") is dropped for a group
# that expresses the gene less than its median measured gene (signature score below 0), fixed
# before scoring: such a term's defining claim is contradicted by the data.
NAMED_FLOOR = 0.0


@dataclass
class Walk:
    """One group's lineage-first call: the term, the kinds it went through, its confidence (the
    smallest margin met) and why it stopped where it did."""

    cl_id: str | None
    index: int | None
    kinds: list[str] = field(default_factory=list)
    confidence: float = float("nan")
    abstained: bool = False
    why: str = ""
    outside: str | None = None  # the group's kind, where no candidate is of it (`gates.outside`)
    # the kind of the ranking's best term, where the group's expression kept the walk out of it
    overruled: str | None = None
    stability: dict[str, Any] | None = None  # its resamples' calls (`stability.settle`)

    def to_dict(self) -> dict[str, Any]:
        conf = round(self.confidence, 4) if np.isfinite(self.confidence) else None
        return {
            "cl_id": self.cl_id,
            "lineage": self.kinds,
            "confidence": conf,
            "abstained": self.abstained,
            "why": self.why,
            "outside": self.outside,
            "overruled": self.overruled,
        } | ({"stability": self.stability} if self.stability is not None else {})


def _standardise(row: np.ndarray) -> np.ndarray:
    ok = np.isfinite(row)
    if ok.sum() < 2:
        return np.where(ok, 0.0, np.nan)
    sd = row[ok].std()
    return (row - row[ok].mean()) / (sd if sd > 0 else 1.0)


class Walker:
    """The walk over one candidate list (CL ids; None for free text, never reached)."""

    def __init__(self, cl_ids: list[str | None], check_outside: bool = True) -> None:
        subtree, generic = structure()
        self.cl_ids = cl_ids
        self.check_outside = check_outside  # `gates.outside`; off where a kind may be unseen
        self.index = {c: i for i, c in enumerate(cl_ids) if c}
        self.generic = generic
        self.members: list[dict[str, np.ndarray]] = []
        for level in LEVELS:
            out = {}
            for kind, (_, roots) in level.items():
                under = set().union(*(subtree[r] for r in roots))
                idx = np.array(sorted(self.index[c] for c in under if c in self.index), dtype=int)
                if len(idx):
                    out[kind] = idx
            self.members.append(out)
        claims = named_positive()
        self.claims = [(i, claims[c]) for c, i in self.index.items() if c in claims]

    def _unexpressed(self, scores: dict[str, float]) -> dict[int, str]:
        """Candidates whose label names a measured gene the group does not express
        (`NAMED_FLOOR`), each with that gene; a claim none of whose genes is measured says
        nothing."""
        out = {}
        for i, claims in self.claims:
            for genes in claims:
                seen = [scores[GENE_PREFIX + g] for g in genes if GENE_PREFIX + g in scores]
                if seen and max(seen) < NAMED_FLOOR:
                    out[i] = "/".join(genes)
                    break
        return out

    def mask(self, cl_ids: frozenset[str]) -> np.ndarray:
        """1.0 for the candidates among `cl_ids`, else 0.0."""
        return np.array([c in cl_ids for c in self.cl_ids], dtype=float)

    def _kind_score(self, z: np.ndarray, idx: np.ndarray) -> float:
        vals = z[idx]
        vals = vals[np.isfinite(vals)]
        if not len(vals):
            return -np.inf
        return float(np.sort(vals)[::-1][:TOP_MEMBERS].mean())

    def walk(
        self,
        row: np.ndarray,
        signature: dict[str, float] | None = None,
        favoured: np.ndarray | None = None,
        left_out: np.ndarray | None = None,
    ) -> Walk:
        """The call for one group from its scores over the candidates (module docstring), gated
        by its kinds' signature scores (`signatures.group_scores`) where given; `favoured`
        (a weight per candidate: 1 for the tissue's terms, -1 for another tissue's) gains
        `TISSUE_BONUS` times its weight; `left_out` (true per candidate) are never reached."""
        bonus = signature or {}
        z = _standardise(np.asarray(row, dtype=float))
        if left_out is not None:
            z[left_out] = np.nan
        if favoured is not None:
            z = z + TISSUE_BONUS * favoured
        dropped = self._unexpressed(bonus) if bonus else {}
        lead = None  # the dropped term that would have led every other candidate
        if dropped and np.isfinite(z).any():
            idx = np.array(sorted(dropped))
            best_dropped = int(idx[np.nanargmax(np.where(np.isfinite(z[idx]), z[idx], -np.inf))])
            if z[best_dropped] >= np.nanmax(z):
                lead = best_dropped
            z[idx] = np.nan
        if not np.isfinite(z).any():
            return Walk(None, None, why="no candidate is scored")
        allowed = np.arange(len(z))
        kinds: list[str] = []
        confidence = np.inf
        why = ""
        top, overruled = int(np.nanargmax(z)), None
        for level, members in enumerate(self.members):
            parent = kinds[-1] if kinds else None
            if level and parent is None:
                break
            inside = {
                k: np.intersect1d(idx, allowed)
                for k, idx in members.items()
                if LEVELS[level][k][0] == parent
            }
            away = self._outside(level, parent, inside, bonus)
            if away is not None:
                return self._abstain(kinds, confidence, allowed, away)
            kept = gated(inside, bonus)
            overruled = overruled or next(
                (k for k, idx in inside.items() if k not in kept and top in idx), None
            )
            inside = kept
            scored = {k: self._kind_score(z, idx) for k, idx in inside.items() if len(idx)}
            scored = {k: s for k, s in scored.items() if np.isfinite(s)}
            if not scored:
                continue
            order = sorted(scored, key=lambda k: -scored[k])
            margin = scored[order[0]] - scored[order[1]] if len(order) > 1 else np.inf
            if margin < MIN_MARGIN:
                why = f"{order[0]} and {order[1]} are not told apart at lineage level {level + 1}"
                confidence = min(confidence, margin)
                break
            confidence = min(confidence, margin)
            kinds.append(order[0])
            allowed = inside[order[0]]
        out = self._pick(z, allowed, kinds, confidence, why)
        notes = [out.why] if out.why else []
        if lead is not None:  # say why the best-scored term is not the call
            gene = dropped[lead]
            notes.append(f"{self.cl_ids[lead]} left out: the group does not express {gene}")
        if overruled is not None:  # the gate at work (delta cells' best terms are neurons) or a
            out.overruled = overruled  # mix of two kinds: recorded, not warned of
            notes.append(
                f"its best-ranked term {self.cl_ids[top]} is of the {overruled} kind, which its"
                " expression kept out"
            )
        out.why = "; ".join(notes)
        return out

    def _pick(
        self, z: np.ndarray, allowed: np.ndarray, kinds: list[str], confidence: float, why: str
    ) -> Walk:
        specific = np.array([self.cl_ids[i] not in self.generic for i in allowed], dtype=bool)
        if specific.any():  # a generic term names no kind of cell: never the call itself
            allowed = allowed[specific]
        vals = np.where(np.isfinite(z[allowed]), z[allowed], -np.inf)
        order = allowed[np.argsort(-vals, kind="stable")]
        best = int(order[0])
        runner = z[order[1]] if len(order) > 1 else -np.inf
        margin = float(z[best] - runner) if np.isfinite(runner) else np.inf
        confidence = min(confidence, margin)
        if margin >= MIN_MARGIN and not why:
            return Walk(self.cl_ids[best], best, kinds, confidence)
        tied = [self.cl_ids[i] for i in order if np.isfinite(z[i]) and z[best] - z[i] < MIN_MARGIN]
        reason = why or f"{len(tied)} terms within {MIN_MARGIN} of the best"
        named = [c for c in tied if c]
        line = _one_line(named)
        if line is not None:  # its ancestors tie only on its own evidence: the deepest is named
            note = f"{reason}, on one is_a line; called the deepest"
            return Walk(line, self.index[line], kinds, confidence, False, note)
        common = self._common_ancestor(named, allowed)
        if common is None or common in self.generic:
            kind_root = self._kind_term(kinds, allowed)
            if kind_root is None:
                return Walk(self.cl_ids[best], best, kinds, confidence, True, reason)
            common = kind_root
        broader = common != self.cl_ids[best]
        # A lineage left undecided with one term clear of the rest: that term is the call.
        note = "called their deepest common term" if broader else "its best term is the call"
        return Walk(common, self.index[common], kinds, confidence, broader, f"{reason}; {note}")

    def reconcile(self, own: Walk, table: Walk) -> Walk:
        """`own` (the default's call) where the marker table's own walk (`table`) calls the same
        term or one on its is_a line; else the deepest candidate both calls descend from inside
        the kind `own` reached (its own term where no other is), since the two experts that
        make the default agree on no more: `own` with why, `abstained`."""
        if own.cl_id is None or table.cl_id is None or own.outside:
            return own
        mine, theirs = ancestors_or_self(own.cl_id), ancestors_or_self(table.cl_id)
        if own.cl_id in theirs or table.cl_id in mine:
            return own
        inside = np.arange(len(self.cl_ids))
        if own.kinds:
            inside = self.members[len(own.kinds) - 1][own.kinds[-1]]
        common = self._common_ancestor([own.cl_id, table.cl_id], inside)
        if common is None or common in self.generic:
            common = self._kind_term(own.kinds, inside)
        if common is None:
            return own
        why = f"the marker table alone calls {table.cl_id}; called the deepest term both support"
        why = f"{own.why}; {why}" if own.why else why
        return Walk(
            common, self.index[common], own.kinds, own.confidence, True, why,
            overruled=own.overruled,
        )  # fmt: skip

    def _absent(self, level: int, parent: str | None) -> list[str]:
        """The kinds refining `parent` at `level` that no candidate belongs to."""
        members = self.members[level]
        return [k for k, (p, _) in LEVELS[level].items() if p == parent and k not in members]

    def _outside(
        self, level: int, parent: str | None, inside: dict[str, np.ndarray], bonus: dict
    ) -> str | None:
        """The kind of this level the group's genes say it is, where no candidate is of it
        (`gates.outside`); None where every kind has candidates, as over the whole ontology."""
        absent = self._absent(level, parent) if self.check_outside and bonus else []
        if not absent:
            return None
        present = refined_scores([k for k in inside if len(inside[k])], bonus)
        return outside(present, refined_scores(absent, bonus))

    def _abstain(self, kinds: list[str], confidence: float, allowed: np.ndarray, away: str) -> Walk:
        """The deepest kind's own term where it is a candidate, else no call: the group is of
        the kind `away`, which no candidate is."""
        why = f"its genes are those of the {away} kind, and no candidate is one"
        root = self._kind_term(kinds, allowed)
        if root is None:
            return Walk(None, None, kinds, confidence, True, why, away)
        return Walk(
            root, self.index[root], kinds, confidence, True, why + "; called the kind", away
        )

    def _common_ancestor(self, ids: list[str], allowed: np.ndarray) -> str | None:
        """The deepest term among the candidates that is an ancestor-or-self of all `ids`."""
        if not ids:
            return None
        if len(ids) == 1:
            return ids[0]
        shared = frozenset.intersection(*(ancestors_or_self(c) for c in ids))
        pool = [c for c in shared if c in self.index and self.index[c] in set(allowed.tolist())]
        if not pool:
            return None
        return max(pool, key=lambda c: len(ancestors_or_self(c)))

    def _kind_term(self, kinds: list[str], allowed: np.ndarray) -> str | None:
        """The deepest kind's own term, where it is a candidate and not generic."""
        for level in range(len(kinds) - 1, -1, -1):
            for root in LEVELS[level][kinds[level]][1]:
                if root in self.index and root not in self.generic:
                    return root
        return None


def _one_line(ids: list[str]) -> str | None:
    """The deepest of several terms when every other one is its is_a ancestor, else None."""
    if len(ids) < 2:
        return None
    deepest = max(ids, key=lambda c: len(ancestors_or_self(c)))
    return deepest if all(c in ancestors_or_self(deepest) for c in ids) else None


@lru_cache(maxsize=8192)
def ancestors_or_self(cl_id: str) -> frozenset[str]:
    """The term and its is_a ancestors (cached: the walk reads them for every candidate)."""
    return frozenset({cl_id, *ontology.parser().get_term_ancestors(cl_id)})


LINEAGE_CHOICES: dict[str, str] = {
    "auto": "on for Cell Ontology candidates (all, a subtree or a tissue's); for a user's list,"
    " flat, but a group whose kind none of the list is gets no name",
    "on": "decide the lineage first, then the deepest term the evidence supports",
    "off": "the best candidate of the ranking, flat",
}


def walk_calls(
    matrix: np.ndarray,
    cands: list[Any],
    setting: str,
    user_given: bool,
    signature: list[dict[str, float]] | None = None,
    tissue_terms: frozenset[str] | None = None,
    elsewhere: frozenset[str] | None = None,
    left_out: frozenset[str] | None = None,
    table: np.ndarray | None = None,
) -> list[Walk] | None:
    """Each group's lineage-first call from `matrix` (groups × candidates) and, where given, its
    kinds' signature scores, the tissue's terms (favoured) and those naming only another tissue
    (`elsewhere`, disfavoured as much), never reaching `left_out` (another species' terms, a
    kind placed in another tissue: `infer.out_of_place_terms`); None when the walk is off
    (`LINEAGE_CHOICES`). `table`: the marker table's own ranking, walked alike, where `matrix`
    is the default's sum; a call the table's walk does not support goes up to the deepest term
    both support (`Walker.reconcile`)."""
    if setting == "off" or (setting == "auto" and user_given):
        return None
    walker = Walker([c.cl_id for c in cands], not user_given or all_placed(cands))
    sig = signature or [None] * len(matrix)
    favoured = None
    if tissue_terms or elsewhere:
        favoured = walker.mask(tissue_terms or frozenset()) - walker.mask(elsewhere or frozenset())
    out = walker.mask(left_out).astype(bool) if left_out else None
    walks = [walker.walk(row, s, favoured, out) for row, s in zip(matrix, sig, strict=True)]
    if table is None:
        return walks
    other = [walker.walk(row, s, favoured, out) for row, s in zip(table, sig, strict=True)]
    return [walker.reconcile(w, t) for w, t in zip(walks, other, strict=True)]


def apply_walk(entry: dict[str, Any], walk: Walk, cands: list[Any]) -> None:
    """Write a group's walk into its report entry: the call, and why it stopped where it did."""
    entry["lineage"] = walk.to_dict()
    if walk.index is None:
        # of a kind no candidate is, or named in other lineages by resampled cells: no name
        if walk.outside or walk.abstained:
            entry["label"] = entry["cl_id"] = None
        return
    entry["label"] = ontology.called(cands, walk.index).name
    entry["cl_id"] = walk.cl_id or ontology.called(cands, walk.index).cl_id


def unplaced(
    matrix: np.ndarray, cands: list[Any], signature: list[dict[str, float]] | None
) -> list[str | None]:
    """For a user's list called flat: per group, why it gets no name where its genes are those
    of a kind none of the candidates is (`gates.outside`; a platelet among T, B and NK cells),
    else None. Only where the groups have signatures and `all_placed(cands)`."""
    if not signature or not all_placed(cands):
        return [None] * len(matrix)
    walker = Walker([c.cl_id for c in cands])
    walks = [walker.walk(row, s) for row, s in zip(matrix, signature, strict=True)]
    return [w.why if w.outside else None for w in walks]


def all_placed(cands: list[Any]) -> bool:
    """Every candidate a CL term of some lineage (a free label, or a term of none such as
    "malignant cell", may be of any kind: the kind it would hold would look absent)."""
    return all(c.cl_id and kinds_of(c.cl_id, 0) for c in cands)
