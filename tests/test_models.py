"""Shapes, finiteness and input validation of the encoders."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from contrastkit.models import ConvEncoder, ProjectionHead, SiameseNet


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("embedding_dim", [2, 64])
@pytest.mark.parametrize("train", [True, False])
def test_encoder_shapes_and_finite(images, embedding_dim, train):
    torch.manual_seed(0)
    enc = ConvEncoder(embedding_dim=embedding_dim).train(train)
    z = enc(images)
    h = enc.embed(images)
    assert z.shape == (6, embedding_dim)
    assert h.shape == (6, enc.representation_dim) == (6, 128)
    assert enc.embedding_dim == embedding_dim
    assert torch.isfinite(z).all() and torch.isfinite(h).all()


def test_encoder_custom_sizes_and_backward():
    enc = ConvEncoder(embedding_dim=8, in_channels=3, width=8, representation_dim=16)
    x = torch.rand(4, 3, 28, 28)
    z = enc(x)
    assert z.shape == (4, 8)
    assert enc.embed(x).shape == (4, 16)
    z.square().sum().backward()
    grads = [p.grad for p in enc.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_encoder_single_image_eval():
    enc = ConvEncoder().eval()
    with torch.no_grad():
        assert enc(torch.rand(1, 1, 28, 28)).shape == (1, 64)


def test_encoder_eval_is_deterministic(images):
    enc = ConvEncoder().eval()
    with torch.no_grad():
        torch.testing.assert_close(enc(images), enc(images))


@pytest.mark.parametrize(
    "bad",
    [
        torch.rand(1, 28, 28),  # missing batch dimension
        torch.rand(2, 3, 28, 28),  # wrong channels
        torch.rand(2, 1, 32, 32),  # wrong size
        torch.zeros(2, 1, 28, 28, dtype=torch.uint8),  # not float
        torch.rand(0, 1, 28, 28),  # empty
        [[0.0]],  # not a tensor
    ],
)
def test_encoder_rejects_bad_input(bad):
    enc = ConvEncoder()
    with pytest.raises(ValueError, match="x must"):
        enc(bad)
    with pytest.raises(ValueError, match="x must"):
        enc.embed(bad)


@settings(max_examples=20, deadline=None)
@given(st.one_of(st.integers(max_value=0), st.floats(), st.booleans(), st.text(max_size=3)))
def test_encoder_rejects_bad_sizes(value):
    for kw in ("embedding_dim", "in_channels", "width", "representation_dim"):
        with pytest.raises(ValueError, match=kw):
            ConvEncoder(**{kw: value})


def test_projection_head():
    head = ProjectionHead(64, hidden_dim=32, out_dim=16)
    z = head(torch.randn(5, 64))
    assert z.shape == (5, 16) and torch.isfinite(z).all()
    with pytest.raises(ValueError, match=r"\[B, 64\]"):
        head(torch.randn(5, 63))
    with pytest.raises(ValueError, match="h must"):
        head(torch.randn(5))
    with pytest.raises(ValueError, match="in_dim"):
        ProjectionHead(0)


def test_siamese_shares_one_encoder(images):
    enc = ConvEncoder(embedding_dim=2).eval()
    net = SiameseNet(enc)
    assert net.encoder is enc
    assert len(list(net.parameters())) == len(list(enc.parameters()))
    with torch.no_grad():
        e1, e2 = net(images, images.flip(0))
        torch.testing.assert_close(e1, enc(images))
        torch.testing.assert_close(e2, enc(images.flip(0)))
    assert e1.shape == e2.shape == (6, 2)


def test_siamese_train_mode_and_errors(images):
    net = SiameseNet(ConvEncoder())
    e1, e2 = net(images, images)
    assert torch.isfinite(e1).all() and torch.isfinite(e2).all()
    with pytest.raises(ValueError, match="same shape"):
        net(images, images[:3])
    with pytest.raises(ValueError, match=r"nn\.Module"):
        SiameseNet(lambda x: x)


def test_state_dict_round_trip(tmp_path, images):
    torch.manual_seed(1)
    enc = ConvEncoder(embedding_dim=2, width=8).eval()
    torch.save(enc.state_dict(), tmp_path / "w.pt")
    other = ConvEncoder(embedding_dim=2, width=8).eval()
    other.load_state_dict(torch.load(tmp_path / "w.pt", weights_only=True))
    with torch.no_grad():
        torch.testing.assert_close(other(images), enc(images), rtol=0, atol=0)


def test_encoder_learns_a_trivial_task():
    """A few steps on two very different image types separate their embeddings (gradients flow end to end)."""
    torch.manual_seed(0)
    x = torch.cat([torch.zeros(8, 1, 28, 28), torch.ones(8, 1, 28, 28)])
    x[:, :, 10:18, 10:18] = 0.5
    y = torch.tensor([0] * 8 + [1] * 8)
    enc = ConvEncoder(embedding_dim=2, width=4, representation_dim=16)
    opt = torch.optim.Adam(enc.parameters(), lr=1e-2)
    losses = []
    for _ in range(10):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(enc(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    with torch.no_grad():
        assert (enc(x).argmax(1) == y).all()  # train mode: batch statistics
