"""Preprocessing, no torch and no store: highly variable genes, PCA (with its parallel-analysis
rule), batch correction and the kNN graph the structure view is built on (`graph`)."""
