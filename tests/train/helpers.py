"""Tiny recipes and weight comparisons shared by the training tests."""

from __future__ import annotations

import torch

from contrastkit import train as T

# Tiny settings so that every run takes a second or two on a CPU.
TINY = {"width": 8, "embedding_dim": 16, "knn_subset": 300, "knn_queries": 200, "warmup_fraction": 0.0}


def micro(cls: type, **overrides) -> T.RecipeConfig:
    return tiny(cls, **{"batch_size": 20, "knn_subset": 120, "knn_queries": 60, **overrides})


def tiny(cls: type, **overrides) -> T.RecipeConfig:
    values = {**TINY, "epochs": 2, "batch_size": 50}
    if cls is T.TripletConfig:
        values["batch_size"] = 40  # 10 digits x 4
    values.update(overrides)
    return cls(**values)


def weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key


def without_times(history: dict[str, list[float]]) -> dict[str, list[float]]:
    return {k: v for k, v in history.items() if k not in ("wall_time", "eval_time")}


class Interrupt(Exception):
    pass


def stop_after(epoch: int):
    def callback(e: int, history: dict[str, list[float]]) -> None:
        if e == epoch:
            raise Interrupt

    return callback
