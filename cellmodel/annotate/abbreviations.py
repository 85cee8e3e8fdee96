"""Abbreviations of cell types that labs write in label sets and CL does not carry as synonyms.

The Cell Ontology release read here (`ontology`) carries one list of synonyms per term, and it
holds "Treg", "pDC", "MEP", "ILC2" but not "AT1", "cDC1", "NKT" or "NPC": those were read as no
term and scored by their letters alone. Each entry maps the abbreviation (a whole word, any case)
to the words of the CL label it abbreviates, as `free_labels` writes them; "cell" is added
there. Sources:

- AT1/AT2: alveolar type 1/2 cells, CL's "type 1 pneumocyte" / "type 2 pneumocyte" (Travaglini
  et al. 2020, Nature 587:619, the human lung cell atlas's abbreviations).
- cDC1/cDC2: the human CD141+ (CLEC9A+) and CD1c+ conventional dendritic cells (Guilliams et
  al. 2014, Nat Rev Immunol 14:571, the unified nomenclature; CL's CD141-/CD1c-positive myeloid
  dendritic cell).
- NKT, iNKT: NK T cells, invariant (type I) NK T cells (Godfrey et al. 2004, Nat Rev Immunol
  4:231); CL writes "mature NKT cell" and "type I NKT cell".
- Treg, Tfh: CL's own exact synonyms, here as words, so that "Treg cells" reads as "Tregs" did.
- Tcm, Tem: central and effector memory T cells (Sallusto et al. 1999, Nature 401:708).
- HSPC: hematopoietic stem and progenitor cell, CL's "hematopoietic precursor cell".
- NPC: neural progenitor cell (in a label set of brain or organoid cells; "nucleus pulposus
  cell", its other sense, is written out in the sets that use it).
- gdT: gamma-delta T cell.
- Trm: tissue-resident memory T cell (Mueller & Mackay 2016, Nat Rev Immunol 16:79). CL
  (v2026-03-26) names one only in the lung ("lung TRM …", which "CD8 Trm" was read as
  anywhere), so it is read as its parent, CL's memory T cell.
- MDSC: myeloid-derived suppressor cell (Gabrilovich et al. 2007, Cancer Res 67:425), CL's
  "myeloid suppressor cell". M-MDSC and PMN-MDSC (Bronte et al. 2016, Nat Commun 7:12150) are
  left: CL's subtypes are the mouse Gr1 gates.
- TAM: tumor-associated macrophage (Mantovani et al. 2002, Trends Immunol 23:549); CL has no
  such term, so it is read as its parent, the macrophage.
- cMono, intMono, ncMono: classical, intermediate and non-classical monocytes
  (Ziegler-Heitbrock et al. 2010, Blood 116:e74, the nomenclature CL's three terms follow).
- erythroid (what "Ery" and "Eryth" expand to): CL's "erythroid lineage cell".
- Peri, Micro: pericyte and microglial cell, as the Allen taxonomy writes its non-neuronal
  subclasses beside Astro, Oligo, Endo and SMC (Tasic et al. 2018, Nature 563:72).
- ExN, "Ex neurons", "Exc neurons", "excitatory neurons": CL's glutamatergic neuron (Lake et
  al. 2016, Science 352:1586, "Ex"; Hodge et al. 2019, Nature 573:61, "Exc"). Their inhibitory
  counterparts (InN, In, Inh) are left: CL has no inhibitory neuron, its GABAergic neuron
  leaves out the glycinergic ones of the spinal cord, brainstem and retina, and its
  inhibitory interneuron the inhibitory projection neurons (striatal, Purkinje).
- DC1, DC2: as cDC1, cDC2 (Villani et al. 2017, Science 356:eaah4573; the HLCA, Park 2020
  thymus and Popescu 2019 fetal liver labels). CL (v2026-03-26) carries them as exact synonyms
  of the conventional and the plasmacytoid dendritic cell, their sense before the unified
  nomenclature; those synonyms are not read (`synonyms.SUPERSEDED`).
- moDC, migDC: monocyte-derived and migratory dendritic cells (Reynolds et al. 2021, Science
  371:eaba6500, the skin atlas's labels).
- MØ, Mφ: macrophage, as immunologists write it (Litviňuková et al. 2020, Nature 588:466).
- cardiomyocyte: CL writes the kinds as "atrial/ventricular cardiac muscle cell", and
  "cardiomyocyte" only as the parent's synonym ("Atrial_Cardiomyocyte", Litviňuková 2020).
- ENS: enteric nervous system ("ENS glia", "ENS neurons", Cao et al. 2020, Science
  370:eaba7721, the fetal atlas's labels), CL's "enteroglial cell" and "enteric neuron".
- L6b, and IT, ET, PT, CT, NP after a cortical layer ("L2/3 IT", "L5 ET", "L5 PT", "L6 CT",
  "L5/6 NP"): the Allen taxonomy's subclasses (Tasic et al. 2018, Nature 563:72; Hodge et al.
  2019; Yao et al. 2021, Nature 598:103), CL's "L… intratelencephalic projecting glutamatergic
  neuron", "… extratelencephalic projecting glutamatergic cortical neuron" (PT is ET's older
  name), "… corticothalamic-projecting glutamatergic cortical neuron" and "… near-projecting
  glutamatergic neuron" (`LAYER_CLASSES`). Alone the two letters are too common ("PT" is the
  kidney's proximal tubule) and are not read.
- FCGR3A: the gene of CD16 (HGNC), as Seurat's PBMC tutorial names its "FCGR3A+ Mono".
- "CD16 Mono" beside "CD14 Mono" (Seurat's and Azimuth's PBMC labels, Hao et al. 2021, Cell
  184:3573): CL's exact synonym "CD16+ monocyte" is the intermediate CD14+CD16+ monocyte, but a
  list that splits its monocytes into a CD14 and a CD16 group means the non-classical ones
  (CD14-low, CD16-positive; Ziegler-Heitbrock et al. 2010) by the second, unless it names an
  intermediate or non-classical group too (`cd16_beside_cd14`).
- Pvalb, Sst, Vip, Lamp5, Sncg, Meis2: the Allen taxonomy's GABAergic subclasses, named by a
  gene (Tasic et al. 2018; Hodge et al. 2019), CL's "pvalb GABAergic interneuron" and its
  siblings, read only beside a label read as a cerebral cortex neuron ("L2/3 IT"): elsewhere
  the gene names other cells ("SST" in an islet list is the D cell; `cortical_subclasses`).
- pre-B: CL's "precursor B cell" (Hardy & Hayakawa 2001, Annu Rev Immunol 19:595); "pre" and
  "ex" alone are too common to expand, so these are read as two-word forms (`CELL_PHRASES`).
"""

from __future__ import annotations

import re
from dataclasses import replace

from cellmodel.annotate import ontology

# Abbreviations of public label sets, each to the words CL writes (read as whole words, any case).
ABBREVIATIONS: dict[str, str] = {
    "mono": "monocyte",
    "dc": "dendritic cell",
    "cdc": "conventional dendritic cell",
    "mdc": "myeloid dendritic cell",
    "reg": "regulatory",
    "mk": "megakaryocyte",
    "mega": "megakaryocyte",
    "eryth": "erythroid",
    "ery": "erythroid",
    "hsc": "hematopoietic stem cell",
    "mpp": "hematopoietic multipotent progenitor cell",
    "gmp": "granulocyte monocyte progenitor cell",
    "cmp": "common myeloid progenitor",
    "mep": "megakaryocyte erythroid progenitor cell",
    "clp": "common lymphoid progenitor",
    "ilc": "innate lymphoid cell",
    "mait": "mucosal invariant T cell",
    "ctl": "cytotoxic T cell",
    "mac": "macrophage",
    "macro": "macrophage",
    "neut": "neutrophil",
    "baso": "basophil",
    "eos": "eosinophil",
    "plt": "platelet",
    "astro": "astrocyte",
    "oligo": "oligodendrocyte",
    "opc": "oligodendrocyte precursor cell",
    "microglia": "microglial cell",
    "endo": "endothelial",
    "ec": "endothelial cell",
    "smc": "smooth muscle cell",
    "vsmc": "vascular associated smooth muscle cell",
    "fib": "fibroblast",
    "fibro": "fibroblast",
    "epi": "epithelial",
    "pyr": "pyramidal",
    "mem": "memory",
    "eff": "effector",
    "naïve": "naive",
}
CELL_ABBREVIATIONS: dict[str, str] = {
    "at1": "pulmonary alveolar type 1",
    "at2": "pulmonary alveolar type 2",
    "cdc1": "cd141 positive myeloid dendritic",
    "cdc2": "cd1c positive myeloid dendritic",
    "nkt": "mature nk t",
    "inkt": "type i nk t",
    "treg": "regulatory t",
    "tfh": "t follicular helper",
    "tcm": "central memory t",
    "tem": "effector memory t",
    "hspc": "hematopoietic precursor",
    "npc": "neural progenitor",
    "gdt": "gamma delta t",
    "trm": "memory t",
    "mdsc": "myeloid suppressor",
    "tam": "macrophage",
    "cmono": "classical monocyte",
    "intmono": "intermediate monocyte",
    "ncmono": "non classical monocyte",
    "erythroid": "erythroid lineage",
    "peri": "pericyte",
    "micro": "microglial",
    "exn": "glutamatergic neuron",
    "fcgr3a": "cd16",
    "dc1": "cd141 positive myeloid dendritic",
    "dc2": "cd1c positive myeloid dendritic",
    "modc": "monocyte derived dendritic",
    "migdc": "migratory dendritic",
    "mø": "macrophage",
    "mφ": "macrophage",
    "cardiomyocyte": "cardiac muscle",
    "l6b": "l6b glutamatergic cortical neuron",
}
# The Allen taxonomy's projection classes after a cortical layer ("L5 IT", "L2/3 IT"): CL's words.
LAYER_CLASSES: dict[str, str] = {
    "it": "intratelencephalic projecting glutamatergic neuron",
    "et": "extratelencephalic projecting glutamatergic cortical neuron",
    "pt": "extratelencephalic projecting glutamatergic cortical neuron",
    "ct": "corticothalamic projecting glutamatergic cortical neuron",
    "np": "near projecting glutamatergic neuron",
}
_LAYER = re.compile(r"l[1-6][ab]?")
# Two words read together, where the first alone means something else ("in", "pre", "ex").
CELL_PHRASES: dict[tuple[str, str], str] = {
    ("pre", "b"): "precursor b",
    ("ex", "neuron"): "glutamatergic neuron",
    ("exc", "neuron"): "glutamatergic neuron",
    ("excitatory", "neuron"): "glutamatergic neuron",
    ("ens", "glia"): "enteroglial",
    ("ens", "neuron"): "enteric neuron",
}


def expand(words: list[str]) -> list[str]:
    """A label's words (as `free_labels` writes them) with each abbreviation of the tables
    written out."""
    out: list[str] = []
    i = 0
    while i < len(words):
        pair = (words[i], words[i + 1]) if i + 1 < len(words) else None
        if pair in CELL_PHRASES:
            out += CELL_PHRASES[pair].split()
            i += 2
            continue
        if words[i] in LAYER_CLASSES and out and _after_layer(out):
            out += LAYER_CLASSES[words[i]].split()
        else:
            out += CELL_ABBREVIATIONS.get(words[i], words[i]).split()
        i += 1
    return out


def _after_layer(out: list[str]) -> bool:
    """Whether the words so far end in a cortical layer: "l5", or a range "l2 3" ("L2/3")."""
    if _LAYER.fullmatch(out[-1]):
        return True
    return len(out) > 1 and out[-1].isdigit() and bool(_LAYER.fullmatch(out[-2]))


CD14_MONOCYTES = {"CL:0001054", "CL:0000860", "CL:0002057"}  # CD14+, classical, CD16- classical
CD14_CD16_MONOCYTE = "CL:0002397"  # CL's "CD16+ monocyte": the intermediate one
CD16_MONOCYTES = {"CL:0002396", "CL:0000875", "CL:0002393"}  # non-classical, intermediate
_NAMES_CD14 = re.compile(r"cd14|intermediate|\bint", re.IGNORECASE)


def cd16_beside_cd14(out: list[ontology.Candidate]) -> list[ontology.Candidate]:
    """`out`, where it holds a CD14 (classical) monocyte and one label read (not given) as CL's
    CD14-positive, CD16-positive monocyte that writes no CD14, with that one read as the
    CD14-low, CD16-positive (non-classical) monocyte: "CD16 Mono" beside "CD14 Mono"."""
    ids = {c.cl_id for c in out}
    if not ids & CD14_MONOCYTES or ids & CD16_MONOCYTES:
        return out
    read = [
        i
        for i, c in enumerate(out)
        if c.cl_id == CD14_CD16_MONOCYTE and c.read_as and not _NAMES_CD14.search(c.given)
    ]
    if len(read) != 1:
        return out
    i = read[0]
    how = f"{out[i].read_as}, beside a CD14 monocyte: the non-classical one"
    out = list(out)
    out[i] = replace(ontology.term("CL:0002396", out[i].given), read_as=how)
    return out


CEREBRAL_CORTEX_NEURON = "CL:0010012"
# A gene naming a cortical GABAergic subclass -> its CL term (module docstring).
CORTICAL_SUBCLASSES: dict[str, str] = {
    "pvalb": "CL:4023018",
    "sst": "CL:4023017",
    "vip": "CL:4023016",
    "lamp5": "CL:4023011",
    "sncg": "CL:4023015",
    "meis2": "CL:4023065",
}


def cortical_subclasses(out: list[ontology.Candidate]) -> list[ontology.Candidate]:
    """`out`, where another label is a cerebral cortex neuron, with each free label that is a
    gene naming a cortical GABAergic subclass ("Pvalb", "Sst") read as its CL term."""
    ids = {c.cl_id for c in out if c.cl_id}
    ancestors = ontology.parser().get_term_ancestors
    if not any(CEREBRAL_CORTEX_NEURON in ancestors(cl, include_self=True) for cl in ids):
        return out
    out = list(out)
    for i, c in enumerate(out):
        cl = CORTICAL_SUBCLASSES.get(c.given.strip().lower())
        if c.cl_id is None and not c.same_as and cl and cl not in ids:
            how = "a cortical subclass's gene, beside the list's cortical neurons"
            out[i] = replace(ontology.term(cl, c.given), read_as=how)
            ids.add(cl)
    return out
