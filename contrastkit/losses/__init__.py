"""Contrastive and metric-learning losses: exact, numerically stable, and lean in memory.

One loss family per module, in the order of the course:

- :mod:`~contrastkit.losses.pair`: ``contrastive_loss``, the Siamese pair loss, [0] Hadsell, Chopra,
  LeCun 2006 (DOI 10.1109/CVPR.2006.100).
- :mod:`~contrastkit.losses.triplet`: ``triplet_margin_loss`` on fixed triplets, ``triplet_loss`` on
  mined ones and ``batch_triplet_loss`` with online mining, [1] FaceNet, Schroff et al. 2015,
  arXiv:1503.03832; [2] Hermans, Beyer, Leibe 2017, arXiv:1703.07737.
- :mod:`~contrastkit.losses.ntxent`: ``nt_xent_loss``, [3] SimCLR, Chen et al. 2020, arXiv:2002.05709.
- :mod:`~contrastkit.losses.supcon`: ``supcon_loss`` (L_out), [4] Supervised Contrastive Learning,
  Khosla et al. 2020, arXiv:2004.11362.

Each loss is a typed pure function plus a thin ``nn.Module`` that stores the hyperparameters. All
return a scalar (0-dim) tensor. Inputs are validated up front (``ValueError`` saying what was
expected and what came). float16 and bfloat16 inputs are computed in float32 internally (so that a
temperature of 0.01 or a large batch cannot overflow) and the loss is returned in the input dtype.
Batches without anything to learn from (no positive pair, no valid triplet) give a loss of exactly
0 whose gradient is all zeros, never NaN.
"""

from contrastkit.losses.ntxent import NTXentLoss, nt_xent_loss
from contrastkit.losses.pair import CONTRASTIVE_VARIANTS, ContrastiveLoss, contrastive_loss
from contrastkit.losses.supcon import SupConLoss, supcon_loss
from contrastkit.losses.triplet import (
    BatchTripletLoss,
    TripletMarginLoss,
    TripletStats,
    batch_triplet_loss,
    triplet_loss,
    triplet_margin_loss,
)

__all__ = [
    "CONTRASTIVE_VARIANTS",
    "BatchTripletLoss",
    "ContrastiveLoss",
    "NTXentLoss",
    "SupConLoss",
    "TripletMarginLoss",
    "TripletStats",
    "batch_triplet_loss",
    "contrastive_loss",
    "nt_xent_loss",
    "supcon_loss",
    "triplet_loss",
    "triplet_margin_loss",
]
