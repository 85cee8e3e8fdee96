"""Pure torch modules: tensors in, tensors out; no AnnData, no store."""
