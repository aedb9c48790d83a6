"""Interactive explorers (ipywidgets) for the ideas behind contrastive learning, and a live training plot.

- :mod:`~contrastkit.widgets.explorers`: ``loss_explorer``, ``mining_explorer``, ``embedding_explorer``
  and ``augmentation_explorer``: controls above a picture redrawn whenever a control changes.
- :mod:`~contrastkit.widgets.liveplot`: ``LiveHistoryPlot``, a training callback redrawing the loss
  and kNN-accuracy curves after every epoch.
- :mod:`~contrastkit.widgets.figure`: the ``Explorer`` widget they are built on.

Each explorer also puts the PNG of its picture into its rich display, so a notebook executed
without a live kernel (in CI, on GitHub, in nbviewer) still shows the figure of the initial state.
Each exposes its state for scripting and tests: ``.figure``, ``.png`` and the numbers it shows (for
example ``loss_explorer(...).loss_values``).
"""

from contrastkit.widgets.explorers import augmentation_explorer, embedding_explorer, loss_explorer, mining_explorer
from contrastkit.widgets.figure import Explorer, figure_png
from contrastkit.widgets.liveplot import LiveHistoryPlot

__all__ = [
    "Explorer",
    "LiveHistoryPlot",
    "augmentation_explorer",
    "embedding_explorer",
    "figure_png",
    "loss_explorer",
    "mining_explorer",
]
