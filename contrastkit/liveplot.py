"""Figures redrawn in place in a notebook: the ``Explorer`` widget and the live training plot.

Both render a matplotlib figure to PNG (:func:`figure_png`) and show that PNG, so a notebook saved
or executed without a live kernel (in CI, on GitHub, in nbviewer) still shows the last picture:

- :class:`Explorer` is a ``VBox`` of controls above the figure, redrawn whenever a control
  changes; its rich display carries the PNG of the current state as a static fallback. The
  explorers of :mod:`contrastkit.widgets` are built on it.
- :class:`LiveHistoryPlot` is a training callback that redraws the loss and kNN-accuracy curves in
  place after every epoch; outside a notebook it only keeps the figure (and optionally saves it).

Figures are made without pyplot, so nothing is drawn twice and no global pyplot state is touched.
:mod:`contrastkit.widgets` re-exports ``Explorer`` and ``LiveHistoryPlot``.
"""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure

from contrastkit import viz
from contrastkit._checks import describe
from contrastkit.utils import atomic_path

__all__ = ["Explorer", "LiveHistoryPlot", "figure_png"]

_DPI = 90


def figure_png(fig: Figure, dpi: int = _DPI) -> bytes:
    """PNG bytes of a figure."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    return buf.getvalue()


class Explorer(widgets.VBox):
    """Controls above a figure that is redrawn when a control changes.

    Args:
        controls: name -> control widget; its value is passed to ``draw`` under that name.
        draw: ``draw(**values) -> (figure, state)``; every ``state`` item becomes an attribute.

    Attributes:
        figure: the current matplotlib Figure.
        png: its PNG bytes (also shown by ``image``).
        image: the ``ipywidgets.Image`` showing the figure.
        controls: name -> control widget.
        n_draws: how many times the figure has been drawn.
    """

    def __init__(self, controls: Mapping[str, widgets.Widget], draw: Callable[..., tuple[Figure, dict[str, Any]]]):
        self.controls = dict(controls)
        self._draw = draw
        self.image = widgets.Image(format="png")
        self.figure: Figure | None = None
        self.png = b""
        self.n_draws = 0
        self._holding = False
        boxes = [widgets.HBox(list(self.controls.values())[i : i + 3]) for i in range(0, len(self.controls), 3)]
        super().__init__([*boxes, self.image])
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        self.redraw()

    def _on_change(self, _change: Any = None) -> None:
        if not self._holding:
            self.redraw()

    def set(self, **values: Any) -> None:
        """Set several controls at once, then redraw once (e.g. ``w.set(rotation=0, shear=0)``)."""
        unknown = sorted(set(values) - set(self.controls))
        if unknown:
            raise ValueError(f"unknown control(s) {unknown}; this explorer has {sorted(self.controls)}")
        self._holding = True
        try:
            for name, value in values.items():
                self.controls[name].value = value
        finally:
            self._holding = False
        self.redraw()

    def values(self) -> dict[str, Any]:
        """Current value of every control."""
        return {name: control.value for name, control in self.controls.items()}

    def redraw(self) -> None:
        """Draw a new figure from the current control values and show it."""
        fig, state = self._draw(**self.values())
        for name, value in state.items():
            setattr(self, name, value)
        self.figure = fig
        self.png = figure_png(fig)
        self.image.value = self.png
        self.n_draws += 1

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = super()._repr_mimebundle_(**kwargs) or {}
        bundle["image/png"] = base64.b64encode(self.png).decode("ascii")  # static fallback
        return bundle


def _new_figure(width: float, height: float) -> Figure:
    """A pyplot-free figure with constrained layout (the explorers draw on these too)."""
    return Figure(figsize=(width, height), layout="constrained")


# ----------------------------------------------------------------------------------------------
# live training curves
# ----------------------------------------------------------------------------------------------


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipywidgets
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


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
        self.display = _in_notebook() if display is None else bool(display)
        self.figure: Figure | None = None
        self.png = b""
        self.n_updates = 0
        self._handle = None

    def __call__(self, epoch: int, history: Mapping[str, Sequence[float]]) -> None:
        """Redraw from ``history`` (the trainer's dict of per-epoch lists)."""
        keys = [k for k in self.keys if k in history]
        n = len(history.get("loss", ()))
        epochs = np.asarray(history.get("epoch", range(1, n + 1)), dtype=np.float64)
        fig = _new_figure(3.6 * max(len(keys), 1), 3.0)
        axes = fig.subplots(1, max(len(keys), 1), squeeze=False)[0]
        for ax, key in zip(axes, keys):
            y = np.asarray(history[key], dtype=np.float64)
            x = epochs[: len(y)]
            ok = np.isfinite(y)
            ax.plot(x[ok], y[ok], marker="o", ms=3.5, color=viz.SAME_COLOR)
            name = viz._HISTORY_PANELS.get(key, key.replace("_", " "))
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
