"""Which of CL's exact synonyms name a term when a lab writes them as a label.

CL carries one list of exact synonyms per term, and two kinds of them mislead a lab's label:

- **Superseded senses** (`SUPERSEDED`): "DC1" and "DC2" are exact synonyms of the conventional
  and the plasmacytoid dendritic cell, their sense before the unified nomenclature (Guilliams et
  al. 2014, Nat Rev Immunol 14:571; Villani et al. 2017, Science 356:eaah4573), where DC1 and
  DC2 are the CD141+ and the CD1c+ conventional dendritic cells, as atlases write them today
  (HLCA, Park 2020 thymus, Popescu 2019 fetal liver). CL's curators agree to drop "DC2" from the
  pDC (cell-ontology issues 839, 3567, 3608). A list's "DC2" was called a plasmacytoid DC;
  they are read as `abbreviations` writes them.
- **Another cell's abbreviation in lab use** (`AMBIGUOUS`): "IPC" is the developing cortex's
  intermediate progenitor cell (Nowakowski et al. 2017, Science 358:1318) before CL's
  interferon-producing (plasmacytoid) cell; "VEC" the vascular endothelial cell of heart and
  lung sets before CL's valve endothelial cell; "GBC" the olfactory epithelium's globose
  basal cell (Fletcher et al. 2017, Cell Stem Cell 20:817) before CL's globular bushy cell;
  "ARC" the hypothalamus's arcuate nucleus neurons (Campbell et al. 2017, Nat Neurosci
  20:484) before CL's pericyte.
- **Two letters** ("LP", "PD", "IC", "LC"): CL's two-letter synonyms are the stomatogastric
  neurons of crustaceans ("lateral pyloric motor neuron") beside the Langerhans cell and a
  striatal interneuron, while a lab's two letters are its own abbreviation: the breast's
  luminal progenitor ("LP"), the kidney's intercalated cell ("IC"). None is read
  (`not_read`).
- **A term for one clade** ("alpha retinal ganglion cell (Mmus)", "striatal VIP GABAergic
  interneuron (Primate)"): its synonym ("alpha cell", "VIP", "LAMP5") is not read where a term
  for every clade holds the synonym's words too ("pancreatic alpha cell", "VIP GABAergic
  interneuron"): a lab's label names no species, and "alpha cell" beside "beta cell" in a
  human islet list was called a mouse retinal ganglion cell. A synonym no other term holds
  ("CN LAMP5-CXCL14 GABA") still names its term, and "(sensu Vertebrata)" is no one clade: it
  holds every species a lab studies ("neuroblast").
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable

# Exact synonyms CL carries in a sense current nomenclature gives another cell type (see above).
SUPERSEDED = frozenset({"dc1", "dc2"})
# Exact synonyms labs use for another cell type (see above).
AMBIGUOUS = frozenset({"ipc", "vec", "gbc", "arc"})
# Clades that hold every species a lab's label may name (see above).
EVERY_LAB_CLADE = frozenset({"Vertebrata"})


def exact_synonyms(
    synonyms: dict[str, list[str]],
    labels: dict[str, str],
    key: Callable[[str], str],
    clade_tag: re.Pattern[str],
) -> dict[str, str]:
    """Synonym key -> id, for the ids of `labels` (in their order), leaving out `not_read`
    and a one-clade term's synonym whose words a term for every clade holds."""
    clade = {i for i, label in labels.items() if _one_clade(label, clade_tag)}
    words: dict[str, set[str]] = defaultdict(set)  # word -> the untagged terms' keys holding it
    for i, label in labels.items():
        if i not in clade:
            for name in (label, *(synonyms.get(i) or [])):
                for w in key(name).split():
                    words[w].add(key(name))
    out: dict[str, str] = {}
    for i in labels:
        for s in synonyms.get(i) or []:
            k = key(s)
            if not_read(k) or (i in clade and _held(k, words)):
                continue
            out.setdefault(k, i)
    return out


def not_read(key: str) -> bool:
    """Whether a synonym (as a key: lower case, words apart) names no term from a lab's label:
    superseded, ambiguous, or two letters or fewer."""
    return key in SUPERSEDED or key in AMBIGUOUS or len(key.replace(" ", "")) <= 2


def _one_clade(label: str, clade_tag: re.Pattern[str]) -> bool:
    m = clade_tag.search(label)
    return bool(m) and (m.group(1) or m.group(2)) not in EVERY_LAB_CLADE


def _held(key: str, words: dict[str, set[str]]) -> bool:
    """Whether one untagged term's label or synonym holds every word of `key`."""
    postings = [words.get(w, set()) for w in key.split()]
    return bool(postings) and bool(set.intersection(*postings))
