"""A live training plot: the loss and kNN-accuracy curves redrawn in place after every epoch.

:class:`LiveHistoryPlot` is a training callback (``train(..., callbacks=[LiveHistoryPlot()])``);
outside a notebook it only keeps the figure (and optionally saves it).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from contrastkit._checks import describe
from contrastkit.utils import atomic_path
from contrastkit.viz import HISTORY_PANELS, SAME_COLOR
from contrastkit.widgets.figure import figure_png, in_notebook, new_figure

__all__ = ["LiveHistoryPlot"]


class LiveHistoryPlot:
    """Training callback that redraws the loss and kNN-accuracy curves in place after each epoch.

    Usage: ``model, history = ck.train.train(config, data, callbacks=[LiveHistoryPlot()])``.

    In a notebook the figure appears under the cell on the first epoch and is replaced after every
    epoch (the last picture stays in the saved notebook). Elsewhere nothing is displayed; the
    figure is kept in ``.figure`` and, with ``save_path``, written there as PNG after each epoch.

    Args:
        keys: history series to draw, one panel each (those missing from the history are skipped).
        save_path: PNG file rewritten (atomically) after every epoch, or None.
        display: show the figure in the notebook; None: only when running inside a notebook kernel.

    Attributes:
        figure: the latest Figure (None before the first epoch).
        n_updates: how many times the callback has drawn.
    """

    def __init__(
        self,
        keys: Sequence[str] = ("loss", "knn_accuracy"),
        save_path: str | os.PathLike[str] | None = None,
        display: bool | None = None,
    ):
        if isinstance(keys, str) or not keys or not all(isinstance(k, str) for k in keys):
            raise ValueError(f"keys must be a non-empty sequence of history names, got {describe(keys)}")
        self.keys = tuple(keys)
        self.save_path = None if save_path is None else Path(save_path)
        self.display = in_notebook() if display is None else bool(display)
        self.figure: Figure | None = None
        self.png = b""
        self.n_updates = 0
        self._handle = None

    def __call__(self, epoch: int, history: Mapping[str, Sequence[float]]) -> None:
        """Redraw from ``history`` (the trainer's dict of per-epoch lists)."""
        keys = [k for k in self.keys if k in history]
        n = len(history.get("loss", ()))
        epochs = np.asarray(history.get("epoch", range(1, n + 1)), dtype=np.float64)
        fig = new_figure(3.6 * max(len(keys), 1), 3.0)
        axes = fig.subplots(1, max(len(keys), 1), squeeze=False)[0]
        for ax, key in zip(axes, keys):
            y = np.asarray(history[key], dtype=np.float64)
            x = epochs[: len(y)]
            ok = np.isfinite(y)
            ax.plot(x[ok], y[ok], marker="o", ms=3.5, color=SAME_COLOR)
            name = HISTORY_PANELS.get(key, key.replace("_", " "))
            ax.set_title(f"{name}: {y[ok][-1]:.4g}" if ok.any() else name, fontsize=10)
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
            if key in ("knn_accuracy", "active_fraction"):
                ax.set_ylim(-0.02, 1.02)
            ax.xaxis.get_major_locator().set_params(integer=True)
        fig.suptitle(f"epoch {epoch}", fontsize=10)
        self.figure = fig
        self.png = figure_png(fig)
        self.n_updates += 1
        if self.save_path is not None:
            with atomic_path(self.save_path) as tmp:
                tmp.write_bytes(self.png)
        if self.display:
            from IPython.display import Image, display

            picture = Image(data=self.png, format="png")
            if self._handle is None:
                self._handle = display(picture, display_id=True)
            else:
                self._handle.update(picture)

    def _repr_png_(self) -> bytes | None:
        return self.png or None
