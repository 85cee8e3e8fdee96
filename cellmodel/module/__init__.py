"""Pure torch blocks, no AnnData and no store: the clustering model's encoders, heads and losses
(`model`)."""
