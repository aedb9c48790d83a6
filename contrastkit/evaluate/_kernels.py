"""The computational cores of the metrics, on inputs their public callers have already validated.

The public functions of :mod:`contrastkit.evaluate` check their arguments once and call these;
``evaluate_embeddings`` checks the embeddings once and calls several of them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from contrastkit.distances import chunk_rows, closeness, compute_dtype, topk_neighbors

__all__ = [
    "PROBE_BATCH_SIZE",
    "PROBE_EPOCHS",
    "PROBE_LR",
    "fit_linear",
    "knn_correct",
    "log_mean_potential",
    "mean_alignment",
    "retrieval_means",
]


def knn_correct(
    train_emb: torch.Tensor,
    train_labels: torch.Tensor,
    test_emb: torch.Tensor,
    test_labels: torch.Tensor,
    k: int,
    metric: str,
) -> int:
    """How many test points the k-nearest-neighbour vote classifies correctly (see ``knn_accuracy``)."""
    device = train_emb.device
    classes, ref_class = torch.unique(train_labels.to(device), return_inverse=True)  # [C], [N]
    nearest, _ = topk_neighbors(test_emb, train_emb, k, metric)  # [M, k]
    votes_class = ref_class[nearest]  # [M, k]
    # Rank bonus: votes count (k + 1) each, the best rank adds k - rank in [1, k], so it only breaks ties.
    rank_bonus = torch.arange(k, 0, -1, device=device)  # [k]
    score = torch.zeros(votes_class.shape[0], classes.shape[0], dtype=torch.long, device=device)  # [M, C]
    score.scatter_add_(1, votes_class, torch.full_like(votes_class, k + 1))
    best_rank = torch.zeros_like(score).scatter_reduce_(
        1, votes_class, rank_bonus.expand_as(votes_class), reduce="amax"
    )  # [M, C]
    predicted = classes[(score + best_rank).argmax(1)]  # [M]
    return int((predicted == test_labels.to(device)).sum())


def retrieval_means(emb: torch.Tensor, labels: torch.Tensor, metric: str) -> tuple[float, float, float, int]:
    """Means over the leave-one-out queries of rel(1), R-precision and AP@R, and the number of queries.

    Queries are the samples whose label occurs at least twice (see ``retrieval_metrics``).
    """
    device = emb.device
    labels = labels.to(device)
    _, label_id, counts = torch.unique(labels, return_inverse=True, return_counts=True)
    r_all = counts[label_id] - 1  # [N] other samples with the same label
    queries_ok = torch.nonzero(r_all > 0).squeeze(1)  # [Q_total]
    if queries_ok.numel() == 0:
        raise ValueError("retrieval metrics need at least one label that occurs twice in labels; every label is unique")
    max_r = int(r_all.max())
    dtype = compute_dtype(emb)
    ranks = torch.arange(1, max_r + 1, device=device, dtype=dtype)  # [R_max]
    p1_sum = rp_sum = map_sum = 0.0
    step = chunk_rows(emb.shape[0])
    for start in range(0, queries_ok.shape[0], step):
        q_idx = queries_ok[start : start + step]  # [Q]
        nearest, _ = topk_neighbors(emb[q_idx], emb, max_r, metric, exclude=q_idx)  # [Q, R_max], query left out
        r = r_all[q_idx].to(dtype)  # [Q]
        within_r = ranks[None, :] <= r[:, None]  # [Q, R_max]
        rel = (labels[nearest] == labels[q_idx][:, None]) & within_r  # [Q, R_max]
        rel_f = rel.to(dtype)
        precision_at_i = rel_f.cumsum(1) / ranks  # [Q, R_max] P(i)
        p1_sum += float(rel_f[:, 0].sum())
        rp_sum += float((rel_f.sum(1) / r).sum())
        map_sum += float(((precision_at_i * rel_f).sum(1) / r).sum())
    n = int(queries_ok.shape[0])
    return p1_sum / n, rp_sum / n, map_sum / n, n


def mean_alignment(z1: torch.Tensor, z2: torch.Tensor, alpha: float) -> float:
    """E ||z1_i/|z1_i| − z2_i/|z2_i| ||^alpha over the rows (see ``alignment``)."""
    dtype = compute_dtype(z1, z2)
    a = F.normalize(z1.to(dtype), dim=1)  # [N, D]
    b = F.normalize(z2.to(device=z1.device, dtype=dtype), dim=1)  # [N, D]
    return float((a - b).norm(dim=1).pow(alpha).mean())


def log_mean_potential(z: torch.Tensor, t: float, max_points: int, seed: int) -> float:
    """log E exp(−t ||x_i − x_j||²) over pairs i < j of L2-normalised rows (see ``uniformity``)."""
    if z.shape[0] > max_points:
        keep = torch.randperm(z.shape[0], generator=torch.Generator().manual_seed(seed))[:max_points]
        z = z[keep.to(z.device)]
    x = F.normalize(z.to(compute_dtype(z)), dim=1)  # [N, D]
    n = x.shape[0]
    step = chunk_rows(n)
    parts = []
    for start in range(0, n - 1, step):
        rows = x[start : start + step]  # [Q, D]
        sq = (2 - 2 * closeness(rows, x, "cosine", None)).clamp_min(0)  # [Q, N] squared distance of unit vectors
        row_idx = torch.arange(start, start + rows.shape[0], device=x.device)[:, None]  # [Q, 1]
        col_idx = torch.arange(n, device=x.device)[None, :]  # [1, N]
        logits = (-t * sq).masked_fill(col_idx <= row_idx, -math.inf)  # keep pairs i < j
        parts.append(torch.logsumexp(logits.flatten(), 0))
    n_pairs = n * (n - 1) / 2
    return float(torch.logsumexp(torch.stack(parts), 0) - math.log(n_pairs))


#: The linear probe's training recipe (``linear_probe_accuracy``'s defaults, and ``evaluate_embeddings``'s probe).
PROBE_EPOCHS = 30
PROBE_LR = 0.01
PROBE_BATCH_SIZE = 256


def fit_linear(
    train_feat: torch.Tensor,
    y_train: torch.Tensor,
    test_feat: torch.Tensor,
    y_test: torch.Tensor,
    device: torch.device,
    seed: int,
    epochs: int = PROBE_EPOCHS,
    lr: float = PROBE_LR,
    batch_size: int = PROBE_BATCH_SIZE,
) -> float:
    """Test accuracy of a zero-initialised linear layer trained on standardised features."""
    train_feat, test_feat = train_feat.to(device), test_feat.to(device)
    mean = train_feat.mean(0)  # [D]
    std = train_feat.std(0, correction=0)  # [D]
    std = torch.where(std > 1e-8, std, torch.ones_like(std))  # constant features stay centred at 0
    train_feat = (train_feat - mean) / std  # [N, D]
    test_feat = (test_feat - mean) / std  # [M, D]

    classes, target = torch.unique(y_train, return_inverse=True)  # [C], [N]
    target = target.to(device)
    probe = nn.Linear(train_feat.shape[1], classes.shape[0]).to(device)
    nn.init.zeros_(probe.weight)
    nn.init.zeros_(probe.bias)
    n = train_feat.shape[0]
    steps_per_epoch = math.ceil(n / batch_size)
    optimizer = torch.optim.Adam(probe.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * steps_per_epoch)
    generator = torch.Generator().manual_seed(seed)
    with torch.enable_grad():
        for _ in range(epochs):
            order = torch.randperm(n, generator=generator).to(device)  # [N]
            for start in range(0, n, batch_size):
                idx = order[start : start + batch_size]  # [B]
                loss = F.cross_entropy(probe(train_feat[idx]), target[idx])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
    with torch.no_grad():
        predicted = classes.to(device)[probe(test_feat).argmax(1)]  # [M]
    return float((predicted == y_test.to(device)).float().mean())
