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
"""

from __future__ import annotations

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
}
