"""The kit's colours (contrastkit.viz.colors): one fixed colour per class."""

from __future__ import annotations

from matplotlib.colors import to_rgb

from contrastkit import viz
from contrastkit.viz import colors


def test_digit_colors_are_ten_distinct_fixed_colours():
    colors = viz.digit_colors()
    assert len(colors) == 10
    assert len({to_rgb(c) for c in colors}) == 10
    assert colors == list(viz.DIGIT_COLORS)
    colors[0] = "red"  # a copy: the module's palette is untouched
    assert viz.digit_colors()[0] == viz.DIGIT_COLORS[0]


def test_class_color_repeats_after_ten_and_marks_are_palette_colours():
    assert [colors.class_color(c) for c in range(10)] == list(viz.DIGIT_COLORS)
    assert colors.class_color(13) == viz.DIGIT_COLORS[3] and colors.class_color(True) == viz.DIGIT_COLORS[1]
    for colour in (viz.WRONG_COLOR, viz.SAME_COLOR, viz.DIFFERENT_COLOR):
        assert to_rgb(colour) in {to_rgb(c) for c in viz.DIGIT_COLORS}
    assert viz.SAME_COLOR != viz.DIFFERENT_COLOR
    for name in colors.__all__:
        assert getattr(viz, name) is getattr(colors, name), name
