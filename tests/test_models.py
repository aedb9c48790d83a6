"""Shapes, finiteness and input validation of the encoders; old state dicts; building them from a recipe."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from contrastkit.models import (
    ConvEncoder,
    ProjectedEncoder,
    ProjectionHead,
    SiameseNet,
    build_encoder,
    build_projection_head,
)


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("embedding_dim", [2, 64])
@pytest.mark.parametrize("train", [True, False])
def test_encoder_shapes_and_finite(images, embedding_dim, train):
    torch.manual_seed(0)
    enc = ConvEncoder(embedding_dim=embedding_dim).train(train)
    z = enc(images)
    h = enc.representation(images)
    assert z.shape == (6, embedding_dim)
    assert h.shape == (6, enc.representation_dim) == (6, 128)
    assert enc.embedding_dim == embedding_dim
    assert torch.isfinite(z).all() and torch.isfinite(h).all()


def test_encoder_custom_sizes_and_backward():
    enc = ConvEncoder(embedding_dim=8, in_channels=3, width=8, representation_dim=16)
    x = torch.rand(4, 3, 28, 28)
    z = enc(x)
    assert z.shape == (4, 8)
    assert enc.representation(x).shape == (4, 16)
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
        enc.representation(bad)


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


# ----------------------------------------------------------------------------------------------
# Old layer names: state dicts saved before the renames still load
# ----------------------------------------------------------------------------------------------


def _renamed(state: dict[str, torch.Tensor], old: str, new: str) -> dict[str, torch.Tensor]:
    """``state`` with every key starting with ``old`` starting with ``new`` instead (values cloned)."""
    return {(new + k[len(old) :] if k.startswith(old) else k): v.clone() for k, v in state.items()}


def test_encoder_names_its_last_layer_embedding(images):
    enc = ConvEncoder(embedding_dim=3, width=4, representation_dim=8).eval()
    assert isinstance(enc.embedding, nn.Linear) and enc.embedding.out_features == 3
    assert not hasattr(enc, "head") and not hasattr(enc, "embed")
    assert {"embedding.weight", "embedding.bias"} <= set(enc.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(enc(images), enc.embedding(enc.representation(images)))


def test_encoder_loads_an_old_state_dict_with_head_keys(images):
    torch.manual_seed(2)
    enc = ConvEncoder(embedding_dim=2, width=8).eval()
    old = _renamed(enc.state_dict(), "embedding.", "head.")
    assert {"head.weight", "head.bias"} <= set(old) and not any(k.startswith("embedding.") for k in old)
    other = ConvEncoder(embedding_dim=2, width=8).eval()
    result = other.load_state_dict(old)  # strict: every key must be matched after the renaming
    assert not result.missing_keys and not result.unexpected_keys
    with torch.no_grad():
        torch.testing.assert_close(other(images), enc(images), rtol=0, atol=0)
        torch.testing.assert_close(other.representation(images), enc.representation(images), rtol=0, atol=0)
    assert set(old) >= {"head.weight"}  # the caller's dict keeps its keys


def test_siamese_net_loads_an_old_encoder_state_dict(images):
    torch.manual_seed(3)
    net = SiameseNet(ConvEncoder(embedding_dim=2, width=4)).eval()
    old = _renamed(net.state_dict(), "encoder.embedding.", "encoder.head.")
    other = SiameseNet(ConvEncoder(embedding_dim=2, width=4)).eval()
    other.load_state_dict(old)
    with torch.no_grad():
        torch.testing.assert_close(other(images, images)[0], net(images, images)[0], rtol=0, atol=0)


def test_projected_encoder_forward_and_parts(images):
    torch.manual_seed(4)
    enc = ConvEncoder(embedding_dim=8, width=4)
    head = ProjectionHead(8, hidden_dim=16, out_dim=5)
    model = ProjectedEncoder(enc, head).eval()
    assert model.encoder is enc and model.projection_head is head
    with torch.no_grad():
        out = model(images)
        assert out.shape == (6, 5)
        torch.testing.assert_close(out, head(enc(images)))
    assert {k.split(".")[0] for k in model.state_dict()} == {"encoder", "projection_head"}
    identity = ProjectedEncoder(enc, nn.Identity()).eval()
    with torch.no_grad():
        torch.testing.assert_close(identity(images), enc(images))


def test_projected_encoder_loads_an_old_module_dict_state_dict(images):
    torch.manual_seed(5)
    enc = ConvEncoder(embedding_dim=8, width=4)
    head = ProjectionHead(8, hidden_dim=16, out_dim=5)
    # how SimCLR and SupCon checkpoints held the two before ProjectedEncoder: a ModuleDict {"encoder", "head"}
    old_model = nn.ModuleDict({"encoder": enc, "head": head})
    x = torch.randn(4, 8)
    old_model.train()
    for _ in range(2):  # move the BatchNorm statistics away from their initial values
        head(x)
    old_model.eval()
    old = {k: v.clone() for k, v in old_model.state_dict().items()}
    assert any(k.startswith("head.net.") for k in old) and not any(k.startswith("projection_head.") for k in old)

    torch.manual_seed(6)
    model = ProjectedEncoder(ConvEncoder(embedding_dim=8, width=4), ProjectionHead(8, hidden_dim=16, out_dim=5))
    result = model.load_state_dict(old)
    assert not result.missing_keys and not result.unexpected_keys
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(images), head(enc(images)), rtol=0, atol=0)
        torch.testing.assert_close(model.encoder(images), enc(images), rtol=0, atol=0)
    for key, value in model.state_dict().items():
        assert torch.equal(value, old[key.replace("projection_head.", "head.", 1)]), key


def test_projected_encoder_loads_the_oldest_layout(images):
    """A ModuleDict checkpoint whose encoder still called its last layer ``head``."""
    torch.manual_seed(7)
    model = ProjectedEncoder(ConvEncoder(embedding_dim=4, width=4), ProjectionHead(4, hidden_dim=8, out_dim=3)).eval()
    old = _renamed(_renamed(model.state_dict(), "projection_head.", "head."), "encoder.embedding.", "encoder.head.")
    assert "encoder.head.weight" in old and "head.net.0.weight" in old
    other = ProjectedEncoder(ConvEncoder(embedding_dim=4, width=4), ProjectionHead(4, hidden_dim=8, out_dim=3)).eval()
    other.load_state_dict(old)
    with torch.no_grad():
        torch.testing.assert_close(other(images), model(images), rtol=0, atol=0)


# ----------------------------------------------------------------------------------------------
# build_encoder and build_projection_head
# ----------------------------------------------------------------------------------------------


def test_build_encoder_reads_the_config():
    from contrastkit.train import SupConConfig

    enc = build_encoder(SupConConfig(embedding_dim=12, width=4))
    assert isinstance(enc, ConvEncoder) and (enc.embedding_dim, enc.width) == (12, 4)

    class Bare:  # any object with the two attributes; missing ones take the encoder defaults
        embedding_dim = 5

    enc = build_encoder(Bare())
    assert (enc.embedding_dim, enc.width) == (5, 32)


def test_build_projection_head():
    assert isinstance(build_projection_head(64, 0), nn.Identity)
    head = build_projection_head(64, 16)
    assert isinstance(head, ProjectionHead) and (head.in_dim, head.hidden_dim, head.out_dim) == (64, 128, 16)
    wide = build_projection_head(256, 32)
    assert (wide.in_dim, wide.hidden_dim, wide.out_dim) == (256, 256, 32)
