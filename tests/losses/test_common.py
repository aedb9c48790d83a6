"""What every loss of contrastkit.losses shares: dtypes, edge cases, modules, input checks (losses._common)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

import contrastkit as ck
from contrastkit import losses as L
from contrastkit import mining
from contrastkit.losses._common import check_pair, zero_loss
from tests.losses.naive import FUZZ


def test_the_face_lists_every_loss() -> None:
    for name in L.__all__:
        assert hasattr(L, name), name
    assert {"contrastive_loss", "triplet_margin_loss", "triplet_loss", "batch_triplet_loss"} <= set(L.__all__)
    assert {"nt_xent_loss", "supcon_loss"} <= set(L.__all__)


def test_zero_loss_is_connected_and_never_nan() -> None:
    x = torch.full((3, 2), 6e4, dtype=torch.float16, requires_grad=True)  # its sum overflows float16
    y = torch.randn(2, 2, requires_grad=True)
    loss = zero_loss(x, y)
    assert loss.dim() == 0 and loss.item() == 0.0
    loss.backward()
    assert torch.all(x.grad == 0) and torch.all(y.grad == 0)


def test_check_pair() -> None:
    a, b = torch.randn(3, 2), torch.randn(3, 2)
    assert check_pair("a", a, "b", b) == (a, b)
    with pytest.raises(ValueError, match=r"a and b must have the same shape, got \(3, 2\) and \(2, 2\)"):
        check_pair("a", a, "b", b[:2])
    with pytest.raises(ValueError, match="same dtype"):
        check_pair("a", a, "b", b.double())
    with pytest.raises(ValueError, match="b needs at least one feature column"):
        check_pair("a", a, "b", b[:, :0])


def test_supcon_and_triplet_invariant_to_batch_order() -> None:
    g = torch.Generator().manual_seed(2)
    f = torch.randn(9, 2, 3, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (9,), generator=g)
    perm = torch.randperm(9, generator=g)
    assert torch.allclose(L.supcon_loss(f[perm], y[perm]), L.supcon_loss(f, y))
    assert torch.allclose(L.supcon_loss(f.flip(1), y), L.supcon_loss(f, y))  # swapping the views
    x = f[:, 0]
    for s in mining.STRATEGIES:
        assert torch.allclose(L.batch_triplet_loss(x[perm], y[perm], 1.0, s), L.batch_triplet_loss(x, y, 1.0, s))


def test_batch_of_one() -> None:
    x = torch.randn(1, 3, requires_grad=True)
    assert L.nt_xent_loss(x, x.detach() + 1).item() == pytest.approx(0.0, abs=1e-7)  # no negatives: log 1
    assert L.supcon_loss(torch.stack([x, x + 1], 1)).item() == pytest.approx(0.0, abs=1e-6)
    assert L.contrastive_loss(x, x + 1, torch.tensor([1])).item() == pytest.approx(3.0)
    assert L.triplet_margin_loss(x, x, x + 1, 0.2).item() == 0.0


def test_duplicate_embeddings_give_finite_gradients() -> None:
    x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], requires_grad=True)
    y = torch.tensor([0, 0, 1, 1])
    losses = [L.batch_triplet_loss(x, y, 0.5, s, sq) for s in mining.STRATEGIES for sq in (False, True)]
    losses += [
        L.contrastive_loss(x, x.flip(0), torch.tensor([0, 1, 1, 0]), 1.0),
        L.triplet_margin_loss(x, x, x, 0.2),
        L.nt_xent_loss(x, x, 0.01),
        L.supcon_loss(torch.stack([x, x], 1), y, 0.01),
    ]
    for loss in losses:
        (grad,) = torch.autograd.grad(loss, x)
        assert torch.isfinite(loss) and torch.isfinite(grad).all()
    # a coinciding dissimilar pair costs margin² and (direction undefined) a zero gradient
    z = torch.zeros(1, 2, requires_grad=True)
    loss = L.contrastive_loss(z, z.detach().clone(), torch.tensor([0]), margin=2.0)
    assert loss.item() == 4.0
    (grad,) = torch.autograd.grad(loss, z)
    assert torch.all(grad == 0)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_inputs(dtype: torch.dtype) -> None:
    g = torch.Generator().manual_seed(7)
    base = torch.randn(12, 2, 16, generator=g)
    y = torch.arange(12) % 3
    cases = {
        "nt_xent": lambda f, t: L.nt_xent_loss(f[:, 0], f[:, 1], t),
        "supcon": lambda f, t: L.supcon_loss(f, y, t),
        "all": lambda f, t: L.batch_triplet_loss(f[:, 0], y, 2.0, "all"),
        "hard": lambda f, t: L.batch_triplet_loss(f[:, 0], y, 2.0, "hard"),
        "semihard": lambda f, t: L.batch_triplet_loss(f[:, 0], y, 2.0, "semihard"),
        "contrastive": lambda f, t: L.contrastive_loss(f[:, 0], f[:, 1], y == 0, 6.0),
        "triplet": lambda f, t: L.triplet_margin_loss(f[:, 0], f[:, 1], f[:, 0].flip(0), 2.0),
    }
    for name, fn in cases.items():
        for t in (0.01, 0.5):
            f = base.to(dtype).requires_grad_(True)
            loss = fn(f, t)
            loss.backward()
            ref = fn(base.to(dtype).float(), t).item()  # same rounded inputs, float32 arithmetic
            assert loss.dtype == dtype, name
            assert torch.isfinite(loss) and torch.isfinite(f.grad).all(), name
            assert loss.float().item() == pytest.approx(ref, rel=2e-2, abs=1e-2), name


# ----------------------------------------------------------------------------------------------
# Modules
# ----------------------------------------------------------------------------------------------


def test_modules_wrap_the_functions() -> None:
    g = torch.Generator().manual_seed(8)
    x1, x2, x3 = (torch.randn(6, 3, generator=g) for _ in range(3))
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    assert L.NTXentLoss(0.2)(x1, x2) == L.nt_xent_loss(x1, x2, 0.2)
    assert L.SupConLoss(0.2)(torch.stack([x1, x2], 1), y) == L.supcon_loss(torch.stack([x1, x2], 1), y, 0.2)
    assert L.ContrastiveLoss(2.0, "squared")(x1, x2, y == 0) == L.contrastive_loss(x1, x2, y == 0, 2.0, "squared")
    assert L.TripletMarginLoss(0.5, True)(x1, x2, x3) == L.triplet_margin_loss(x1, x2, x3, 0.5, True)
    module = L.BatchTripletLoss(0.5, "semihard")
    assert module(x1, y) == L.batch_triplet_loss(x1, y, 0.5, "semihard")
    _, stats = module(x1, y, return_stats=True)
    assert isinstance(stats, L.TripletStats)
    assert "semihard" in repr(module)


@pytest.mark.parametrize(
    "make",
    [
        lambda: L.NTXentLoss(0.0),
        lambda: L.SupConLoss(-1.0),
        lambda: L.ContrastiveLoss(-1.0),
        lambda: L.ContrastiveLoss(1.0, "hinge"),
        lambda: L.TripletMarginLoss(float("nan")),
        lambda: L.BatchTripletLoss(0.2, "easy"),
        lambda: L.BatchTripletLoss(-0.2),
    ],
)
def test_modules_validate_hyperparameters(make: object) -> None:
    with pytest.raises(ValueError):
        make()  # type: ignore[operator]


# ----------------------------------------------------------------------------------------------
# Bad inputs: only clear ValueErrors
# ----------------------------------------------------------------------------------------------

BAD_MATRICES = [
    None,
    [[1.0, 2.0]],
    torch.zeros(4),
    torch.zeros(4, 3, 1),
    torch.zeros(0, 3),
    torch.zeros(4, 0),
    torch.zeros(4, 3, dtype=torch.int64),
    torch.zeros(5, 3),
    torch.zeros(4, 2),
    torch.zeros(4, 3, dtype=torch.complex64),
    torch.tensor([[float("nan")] * 3] * 4),
    torch.full((4, 3), float("inf")),
]
BAD_SCALARS = [0.0, -1.0, float("nan"), float("inf"), "0.5", None, True, torch.zeros(2)]
BAD_LABELS = [None, [0, 0, 1, 1], torch.zeros(3, dtype=torch.long), torch.zeros(4), torch.zeros(4, 1, dtype=torch.long)]
BAD_SAME = [
    None,
    [1, 0, 1, 0],
    torch.zeros(3),
    torch.tensor([0, 1, 2, 0]),
    torch.tensor([0.5, 1, 0, 0]),
    torch.zeros(4, 1),
]


def _ok() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(9)
    return {"x": torch.randn(4, 3, generator=g), "y": torch.tensor([0, 0, 1, 1])}


CALLS = {
    "nt_xent": (lambda a: L.nt_xent_loss(a["z1"], a["z2"], a["t"]), {"z1": "m", "z2": "m", "t": "pos"}),
    "supcon": (
        lambda a: L.supcon_loss(a["f"], a["labels"], a["t"]),
        {"f": "f", "labels": "labels", "t": "pos"},
    ),
    "batch": (
        lambda a: L.batch_triplet_loss(a["e"], a["labels"], a["margin"], a["strategy"]),
        {"e": "m", "labels": "labels", "margin": "nonneg", "strategy": "strategy"},
    ),
    "contrastive": (
        lambda a: L.contrastive_loss(a["x1"], a["x2"], a["same"], a["margin"], a["variant"]),
        {"x1": "m", "x2": "m", "same": "same", "margin": "nonneg", "variant": "variant"},
    ),
    "triplet": (
        lambda a: L.triplet_margin_loss(a["a"], a["p"], a["n"], a["margin"]),
        {"a": "m", "p": "m", "n": "m", "margin": "nonneg"},
    ),
}


def _good(kind: str) -> object:
    ok = _ok()
    return {
        "m": ok["x"],
        "f": ok["x"].view(4, 1, 3).expand(4, 2, 3).contiguous(),
        "labels": ok["y"],
        "same": ok["y"],
        "pos": 0.5,
        "nonneg": 0.2,
        "strategy": "all",
        "variant": "hadsell",
    }[kind]


def _bad(kind: str) -> list[object]:
    return {
        "m": BAD_MATRICES,
        "f": [
            *(m for m in BAD_MATRICES if not (isinstance(m, torch.Tensor) and m.dim() == 3)),
            torch.zeros(4, 0, 3),
            torch.zeros(5, 2, 3),
            torch.zeros(4, 2, 3, dtype=torch.long),
        ],
        "labels": BAD_LABELS[1:],  # None is allowed for SupCon; batch_triplet_loss gets its own check below
        "same": BAD_SAME,
        "pos": BAD_SCALARS,
        "nonneg": [s for s in BAD_SCALARS if not (isinstance(s, float) and s == 0.0)],
        "strategy": ["ALL", "", None, 3, "semi-hard"],
        "variant": ["Hadsell", "", None, 1],
    }[kind]


@FUZZ
@given(data=st.data(), name=st.sampled_from(sorted(CALLS)))
def test_every_loss_rejects_bad_input(data: st.DataObject, name: str) -> None:
    fn, spec = CALLS[name]
    args = {arg: _good(kind) for arg, kind in spec.items()}
    arg = data.draw(st.sampled_from(sorted(spec)))
    args[arg] = data.draw(st.sampled_from(_bad(spec[arg])))
    # a [4, 2] or [5, 3] matrix is only wrong next to its [4, 3] partners or labels; alone it may be valid
    assume(not (name in ("batch",) and isinstance(args[arg], torch.Tensor) and args[arg].shape == (4, 2)))
    with pytest.raises(ValueError):
        fn(args)


def test_error_messages_say_what_came() -> None:
    with pytest.raises(ValueError, match=r"temperature must be > 0, got 0"):
        L.nt_xent_loss(torch.randn(3, 2), torch.randn(3, 2), 0)
    with pytest.raises(ValueError, match=r"same shape.*\(3, 2\) and \(4, 2\)"):
        L.nt_xent_loss(torch.randn(3, 2), torch.randn(4, 2))
    with pytest.raises(ValueError, match=r"labels must have shape \[4\]"):
        L.supcon_loss(torch.randn(4, 2, 3), torch.arange(5))
    with pytest.raises(ValueError, match=r"strategy must be one of"):
        L.batch_triplet_loss(torch.randn(4, 3), torch.arange(4), strategy="hardest")
    with pytest.raises(ValueError, match=r"0/1"):
        L.contrastive_loss(torch.randn(2, 3), torch.randn(2, 3), torch.tensor([0, 2]))
    with pytest.raises(ValueError, match=r"same dtype"):
        L.nt_xent_loss(torch.randn(3, 2), torch.randn(3, 2, dtype=torch.float64))


# Regressions found by an audit of the kit: each was a traceback or a wrong value.


def test_losses_stay_float32_under_autocast() -> None:
    torch.manual_seed(0)
    z1, z2 = torch.randn(64, 32), torch.randn(64, 32)
    exact = ck.losses.nt_xent_loss(z1.double(), z2.double(), temperature=0.01)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = ck.losses.nt_xent_loss(z1, z2, temperature=0.01)
    assert abs(float(got) - float(exact)) < 1e-5
    f, y = torch.randn(32, 2, 16), torch.randint(0, 4, (32,))
    exact = ck.losses.supcon_loss(f.double(), y, temperature=0.01)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = ck.losses.supcon_loss(f, y, temperature=0.01)
    assert abs(float(got) - float(exact)) < 1e-4
