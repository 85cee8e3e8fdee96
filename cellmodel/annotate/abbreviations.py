"""Abbreviations of cell types that labs write in label sets and CL does not carry as synonyms.

The Cell Ontology release read here (`ontology`) carries one list of synonyms per term, and it
holds "Treg", "pDC", "MEP", "ILC2" but not "AT1", "cDC1", "NKT" or "NPC": those were read as no
term and scored by their letters alone. Each entry maps the abbreviation (a whole word, any case)
to the words of the CL label it abbreviates, as `free_labels` writes them; "cell" is added
there. Sources:

- AT1/AT2: alveolar type 1/2 cells, CL's "type 1 pneumocyte" / "type 2 pneumocyte" (Travaglini
  et al. 2020, Nature 587:619, the human lung cell atlas's abbreviations), also written
  "AT-2", "AT II", "ATII" and "AEC2" (alveolar epithelial cell type 2).
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
  siblings, and its NP, CR, L4, PVM and Micro-PVM, read only beside a label read as a
  cerebral cortex neuron ("L2/3 IT"): elsewhere the gene names other cells ("SST" in an islet
  list is the D cell; `list_vocabularies`).
- RBC, BC, AC, HC, RGC, MG: the retina atlases' classes (Shekhar et al. 2016; Yan et al.
  2020), read only beside two labels read as retinal cells (`list_vocabularies`), where "RBC"
  is the rod bipolar cell, not CL's erythrocyte.
- POD, PEC, PT, PT-S1, DTL, ATL, TAL, MD, DCT, CNT, PC, IC-A, IC-B, EC-GC, EC-PTC, MC, REN: the
  kidney atlases' nephron segments (KPMP, Lake et al. 2023, Nature 619:585), read only in a
  list holding three of them that no other tissue's sets use (`list_vocabularies`).
- gd T: gamma-delta T cells ("gd T cells", MacParland et al. 2018, Nat Commun 9:4383).
- Mgk, Prog: megakaryocyte (Park et al. 2020, Science 367:eaay3224) and progenitor (Azimuth's
  bone marrow: "Prog Mk"); cytox: cytotoxic ("CD4+T_cytox", Litviňuková 2020).
- LMPP: CL's exact synonym "lymphoid-primed multipotent progenitor" (early lymphoid progenitor).
- FB, Prolif, Hep, Adipo, Melano: fibroblast (Litviňuková 2020 "FB1"), proliferating,
  hepatocyte, adipocyte, melanocyte, as the atlases shorten them; EEC: enteroendocrine cell
  (Haber et al. 2017, Nature 551:333); SPG: spermatogonium (Guo et al. 2018, Cell Res 28:1141).
- glia: CL's "glial cell" ("Bergmann glia", "Radial glia"); MSN: the striatum's medium spiny
  neuron (Gokce et al. 2016, Cell Rep 16:1126, "D1 MSN"); Mph: macrophage.
- endothelium, mesothelium, epithelium: a lining named for its cells ("Vascular endothelium",
  "Mesothelium"), read as CL's "endothelial cell", "mesothelial cell", "epithelial cell".
- gamma after "pancreatic" (an islet list read with its tissue): the PP cell, the islet's gamma
  cell (Baron et al. 2016, Cell Syst 3:346; Segerstolpe et al. 2016, "gamma cell").
- pre-B: CL's "precursor B cell" (Hardy & Hayakawa 2001, Annu Rev Immunol 19:595); "pre" and
  "ex" alone are too common to expand, so these are read as two-word forms (`CELL_PHRASES`).
"""

from __future__ import annotations

import re
from collections import Counter
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
    "mgk": "megakaryocyte",
    "prog": "progenitor",
    "cytox": "cytotoxic",
    "mph": "macrophage",
    "fb": "fibroblast",
    "prolif": "proliferating",
    "hep": "hepatocyte",
    "adipo": "adipocyte",
    "melano": "melanocyte",
    "naïve": "naive",
}
CELL_ABBREVIATIONS: dict[str, str] = {
    "at1": "pulmonary alveolar type 1",
    "at2": "pulmonary alveolar type 2",
    "ati": "pulmonary alveolar type 1",
    "atii": "pulmonary alveolar type 2",
    "aec1": "pulmonary alveolar type 1",
    "aec2": "pulmonary alveolar type 2",
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
    "lmpp": "lymphoid primed multipotent progenitor",
    "endothelium": "endothelial",
    "mesothelium": "mesothelial",
    "epithelium": "epithelial",
    "glia": "glial",
    "msn": "medium spiny neuron",
    "eec": "enteroendocrine",
    "spg": "spermatogonium",
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
    ("gd", "t"): "gamma delta t",
    ("at", "1"): "pulmonary alveolar type 1",
    ("at", "2"): "pulmonary alveolar type 2",
    ("at", "i"): "pulmonary alveolar type 1",
    ("at", "ii"): "pulmonary alveolar type 2",
    ("pancreatic", "gamma"): "pancreatic pp",
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
# The Allen taxonomy's subclasses named by a gene or two letters -> their CL terms, read beside
# the list's cortical neurons (module docstring).
CORTICAL_SUBCLASSES: dict[str, str] = {
    "pvalb": "CL:4023018",
    "sst": "CL:4023017",
    "vip": "CL:4023016",
    "lamp5": "CL:4023011",
    "sncg": "CL:4023015",
    "meis2": "CL:4023065",
    "np": "CL:4023012",  # near-projecting glutamatergic cortical neuron
    "cr": "CL:0000695",  # Cajal-Retzius cell
    "l4": "CL:4030063",  # Tasic 2018's "L4": L4 intratelencephalic projecting neurons
    "pvm": "CL:0000881",  # perivascular macrophage
    "micropvm": "CL:0000878",  # microglia and PVMs together: CNS macrophage
}
# The kidney atlases' nephron segments and their cells (KPMP and HuBMAP: Lake et al. 2023,
# Nature 619:585), read where three of a list's labels are the distinct ones (`_KIDNEY_OWN`):
# "PT", "PC", "MC", "MD", "IC" alone name other cells elsewhere.
KIDNEY_SEGMENTS: dict[str, str] = {
    "pod": "CL:0000653",  # podocyte
    "pec": "CL:1000452",  # parietal epithelial cell
    "pt": "CL:0002306",  # epithelial cell of proximal tubule
    "pts1": "CL:4030009",
    "pts2": "CL:4030010",
    "pts3": "CL:4030011",
    "dtl": "CL:1001111",  # thin descending limb
    "atl": "CL:1001107",  # thin ascending limb
    "tal": "CL:1001106",  # thick ascending limb
    "md": "CL:1000850",  # macula densa
    "dct": "CL:1000849",  # distal convoluted tubule
    "cnt": "CL:1000768",  # connecting tubule
    "pc": "CL:1001431",  # collecting duct principal cell
    "ica": "CL:0005011",  # type A intercalated cell
    "icb": "CL:0002201",  # type B intercalated cell
    "ecgc": "CL:1001005",  # glomerular capillary endothelial cell
    "ecptc": "CL:1001033",  # peritubular capillary endothelial cell
    "mc": "CL:1000742",  # glomerular mesangial cell
    "ren": "CL:0000648",  # renin-producing granular cell
}
_KIDNEY_OWN = frozenset(KIDNEY_SEGMENTS) - {"pt", "pc", "mc", "md", "ren"}
_KEY_SEPARATORS = re.compile(r"[\s_\-./]+")


RETINAL_CELL = "CL:0009004"
# The retina atlases' abbreviations (Shekhar et al. 2016, Cell 166:1308; Yan et al. 2020, EMBO J
# 39:e105445): read beside two labels read as retinal cells ("Rod", "Cone"). There "RBC", CL's
# synonym of the erythrocyte, is the rod bipolar cell, and is read so (`_OVERRIDES`).
RETINA: dict[str, str] = {
    "rbc": "CL:0000751",  # rod bipolar cell
    "bc": "CL:0000748",  # retinal bipolar neuron
    "ac": "CL:0000561",  # amacrine cell
    "hc": "CL:0000745",  # retina horizontal cell
    "rgc": "CL:0000740",  # retinal ganglion cell
    "mg": "CL:0000636",  # Mueller cell
}
_OVERRIDES = frozenset({"rbc"})


def list_vocabularies(out: list[ontology.Candidate]) -> list[ontology.Candidate]:
    """`out` with the free labels of a list of cortical, nephron or retinal cells read by that
    tissue's table: a gene-named cortical subclass ("Pvalb", "Sst") beside a label read as a
    cerebral cortex neuron; a nephron segment ("TAL", "DCT", "PC") where three labels are
    segments only the kidney's atlases name so; a retinal class ("AC", "RBC") beside two
    retinal cells."""
    keys = [_KEY_SEPARATORS.sub("", c.given.strip().lower()) for c in out]
    ids = {c.cl_id for c in out if c.cl_id}
    ancestors = ontology.parser().get_term_ancestors
    tables = []
    if any(CEREBRAL_CORTEX_NEURON in ancestors(cl, include_self=True) for cl in ids):
        tables.append((CORTICAL_SUBCLASSES, "beside the list's cortical neurons"))
    if sum(k in _KIDNEY_OWN for k in keys) >= 3:
        tables.append((KIDNEY_SEGMENTS, "beside the list's other nephron segments"))
    if sum(RETINAL_CELL in ancestors(cl) for cl in ids) >= 2:
        tables.append((RETINA, "beside the list's retinal cells"))
    out = list(out)
    for table, why in tables:
        found = {
            i: table[key]
            for i, (c, key) in enumerate(zip(out, keys, strict=True))
            if key in table
            and not c.same_as
            and (c.cl_id is None or (key in _OVERRIDES and not c.read_as))
        }
        counts = Counter(found.values())  # two labels of one term ("IC-A", "ICA"): neither
        for i, cl in found.items():
            if counts[cl] == 1 and cl not in ids:
                out[i] = replace(ontology.term(cl, out[i].given), read_as=f"an atlas's name, {why}")
                ids.add(cl)
    return out
