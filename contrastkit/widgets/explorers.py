"""Interactive explorers (ipywidgets) for the ideas behind contrastive learning.

Every explorer is a ``VBox`` of controls above a picture. The picture is a matplotlib figure
rendered to PNG in an ``ipywidgets.Image``, redrawn whenever a control changes. The explorers
also put that PNG into their rich display, so a notebook executed without a live kernel (in CI, on
GitHub, in nbviewer) still shows the figure of the initial state; a live kernel shows the
interactive widget instead.

Each explorer exposes its state for scripting and tests: ``.figure`` (the current
``matplotlib.figure.Figure``), ``.png`` (its PNG bytes) and the computed numbers it shows (for
example ``loss_explorer(...).loss_values``). Figures are made without pyplot, so nothing is
drawn twice and no global pyplot state is touched.

"""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from contrastkit import losses, mining, viz
from contrastkit._checks import as_images, as_label_array, as_matrix, as_points, check_positive_int, describe, to_numpy
from contrastkit.augment import DEFAULTS as AUGMENT_DEFAULTS
from contrastkit.augment import DigitAugment
from contrastkit.widgets.figure import Explorer, new_figure

__all__ = [
    "augmentation_explorer",
    "embedding_explorer",
    "loss_explorer",
    "mining_explorer",
]


def _slider(description: str, value: float, lo: float, hi: float, step: float, *, log: bool = False) -> widgets.Widget:
    style = {"description_width": "initial"}
    common = {"description": description, "continuous_update": False, "style": style}
    if log:
        return widgets.FloatLogSlider(value=value, base=10, min=np.log10(lo), max=np.log10(hi), step=step, **common)
    return widgets.FloatSlider(value=value, min=lo, max=hi, step=step, readout_format=".2f", **common)


# ----------------------------------------------------------------------------------------------
# loss explorer
# ----------------------------------------------------------------------------------------------


def _toy_batch(n_classes: int, per_class: int, dim: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two L2-normalised 'views' z1, z2 [B, dim] of a batch with class structure, and labels [B]."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(n_classes).repeat_interleave(per_class)  # [B]
    centres = torch.randn(n_classes, dim, generator=gen)  # [C, dim]
    z = centres[labels] + 0.8 * torch.randn(len(labels), dim, generator=gen)  # [B, dim]
    z1 = torch.nn.functional.normalize(z, dim=1)
    z2 = torch.nn.functional.normalize(z + 0.5 * torch.randn(z.shape, generator=gen), dim=1)  # a second view
    return z1, z2, labels


def loss_explorer(n_classes: int = 4, per_class: int = 3, dim: int = 8, seed: int = 0) -> Explorer:
    """How temperature and margin shape the losses, on a fixed small batch.

    The batch holds B = ``n_classes × per_class`` samples with two views each (L2-normalised,
    dimension ``dim``). The left panel follows anchor 0 (first view of sample 0) as NT-Xent sees
    it: its positive is the second view of the same sample, and the 2B − 2 views of the other
    samples are negatives. The bars show the softmax weight ``exp(s/τ) / Σ exp(s'/τ)`` each
    candidate gets (s: cosine similarity); the bars show each negative's share of the negatives'
    total, which is how strongly the gradient pushes the anchor away from it.
    Lowering τ concentrates nearly all the weight on the hardest (most similar) negatives; raising
    it spreads the weight evenly. Negatives of the anchor's own class are hatched: SimCLR pushes
    them away too, SupCon treats them as positives.

    The right panel shows anchor 0's distances to every other sample (first views): a negative
    closer than the margin adds to the contrastive loss, and one closer than d(a, p) + margin
    (for its nearest positive) is an active triplet.

    Args:
        n_classes: classes in the toy batch (>= 2).
        per_class: samples per class (>= 2).
        dim: embedding dimension (>= 2).
        seed: seed of the toy batch.

    Returns:
        An :class:`Explorer` with controls ``temperature`` and ``margin`` and attributes
        ``loss_values`` (dict: nt_xent, supcon, contrastive, triplet) and ``weights`` (the softmax
        weight of each of anchor 0's 2B − 1 candidates, positive first; the bars show the
        negatives' weights renormalised to sum to 1, i.e. each negative's share of the push).
    """
    check_positive_int("n_classes", n_classes, minimum=2)
    check_positive_int("per_class", per_class, minimum=2)
    check_positive_int("dim", dim, minimum=2)
    z1, z2, labels = _toy_batch(n_classes, per_class, dim, seed)
    b = len(labels)
    # anchor 0's candidates: its positive z2[0], then z1[1:], z2[1:] (the 2B - 2 negatives)
    candidates = torch.cat([z2[:1], z1[1:], z2[1:]])  # [2B - 1, dim]
    cand_labels = torch.cat([labels[:1], labels[1:], labels[1:]])  # [2B - 1]
    sims = (candidates @ z1[0]).numpy()  # [2B - 1] cosine similarities
    neg_order = 1 + np.argsort(-sims[1:], kind="stable")  # negatives, hardest first
    # all ordered pairs (i, j), i < j, for the contrastive loss
    ii, jj = torch.triu_indices(b, b, offset=1)  # [P] each
    same = labels[ii] == labels[jj]  # [P]
    dist0 = torch.linalg.norm(z1 - z1[0], dim=1).numpy()  # [B] anchor 0 to every first view

    def draw(temperature: float, margin: float) -> Figure:
        t = float(temperature)
        logits = sims / t
        weights = np.exp(logits - logits.max())
        weights /= weights.sum()  # [2B - 1]
        values = {
            "nt_xent": float(losses.nt_xent_loss(z1, z2, temperature=t)),
            "supcon": float(losses.supcon_loss(torch.stack([z1, z2], 1), labels, temperature=t)),
            "contrastive": float(losses.contrastive_loss(z1[ii], z1[jj], same, margin=float(margin))),
            "triplet": float(losses.batch_triplet_loss(z1, labels, margin=float(margin), strategy="all")),
        }
        fig = new_figure(11.5, 4.0)
        ax1, ax2 = fig.subplots(1, 2, width_ratios=[1.35, 1])
        _draw_weights(ax1, weights, sims, neg_order, cand_labels, t, values)
        _draw_margin(ax2, dist0, labels, float(margin), values)
        return fig, {"weights": weights, "loss_values": values}

    return Explorer(
        {
            "temperature": _slider("temperature τ (NT-Xent, SupCon)", 0.5, 0.02, 2.0, 0.05, log=True),
            "margin": _slider("margin (contrastive, triplet)", 0.5, 0.0, 2.0, 0.05),
        },
        draw,
    )


def _draw_weights(ax: Axes, weights, sims, neg_order, cand_labels, t: float, values: dict[str, float]) -> None:
    anchor_label = int(cand_labels[0])
    neg_w = weights[neg_order] / max(float(weights[1:].sum()), 1e-30)  # share of the push on each negative
    x = np.arange(1, len(neg_order) + 1)
    same_class = (cand_labels[neg_order] == anchor_label).numpy()
    ax.bar(x[~same_class], neg_w[~same_class], color=viz.DIFFERENT_COLOR, label="negative (another digit)")
    if same_class.any():
        ax.bar(
            x[same_class],
            neg_w[same_class],
            color=viz.DIFFERENT_COLOR,
            hatch="//",
            edgecolor="black",
            label="negative of the same digit",
        )
    ax.axhline(1 / len(neg_order), color="0.3", ls=":", lw=1.2, label="uniform share")
    ax.set_xticks(x, [f"{s:.2f}" for s in sims[neg_order]], rotation=90, fontsize=7)
    ax.set_xlabel("negatives, hardest first (tick: cosine similarity to the anchor)")
    ax.set_ylabel("share of the softmax weight")
    top3 = float(np.sort(neg_w)[::-1][:3].sum())
    ax.set_title(
        f"τ = {t:.3g}: NT-Xent {values['nt_xent']:.3f}, SupCon {values['supcon']:.3f}; "
        f"p(positive) = {float(weights[0]):.2f}\n"
        f"the 3 hardest of {len(neg_order)} negatives get {top3:.0%} of the push",
        fontsize=10,
    )
    ax.set_ylim(0, max(1.1 * float(neg_w.max()), 1.5 / len(neg_order)))
    ax.legend(fontsize=8, frameon=False, loc="upper right")


def _draw_margin(ax: Axes, dist0: np.ndarray, labels: torch.Tensor, margin: float, values: dict[str, float]) -> None:
    lab = labels.numpy()
    others = np.arange(1, len(lab))
    pos = others[lab[others] == lab[0]]
    neg = others[lab[others] != lab[0]]
    d_ap = float(dist0[pos].min())
    ax.axvspan(0, margin, color=viz.DIFFERENT_COLOR, alpha=0.15, label="d < margin: negative penalised")
    ax.axvline(d_ap + margin, color="black", ls="--", lw=1.2, label="d(a, nearest p) + margin")
    ax.scatter(dist0[pos], np.full(len(pos), 1.0), s=70, color=viz.SAME_COLOR, label="positives", zorder=3)
    active = dist0[neg] < d_ap + margin
    ax.scatter(dist0[neg][~active], np.full(int((~active).sum()), 0.0), s=70, color=viz.DIFFERENT_COLOR, zorder=3)
    ax.scatter(
        dist0[neg][active],
        np.zeros(int(active.sum())),
        s=90,
        color=viz.DIFFERENT_COLOR,
        edgecolor="black",
        linewidth=1.5,
        label="negatives (ringed: active triplet)",
        zorder=3,
    )
    ax.set_yticks([0, 1], ["negatives", "positives"])
    ax.set_ylim(-0.6, 1.8)
    ax.set_xlim(0, 2.05)
    ax.set_xlabel("Euclidean distance to anchor 0")
    ax.set_title(
        f"margin = {margin:.2f}: contrastive {values['contrastive']:.3f}, triplet {values['triplet']:.3f}",
        fontsize=10,
    )
    ax.legend(fontsize=7.5, frameon=False, loc="upper right", ncols=1)


# ----------------------------------------------------------------------------------------------
# mining explorer
# ----------------------------------------------------------------------------------------------


def mining_explorer(n_classes: int = 3, per_class: int = 4, seed: int = 0) -> Explorer:
    """Which triplets each mining strategy picks, on a 2-D toy embedding.

    Points of ``n_classes`` overlapping classes lie in the plane. For the chosen strategy and margin
    the explorer mines triplets with :func:`contrastkit.mining.mine_triplets` and draws each as a
    solid line anchor → positive and a dashed line anchor → negative. "all" keeps every triplet
    with a positive loss, "hard" one (farthest positive, closest negative) per anchor, "semihard"
    the closest negative farther than the positive but within the margin. Pick one anchor to see
    its circles of radius d(a, p) and d(a, p) + margin: semi-hard negatives lie between them.

    Args:
        n_classes: number of classes (2..10).
        per_class: points per class (>= 2).
        seed: seed of the toy points.

    Returns:
        An :class:`Explorer` with controls ``strategy``, ``margin`` and ``anchor`` (-1: all) and the
        attribute ``triplets`` (int array [T, 3] of the mined (a, p, n)).
    """
    check_positive_int("n_classes", n_classes, minimum=2)
    if n_classes > 10:
        raise ValueError(f"n_classes must be at most 10, got {n_classes}")
    check_positive_int("per_class", per_class, minimum=2)
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(n_classes).repeat_interleave(per_class)  # [B]
    angles = torch.arange(n_classes) * (2 * np.pi / n_classes)
    centres = 1.2 * torch.stack([torch.cos(angles), torch.sin(angles)], 1)  # [C, 2]
    points = centres[labels] + 0.7 * torch.randn(len(labels), 2, generator=gen)  # [B, 2]
    pts = points.numpy()
    lab = labels.numpy()

    def draw(strategy: str, margin: float, anchor: int) -> Figure:
        a, p, n = mining.mine_triplets(points, labels, strategy=strategy, margin=float(margin))
        trip = torch.stack([a, p, n], 1).numpy()  # [T, 3]
        shown = trip if anchor < 0 else trip[trip[:, 0] == anchor]
        fig = new_figure(7.2, 6.0)
        ax = fig.subplots()
        alpha = float(np.clip(6.0 / max(len(shown), 1), 0.15, 0.9))
        for ta, tp, tn in shown:
            ax.plot(*pts[[ta, tp]].T, color=viz.SAME_COLOR, lw=1.4, alpha=alpha, zorder=1)
            ax.plot(*pts[[ta, tn]].T, color=viz.WRONG_COLOR, lw=1.4, ls="--", alpha=alpha, zorder=1)
        if anchor >= 0:
            for tp in np.unique(shown[:, 1]):
                r = float(np.linalg.norm(pts[anchor] - pts[tp]))
                for radius, style in ((r, "-"), (r + float(margin), "--")):
                    circle = _circle(pts[anchor], radius, style)
                    ax.add_patch(circle)
            ax.scatter(*pts[anchor], s=320, facecolor="none", edgecolor="black", lw=2, zorder=4, label="anchor")
            if len(shown):
                ax.plot([], [], color="0.35", lw=1.0, label="radius d(a, p)")
                ax.plot([], [], color="0.35", lw=1.0, ls="--", label="radius d(a, p) + margin")
        for c in range(n_classes):
            ax.scatter(
                *pts[lab == c].T, s=80, color=viz.DIGIT_COLORS[c], edgecolor="white", zorder=3, label=f"class {c}"
            )
        for i, (x, y) in enumerate(pts):
            ax.annotate(str(i), (x, y), xytext=(5, 5), textcoords="offset points", fontsize=8, color="0.25")
        ax.plot([], [], color=viz.SAME_COLOR, lw=1.4, label="anchor → positive")
        ax.plot([], [], color=viz.WRONG_COLOR, lw=1.4, ls="--", label="anchor → negative")
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        ax.set_aspect("equal", adjustable="datalim")
        who = "all anchors" if anchor < 0 else f"anchor {anchor}"
        ax.set_title(f"{strategy}, margin {float(margin):.2f}: {len(trip)} triplets mined ({len(shown)} shown, {who})")
        return fig, {"triplets": trip}

    return Explorer(
        {
            "strategy": widgets.ToggleButtons(options=["all", "hard", "semihard"], value="semihard"),
            "margin": _slider("margin", 0.5, 0.0, 3.0, 0.05),
            "anchor": widgets.IntSlider(
                value=0, min=-1, max=len(lab) - 1, description="anchor (-1: all)", continuous_update=False
            ),
        },
        draw,
    )


def _circle(centre: np.ndarray, radius: float, style: str):
    from matplotlib.patches import Circle

    return Circle(tuple(centre), radius, fill=False, ls=style, lw=1.0, color="0.35", zorder=0)


# ----------------------------------------------------------------------------------------------
# embedding explorer
# ----------------------------------------------------------------------------------------------


def embedding_explorer(
    points: torch.Tensor | np.ndarray,
    embeddings: torch.Tensor | np.ndarray,
    images: torch.Tensor | np.ndarray,
    labels: torch.Tensor | np.ndarray,
    k: int = 8,
    index: int = 0,
) -> Explorer:
    """Pick a point and see its nearest neighbours in the embedding, and where they sit on the map.

    The neighbours are searched in the full embedding (cosine distance), not in the 2-D picture:
    when they are scattered over the map, the projection has torn a neighbourhood apart.

    Args:
        points: [N, 2] 2-D map, e.g. ``viz.project(embeddings)``.
        embeddings: [N, D] embeddings the neighbours are searched in.
        images: [N, 1, H, W] images in [0, 1].
        labels: [N] integer class ids.
        k: initial number of neighbours (1..min(15, N - 1)).
        index: initial query row.

    Returns:
        An :class:`Explorer` with controls ``index`` and ``k`` and the attribute ``neighbors``
        (indices [k] of the current query's neighbours, nearest first).
    """
    pts = as_points("points", points)
    emb = as_matrix("embeddings", embeddings, min_rows=2)
    if len(emb) != len(pts):
        raise ValueError(f"points and embeddings must have the same number of rows, got {len(pts)} and {len(emb)}")
    imgs = as_images("images", images, len(pts))
    lab = as_label_array("labels", labels, len(pts))
    k_max = min(15, len(pts) - 1)
    check_positive_int("k", k)
    if k > k_max:
        raise ValueError(f"k must be at most {k_max}, got {k}")
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < len(pts):
        raise ValueError(f"index must be an integer in [0, {len(pts)}), got {describe(index)}")

    def draw(index: int, k: int) -> Figure:
        idx, dist = viz.query_neighbors(index, emb, k)
        cols = -(-(k + 1) // 3)
        fig = new_figure(6.5 + 1.25 * cols, 5.2)
        grid = fig.add_gridspec(3, 1 + cols, width_ratios=[4.2] + [1] * cols)
        ax = fig.add_subplot(grid[:, 0])
        viz.plot_embedding(pts, lab, ax=ax, legend=False, alpha=0.35)
        for i in idx:
            ax.plot(*pts[[index, i]].T, color="0.2", lw=0.8, zorder=2)
        wrong = lab[idx] != lab[index]
        ax.scatter(*pts[idx[~wrong]].T, s=70, facecolor="none", edgecolor="black", lw=1.5, zorder=3, label="neighbour")
        ax.scatter(
            *pts[idx[wrong]].T, s=70, marker="s", facecolor="none", edgecolor=viz.WRONG_COLOR, lw=2, zorder=3,
            label="neighbour of another class",
        )  # fmt: skip
        ax.scatter(*pts[index], s=260, marker="*", color="black", edgecolor="white", zorder=4, label="query")
        ax.legend(fontsize=8, loc="best", framealpha=0.9)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"query {index} (digit {lab[index]}) and its {k} nearest neighbours in the embedding", fontsize=10)
        cells = [fig.add_subplot(grid[r, 1 + c]) for r in range(3) for c in range(cols)]  # row by row
        viz.show_image(cells[0], imgs[index], f"query\ndigit {lab[index]}", frame="black")
        for cell, i, d, bad in zip(cells[1:], idx, dist, wrong):
            title = f"d={d:.3f}\n{'✗ ' if bad else ''}digit {lab[i]}"
            viz.show_image(cell, imgs[i], title, color=viz.WRONG_COLOR if bad else "black",
                                frame=viz.WRONG_COLOR if bad else None)  # fmt: skip
        for cell in cells[k + 1 :]:
            cell.set_axis_off()
        return fig, {"neighbors": idx}

    return Explorer(
        {
            "index": widgets.BoundedIntText(value=int(index), min=0, max=len(pts) - 1, description="query index"),
            "k": widgets.IntSlider(value=k, min=1, max=k_max, description="k", continuous_update=False),
        },
        draw,
    )


# ----------------------------------------------------------------------------------------------
# augmentation explorer
# ----------------------------------------------------------------------------------------------


def augmentation_explorer(
    images: torch.Tensor | np.ndarray, n_images: int = 3, n_views: int = 6, seed: int = 0
) -> Explorer:
    """Sliders for each augmentation strength; random views of a few digits side by side.

    The views are drawn from a generator reseeded at every redraw, so moving one slider changes
    only what that augmentation does. Strength 0 everywhere gives the original images back.

    Args:
        images: [N, 1, H, W] images in [0, 1]; the first ``n_images`` are shown.
        n_images: rows (images) to show.
        n_views: augmented views per image.
        seed: seed of the views.

    Returns:
        An :class:`Explorer` with one control per ``DigitAugment`` strength (``min_scale``,
        ``rotation``, ``shear``, ``translate``, ``erase_prob``, ``noise_std``, ``blur_prob``, ``stroke_prob``) and the
        attributes ``augment`` (the current ``DigitAugment``) and ``views`` (tensor
        [n_images, n_views, 1, H, W]).
    """
    x = images if isinstance(images, torch.Tensor) else torch.as_tensor(to_numpy("images", images))
    if x.dim() == 3:
        x = x.unsqueeze(1)
    if x.dim() != 4 or not x.is_floating_point() or x.shape[0] == 0:
        raise ValueError(f"images must be a non-empty float tensor [N, 1, H, W], got {describe(x)}")
    n_images = min(check_positive_int("n_images", n_images), x.shape[0])
    n_views = check_positive_int("n_views", n_views)
    x = x[:n_images].detach().cpu().float()
    d = AUGMENT_DEFAULTS

    def draw(min_scale, rotation, shear, translate, erase_prob, noise_std, blur_prob, stroke_prob) -> Figure:
        aug = DigitAugment(
            scale=(float(min_scale), 1.0),
            rotation=float(rotation),
            shear=float(shear),
            translate=float(translate),
            erase_prob=float(erase_prob),
            noise_std=float(noise_std),
            blur_prob=float(blur_prob),
            stroke_prob=float(stroke_prob),
        )
        gen = torch.Generator().manual_seed(seed)
        views = torch.stack([aug(x, generator=gen) for _ in range(n_views)], 1)  # [n, V, 1, H, W]
        fig = new_figure(1.15 * (1 + n_views), 1.25 * n_images + 0.5)
        axes = fig.subplots(n_images, 1 + n_views, squeeze=False)
        for i in range(n_images):
            viz.show_image(axes[i, 0], x[i, 0].numpy(), "original" if i == 0 else None, frame="black")
            for v in range(n_views):
                viz.show_image(axes[i, v + 1], views[i, v, 0].numpy(), f"view {v + 1}" if i == 0 else None)
        return fig, {"augment": aug, "views": views}

    return Explorer(
        {
            "min_scale": _slider("crop area ≥", d["scale"][0], 0.3, 1.0, 0.05),
            "rotation": _slider("rotation °", d["rotation"], 0.0, 60.0, 1.0),
            "shear": _slider("shear °", d["shear"], 0.0, 45.0, 1.0),
            "translate": _slider("shift", d["translate"], 0.0, 0.4, 0.01),
            "erase_prob": _slider("erase prob", d["erase_prob"], 0.0, 1.0, 0.05),
            "noise_std": _slider("noise std", d["noise_std"], 0.0, 0.5, 0.01),
            "blur_prob": _slider("blur prob", d["blur_prob"], 0.0, 1.0, 0.05),
            "stroke_prob": _slider("stroke width prob", d["stroke_prob"], 0.0, 1.0, 0.05),
        },
        draw,
    )
