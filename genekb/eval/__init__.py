"""Gene-level evaluation of embedding versions against controls (`genekb eval`).

The package itself is callable as `gk.eval(store, tasks, ...)` (`genekb.api.evaluate`): a Python
session reaches the evaluation under the command's own name.
"""

import sys
import types

from genekb.eval.evaluate import evaluate

__all__ = ["evaluate"]


class _CallableModule(types.ModuleType):
    def __call__(self, *args, **kwargs):
        """`genekb.api.evaluate`: tasks scored beside their controls; see its docstring."""
        from genekb.api import evaluate as evaluate_api

        return evaluate_api(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
