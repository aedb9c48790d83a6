"""Pair and triplet generators and the class-balanced batch sampler (contrastkit.data.sampling)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader

import contrastkit.data
from contrastkit.data import sampling
from contrastkit.data.sampling import ClassBalancedBatchSampler, PairDataset, TripletDataset


def make_data(n: int = 200, classes: int = 10, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, classes, (n,), generator=g)
    images = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 1, 4, 4).clone()  # pixel = index
    return images, labels


# ----------------------------------------------------------------------------------------------- pairs


@pytest.mark.parametrize(("n", "fraction"), [(200, 0.5), (201, 0.5), (100, 0.3), (50, 0.0), (50, 1.0)])
def test_pairs_exact_balance_and_labels(n, fraction):
    images, labels = make_data(n)
    ds = PairDataset(images, labels, positive_fraction=fraction, seed=1)
    assert len(ds) == n and ds.pairs.shape == (n, 2) and ds.pairs.dtype == torch.int64
    assert ds.same.dtype == torch.float32 and ds.same.shape == (n,)
    assert int(ds.same.sum()) == round(n * fraction)
    a, b = ds.pairs.T
    torch.testing.assert_close((labels[a] == labels[b]).float(), ds.same)
    assert (a != b).all()


def test_pair_items():
    images, labels = make_data(60)
    ds = PairDataset(images, labels, seed=0)
    for i in range(len(ds)):
        x1, x2, same = ds[i]
        a, b = int(x1[0, 0, 0]), int(x2[0, 0, 0])
        assert (a, b) == tuple(ds.pairs[i].tolist())
        assert same.dtype == torch.float32 and same.dim() == 0
        assert float(same) == float(labels[a] == labels[b])
    x1, x2, same = next(iter(DataLoader(ds, batch_size=16)))
    assert x1.shape == x2.shape == (16, 1, 4, 4) and same.shape == (16,)


def test_pairs_deterministic_and_seed_dependent():
    images, labels = make_data(100)
    one, two = PairDataset(images, labels, seed=3), PairDataset(images, labels, seed=3)
    assert torch.equal(one.pairs, two.pairs) and torch.equal(one.same, two.same)
    assert not torch.equal(one.pairs, PairDataset(images, labels, seed=4).pairs)


def test_pairs_cover_images_and_mix_order():
    images, labels = make_data(300)
    ds = PairDataset(images, labels, seed=0)
    assert sorted(ds.pairs[:, 0].tolist()) == list(range(300))  # each image is a first element once
    assert 0 < ds.same[:150].sum() < 150  # positives and negatives are interleaved


def test_pairs_n_pairs_and_labels_as_arrays():
    images, labels = make_data(40)
    ds = PairDataset(images, labels.numpy(), n_pairs=1000, positive_fraction=0.25)
    assert len(ds) == 1000 and int(ds.same.sum()) == 250
    a, b = ds.pairs.T
    assert (a != b).all()
    ds_list = PairDataset(images, labels.tolist(), n_pairs=1000, positive_fraction=0.25)
    assert torch.equal(ds.pairs, ds_list.pairs)


def test_pairs_with_singleton_classes():
    labels = torch.tensor([0, 1, 1, 2, 3, 3, 3])  # classes 0 and 2 have one image each
    images = torch.zeros(7, 1, 2, 2)
    ds = PairDataset(images, labels, n_pairs=500, seed=0)
    a, b = ds.pairs.T
    pos = ds.same.bool()
    assert not torch.isin(a[pos], torch.tensor([0, 3])).any()
    assert (a != b).all() and torch.equal(labels[a] == labels[b], pos)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"positive_fraction": 1.5}, "positive_fraction"),
        ({"n_pairs": 0}, "n_pairs"),
        ({"labels": torch.arange(5.0)}, "labels"),
        ({"labels": torch.zeros(4, dtype=torch.long)}, "labels"),
        ({"labels": torch.zeros(5, dtype=torch.long)}, "2 classes"),
        ({"labels": torch.arange(5), "positive_fraction": 0.5}, "at least 2 images"),
        ({"images": torch.zeros(5, dtype=torch.long)}, "images"),
        ({"images": torch.zeros(4, 1, 2, 2)}, "same length"),
    ],
)
def test_pairs_reject_bad_input(kwargs, match):
    args = {"images": torch.zeros(5, 1, 2, 2), "labels": torch.tensor([0, 0, 1, 1, 2])}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        PairDataset(**args)


def test_pairs_only_negatives_allowed_with_singletons():
    ds = PairDataset(torch.zeros(5, 1, 2, 2), torch.arange(5), positive_fraction=0.0)
    assert ds.same.sum() == 0


# -------------------------------------------------------------------------------------------- triplets


def test_triplets_labels_and_items():
    images, labels = make_data(150)
    ds = TripletDataset(images, labels, seed=2)
    assert ds.triplets.shape == (150, 3) and ds.triplets.dtype == torch.int64
    a, p, n = ds.triplets.T
    assert (labels[a] == labels[p]).all() and (a != p).all() and (labels[a] != labels[n]).all()
    anchor, positive, negative = ds[7]
    assert [int(t[0, 0, 0]) for t in (anchor, positive, negative)] == ds.triplets[7].tolist()


def test_triplets_deterministic_and_sized():
    images, labels = make_data(80)
    assert torch.equal(TripletDataset(images, labels, seed=5).triplets, TripletDataset(images, labels, seed=5).triplets)
    assert not torch.equal(TripletDataset(images, labels, seed=5).triplets, TripletDataset(images, labels).triplets)
    assert len(TripletDataset(images, labels, n_triplets=333)) == 333


def test_triplets_reject_bad_input():
    with pytest.raises(ValueError, match="2 classes"):
        TripletDataset(torch.zeros(4, 1, 2, 2), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="at least 2 images"):
        TripletDataset(torch.zeros(4, 1, 2, 2), torch.arange(4))
    with pytest.raises(ValueError, match="n_triplets"):
        TripletDataset(torch.zeros(4, 1, 2, 2), torch.tensor([0, 0, 1, 1]), n_triplets=-1)


@settings(max_examples=30, deadline=None)
@given(
    labels=st.lists(st.integers(0, 4), min_size=2, max_size=40).filter(
        lambda v: len(set(v)) >= 2 and max(v.count(c) for c in set(v)) >= 2
    ),
    seed=st.integers(0, 2**31),
)
def test_generators_always_valid(labels, seed):
    y = torch.tensor(labels)
    images = torch.zeros(len(labels), 1, 2, 2)
    t = TripletDataset(images, y, seed=seed).triplets
    assert (y[t[:, 0]] == y[t[:, 1]]).all() and (t[:, 0] != t[:, 1]).all() and (y[t[:, 0]] != y[t[:, 2]]).all()
    pairs = PairDataset(images, y, seed=seed)
    a, b = pairs.pairs.T
    assert (a != b).all() and torch.equal((y[a] == y[b]).float(), pairs.same)
    assert int(pairs.same.sum()) == round(len(labels) * 0.5)


# --------------------------------------------------------------------------------------------- sampler


def check_batches(sampler: ClassBalancedBatchSampler, labels: np.ndarray) -> np.ndarray:
    batches = np.array(list(sampler))  # [B, P*K]
    p, k = sampler.classes_per_batch, sampler.samples_per_class
    assert batches.shape == (len(sampler), p * k)
    lab = labels[batches].reshape(len(sampler), p, k)
    assert (lab == lab[:, :, :1]).all()  # K images of one class per group
    assert all(len(np.unique(row[:, 0])) == p for row in lab)  # P distinct classes per batch
    assert set(np.unique(batches)) == set(range(len(labels)))  # every image at least once
    return batches


@pytest.mark.parametrize(("p", "k"), [(4, 4), (10, 2), (3, 5), (1, 3)])
def test_sampler_coverage_and_class_counts(p, k):
    _, labels = make_data(300)
    sampler = ClassBalancedBatchSampler(labels, classes_per_batch=p, samples_per_class=k, seed=0)
    batches = check_batches(sampler, labels.numpy())
    assert sampler.batch_size == p * k
    assert len(sampler) >= -(-300 // (p * k))
    assert len(sampler) <= -(-300 // (p * k)) + 10  # little padding for balanced classes
    assert len(batches) == len(sampler)


def test_sampler_groups_have_distinct_images_when_class_is_large_enough():
    _, labels = make_data(300)
    batches = np.array(list(ClassBalancedBatchSampler(labels, 5, 4)))
    groups = batches.reshape(-1, 4)
    assert all(len(set(g)) == 4 for g in groups.tolist())


def test_sampler_imbalanced_and_tiny_classes():
    labels = np.concatenate([np.zeros(100), np.ones(3), np.full(20, 2), [3]]).astype(np.int64)
    sampler = ClassBalancedBatchSampler(torch.from_numpy(labels), 3, 4, seed=1)
    check_batches(sampler, labels)
    assert len(sampler) == 25  # class 0 needs 25 groups, and no batch may hold it twice


def test_sampler_epochs_reshuffle_deterministically():
    _, labels = make_data(200)
    sampler = ClassBalancedBatchSampler(labels, 4, 4, seed=7)
    epoch0, again = list(sampler), list(sampler)
    assert epoch0 == again
    sampler.set_epoch(1)
    epoch1 = list(sampler)
    assert epoch1 != epoch0 and len(epoch1) == len(epoch0)
    other = ClassBalancedBatchSampler(labels, 4, 4, seed=7)
    other.set_epoch(1)
    assert list(other) == epoch1
    assert list(ClassBalancedBatchSampler(labels, 4, 4, seed=8)) != epoch0


def test_sampler_with_dataloader():
    images, labels = make_data(120)
    sampler = ClassBalancedBatchSampler(labels, 4, 3)
    loader = DataLoader(torch.utils.data.TensorDataset(images, labels), batch_sampler=sampler)
    batches = list(loader)
    assert len(batches) == len(sampler)
    assert all(x.shape == (12, 1, 4, 4) and len(torch.unique(y)) == 4 for x, y in batches)


def test_sampler_is_fast_on_full_mnist_size():
    labels = np.random.default_rng(0).integers(0, 10, 60_000)
    sampler = ClassBalancedBatchSampler(labels, 8, 4)
    batches = sampler.batches()
    assert batches.shape == (len(sampler), 32)
    assert len(np.unique(batches)) == 60_000


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"classes_per_batch": 11}, "at most the number of classes"),
        ({"classes_per_batch": 0}, "classes_per_batch"),
        ({"samples_per_class": 0}, "samples_per_class"),
        ({"samples_per_class": 2.5}, "samples_per_class"),
        ({"labels": torch.rand(10)}, "labels"),
        ({"labels": []}, "labels"),
        ({"seed": "a"}, "seed"),
    ],
)
def test_sampler_rejects_bad_arguments(kwargs, match):
    args = {"labels": torch.arange(10), "classes_per_batch": 4, "samples_per_class": 2}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        ClassBalancedBatchSampler(**args)


def test_sampler_warns_for_one_sample_per_class():
    with pytest.warns(UserWarning, match="positive"):
        sampler = ClassBalancedBatchSampler(torch.arange(10) % 5, 5, 1)
    check_batches(sampler, (torch.arange(10) % 5).numpy())
    with pytest.raises(ValueError, match="epoch"):
        sampler.set_epoch(-1)


def test_the_data_face_offers_the_samplers():
    for name in sampling.__all__:
        assert getattr(contrastkit.data, name) is getattr(sampling, name), name
