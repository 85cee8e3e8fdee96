"""Pictures of a run (`cm.pl`), in scanpy's manner: `ax=` draws into given axes, `show=False`
returns the axes, `save=` writes the file: one already there is replaced (as matplotlib and
scanpy do), missing folders are created, and a format matplotlib cannot write is refused before
anything is drawn. The command line's `--plots` draws with these.

`umap` (clusters, names, labels side by side), `markers` (a dot plot of each group's top genes
and the genes behind its name), `calls` (each group's best candidate names with their scores and
margins, abstentions marked), `confusion` (reference labels against clusters, Hungarian-ordered, or
a classifier's predictions, each class's column under its row).
"""

from cellmodel.pl.calls import calls
from cellmodel.pl.confusion import confusion, confusion_table
from cellmodel.pl.embedding import umap, umap_coordinates
from cellmodel.pl.markers import markers

__all__ = ["calls", "confusion", "confusion_table", "markers", "umap", "umap_coordinates"]


def __dir__() -> list[str]:  # tab completion offers the public functions, not submodules
    return sorted(__all__)
