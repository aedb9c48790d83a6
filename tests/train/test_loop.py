"""The generic loop fit: divergence caught with its epoch and step, callbacks, schedules."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from contrastkit import train as T
from contrastkit.data import MNISTData
from contrastkit.losses import contrastive_loss
from contrastkit.train import loop
from contrastkit.train import simclr as simclr_recipe
from tests.train.helpers import micro

pytestmark = pytest.mark.usefixtures("one_thread")


def test_nan_loss_stops_with_epoch_and_step(micro_data: MNISTData, monkeypatch) -> None:
    calls = {"n": 0}
    real = simclr_recipe.nt_xent_loss

    def flaky(z1, z2, temperature=0.5):
        calls["n"] += 1
        loss = real(z1, z2, temperature=temperature)
        return loss * float("nan") if calls["n"] == 9 else loss  # step 3 of epoch 2 (6 batches per epoch)

    monkeypatch.setattr(simclr_recipe, "nt_xent_loss", flaky)  # the name the SimCLR recipe calls
    with pytest.raises(T.TrainingDivergedError, match=r"loss became nan at epoch 2, step 3 of 6.*learning rate"):
        T.train(micro(T.SimCLRConfig, epochs=2), micro_data, device="cpu", progress=False)


def test_non_finite_model_output_stops_with_epoch_and_step(micro_data: MNISTData) -> None:
    x = micro_data.x_train.clone()
    x[0, 0, 10, 10] = float("nan")  # poisons every batch norm statistic of the batch holding it
    poisoned = MNISTData(x, micro_data.y_train, micro_data.x_test, micro_data.y_test, micro_data.source)
    with pytest.raises(T.TrainingDivergedError, match=r"non-finite.*epoch 1, step \d+"):
        T.train(micro(T.SiameseConfig, epochs=1), poisoned, device="cpu", progress=False)


def test_callbacks_receive_the_growing_history(micro_data: MNISTData) -> None:
    seen = []

    def callback(epoch: int, history: dict[str, list[float]]) -> None:
        seen.append((epoch, len(history["loss"]), history["knn_accuracy"][-1]))

    config = micro(T.TripletConfig, epochs=3, eval_every=2)
    _, history = T.train(config, micro_data, device="cpu", progress=False, callbacks=[callback, lambda e, h: None])
    assert [(e, n) for e, n, _ in seen] == [(1, 1), (2, 2), (3, 3)]
    assert math.isnan(seen[0][2]) and math.isfinite(seen[1][2]) and math.isfinite(seen[2][2])  # eval on 2 and last
    assert history["knn_accuracy"][1] == seen[1][2]
    with pytest.raises(ValueError, match="callbacks"):
        T.train(config, micro_data, progress=False, callbacks=[42])  # type: ignore[list-item]


def test_fit_is_generic() -> None:
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    x, y = torch.randn(64, 3), torch.randn(64, 1)
    batches = [torch.arange(i, i + 16) for i in range(0, 64, 16)]

    def step(idx):
        loss = ((model(x[idx]) - y[idx]) ** 2).mean()
        return loss, {"batch_mean": float(idx.float().mean())}

    history = T.fit(model, step, lambda epoch: batches, epochs=3, lr=0.05, device="cpu", progress=False)
    assert history["loss"][-1] < history["loss"][0]
    assert history["batch_mean"] == [31.5, 31.5, 31.5]
    assert history["lr"][-1] == pytest.approx(0.0, abs=1e-12)  # cosine decays to 0
    onecycle = T.fit(
        model, step, lambda e: batches, epochs=2, lr=0.05, schedule="onecycle", device="cpu", progress=False
    )
    assert len(onecycle["loss"]) == 2


def _linear_problem(n_batches: int):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    x, y = torch.randn(8 * n_batches, 3), torch.randn(8 * n_batches, 2)
    batches = [torch.arange(i, i + 8) for i in range(0, 8 * n_batches, 8)]
    return model, x, y, batches


@pytest.mark.parametrize("validating", [False, True], ids=["plain-loss", "loss-that-checks-its-inputs"])
def test_a_nan_loss_between_two_readbacks_is_reported_at_its_own_step(validating: bool) -> None:
    """The loss is read back every LOG_EVERY steps; the report still names the step that diverged.

    With a loss that validates its inputs (as every contrastkit loss does), the NaN weights after that
    step make the next step's loss refuse its input: still the divergence is reported, not that error.
    """
    assert loop.LOG_EVERY == 10
    model, x, y, batches = _linear_problem(25)
    calls = {"n": 0}

    def step(idx):
        calls["n"] += 1
        out = model(x[idx])
        if validating:
            loss = contrastive_loss(out, y[idx], torch.ones(len(idx)))  # refuses a NaN output
        else:
            loss = ((out - y[idx]) ** 2).mean()
        return loss * float("nan") if calls["n"] == 12 else loss

    with pytest.raises(T.TrainingDivergedError, match=r"loss became nan at epoch 1, step 12 of 25.*learning rate"):
        T.fit(model, step, lambda e: batches, epochs=1, lr=0.01, device="cpu", progress=False)
    assert calls["n"] == (13 if validating else 20)  # the next step, or the next read-back


def test_an_error_unrelated_to_divergence_propagates_unchanged() -> None:
    model, x, y, batches = _linear_problem(4)

    def step(idx):
        if int(idx[0]) == 16:
            raise KeyError("a bug in the step function")
        return ((model(x[idx]) - y[idx]) ** 2).mean()

    with pytest.raises(KeyError, match="a bug in the step function"):
        T.fit(model, step, lambda e: batches, epochs=1, lr=0.01, device="cpu", progress=False)


def test_make_scheduler_shapes() -> None:
    def lrs(schedule: str, warmup: float = 0.0, steps: int = 10) -> list[float]:
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        sched = loop.make_scheduler(opt, schedule, 1.0, steps, warmup)
        values = []
        for _ in range(steps):
            values.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        return values

    assert lrs("constant") == [1.0] * 10
    cosine = lrs("cosine")
    assert cosine[0] == 1.0 and all(a > b for a, b in itertools.pairwise(cosine))
    warm = lrs("cosine", warmup=0.3)  # 3 warm-up steps: 1/4, 2/4, 3/4, then the decay from 1
    assert warm[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    onecycle = lrs("onecycle")
    assert max(onecycle) == pytest.approx(1.0, rel=1e-6) and onecycle[0] < 0.1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": 0}, "epochs"),
        ({"lr": 0.0}, "lr"),
        ({"schedule": "step"}, "schedule"),
        ({"warmup_fraction": 1.0}, "warmup_fraction"),
        ({"resume": 1}, "resume"),
        ({"resume": True}, "checkpoint_dir"),
    ],
)
def test_fit_refuses_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    model, x, _, batches = _linear_problem(2)
    args = {"epochs": 1, "lr": 0.01, "device": "cpu", "progress": False, **kwargs}
    with pytest.raises(ValueError, match=message):
        T.fit(model, lambda idx: model(x[idx]).sum(), lambda e: batches, **args)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no batch"):
        T.fit(model, lambda idx: model(x[idx]).sum(), lambda e: [], epochs=1, lr=0.01, progress=False)
