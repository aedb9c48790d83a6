"""Naive references for the loss tests, written loop by loop from the papers, and shared test settings."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from hypothesis import settings
from hypothesis import strategies as st

FUZZ = settings(max_examples=25, deadline=None)
DTYPES = st.sampled_from([torch.float32, torch.float64])


def tol(dtype: torch.dtype) -> dict[str, float]:
    return {"rel": 1e-4, "abs": 1e-5} if dtype == torch.float32 else {"rel": 1e-9, "abs": 1e-10}


def naive_nt_xent(z1: torch.Tensor, z2: torch.Tensor, t: float) -> float:
    """SimCLR eq. (1): l(i, j) = -log exp(sim(i, j)/t) / sum_{k != i} exp(sim(i, k)/t), mean over 2N."""
    z = torch.cat([z1, z2]).double()
    n2 = z.shape[0]
    total = 0.0
    for i in range(n2):
        j = (i + n2 // 2) % n2
        sims = [F.cosine_similarity(z[i], z[k], dim=0).item() / t for k in range(n2)]
        den = sum(math.exp(sims[k]) for k in range(n2) if k != i)
        total += -math.log(math.exp(sims[j]) / den)
    return total / n2


def naive_supcon(features: torch.Tensor, labels: torch.Tensor | None, t: float) -> float:
    """Khosla et al. eq. (2), L_out: -1/|P(i)| sum_p log exp(z_i.z_p/t) / sum_{a in A(i)} exp(z_i.z_a/t)."""
    b, v, _ = features.shape
    ids = list(range(b)) if labels is None else labels.tolist()
    rows = [F.normalize(features[s, k].double(), dim=0) for k in range(v) for s in range(b)]
    row_ids = [ids[s] for k in range(v) for s in range(b)]
    losses = []
    for i, zi in enumerate(rows):
        positives = [p for p in range(len(rows)) if p != i and row_ids[p] == row_ids[i]]
        if not positives:
            continue
        den = sum(math.exp(zi.dot(rows[a]).item() / t) for a in range(len(rows)) if a != i)
        terms = [math.log(math.exp(zi.dot(rows[p]).item() / t) / den) for p in positives]
        losses.append(-sum(terms) / len(terms))
    return sum(losses) / len(losses) if losses else 0.0


def _d(x: torch.Tensor, i: int, j: int, squared: bool) -> float:
    d2 = ((x[i].double() - x[j].double()) ** 2).sum().item()
    return d2 if squared else math.sqrt(d2)


def naive_batch_triplet(x: torch.Tensor, y: torch.Tensor, margin: float, strategy: str, squared: bool) -> float:
    """Batch-all / batch-hard (Hermans et al. 2017) and semi-hard (Schroff et al. 2015), triplet by triplet."""
    b = x.shape[0]
    vals = []
    for a in range(b):
        poss = [p for p in range(b) if p != a and y[p] == y[a]]
        negs = [n for n in range(b) if y[n] != y[a]]
        if strategy == "hard":
            if poss and negs:
                hp = max(_d(x, a, p, squared) for p in poss)
                hn = min(_d(x, a, n, squared) for n in negs)
                vals.append(max(0.0, hp - hn + margin))
            continue
        for p in poss:
            dap = _d(x, a, p, squared)
            dans = [_d(x, a, n, squared) for n in negs]
            if strategy == "all":
                vals += [dap - dan + margin for dan in dans if dap - dan + margin > 0]
            else:
                semi = [dan for dan in dans if dap < dan < dap + margin]
                if semi:
                    vals.append(dap - min(semi) + margin)
    return sum(vals) / len(vals) if vals else 0.0


def naive_contrastive(x1: torch.Tensor, x2: torch.Tensor, same: torch.Tensor, margin: float, variant: str) -> float:
    total = 0.0
    for i in range(x1.shape[0]):
        d = math.sqrt(((x1[i].double() - x2[i].double()) ** 2).sum().item())
        if same[i]:
            total += d**2
        elif variant == "hadsell":
            total += max(0.0, margin - d) ** 2
        else:
            total += max(0.0, margin - d**2)
    return total / x1.shape[0]


def naive_triplet(a: torch.Tensor, p: torch.Tensor, n: torch.Tensor, margin: float, squared: bool) -> float:
    x = torch.stack([a, p, n], dim=1)
    vals = [max(0.0, _d(x[i], 0, 1, squared) - _d(x[i], 0, 2, squared) + margin) for i in range(a.shape[0])]
    return sum(vals) / len(vals)


def x64(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed), requires_grad=True)


def zero_with_zero_grad(loss: torch.Tensor, x: torch.Tensor) -> None:
    assert loss.item() == 0.0 and not torch.isnan(loss)
    (grad,) = torch.autograd.grad(loss, x)
    assert torch.all(grad == 0)
