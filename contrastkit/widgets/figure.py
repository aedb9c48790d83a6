"""The ``Explorer`` widget: controls above a matplotlib figure that is redrawn in place.

The figure is rendered to PNG (:func:`figure_png`) and shown as that PNG, so a notebook saved or
executed without a live kernel (in CI, on GitHub, in nbviewer) still shows the last picture: the
explorer's rich display carries the PNG of its current state as a static fallback. Figures are
made without pyplot (:func:`new_figure`), so nothing is drawn twice and no global pyplot state is
touched.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Mapping
from typing import Any

import ipywidgets as widgets
from matplotlib.figure import Figure

__all__ = ["Explorer", "figure_png", "in_notebook", "new_figure"]

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


def new_figure(width: float, height: float) -> Figure:
    """A pyplot-free figure with constrained layout (the explorers draw on these too)."""
    return Figure(figsize=(width, height), layout="constrained")


# ----------------------------------------------------------------------------------------------
# live training curves
# ----------------------------------------------------------------------------------------------


def in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipywidgets
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")
