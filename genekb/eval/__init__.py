"""Gene-level evaluation of embedding versions against controls (`genekb eval`)."""

from genekb.eval.evaluate import evaluate

__all__ = ["evaluate"]
