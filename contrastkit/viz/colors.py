"""The kit's colours: one colour per class in every figure, safe for colour-vision deficiency.

The ten digits always get the same colours, :data:`DIGIT_COLORS`: the eight colours of Okabe and
Ito's palette for colour-vision deficiency (reordered so that neighbouring digits differ in
lightness as well as hue), plus wine and grey from Paul Tol's palettes. No ten colours stay
distinct for every reader, so the maps also write each class's name at the middle of its cluster
and the legend carries the names: a reader never has to rely on hue alone.

References:
    - [0] Okabe & Ito 2008, "Color Universal Design", https://jfly.uni-koeln.de/color/
    - [1] Tol 2021, "Colour schemes", https://personal.sron.nl/~pault/
"""

from __future__ import annotations

__all__ = ["DIFFERENT_COLOR", "DIGIT_COLORS", "SAME_COLOR", "WRONG_COLOR", "class_color", "digit_colors"]

#: Colour of digit ``d`` is ``DIGIT_COLORS[d % 10]``: Okabe–Ito's eight, then Tol's wine and grey.
DIGIT_COLORS: tuple[str, ...] = (
    "#0072B2",  # 0 blue
    "#E69F00",  # 1 orange
    "#009E73",  # 2 bluish green
    "#CC79A7",  # 3 reddish purple
    "#56B4E9",  # 4 sky blue
    "#D55E00",  # 5 vermillion
    "#000000",  # 6 black
    "#F0E442",  # 7 yellow
    "#882255",  # 8 wine (Tol)
    "#999999",  # 9 grey (Tol)
)

#: Colour marking a mistake (a wrong-class neighbour): Okabe–Ito vermillion, always paired with text.
WRONG_COLOR = "#D55E00"
#: Colours of same-class and different-class pairs in distance histograms.
SAME_COLOR = "#0072B2"
DIFFERENT_COLOR = "#E69F00"


def digit_colors() -> list[str]:
    """The ten digit colours as hex strings, ``digit_colors()[d]`` for digit ``d``."""
    return list(DIGIT_COLORS)


def class_color(label: int) -> str:
    """The colour of class ``label`` (the palette repeats after ten classes)."""
    return DIGIT_COLORS[int(label) % len(DIGIT_COLORS)]
