"""Pictures of an embedding space: 2-D projections, class-coloured maps, diagnostics, image panels.

- :mod:`~contrastkit.viz.projection`: ``project`` (UMAP, t-SNE, PCA to 2-D, cached on disk), with
  how to read each.
- :mod:`~contrastkit.viz.maps`: ``plot_embedding`` and ``plot_embedding_grid``.
- :mod:`~contrastkit.viz.diagnostics`: ``plot_pair_distances``, ``plot_history``,
  ``plot_similarity_matrix``.
- :mod:`~contrastkit.viz.gallery`: ``show_neighbors``, ``show_triplets``, ``show_pairs``,
  ``show_augmentations`` and ``show_image``.
- :mod:`~contrastkit.viz.colors`: one colour per class in every figure (``DIGIT_COLORS``).

Every function accepts torch tensors or NumPy arrays and raises ``ValueError`` saying what was
expected.
"""

from contrastkit.viz.colors import DIFFERENT_COLOR, DIGIT_COLORS, SAME_COLOR, WRONG_COLOR, class_color, digit_colors
from contrastkit.viz.diagnostics import HISTORY_PANELS, plot_history, plot_pair_distances, plot_similarity_matrix
from contrastkit.viz.gallery import (
    query_neighbors,
    show_augmentations,
    show_image,
    show_neighbors,
    show_pairs,
    show_triplets,
)
from contrastkit.viz.maps import plot_embedding, plot_embedding_grid
from contrastkit.viz.projection import CACHE_ENV, DEFAULT_CACHE_DIR, PROJECTION_METHODS, project

__all__ = [
    "CACHE_ENV",
    "DEFAULT_CACHE_DIR",
    "DIFFERENT_COLOR",
    "DIGIT_COLORS",
    "HISTORY_PANELS",
    "PROJECTION_METHODS",
    "SAME_COLOR",
    "WRONG_COLOR",
    "class_color",
    "digit_colors",
    "plot_embedding",
    "plot_embedding_grid",
    "plot_history",
    "plot_pair_distances",
    "plot_similarity_matrix",
    "project",
    "query_neighbors",
    "show_augmentations",
    "show_image",
    "show_neighbors",
    "show_pairs",
    "show_triplets",
]
