"""Diagnostic figures: pair-distance histograms, training histories, similarity matrices.

Every function accepts torch tensors or NumPy arrays, takes ``ax=None`` (a new figure is made when
it is None) and returns the Axes it drew on, or a Figure for multi-panel pictures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from contrastkit._checks import (
    as_bool_array,
    as_label_array,
    as_matrix,
    check_nonnegative,
    check_positive_int,
    describe,
    to_numpy,
)
from contrastkit.viz.colors import DIFFERENT_COLOR, SAME_COLOR

__all__ = ["HISTORY_PANELS", "plot_history", "plot_pair_distances", "plot_similarity_matrix"]


# ----------------------------------------------------------------------------------------------
# Diagnostics
# ----------------------------------------------------------------------------------------------


def plot_pair_distances(
    distances: torch.Tensor | np.ndarray,
    same: torch.Tensor | np.ndarray,
    margin: float | None = None,
    threshold: float | None = None,
    ax: Axes | None = None,
    *,
    bins: int = 40,
    title: str | None = None,
) -> Axes:
    """Overlapping histograms of same-class and different-class pair distances.

    A good embedding separates the two: same-class pairs near 0, different-class pairs beyond the
    margin. The overlap is where verification makes mistakes.

    Args:
        distances: [P] distance of each pair.
        same: [P] bool (or 0/1): True for a same-class pair.
        margin: the loss's margin, drawn as a dashed line (None: not drawn).
        threshold: a decision threshold (e.g. ``verification_roc(...).threshold``), dotted line.
        ax: Axes to draw on (None: a new one).
        bins: number of shared histogram bins.
        title: Axes title (default: "Pair distances").

    Returns:
        The Axes; ``ax.patches`` holds the bars of both histograms.
    """
    d = to_numpy("distances", distances).astype(np.float64).reshape(-1)
    if to_numpy("distances", distances).ndim != 1:
        raise ValueError(f"distances must have shape [P], got {describe(distances)}")
    if not np.isfinite(d).all():
        raise ValueError("distances must be finite")
    sm = as_bool_array("same", same, len(d))
    check_positive_int("bins", bins)
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4), layout="constrained")
    edges = np.histogram_bin_edges(d if len(d) else np.zeros(1), bins=bins)
    for mask, color, name in ((sm, SAME_COLOR, "same class"), (~sm, DIFFERENT_COLOR, "different class")):
        if mask.any():
            ax.hist(d[mask], bins=edges, density=True, alpha=0.55, color=color, label=f"{name} (n={int(mask.sum())})")
    for value, style, name in ((margin, "--", "margin"), (threshold, ":", "threshold")):
        if value is not None:
            v = check_nonnegative(name, value)
            ax.axvline(v, color="black", ls=style, lw=1.8, label=f"{name} = {v:.3g}")
    ax.set_xlabel("distance between the two embeddings")
    ax.set_ylabel("density")
    ax.set_title("Pair distances" if title is None else title)
    ax.legend(frameon=False)
    return ax


#: Panel titles of the history keys that ``plot_history`` draws, in order.
HISTORY_PANELS = {
    "loss": "training loss",
    "knn_accuracy": "kNN accuracy",
    "embedding_std": "embedding std (0 = collapse)",
    "active_fraction": "active triplet fraction",
    "lr": "learning rate",
}
_HISTORY_SKIP = {"epoch", "wall_time", "eval_time"}


def plot_history(history: Mapping[str, Sequence[float]], *, keys: Sequence[str] | None = None) -> Figure:
    """Loss and monitors per epoch, one panel each.

    Args:
        history: the dict returned by ``contrastkit.train.train``: "epoch" plus one list per
            metric ("loss", "knn_accuracy", "embedding_std", optionally "active_fraction", "lr",
            ...). NaN entries (epochs without evaluation) are skipped.
        keys: the metrics to draw, in order (default: loss, knn_accuracy, embedding_std,
            active_fraction present in ``history``, then any other numeric series except epoch and
            timings).

    Returns:
        The Figure, one Axes per metric with at least one finite value.
    """
    if not isinstance(history, Mapping) or "loss" not in history:
        raise ValueError(f"history must be a dict with at least a 'loss' list, got {describe(history)}")
    n = len(history["loss"])
    epochs = np.asarray(history.get("epoch", range(1, n + 1)), dtype=np.float64)
    if len(epochs) != n:
        raise ValueError(f"history['epoch'] has {len(epochs)} entries but history['loss'] has {n}")
    if keys is None:
        keys = [k for k in HISTORY_PANELS if k in history and k != "lr"]
        keys += [k for k in history if k not in _HISTORY_SKIP and k not in keys]
    panels = []
    for key in keys:
        if key not in history:
            raise ValueError(f"history has no {key!r}; it has {sorted(history)}")
        values = np.asarray(history[key], dtype=np.float64)
        if values.shape != (n,):
            raise ValueError(f"history[{key!r}] must have {n} entries like 'loss', got shape {values.shape}")
        ok = np.isfinite(values)
        if ok.any():
            panels.append((key, epochs[ok], values[ok]))
    ncols = max(1, len(panels) if len(panels) <= 5 else 4)
    nrows = max(1, -(-len(panels) // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.9 * nrows), layout="constrained", squeeze=False)
    for ax, (key, x, y) in zip(axes.flat, panels):
        ax.plot(x, y, marker="o", ms=3.5, color="#0072B2")
        ax.set_title(HISTORY_PANELS.get(key, key.replace("_", " ")))
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if key in ("knn_accuracy", "active_fraction"):
            ax.set_ylim(-0.02, 1.02)
        if key == "lr":
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
        if len(x) and np.all(np.mod(x, 1) == 0):
            ax.xaxis.get_major_locator().set_params(integer=True)
    for ax in axes.flat[len(panels) :]:
        ax.remove()
    if not panels:
        fig.text(0.5, 0.5, "no finite values to plot yet", ha="center", va="center")
    return fig


def _cosine_similarity(x: np.ndarray) -> np.ndarray:
    xn = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)  # [N, D]
    return xn @ xn.T  # [N, N]


def plot_similarity_matrix(
    embeddings: torch.Tensor | np.ndarray,
    labels: torch.Tensor | np.ndarray,
    ax: Axes | None = None,
    *,
    title: str | None = None,
) -> Axes:
    """Cosine similarity of every pair, rows and columns sorted by class, class blocks outlined.

    A good embedding shows bright diagonal blocks (similar within a class) on a darker background.
    The colour scale spans [-1, 1] with 0 in the middle, so pictures of different embeddings can be
    compared.

    Args:
        embeddings: [N, D] float (a few hundred to two thousand rows is readable).
        labels: [N] integer class ids.
        ax: Axes to draw on (None: a new one).
        title: Axes title (default: "Cosine similarity, sorted by class").

    Returns:
        The Axes; ``ax.images[0]`` holds the [N, N] matrix.
    """
    x = as_matrix("embeddings", embeddings)
    lab = as_label_array("labels", labels, len(x))
    order = np.argsort(lab, kind="stable")
    sim = _cosine_similarity(x[order].astype(np.float64))  # [N, N]
    lab = lab[order]
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 5.5), layout="constrained")
    im = ax.imshow(sim, cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    ax.figure.colorbar(im, ax=ax, label="cosine similarity", shrink=0.85)
    classes, starts, counts = np.unique(lab, return_index=True, return_counts=True)
    for b in starts[1:]:
        ax.axhline(b - 0.5, color="black", lw=0.8)
        ax.axvline(b - 0.5, color="black", lw=0.8)
    centres = starts + (counts - 1) / 2
    ax.set_xticks(centres, [str(c) for c in classes])
    ax.set_yticks(centres, [str(c) for c in classes])
    ax.tick_params(length=0)
    ax.set_xlabel("digit")
    ax.set_ylabel("digit")
    ax.set_title("Cosine similarity, sorted by class" if title is None else title)
    return ax
