"""The door to genekb: how a matrix's gene names map to a store's genes (`genes`) and which
store version holds vectors for them, writing one where none does (`vectors`)."""
