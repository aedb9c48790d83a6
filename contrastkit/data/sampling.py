"""Pair and triplet generators, and class-balanced P×K batches for online mining.

``PairDataset`` and ``TripletDataset`` draw fixed, reproducible pairs and triplets from labelled
images (for Siamese and offline-triplet training, and for evaluation); ``ClassBalancedBatchSampler``
yields batches of P classes × K samples, so every anchor of a batch has positives for online
triplet mining.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from contrastkit._checks import check_fraction, check_labels, check_positive_int, check_tensor

__all__ = ["ClassBalancedBatchSampler", "PairDataset", "TripletDataset"]


def _as_label_array(name: str, labels: object, n: int | None = None) -> np.ndarray:
    """Labels as an int64 numpy array [N], from a tensor, array or sequence of ints."""
    if isinstance(labels, torch.Tensor):
        t = labels
    else:
        try:
            t = torch.as_tensor(np.asarray(labels))
        except (TypeError, ValueError) as err:
            raise ValueError(
                f"{name} must be a 1-D sequence of integer class ids, got {type(labels).__name__}"
            ) from err
    return check_labels(name, t, len(t) if n is None else n).cpu().numpy()


class _ClassIndex:
    """Samples grouped by class, for vectorised "another sample of the same / a different class" draws.

    Attributes:
        order: sample indices sorted by class [N].
        cls: class number (0..C-1) of each sample [N].
        start: where each class begins in ``order`` [C].
        count: size of each class [C].
        rank: position of each sample inside its class's block of ``order`` [N].
    """

    def __init__(self, labels: np.ndarray):
        _, self.cls, self.count = np.unique(labels, return_inverse=True, return_counts=True)
        self.cls = self.cls.reshape(-1)
        self.order = np.argsort(self.cls, kind="stable")  # [N]
        self.start = np.concatenate([[0], np.cumsum(self.count)[:-1]])  # [C]
        self.rank = np.empty(len(labels), dtype=np.int64)
        self.rank[self.order] = np.arange(len(labels)) - self.start[self.cls[self.order]]
        self.n = len(labels)

    @property
    def num_classes(self) -> int:
        return len(self.count)

    def same_class(self, anchors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """For each anchor, a uniformly random *other* sample of its class (its class needs >= 2 samples)."""
        c = self.cls[anchors]
        r = rng.integers(0, self.count[c] - 1)  # rank among the class minus the anchor
        r = r + (r >= self.rank[anchors])  # skip the anchor itself
        return self.order[self.start[c] + r]

    def other_class(self, anchors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """For each anchor, a uniformly random sample of any other class."""
        c = self.cls[anchors]
        r = rng.integers(0, self.n - self.count[c])  # rank among all samples outside the class
        r = r + self.count[c] * (r >= self.start[c])  # jump over the anchor's class block
        return self.order[r]


def _anchors(candidates: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` anchors: shuffled passes over ``candidates``, so every candidate is used about equally."""
    reps = -(-n // len(candidates))
    return np.concatenate([rng.permutation(candidates) for _ in range(reps)])[:n]


def _check_images(images: object, n_labels: int) -> torch.Tensor:
    images = check_tensor("images", images, finite=False)
    if images.dim() < 2:
        raise ValueError(f"images must have shape [N, ...] (e.g. [N, 1, 28, 28]), got {tuple(images.shape)}")
    if images.shape[0] != n_labels:
        raise ValueError(f"images and labels must have the same length, got {images.shape[0]} and {n_labels}")
    return images


class PairDataset(Dataset):
    """Fixed pairs of images labelled "same class" or "different class", for Siamese networks.

    The pairs are drawn once, at construction, from ``numpy.random.Generator(seed)``: the same
    arguments always give the same pairs, so one ``PairDataset`` built on the test set is also a
    fixed verification benchmark. Exactly ``round(n_pairs * positive_fraction)`` pairs are
    positive; every positive pairs two *different* images of one class (never an image with
    itself) and every negative pairs images of two different classes. The first elements are
    shuffled passes over all the images, so with the default ``n_pairs`` each image is the first
    element of exactly one pair (unless some classes have a single image).

    - [0] Hadsell, Chopra and LeCun 2006, "Dimensionality Reduction by Learning an Invariant Mapping"

    Args:
        images: [N, ...] float tensor (e.g. [N, 1, 28, 28]).
        labels: [N] integer class ids (tensor, array or list).
        positive_fraction: fraction of positive pairs, in [0, 1].
        seed: which pairs.
        n_pairs: number of pairs; None gives N.

    Attributes:
        pairs: LongTensor [n_pairs, 2] of image indices.
        same: float32 tensor [n_pairs], 1.0 for a positive pair and 0.0 for a negative one.
        images: the images given.
        labels: int64 tensor [N].

    Example:
        >>> pairs = PairDataset(data.x_train, data.y_train, seed=0)
        >>> x1, x2, same = pairs[0]  # [1, 28, 28], [1, 28, 28], float32 scalar
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        positive_fraction: float = 0.5,
        seed: int = 0,
        n_pairs: int | None = None,
    ):
        y = _as_label_array("labels", labels)
        self.images = _check_images(images, len(y))
        self.labels = torch.from_numpy(y)
        frac = check_fraction("positive_fraction", positive_fraction)
        n = len(y) if n_pairs is None else check_positive_int("n_pairs", n_pairs)
        if n < 1:
            raise ValueError("PairDataset needs at least one image")
        n_pos = round(n * frac)
        index = _ClassIndex(y)
        rng = np.random.default_rng(seed)
        pos_candidates = np.flatnonzero(index.count[index.cls] >= 2)
        if n_pos and not len(pos_candidates):
            raise ValueError("positive pairs need a class with at least 2 images; every class here has 1")
        if n - n_pos and index.num_classes < 2:
            raise ValueError(f"negative pairs need at least 2 classes, got labels with {index.num_classes}")
        first = _anchors(np.arange(len(y)), n, rng)  # [n] shuffled passes over all images
        eligible = np.flatnonzero(index.count[index.cls[first]] >= 2)  # slots whose image has a classmate
        pos_slots = rng.permutation(eligible)[:n_pos]
        if len(pos_slots) < n_pos:  # many single-image classes: give some slots an eligible image instead
            spare = rng.permutation(np.setdiff1d(np.arange(n), eligible))[: n_pos - len(pos_slots)]
            first[spare] = rng.choice(pos_candidates, size=len(spare))
            pos_slots = np.concatenate([pos_slots, spare])
        same = np.zeros(n, dtype=bool)  # [n]
        same[pos_slots] = True
        second = np.empty(n, dtype=np.int64)  # [n]
        second[same] = index.same_class(first[same], rng)
        second[~same] = index.other_class(first[~same], rng)
        self.pairs = torch.from_numpy(np.stack([first, second], 1).astype(np.int64))  # [n, 2]
        self.same = torch.from_numpy(same.astype(np.float32))  # [n]

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Pair ``i`` as ``(x1, x2, same)``: two images [...] and a float32 0/1 scalar tensor."""
        a, b = self.pairs[i].tolist()
        return self.images[a], self.images[b], self.same[i]

    def __repr__(self) -> str:
        return f"PairDataset(n_pairs={len(self)}, positives={int(self.same.sum())}, images={tuple(self.images.shape)})"


class TripletDataset(Dataset):
    """Fixed (anchor, positive, negative) triplets for a triplet network trained offline.

    The positive is a different image of the anchor's class, the negative an image of another
    class, all drawn once at construction from ``numpy.random.Generator(seed)``. Anchors are
    shuffled passes over every image whose class has at least 2 images.

    - [0] FaceNet, Schroff, Kalenichenko and Philbin 2015, arXiv:1503.03832

    Args:
        images: [N, ...] float tensor.
        labels: [N] integer class ids.
        seed: which triplets.
        n_triplets: number of triplets; None gives N.

    Attributes:
        triplets: LongTensor [n_triplets, 3] of (anchor, positive, negative) indices.
        images: the images given.
        labels: int64 tensor [N].
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, seed: int = 0, n_triplets: int | None = None):
        y = _as_label_array("labels", labels)
        self.images = _check_images(images, len(y))
        self.labels = torch.from_numpy(y)
        n = len(y) if n_triplets is None else check_positive_int("n_triplets", n_triplets)
        if n < 1:
            raise ValueError("TripletDataset needs at least one image")
        index = _ClassIndex(y)
        if index.num_classes < 2:
            raise ValueError(f"triplets need at least 2 classes, got labels with {index.num_classes}")
        candidates = np.flatnonzero(index.count[index.cls] >= 2)
        if not len(candidates):
            raise ValueError("triplets need a class with at least 2 images; every class here has 1")
        rng = np.random.default_rng(seed)
        anchor = _anchors(candidates, n, rng)  # [n]
        positive = index.same_class(anchor, rng)  # [n]
        negative = index.other_class(anchor, rng)  # [n]
        self.triplets = torch.from_numpy(np.stack([anchor, positive, negative], 1).astype(np.int64))  # [n, 3]

    def __len__(self) -> int:
        return len(self.triplets)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Triplet ``i`` as ``(anchor, positive, negative)`` images."""
        a, p, n = self.triplets[i].tolist()
        return self.images[a], self.images[p], self.images[n]

    def __repr__(self) -> str:
        return f"TripletDataset(n_triplets={len(self)}, images={tuple(self.images.shape)})"


class ClassBalancedBatchSampler(Sampler):
    """P×K batches (P classes, K images of each) for online triplet mining, covering every image each epoch.

    Online miners need positives *and* negatives inside every batch, which random batches of a
    many-class dataset do not guarantee. Each epoch, every class is shuffled and cut into groups of
    K (the last group topped up with other images of the same class); the groups are dealt to
    batches so that no batch holds a class twice, and batches with fewer than P groups are
    completed with K random images of classes not yet in them. Hence:

    - every image appears at least once per epoch (a few appear twice, to complete groups);
    - every batch has exactly P distinct classes with exactly K indices each;
    - a class with fewer than K images repeats its images (sampling with replacement within it).

    The batches depend only on ``(seed, epoch)``: call :meth:`set_epoch` before each epoch to
    reshuffle (as with ``torch.utils.data.DistributedSampler``); otherwise every pass repeats
    the same batches.

    - [0] In Defense of the Triplet Loss, Hermans, Beyer and Leibe 2017, arXiv:1703.07737 (P×K batches)

    Args:
        labels: [N] integer class ids (tensor, array or list).
        classes_per_batch: P, at most the number of classes.
        samples_per_class: K >= 1 (K >= 2 is needed for any positive pair).
        seed: base seed.

    Example:
        >>> sampler = ClassBalancedBatchSampler(data.y_train, classes_per_batch=8, samples_per_class=4)
        >>> loader = DataLoader(dataset, batch_sampler=sampler)
    """

    def __init__(self, labels: torch.Tensor, classes_per_batch: int, samples_per_class: int, seed: int = 0):
        self.labels = _as_label_array("labels", labels)
        if not len(self.labels):
            raise ValueError("labels must hold at least one label, got an empty sequence")
        self.classes_per_batch = check_positive_int("classes_per_batch", classes_per_batch)
        self.samples_per_class = check_positive_int("samples_per_class", samples_per_class)
        self._index = _ClassIndex(self.labels)
        if classes_per_batch > self._index.num_classes:
            raise ValueError(
                f"classes_per_batch must be at most the number of classes ({self._index.num_classes}), "
                f"got {classes_per_batch}"
            )
        if samples_per_class < 2:
            warnings.warn(
                "samples_per_class=1 gives batches without positive pairs; use 2 or more for triplet mining",
                stacklevel=2,
            )
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        self.seed = int(seed)
        self.epoch = 0
        k = samples_per_class
        self._groups = -(-self._index.count // k)  # [C] groups of K per class
        total = int(self._groups.sum())
        self._num_batches = max(-(-total // classes_per_batch), int(self._groups.max()))

    @property
    def batch_size(self) -> int:
        """P * K."""
        return self.classes_per_batch * self.samples_per_class

    @property
    def num_classes(self) -> int:
        """Number of distinct labels."""
        return self._index.num_classes

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose batches the next iteration yields (a deterministic reshuffle)."""
        self.epoch = check_positive_int("epoch", epoch, minimum=0)

    def __len__(self) -> int:
        return self._num_batches

    def batches(self) -> np.ndarray:
        """This epoch's batches as an int64 array [len(self), P * K] of sample indices."""
        idx, p, k, nb = self._index, self.classes_per_batch, self.samples_per_class, self._num_batches
        rng = np.random.default_rng([self.seed, self.epoch])
        groups, group_class = [], []
        for c in rng.permutation(idx.num_classes):
            members = rng.permutation(idx.order[idx.start[c] : idx.start[c] + idx.count[c]])
            g = int(self._groups[c])
            groups.append(members[np.arange(g * k) % len(members)].reshape(g, k))  # [g, K] cyclic top-up
            group_class.append(np.full(g, c))
        groups_all = np.concatenate(groups)  # [T, K]
        cls_all = np.concatenate(group_class)  # [T]
        t = len(groups_all)
        # deal group j to batch j % nb, slot j // nb: a class's groups are contiguous and at most nb, so
        # they land in distinct batches; each batch receives at most ceil(T / nb) <= P groups
        pos = np.arange(t)
        table = np.empty((nb, p, k), dtype=np.int64)  # [B, P, K]
        table[pos % nb, pos // nb] = groups_all
        table_cls = np.full((nb, p), -1, dtype=np.int64)  # [B, P]
        table_cls[pos % nb, pos // nb] = cls_all
        filled = np.bincount(pos % nb, minlength=nb)  # [B] groups dealt to each batch
        # complete each batch with classes it does not hold yet, chosen at random
        present = np.zeros((nb, idx.num_classes), dtype=bool)  # [B, C]
        present[pos % nb, cls_all] = True
        keys = np.where(present, 2.0, rng.random((nb, idx.num_classes)))  # absent classes sort first
        candidates = np.argsort(keys, axis=1)[:, :p]  # [B, P]
        slot = np.arange(p)
        fb, fs = np.nonzero(slot[None, :] >= filled[:, None])  # batch and slot of every missing group
        fill_cls = candidates[fb, fs - filled[fb]]  # [F]
        table_cls[fb, fs] = fill_cls
        for c in np.unique(fill_cls):
            which = np.flatnonzero(fill_cls == c)
            members = rng.permutation(idx.order[idx.start[c] : idx.start[c] + idx.count[c]])
            offset = rng.integers(len(members))
            window = np.arange(len(which))[:, None] * k + np.arange(k) + offset  # [f, K]
            table[fb[which], fs[which]] = members[window % len(members)]
        return table[rng.permutation(nb)].reshape(nb, p * k)

    def __iter__(self) -> Iterator[list[int]]:
        yield from self.batches().tolist()

    def __repr__(self) -> str:
        return (
            f"ClassBalancedBatchSampler(classes_per_batch={self.classes_per_batch}, "
            f"samples_per_class={self.samples_per_class}, batches={len(self)}, epoch={self.epoch})"
        )
