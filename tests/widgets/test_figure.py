"""The widget every explorer is built on (contrastkit.widgets.figure): Explorer, PNG bytes, figures."""

from __future__ import annotations

import ipywidgets
import pytest
from matplotlib.figure import Figure

from contrastkit.widgets import figure

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _explorer() -> figure.Explorer:
    def draw(level: float, label: str):
        fig = figure.new_figure(2, 2)
        ax = fig.add_subplot()
        ax.bar([0], [level])
        ax.set_title(label)
        return fig, {"level_seen": level, "label_seen": label}

    controls = {"level": ipywidgets.FloatSlider(value=1.0, min=0, max=5), "label": ipywidgets.Text(value="a")}
    return figure.Explorer(controls, draw)


def test_new_figure_and_figure_png():
    fig = figure.new_figure(3, 2)
    assert isinstance(fig, Figure) and tuple(fig.get_size_inches()) == (3, 2)
    assert fig.get_layout_engine() is not None  # constrained layout
    fig.add_subplot().plot([0, 1], [0, 1])
    png = figure.figure_png(fig)
    assert png.startswith(PNG_MAGIC)
    assert len(figure.figure_png(fig, dpi=30)) < len(png)


def test_explorer_draws_at_once_and_on_every_change():
    w = _explorer()
    assert w.n_draws == 1 and w.png.startswith(PNG_MAGIC) and w.image.value == w.png
    assert (w.level_seen, w.label_seen) == (1.0, "a")  # the draw function's state becomes attributes
    assert w.values() == {"level": 1.0, "label": "a"}
    w.controls["level"].value = 2.0
    assert w.n_draws == 2 and w.level_seen == 2.0
    first = w.png
    w.set(level=3.0, label="b")  # two changes, one redraw
    assert w.n_draws == 3 and (w.level_seen, w.label_seen) == (3.0, "b") and w.png != first
    assert w.figure.axes[0].get_title() == "b"
    with pytest.raises(ValueError, match="unknown control"):
        w.set(size=2)
    bundle = w._repr_mimebundle_()
    assert "image/png" in bundle  # the static picture for a notebook without a kernel


def test_not_in_a_notebook_under_pytest():
    assert figure.in_notebook() is False
